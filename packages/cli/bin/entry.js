// Which program the `netdicom` command runs: ../dist/netdicom.mjs (the bundle `node packages/cli/build.ts` makes),
// unless a source file of the workspace's packages changed after it was built, since a stale bundle would run code
// that is no longer there; then ../src/main.ts, through Node's type stripping. A published package has no sources
// beside it and always runs the bundle.
import { existsSync, readdirSync, statSync } from "node:fs"
import { join } from "node:path"

/** The module to import, given the directory of bin/netdicom.js. */
export const entryPoint = (binDir) => {
  const bundle = join(binDir, "..", "dist", "netdicom.mjs")
  const source = join(binDir, "..", "src", "main.ts")
  let built
  try {
    built = statSync(bundle).mtimeMs
  } catch {
    return source
  }
  const packages = join(binDir, "..", "..")
  for (const name of ["cli", "archive", "net", "wire"]) {
    const src = join(packages, name, "src")
    if (!existsSync(src)) continue
    for (const file of readdirSync(src, { recursive: true })) {
      if (String(file).endsWith(".ts") && statSync(join(src, String(file))).mtimeMs > built) return source
    }
  }
  return bundle
}
