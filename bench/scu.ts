/**
 * The netdicom SCU of the benchmark, run by `run.ts` as its own process (`node bench/scu.ts`): C-STORE of files on
 * one association (PS3.4 Annex B), sequential associations with one C-ECHO each (Annex A), or one C-FIND at study
 * level (C.4.1). Prints `READY` once loaded, reads one `ScuJob` line on stdin, runs it and prints `RESULT <json>`;
 * a warm sample's first jobs (`warmUp`, numbered) are each answered `WARMED <n> <json>` and followed by the measured
 * job, same process.
 *
 * Like `netdicom store` and DCMTK's storescu, the files' meta headers are read before connecting (to choose the
 * presentation contexts); the clock starts just before the first connect and stops after the last release.
 */
import { readFileSync } from "node:fs"
import { createInterface } from "node:readline"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { ApplicationEntity, Part10, Scu, type DimseError } from "@netdicom/net"
import {
  EXPLICIT_VR_LE,
  ASYNC_WINDOW,
  IMPLICIT_VR_LE,
  SCP_AET,
  SCU_AET,
  STUDY_ROOT_FIND,
  VERIFICATION,
  findQuery,
  type ScuJob,
  type ScuResult
} from "./common.ts"
import * as Ticks from "./ticks.ts"

const counting = process.env["BENCH_COUNT_TICKS"] === "1"
if (counting) Ticks.install()

/** The system monotonic clock in us, the clock of V8's CPU profile timestamps. */
const hrUs = (): number => Number(process.hrtime.bigint() / 1000n)

/** Runs `body` between two clock readings. */
const timed = <E>(
  body: Effect.Effect<{ operations: number; failures: number; bytes: number; untilReleaseMs?: number }, E>
) =>
  Effect.gen(function* () {
    const hrStartUs = hrUs()
    const ticks0 = Ticks.snapshot()
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const r = yield* body
    const elapsedMs = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    const ticks = counting ? { ticks: Ticks.since(ticks0) } : {}
    return {
      ...r,
      elapsedMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      hrStartUs,
      hrEndUs: hrUs(),
      ...ticks
    } satisfies Outcome
  })

const makeAe = (pdu: number) =>
  Result.getOrThrow(
    ApplicationEntity.make({
      aeTitle: SCU_AET,
      maxPduLength: pdu,
      maxOperationsInvoked: ASYNC_WINDOW,
      timeouts: { dimse: "120 seconds" }
    })
  )

interface Outcome {
  readonly elapsedMs: number
  readonly cpuMs: number
  readonly hrStartUs: number
  readonly hrEndUs: number
  readonly ticks?: Ticks.Ticks
  readonly untilReleaseMs?: number
  readonly operations: number
  readonly failures: number
  readonly bytes: number
}

const store = (job: Extract<ScuJob, { kind: "store" }>) =>
  Effect.gen(function* () {
    const ae = makeAe(job.pdu)
    const infos = yield* Effect.forEach(job.files, (path) => Part10.readFileMeta(path))
    const contexts = new Map<string, { abstractSyntax: string; transferSyntaxes: Array<string> }>()
    for (const info of infos) {
      const key = `${info.sopClassUid} ${info.transferSyntaxUid}`
      if (!contexts.has(key))
        contexts.set(key, { abstractSyntax: info.sopClassUid, transferSyntaxes: [info.transferSyntaxUid] })
    }
    return yield* timed(
      Effect.scoped(
        Effect.gen(function* () {
          let operations = 0
          let failures = 0
          let bytes = 0
          const channel = yield* Scu.connect(ae, {
            host: job.host,
            port: job.port,
            calledAeTitle: SCP_AET,
            contexts: [...contexts.values()]
          })
          const take = yield* Part10.readAhead(infos.map((info, i) => ({ ...info, path: job.files[i]! })))
          // As many C-STOREs outstanding as the negotiated Asynchronous Operations Window allows: one with DCMTK (it
          // negotiates none), ASYNC_WINDOW with a netdicom SCP. A data set in bytes is begun at once
          // (`Scu.storeLoadedNow`: no fiber per C-STORE); a streamed (large) one is sent by a fiber of its own, so that
          // its sending overlaps the answers to the others.
          const window = Math.max(1, channel.association.negotiated.maxOperationsInvoked)
          const answers: Array<{
            readonly size: number
            readonly answer: Effect.Effect<Scu.StatusInfo, DimseError.DimseFailure>
          }> = []
          const tally = (size: number, r: Scu.StatusInfo) => {
            if (r.category === "Success") {
              operations++
              bytes += size
            } else failures++
          }
          for (const [i, info] of infos.entries()) {
            if (answers.length >= window) {
              const oldest = answers.shift()!
              tally(oldest.size, yield* oldest.answer)
            }
            const loaded = yield* take(i)
            const answer =
              loaded instanceof Uint8Array
                ? Scu.storeLoadedNow(channel, info, loaded)
                : Fiber.join(yield* Effect.forkChild(Scu.storeLoaded(channel, info, loaded)))
            answers.push({ size: info.fileSize, answer })
          }
          for (const { size, answer } of answers) tally(size, yield* answer)
          return { operations, failures, bytes }
        })
      )
    )
  })

const echo = (job: Extract<ScuJob, { kind: "echo" }>) =>
  timed(
    Effect.gen(function* () {
      const ae = makeAe(job.pdu)
      let operations = 0
      let failures = 0
      // connect, negotiate and C-ECHO, without the release: what DCMTK's log shows of an echoscu association
      let untilReleaseMs = 0
      for (let i = 0; i < job.count; i++) {
        const t0 = performance.now()
        const r = yield* Effect.scoped(
          Effect.andThen(
            Scu.connect(ae, {
              host: job.host,
              port: job.port,
              calledAeTitle: SCP_AET,
              contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LE] }]
            }),
            (channel) =>
              Effect.tap(Scu.echo(channel), () => Effect.sync(() => (untilReleaseMs += performance.now() - t0)))
          )
        )
        if (r.category === "Success") operations++
        else failures++
      }
      return { operations, failures, bytes: 0, untilReleaseMs }
    })
  )

const find = (job: Extract<ScuJob, { kind: "find" }>) =>
  timed(
    Effect.scoped(
      Effect.gen(function* () {
        const ae = makeAe(job.pdu)
        let operations = 0
        let failures = 0
        const channel = yield* Scu.connect(ae, {
          host: job.host,
          port: job.port,
          calledAeTitle: SCP_AET,
          contexts: [{ abstractSyntax: STUDY_ROOT_FIND, transferSyntaxes: [EXPLICIT_VR_LE, IMPLICIT_VR_LE] }]
        })
        yield* Stream.runForEach(Scu.find(channel, { model: "study", identifier: findQuery() }), (r) =>
          Effect.sync(() => {
            if (r.category === "Pending" && r.identifier !== undefined) operations++
            else if (r.category !== "Success") failures++
          })
        )
        return { operations, failures, bytes: 0 }
      })
    )
  )

const run = (job: ScuJob) =>
  Effect.gen(function* () {
    switch (job.kind) {
      case "store":
        return yield* store(job)
      case "echo":
        return yield* echo(job)
      case "find":
        return yield* find(job)
    }
  })

/**
 * This process's peak RSS, KiB: VmHWM, which starts afresh at exec. getrusage's maxRSS does not: on Linux it keeps
 * the high-water mark of the process before its exec, i.e. of the forked copy of the harness that started it.
 */
const peakRssKb = (): number => {
  try {
    const hwm = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1]
    if (hwm !== undefined) return Number(hwm)
  } catch {
    // not Linux: getrusage below
  }
  return process.resourceUsage().maxRSS
}

const report = (prefix: string, result: ScuResult): Promise<void> =>
  new Promise((resolve) => process.stdout.write(`${prefix} ${JSON.stringify(result)}\n`, () => resolve()))

const runJob = async (job: ScuJob, idleRssKb: number): Promise<ScuResult> => {
  const jobCpu0 = process.cpuUsage()
  const exit = await Effect.runPromiseExit(
    run(job).pipe(Effect.provideService(References.MinimumLogLevel, "Warn"), Effect.result)
  )
  const jobCpu = process.cpuUsage(jobCpu0)
  const jobCpuMs = (jobCpu.user + jobCpu.system) / 1000
  const maxRssKb = peakRssKb()
  if (exit._tag === "Success" && Result.isSuccess(exit.value))
    return { ...exit.value.success, maxRssKb, idleRssKb, jobCpuMs }
  const error = exit._tag === "Success" && Result.isFailure(exit.value) ? String(exit.value.failure) : String(exit)
  const failed = { elapsedMs: 0, cpuMs: 0, operations: 0, failures: 1, bytes: 0, hrStartUs: 0, hrEndUs: 0 }
  return { ...failed, maxRssKb, idleRssKb, jobCpuMs, error }
}

const rssKb = (): number => Math.round(process.memoryUsage().rss / 1024)

const main = async (): Promise<void> => {
  let idleRssKb = rssKb()
  process.stdout.write("READY\n")
  const lines = createInterface({ input: process.stdin })
  const input = lines[Symbol.asyncIterator]()
  // a warm sample sends its warm-up jobs first (each answered WARMED <n>), then the measured one, to this same process
  for (let first = true; ; first = false) {
    const next = await input.next()
    if (next.done === true) break
    if (!first) idleRssKb = rssKb()
    const job = JSON.parse(String(next.value)) as ScuJob
    const result = await runJob(job, idleRssKb)
    if (job.warmUp !== undefined && result.error === undefined) {
      await report(`WARMED ${job.warmUp}`, result)
      continue
    }
    await report(job.warmUp !== undefined ? `WARMED ${job.warmUp}` : "RESULT", result)
    break
  }
  lines.close()
  process.exit(0)
}

void main()
