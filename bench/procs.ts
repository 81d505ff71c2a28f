/**
 * Child processes for the benchmark: every side of every workload runs in its own process, started here, so the
 * harness shares a process with neither and each side's peak RSS is its own.
 *
 * - `start` spawns a process, keeps its output, resolves lines by prefix, and notes its exit time on the
 *   harness's monotonic clock; every process started is killed (by its pid) if the harness exits first.
 * - `peakRssKb` reads VmHWM from /proc/<pid>/status (servers are read just before they are stopped); `resetPeakRss`
 *   starts it afresh (a warm sample's measured pass).
 * - `runDcmtkScu` runs a DCMTK SCU with TCP_NODELAY=1 and a log4cplus configuration (`-lc`) that prints only
 *   "Requesting Association", "Releasing Association" and warnings or worse, each with a microsecond wall-clock
 *   timestamp; its elapsed time runs from that first line to the process exit, so process start, dictionary
 *   loading and storescu's check of its input files are excluded, the process exit included. Peak RSS comes from
 *   `/usr/bin/time -f %M` when installed.
 * - `listening` waits for a port to be in LISTEN state in /proc/net/tcp (no probe connection to disturb a
 *   single-process storescp), falling back to a connect probe.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"

/** The only address anything here connects to. */
export const LOOPBACK = "127.0.0.1"

/** How a process ended, `at` on the harness's `performance.now()` clock. */
export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly at: number
}

/** A running child. */
export interface Proc {
  readonly pid: number
  readonly startedAt: number
  /** The rest of the first output line starting with `prefix` (stdout or stderr). */
  readonly line: (prefix: string, timeoutMs?: number) => Promise<string>
  readonly write: (text: string) => void
  readonly exited: Promise<Exit>
  readonly output: () => string
  readonly signal: (signal: NodeJS.Signals) => void
}

const live = new Map<number, ChildProcess>()
let hooked = false

const hook = (): void => {
  if (hooked) return
  hooked = true
  process.on("exit", () => {
    for (const child of live.values()) child.kill("SIGKILL")
  })
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      for (const child of live.values()) child.kill("SIGKILL")
      process.exit(130)
    })
  }
}

/** The environment DCMTK tools run with: TCP_NODELAY=1. */
export const dcmtkEnv = (): NodeJS.ProcessEnv => ({ ...process.env, TCP_NODELAY: "1" })

/** Spawns a process; stdin is a pipe when `stdin` is set. */
export const start = (
  cmd: string,
  args: ReadonlyArray<string>,
  options: { readonly env?: NodeJS.ProcessEnv; readonly stdin?: boolean; readonly cwd?: string } = {}
): Proc => {
  hook()
  const startedAt = performance.now()
  const child = spawn(cmd, [...args], {
    env: options.env ?? process.env,
    stdio: [options.stdin === true ? "pipe" : "ignore", "pipe", "pipe"],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd })
  })
  let text = ""
  let partial = ""
  const waiters: Array<{ readonly prefix: string; readonly resolve: (rest: string) => void }> = []
  const lines: Array<string> = []
  const onLine = (l: string): void => {
    lines.push(l)
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!
      if (l.startsWith(w.prefix)) {
        waiters.splice(i, 1)
        w.resolve(l.slice(w.prefix.length).trim())
      }
    }
  }
  const onData = (chunk: Buffer): void => {
    const s = chunk.toString("utf8")
    if (text.length < 4_000_000) text += s
    partial += s
    let nl = partial.indexOf("\n")
    while (nl >= 0) {
      onLine(partial.slice(0, nl))
      partial = partial.slice(nl + 1)
      nl = partial.indexOf("\n")
    }
  }
  child.stdout?.on("data", onData)
  child.stderr?.on("data", onData)
  const exited = new Promise<Exit>((resolve) => {
    child.on("exit", (code, signal) => {
      const at = performance.now()
      if (child.pid !== undefined) live.delete(child.pid)
      // let the pipes deliver what is left before anyone reads the output
      setImmediate(() => resolve({ code, signal, at }))
    })
    child.on("error", (e) => {
      text += `\n[harness] ${e.message}\n`
      resolve({ code: null, signal: null, at: performance.now() })
    })
  })
  if (child.pid !== undefined) live.set(child.pid, child)
  const line = (prefix: string, timeoutMs = 60_000): Promise<string> => {
    const seen = lines.find((l) => l.startsWith(prefix))
    if (seen !== undefined) return Promise.resolve(seen.slice(prefix.length).trim())
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${cmd}: no "${prefix}" line in ${timeoutMs} ms:\n${text}`)),
        timeoutMs
      )
      waiters.push({
        prefix,
        resolve: (rest) => {
          clearTimeout(timer)
          resolve(rest)
        }
      })
      void exited.then(() =>
        setTimeout(() => {
          clearTimeout(timer)
          reject(new Error(`${cmd} exited without a "${prefix}" line:\n${text}`))
        }, 50)
      )
    })
  }
  return {
    pid: child.pid ?? -1,
    startedAt,
    line,
    write: (s) => void child.stdin?.write(s),
    exited,
    output: () => text,
    signal: (s) => void child.kill(s)
  }
}

/** Stops a process with SIGTERM (SIGKILL after `graceMs`) and waits for it. */
export const stop = async (proc: Proc, graceMs = 5_000): Promise<Exit> => {
  proc.signal("SIGTERM")
  const timer = setTimeout(() => proc.signal("SIGKILL"), graceMs)
  const exit = await proc.exited
  clearTimeout(timer)
  return exit
}

// A "<field>: <n> kB" line of /proc/<pid>/status, KiB (undefined once the process is gone).
const statusKb = (pid: number, field: string): number | undefined => {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+)\\s+kB`).exec(Fs.readFileSync(`/proc/${pid}/status`, "utf8"))
    return m ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}

/** Peak resident set size (VmHWM) of a live process, KiB. */
export const peakRssKb = (pid: number): number | undefined => statusKb(pid, "VmHWM")

/**
 * Resets a live process's peak RSS (VmHWM) to its current RSS by writing 5 to /proc/<pid>/clear_refs (Linux 4.0+),
 * so that a later `peakRssKb` covers only what came after; false if that could not be done.
 */
export const resetPeakRss = (pid: number): boolean => {
  try {
    Fs.writeFileSync(`/proc/${pid}/clear_refs`, "5")
    return true
  } catch {
    return false
  }
}

/** Current resident set size (VmRSS) of a live process, KiB. */
export const currentRssKb = (pid: number): number | undefined => statusKb(pid, "VmRSS")

/** Anonymous resident memory (RssAnon: heap, stacks, buffers; not the mapped executable and libraries), KiB. */
export const anonRssKb = (pid: number): number | undefined => statusKb(pid, "RssAnon")

/**
 * Samples a live process's RssAnon every `everyMs` until stopped; `stop` returns the largest seen, KiB. The kernel
 * keeps no peak of it (VmHWM counts the mapped executable too), so a spike shorter than `everyMs` can be missed.
 */
export const watchAnonRss = (pid: number, everyMs = 20): { readonly stop: () => number | undefined } => {
  let peak: number | undefined
  const read = () => {
    const kb = anonRssKb(pid)
    if (kb !== undefined && (peak === undefined || kb > peak)) peak = kb
  }
  read()
  const timer = setInterval(read, everyMs)
  return {
    stop: () => {
      read()
      clearInterval(timer)
      return peak
    }
  }
}

let clockTicks: number | undefined

/** CPU time (user + system, all threads) a live process has used so far, ms (10 ms steps at CLK_TCK 100). */
export const cpuMs = (pid: number): number | undefined => {
  try {
    clockTicks ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // fields[0] is field 3 (state): utime and stime are fields 14 and 15
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks
  } catch {
    return undefined
  }
}

// Nanoseconds a thread has run, from its schedstat (0 for a thread gone meanwhile).
const threadNs = (pid: number, tid: string): number => {
  try {
    return Number(Fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0])
  } catch {
    return 0
  }
}

/** Nanoseconds a process has run, all its threads and its main thread alone (schedstat: finer than 10 ms ticks). */
export const schedCpuNs = (pid: number): { readonly all: number; readonly main: number } => {
  let all = 0
  for (const tid of Fs.readdirSync(`/proc/${pid}/task`)) all += threadNs(pid, tid)
  return { all, main: threadNs(pid, String(pid)) }
}

/** CPU time all processes on the machine have used so far (/proc/stat, all CPUs), ms, with the monotonic time. */
export const machineCpu = (): { readonly busyMs: number; readonly at: number } | undefined => {
  try {
    clockTicks ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
    const cols = Fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal: busy is user + nice + system + steal; interrupt time (loopback
    // TCP is processed in softirq) is charged to no process, so it is left out rather than counted as others' work
    const busy = (cols[0] ?? 0) + (cols[1] ?? 0) + (cols[2] ?? 0) + (cols[7] ?? 0)
    return { busyMs: (busy * 1000) / clockTicks, at: performance.now() }
  } catch {
    return undefined
  }
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const isListening = (port: number): boolean | undefined => {
  const hex = port.toString(16).toUpperCase().padStart(4, "0")
  try {
    for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
      if (!Fs.existsSync(file)) continue
      for (const row of Fs.readFileSync(file, "utf8").split("\n").slice(1)) {
        const cols = row.trim().split(/\s+/)
        if (cols[1]?.endsWith(`:${hex}`) && cols[3] === "0A") return true
      }
    }
    return false
  } catch {
    return undefined
  }
}

const probe = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = Net.connect({ host: LOOPBACK, port })
    const done = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

/** Waits until something listens on `port`, or `proc` exits, or `timeoutMs` passes. */
export const listening = async (port: number, proc: Proc, timeoutMs = 10_000): Promise<boolean> => {
  let exited = false
  void proc.exited.then(() => (exited = true))
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline && !exited) {
    const state = isListening(port)
    if (state === true || (state === undefined && (await probe(port)))) return true
    await new Promise((r) => setTimeout(r, 10))
  }
  return false
}

/**
 * The offset from the harness's `performance.now()` to the wall clock, in ms, found at an edge of `Date.now()`
 * so it is good to a few microseconds (Date.now alone has 1 ms steps). Taken again before each DCMTK run.
 */
export const wallClockOffset = (): number => {
  const d0 = Date.now()
  let d = d0
  let p = 0
  while (d === d0) {
    p = performance.now()
    d = Date.now()
  }
  return d - p
}

/** The log4cplus configuration for DCMTK SCUs: see the module header. */
export const DCMTK_LOG_CONFIG = [
  "log4cplus.rootLogger = INFO, console",
  "log4cplus.logger.dcmtk.apps.storescu.progress = WARN",
  "log4cplus.logger.dcmtk.dcmnet.responses = WARN",
  "log4cplus.appender.console = log4cplus::ConsoleAppender",
  "log4cplus.appender.console.logToStderr = true",
  "log4cplus.appender.console.ImmediateFlush = true",
  "log4cplus.appender.console.layout = log4cplus::PatternLayout",
  "log4cplus.appender.console.layout.ConversionPattern = %D{%s.%Q} %p %m%n",
  "log4cplus.appender.console.filters.1 = log4cplus::spi::StringMatchFilter",
  "log4cplus.appender.console.filters.1.StringToMatch = Requesting Association",
  "log4cplus.appender.console.filters.1.AcceptOnMatch = true",
  "log4cplus.appender.console.filters.2 = log4cplus::spi::StringMatchFilter",
  "log4cplus.appender.console.filters.2.StringToMatch = Releasing Association",
  "log4cplus.appender.console.filters.2.AcceptOnMatch = true",
  "log4cplus.appender.console.filters.3 = log4cplus::spi::LogLevelRangeFilter",
  "log4cplus.appender.console.filters.3.LogLevelMin = WARN",
  "log4cplus.appender.console.filters.3.AcceptOnMatch = true",
  "log4cplus.appender.console.filters.4 = log4cplus::spi::DenyAllFilter",
  ""
].join("\n")

const TIME = Fs.existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined

/** What a DCMTK SCU run gave. */
export interface DcmtkRun {
  readonly ok: boolean
  /** From its "Requesting Association" log line to its exit, ms. */
  readonly elapsedMs: number
  /** From its "Requesting Association" to its "Releasing Association" log line, ms: release and exit left out. */
  readonly untilReleaseMs: number
  /** From spawn to exit (process start included), ms. */
  readonly wallMs: number
  readonly rssKb: number | undefined
  /** The measured interval on the system monotonic clock (V8 profile timestamps), us. */
  readonly window: readonly [number, number] | undefined
  /** User + system CPU of the whole process (start included), ms, from /usr/bin/time. */
  readonly cpuMs: number | undefined
  readonly problems: ReadonlyArray<string>
  readonly output: string
}

let runs = 0

/** Runs a DCMTK SCU to its end; `logConfig` is the path of a file holding `DCMTK_LOG_CONFIG`. */
export const runDcmtkScu = async (
  tool: string,
  args: ReadonlyArray<string>,
  options: { readonly logConfig: string; readonly workDir: string; readonly rss: boolean }
): Promise<DcmtkRun> => {
  const rssFile = options.rss && TIME !== undefined ? Path.join(options.workDir, `rss-${++runs}.txt`) : undefined
  const full = ["-lc", options.logConfig, ...args]
  const offset = wallClockOffset()
  const proc =
    rssFile === undefined
      ? start(tool, full, { env: dcmtkEnv() })
      : start(TIME!, ["-f", "%M %U %S", "-o", rssFile, tool, ...full], { env: dcmtkEnv() })
  const exit = await proc.exited
  const output = proc.output()
  const lines = output.split("\n")
  const first = lines.find((l) => l.includes(" Requesting Association"))
  const m = first === undefined ? null : /^(\d+)\.(\d+\.\d+) /.exec(first)
  const t0 = m === null ? undefined : Number(m[1]) * 1000 + Number(m[2])
  const stamp = (text: string): number | undefined => {
    const line = lines.find((l) => l.includes(text))
    const m = line === undefined ? null : /^(\d+)\.(\d+\.\d+) /.exec(line)
    return m === null ? undefined : Number(m[1]) * 1000 + Number(m[2])
  }
  const releasing = stamp(" Releasing Association")
  const problems = lines.filter((l) => / (WARN|ERROR|FATAL) /.test(l))
  let rssKb: number | undefined
  let cpu: number | undefined
  if (rssFile !== undefined) {
    const rows = Fs.readFileSync(rssFile, "utf8").trim().split("\n")
    const m = rows[rows.length - 1]?.split(" ").map(Number)
    if (m !== undefined && m.length === 3 && m.every(Number.isFinite)) {
      rssKb = m[0]
      cpu = (m[1]! + m[2]!) * 1000
    }
    Fs.rmSync(rssFile, { force: true })
  }
  const mono = (perfMs: number): number => {
    const hrRef = Number(process.hrtime.bigint() / 1000n)
    return hrRef + (perfMs - performance.now()) * 1000
  }
  return {
    window: t0 === undefined ? undefined : [mono(t0 - offset), mono(exit.at)],
    ok: exit.code === 0 && t0 !== undefined && !problems.some((l) => / (ERROR|FATAL) /.test(l)),
    elapsedMs: t0 === undefined ? Number.NaN : exit.at + offset - t0,
    untilReleaseMs: t0 === undefined || releasing === undefined ? Number.NaN : releasing - t0,
    wallMs: exit.at - proc.startedAt,
    rssKb,
    cpuMs: cpu,
    problems,
    output
  }
}
