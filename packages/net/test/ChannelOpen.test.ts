/**
 * An SCP's channel as `Scp.serve` runs it (`ChannelOpen.serveUntilEnded`, since Round 20 without the scope of its own
 * that `Effect.scoped` around `DimseChannel.make` gave it): it ends as its association ends, not at the connection's
 * close, and a server stopping still gives its handlers their grace before they are interrupted. Since Round 21 it
 * returns only at that close, so that the server's fiber for the association suspends twice (the A-ASSOCIATE-RQ, the
 * close) rather than three times (the end too).
 */
import * as AsyncHooks from "node:async_hooks"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Result, Scope } from "effect"
import { CommandSet, Status } from "@netdicom/wire"
import * as Server from "../src/association/Server.ts"
import * as ChannelOpen from "../src/dimse/ChannelOpen.ts"
import type * as DimseChannel from "../src/dimse/DimseChannel.ts"
import { associateRq, echoRqPdu, rawPeer } from "./rawPeer.ts"
import { VERIFICATION, testAe } from "./support.ts"

const echoed: DimseChannel.RequestHandler = (request, channel) =>
  channel
    .send(request.context, {
      _tag: "CEchoRsp",
      messageIdBeingRespondedTo: 1,
      affectedSopClassUid: VERIFICATION,
      status: Status.SUCCESS
    })
    .pipe(Effect.orDie)

const contexts = [{ abstractSyntax: VERIFICATION, transferSyntaxes: ["1.2.840.10008.1.2"] }]

// A server running `serveUntilEnded` with `handler` in a scope of its own, and a peer whose association is open;
// `returned` is told when `serveUntilEnded` returns.
const start = (handler: DimseChannel.RequestHandler, returned: () => void = () => {}) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const ae = yield* testAe({
      aeTitle: "NETDICOM-SCP",
      contexts,
      timeouts: { acse: "5 seconds", connect: "5 seconds", dimse: "30 seconds", write: "5 seconds" }
    })
    const server = yield* Server.serve(ae, {
      port: 0,
      handler: (association) => Effect.andThen(ChannelOpen.serveUntilEnded(association, handler), Effect.sync(returned))
    }).pipe(Scope.provide(scope))
    const peer = yield* Effect.promise(() => rawPeer(server.port))
    peer.sendPdu(associateRq())
    const ac = yield* Effect.promise(() => peer.next())
    assert.strictEqual(ac !== "closed" && ac._tag, "AAssociateAc")
    return { scope, server, peer }
  })

describe("an SCP's channel (serveUntilEnded)", () => {
  it.live("ends as its association is released, while the peer still holds the connection open", () =>
    Effect.gen(function* () {
      let seen: DimseChannel.DimseChannel | undefined
      let context: DimseChannel.IncomingRequest["context"] | undefined
      const { scope, server, peer } = yield* start((request, channel) => {
        seen = channel
        context = request.context
        return channel
          .send(request.context, {
            _tag: "CEchoRsp",
            messageIdBeingRespondedTo: 1,
            affectedSopClassUid: VERIFICATION,
            status: Status.SUCCESS
          })
          .pipe(Effect.orDie)
      })
      peer.send(echoRqPdu)
      const rsp = yield* Effect.promise(() => peer.next())
      assert.isTrue(rsp !== "closed" && rsp._tag === "PDataTf")
      assert.isDefined(seen)
      assert.isFalse(seen!.isStopping(), "open while its association is")
      peer.sendPdu({ _tag: "AReleaseRq" })
      const rp = yield* Effect.promise(() => peer.next())
      assert.strictEqual(rp !== "closed" && rp._tag, "AReleaseRp")
      // The association has ended for the SCP; its connection waits for the peer to close it.
      for (let i = 0; i < 200 && !seen!.isStopping(); i++) yield* Effect.sleep("5 millis")
      assert.isTrue(seen!.isStopping(), "the channel ended with its association")
      assert.strictEqual(yield* server.active, 1, "the connection still holds its place")
      const echoed = yield* Effect.exit(
        seen!.send(context!, { _tag: "CEchoRq", messageId: 2, affectedSopClassUid: VERIFICATION })
      )
      assert.isTrue(Exit.isFailure(echoed), "nothing is sent on a channel whose association has ended")
      peer.end()
      yield* Effect.promise(() => peer.closed)
      for (let i = 0; i < 200 && (yield* server.active) > 0; i++) yield* Effect.sleep("5 millis")
      assert.strictEqual(yield* server.active, 0)
      yield* Scope.close(scope, Exit.void)
    })
  )

  it.live("a server stopping gives a handler still running its second of grace, then interrupts it", () =>
    Effect.gen(function* () {
      const handler = { started: 0, interruptedAt: 0 }
      const { scope, peer } = yield* start(() =>
        Effect.suspend(() => {
          handler.started = Date.now()
          return Effect.onInterrupt(Effect.never, () =>
            Effect.sync(() => {
              handler.interruptedAt = Date.now()
            })
          )
        })
      )
      peer.send(echoRqPdu)
      while (handler.started === 0) yield* Effect.sleep("5 millis")
      const stopping = Date.now()
      yield* Scope.close(scope, Exit.void)
      assert.isAbove(handler.interruptedAt, 0, "the handler was interrupted before the server's close ended")
      assert.isAtLeast(handler.interruptedAt - stopping, 900, "after the grace")
      // The C-ECHO-RQ it left unanswered is answered 0x0110 before the abort.
      const pdu = yield* Effect.promise(() => peer.next())
      assert.isTrue(pdu !== "closed" && pdu._tag === "PDataTf")
      if (pdu !== "closed" && pdu._tag === "PDataTf") {
        const c = Result.getOrThrow(CommandSet.decode(pdu.pdvs[0]!.data))
        assert.deepStrictEqual([c.messageIdBeingRespondedTo, c.status], [1, Status.PROCESSING_FAILURE])
      }
      const next = yield* Effect.promise(() => peer.next())
      assert.isTrue(next === "closed" || next._tag === "AAbort", `aborted or closed, not ${JSON.stringify(next)}`)
    })
  )

  it.live("returns at the connection's close, not at the release before it", () =>
    Effect.gen(function* () {
      let returnedAt = 0
      const { scope, peer } = yield* start(echoed, () => {
        returnedAt = Date.now()
      })
      peer.send(echoRqPdu)
      yield* Effect.promise(() => peer.next())
      peer.sendPdu({ _tag: "AReleaseRq" })
      const rp = yield* Effect.promise(() => peer.next())
      assert.strictEqual(rp !== "closed" && rp._tag, "AReleaseRp")
      yield* Effect.sleep("100 millis")
      assert.strictEqual(returnedAt, 0, "still serving while the peer holds the connection after the A-RELEASE-RP")
      const closing = Date.now()
      peer.end()
      yield* Effect.promise(() => peer.closed)
      for (let i = 0; i < 200 && returnedAt === 0; i++) yield* Effect.sleep("5 millis")
      assert.isAtLeast(returnedAt, closing, "returned once the connection closed")
      yield* Scope.close(scope, Exit.void)
    })
  )

  it.live("an association served suspends the server's fiber twice: for the A-ASSOCIATE-RQ, then the close", () =>
    Effect.gen(function* () {
      // Effect makes an AsyncResource ("effect/Fiber") each time a fiber suspends. The peer is plain sockets and this
      // fiber waits for the whole exchange in one promise: every other one counted is the server's. A first
      // association goes uncounted (the server's own fiber taking connections starts then).
      const ae = yield* testAe({ aeTitle: "NETDICOM-SCP", contexts })
      const scope = yield* Scope.make()
      let served = 0
      const server = yield* Server.serve(ae, {
        port: 0,
        handler: (association) =>
          Effect.andThen(
            ChannelOpen.serveUntilEnded(association, echoed),
            Effect.sync(() => served++)
          )
      }).pipe(Scope.provide(scope))
      const exchange = async () => {
        const before = served
        const peer = await rawPeer(server.port)
        peer.sendPdu(associateRq())
        await peer.next()
        peer.send(echoRqPdu)
        await peer.next()
        peer.sendPdu({ _tag: "AReleaseRq" })
        await peer.next()
        peer.end()
        await peer.closed
        for (let i = 0; i < 400 && served === before; i++) await new Promise((r) => setTimeout(r, 5))
      }
      yield* Effect.promise(exchange)
      let suspensions = 0
      const hook = AsyncHooks.createHook({
        init: (_id, type) => {
          if (type === "effect/Fiber") suspensions++
        }
      })
      hook.enable()
      yield* Effect.promise(exchange)
      hook.disable()
      assert.strictEqual(served, 2)
      assert.strictEqual(suspensions - 1, 2, `the server's suspensions (${suspensions} counted with this fiber's one)`)
      yield* Scope.close(scope, Exit.void)
    })
  )
})
