// `pnpm install` runs this (the root's `prepare` script): it builds the `netdicom` bundle (build.ts) when it can.
// It cannot under a Node without type stripping (the repository's own Node missing) or without rolldown (an install
// without devDependencies); the command then runs its TypeScript sources, and the install does not fail for it.
import { spawnSync } from "node:child_process"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const skip = (why) => {
  process.stdout.write(`netdicom: not bundling (${why}); the command will run its TypeScript sources\n`)
  process.exit(0)
}
if (!process.features.typescript) skip(`Node ${process.version} cannot run build.ts`)
try {
  createRequire(join(here, "..", "build.ts")).resolve("rolldown")
} catch {
  skip("rolldown is not installed")
}
const built = spawnSync(process.execPath, [join(here, "..", "build.ts")], { stdio: "inherit" })
process.exit(built.status ?? 1)
