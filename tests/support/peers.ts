/**
 * Test harness for real DICOM peers: DCMTK 3.6.7 (`storescp`, `dcmqrscp`, and the SCU tools) and Orthanc,
 * started as child processes on ports the OS picked, for interoperability tests (PS3.7 DIMSE services,
 * PS3.8 upper layer) of netdicom against independent implementations.
 *
 * Every process started here is tracked: `stop()` ends it (SIGTERM, then SIGKILL after a grace period) and
 * waits for its exit; servers run in their own process group so forked children (dcmqrscp forks one per
 * association) go with them; on exit or SIGINT/SIGTERM/SIGHUP of the test process all of them are killed;
 * and a small shell watchdog kills a server whose test process died without running any handler.
 *
 * Loopback only, with a caveat: clients here always dial 127.0.0.1, but DCMTK 3.6.7 `storescp`/`dcmqrscp`
 * and Orthanc 1.10.1 have no option to choose the listen address, so they bind 0.0.0.0. Orthanc is
 * configured with `RemoteAccessAllowed: false`, so its HTTP server answers loopback clients only.
 *
 * Not covered: TLS, worklist SCPs, Orthanc plugins (none are loaded).
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** The only host any peer here is dialled on. */
export const LOOPBACK = "127.0.0.1"

/** Absolute path of the repository root (two levels above this file). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")

/** The public DICOM corpus: env NETDICOM_CORPUS, else `../shared/corpus` relative to the repository root. */
export const corpusDir = (): string =>
  process.env["NETDICOM_CORPUS"] ?? path.resolve(repoRoot, "..", "shared", "corpus")

/** Absolute path of a corpus file, or undefined when the corpus or the file is absent. */
export const corpusFile = (name: string): string | undefined => {
  const file = path.join(corpusDir(), name)
  return fs.existsSync(file) ? file : undefined
}

// ---------------------------------------------------------------------------------------------------------
// Tool discovery
// ---------------------------------------------------------------------------------------------------------

/** DCMTK executables the harness relies on. */
export const DCMTK_TOOLS = [
  "storescp",
  "storescu",
  "echoscu",
  "findscu",
  "getscu",
  "movescu",
  "dcmqrscp",
  "dcmqridx",
  "dcmdump"
] as const

const isExecutable = (file: string): boolean => {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}

/** Absolute path of an executable found on PATH (plus /usr/sbin and /usr/local/sbin), or undefined. */
export const which = (name: string): string | undefined => {
  const dirs = [...(process.env["PATH"] ?? "").split(path.delimiter), "/usr/sbin", "/usr/local/sbin"]
  for (const dir of dirs) {
    if (dir === "") continue
    const file = path.join(dir, name)
    if (isExecutable(file)) return file
  }
  return undefined
}

/** True when every DCMTK tool in `DCMTK_TOOLS` is installed. */
export const hasDcmtk = (): boolean => DCMTK_TOOLS.every((tool) => which(tool) !== undefined)

/** True when the Orthanc server executable is installed. */
export const hasOrthanc = (): boolean => which("Orthanc") !== undefined

/** Names of the missing DCMTK tools (empty when all are present), for skip messages. */
export const missingDcmtkTools = (): ReadonlyArray<string> => DCMTK_TOOLS.filter((tool) => which(tool) === undefined)

// ---------------------------------------------------------------------------------------------------------
// Process tracking
// ---------------------------------------------------------------------------------------------------------

const MAX_LOG_CHARS = 1_000_000

/** How a process ended. */
export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

interface Managed {
  readonly child: ChildProcess
  readonly pid: number
  readonly group: boolean
  readonly exited: Promise<Exit>
  readonly hasExited: () => boolean
  readonly logs: () => string
  readonly stdout: () => string
  readonly stderr: () => string
}

const live = new Set<Managed>()
let hooksInstalled = false

const signalProcess = (managed: Managed, signal: NodeJS.Signals): void => {
  if (managed.hasExited()) return
  try {
    if (managed.group) process.kill(-managed.pid, signal)
    else managed.child.kill(signal)
  } catch {
    try {
      managed.child.kill(signal)
    } catch {
      // already gone
    }
  }
}

/** Temp dirs created by `startDcmqrscp` / `startOrthanc` themselves, removed on stop or at exit. */
const ownedDirs = new Set<string>()

const killAllNow = (): void => {
  for (const managed of live) signalProcess(managed, "SIGKILL")
  for (const dir of ownedDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true })
    } catch {
      // best effort at exit
    }
  }
  ownedDirs.clear()
}

const installExitHooks = (): void => {
  if (hooksInstalled) return
  hooksInstalled = true
  process.on("exit", killAllNow)
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = (): void => {
      killAllNow()
      process.off(signal, onSignal)
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
    }
    process.on(signal, onSignal)
  }
}

/** Last-resort reaper: a detached shell that kills the child's group once this test process is gone. */
const WATCHDOG_SCRIPT = [
  'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done',
  'kill -9 -"$2" 2>/dev/null; kill -9 "$2" 2>/dev/null; exit 0'
].join("\n")

const startWatchdog = (pid: number): ChildProcess | undefined => {
  try {
    const watchdog = spawn("sh", ["-c", WATCHDOG_SCRIPT, "netdicom-watchdog", String(process.pid), String(pid)], {
      detached: true,
      stdio: "ignore"
    })
    watchdog.on("error", () => {})
    watchdog.unref()
    return watchdog
  } catch {
    return undefined
  }
}

interface LaunchOptions {
  readonly cwd?: string
  readonly env?: NodeJS.ProcessEnv
  /** Own process group, so that forked children (and a shell's children) are signalled too. */
  readonly group: boolean
}

const dcmtkEnv = (extra: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv => ({
  ...process.env,
  TCP_NODELAY: "1",
  ...extra
})

const launch = (cmd: string, args: ReadonlyArray<string>, options: LaunchOptions): Managed => {
  installExitHooks()
  const child = spawn(cmd, [...args], {
    cwd: options.cwd,
    env: dcmtkEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"],
    detached: options.group
  })
  let out = ""
  let err = ""
  let all = ""
  const append = (current: string, chunk: string): string => {
    const next = current + chunk
    return next.length > MAX_LOG_CHARS ? next.slice(next.length - MAX_LOG_CHARS) : next
  }
  child.stdout?.setEncoding("utf8")
  child.stderr?.setEncoding("utf8")
  child.stdout?.on("data", (chunk: string) => {
    out = append(out, chunk)
    all = append(all, chunk)
  })
  child.stderr?.on("data", (chunk: string) => {
    err = append(err, chunk)
    all = append(all, chunk)
  })
  let done = false
  const exited = new Promise<Exit>((resolve) => {
    child.on("error", (error) => {
      all = append(all, `\n[harness] spawn error: ${error.message}\n`)
      if (child.pid === undefined) {
        done = true
        resolve({ code: null, signal: null })
      }
    })
    child.on("close", (code, signal) => {
      done = true
      resolve({ code, signal })
    })
  })
  const managed: Managed = {
    child,
    pid: child.pid ?? -1,
    group: options.group && child.pid !== undefined,
    exited,
    hasExited: () => done,
    logs: () => all,
    stdout: () => out,
    stderr: () => err
  }
  if (child.pid !== undefined) {
    live.add(managed)
    const watchdog = startWatchdog(child.pid)
    void exited.then(() => {
      live.delete(managed)
      if (watchdog !== undefined && watchdog.exitCode === null) watchdog.kill("SIGTERM")
    })
  }
  return managed
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
const terminate = async (managed: Managed, graceMs = 5_000): Promise<Exit> => {
  if (managed.hasExited()) return managed.exited
  signalProcess(managed, "SIGTERM")
  const timer = delay(graceMs).then(() => "timeout" as const)
  const outcome = await Promise.race([managed.exited.then(() => "exited" as const), timer])
  if (outcome === "timeout") signalProcess(managed, "SIGKILL")
  const exit = await managed.exited
  // the group may still hold forked children that ignored SIGTERM
  if (managed.group) {
    try {
      process.kill(-managed.pid, "SIGKILL")
    } catch {
      // group already empty
    }
  }
  return exit
}

// ---------------------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------------------

/** A TCP port that was free on 127.0.0.1 a moment ago (listen on port 0, read it, close). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once("error", reject)
    server.listen({ host: LOOPBACK, port: 0, exclusive: true }, () => {
      const address = server.address()
      if (address === null || typeof address === "string") {
        server.close()
        reject(new Error("freePort: no TCP address"))
        return
      }
      const port = address.port
      server.close(() => resolve(port))
    })
  })

const tryConnect = (port: number, timeoutMs: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host: LOOPBACK, port })
    const finish = (ok: boolean): void => {
      socket.removeAllListeners()
      socket.on("error", () => {})
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => finish(false))
    socket.once("connect", () => finish(true))
    socket.once("error", () => finish(false))
  })

const pollPort = async (port: number, timeoutMs: number, aborted: () => boolean): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (aborted()) return false
    if (await tryConnect(port, Math.max(50, Math.min(1_000, deadline - Date.now())))) return true
    await delay(50)
  }
  return false
}

/** Resolves once a TCP connect to 127.0.0.1:`port` succeeds; rejects after `timeoutMs`. */
export const waitForPort = async (port: number, timeoutMs = 10_000): Promise<void> => {
  if (!(await pollPort(port, timeoutMs, () => false))) {
    throw new Error(`waitForPort: 127.0.0.1:${port} did not accept a connection within ${timeoutMs} ms`)
  }
}

interface ServerSpec {
  readonly cmd: string
  readonly args: ReadonlyArray<string>
  readonly cwd?: string
}

/**
 * Starts a server on freshly picked ports, retrying (with new ports) when the process exits before all
 * ports accept connections, e.g. because another process took a port in the meantime.
 */
const startServer = async (
  label: string,
  portCount: number,
  makeSpec: (ports: ReadonlyArray<number>) => ServerSpec,
  timeoutMs: number
): Promise<{ readonly managed: Managed; readonly ports: ReadonlyArray<number> }> => {
  let lastLogs = ""
  for (let attempt = 0; attempt < 3; attempt++) {
    const ports: Array<number> = []
    while (ports.length < portCount) {
      const port = await freePort()
      if (!ports.includes(port)) ports.push(port)
    }
    const spec = makeSpec(ports)
    const managed = launch(
      spec.cmd,
      spec.args,
      spec.cwd === undefined ? { group: true } : { group: true, cwd: spec.cwd }
    )
    let ready = true
    for (const port of ports) {
      if (!(await pollPort(port, timeoutMs, managed.hasExited))) {
        ready = false
        break
      }
    }
    if (ready && !managed.hasExited()) return { managed, ports }
    lastLogs = managed.logs()
    await terminate(managed, 1_000)
  }
  throw new Error(`${label} did not start (3 attempts); last output:\n${lastLogs}`)
}

// ---------------------------------------------------------------------------------------------------------
// Running SCU tools
// ---------------------------------------------------------------------------------------------------------

/** Options of `run`. */
export interface RunOptions {
  /** Extra environment (merged over process.env; TCP_NODELAY=1 is always set unless overridden). */
  readonly env?: NodeJS.ProcessEnv
  /** Kill the process (SIGKILL) after this many ms; default 30 000. */
  readonly timeoutMs?: number
  readonly cwd?: string
}

/** Outcome of `run`. */
export interface RunResult {
  /** Exit code, or null when killed by a signal. */
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  /** True when the harness killed the process because of `timeoutMs`. */
  readonly timedOut: boolean
}

/**
 * Runs a command (echoscu, storescu, findscu, getscu, movescu, ...) to completion with TCP_NODELAY=1, in its
 * own process group; on timeout the whole group is killed with SIGKILL.
 */
export const run = async (cmd: string, args: ReadonlyArray<string>, options: RunOptions = {}): Promise<RunResult> => {
  const launchOptions: LaunchOptions = {
    group: true,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.env === undefined ? {} : { env: options.env })
  }
  const managed = launch(cmd, args, launchOptions)
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    signalProcess(managed, "SIGKILL")
  }, options.timeoutMs ?? 30_000)
  const exit = await managed.exited
  clearTimeout(timer)
  return { code: exit.code, signal: exit.signal, stdout: managed.stdout(), stderr: managed.stderr(), timedOut }
}

// ---------------------------------------------------------------------------------------------------------
// Temp dirs and DICOM files
// ---------------------------------------------------------------------------------------------------------

/** Creates a fresh directory under the OS temp dir. */
export const makeTempDir = (prefix = "netdicom-"): string => fs.mkdtempSync(path.join(os.tmpdir(), prefix))

/** Removes a directory tree, ignoring absence. */
export const removeDir = (dir: string): void => fs.rmSync(dir, { recursive: true, force: true })

/** Regular files in a directory (absolute paths, sorted); empty when the directory is absent. */
export const listFiles = (dir: string): ReadonlyArray<string> => {
  if (!fs.existsSync(dir)) return []
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(dir, entry.name))
    .sort()
}

/**
 * The data set part of a PS3.10 file: the bytes after the 128-byte preamble, "DICM" and the File Meta
 * Information group (0002,xxxx, always Explicit VR Little Endian). Undefined when the bytes are not PS3.10.
 */
export const part10Dataset = (bytes: Uint8Array): Uint8Array | undefined => {
  if (bytes.length < 132) return undefined
  if (String.fromCharCode(bytes[128] ?? 0, bytes[129] ?? 0, bytes[130] ?? 0, bytes[131] ?? 0) !== "DICM")
    return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let offset = 132
  while (offset + 8 <= bytes.length && view.getUint16(offset, true) === 0x0002) {
    const vr = String.fromCharCode(bytes[offset + 4] ?? 0, bytes[offset + 5] ?? 0)
    const longForm = vr === "OB" || vr === "OW" || vr === "OF" || vr === "SQ" || vr === "UT" || vr === "UN"
    if (longForm) {
      if (offset + 12 > bytes.length) return undefined
      offset += 12 + view.getUint32(offset + 8, true)
    } else {
      offset += 8 + view.getUint16(offset + 6, true)
    }
  }
  return offset <= bytes.length ? bytes.subarray(offset) : undefined
}

/** A move destination / known peer: AE title and port on 127.0.0.1. */
export interface PeerAe {
  readonly aet: string
  readonly host?: string
  readonly port: number
}

/** What every started server exposes. */
export interface RunningPeer {
  /** Process id of the server (leader of its own process group). */
  readonly pid: number
  /** Ends the server (SIGTERM, SIGKILL after 5 s) and waits for its exit; idempotent. */
  readonly stop: () => Promise<void>
  /** Everything the server wrote to stdout and stderr so far. */
  readonly logs: () => string
}

// ---------------------------------------------------------------------------------------------------------
// storescp
// ---------------------------------------------------------------------------------------------------------

/** Options of `startStorescp`. */
export interface StorescpOptions {
  /** Existing directory receiving the stored files (named `<modality>.<SOP Instance UID>` by `-uf`). */
  readonly outDir: string
  /** AE title of the SCP (default STORESCP; storescp does not check the called AE title). */
  readonly aet?: string
  /** More storescp options (e.g. `--refuse`, `+B`, `-pdu 65536`), placed before the port. */
  readonly extraArgs?: ReadonlyArray<string>
  /** How long to wait for the port to accept connections (default 10 000 ms). */
  readonly timeoutMs?: number
}

/** A running DCMTK storescp. */
export interface Storescp extends RunningPeer {
  readonly host: typeof LOOPBACK
  readonly port: number
  readonly aet: string
  readonly outDir: string
  /** Files received so far (absolute paths, sorted). */
  readonly files: () => ReadonlyArray<string>
}

/**
 * Starts `storescp -v -dhl -aet AET -od OUTDIR +xa -uf [extraArgs] PORT` (single process, all supported
 * transfer syntaxes accepted, files named after their SOP Instance UID). Binds 0.0.0.0 (no bind option in 3.6.7).
 */
export const startStorescp = async (options: StorescpOptions): Promise<Storescp> => {
  const aet = options.aet ?? "STORESCP"
  fs.mkdirSync(options.outDir, { recursive: true })
  const { managed, ports } = await startServer(
    "storescp",
    1,
    ([port]) => ({
      cmd: "storescp",
      args: ["-v", "-dhl", "-aet", aet, "-od", options.outDir, "+xa", "-uf", ...(options.extraArgs ?? []), String(port)]
    }),
    options.timeoutMs ?? 10_000
  )
  return {
    host: LOOPBACK,
    port: ports[0] ?? 0,
    aet,
    outDir: options.outDir,
    pid: managed.pid,
    stop: async () => {
      await terminate(managed)
    },
    logs: managed.logs,
    files: () => listFiles(options.outDir)
  }
}

// ---------------------------------------------------------------------------------------------------------
// dcmqrscp
// ---------------------------------------------------------------------------------------------------------

/** Options of `startDcmqrscp`. */
export interface DcmqrscpOptions {
  /** Working directory for the config and storage area; a fresh temp dir (removed on stop) when omitted. */
  readonly dir?: string
  /** AE title of the archive (default DCMQRSCP); its storage area accepts any peer (RW). */
  readonly aet?: string
  /** Move destinations, written to the HostTable (symbolic names peer0, peer1, ...). */
  readonly peers?: ReadonlyArray<PeerAe>
  /** Files indexed into the storage area (copied, then `dcmqridx`) before the server starts. */
  readonly preload?: ReadonlyArray<string>
  /** More dcmqrscp options, placed before `-c`. */
  readonly extraArgs?: ReadonlyArray<string>
  /** MaxPDUSize in the config (default 16384). */
  readonly maxPdu?: number
  /** How long to wait for the port (default 10 000 ms). */
  readonly timeoutMs?: number
}

/** A running DCMTK dcmqrscp. */
export interface Dcmqrscp extends RunningPeer {
  readonly host: typeof LOOPBACK
  readonly port: number
  readonly aet: string
  readonly dir: string
  readonly configPath: string
  /** Storage area of `aet` (holds index.dat and the stored files). */
  readonly storageDir: string
  /** Sends files with `storescu -aet STORESCU -aec AET 127.0.0.1 PORT files...`. */
  readonly store: (files: ReadonlyArray<string>, options?: RunOptions) => Promise<RunResult>
  /** Copies files into the storage area and registers them with `dcmqridx` (works while running). */
  readonly index: (files: ReadonlyArray<string>) => Promise<RunResult>
}

/** The dcmqrscp.cfg text for one read/write storage area and a host table of move destinations. */
export const dcmqrscpConfig = (config: {
  readonly port: number
  readonly aet: string
  readonly storageDir: string
  readonly peers: ReadonlyArray<PeerAe>
  readonly maxPdu: number
}): string =>
  [
    `NetworkTCPPort  = ${config.port}`,
    `MaxPDUSize      = ${config.maxPdu}`,
    "MaxAssociations = 16",
    "",
    "HostTable BEGIN",
    ...config.peers.map((peer, i) => `peer${i} = (${peer.aet}, ${peer.host ?? LOOPBACK}, ${peer.port})`),
    "HostTable END",
    "",
    "VendorTable BEGIN",
    "VendorTable END",
    "",
    "AETable BEGIN",
    `${config.aet} ${config.storageDir} RW (100, 1024mb) ANY`,
    "AETable END",
    ""
  ].join("\n")

const indexInto = async (storageDir: string, files: ReadonlyArray<string>): Promise<RunResult> => {
  const copies = files.map((file, i) => {
    const target = path.join(storageDir, `preload-${Date.now()}-${i}-${path.basename(file)}`)
    fs.copyFileSync(file, target)
    return target
  })
  return run("dcmqridx", [storageDir, ...copies])
}

/**
 * Writes `DIR/dcmqrscp.cfg` and runs `dcmqrscp -c cfg PORT` in its default fork mode (`-s` single-process
 * mode of 3.6.7 segfaults after the first association). Binds 0.0.0.0 (no bind option in 3.6.7).
 */
export const startDcmqrscp = async (options: DcmqrscpOptions): Promise<Dcmqrscp> => {
  const aet = options.aet ?? "DCMQRSCP"
  const ownDir = options.dir === undefined
  const dir = options.dir ?? makeTempDir("netdicom-dcmqrscp-")
  if (ownDir) ownedDirs.add(dir)
  const storageDir = path.join(dir, "storage", aet)
  fs.mkdirSync(storageDir, { recursive: true })
  const configPath = path.join(dir, "dcmqrscp.cfg")
  if (options.preload !== undefined && options.preload.length > 0) {
    const indexed = await indexInto(storageDir, options.preload)
    if (indexed.code !== 0) throw new Error(`dcmqridx failed (${indexed.code}):\n${indexed.stdout}${indexed.stderr}`)
  }
  const { managed, ports } = await startServer(
    "dcmqrscp",
    1,
    ([port]) => {
      fs.writeFileSync(
        configPath,
        dcmqrscpConfig({
          port: port ?? 0,
          aet,
          storageDir,
          peers: options.peers ?? [],
          maxPdu: options.maxPdu ?? 16384
        })
      )
      return { cmd: "dcmqrscp", args: [...(options.extraArgs ?? []), "-c", configPath, String(port)], cwd: dir }
    },
    options.timeoutMs ?? 10_000
  )
  const port = ports[0] ?? 0
  return {
    host: LOOPBACK,
    port,
    aet,
    dir,
    configPath,
    storageDir,
    pid: managed.pid,
    stop: async () => {
      await terminate(managed)
      if (ownDir) {
        removeDir(dir)
        ownedDirs.delete(dir)
      }
    },
    logs: managed.logs,
    store: (files, runOptions) =>
      run("storescu", ["-aet", "STORESCU", "-aec", aet, LOOPBACK, String(port), ...files], runOptions),
    index: (files) => indexInto(storageDir, files)
  }
}

// ---------------------------------------------------------------------------------------------------------
// Orthanc
// ---------------------------------------------------------------------------------------------------------

/** A running DCMTK dcmprscp (Basic Grayscale Print Management SCP, PS3.4 H). */
export interface Dcmprscp extends RunningPeer {
  readonly host: typeof LOOPBACK
  readonly port: number
  readonly aet: string
  readonly dir: string
}

/**
 * Writes a dcmpstat.cfg with one local printer (`aet`, display formats 1,1 and 1,2, films 8INX10IN and 14INX17IN) in
 * a fresh temp dir (removed on stop) and runs `dcmprscp -c <cfg> -p NETDICOM_PRINT`; resolves once its port accepts
 * connections. dcmprscp binds every interface (it has no bind option).
 */
export const startDcmprscp = async (
  options: { readonly aet?: string; readonly timeoutMs?: number } = {}
): Promise<Dcmprscp> => {
  const aet = options.aet ?? "PRINTSCP"
  const dir = makeTempDir("netdicom-dcmprscp-")
  ownedDirs.add(dir)
  for (const sub of ["spool", "db", "log"]) fs.mkdirSync(path.join(dir, sub))
  const configPath = path.join(dir, "dcmpstat.cfg")
  const { managed, ports } = await startServer(
    "dcmprscp",
    1,
    ([port]) => {
      fs.writeFileSync(
        configPath,
        [
          "[[GENERAL]]",
          "[APPLICATION]",
          `LogDirectory = ${path.join(dir, "log")}`,
          "LogFile = general.log",
          "LogLevel = INFO",
          "[PRINT]",
          "Spooler = dcmprscu",
          "Server = dcmprscp",
          `Directory = ${path.join(dir, "spool")}`,
          "DetailedLog = false",
          "BinaryLog = false",
          "DeletePrintJobs = true",
          "[DATABASE]",
          `Directory = ${path.join(dir, "db")}`,
          "[[COMMUNICATION]]",
          "[NETDICOM_PRINT]",
          `Aetitle = ${aet}`,
          "Description = netdicom test printer",
          "Hostname = localhost",
          `Port = ${port}`,
          "Type = LOCALPRINTER",
          "DisplayFormat = 1,1\\1,2",
          "FilmSizeID = 8INX10IN\\14INX17IN",
          "MagnificationType = REPLICATE\\NONE",
          "MediumType = PAPER\\BLUE FILM",
          "MaxDensity = 320",
          "MinDensity = 20",
          "ImplicitOnly = false",
          "MaxPDU = 32768",
          "OmitSOPClassUIDFromCreateResponse = false",
          "PresentationLUTMatchRequired = false",
          "PresentationLUTinFilmSession = false",
          "Supports12Bit = true",
          "SupportsPresentationLUT = false",
          ""
        ].join("\n")
      )
      return { cmd: "dcmprscp", args: ["-c", configPath, "-p", "NETDICOM_PRINT", "-v"], cwd: dir }
    },
    options.timeoutMs ?? 10_000
  )
  return {
    host: LOOPBACK,
    port: ports[0] ?? 0,
    aet,
    dir,
    pid: managed.pid,
    stop: async () => {
      await terminate(managed)
      removeDir(dir)
      ownedDirs.delete(dir)
    },
    logs: managed.logs
  }
}

/** Options of `startOrthanc`. */
export interface OrthancOptions {
  /** Working directory for config, storage and index; a fresh temp dir (removed on stop) when omitted. */
  readonly dir?: string
  /** DicomAet (default ORTHANC). */
  readonly aet?: string
  /** DicomModalities: symbolic name → AE on 127.0.0.1 (move / store destinations). */
  readonly modalities?: Readonly<Record<string, PeerAe>>
  /** Extra or overriding top-level configuration entries. */
  readonly config?: Readonly<Record<string, unknown>>
  /** How long to wait for both ports and /system (default 30 000 ms). */
  readonly timeoutMs?: number
}

/** A running Orthanc. */
export interface Orthanc extends RunningPeer {
  readonly host: typeof LOOPBACK
  readonly aet: string
  readonly dicomPort: number
  readonly httpPort: number
  /** `http://127.0.0.1:<httpPort>` */
  readonly httpUrl: string
  readonly dir: string
  readonly configPath: string
  /** GET (or other method) on the REST API, parsed as JSON; rejects on a non-2xx status. */
  readonly rest: (pathname: string, init?: RequestInit) => Promise<unknown>
}

/** The Orthanc configuration written by `startOrthanc` (before `options.config` overrides). */
export const orthancConfig = (config: {
  readonly aet: string
  readonly dicomPort: number
  readonly httpPort: number
  readonly dir: string
  readonly modalities: Readonly<Record<string, PeerAe>>
}): Record<string, unknown> => ({
  Name: "netdicom-test",
  DicomServerEnabled: true,
  DicomAet: config.aet,
  DicomPort: config.dicomPort,
  HttpServerEnabled: true,
  HttpPort: config.httpPort,
  RemoteAccessAllowed: false,
  AuthenticationEnabled: false,
  SslEnabled: false,
  StorageDirectory: path.join(config.dir, "storage"),
  IndexDirectory: path.join(config.dir, "index"),
  DicomCheckCalledAet: false,
  DicomCheckModalityHost: false,
  DicomAlwaysAllowEcho: true,
  DicomAlwaysAllowStore: true,
  DicomAlwaysAllowFind: true,
  DicomAlwaysAllowGet: true,
  DicomAlwaysAllowMove: true,
  DicomModalities: Object.fromEntries(
    Object.entries(config.modalities).map(([name, peer]) => [name, [peer.aet, peer.host ?? LOOPBACK, peer.port]])
  ),
  DicomModalitiesInDatabase: false,
  Plugins: [],
  SaveJobs: false,
  HttpDescribeErrors: true
})

const fetchJson = async (url: string, init?: RequestInit): Promise<unknown> => {
  const response = await fetch(url, init)
  const text = await response.text()
  if (!response.ok) throw new Error(`${init?.method ?? "GET"} ${url}: HTTP ${response.status}: ${text}`)
  return text === "" ? null : (JSON.parse(text) as unknown)
}

/**
 * Writes `DIR/orthanc.json` and runs `Orthanc DIR/orthanc.json`; resolves once the DICOM and HTTP ports accept
 * connections and `GET /system` answers. Binds 0.0.0.0 (Orthanc 1.10.1 has no bind option); HTTP refuses
 * non-loopback clients (RemoteAccessAllowed false).
 */
export const startOrthanc = async (options: OrthancOptions = {}): Promise<Orthanc> => {
  const aet = options.aet ?? "ORTHANC"
  const ownDir = options.dir === undefined
  const dir = options.dir ?? makeTempDir("netdicom-orthanc-")
  if (ownDir) ownedDirs.add(dir)
  fs.mkdirSync(dir, { recursive: true })
  const configPath = path.join(dir, "orthanc.json")
  const timeoutMs = options.timeoutMs ?? 30_000
  const orthanc = which("Orthanc") ?? "Orthanc"
  const { managed, ports } = await startServer(
    "Orthanc",
    2,
    ([dicomPort, httpPort]) => {
      const config = {
        ...orthancConfig({
          aet,
          dicomPort: dicomPort ?? 0,
          httpPort: httpPort ?? 0,
          dir,
          modalities: options.modalities ?? {}
        }),
        ...options.config
      }
      fs.writeFileSync(configPath, JSON.stringify(config, null, 2))
      return { cmd: orthanc, args: [configPath], cwd: dir }
    },
    timeoutMs
  )
  const dicomPort = ports[0] ?? 0
  const httpPort = ports[1] ?? 0
  const httpUrl = `http://${LOOPBACK}:${httpPort}`
  const stop = async (): Promise<void> => {
    await terminate(managed, 10_000)
    if (ownDir) {
      removeDir(dir)
      ownedDirs.delete(dir)
    }
  }
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      await fetchJson(`${httpUrl}/system`)
      break
    } catch (error) {
      if (Date.now() > deadline || managed.hasExited()) {
        await stop()
        throw new Error(`Orthanc /system did not answer: ${String(error)}\n${managed.logs()}`)
      }
      await delay(100)
    }
  }
  return {
    host: LOOPBACK,
    aet,
    dicomPort,
    httpPort,
    httpUrl,
    dir,
    configPath,
    pid: managed.pid,
    stop,
    logs: managed.logs,
    rest: (pathname, init) => fetchJson(`${httpUrl}${pathname}`, init)
  }
}

/** Stops every server and tool this module started and that is still running (for afterAll hooks). */
export const stopAll = async (): Promise<void> => {
  await Promise.all([...live].map((managed) => terminate(managed)))
}
