/**
 * What the benchmark harness (`run.ts`) and its netdicom child processes (`scu.ts`, `scp.ts`) share: AE titles,
 * SOP classes, the jobs sent to a child and the lines it answers with.
 *
 * Protocol between the harness and a child, one JSON document per line:
 * - the SCP child takes its configuration as argv[2], prints `READY <port>` once listening, and
 *   `STATS <json>` when it gets SIGTERM, then exits;
 * - the SCU child prints `READY` once its modules are loaded, reads one `ScuJob` line from stdin, runs it, prints
 *   `RESULT <json>` and exits. Its elapsed time is taken inside the process, from just before the first connect
 *   to the end of the last release, so process start and module loading are excluded. A job with `warmUp: <n>`
 *   (the n-th unmeasured pass of a warm sample) is answered with `WARMED <n> <json>` instead, and the child then
 *   waits for the next job line, another warm-up or the measured one, in the same process.
 */
import type { Ticks } from "./ticks.ts"

/** AE title of every SCP under test (netdicom, storescp). */
export const SCP_AET = "BENCHSCP"

/** AE title of every SCU under test. */
export const SCU_AET = "BENCHSCU"

export const VERIFICATION = "1.2.840.10008.1.1"
export const CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
export const STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
export const EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
export const IMPLICIT_VR_LE = "1.2.840.10008.1.2"

/** A UID root for the generated instances (under the implementation root netdicom uses for tests). */
export const UID_ROOT = "1.2.826.0.1.3680043.10.1478.99"

/** The keys of the C-FIND (study level) every SCU asks for and the SCP answers. */
export const FIND_KEYS = [
  "PatientName",
  "PatientID",
  "StudyInstanceUID",
  "StudyDate",
  "StudyTime",
  "AccessionNumber",
  "StudyDescription",
  "ModalitiesInStudy"
] as const

/** How the netdicom SCP child serves. */
/**
 * The Asynchronous Operations Window netdicom proposes (SCU) and accepts (SCP) in the benchmark: up to 8
 * C-STOREs outstanding at once between two netdicom sides. DCMTK negotiates none (one at a time), so
 * every pairing with DCMTK runs one operation at a time.
 */
export const ASYNC_WINDOW = 8

export interface ScpConfig {
  /** discard: a StorageService draining the stream; disk: Part 10 files in `out`; find: `matches` identifiers. */
  readonly mode: "discard" | "disk" | "find" | "echo"
  readonly pdu: number
  readonly out?: string
  readonly matches?: number
}

/** What the netdicom SCP child reports when it stops. */
export interface ScpStats {
  readonly stored: number
  readonly storedBytes: number
  readonly findResponses: number
  /** With BENCH_COUNT_TICKS=1: event-loop hops and socket writes since listening (see ticks.ts). */
  readonly ticks?: Ticks
}

/**
 * One job for the netdicom SCU child; `warmUp`: an unmeasured pass, answered `WARMED <warmUp> <json>`, another job
 * follows (the harness numbers its warm-up passes from 1).
 */
export type ScuJob = (
  | {
      readonly kind: "store"
      readonly host: string
      readonly port: number
      readonly pdu: number
      readonly files: ReadonlyArray<string>
    }
  | {
      readonly kind: "echo"
      readonly host: string
      readonly port: number
      readonly pdu: number
      readonly count: number
    }
  | { readonly kind: "find"; readonly host: string; readonly port: number; readonly pdu: number }
) & { readonly warmUp?: number }

/** What the netdicom SCU child reports. */
export interface ScuResult {
  /** From just before the first connect to the end of the last release, in ms. */
  readonly elapsedMs: number
  /** echo: the sum over associations of connect to C-ECHO response, release left out, ms. */
  readonly untilReleaseMs?: number
  /** Operations that succeeded: instances stored, echoes answered, C-FIND matches received. */
  readonly operations: number
  readonly failures: number
  readonly bytes: number
  /** Peak resident set size of the process (VmHWM, else `process.resourceUsage().maxRSS`), KiB. */
  readonly maxRssKb: number
  /** Resident set size once loaded, before the job (after a warm-up job: when this job arrived), KiB. */
  readonly idleRssKb: number
  /** User + system CPU time of the process (all threads) during the measured interval, ms. */
  readonly cpuMs: number
  /** The same from reading the job to reporting (the files' meta read before connecting included), ms. */
  readonly jobCpuMs: number
  /** The measured interval on the system monotonic clock (`process.hrtime`), us: the window of a CPU profile. */
  readonly hrStartUs: number
  readonly hrEndUs: number
  /** With BENCH_COUNT_TICKS=1: event-loop hops and socket writes in the measured interval (see ticks.ts). */
  readonly ticks?: Ticks
  readonly error?: string
}

/** The C-FIND identifier of the benchmark: study level, every key empty (return keys). */
export const findQuery = (): Record<string, string> => {
  const q: Record<string, string> = { QueryRetrieveLevel: "STUDY" }
  for (const k of FIND_KEYS) q[k] = ""
  return q
}

/** The i-th identifier the SCP answers with. */
export const findMatch = (i: number): Record<string, string> => ({
  QueryRetrieveLevel: "STUDY",
  PatientName: `BENCH^PATIENT^${i % 997}`,
  PatientID: `P${String(i % 997).padStart(6, "0")}`,
  StudyInstanceUID: `${UID_ROOT}.3.${i + 1}`,
  StudyDate: `2024${String((i % 12) + 1).padStart(2, "0")}${String((i % 28) + 1).padStart(2, "0")}`,
  StudyTime: "101500",
  AccessionNumber: `A${i + 1}`,
  StudyDescription: "CT CHEST WITH CONTRAST",
  ModalitiesInStudy: "CT"
})
