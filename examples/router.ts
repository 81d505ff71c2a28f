/**
 * A DICOM router: `npx -y pnpm@10 exec node examples/router.ts PORT PACS_HOST PACS_PORT PACS_AE [IDLE]`.
 *
 * Each instance a modality sends is forwarded to the PACS as it arrives, its bytes unchanged (no transcoding), over
 * one long-lived association, and the modality is answered with the PACS's status once the PACS has answered; when
 * the PACS cannot be reached or its association fails, with 0xA700 (out of resources: try again later) and a
 * comment saying why. That association is opened on first use and again after it ended; a PACS that does not answer
 * its A-ASSOCIATE-RQ within 10 s fails every C-STORE that waited for that attempt, together. Left unused for IDLE (default
 * 10 minutes) it is released (an A-RELEASE-RQ, not an A-ABORT the PACS would log as a failure), and the next C-STORE
 * opens a new one; one that meets the release under way is sent again on the new association. A C-ECHO is answered
 * Success only when the PACS answers one within 5 s, else 0x0110.
 *
 * One association serves every modality: their C-STOREs take turns on it (one at a time unless the PACS grants an
 * Asynchronous Operations Window), and a modality that aborts in the middle of an instance aborts it too (a message
 * half sent cannot be finished), failing the C-STORE of another modality under way on it.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Cause, type Duration, Effect, Exit, Layer, References, Result, Scope, Semaphore, Stream } from "effect"
import { ApplicationEntity, type DimseChannel, DimseError, Scp, Scu } from "@netdicom/net"
import { Uids } from "@netdicom/wire"
import { arg, VERIFICATION } from "./common.ts"

const S = Uids.StorageSop
const T = Uids.TransferSyntax
const CLASSES = [S.CTImageStorage, S.MRImageStorage, S.SecondaryCaptureImageStorage, S.RTDoseStorage, S.RTPlanStorage]
const SYNTAXES = [
  T.ExplicitVRLittleEndian,
  T.ImplicitVRLittleEndian,
  T.ExplicitVRBigEndian,
  T.DeflatedExplicitVRLittleEndian,
  T.JPEGBaseline8Bit,
  T.JPEGLosslessSV1,
  T.JPEG2000Lossless,
  T.RLELossless
]

// What modalities may send: each class in every syntax above, the syntax of their choice (`preferRequestorOrder`
// below), so that an instance is taken in the syntax it is stored in.
const ae = Result.getOrThrow(
  ApplicationEntity.make({
    aeTitle: "ROUTER",
    contexts: [
      { abstractSyntax: VERIFICATION, transferSyntaxes: [T.ImplicitVRLittleEndian] },
      ...CLASSES.map((abstractSyntax) => ({ abstractSyntax, transferSyntaxes: SYNTAXES }))
    ],
    timeouts: { connect: "5 seconds" }
  })
)

// The router's side towards the PACS: its idle timeout releases the association (nothing being outstanding then).
const pacsAe = Result.getOrThrow(
  ApplicationEntity.make({
    aeTitle: "ROUTER",
    timeouts: { connect: "5 seconds", acse: "10 seconds", idle: arg(4, "10 minutes") as Duration.Input }
  })
)

// What the PACS is asked for: a context per class and syntax, since a PACS accepts one syntax per context.
const upstream = {
  host: arg(1, "127.0.0.1"),
  port: Number(arg(2, "11112")),
  calledAeTitle: arg(3, "PACS"),
  contexts: [
    { abstractSyntax: VERIFICATION, transferSyntaxes: [T.ImplicitVRLittleEndian] },
    ...CLASSES.flatMap((abstractSyntax) => SYNTAXES.map((ts) => ({ abstractSyntax, transferSyntaxes: [ts] })))
  ]
}

// The association to the PACS, opened on first use and again once it has ended. One attempt at a time; callers that
// waited for an attempt that failed get its failure rather than each trying again in turn (a PACS that never answers
// its A-ASSOCIATE-RQ would otherwise hold the k-th waiting modality k ACSE timeouts).
const makePacs = Effect.gen(function* () {
  const lock = yield* Semaphore.make(1)
  let open: { readonly channel: DimseChannel.DimseChannel; readonly scope: Scope.Closeable } | undefined
  // attempts that failed so far, and how the last one failed
  let failures = 0
  let lastFailure: Cause.Cause<Effect.Error<ReturnType<typeof Scu.connect>>> | undefined
  yield* Effect.addFinalizer(() => (open === undefined ? Effect.void : Scope.close(open.scope, Exit.void)))
  const connect = (failuresBefore: number) =>
    Effect.gen(function* () {
      if (open !== undefined) return open.channel
      if (failures > failuresBefore && lastFailure !== undefined) return yield* Effect.failCause(lastFailure)
      const scope = yield* Scope.make()
      const channel = yield* Scu.connect(pacsAe, upstream).pipe(
        // opened inside a modality's handler, it would carry that handler's log annotations for its whole life
        Effect.provideService(References.CurrentLogAnnotations, {}),
        Effect.provideService(References.CurrentLogSpans, []),
        Scope.provide(scope),
        Effect.onError((cause) =>
          Effect.andThen(
            Effect.sync(() => {
              // an attempt interrupted (its modality gone) tells the others nothing: the next one tries again
              if (Cause.hasInterruptsOnly(cause)) return
              lastFailure = cause
              failures++
            }),
            Scope.close(scope, Exit.failCause(cause))
          )
        )
      )
      lastFailure = undefined
      const opened = { channel, scope }
      open = opened
      channel.association.whenEnded(() => {
        if (open === opened) open = undefined
      })
      return channel
    })
  return Effect.suspend(() => Semaphore.withPermit(lock, connect(failures)))
})

// The modality's data set as it arrives (a large one), or the one piece it arrived in (a small one).
const dataSetOf = (request: Scp.StoreRequest): DimseChannel.DataSource =>
  request.dataSetReceived?.length === 1
    ? request.dataSetReceived[0]!
    : request.dataSet.pipe(Stream.mapError((e) => new DimseError.DataSourceFailed({ detail: e.message })))

// One C-STORE to the PACS, the modality's bytes as they are.
const storeOn = (channel: DimseChannel.DimseChannel, request: Scp.StoreRequest, dataSet: DimseChannel.DataSource) =>
  Scu.store(channel, {
    sopClassUid: request.sopClassUid,
    sopInstanceUid: request.sopInstanceUid,
    transferSyntax: request.transferSyntax,
    dataSet,
    priority: request.priority,
    transcode: false
  })

// Forwards one instance. A C-STORE that meets the PACS association as its idle release ends it fails at once
// (`AssociationAborted`, the association ending released), nothing of the modality's data set taken: it goes again,
// once, on a new association. (One whose stream was begun cannot: what was taken is gone.)
const forward = <E>(pacs: Effect.Effect<DimseChannel.DimseChannel, E>, request: Scp.StoreRequest) =>
  Effect.suspend(() => {
    let begun = false
    const source = dataSetOf(request)
    const dataSet =
      source instanceof Uint8Array
        ? source
        : Stream.onStart(
            source,
            Effect.sync(() => {
              begun = true
            })
          )
    return Effect.flatMap(pacs, (channel) =>
      storeOn(channel, request, dataSet).pipe(
        Effect.catchIf(
          (e) => e._tag === "AssociationAborted" && !begun,
          (e) =>
            Effect.flatMap(channel.association.ended, (ending) =>
              ending._tag === "Released"
                ? Effect.flatMap(pacs, (again) => storeOn(again, request, dataSet))
                : Effect.fail(e)
            )
        )
      )
    )
  })

const program = Effect.gen(function* () {
  const pacs = yield* makePacs
  const Storage = Layer.succeed(Scp.StorageService)({
    store: (request) =>
      forward(pacs, request).pipe(
        Effect.tap((r) =>
          Effect.logInfo(`${request.sopInstanceUid} from ${request.callingAeTitle}: PACS ${r.meaning}`)
        ),
        Effect.catch((e) =>
          Effect.as(Effect.logWarning(`${request.sopInstanceUid} not forwarded: ${e.message}`), {
            status: e._tag === "NoAcceptedContext" ? 0x0122 : 0xa700,
            errorComment: e.message
          })
        )
      )
  })
  const Verification = Layer.succeed(Scp.VerificationService)({
    echo: () =>
      Effect.flatMap(pacs, Scu.echo).pipe(
        Effect.timeout("5 seconds"),
        Effect.map((r) => (r.status === 0 ? { status: 0 } : { status: 0x0110, errorComment: `PACS: ${r.meaning}` })),
        Effect.catch((e) => Effect.succeed({ status: 0x0110, errorComment: `PACS unreachable: ${e.message}` }))
      )
  })
  const server = yield* Scp.serve(ae, { port: Number(arg(0, "0")), policy: { preferRequestorOrder: true } }).pipe(
    Effect.provide(Layer.merge(Storage, Verification))
  )
  yield* Effect.log(`listening on 127.0.0.1:${server.port} as ROUTER, forwarding to ${upstream.calledAeTitle}`)
  return yield* Effect.never
})

NodeRuntime.runMain(Effect.scoped(program))
