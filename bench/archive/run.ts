/**
 * CPU per small instance of the archive servers: `netdicom storescp` and `netdicom qrscp` (built bundles, run as
 * `node <NODE_FLAGS> <SERVER_NODE_FLAGS> <bundle>` like the `netdicom` command) against DCMTK `storescp -od`, each receiving
 * the same N small CT instances (`bench/inputs.ts`, ~40 KB) from DCMTK `storescu` (TCP_NODELAY=1, one association).
 *
 * Every server is started fresh on a port the OS picked, into an empty folder under `--tmp` (default /dev/shm: tmpfs,
 * so the disk is out of the picture and fsync costs nothing); its CPU (utime + stime of /proc/<pid>/stat, all
 * threads) is read once it listens and again after storescu has exited, so start-up is excluded. Runs are
 * interleaved: every round runs each server once, in a rotating order.
 *
 *   node bench/archive/run.ts [--count 1000] [--rounds 5] [--servers storescp,qrscp,dcmtk]
 *     [--bundle label=path ...] [--flags "label=<node flags>" ...] [--args "label=<server flags>" ...]
 *     [--tmp /dev/shm] [--prof dir]
 *
 * `--bundle` (repeatable) compares builds: each netdicom server runs once a round per bundle (default: the
 * workspace's packages/cli/dist/netdicom.mjs). `--flags` adds Node flags to one label's servers, after the command's
 * own (`NODE_FLAGS` and `SERVER_NODE_FLAGS` of packages/cli/build.ts), `--args` flags to its servers' command line (`--sync none`, say); a
 * label may name the same bundle as another. `--prof dir` starts the netdicom servers with `--cpu-prof` into dir.
 * Prints one line per run and a summary of medians (CPU µs per instance, wall ms for the whole association, the
 * server's peak RSS: VmHWM just after storescu exits).
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { parseArgs } from "node:util"
import { NODE_FLAGS, SERVER_ENV, SERVER_NODE_FLAGS } from "../../packages/cli/build.ts"
import * as Inputs from "../inputs.ts"
import * as Procs from "../procs.ts"

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "1000" },
    rounds: { type: "string", default: "5" },
    servers: { type: "string", default: "storescp,qrscp,dcmtk" },
    bundle: { type: "string", multiple: true },
    flags: { type: "string", multiple: true },
    args: { type: "string", multiple: true },
    tmp: { type: "string", default: "/dev/shm" },
    prof: { type: "string" }
  }
})

const root = Path.resolve(import.meta.dirname, "../..")
const count = Number(values.count)
const rounds = Number(values.rounds)
const bundles = (values.bundle ?? [`now=${Path.join(root, "packages/cli/dist/netdicom.mjs")}`]).map((spec) => {
  const eq = spec.indexOf("=")
  return { label: spec.slice(0, eq), path: Path.resolve(spec.slice(eq + 1)) }
})
const byLabel = (specs: ReadonlyArray<string> | undefined) =>
  new Map(
    (specs ?? []).map((spec) => {
      const eq = spec.indexOf("=")
      return [
        spec.slice(0, eq),
        spec
          .slice(eq + 1)
          .split(" ")
          .filter((f) => f !== "")
      ] as const
    })
  )
const extraFlags = byLabel(values.flags)
const extraArgs = byLabel(values.args)
const kinds = values.servers.split(",").map((s) => s.trim())

interface Server {
  readonly label: string
  /** Starts the server into `dir` and resolves with it and the port it listens on. */
  readonly start: (dir: string) => Promise<{ readonly proc: Procs.Proc; readonly port: number }>
}

// the Node binary itself (node_modules/.bin/node is a shell script whose pid is not the server's)
const node = process.execPath
const nodeArgs = (label: string, tag: string): ReadonlyArray<string> => [
  ...NODE_FLAGS,
  ...SERVER_NODE_FLAGS,
  ...(extraFlags.get(label) ?? []),
  ...(values.prof === undefined
    ? []
    : ["--cpu-prof", `--cpu-prof-dir=${values.prof}`, `--cpu-prof-name=${tag}.cpuprofile`])
]

let profiles = 0
const servers: Array<Server> = []
for (const kind of kinds) {
  if (kind === "dcmtk") {
    servers.push({
      label: "dcmtk storescp",
      // storescp takes no port 0: one found free just before
      start: async (dir) => {
        Fs.mkdirSync(dir, { recursive: true })
        const port = await Procs.freePort()
        const proc = Procs.start("storescp", ["-od", dir, String(port)], { env: Procs.dcmtkEnv() })
        if (!(await Procs.listening(port, proc, 20_000))) throw new Error(`storescp did not listen:\n${proc.output()}`)
        return { proc, port }
      }
    })
    continue
  }
  for (const b of bundles) {
    const cmd = kind === "qrscp" ? ["qrscp", "--store"] : ["storescp", "--out"]
    servers.push({
      label: `${b.label} ${kind}`,
      start: async (dir) => {
        const proc = Procs.start(
          node,
          [
            ...nodeArgs(b.label, `${b.label}-${kind}-${++profiles}`),
            "--disable-warning=ExperimentalWarning",
            b.path,
            ...cmd,
            dir,
            ...(extraArgs.get(b.label) ?? []),
            "0"
          ],
          // what the command's bin sets for its servers (a variable set in our own environment wins)
          { env: { ...SERVER_ENV, ...process.env } }
        )
        const m = /:(\d+) as /.exec(await proc.line("listening on ", 20_000))
        if (m === null) throw new Error(`${b.label} ${kind}: no port in\n${proc.output()}`)
        return { proc, port: Number(m[1]) }
      }
    })
  }
}

const work = Fs.mkdtempSync(Path.join(values.tmp, "netdicom-archive-bench-"))
const logConfig = Path.join(work, "log.cfg")
Fs.writeFileSync(logConfig, Procs.DCMTK_LOG_CONFIG)
const inputs = Inputs.generateSmall(Path.join(work, "in"), count, `${process.pid}`)
const files = inputs.map((i) => i.path)
const size = inputs.reduce((n, i) => n + i.size, 0) / count
console.log(`${count} instances of ${(size / 1000).toFixed(1)} KB in ${work}; ${Os.loadavg()[0]!.toFixed(1)} load`)

const results = new Map<string, Array<{ readonly cpuUs: number; readonly wallMs: number; readonly peakMiB: number }>>()

const runOne = async (server: Server, round: number): Promise<void> => {
  const dir = Path.join(work, `out-${round}-${server.label.replace(/\W+/g, "-")}`)
  const { proc, port } = await server.start(dir)
  try {
    await new Promise((r) => setTimeout(r, 200))
    const cpu0 = Procs.cpuMs(proc.pid)!
    const load0 = Procs.machineCpu()
    const r = await Procs.runDcmtkScu("storescu", ["127.0.0.1", String(port), ...files], {
      logConfig,
      workDir: work,
      rss: false
    })
    if (!r.ok) throw new Error(`storescu into ${server.label} failed:\n${r.output.slice(0, 2000)}`)
    await new Promise((r) => setTimeout(r, 100))
    const cpu1 = Procs.cpuMs(proc.pid)!
    const load1 = Procs.machineCpu()
    const peakMiB = (Procs.peakRssKb(proc.pid) ?? Number.NaN) / 1024
    const cpuUs = ((cpu1 - cpu0) * 1000) / count
    const others =
      load0 === undefined || load1 === undefined
        ? Number.NaN
        : (load1.busyMs - load0.busyMs - (cpu1 - cpu0)) / (load1.at - load0.at)
    results.set(server.label, [...(results.get(server.label) ?? []), { cpuUs, wallMs: r.elapsedMs, peakMiB }])
    console.log(
      `round ${round} ${server.label.padEnd(18)} ${cpuUs.toFixed(0).padStart(5)} µs CPU/instance, ` +
        `${r.elapsedMs.toFixed(0).padStart(6)} ms wall, peak RSS ${peakMiB.toFixed(1)} MiB, ` +
        `others ${(others * 100).toFixed(0)}% of a core`
    )
  } finally {
    await Procs.stop(proc)
    Fs.rmSync(dir, { recursive: true, force: true })
  }
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

try {
  for (let round = 0; round < rounds; round++) {
    const order = servers.map((_, i) => servers[(i + round) % servers.length]!)
    for (const server of order) await runOne(server, round)
  }
  console.log("median over rounds (min-max): CPU µs per instance; wall ms; peak RSS MiB")
  for (const [label, rs] of results) {
    const cpu = rs.map((r) => r.cpuUs)
    const wall = rs.map((r) => r.wallMs)
    const peak = rs.map((r) => r.peakMiB)
    console.log(
      `${label.padEnd(18)} ${median(cpu).toFixed(0).padStart(5)} (${Math.min(...cpu).toFixed(0)}-` +
        `${Math.max(...cpu).toFixed(0)}) µs; ${median(wall).toFixed(0)} ms; ` +
        `${median(peak).toFixed(1)} (${Math.min(...peak).toFixed(1)}-${Math.max(...peak).toFixed(1)}) MiB`
    )
  }
} finally {
  Fs.rmSync(work, { recursive: true, force: true })
}
