// Which program the `netdicom` command runs: ../dist/netdicom.mjs (the bundle `node packages/cli/build.ts` makes)
// while it matches the sources it was built from, ../src/main.ts through Node's type stripping otherwise. The build
// writes beside the bundle a manifest: a hash of the content of every source file, of the workspace's lockfile (the
// dependencies the bundle holds) and the bundle's own size. Any difference (a file edited, added, removed, renamed
// or restored, whatever its modification time; dependencies changed; a bundle emptied or cut short) means the bundle
// may run code that is no longer there. Without sources beside it (bin and dist alone), the bundle always runs.
import { createHash } from "node:crypto"
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs"
import { join } from "node:path"

/** The packages whose sources the bundle holds. */
export const PACKAGES = ["cli", "archive", "net", "wire"]

const hashOf = (bytes) => createHash("sha1").update(bytes).digest("hex")

// The file's content, or undefined when it is not a regular file one can read (a dangling symlink, an editor's
// lock file, a directory named *.ts).
const contentOf = (path) => {
  try {
    return statSync(path).isFile() ? readFileSync(path) : undefined
  } catch {
    return undefined
  }
}

/**
 * A hash of every .ts file under `<packagesDir>/<name>/src`, keyed `<name>/src/<path>`, and of the lockfile at
 * `<packagesDir>/../pnpm-lock.yaml` (key `pnpm-lock.yaml`) when there is one.
 */
export const sourceManifest = (packagesDir) => {
  const files = {}
  for (const name of PACKAGES) {
    const src = join(packagesDir, name, "src")
    if (!existsSync(src)) continue
    for (const file of readdirSync(src, { recursive: true })) {
      const rel = String(file)
      if (!rel.endsWith(".ts")) continue
      const content = contentOf(join(src, rel))
      if (content !== undefined) files[`${name}/src/${rel}`] = hashOf(content)
    }
  }
  const lock = contentOf(join(packagesDir, "..", "pnpm-lock.yaml"))
  if (lock !== undefined) files["pnpm-lock.yaml"] = hashOf(lock)
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
    if (!statSync(bundle).isFile() || statSync(bundle).size !== manifest.bundleSize) return false
  } catch {
    return false
  }
  const now = sourceManifest(packagesDir)
  const built = manifest.files ?? {}
  const names = Object.keys(now)
  return names.length === Object.keys(built).length && names.every((n) => built[n] === now[n])
}

/** The module to import, given the directory of bin/netdicom.js. */
export const entryPoint = (binDir) => {
  const bundle = join(binDir, "..", "dist", "netdicom.mjs")
  const source = join(binDir, "..", "src", "main.ts")
  if (!existsSync(bundle)) return source
  return matches(bundle, join(binDir, "..", "..")) ? bundle : source
}
