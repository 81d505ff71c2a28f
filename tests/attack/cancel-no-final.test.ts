/**
 * A C-FIND stopped by its consumer sends C-CANCEL-RQ and waits, within the cancel timeout (at most the DIMSE
 * timeout), for the final response that must follow. An SCP that never sends it still counts the C-FIND outstanding;
 * its window slot was given back anyway and the association went on, so the next request went out as a second
 * outstanding one (window 1), to a peer already out of step. No final response within that time aborts the
 * association. The cancel timeout (5 s by default) is shorter than the DIMSE timeout (60 s): a user who stopped the
 * request (Ctrl-C) waited a minute on a frozen peer before.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Fiber, Option, Result, Stream } from "effect"
import { TestClock } from "effect/testing"
import { ApplicationEntity, Scu } from "@netdicom/net"
import { Dimse, PduCodec } from "@netdicom/wire"
import { commandOf, connectScu, echoRspFor, scopedRawScp, scuAe, within } from "./hotpath-support.ts"
import { STUDY_FIND } from "./support.ts"

// One pending C-FIND-RSP with a one-element identifier, for the C-FIND-RQ `m` that came on context `pc`.
const pendingFindRsp = (m: Dimse.CFindRq, pc: number): Uint8Array => {
  const rsp = Result.getOrThrow(
    Dimse.encode({
      _tag: "CFindRsp",
      messageIdBeingRespondedTo: m.messageId,
      affectedSopClassUid: STUDY_FIND,
      status: 0xff00,
      hasIdentifier: true
    })
  )
  const identifier = Uint8Array.of(0x10, 0x00, 0x10, 0x00, 0x02, 0x00, 0x00, 0x00, 0x41, 0x20)
  return PduCodec.encodePDataTf([
    { presentationContextId: pc, isCommand: true, isLast: true, data: rsp },
    { presentationContextId: pc, isCommand: false, isLast: true, data: identifier }
  ])
}

// Real time (the sockets' I/O), whatever Clock the test runs on.
const realWait = (millis: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))
const realUntil = (done: () => boolean, what: string) =>
  Effect.gen(function* () {
    for (let i = 0; i < 500 && !done(); i++) yield* realWait(10)
    assert.isTrue(done(), what)
  })

describe("C-CANCEL without a final response", () => {
  it.live("the SCP ignores C-CANCEL: no second request goes out, the association is aborted at the DIMSE timeout", () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      const scp = yield* scopedRawScp({
        onPdu: (socket, type, body) => {
          const m = type === 0x04 ? commandOf(body) : undefined
          if (m === undefined) return
          seen.push(m._tag)
          if (m._tag === "CEchoRq") return void socket.write(echoRspFor(m))
          if (m._tag === "CFindRq") socket.write(pendingFindRsp(m, body[4]!))
        }
      })
      const echo = yield* Effect.scoped(
        Effect.gen(function* () {
          const channel = yield* connectScu(scp.port, scuAe({ dimse: "1 second" }))
          yield* Scu.find(channel, { model: "study", identifier: { PatientName: "*" } }).pipe(
            Stream.take(1),
            Stream.runDrain,
            Effect.ignore
          )
          return yield* within(4000, Effect.exit(Scu.echo(channel)))
        })
      )
      assert.deepStrictEqual(seen, ["CFindRq", "CCancelRq"], "a request went out while the C-FIND was outstanding")
      assert.isTrue(Option.isSome(echo) && Exit.isFailure(echo.value), "the C-ECHO did not fail")
    })
  )

  it.effect(
    "a frozen SCP after C-CANCEL: the association is aborted at the cancel timeout (5 s), not the DIMSE timeout (60 s)",
    () =>
      Effect.gen(function* () {
        assert.isTrue(Duration.equals(ApplicationEntity.defaultTimeouts.cancel, Duration.seconds(5)))
        const seen: Array<string> = []
        const scp = yield* scopedRawScp({
          onPdu: (socket, type, body) => {
            if (type === 0x07) return void seen.push("A-ABORT")
            const m = type === 0x04 ? commandOf(body) : undefined
            if (m === undefined) return
            seen.push(m._tag)
            if (m._tag === "CFindRq") socket.write(pendingFindRsp(m, body[4]!))
          }
        })
        // The library's defaults but for the connect and ACSE timeouts (the test's clock never passes them).
        const ae = Result.getOrThrow(ApplicationEntity.make({ aeTitle: "NETDICOM-SCU" }))
        const outcome = yield* Effect.scoped(
          Effect.gen(function* () {
            const channel = yield* connectScu(scp.port, ae)
            const stopped = yield* Effect.forkChild(
              Scu.find(channel, { model: "study", identifier: { PatientName: "*" } }).pipe(
                Stream.take(1),
                Stream.runDrain
              )
            )
            yield* realUntil(() => seen.includes("CCancelRq"), "the C-CANCEL-RQ was sent")
            yield* TestClock.adjust("4900 millis")
            yield* realWait(50)
            assert.isUndefined(stopped.pollUnsafe(), "still waiting for the final response 4.9 s after the C-CANCEL")
            assert.notInclude(seen, "A-ABORT")
            yield* TestClock.adjust("100 millis")
            yield* realUntil(
              () => stopped.pollUnsafe() !== undefined,
              "the stopped C-FIND ended 5 s after its C-CANCEL"
            )
            yield* Fiber.join(stopped)
            yield* realUntil(() => seen.includes("A-ABORT"), "the SCP got an A-ABORT")
            return yield* Effect.exit(Scu.echo(channel))
          })
        )
        assert.deepStrictEqual(seen, ["CFindRq", "CCancelRq", "A-ABORT"])
        assert.isTrue(Exit.isFailure(outcome), "the association was still usable")
        if (Exit.isFailure(outcome)) {
          const error = Cause.findErrorOption(outcome.cause)
          assert.isTrue(Option.isSome(error) && error.value._tag === "AssociationAborted", "not AssociationAborted")
          if (Option.isSome(error) && error.value._tag === "AssociationAborted") {
            assert.match(error.value.detail, /no final response to message \d+ within 5s of its C-CANCEL/)
          }
        }
      })
  )
})
