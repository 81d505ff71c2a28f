#!/usr/bin/env -S node --max-semi-space-size=1 --v8-pool-size=1 --max-opt=2
// The `netdicom` command: runs ../dist/netdicom.mjs, the bundle `node packages/cli/build.ts` makes (`pnpm install`
// runs it), while the content hashes of the sources and lockfile match the manifest the build wrote beside it
// (./entry.js decides; modification times play no part); otherwise ../src/main.ts with Node's type stripping (on
// by default from Node 22.18), which loads slower and holds about twice the memory.
// Under an older Node it re-runs itself with the workspace's own Node (the `node` package's binary) if there is one.
// The shebang's Node flags are `NODE_FLAGS` of ../build.ts (pnpm's shim passes them on): keep the two the same.
// A server (`storescp`, `qrscp`) on Linux first re-executes itself, once, with `MALLOC_TRIM_THRESHOLD_` set: see
// `retunesMalloc` below.
import { spawn } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { entryPoint } from "./entry.js"
import { execArgvFor, serverExecArgv } from "./flags.js"

const here = dirname(fileURLToPath(import.meta.url))

// Whether our parent is pnpm's shell wrapper for node (`node_modules/.bin/node`), as far as Linux's /proc says.
function underPnpmShim(pid) {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")
    return /(^|\/)(ba|da)?sh$/.test(args[0] ?? "") && args.some((a) => a.endsWith("node_modules/.bin/node"))
  } catch {
    return false
  }
}

// glibc's malloc raises its thresholds as a process frees large blocks (Node's start-up does, and so does freeing
// the ~0.8 MB bundle it read): from then on blocks of up to ~0.8 MB come from its heap and up to twice that of freed
// memory stays at the heap's top, which left a server 2-6 MiB more at its peak (`netdicom storescp` receiving a 1 GiB
// instance: 71.3-72.8 against 69.5-69.9 MiB, with Node's compile cache warm; 75.6-76.7 against 69.7-69.9 without it;
// docs/performance.md, Round 11). A threshold set in the environment
// keeps them fixed, but glibc reads it only as the process starts: so a server, which starts once and runs long,
// replaces itself once (`process.execve`: the same process, 40-80 ms more at start) with the variable set. Not the
// other commands, whose start-up is part of what they cost each time; not when the variable is set already.
// The value is `SERVER_ENV` of ../build.ts (the bench's servers): keep the two the same.
const SERVERS = ["storescp", "qrscp"]
const TRIM = "MALLOC_TRIM_THRESHOLD_"
// The global flags that take a value as the next argument (`--log-level debug storescp ...`): skipped with it.
const VALUED_GLOBALS = ["--log-level", "--completions"]
const isServer = (argv) => {
  let i = 0
  while (i < argv.length && argv[i].startsWith("-")) i += VALUED_GLOBALS.includes(argv[i]) ? 2 : 1
  return SERVERS.includes(argv[i] ?? "")
}
const retunesMalloc = (argv, env) =>
  process.platform === "linux" && typeof process.execve === "function" && env[TRIM] === undefined && isServer(argv)

if (process.features.typescript) {
  // One re-execution at most, for all three reasons: Node flags to fix (./flags.js), a server's V8 flags
  // (`SERVER_FLAGS` there), a server's malloc thresholds.
  const fixed = execArgvFor(process.versions.node, process.execArgv)
  const server = isServer(process.argv.slice(2))
  const withServerFlags = server ? serverExecArgv(process.versions.node, fixed ?? process.execArgv) : undefined
  const execArgv = withServerFlags ?? fixed
  const retune = retunesMalloc(process.argv.slice(2), process.env)
  if ((retune || execArgv !== undefined) && typeof process.execve === "function") {
    process.execve(
      process.execPath,
      [process.execPath, ...(execArgv ?? process.execArgv), ...process.argv.slice(1)],
      retune ? { ...process.env, [TRIM]: "131072" } : process.env
    )
  }
  // pnpm's node_modules/.bin/node is a shell script that starts node without `exec`: a signal sent to
  // it (by a supervisor, `timeout`, `kill`) never reaches us, and we would go on as an orphan. So when
  // we run under that script and it goes away, stop as if interrupted. Under any other parent (a shell,
  // nohup, a service manager) the parent's exit is not ours to follow.
  const parent = process.ppid
  if (underPnpmShim(parent)) {
    setInterval(() => {
      if (process.ppid !== parent) process.kill(process.pid, "SIGTERM")
    }, 100).unref()
  }
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
    // A bundle that cannot be loaded (unreadable, not a file, does not parse) must not leave the command broken:
    // say so and run the sources. None of the command ran: it starts only as the bundle's last statement, and
    // what it does from there it reports itself rather than through this import.
    if (!entry.endsWith(".mjs")) throw error
    const why = error instanceof Error ? error.message.split("\n")[0] : String(error)
    process.stderr.write(`netdicom: cannot load ${entry} (${why}); running the sources instead\n`)
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
  // With our own Node flags (the shebang's, which pnpm's shim passes on).
  const child = spawn(node, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, NETDICOM_REEXEC: "1" }
  })
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal))
  child.on("exit", (code, signal) => process.exit(code ?? (signal === "SIGINT" ? 130 : signal === "SIGTERM" ? 143 : 1)))
}
