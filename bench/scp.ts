/**
 * The netdicom SCP of the benchmark, run by `run.ts` as its own process (`node bench/scp.ts '<ScpConfig json>'`):
 * Verification always, and per mode a Storage service (PS3.4 Annex B) that discards the data set or writes it as a
 * Part 10 file (PS3.10 7.1 meta from `Part10.writeMeta`, then the data set streamed as it arrives), or a Query service
 * (PS3.4 C.4.1) streaming `matches` study-level identifiers. Logs at Warn and above only, as DCMTK tools do by default.
 *
 * Prints `READY <port>` once listening on 127.0.0.1 (a port the OS picked), and `STATS <json>` on SIGTERM, then exits.
 */
import * as Path from "node:path"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { ApplicationEntity, Part10, Scp, StoreHandler } from "@netdicom/net"
import {
  CT_IMAGE_STORAGE,
  EXPLICIT_VR_LE,
  ASYNC_WINDOW,
  IMPLICIT_VR_LE,
  SCP_AET,
  STUDY_ROOT_FIND,
  VERIFICATION,
  findMatch,
  type ScpConfig,
  type ScpStats
} from "./common.ts"
import * as Ticks from "./ticks.ts"

const counting = process.env["BENCH_COUNT_TICKS"] === "1"
if (counting) Ticks.install()
let ticks0 = Ticks.snapshot()

const config = JSON.parse(process.argv[2] ?? "{}") as ScpConfig
const stats = { stored: 0, storedBytes: 0, findResponses: 0 } satisfies ScpStats

const ae = Result.getOrThrow(
  ApplicationEntity.make({
    aeTitle: SCP_AET,
    maxPduLength: config.pdu,
    maxOperationsPerformed: ASYNC_WINDOW,
    contexts: [
      { abstractSyntax: VERIFICATION, transferSyntaxes: [EXPLICIT_VR_LE, IMPLICIT_VR_LE] },
      { abstractSyntax: CT_IMAGE_STORAGE, transferSyntaxes: [EXPLICIT_VR_LE, IMPLICIT_VR_LE] },
      { abstractSyntax: STUDY_ROOT_FIND, transferSyntaxes: [EXPLICIT_VR_LE, IMPLICIT_VR_LE] }
    ],
    timeouts: { dimse: "120 seconds" }
  })
)

const OUT_OF_RESOURCES = 0xa700

const STORED = Effect.succeed({ status: 0x0000 })
const NOT_WRITTEN = Effect.succeed({ status: OUT_OF_RESOURCES })

// A data set received whole needs no draining: its work is done as the handler is called, and its outcome given as
// `Effect.succeed` (no fiber runs for it); a larger one is drained as it arrives.
const discard: StoreHandler.StorageHandler = (request) => {
  if (request.dataSetReceived !== undefined) {
    stats.stored++
    return STORED
  }
  return Stream.runDrain(request.dataSet).pipe(
    Effect.map(() => {
      stats.stored++
      return { status: 0x0000 }
    }),
    Effect.orElseSucceed(() => ({ status: OUT_OF_RESOURCES }))
  )
}

// A data set received whole (up to `Part10.SYNC_WRITE_LIMIT`) is written as the handler is called
// (`Part10.writeFileNow`, its outcome given as `Effect.succeed`: no fiber); a larger one is written as it arrives.
const toDisk =
  (out: string): StoreHandler.StorageHandler =>
  (request) => {
    const path = Path.join(out, `${request.sopInstanceUid}.dcm`)
    const meta = {
      transferSyntaxUid: request.transferSyntax,
      sopClassUid: request.sopClassUid,
      sopInstanceUid: request.sopInstanceUid,
      implementationClassUid: ApplicationEntity.IMPLEMENTATION_CLASS_UID,
      implementationVersionName: ApplicationEntity.IMPLEMENTATION_VERSION_NAME,
      sourceAeTitle: request.callingAeTitle
    }
    const whole = request.dataSetReceived
    const done = whole === undefined ? undefined : Part10.writeFileNow(path, meta, whole)
    if (done !== undefined) {
      if (Result.isFailure(done)) return NOT_WRITTEN
      stats.stored++
      stats.storedBytes += done.success
      return STORED
    }
    return Part10.writeFile(path, meta, request.dataSetLent).pipe(
      Effect.map((bytes) => {
        stats.stored++
        stats.storedBytes += bytes
        return { status: 0x0000 }
      }),
      // whatever failed, the rest of the data set must still be taken off the association
      Effect.catch(() => Stream.runDrain(request.dataSet).pipe(Effect.ignore, Effect.as({ status: OUT_OF_RESOURCES })))
    )
  }

const services = (): Layer.Layer<never> => {
  switch (config.mode) {
    case "discard":
      return Layer.succeed(Scp.StorageService)({ store: discard })
    case "disk":
      return Layer.succeed(Scp.StorageService)({ store: toDisk(config.out ?? ".") })
    case "find": {
      const matches = Array.from({ length: config.matches ?? 0 }, (_, i) => findMatch(i))
      return Layer.succeed(Scp.QueryService)({
        find: () =>
          Stream.fromIterable(matches).pipe(
            Stream.map((m) => {
              stats.findResponses++
              return m
            })
          )
      })
    }
    case "echo":
      return Layer.empty
  }
}

process.on("SIGTERM", () => {
  const all: ScpStats = counting ? { ...stats, ticks: Ticks.since(ticks0) } : stats
  process.stdout.write(`STATS ${JSON.stringify(all)}\n`, () => process.exit(0))
})

const program = Effect.gen(function* () {
  const server = yield* Scp.serve(ae, { host: "127.0.0.1", port: 0, policy: {} })
  ticks0 = Ticks.snapshot()
  process.stdout.write(`READY ${server.port}\n`)
  return yield* Effect.never
}).pipe(Effect.scoped, Effect.provide(services()), Effect.provideService(References.MinimumLogLevel, "Warn"))

Effect.runPromise(program).catch((e: unknown) => {
  console.error(`scp failed: ${String(e)}`)
  process.exit(1)
})
