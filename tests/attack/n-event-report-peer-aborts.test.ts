/**
 * N-EVENT-REPORTs taken by a requestor (`Scu.connect`'s `onEventReport`), from a raw SCP: a handler that hangs when
 * the peer aborts ran on until the requestor's own scope closed (seconds or hours later; only then interrupted,
 * after a further second of grace). Now it is interrupted a second after the A-ABORT, the scope still open. Guards
 * beside it: no `onEventReport` at all, one refusal; a handler that dies, 0x0110; one that hangs when the peer
 * releases, 0x0110 at the DIMSE timeout and then the A-RELEASE-RP; each request answered once.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Logger } from "effect"
import { type Normalized, Scu, StorageCommitment } from "@netdicom/net"
import { type Dimse, Status } from "@netdicom/wire"
import { commandOf, pdataOf, scopedRawScp, scuAe } from "./hotpath-support.ts"
import { EXPLICIT } from "./support.ts"

const SC = StorageCommitment.SOP_CLASS
const REPORT = pdataOf(1, true, {
  _tag: "NEventReportRq",
  messageId: 7,
  affectedSopClassUid: SC,
  affectedSopInstanceUid: StorageCommitment.SOP_INSTANCE,
  eventTypeId: StorageCommitment.ALL_COMMITTED,
  hasDataSet: false
})
const RELEASE_RQ = Uint8Array.of(0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0)
const ABORT = Uint8Array.of(0x07, 0, 0, 0, 0, 4, 0, 0, 0, 0)

// Opens the requestor to a raw SCP that sends the report (then `then`) right behind its A-ASSOCIATE-AC, keeps the
// requestor's scope open `holdMs`, and gives what the SCP got back: each response's status, and the PDU types.
const exchange = (onEventReport: Normalized.NHandler | undefined, then: Uint8Array, holdMs: number) =>
  Effect.gen(function* () {
    const responses: Array<Dimse.Message> = []
    const pdus: Array<number> = []
    const scp = yield* scopedRawScp({
      afterAc: () => Buffer.concat([REPORT, then]),
      onPdu: (_socket, type, body) => {
        pdus.push(type)
        const m = type === 0x04 ? commandOf(body) : undefined
        if (m !== undefined) responses.push(m)
      }
    })
    yield* Effect.scoped(
      Effect.gen(function* () {
        yield* Scu.connect(scuAe({ dimse: "2 seconds" }), {
          host: "127.0.0.1",
          port: scp.port,
          calledAeTitle: "X",
          contexts: [{ abstractSyntax: SC, transferSyntaxes: [EXPLICIT] }],
          ...(onEventReport !== undefined ? { onEventReport } : {})
        })
        yield* Effect.sleep(holdMs)
      })
    )
    return {
      statuses: responses.map((r) => ("status" in r ? r.status : -1)),
      ids: responses.map((r) => ("messageIdBeingRespondedTo" in r ? r.messageIdBeingRespondedTo : -1)),
      pdus
    }
  }).pipe(Effect.provide(Logger.layer([])))

describe("N-EVENT-REPORTs to a requestor", () => {
  it.live(
    "a hanging handler is interrupted a second after the peer's A-ABORT, not when the requestor's scope closes",
    () =>
      Effect.gen(function* () {
        const interrupted = yield* Deferred.make<number>()
        const started = Date.now()
        const handler: Normalized.NHandler = () =>
          Effect.onInterrupt(Effect.never, () => Deferred.succeed(interrupted, Date.now() - started))
        const run = yield* Effect.forkChild(exchange(handler, ABORT, 3_000))
        const after = yield* Deferred.await(interrupted)
        assert.isBelow(after, 2_500)
        const got = yield* Fiber.join(run)
        assert.deepStrictEqual(got.statuses, [])
      }),
    15_000
  )

  it.live(
    "no onEventReport: one refusal, the association goes on to its release",
    () =>
      Effect.gen(function* () {
        const got = yield* exchange(undefined, new Uint8Array(0), 300)
        assert.deepStrictEqual([got.statuses, got.ids], [[Status.SOP_CLASS_NOT_SUPPORTED], [7]])
        assert.deepStrictEqual(got.pdus, [0x04, 0x05])
      }),
    10_000
  )

  it.live(
    "a handler that dies: 0x0110, once",
    () =>
      Effect.gen(function* () {
        const got = yield* exchange(() => Effect.die("boom"), new Uint8Array(0), 300)
        assert.deepStrictEqual([got.statuses, got.ids], [[Status.PROCESSING_FAILURE], [7]])
      }),
    10_000
  )

  it.live(
    "a hanging handler when the peer releases: 0x0110 at the DIMSE timeout, then the A-RELEASE-RP",
    () =>
      Effect.gen(function* () {
        const started = Date.now()
        const got = yield* exchange(() => Effect.never, RELEASE_RQ, 3_000)
        assert.deepStrictEqual([got.statuses, got.ids], [[Status.PROCESSING_FAILURE], [7]])
        assert.isAtLeast(Date.now() - started, 1_900)
      }),
    10_000
  )
})
