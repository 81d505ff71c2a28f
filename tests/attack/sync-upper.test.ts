/**
 * The upper layer stepped synchronously by its events (socket reads, timers, user primitives): a primitive submitted
 * from within a step (an acceptor's handler sending at once), its own PDUs against P-DATA waiting for the write lock,
 * and its idle watch once Sta6 is left. Scripted peers on 127.0.0.1, port 0.
 */
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Duration, Effect, Exit, Fiber, Result, Scheduler } from "effect"
import { ApplicationEntity, Server, Transport, UpperLayer } from "@netdicom/net"
import { PduCodec, PduParser, type Pdu } from "@netdicom/wire"
import { associateAc } from "../../packages/net/test/rawPeer.ts"
import {
  associateRq,
  command,
  connectPeer,
  describe as show,
  encode,
  IMPLICIT,
  pdata,
  promise,
  VERIFICATION
} from "./support.ts"

interface Acceptor {
  readonly port: number
  /** The tags of the PDUs received, in order. */
  readonly seen: Array<string>
  /** Starts reading again after the A-ASSOCIATE-AC (the acceptor stops reading once it has sent it). */
  readonly resume: () => void
  readonly closed: Promise<void>
}

// Answers the A-ASSOCIATE-RQ, then stops reading until `resume`; answers an A-RELEASE-RQ with an A-RELEASE-RP.
const pausingAcceptor = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<Acceptor & { readonly server: Net.Server }>((resolve) => {
        const seen: Array<string> = []
        let socket: Net.Socket | undefined
        let closedNow = () => {}
        const closed = new Promise<void>((r) => (closedNow = r))
        const server = Net.createServer((s) => {
          socket = s
          const parser = PduParser.make({ maxPduLength: 0 })
          s.on("error", () => {})
          s.on("close", () => closedNow())
          s.on("data", (chunk) => {
            for (const pdu of parser.push(new Uint8Array(chunk)).pdus) {
              seen.push(pdu._tag)
              if (pdu._tag === "AAssociateRq") {
                s.write(encode(acceptAll(pdu)))
                s.pause()
              }
              if (pdu._tag === "AReleaseRq") s.write(encode({ _tag: "AReleaseRp" }))
            }
          })
        })
        server.listen(0, "127.0.0.1", () =>
          resolve({
            server,
            port: (server.address() as Net.AddressInfo).port,
            seen,
            resume: () => socket?.resume(),
            closed
          })
        )
      })
  ),
  ({ server }) => Effect.sync(() => server.close())
)

// Every context accepted in its first transfer syntax, no maximum PDU length.
const acceptAll = (rq: Pdu.AAssociateRq): Pdu.AAssociateAc =>
  associateAc(rq, { userInformation: [{ _tag: "MaximumLength", maximumLength: 0 }] })

// A requestor's machine, associated with `port`.
const associatedRequestor = (port: number, idle?: Duration.Input) =>
  Effect.gen(function* () {
    const ul = yield* UpperLayer.make({
      role: "requestor",
      maxPduLength: 0,
      artim: "5 seconds",
      ...(idle !== undefined ? { idle } : {}),
      connect: Transport.connectTcp("127.0.0.1", port, {
        writeTimeout: Duration.seconds(10),
        connectTimeout: Duration.seconds(2)
      })
    })
    yield* ul.submit({ _tag: "AssociateRequest", rq: associateRq() })
    const first = yield* ul.indications
    assert.strictEqual(first._tag, "AssociateAccepted")
    return ul
  })

describe("a primitive submitted from within a step", () => {
  it.live("an acceptor's handler that sends at once: its P-DATA follows the A-ASSOCIATE-AC", () =>
    Effect.gen(function* () {
      const ae = Result.getOrThrow(
        ApplicationEntity.make({
          aeTitle: "NETDICOM-SCP",
          contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] }],
          timeouts: { acse: "2 seconds", connect: "2 seconds", dimse: "3 seconds", write: "3 seconds" }
        })
      )
      const sent = yield* Deferred.make<Exit.Exit<void, unknown>>()
      const echo = pdata(1, true, true, command({ _tag: "CEchoRq", messageId: 1, affectedSopClassUid: VERIFICATION }))
      const server = yield* Server.serve(ae, {
        port: 0,
        // The handler runs on from the step that took the A-ASSOCIATE-RQ: its A-ASSOCIATE-AC was queued behind it.
        handler: (a) => Effect.flatMap(Effect.exit(a.sendPData([echo])), (exit) => Deferred.succeed(sent, exit))
      })
      const peer = yield* promise(() => connectPeer(server.port))
      peer.send(encode(associateRq()))
      const exit = yield* Deferred.await(sent)
      const first = yield* promise(() => peer.next(3000))
      const second = yield* promise(() => peer.next(3000))
      peer.destroy()
      // Before: the send failed at once, "association already ended" (the machine was still in Sta3).
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      assert.deepStrictEqual([show(first), show(second)], ["PDU 0x02", "PDU 0x04"])
    })
  )

  it.live("a machine's taker that accepts and sends at once: Sta6 when submit completes", () =>
    Effect.gen(function* () {
      const server = yield* Transport.listenTcp("127.0.0.1", 0, { writeTimeout: Duration.seconds(3) })
      const seen = yield* Deferred.make<string>()
      yield* Effect.forkScoped(
        server.run((t) =>
          Effect.scoped(
            Effect.asVoid(
              Effect.gen(function* () {
                const ul = yield* UpperLayer.make({
                  role: "acceptor",
                  maxPduLength: 16384,
                  artim: "3 seconds",
                  transport: t
                })
                const rq = yield* ul.indications
                if (rq._tag !== "AssociateIndication") return yield* Deferred.succeed(seen, rq._tag)
                yield* ul.submit({ _tag: "AssociateAccept", ac: acceptAll(rq.rq) })
                const state = yield* ul.state
                const echo = pdata(
                  1,
                  true,
                  true,
                  command({ _tag: "CEchoRq", messageId: 1, affectedSopClassUid: VERIFICATION })
                )
                const exit = yield* Effect.exit(ul.sendPData([echo]))
                yield* Deferred.succeed(seen, `${state} ${exit._tag}`)
                yield* ul.closed
              })
            )
          )
        )
      )
      const peer = yield* promise(() => connectPeer(server.port))
      peer.send(encode(associateRq()))
      const got = yield* Deferred.await(seen)
      peer.destroy()
      assert.strictEqual(got, "Sta6 Success")
    })
  )
})

describe("the synchronous upper layer", () => {
  it.live(
    "an A-RELEASE-RQ requested while a P-DATA waits for the write lock goes out after it, not before",
    () =>
      Effect.gen(function* () {
        const peer = yield* pausingAcceptor
        const ul = yield* associatedRequestor(peer.port)
        // 8 MB: far past the socket's write limit while the peer does not read, so the first write holds the lock
        // waiting for the socket to drain, and the second waits for the lock.
        const big = PduCodec.encodePDataTf([
          { presentationContextId: 1, isCommand: false, isLast: true, data: new Uint8Array(8 << 20) }
        ])
        const first = yield* Effect.forkChild(ul.sendPData([big]))
        yield* Effect.sleep("50 millis")
        const second = yield* Effect.forkChild(ul.sendPData([big]))
        yield* Effect.sleep("50 millis")
        yield* ul.submit({ _tag: "ReleaseRequest" })
        yield* Effect.sleep("50 millis")
        peer.resume()
        const writes = [yield* Fiber.await(first), yield* Fiber.await(second)].map((e) => e._tag)
        const end = yield* ul.indications.pipe(Effect.timeout("5 seconds"))
        yield* Effect.promise(() => peer.closed)
        // Before: the A-RELEASE-RQ went to the socket at once, between the two; the peer answered it and the second
        // P-DATA was never sent (its write failed, NotEstablished).
        assert.deepStrictEqual(peer.seen, ["AAssociateRq", "PDataTf", "PDataTf", "AReleaseRq"])
        assert.deepStrictEqual(writes, ["Success", "Success"])
        assert.strictEqual(end._tag, "ReleaseConfirm")
      }),
    15_000
  )

  it.live("the idle watch ends once Sta6 is left: no timer every millisecond while a release waits", () =>
    Effect.gen(function* () {
      // The Clock's sleeps counted (a Clock other than Effect's own is slept on, one sleep per timer armed).
      let sleeps = 0
      const live = yield* Effect.clockWith(Effect.succeed)
      const counting: Clock.Clock = Object.create(live)
      Object.assign(counting, {
        sleep: (d: Duration.Duration) => {
          sleeps++
          return live.sleep(d)
        }
      })
      const peer = yield* pausingAcceptor
      const ul = yield* associatedRequestor(peer.port, "50 millis").pipe(Effect.provideService(Clock.Clock, counting))
      // The peer reads nothing more: Sta7 until the release times out (ARTIM is not run in Sta7; the association's
      // ACSE timeout is).
      yield* ul.submit({ _tag: "ReleaseRequest" })
      assert.strictEqual(yield* ul.state, "Sta7")
      const before = sleeps
      yield* Effect.sleep("300 millis")
      assert.strictEqual(yield* ul.state, "Sta7")
      // Before: 1 ms timers once the idle time had passed outside Sta6, about 250 in 300 ms.
      assert.isAtMost(sleeps - before, 2, `${sleeps - before} timers armed in 300 ms in Sta7`)
    })
  )
})

describe("the fallback reader (a transport without a synchronous read side)", () => {
  it.live(
    "a wrapper whose read dies: the association ends (Aborted, connection closed) instead of waiting for ever",
    () =>
      Effect.gen(function* () {
        const server = yield* Transport.listenTcp("127.0.0.1", 0, { writeTimeout: Duration.seconds(3) })
        const ended = yield* Deferred.make<string>()
        yield* Effect.forkScoped(
          server.run((t) =>
            Effect.scoped(
              Effect.asVoid(
                Effect.gen(function* () {
                  // A recording wrapper with a bug: its second read throws.
                  let reads = 0
                  const wrapped: Transport.Transport = {
                    ...t,
                    read: Effect.flatMap(t.read, (chunks) =>
                      ++reads > 1 ? Effect.die(new Error("recorder failed")) : Effect.succeed(chunks)
                    )
                  }
                  const ul = yield* UpperLayer.make({
                    role: "acceptor",
                    maxPduLength: 16384,
                    artim: "3 seconds",
                    transport: wrapped
                  })
                  const rq = yield* ul.indications
                  if (rq._tag !== "AssociateIndication") return yield* Deferred.succeed(ended, rq._tag)
                  yield* ul.submit({ _tag: "AssociateAccept", ac: acceptAll(rq.rq) })
                  const next = yield* ul.indications.pipe(Effect.timeout("2 seconds"), Effect.exit)
                  yield* Deferred.succeed(ended, Exit.isSuccess(next) ? next.value._tag : "no indication within 2 s")
                })
              )
            )
          )
        )
        const peer = yield* promise(() => connectPeer(server.port))
        peer.send(encode(associateRq()))
        assert.strictEqual(show(yield* promise(() => peer.next(3000))), "PDU 0x02")
        peer.send(encode({ _tag: "AReleaseRq" }))
        const got = yield* Deferred.await(ended)
        const closed = yield* promise(() => peer.closed(3000))
        peer.destroy()
        // Before: the reader's fiber died unseen; the machine stayed in Sta6, no indication, the connection open.
        assert.strictEqual(got, "Aborted")
        assert.strictEqual(closed, "closed")
      })
  )
})

describe("P-DATA before any receiver", () => {
  it.live("a handler that installs no receiver: a peer's P-DATA then close still ends the association", () =>
    Effect.gen(function* () {
      const ae = Result.getOrThrow(
        ApplicationEntity.make({
          aeTitle: "NETDICOM-SCP",
          contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] }],
          timeouts: { acse: "2 seconds", connect: "2 seconds", dimse: "3 seconds", write: "3 seconds" }
        })
      )
      // Accepts, and runs no DIMSE: the association is then waited on until it ends.
      const server = yield* Server.serve(ae, { port: 0, handler: () => Effect.void })
      const peer = yield* promise(() => connectPeer(server.port))
      peer.send(encode(associateRq()))
      assert.strictEqual(show(yield* promise(() => peer.next(3000))), "PDU 0x02")
      peer.send(pdata(1, true, true, command({ _tag: "CEchoRq", messageId: 1, affectedSopClassUid: VERIFICATION })))
      yield* Effect.sleep("100 millis")
      assert.strictEqual(yield* server.active, 1)
      peer.destroy()
      let active = 1
      for (let i = 0; i < 40 && active > 0; i++) {
        yield* Effect.sleep("25 millis")
        active = yield* server.active
      }
      // Before: the P-DATA waited for a receiver for ever and the close behind it was never taken: the association
      // stayed active (a slot of maxAssociations held) for the life of the server.
      assert.strictEqual(active, 0)
    })
  )
})

describe("a consumer of indications that throws", () => {
  it.live(
    "logged, the association aborted and closed; nothing escapes into the timer that brought the indication",
    () =>
      Effect.gen(function* () {
        const escaped: Array<unknown> = []
        const onEscape = (e: unknown) => escaped.push(e)
        process.on("uncaughtException", onEscape)
        yield* Effect.addFinalizer(() => Effect.sync(() => process.off("uncaughtException", onEscape)))
        const server = yield* Transport.listenTcp("127.0.0.1", 0, { writeTimeout: Duration.seconds(3) })
        const outcome = yield* Deferred.make<string>()
        yield* Effect.forkScoped(
          server.run((t) =>
            Effect.scoped(
              Effect.gen(function* () {
                const ul = yield* UpperLayer.make({
                  role: "acceptor",
                  maxPduLength: 16384,
                  artim: "300 millis",
                  idle: "200 millis",
                  transport: t
                })
                const rq = yield* ul.indications
                if (rq._tag !== "AssociateIndication") return
                yield* ul.submit({ _tag: "AssociateAccept", ac: acceptAll(rq.rq) })
                // The first indication it gets is the idle timeout's abort, given from the timer's callback.
                yield* ul.consume((i) => {
                  throw new Error(`consumer bug on ${i._tag}`)
                })
                const closed = yield* ul.closed.pipe(Effect.timeout("2 seconds"), Effect.exit)
                yield* Deferred.succeed(
                  outcome,
                  `${Exit.isSuccess(closed) ? "closed" : "not closed"} ${yield* ul.state}`
                )
              })
            )
          )
        )
        const peer = yield* promise(() => connectPeer(server.port))
        peer.send(encode(associateRq()))
        assert.strictEqual(show(yield* promise(() => peer.next(3000))), "PDU 0x02")
        const got = yield* Deferred.await(outcome)
        const abort = yield* promise(() => peer.next(3000))
        peer.destroy()
        // Before: the exception escaped the idle timer's callback (an uncaught exception: a process crash outside a
        // test runner) and the machine stayed in Sta13, `closed` never completing.
        assert.deepStrictEqual(escaped, [])
        assert.strictEqual(got, "closed Sta1")
        assert.match(show(abort), /^A-ABORT/)
      })
  )
})

describe("a fiber yielding (its operation budget) between a look and a wait", () => {
  // Fibers that yield after `budget` operations, for budgets 1..48: somewhere between a taker's look at the queue and
  // its wait, a submit's queueing and its wait, the fallback reader's look and its wait, and a wait for `closed`.
  // Before, the user's fiber alone at budget 4 waited for ever for the A-ASSOCIATE-RQ's indication, and at 5 for its
  // A-ASSOCIATE-AC to be stepped: each came in that gap and woke nobody.
  const run = (budget: number, everyFiber: boolean) =>
    Effect.scoped(
      Effect.gen(function* () {
        const [ours, theirs] = yield* Transport.memoryPair()
        const ul = yield* UpperLayer.make({
          role: "acceptor",
          maxPduLength: 16384,
          artim: "3 seconds",
          transport: ours,
          pdataWindow: 2
        })
        let stage = "indication"
        const user = yield* Effect.forkChild(
          Effect.gen(function* () {
            const rq = yield* ul.indications
            if (rq._tag !== "AssociateIndication") return
            stage = "submit"
            yield* ul.submit({ _tag: "AssociateAccept", ac: acceptAll(rq.rq) })
            stage = "P-DATA"
            let pdatas = 0
            while ((yield* ul.indications)._tag === "PData") pdatas++
            stage = `closed after ${pdatas} P-DATA`
            yield* ul.closed
            stage = "done"
          }).pipe(Effect.provideService(Scheduler.MaxOpsBeforeYield, budget))
        )
        yield* Effect.yieldNow
        yield* theirs.write([encode(associateRq())])
        yield* theirs.read
        for (let i = 0; i < 6; i++) {
          const echo = command({ _tag: "CEchoRq", messageId: i + 1, affectedSopClassUid: VERIFICATION })
          yield* theirs.write([pdata(1, true, true, echo)])
        }
        yield* theirs.end
        yield* Fiber.await(user).pipe(Effect.timeout("200 millis"), Effect.ignore)
        return stage
      }).pipe(everyFiber ? Effect.provideService(Scheduler.MaxOpsBeforeYield, budget) : (effect) => effect)
    )

  it.live(
    "an acceptor over a memory pair, for every small budget: accepts, takes every P-DATA, closes",
    () =>
      Effect.gen(function* () {
        const hung: Array<string> = []
        for (let budget = 1; budget <= 48; budget++) {
          for (const everyFiber of [false, true]) {
            const stage = yield* run(budget, everyFiber)
            if (stage !== "done") hung.push(`budget ${budget}${everyFiber ? " (every fiber)" : ""}: ${stage}`)
          }
        }
        assert.deepStrictEqual(hung, [])
      }),
    60_000
  )
})
