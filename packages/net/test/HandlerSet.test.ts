/**
 * The request handlers a channel still runs (its own set of fibers since Round 13, a `FiberSet` before): a peer's
 * A-RELEASE-RQ waits for them up to the DIMSE timeout, then they are interrupted and the release is answered; when
 * the channel's scope closes (a server stopping) they get a second of grace, then are interrupted, and the scope's
 * close waits for them to end. Either way the request they left is answered with a failure (`Unanswered`) first.
 */
import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Exit, Result, Scope } from "effect"
import { CommandSet, Status, type Pdu } from "@netdicom/wire"
import * as Server from "../src/association/Server.ts"
import * as DimseChannel from "../src/dimse/DimseChannel.ts"
import { associateRq, echoRqPdu, rawPeer } from "./rawPeer.ts"
import { VERIFICATION, testAe } from "./support.ts"

const contexts = [{ abstractSyntax: VERIFICATION, transferSyntaxes: ["1.2.840.10008.1.2"] }]

// A server whose handler never ends until interrupted, in its own scope, and a peer with a C-ECHO-RQ outstanding.
const start = (dimse: Duration.Input) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const handler = { started: 0, interruptedAt: 0 }
    const requests: DimseChannel.RequestHandler = () =>
      Effect.suspend(() => {
        handler.started = Date.now()
        return Effect.onInterrupt(Effect.never, () =>
          Effect.sync(() => {
            handler.interruptedAt = Date.now()
          })
        )
      })
    const ae = yield* testAe({
      aeTitle: "NETDICOM-SCP",
      contexts,
      timeouts: { acse: "5 seconds", connect: "5 seconds", dimse, write: "5 seconds" }
    })
    const server = yield* Server.serve(ae, {
      port: 0,
      handler: (association) =>
        Effect.scoped(Effect.andThen(DimseChannel.make(association, requests), association.ended))
    }).pipe(Scope.provide(scope))
    const peer = yield* Effect.promise(() => rawPeer(server.port))
    peer.sendPdu(associateRq())
    const ac = yield* Effect.promise(() => peer.next())
    assert.strictEqual(ac !== "closed" && ac._tag, "AAssociateAc")
    peer.send(echoRqPdu)
    while (handler.started === 0) yield* Effect.sleep("5 millis")
    return { scope, handler, peer }
  })

// The C-ECHO-RQ left unanswered by the interrupted handler: answered 0x0110 before the release or abort.
const assertEchoFailed = (pdu: Pdu.Pdu | "closed") => {
  assert.isTrue(pdu !== "closed" && pdu._tag === "PDataTf", `a P-DATA-TF, not ${pdu === "closed" ? pdu : pdu._tag}`)
  if (pdu === "closed" || pdu._tag !== "PDataTf") return
  const c = Result.getOrThrow(CommandSet.decode(pdu.pdvs[0]!.data))
  assert.deepStrictEqual(
    [c.commandField, c.messageIdBeingRespondedTo, c.status],
    [0x8030, 1, Status.PROCESSING_FAILURE]
  )
}

describe("the handlers a channel runs", () => {
  it.live("a peer's A-RELEASE-RQ waits for them up to the DIMSE timeout, then they are interrupted", () =>
    Effect.gen(function* () {
      const { scope, handler, peer } = yield* start("300 millis")
      const asked = Date.now()
      peer.sendPdu({ _tag: "AReleaseRq" })
      assertEchoFailed(yield* Effect.promise(() => peer.next()))
      const rp = yield* Effect.promise(() => peer.next())
      assert.strictEqual(rp !== "closed" && rp._tag, "AReleaseRp")
      assert.isAbove(handler.interruptedAt, 0, "the handler was interrupted")
      assert.isAtLeast(handler.interruptedAt - asked, 250, "after the DIMSE timeout")
      yield* Scope.close(scope, Exit.void)
    })
  )

  it.live("when the channel's scope closes they get a second of grace, then are interrupted", () =>
    Effect.gen(function* () {
      const { scope, handler, peer } = yield* start("30 seconds")
      const stopping = Date.now()
      yield* Scope.close(scope, Exit.void)
      assert.isAbove(handler.interruptedAt, 0, "the handler was interrupted before the scope's close ended")
      assert.isAtLeast(handler.interruptedAt - stopping, 900, "after the grace")
      assertEchoFailed(yield* Effect.promise(() => peer.next()))
      const next = yield* Effect.promise(() => peer.next())
      assert.isTrue(next === "closed" || next._tag === "AAbort", `aborted or closed, not ${JSON.stringify(next)}`)
    })
  )
})
