import * as Probe from "./probe.ts"
Probe.install()
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as Path from "node:path"
import { ApplicationEntity, Part10, Scp, StoreHandler } from "@netdicom/net"
import { CT_IMAGE_STORAGE, EXPLICIT_VR_LE, IMPLICIT_VR_LE, SCP_AET, VERIFICATION } from "../common.ts"

const SEG = Number(process.env["SEG"] ?? 500)
const window = Number(process.env["SCP_WINDOW"] ?? 8)
const ae = Result.getOrThrow(
  ApplicationEntity.make({
    aeTitle: SCP_AET,
    maxPduLength: 16384,
    maxOperationsPerformed: window,
    contexts: [
      { abstractSyntax: VERIFICATION, transferSyntaxes: [EXPLICIT_VR_LE, IMPLICIT_VR_LE] },
      { abstractSyntax: CT_IMAGE_STORAGE, transferSyntaxes: [EXPLICIT_VR_LE, IMPLICIT_VR_LE] }
    ],
    timeouts: { dimse: "120 seconds" }
  })
)
let stored = 0
const count = () => {
  stored++
  if (stored % SEG === 0) Probe.mark(stored)
}
// As bench/scp.ts: a data set received whole is counted as the handler is called (its outcome an `Exit`, no fiber).
const STORED = Effect.succeed({ status: 0x0000 })
const discard: StoreHandler.StorageHandler = (request) => {
  if (request.dataSetReceived !== undefined) {
    count()
    return STORED
  }
  return Stream.runDrain(request.dataSet).pipe(
    Effect.map(() => {
      count()
      return { status: 0x0000 }
    }),
    Effect.orElseSucceed(() => ({ status: 0xa700 }))
  )
}

// SCP_OUT=<folder>: each data set written to a file there as bench/scp.ts's disk mode does (`Part10.writeFileNow`, one
// synchronous vectored write), for counting the writing-files path (calls.ts).
const out = process.env["SCP_OUT"]
const NOT_WRITTEN = Effect.succeed({ status: 0xa700 })
const toDisk =
  (folder: string): StoreHandler.StorageHandler =>
  (request) => {
    const whole = request.dataSetReceived
    if (whole === undefined) return discard(request)
    const done = Part10.writeFileNow(
      Path.join(folder, `${request.sopInstanceUid}.dcm`),
      {
        transferSyntaxUid: request.transferSyntax,
        sopClassUid: request.sopClassUid,
        sopInstanceUid: request.sopInstanceUid,
        implementationClassUid: ApplicationEntity.IMPLEMENTATION_CLASS_UID,
        implementationVersionName: ApplicationEntity.IMPLEMENTATION_VERSION_NAME,
        sourceAeTitle: request.callingAeTitle
      },
      whole
    )
    if (done === undefined || Result.isFailure(done)) return NOT_WRITTEN
    count()
    return STORED
  }

process.on("SIGTERM", () => {
  process.stdout.write(`${Probe.table("SCP")}\nSTATS ${JSON.stringify({ stored })}\n`, () => process.exit(0))
})

const program = Effect.gen(function* () {
  const server = yield* Scp.serve(ae, { host: "127.0.0.1", port: 0, policy: {} })
  Probe.mark(0)
  process.stdout.write(`READY ${server.port}\n`)
  return yield* Effect.never
}).pipe(
  Effect.scoped,
  Effect.provide(Layer.succeed(Scp.StorageService)({ store: out === undefined ? discard : toDisk(out) })),
  Effect.provideService(References.MinimumLogLevel, "Warn")
)
Effect.runPromise(program).catch((e: unknown) => {
  process.stderr.write(`scp failed: ${String(e)}\n`)
  process.exit(1)
})
