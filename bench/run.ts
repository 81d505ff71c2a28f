/**
 * `pnpm bench`: netdicom against DCMTK 3.6.7 on 127.0.0.1, every side in its own process, samples of the
 * implementations interleaved in one run (A, B, C, D, A, B, C, D...). Prints per workload the median and min-max of
 * each pairing and its ratio to DCMTK, and writes everything to bench/results/<timestamp>.json.
 *
 * Workloads (PS3.4 Annexes A, B, C.4.1 over PS3.8 associations):
 * - small: CT instances of ~40 KB stored on one association, SCP discarding or writing to disk (instances/s);
 * - large: instances of 32 MiB at a peer maximum PDU of 16384 and 131072, SCP writing to disk (MB/s, peak RSS);
 * - echo: sequential associations with one C-ECHO each (associations/s);
 * - find: one C-FIND answered with N study-level matches by the netdicom SCP (responses/s).
 *
 * Flags: --quick (small counts, 1 repetition, under a minute), --reps N, --only small,large,echo,find,
 * --pairings netdicom-netdicom,dcmtk-dcmtk,netdicom-dcmtk,dcmtk-netdicom, --small-count N, --large-count N,
 * --large-mb N, --pdus 16384,131072, --echo-count N, --find-matches N, --small-pdu N, --profile (CPU profiles of the
 * netdicom sides instead of the benchmark; netdicom on both sides unless --pairings), --wait-quiet S (before each
 * sample wait up to S seconds for the machine's other processes to go idle), --keep (keep the temp dir), --sources (run
 * the netdicom sides from their TypeScript sources instead of bundles; --profile does, so profiles name the modules),
 * --node-flags "<flags>" (Node's flags for the netdicom sides; default: those of the `netdicom` command, `NODE_FLAGS`,
 * and for the SCP the flags the command's servers add, `SERVER_NODE_FLAGS`; given, both sides run with these alone),
 * --warm / --no-warm (warm rows for small and echo, beside the cold ones: on in a full run, off with --quick or
 * --profile unless --warm; see warmNote), --warm-passes N (unmeasured passes before a warm sample's measured one:
 * 6, 2 with --quick).
 *
 * Cold and warm: a cold sample starts a fresh SCP and a fresh SCU process and measures their first pass of the job,
 * so the netdicom sides pay a process's first-pass costs (V8 compiling the hot paths, the heap growing) in it, as
 * `netdicom store` run once on a directory does. A warm sample (small and echo) first runs unmeasured passes of the
 * same job (`--warm-passes`, each on its own association(s); same count, other SOP Instance UIDs for stores) in the
 * same SCP process and, for netdicom, the same SCU process (DCMTK SCUs run as many times, unmeasured; once only
 * when the SCP is DCMTK too), then the measured pass, on a new association: a long-running SCP, or an SCU inside a
 * long-running program. V8 optimizes code after a few thousand calls, and code made per association is optimized
 * again once a second association exists, so a pass of 1,000 instances does not warm a process: 6 passes (6,000
 * instances over 6 associations) do, about. Warm rows follow the cold rows of their workload, their ratio against
 * DCMTK<->DCMTK warm.
 *
 * The netdicom sides run as bundles (`bench/dist/{scp,scu}.mjs`, built at the start of each run the way the
 * `netdicom` command is built), with the command's Node flags, since that is how the command ships.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { FIND_KEYS, SCP_AET, SCU_AET, type ScpConfig, type ScpStats, type ScuJob, type ScuResult } from "./common.ts"
import { generateLarge, generateSmall, type Input } from "./inputs.ts"
import * as Procs from "./procs.ts"
import * as Profile from "./profile.ts"
import { bundle, NODE_FLAGS, SERVER_ENV, SERVER_NODE_FLAGS } from "../packages/cli/build.ts"
import type { Ticks } from "./ticks.ts"

const here = Path.dirname(fileURLToPath(import.meta.url))

// ---------------------------------------------------------------------------------------------------------------
// Options

type Side = "netdicom" | "dcmtk"
type WorkloadName = "small" | "large" | "echo" | "find"

interface Pairing {
  readonly scu: Side
  readonly scp: Side
}

const label = (p: Pairing): string => `${p.scu}-${p.scp}`

/** A series' label: the pairing's, `-warm` appended for warm samples. */
const seriesLabel = (p: Pairing, warm: boolean): string => `${label(p)}${warm ? "-warm" : ""}`

const ALL_PAIRINGS: ReadonlyArray<Pairing> = [
  { scu: "netdicom", scp: "netdicom" },
  { scu: "dcmtk", scp: "dcmtk" },
  { scu: "netdicom", scp: "dcmtk" },
  { scu: "dcmtk", scp: "netdicom" }
]

interface Options {
  readonly quick: boolean
  readonly reps: number
  readonly only: ReadonlySet<WorkloadName>
  readonly pairings: ReadonlyArray<Pairing>
  readonly smallCount: number
  readonly smallPdu: number
  readonly largeCount: number
  readonly largeMb: number
  readonly pdus: ReadonlyArray<number>
  readonly echoCount: number
  readonly findMatches: number
  readonly profile: boolean
  readonly keep: boolean
  /** Run the netdicom sides from the TypeScript sources (type stripping) instead of bundles. */
  readonly sources: boolean
  /** Before each sample, wait up to this many seconds for other processes to leave the CPUs (0: do not wait). */
  readonly waitQuiet: number
  /** Node's flags for the netdicom sides (default: those the `netdicom` command runs with). */
  readonly nodeFlags: ReadonlyArray<string>
  /** The flags the netdicom SCP adds (default: those the command's servers add; none with `--node-flags`). */
  readonly scpNodeFlags: ReadonlyArray<string>
  /** Warm rows (small, echo) beside the cold ones. */
  readonly warm: boolean
  /** Unmeasured passes of the job before a warm sample's measured pass. */
  readonly warmPasses: number
}

const parseOptions = (argv: ReadonlyArray<string>): Options => {
  const flags = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`)
    const [k, v] = a.slice(2).split("=", 2) as [string, string | undefined]
    if (v !== undefined) flags.set(k, v)
    else if (["quick", "profile", "keep", "sources", "warm", "no-warm"].includes(k)) flags.set(k, "true")
    else flags.set(k, argv[++i] ?? "")
  }
  const known = [
    "quick",
    "reps",
    "only",
    "pairings",
    "small-count",
    "small-pdu",
    "large-count",
    "large-mb",
    "pdus",
    "echo-count",
    "find-matches",
    "profile",
    "keep",
    "sources",
    "wait-quiet",
    "node-flags",
    "warm",
    "no-warm",
    "warm-passes"
  ]
  for (const k of flags.keys())
    if (!known.includes(k)) throw new Error(`unknown flag --${k} (known: ${known.join(", ")})`)
  const quick = flags.get("quick") === "true"
  const int = (k: string, full: number, short: number): number => {
    const v = flags.get(k)
    if (v === undefined) return quick ? short : full
    const n = Number(v)
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${k} ${v} is not a positive integer`)
    return n
  }
  const only = new Set((flags.get("only") ?? "small,large,echo,find").split(",") as Array<WorkloadName>)
  for (const w of only) if (!["small", "large", "echo", "find"].includes(w)) throw new Error(`--only: unknown ${w}`)
  const wanted = flags.get("pairings")?.split(",")
  const pairings = wanted === undefined ? ALL_PAIRINGS : ALL_PAIRINGS.filter((p) => wanted.includes(label(p)))
  if (pairings.length === 0) throw new Error(`--pairings: none of ${wanted?.join(",")}`)
  if (flags.has("warm") && flags.has("no-warm")) throw new Error("--warm and --no-warm together")
  const warm = flags.has("warm") || (!flags.has("no-warm") && !quick && flags.get("profile") !== "true")
  return {
    quick,
    reps: int("reps", 5, 1),
    only,
    pairings,
    smallCount: int("small-count", 1000, 200),
    smallPdu: int("small-pdu", 16384, 16384),
    largeCount: int("large-count", 10, 2),
    largeMb: int("large-mb", 32, 8),
    pdus: (flags.get("pdus") ?? "16384,131072").split(",").map(Number),
    echoCount: int("echo-count", 500, 100),
    findMatches: int("find-matches", 10_000, 2_000),
    profile: flags.get("profile") === "true",
    keep: flags.get("keep") === "true",
    sources: flags.get("sources") === "true" || flags.get("profile") === "true",
    waitQuiet: flags.has("wait-quiet") ? int("wait-quiet", 0, 0) : 0,
    nodeFlags: flags.has("node-flags") ? (flags.get("node-flags") ?? "").split(" ").filter(Boolean) : NODE_FLAGS,
    scpNodeFlags: flags.has("node-flags") ? [] : SERVER_NODE_FLAGS,
    warm,
    warmPasses: int("warm-passes", 6, 2)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Samples

/** What was seen of one side's process. */
interface SideStats {
  /** Peak resident set size, KiB. */
  readonly peakRssKb?: number
  /** Resident set size once started and idle, before the workload, KiB (netdicom sides and storescp). */
  readonly idleRssKb?: number
  /** Peak anonymous RSS (RssAnon sampled every 20 ms: without the mapped executable), KiB (netdicom sides, storescp). */
  readonly peakAnonKb?: number
  /** User + system CPU time: netdicom SCU in the measured interval; SCPs from listening to stop; DCMTK SCU whole process. */
  readonly cpuMs?: number
  /** Profile runs only: event-loop hops and socket writes (see ticks.ts). */
  readonly ticks?: Ticks
  /** netdicom SCU: CPU from taking the job to reporting, ms (for `others`, which brackets all of it). */
  readonly jobCpuMs?: number
  /**
   * Warm samples, processes that ran the warm-up: whether the peak RSS was reset at the end of the warm-up
   * (/proc/<pid>/clear_refs), so covers the measured pass only; false: it includes the warm-up.
   */
  readonly peakSinceWarmUp?: boolean
}

interface Sample {
  /** The figure: instances/s, MB/s, associations/s or responses/s. */
  readonly value: number
  /** The measured interval (see `TIMING_NOTES`), ms. */
  readonly elapsedMs: number
  /** Spawn to exit of the SCU process(es), ms: process start included (and a netdicom SCU's warm-up, when warm). */
  readonly wallMs: number
  readonly operations: number
  readonly scu: SideStats
  readonly scp: SideStats
  /** echo: associations/s with the release counted (netdicom: to the end of the release; DCMTK: to process exit). */
  readonly valueFull?: number
  /** echo, DCMTK: associations/s over the wall time of the echoscu runs, process starts included. */
  readonly valueWithProcessStart?: number
  /**
   * CPU used on the machine by processes other than the two sides while the SCU ran, % of one core (from /proc/stat
   * minus both sides' CPU): other work on a shared machine that the figure competed with.
   */
  readonly otherCpuPct?: number
  /** The netdicom SCU's measured interval on the monotonic clock, us (the window of its CPU profiles). */
  readonly window?: readonly [number, number]
  /** A warm sample's unmeasured first pass, as seen of the same processes: to compare with the measured pass. */
  readonly warmUp?: WarmUpPass
}

/** What was seen of a warm sample's warm-up: its first pass (a cold pass on other instances) and all its passes. */
interface WarmUpPass {
  /** The first pass, as `Sample.elapsedMs` measures it, ms. */
  readonly elapsedMs?: number
  /** SCU CPU of the first pass, as `SideStats.cpuMs` measures it (none for echoscu), ms. */
  readonly scuCpuMs?: number
  /** SCP CPU from listening to the end of the warm-up (the 200 ms pause included), over all passes, ms. */
  readonly scpCpuMs?: number
  /** How many unmeasured passes ran. */
  readonly passes: number
  /** SCU CPU of the last pass, ms (a netdicom SCU). */
  readonly lastScuCpuMs?: number
}

interface Series {
  readonly label: string
  readonly scu: Side
  readonly scp: Side
  /** Each sample ran one unmeasured pass of the job first, in the same SCP (and netdicom SCU) process. */
  readonly warm: boolean
  readonly samples: Array<Sample>
}

interface Workload {
  readonly name: string
  readonly unit: string
  readonly description: string
  readonly series: Array<Series>
}

class SampleFailed extends Error {}

// ---------------------------------------------------------------------------------------------------------------
// Sides

interface Env {
  readonly work: string
  readonly logConfig: string
  readonly profileDir: string | undefined
  /** The netdicom SCP and SCU programs: bundles, or the TypeScript sources. */
  readonly sides: { readonly scp: string; readonly scu: string }
  /** Node's flags for the netdicom sides. */
  readonly nodeFlags: ReadonlyArray<string>
  /** The flags the netdicom SCP adds to them, as the command's servers do. */
  readonly scpNodeFlags: ReadonlyArray<string>
  /** `--warm-passes`. */
  readonly warmPasses: number
}

/** A warm sample's unmeasured passes: `--warm-passes`, or one when both sides are DCMTK (nothing to warm up). */
const warmPassesOf = (env: Env, p: Pairing): number => (p.scu === "dcmtk" && p.scp === "dcmtk" ? 1 : env.warmPasses)

const node = process.execPath

/**
 * Node's compile cache for the netdicom children (outside the repository): it only shortens their start, which
 * is not measured, so the short mode fits in a minute.
 */
const nodeEnv = (env: Env): NodeJS.ProcessEnv => ({
  ...process.env,
  NODE_COMPILE_CACHE: process.env["NODE_COMPILE_CACHE"] ?? Path.join(Os.tmpdir(), "netdicom-bench-compile-cache"),
  ...(env.profileDir === undefined ? {} : { BENCH_COUNT_TICKS: "1" })
})

const nodeArgs = (env: Env, name: string): ReadonlyArray<string> => [
  ...env.nodeFlags,
  ...(env.profileDir === undefined
    ? []
    : ["--cpu-prof", "--cpu-prof-interval=200", `--cpu-prof-dir=${Path.join(env.profileDir, name)}`])
]

/** A running SCP: its port, and how to stop it, returning what was seen of it and (netdicom) its statistics. */
interface RunningScp {
  readonly port: number
  /** A warm sample's warm-up has ended: measure CPU, peak RSS and idle RSS from now on; returns the CPU so far, ms. */
  readonly measureFromNow: () => number | undefined
  readonly finish: () => Promise<{ readonly side: SideStats; readonly stats: ScpStats | undefined }>
}

/**
 * Idle RSS and CPU so far of a started server, then its peak RSS and CPU since, read just before it is stopped.
 * `measureFromNow` (a warm sample, once its warm-up has ended) takes the idle RSS and CPU readings again and resets
 * the peak RSS, so that what `finish` returns covers the measured pass only.
 */
const watchServer = (pid: number) => {
  let idleRssKb = Procs.currentRssKb(pid)
  let cpu0 = Procs.cpuMs(pid)
  let anon = Procs.watchAnonRss(pid)
  let reset: { readonly peakSinceWarmUp: boolean } | undefined
  return {
    measureFromNow: (): number | undefined => {
      anon.stop()
      reset = { peakSinceWarmUp: Procs.resetPeakRss(pid) }
      idleRssKb = Procs.currentRssKb(pid)
      const before = cpu0
      cpu0 = Procs.cpuMs(pid)
      anon = Procs.watchAnonRss(pid)
      return before === undefined || cpu0 === undefined ? undefined : cpu0 - before
    },
    finish: (): SideStats => {
      const peakRssKb = Procs.peakRssKb(pid)
      const peakAnonKb = anon.stop()
      const cpu1 = Procs.cpuMs(pid)
      return {
        ...(peakRssKb === undefined ? {} : { peakRssKb }),
        ...(peakAnonKb === undefined ? {} : { peakAnonKb }),
        ...(idleRssKb === undefined ? {} : { idleRssKb }),
        ...(cpu0 === undefined || cpu1 === undefined ? {} : { cpuMs: cpu1 - cpu0 }),
        ...reset
      }
    }
  }
}

const startNetdicomScp = async (env: Env, config: ScpConfig, profileName: string): Promise<RunningScp> => {
  const args = [...nodeArgs(env, profileName), ...env.scpNodeFlags, env.sides.scp, JSON.stringify(config)]
  // as the command's servers run (a variable set in our own environment wins)
  const proc = Procs.start(node, args, { env: { ...SERVER_ENV, ...nodeEnv(env) } })
  const port = Number(await proc.line("READY"))
  const seen = watchServer(proc.pid)
  return {
    port,
    measureFromNow: seen.measureFromNow,
    finish: async () => {
      const side = seen.finish()
      proc.signal("SIGTERM")
      const stats = JSON.parse(await proc.line("STATS", 30_000)) as ScpStats
      await Procs.stop(proc)
      return { side: stats.ticks === undefined ? side : { ...side, ticks: stats.ticks }, stats }
    }
  }
}

const startStorescp = async (args: ReadonlyArray<string>): Promise<RunningScp> => {
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await Procs.freePort()
    const proc = Procs.start("storescp", ["-aet", SCP_AET, ...args, String(port)], { env: Procs.dcmtkEnv() })
    if (await Procs.listening(port, proc)) {
      const seen = watchServer(proc.pid)
      return {
        port,
        measureFromNow: seen.measureFromNow,
        finish: async () => {
          const side = seen.finish()
          await Procs.stop(proc)
          return { side, stats: undefined }
        }
      }
    }
    await Procs.stop(proc, 1_000)
  }
  throw new SampleFailed("storescp did not start")
}

/** Starts the netdicom SCU process; it loads while the SCP starts, and runs its job when given it. */
const startNetdicomScu = (env: Env, profileName: string) => {
  const args = [...nodeArgs(env, profileName), env.sides.scu]
  const proc = Procs.start(node, args, { stdin: true, env: nodeEnv(env) })
  const ready = proc.line("READY")
  let reset: { readonly peakSinceWarmUp: boolean } | undefined
  let warmUps = 0
  return {
    /** Resolves once the process has loaded its modules (wait for it before taking CPU readings). */
    ready,
    /** Runs a warm sample's next unmeasured pass (`job` with `warmUp`); the process then waits for another. */
    warmUp: async (job: ScuJob): Promise<ScuResult> => {
      await ready
      const pass = ++warmUps
      proc.write(`${JSON.stringify({ ...job, warmUp: pass })}\n`)
      const result = JSON.parse(await proc.line(`WARMED ${pass} `, 600_000)) as ScuResult
      if (result.error !== undefined) throw new SampleFailed(`netdicom SCU warm-up: ${result.error}`)
      return result
    },
    /** After `warmUp`: resets the process's peak RSS, so that the measured pass reports its own. */
    measureFromNow: () => void (reset = { peakSinceWarmUp: Procs.resetPeakRss(proc.pid) }),
    run: async (job: ScuJob) => {
      await ready
      const anon = Procs.watchAnonRss(proc.pid)
      proc.write(`${JSON.stringify(job)}\n`)
      const result = JSON.parse(await proc.line("RESULT", 600_000)) as ScuResult
      const peakAnonKb = anon.stop()
      const exit = await proc.exited
      if (result.error !== undefined) throw new SampleFailed(`netdicom SCU: ${result.error}`)
      const side: SideStats = {
        peakRssKb: result.maxRssKb,
        idleRssKb: result.idleRssKb,
        ...(peakAnonKb === undefined ? {} : { peakAnonKb }),
        cpuMs: result.cpuMs,
        jobCpuMs: result.jobCpuMs,
        ...(result.ticks === undefined ? {} : { ticks: result.ticks }),
        ...reset
      }
      return { result, side, wallMs: exit.at - proc.startedAt, window: [result.hrStartUs, result.hrEndUs] as const }
    },
    abandon: () => proc.signal("SIGKILL")
  }
}

const dcmtkSide = (r: Procs.DcmtkRun): SideStats => ({
  ...(r.rssKb === undefined ? {} : { peakRssKb: r.rssKb }),
  ...(r.cpuMs === undefined ? {} : { cpuMs: r.cpuMs })
})

const mb = (bytes: number): number => bytes / 1e6

/** The CPU others used between two /proc/stat readings, given both sides' CPU, % of one core. */
const othersPct = (
  from: ReturnType<typeof Procs.machineCpu>,
  to: ReturnType<typeof Procs.machineCpu>,
  scu: SideStats,
  scp: SideStats
): { readonly otherCpuPct?: number } => {
  const ours = (scu.jobCpuMs ?? scu.cpuMs ?? Number.NaN) + (scp.cpuMs ?? Number.NaN)
  if (from === undefined || to === undefined || Number.isNaN(ours)) return {}
  const wall = to.at - from.at
  return wall <= 0 ? {} : { otherCpuPct: Math.max(0, (100 * (to.busyMs - from.busyMs - ours)) / wall) }
}

// ---------------------------------------------------------------------------------------------------------------
// Store (small and large)

interface StoreSpec {
  readonly files: ReadonlyArray<Input>
  readonly pdu: number
  readonly mode: "discard" | "disk"
  readonly unit: "instances/s" | "MB/s"
  readonly profileName: string
  /** For warm samples: the unmeasured first pass's files, as many as `files`, with other SOP Instance UIDs. */
  readonly warmUpFiles?: ReadonlyArray<Input>
}

/**
 * Between a warm sample's warm-up and its measured pass: time for both sides to finish closing the warm-up's
 * association(s) before the readings the measured pass starts from are taken.
 */
const SETTLE_MS = 200

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, SETTLE_MS))

const storeSample = async (env: Env, p: Pairing, spec: StoreSpec, warm: boolean): Promise<Sample> => {
  const out = Fs.mkdtempSync(Path.join(env.work, "received-"))
  const name = `${spec.profileName}-${seriesLabel(p, warm)}`
  const scu = p.scu === "netdicom" ? startNetdicomScu(env, `${name}-scu`) : undefined
  try {
    const scp =
      p.scp === "netdicom"
        ? await startNetdicomScp(env, { mode: spec.mode, pdu: spec.pdu, out }, `${name}-scp`)
        : await startStorescp(["-pdu", String(spec.pdu), ...(spec.mode === "disk" ? ["-od", out] : ["--ignore"])])
    const files = spec.files.map((f) => f.path)
    const bytes = spec.files.reduce((n, f) => n + f.size, 0)
    const args = ["-aet", SCU_AET, "-aec", SCP_AET, "-pdu", String(spec.pdu), Procs.LOOPBACK, String(scp.port)]
    let measured: { elapsedMs: number; wallMs: number; side: SideStats; window?: readonly [number, number] }
    let warmUp: { warmUp: WarmUpPass } | {} = {}
    await scu?.ready
    const passes = warmPassesOf(env, p)
    if (warm) {
      // the unmeasured passes: the same job on other instances, each on its own association, same SCP process (and
      // netdicom SCU process)
      const warmUpFiles = (spec.warmUpFiles ?? []).map((f) => f.path)
      if (warmUpFiles.length !== files.length) throw new SampleFailed(`${warmUpFiles.length} warm-up inputs`)
      let first: { elapsedMs: number; scuCpuMs?: number } | undefined
      let lastScuCpuMs: number | undefined
      for (let i = 0; i < passes; i++) {
        let pass: { elapsedMs: number; scuCpuMs?: number }
        if (scu !== undefined) {
          const job = {
            kind: "store",
            host: Procs.LOOPBACK,
            port: scp.port,
            pdu: spec.pdu,
            files: warmUpFiles
          } as const
          const w = await scu.warmUp(job)
          if (w.operations !== files.length) throw new SampleFailed(`netdicom SCU warm-up stored ${w.operations}`)
          pass = { elapsedMs: w.elapsedMs, scuCpuMs: w.cpuMs }
        } else {
          const w = await Procs.runDcmtkScu("storescu", [...args, ...warmUpFiles], {
            logConfig: env.logConfig,
            workDir: env.work,
            rss: true
          })
          if (!w.ok) throw new SampleFailed(`storescu warm-up failed:\n${w.output.slice(0, 2000)}`)
          pass = { elapsedMs: w.elapsedMs, ...(w.cpuMs === undefined ? {} : { scuCpuMs: w.cpuMs }) }
        }
        first ??= pass
        lastScuCpuMs = pass.scuCpuMs
      }
      await settle()
      const scpCpuMs = scp.measureFromNow()
      scu?.measureFromNow()
      // the measured pass writes into an empty folder, as a cold one does (the warm-up passes rewrote the same files)
      if (spec.mode === "disk") for (const f of Fs.readdirSync(out)) Fs.rmSync(Path.join(out, f), { force: true })
      warmUp = {
        warmUp: {
          ...first!,
          passes,
          ...(scu === undefined || lastScuCpuMs === undefined ? {} : { lastScuCpuMs }),
          ...(scpCpuMs === undefined ? {} : { scpCpuMs })
        }
      }
    }
    const load0 = Procs.machineCpu()
    if (scu !== undefined) {
      const r = await scu.run({ kind: "store", host: Procs.LOOPBACK, port: scp.port, pdu: spec.pdu, files })
      if (r.result.operations !== files.length) throw new SampleFailed(`netdicom SCU stored ${r.result.operations}`)
      measured = { elapsedMs: r.result.elapsedMs, wallMs: r.wallMs, side: r.side, window: r.window }
    } else {
      const r = await Procs.runDcmtkScu("storescu", [...args, ...files], {
        logConfig: env.logConfig,
        workDir: env.work,
        rss: true
      })
      if (!r.ok) throw new SampleFailed(`storescu failed:\n${r.output.slice(0, 2000)}`)
      measured = {
        elapsedMs: r.elapsedMs,
        wallMs: r.wallMs,
        side: dcmtkSide(r),
        ...(r.window === undefined ? {} : { window: r.window })
      }
    }
    const load1 = Procs.machineCpu()
    const { side: scpSide, stats } = await scp.finish()
    // a warm sample's SCP has received every pass; the folder was emptied after the warm-up
    const expected = (warm ? passes + 1 : 1) * files.length
    if (stats !== undefined && stats.stored !== expected)
      throw new SampleFailed(`netdicom SCP stored ${stats.stored} of ${expected}`)
    if (spec.mode === "disk") {
      const written = Fs.readdirSync(out).length
      if (written !== files.length) throw new SampleFailed(`${written} files written of ${files.length}`)
    }
    const seconds = measured.elapsedMs / 1000
    return {
      value: spec.unit === "MB/s" ? mb(bytes) / seconds : files.length / seconds,
      elapsedMs: measured.elapsedMs,
      wallMs: measured.wallMs,
      operations: files.length,
      scu: measured.side,
      scp: scpSide,
      ...othersPct(load0, load1, measured.side, scpSide),
      ...(measured.window === undefined ? {} : { window: measured.window }),
      ...warmUp
    }
  } finally {
    scu?.abandon()
    Fs.rmSync(out, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Echo

const echoSample = async (env: Env, p: Pairing, count: number, warm: boolean): Promise<Sample> => {
  const name = `echo-${seriesLabel(p, warm)}`
  const scu = p.scu === "netdicom" ? startNetdicomScu(env, `${name}-scu`) : undefined
  try {
    const scp =
      p.scp === "netdicom"
        ? await startNetdicomScp(env, { mode: "echo", pdu: 16384 }, `${name}-scp`)
        : await startStorescp(["--ignore"])
    let sample: Omit<Sample, "scp">
    const job = { kind: "echo", host: Procs.LOOPBACK, port: scp.port, pdu: 16384, count } as const
    const echoscuArgs = ["-aet", SCU_AET, "-aec", SCP_AET, Procs.LOOPBACK, String(scp.port)]
    let warmUp: { warmUp: WarmUpPass } | {} = {}
    await scu?.ready
    if (warm) {
      // the unmeasured passes: as many associations each, same SCP process (and netdicom SCU process)
      const passes = warmPassesOf(env, p)
      let first: { elapsedMs: number; scuCpuMs?: number } | undefined
      let lastScuCpuMs: number | undefined
      for (let n = 0; n < passes; n++) {
        let pass: { elapsedMs: number; scuCpuMs?: number }
        if (scu !== undefined) {
          const w = await scu.warmUp(job)
          if (w.operations !== count) throw new SampleFailed(`netdicom SCU warm-up: ${w.operations} of ${count}`)
          pass = { elapsedMs: w.untilReleaseMs ?? Number.NaN, scuCpuMs: w.cpuMs }
        } else {
          pass = { elapsedMs: 0 }
          for (let i = 0; i < count; i++) {
            const options = { logConfig: env.logConfig, workDir: env.work, rss: false }
            const w = await Procs.runDcmtkScu("echoscu", echoscuArgs, options)
            if (!w.ok) throw new SampleFailed(`echoscu warm-up failed:\n${w.output.slice(0, 2000)}`)
            pass.elapsedMs += w.untilReleaseMs
          }
        }
        first ??= pass
        lastScuCpuMs = pass.scuCpuMs
      }
      await settle()
      const scpCpuMs = scp.measureFromNow()
      scu?.measureFromNow()
      warmUp = {
        warmUp: {
          ...first!,
          passes,
          ...(scu === undefined || lastScuCpuMs === undefined ? {} : { lastScuCpuMs }),
          ...(scpCpuMs === undefined ? {} : { scpCpuMs })
        }
      }
    }
    const load0 = Procs.machineCpu()
    if (scu !== undefined) {
      const r = await scu.run(job)
      if (r.result.operations !== count) throw new SampleFailed(`netdicom SCU: ${r.result.operations} of ${count}`)
      const until = r.result.untilReleaseMs ?? Number.NaN
      sample = {
        value: count / (until / 1000),
        valueFull: count / (r.result.elapsedMs / 1000),
        elapsedMs: until,
        wallMs: r.wallMs,
        operations: count,
        scu: r.side,
        window: r.window
      }
    } else {
      let elapsedMs = 0
      let untilReleaseMs = 0
      const t0 = performance.now()
      for (let i = 0; i < count; i++) {
        const options = { logConfig: env.logConfig, workDir: env.work, rss: false }
        const r = await Procs.runDcmtkScu("echoscu", echoscuArgs, options)
        if (!r.ok) throw new SampleFailed(`echoscu failed:\n${r.output.slice(0, 2000)}`)
        elapsedMs += r.elapsedMs
        untilReleaseMs += r.untilReleaseMs
      }
      const wallMs = performance.now() - t0
      sample = {
        value: count / (untilReleaseMs / 1000),
        valueFull: count / (elapsedMs / 1000),
        valueWithProcessStart: count / (wallMs / 1000),
        elapsedMs: untilReleaseMs,
        wallMs,
        operations: count,
        scu: {}
      }
    }
    const load1 = Procs.machineCpu()
    const { side } = await scp.finish()
    return { ...sample, scp: side, ...othersPct(load0, load1, sample.scu, side), ...warmUp }
  } finally {
    scu?.abandon()
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Find

const findSample = async (env: Env, scuSide: Side, matches: number): Promise<Sample> => {
  const scu = scuSide === "netdicom" ? startNetdicomScu(env, `find-${scuSide}-netdicom-scu`) : undefined
  try {
    const scp = await startNetdicomScp(env, { mode: "find", pdu: 16384, matches }, `find-${scuSide}-netdicom-scp`)
    let measured: { elapsedMs: number; wallMs: number; side: SideStats; window?: readonly [number, number] }
    await scu?.ready
    const load0 = Procs.machineCpu()
    if (scu !== undefined) {
      const r = await scu.run({ kind: "find", host: Procs.LOOPBACK, port: scp.port, pdu: 16384 })
      if (r.result.operations !== matches) throw new SampleFailed(`netdicom SCU: ${r.result.operations} matches`)
      measured = { elapsedMs: r.result.elapsedMs, wallMs: r.wallMs, side: r.side, window: r.window }
    } else {
      const keys = ["-k", "QueryRetrieveLevel=STUDY", ...FIND_KEYS.flatMap((k) => ["-k", `${k}=`])]
      const args = ["-S", "-aet", SCU_AET, "-aec", SCP_AET, "-pdu", "16384", ...keys, Procs.LOOPBACK, String(scp.port)]
      const r = await Procs.runDcmtkScu("findscu", args, { logConfig: env.logConfig, workDir: env.work, rss: true })
      if (!r.ok) throw new SampleFailed(`findscu failed:\n${r.output.slice(0, 2000)}`)
      measured = { elapsedMs: r.elapsedMs, wallMs: r.wallMs, side: dcmtkSide(r) }
    }
    const load1 = Procs.machineCpu()
    const { side, stats } = await scp.finish()
    if (stats?.findResponses !== matches) throw new SampleFailed(`netdicom SCP sent ${stats?.findResponses} matches`)
    return {
      value: matches / (measured.elapsedMs / 1000),
      elapsedMs: measured.elapsedMs,
      wallMs: measured.wallMs,
      operations: matches,
      scu: measured.side,
      scp: side,
      ...othersPct(load0, load1, measured.side, side),
      ...(measured.window === undefined ? {} : { window: measured.window })
    }
  } finally {
    scu?.abandon()
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Statistics and output

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length === 0 ? Number.NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const maxOf = (xs: ReadonlyArray<number | undefined>): number | undefined => {
  const ys = xs.filter((x): x is number => x !== undefined)
  return ys.length === 0 ? undefined : Math.max(...ys)
}

const medianOf = (xs: ReadonlyArray<number | undefined>): number | undefined => {
  const ys = xs.filter((x): x is number => x !== undefined)
  return ys.length === 0 ? undefined : median(ys)
}

const summaryOf = (series: Series) => {
  const values = series.samples.map((s) => s.value)
  const side = (k: "scu" | "scp") => ({
    peakRssKb: maxOf(series.samples.map((s) => s[k].peakRssKb)),
    idleRssKb: medianOf(series.samples.map((s) => s[k].idleRssKb)),
    peakAnonKb: maxOf(series.samples.map((s) => s[k].peakAnonKb)),
    /** CPU time per operation, us (median over samples). */
    cpuUsPerOp: medianOf(
      series.samples.map((s) => (s[k].cpuMs === undefined ? undefined : (1000 * s[k].cpuMs) / s.operations))
    ),
    /** CPU time over the measured interval, % of one core (median). */
    cpuPct: medianOf(
      series.samples.map((s) => (s[k].cpuMs === undefined ? undefined : (100 * s[k].cpuMs) / s.elapsedMs))
    )
  })
  const withStart = series.samples.map((s) => s.valueWithProcessStart)
  const full = series.samples.map((s) => s.valueFull)
  const warmUp = series.samples.map((s) => s.warmUp)
  const perOp = (s: Sample, ms: number | undefined) => (ms === undefined ? undefined : (1000 * ms) / s.operations)
  return {
    ...(warmUp.some((x) => x !== undefined)
      ? {
          /** Warm samples' unmeasured pass: operations/s and CPU per operation (us), medians. */
          warmUp: {
            value: medianOf(
              series.samples.map((s) =>
                s.warmUp?.elapsedMs === undefined ? undefined : s.operations / (s.warmUp.elapsedMs / 1000)
              )
            ),
            scuCpuUsPerOp: medianOf(series.samples.map((s) => perOp(s, s.warmUp?.scuCpuMs))),
            /** The SCP's CPU per operation averaged over all warm-up passes (the 200 ms pause included). */
            scpCpuUsPerOp: medianOf(
              series.samples.map((s) =>
                perOp(s, s.warmUp?.scpCpuMs === undefined ? undefined : s.warmUp.scpCpuMs / s.warmUp.passes)
              )
            ),
            /** The SCU's CPU per operation in the last warm-up pass (a netdicom SCU). */
            lastScuCpuUsPerOp: medianOf(series.samples.map((s) => perOp(s, s.warmUp?.lastScuCpuMs))),
            passes: medianOf(series.samples.map((s) => s.warmUp?.passes))
          }
        }
      : {}),
    ...(full.some((x) => x !== undefined) ? { medianFull: medianOf(full) } : {}),
    otherCpuPct: medianOf(series.samples.map((s) => s.otherCpuPct)),
    median: median(values),
    min: Math.min(...values),
    max: Math.max(...values),
    scu: side("scu"),
    scp: side("scp"),
    ...(withStart.some((x) => x !== undefined) ? { medianWithProcessStart: medianOf(withStart) } : {})
  }
}

const num = (n: number | undefined): string =>
  n === undefined || !Number.isFinite(n) ? "-" : n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)

const mib = (kb: number | undefined): string => (kb === undefined ? "-" : (kb / 1024).toFixed(0))

const rssText = (s: {
  readonly peakRssKb: number | undefined
  readonly idleRssKb: number | undefined
  readonly peakAnonKb: number | undefined
}): string => {
  if (s.peakRssKb === undefined) return "-"
  const idle = s.idleRssKb === undefined ? "" : ` (${mib(s.idleRssKb)})`
  const anon = s.peakAnonKb === undefined ? "" : ` [${mib(s.peakAnonKb)}]`
  return `${mib(s.peakRssKb)}${idle}${anon}`
}

const cpuText = (s: { readonly cpuUsPerOp: number | undefined }, unit: string): string =>
  s.cpuUsPerOp === undefined ? "-" : unit === "MB/s" ? `${num(s.cpuUsPerOp / 1000)} ms` : `${num(s.cpuUsPerOp)} us`

/** The series a workload's cold (`warm` false) or warm rows are compared with: DCMTK<->DCMTK (find: findscu). */
/** The note under a warm row: its warm-up pass's rate and CPU per operation. */
const warmUpText = (
  pass: {
    readonly value: number | undefined
    readonly scuCpuUsPerOp: number | undefined
    readonly scpCpuUsPerOp: number | undefined
    readonly lastScuCpuUsPerOp: number | undefined
    readonly passes: number | undefined
  },
  unit: string
): string => {
  const scu = cpuText({ cpuUsPerOp: pass.scuCpuUsPerOp }, unit)
  const scp = cpuText({ cpuUsPerOp: pass.scpCpuUsPerOp }, unit)
  const last =
    pass.lastScuCpuUsPerOp === undefined ? "" : ` (last pass ${cpuText({ cpuUsPerOp: pass.lastScuCpuUsPerOp }, unit)})`
  return `its warm-up, ${pass.passes === undefined ? "?" : Math.round(pass.passes)} pass(es): first ${num(pass.value)}, SCU CPU ${scu}${last}; SCP CPU ${scp} averaged over the passes`
}

const baselineOf = (w: Workload, warm = false): Series | undefined =>
  w.name.startsWith("find")
    ? w.series.find((s) => s.scu === "dcmtk" && s.warm === warm)
    : w.series.find((s) => s.scu === "dcmtk" && s.scp === "dcmtk" && s.warm === warm)

/** A series' median over its baseline's (cold rows against the cold baseline, warm rows against the warm one). */
const ratioOf = (w: Workload, s: Series): number | undefined => {
  const base = baselineOf(w, s.warm)
  if (base === undefined || base.samples.length === 0 || s.samples.length === 0) return undefined
  return summaryOf(s).median / summaryOf(base).median
}

const render = (w: Workload): string => {
  const perOp = w.unit === "MB/s" ? "instance" : w.unit.replace(/s\/s$/, "").replace(/\/s$/, "")
  const lines = [
    `${w.name}: ${w.description}`,
    `  [${w.unit}, higher is better; CPU time per ${perOp}; RSS in MiB: peak (idle before the work) [peak anonymous]; others: CPU of other processes meanwhile, % of a core]`
  ]
  const cols = (a: string, b: string, c: string, d: string, e: string, f: string, g: string, o: string, h: string) =>
    `  ${a.padEnd(26)}${b.padStart(8)}${c.padStart(14)}${d.padStart(10)}${e.padStart(10)}${f.padStart(17)}${g.padStart(17)}${o.padStart(8)}  ${h}`
  lines.push(cols("SCU -> SCP", "median", "min-max", "SCU CPU", "SCP CPU", "SCU RSS", "SCP RSS", "others", "ratio"))
  for (const s of w.series) {
    const name = `${s.scu} -> ${s.scp}${s.warm ? " warm" : ""}`
    if (s.samples.length === 0) {
      lines.push(`  ${name.padEnd(26)}  (no successful sample)`)
      continue
    }
    const m = summaryOf(s)
    const r = ratioOf(w, s)
    const ratio = s === baselineOf(w, s.warm) ? "1.00 (baseline)" : r === undefined ? "-" : `${r.toFixed(2)}x`
    lines.push(
      cols(
        name,
        num(m.median),
        `${num(m.min)}-${num(m.max)}`,
        cpuText(m.scu, w.unit),
        cpuText(m.scp, w.unit),
        rssText(m.scu),
        rssText(m.scp),
        m.otherCpuPct === undefined ? "-" : `${m.otherCpuPct.toFixed(0)}%`,
        ratio
      )
    )
    const notes = [
      m.medianFull === undefined
        ? ""
        : `${num(m.medianFull)} with the release${s.scu === "dcmtk" ? " and each echoscu's exit" : ""}`,
      m.medianWithProcessStart === undefined ? "" : `${num(m.medianWithProcessStart)} with process starts too`,
      m.warmUp === undefined ? "" : warmUpText(m.warmUp, w.unit)
    ].filter((n) => n !== "")
    if (notes.length > 0) lines.push(`  ${"".padEnd(26)}(${notes.join("; ")})`)
  }
  if (w.series.some((s) => s.warm))
    lines.push(
      "  warm: after unmeasured passes of the same job (how many: under each row) in the same SCP (and netdicom SCU) process; ratio against DCMTK -> DCMTK warm"
    )
  return lines.join("\n")
}

const TIMING_NOTES = [
  "netdicom sides are node processes (bench/scu.ts, bench/scp.ts, bundled like the netdicom command unless --sources) of the root's node; every side is its own process.",
  "netdicom SCU time: its own clock, from just before the first connect to the end of the last release (process start and module loading excluded; the files' meta headers are read before the clock starts, as storescu checks its files before connecting).",
  "DCMTK SCU time: from its own log line 'Requesting Association' (log4cplus timestamp, microseconds, via -lc) to its process exit seen by the harness: process start, dictionary loading and storescu's input check excluded, process exit included.",
  "echo: netdicom runs all associations in one SCU process; DCMTK runs one echoscu process per association. The figure counts connect, negotiation and the C-ECHO, summed over associations, release left out on both sides (DCMTK: from its 'Requesting Association' to its 'Releasing Association' log line; netdicom: to the C-ECHO response), so process start and exit are excluded; the figures with the release (and, for DCMTK, each process's exit, ~3.5 ms of teardown, and its start) follow in brackets. CPU per association is the whole measured interval's.",
  "find: both SCUs query the netdicom SCP (a DCMTK dcmqrscp holding 10,000 studies is slow to set up), so the ratio compares the SCUs only.",
  "peak RSS: VmHWM of each SCP process read just before it is stopped, idle RSS once it listens; for SCUs, VmHWM at the end of the job (netdicom; idle = RSS once loaded) or /usr/bin/time %M (DCMTK). Peak anonymous: RssAnon (heap, stacks, buffers; not the executable and libraries mapped from disk, ~37-57 MiB of a Node process's RSS here) sampled every 20 ms by the harness while the side works. DCMTK tools run with TCP_NODELAY=1.",
  "CPU: user + system time of the process, all threads: netdicom SCU over its measured interval, SCPs from listening to stop (/proc/<pid>/stat, 10 ms ticks), DCMTK SCU the whole process (/usr/bin/time, so its start is included). 'others': the machine's busy CPU (/proc/stat user+nice+system+steal) minus both sides' (netdicom SCU: from taking its job to reporting) while the SCU ran, i.e. what the figure competed with on a shared machine."
]

/** What warm rows are, printed and saved when a run has them. */
const warmNote = (passes: number): string =>
  `cold rows: a fresh SCP and SCU process per sample, measured on their first pass of the job (the netdicom sides pay a process's first-pass costs, V8 compiling the hot paths, in it). warm rows (small, echo): the same SCP process, and for netdicom the same SCU process, first run ${passes} unmeasured pass(es) of the same job, each on new association(s) (as many instances, other SOP Instance UIDs than the measured pass, the same in each warm-up pass; as many associations); a DCMTK SCU runs as many times unmeasured, once when the SCP is DCMTK too. V8 optimizes a function after some thousands of calls, and again when a second association makes new closures of it: a single pass of 1,000 instances warms a netdicom process only a little. After a 200 ms pause the SCP's CPU, idle and peak RSS are taken afresh (peak RSS reset through /proc/<pid>/clear_refs, for the netdicom SCU too; peakSinceWarmUp false in the JSON where that failed), a disk SCP's folder is emptied, then the measured pass runs as in a cold sample, on a new association: what each association costs stays in it. Warm rows are compared with DCMTK -> DCMTK warm. Under each warm row, its warm-up as seen of the same processes: the first pass (a cold pass with other instances), the netdicom SCU's last pass, and the SCP's CPU averaged over the passes (from listening to the end of the pause).`

// ---------------------------------------------------------------------------------------------------------------
// Running

const machine = () => {
  const version = (cmd: string): string => {
    try {
      return execFileSync(cmd, ["--version"], { encoding: "utf8" }).split("\n")[0]!.trim()
    } catch {
      return "not installed"
    }
  }
  return {
    cpus: Os.cpus().length,
    cpuModel: Os.cpus()[0]?.model ?? "unknown",
    memoryMiB: Math.round(Os.totalmem() / 2 ** 20),
    kernel: `${Os.type()} ${Os.release()}`,
    node: process.version,
    dcmtk: version("storescu"),
    usrBinTime: Fs.existsSync("/usr/bin/time")
  }
}

/**
 * Waits until the machine's CPUs have been nearly idle (under 25% of one core busy, this harness waiting) for one
 * second, or `seconds` have passed: on a shared machine, samples then compete less with other work.
 */
const waitQuiet = async (seconds: number): Promise<void> => {
  const deadline = performance.now() + seconds * 1000
  while (performance.now() < deadline) {
    const a = Procs.machineCpu()
    await new Promise((r) => setTimeout(r, 1000))
    const b = Procs.machineCpu()
    if (a === undefined || b === undefined) return
    if ((100 * (b.busyMs - a.busyMs)) / (b.at - a.at) < 25) return
  }
}

/** Runs `reps` rounds of every pairing (cold, then warm ones when `warm`), interleaved: A, B, ..., A warm, ... */
const runSeries = async (
  name: string,
  workload: Workload,
  reps: number,
  sample: (p: Pairing, warm: boolean) => Promise<Sample>,
  pairings: ReadonlyArray<Pairing>,
  quiet: number,
  warm = false
): Promise<void> => {
  for (const w of warm ? [false, true] : [false])
    for (const p of pairings)
      workload.series.push({ label: seriesLabel(p, w), scu: p.scu, scp: p.scp, warm: w, samples: [] })
  for (let rep = 0; rep < reps; rep++) {
    for (const series of workload.series) {
      if (quiet > 0) await waitQuiet(quiet)
      const t = performance.now()
      try {
        const s = await sample(series, series.warm)
        series.samples.push(s)
        process.stderr.write(
          `  ${name} ${rep + 1}/${reps} ${series.label}: ${num(s.value)} ${workload.unit} (${((performance.now() - t) / 1000).toFixed(1)} s)\n`
        )
      } catch (e) {
        process.stderr.write(
          `  ${name} ${rep + 1}/${reps} ${series.label}: FAILED ${e instanceof Error ? e.message : String(e)}\n`
        )
      }
    }
  }
}

const main = async (): Promise<void> => {
  const options = parseOptions(process.argv.slice(2))
  const startedAt = new Date()
  const loadAtStart = Os.loadavg()
  const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdicom-bench-"))
  const logConfig = Path.join(work, "dcmtk-log.cfg")
  Fs.writeFileSync(logConfig, Procs.DCMTK_LOG_CONFIG)
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-")
  const resultsDir = Path.join(here, "results")
  Fs.mkdirSync(resultsDir, { recursive: true })
  const profileDir = options.profile ? Path.join(resultsDir, `profile-${stamp}`) : undefined
  const sides = options.sources
    ? { scp: Path.join(here, "scp.ts"), scu: Path.join(here, "scu.ts") }
    : { scp: Path.join(here, "dist", "scp.mjs"), scu: Path.join(here, "dist", "scu.mjs") }
  if (!options.sources) {
    await bundle(Path.join(here, "scp.ts"), sides.scp)
    await bundle(Path.join(here, "scu.ts"), sides.scu)
  }
  const env: Env = {
    work,
    logConfig,
    profileDir,
    sides,
    nodeFlags: options.nodeFlags,
    scpNodeFlags: options.scpNodeFlags,
    warmPasses: options.warmPasses
  }
  const t0 = performance.now()
  const workloads: Array<Workload> = []
  const run = String(startedAt.getTime())
  try {
    const mode = `${options.quick ? " --quick" : ""}${options.warm ? ", warm rows for small and echo" : ", cold only"}`
    process.stderr.write(`netdicom bench${mode}: work dir ${work}\n`)
    const small =
      options.only.has("small") || options.profile
        ? generateSmall(Path.join(work, "small"), options.smallCount, `${run}1`)
        : []
    // warm samples' unmeasured pass: as many instances, other SOP Instance UIDs (so each pass writes its own files)
    const smallWarmUp =
      options.warm && options.only.has("small")
        ? generateSmall(Path.join(work, "small-warm-up"), options.smallCount, `${run}3`)
        : []
    const large = options.only.has("large")
      ? generateLarge(Path.join(work, "large"), options.largeCount, options.largeMb * 2 ** 20, `${run}2`)
      : []
    process.stderr.write(`  inputs generated in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`)
    const smallSize = small.length === 0 ? 0 : small.reduce((n, f) => n + f.size, 0) / small.length
    const largeSize = large[0]?.size ?? 0
    // profiles: netdicom on both sides unless --pairings says otherwise (e.g. netdicom-dcmtk to see one side alone)
    const pairings =
      options.profile && !process.argv.some((a) => a.startsWith("--pairings")) ? [ALL_PAIRINGS[0]!] : options.pairings
    const reps = options.profile ? 1 : options.reps

    if (options.only.has("small")) {
      for (const mode of ["discard", "disk"] as const) {
        const w: Workload = {
          name: `small/${mode}`,
          unit: "instances/s",
          description: `${small.length} CT instances of ${(smallSize / 1000).toFixed(1)} KB on one association, max PDU ${options.smallPdu}, SCP ${mode === "disk" ? "writing Part 10 files (netdicom: writeMeta + stream to file; storescp -od)" : "discarding (netdicom: StorageService draining the stream; storescp --ignore)"}`,
          series: []
        }
        const spec: StoreSpec = {
          files: small,
          pdu: options.smallPdu,
          mode,
          unit: "instances/s",
          profileName: `small-${mode}`,
          warmUpFiles: smallWarmUp
        }
        const sample = (p: Pairing, warm: boolean) => storeSample(env, p, spec, warm)
        await runSeries(w.name, w, reps, sample, pairings, options.waitQuiet, options.warm)
        workloads.push(w)
      }
    }
    if (options.only.has("large")) {
      for (const pdu of options.pdus) {
        const w: Workload = {
          name: `large/pdu${pdu}`,
          unit: "MB/s",
          description: `${large.length} instances of ${(largeSize / 2 ** 20).toFixed(1)} MiB on one association, peer max PDU ${pdu} (both sides), SCP writing to disk`,
          series: []
        }
        const spec: StoreSpec = { files: large, pdu, mode: "disk", unit: "MB/s", profileName: `large-${pdu}` }
        await runSeries(w.name, w, reps, (p) => storeSample(env, p, spec, false), pairings, options.waitQuiet)
        workloads.push(w)
      }
    }
    if (options.only.has("echo")) {
      const w: Workload = {
        name: "echo",
        unit: "associations/s",
        description: `${options.echoCount} sequential associations, one C-ECHO each (netdicom SCP / storescp as Verification SCP)`,
        series: []
      }
      const sample = (p: Pairing, warm: boolean) => echoSample(env, p, options.echoCount, warm)
      await runSeries(w.name, w, reps, sample, pairings, options.waitQuiet, options.warm)
      workloads.push(w)
    }
    if (options.only.has("find")) {
      const w: Workload = {
        name: "find",
        unit: "responses/s",
        description: `one C-FIND (study root, STUDY level, ${FIND_KEYS.length} return keys) answered with ${options.findMatches} matches by the netdicom SCP; SCU: netdicom vs DCMTK findscu`,
        series: []
      }
      // both SCUs against the netdicom SCP, each as far as --pairings has an SCU of its kind
      const both: ReadonlyArray<Pairing> = [
        { scu: "netdicom", scp: "netdicom" },
        { scu: "dcmtk", scp: "netdicom" }
      ]
      const scus = both.filter((p) => pairings.some((q) => q.scu === p.scu))
      await runSeries(w.name, w, reps, (p) => findSample(env, p.scu, options.findMatches), scus, options.waitQuiet)
      workloads.push(w)
    }

    const seconds = (performance.now() - t0) / 1000
    const timing = options.warm ? [...TIMING_NOTES, warmNote(options.warmPasses)] : TIMING_NOTES
    const text = [
      "",
      `netdicom vs DCMTK on 127.0.0.1, ${reps} repetition(s) interleaved, ${Os.cpus().length} CPUs, ${seconds.toFixed(0)} s`,
      ...timing.map((n) => `- ${n}`),
      "",
      ...workloads.map(render).flatMap((r) => [r, ""])
    ].join("\n")
    console.log(text)

    let profiles: Array<{ readonly name: string; readonly summary: Profile.Summary }> = []
    if (profileDir !== undefined) profiles = summarizeProfiles(profileDir, workloads)

    const file = Path.join(resultsDir, `${stamp}.json`)
    const json = {
      startedAt: startedAt.toISOString(),
      argv: process.argv.slice(2),
      options: { ...options, only: [...options.only], pairings: options.pairings.map(label) },
      machine: machine(),
      loadAverage: { atStart: loadAtStart, atEnd: Os.loadavg() },
      durationSeconds: seconds,
      timing,
      workloads: workloads.map((w) => ({
        ...w,
        baseline: baselineOf(w)?.label,
        ...(w.series.some((s) => s.warm) ? { baselineWarm: baselineOf(w, true)?.label } : {}),
        series: w.series.map((s) => ({ ...s, ...summaryOf(s), ratio: ratioOf(w, s) }))
      })),
      ...(profiles.length > 0 ? { profiles } : {})
    }
    Fs.writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`)
    console.log(`results: ${Path.relative(process.cwd(), file)}`)
  } finally {
    if (!options.keep) Fs.rmSync(work, { recursive: true, force: true })
  }
}

/** Finds each workload's profiles (one per side), summarizes them over the SCU's measured window and prints them. */
const summarizeProfiles = (dir: string, workloads: ReadonlyArray<Workload>) => {
  const out: Array<{ readonly name: string; readonly summary: Profile.Summary }> = []
  const texts: Array<string> = []
  for (const w of workloads) {
    const base = w.name.startsWith("small/")
      ? `small-${w.name.slice(6)}`
      : w.name.startsWith("large/")
        ? `large-${w.name.slice(9)}`
        : w.name
    for (const series of w.series) {
      const sample = series.samples[0]
      const window = sample?.window
      for (const side of ["scu", "scp"] as const) {
        const sub = Path.join(dir, `${base}-${series.label}-${side}`)
        if (!Fs.existsSync(sub)) continue
        for (const f of Fs.readdirSync(sub).filter((x) => x.endsWith(".cpuprofile"))) {
          const summary = Profile.summarize(
            Path.join(sub, f),
            window === undefined ? undefined : { startUs: window[0], endUs: window[1] }
          )
          const name = `${w.name} ${series.scu}->${series.scp}: netdicom ${side.toUpperCase()} (${num(sample?.value)} ${w.unit})`
          out.push({ name, summary })
          const ticks = sample?.[side].ticks
          const cpu = sample?.[side].cpuMs
          const ops = sample?.operations ?? 1
          const per = (n: number) => (n / ops).toFixed(1)
          const extra = [
            cpu === undefined ? "" : `  CPU ${(cpu / ops).toFixed(3)} ms per instance (process, all threads)`,
            ticks === undefined
              ? ""
              : `  per instance: ${per(ticks.setImmediate)} setImmediate (Effect scheduler turns), ${per(ticks.setTimeout)} setTimeout (sleeps/timeouts), ${per(ticks.socketWrites)} socket writes`
          ].filter((l) => l !== "")
          texts.push([Profile.render(name, summary), ...extra].join("\n"))
        }
      }
    }
  }
  const text = texts.join("\n\n")
  console.log(`\nCPU profiles (${dir}):\n\n${text}`)
  Fs.writeFileSync(Path.join(dir, "summary.txt"), `${text}\n`)
  return out
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e))
  process.exit(1)
})
