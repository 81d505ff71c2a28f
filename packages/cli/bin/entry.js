// Which program the `netdicom` command runs: ../dist/netdicom.mjs (the bundle `node packages/cli/build.ts` makes)
// while it matches the sources it was built from, ../src/main.ts through Node's type stripping otherwise. The build
// writes beside the bundle a manifest of those sources (each file's size and modification time) and of the bundle's
// own size; any difference (a file edited, added, removed or restored with an older time, a bundle emptied or cut
// short) means the bundle may run code that is no longer there. A published package has no sources beside it: its
// bundle always runs.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs"
import { join } from "node:path"

/** The packages whose sources the bundle holds. */
export const PACKAGES = ["cli", "archive", "net", "wire"]

/** Size and modification time of every .ts file under `<packagesDir>/<name>/src`, keyed `<name>/src/<path>`. */
export const sourceManifest = (packagesDir) => {
  const files = {}
  for (const name of PACKAGES) {
    const src = join(packagesDir, name, "src")
    if (!existsSync(src)) continue
    for (const file of readdirSync(src, { recursive: true })) {
      const rel = String(file)
      if (!rel.endsWith(".ts")) continue
      const stat = statSync(join(src, rel))
      files[`${name}/src/${rel}`] = [stat.size, stat.mtimeMs]
    }
  }
  return files
}

/** The manifest's file, beside the bundle. */
export const manifestPath = (bundle) => `${bundle}.sources.json`

const matches = (bundle, packagesDir) => {
  const hasSources = PACKAGES.some((name) => existsSync(join(packagesDir, name, "src")))
  if (!hasSources) return true
  let manifest
  try {
    manifest = JSON.parse(readFileSync(manifestPath(bundle), "utf8"))
  } catch {
    return false
  }
  if (statSync(bundle).size !== manifest.bundleSize) return false
  const now = sourceManifest(packagesDir)
  const built = manifest.files ?? {}
  const names = Object.keys(now)
  if (names.length !== Object.keys(built).length) return false
  return names.every((n) => built[n] !== undefined && built[n][0] === now[n][0] && built[n][1] === now[n][1])
}

/** The module to import, given the directory of bin/netdicom.js. */
export const entryPoint = (binDir) => {
  const bundle = join(binDir, "..", "dist", "netdicom.mjs")
  const source = join(binDir, "..", "src", "main.ts")
  if (!existsSync(bundle)) return source
  return matches(bundle, join(binDir, "..", "..")) ? bundle : source
}
