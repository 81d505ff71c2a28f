#!/usr/bin/env node
// The `netdicom` command: runs ../dist/netdicom.mjs, the bundle `node packages/cli/build.ts` makes (`pnpm install`
// runs it), when it is newer than every source file it was built from; otherwise ../src/main.ts with Node's type
// stripping (on by default from Node 22.18), which loads slower and holds about twice the memory.
// Under an older Node it re-runs itself with the workspace's own Node 22 (node_modules/.bin/node) if there is one.
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { entryPoint } from "./entry.js"

const here = dirname(fileURLToPath(import.meta.url))

if (process.features.typescript) {
  // pnpm's node_modules/.bin/node is a shell script that starts node without `exec`: a signal sent to
  // it (by a supervisor, `timeout`, `kill`) never reaches us, and we would go on as an orphan. So when
  // the process that started us goes away, stop as if interrupted.
  const parent = process.ppid
  setInterval(() => {
    if (process.ppid !== parent) process.kill(process.pid, "SIGTERM")
  }, 500).unref()
  // Cache compiled code between runs (Node's own cache in the OS temp dir): a command starts faster.
  const { enableCompileCache } = await import("node:module")
  enableCompileCache?.()
  // node:sqlite's ExperimentalWarning is noise for a command-line user; every other warning still prints.
  const emitWarning = process.emitWarning
  process.emitWarning = function (warning, ...rest) {
    const type = typeof rest[0] === "string" ? rest[0] : rest[0]?.type
    if (type === "ExperimentalWarning" || (warning instanceof Error && warning.name === "ExperimentalWarning")) return
    return emitWarning.call(process, warning, ...rest)
  }
  const entry = entryPoint(here)
  try {
    await import(pathToFileURL(entry).href)
  } catch (error) {
    // A bundle that does not parse (a build cut short by hand, a disk error) must not leave the command broken:
    // say so and run the sources. Nothing of the bundle ran, since a module runs only once it has parsed.
    if (!(error instanceof SyntaxError) || !entry.endsWith(".mjs")) throw error
    process.stderr.write(`netdicom: ${entry} does not parse (${error.message}); running the sources instead\n`)
    await import(pathToFileURL(join(here, "..", "src", "main.ts")).href)
  }
} else {
  let node
  for (let dir = here; ; dir = dirname(dir)) {
    // The real binary of the `node` package, not pnpm's .bin/node shell wrapper (signals must reach it).
    const candidate = join(dir, "node_modules", "node", "bin", "node")
    if (existsSync(candidate)) {
      node = candidate
      break
    }
    if (dirname(dir) === dir) break
  }
  if (node === undefined || process.env["NETDICOM_REEXEC"] === "1") {
    process.stderr.write(`netdicom: Node ${process.version} cannot run TypeScript; Node >= 22.18 is needed\n`)
    process.exit(1)
  }
  const child = spawn(node, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, NETDICOM_REEXEC: "1" }
  })
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal))
  child.on("exit", (code, signal) => process.exit(code ?? (signal === "SIGINT" ? 130 : 1)))
}
