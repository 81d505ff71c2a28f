/**
 * Test support for the `netdicom` command: runs the real CLI (`node_modules/.bin/netdicom` at the repository
 * root) as a child process, starts its servers (`bin/netdicom.js` under this Node, so that a SIGINT reaches it
 * directly, not pnpm's shell wrappers) on 127.0.0.1 port 0 and reads the port from the listening line,
 * and builds small Part 10 files with dcmjs (independently of netdicom's own encoder).
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { afterAll } from "@effect/vitest"
import { Stream } from "effect"
import type { StoreHandler } from "@netdicom/net"
import { makeTempDir, removeDir, repoRoot, run, type RunResult } from "../../../tests/support/peers.ts"

/** The installed command. */
export const NETDICOM = path.join(repoRoot, "node_modules", ".bin", "netdicom")

/** Runs `netdicom args...` to completion. */
export const netdicom = (args: ReadonlyArray<string>, timeoutMs = 60_000): Promise<RunResult> =>
  run(NETDICOM, args, { timeoutMs, cwd: repoRoot })

/** A `netdicom` server running as a child process (its own process group). */
export interface Server {
  readonly port: number
  readonly child: ChildProcess
  readonly output: () => string
  /** Ctrl-C: SIGINT to the process group; resolves with the exit code. */
  readonly interrupt: () => Promise<number | null>
  /** `signal` to the process alone (as a supervisor sends it); resolves with the exit code. */
  readonly stop: (signal: NodeJS.Signals) => Promise<number | null>
}

const live = new Set<ChildProcess>()
process.on("exit", () => {
  for (const child of live) {
    try {
      process.kill(-child.pid!, "SIGKILL")
    } catch {
      // gone already
    }
  }
})

/** The command's JS entry, run with this Node (22) so that signals reach it without a shell in between. */
export const BIN = path.join(repoRoot, "packages", "cli", "bin", "netdicom.js")

/** Starts `netdicom <args>` and waits for `listening on 127.0.0.1:PORT as AET`. */
export const startServer = (args: ReadonlyArray<string>, timeoutMs = 20_000): Promise<Server> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: repoRoot,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"]
    })
    live.add(child)
    let out = ""
    let settled = false
    const exited = new Promise<number | null>((done) =>
      child.on("close", (code) => {
        live.delete(child)
        done(code)
        if (!settled) {
          settled = true
          reject(new Error(`netdicom ${args.join(" ")} exited (${code}) before listening:\n${out}`))
        }
      })
    )
    const timer = setTimeout(() => {
      if (settled) return
      settled = true
      process.kill(-child.pid!, "SIGKILL")
      reject(new Error(`netdicom ${args.join(" ")} did not listen within ${timeoutMs} ms:\n${out}`))
    }, timeoutMs)
    const onData = (chunk: Buffer) => {
      out += chunk.toString("utf8")
      const m = /listening on 127\.0\.0\.1:(\d+) as \S+/.exec(out)
      if (m !== null && !settled) {
        settled = true
        clearTimeout(timer)
        resolve({
          port: Number(m[1]),
          child,
          output: () => out,
          interrupt: async () => {
            if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, "SIGINT")
            return exited
          },
          stop: async (signal) => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal)
            return exited
          }
        })
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
  })

interface DcmjsWrite {
  readonly data: {
    readonly DicomDict: new (meta: object) => { dict: object; write(): ArrayBuffer }
    readonly DicomMetaDictionary: { denaturalizeDataset(dataset: object): object }
  }
}

const dcmjs = createRequire(import.meta.url)("dcmjs") as DcmjsWrite

export const CT = "1.2.840.10008.5.1.4.1.1.2"
export const MR = "1.2.840.10008.5.1.4.1.1.4"
export const EXPLICIT_LE = "1.2.840.10008.1.2.1"
export const IMPLICIT_LE = "1.2.840.10008.1.2"

/** What a generated instance holds. */
export interface Spec {
  readonly patientId: string
  readonly patientName: string
  readonly study: string
  readonly series: string
  readonly sop: string
  readonly sopClass?: string
  readonly modality?: string
  readonly transferSyntax?: string
  /** (0008,0005) as written (no other text is re-encoded for it). */
  readonly specificCharacterSet?: string
  /** Rows and Columns of the 16-bit image (default 4). */
  readonly side?: number
  /** Leave (0008,0016) and (0008,0018) out of the data set (the meta still names them), as some exports do. */
  readonly noSopUidsInDataSet?: boolean
}

/** A small Part 10 file written by dcmjs: a 4x4 16-bit image with the given identifiers. */
export const part10 = (spec: Spec): Uint8Array => {
  const sopClass = spec.sopClass ?? CT
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: sopClass,
    MediaStorageSOPInstanceUID: spec.sop,
    TransferSyntaxUID: spec.transferSyntax ?? EXPLICIT_LE,
    ImplementationClassUID: "1.2.826.0.1.3680043.10.1478.99",
    ImplementationVersionName: "CLI_TEST"
  }
  const dataset = {
    ...(spec.specificCharacterSet === undefined ? {} : { SpecificCharacterSet: spec.specificCharacterSet }),
    ...(spec.noSopUidsInDataSet === true ? {} : { SOPClassUID: sopClass, SOPInstanceUID: spec.sop }),
    PatientID: spec.patientId,
    PatientName: spec.patientName,
    StudyInstanceUID: spec.study,
    SeriesInstanceUID: spec.series,
    StudyDate: "20240102",
    StudyDescription: "CLI TEST",
    Modality: spec.modality ?? (sopClass === MR ? "MR" : "CT"),
    SeriesNumber: 1,
    InstanceNumber: 1,
    Rows: spec.side ?? 4,
    Columns: spec.side ?? 4,
    BitsAllocated: 16,
    BitsStored: 16,
    HighBit: 15,
    PixelRepresentation: 0,
    SamplesPerPixel: 1,
    PhotometricInterpretation: "MONOCHROME2",
    PixelData: new Uint16Array((spec.side ?? 4) ** 2).map((_, i) => i * 100).buffer,
    _vrMap: { PixelData: "OW" }
  }
  const file = new dcmjs.data.DicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset(meta))
  file.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(dataset)
  return new Uint8Array(file.write())
}

/** Writes `bytes` to `dir/name`, creating `dir`. */
export const writeFile = (dir: string, name: string, bytes: Uint8Array | string): string => {
  fs.mkdirSync(dir, { recursive: true })
  const file = path.join(dir, name)
  fs.writeFileSync(file, bytes)
  return file
}

/** Every regular file under `dir`, recursively (sorted, relative paths). */
export const filesUnder = (dir: string): ReadonlyArray<string> =>
  fs.existsSync(dir)
    ? (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as Array<fs.Dirent>)
        .filter((e) => e.isFile() && !e.name.startsWith("."))
        .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
        .sort()
    : []

/** The lines of an output, without blanks. */
export const lines = (text: string): ReadonlyArray<string> => text.split("\n").filter((l) => l.trim() !== "")

/**
 * The temporary folders and servers of one test file, registered to be stopped and removed after its last test:
 * `temp(name)` makes a folder `netdicom-<prefix>-<name>-*`, `serve(args)` starts a server command.
 */
export const testFixtures = (prefix: string) => {
  const temps: Array<string> = []
  const servers: Array<Server> = []
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.interrupt()))
    for (const dir of temps) removeDir(dir)
  })
  return {
    temp: (name: string): string => {
      const dir = makeTempDir(`netdicom-${prefix}-${name}-`)
      temps.push(dir)
      return dir
    },
    serve: async (args: ReadonlyArray<string>): Promise<Server> => {
      const server = await startServer(args)
      servers.push(server)
      return server
    }
  }
}

/**
 * The built command run from the repository's root in its own process group (so that a test can signal the group as
 * a terminal's Ctrl-C would), its stdout and stderr gathered in one text; killed with the group after `killAfterMs`.
 */
export const spawnCommand = (
  args: ReadonlyArray<string>,
  killAfterMs: number
): {
  readonly child: ChildProcess
  readonly done: Promise<{ readonly code: number | null; readonly output: string }>
} => {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: repoRoot,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()))
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()))
  const done = new Promise<{ readonly code: number | null; readonly output: string }>((resolve) => {
    const kill = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), killAfterMs)
    child.on("close", (code) => {
      clearTimeout(kill)
      resolve({ code, output })
    })
  })
  return { child, done }
}

/** A C-STORE request whose data set arrived whole (`fragments`); its streams must not be read. */
export const wholeRequest = (uid: string, fragments: ReadonlyArray<Uint8Array>): StoreHandler.StoreRequest => {
  const unread = Stream.die(new Error("read the stream of a data set given whole"))
  return {
    sopClassUid: CT,
    sopInstanceUid: uid,
    transferSyntax: EXPLICIT_LE,
    callingAeTitle: "PEER",
    priority: 0,
    moveOriginator: undefined,
    dataSet: unread,
    dataSetLent: unread,
    dataSetReceived: fragments
  }
}

/**
 * `size` bytes (even, at least 8) that are one well-formed Explicit VR Little Endian data set, as `netdicom get`
 * takes: one private element, (0009,1010) LO under 12 bytes, else OB, its value `fill` (a byte, or a function filling
 * the value in place).
 */
export const dataSetOf = (size: number, fill: number | ((value: Uint8Array) => void) = 0): Uint8Array => {
  const bytes = new Uint8Array(size)
  const view = new DataView(bytes.buffer)
  view.setUint16(0, 0x0009, true)
  view.setUint16(2, 0x1010, true)
  const short = size < 12
  bytes.set(short ? [0x4c, 0x4f] : [0x4f, 0x42], 4)
  if (short) view.setUint16(6, size - 8, true)
  else view.setUint32(8, size - 12, true)
  const value = bytes.subarray(short ? 8 : 12)
  if (typeof fill === "number") value.fill(fill)
  else fill(value)
  return bytes
}

/** A C-STORE request whose data set comes as a stream of `size` bytes (a large one, not given whole). */
export const streamedRequest = (uid: string, size: number): StoreHandler.StoreRequest => {
  const all = dataSetOf(size, (value) => value.fill(1).fill(2, value.length >> 1))
  const pieces = Stream.fromIterable([all.subarray(0, size >> 1), all.subarray(size >> 1)])
  return {
    sopClassUid: CT,
    sopInstanceUid: uid,
    transferSyntax: EXPLICIT_LE,
    callingAeTitle: "PEER",
    priority: 0,
    moveOriginator: undefined,
    dataSet: pieces,
    dataSetLent: pieces
  }
}
