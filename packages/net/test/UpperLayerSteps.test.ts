/** The upper layer's machine stepped synchronously by its events: re-entrant primitives and defects of a step. */
import { assert, describe, it } from "@effect/vitest"
import * as Net from "node:net"
import { Deferred, Duration, Effect, Exit, Result, Scope } from "effect"
import { TestClock } from "effect/testing"
import { PduCodec, PduParser, type Pdu } from "@netdicom/wire"
import * as Transport from "../src/upper/Transport.ts"
import * as UpperLayer from "../src/upper/UpperLayer.ts"
import { associateAc, associateRq } from "./rawPeer.ts"

const encode = (pdu: Pdu.Pdu) => Result.getOrThrow(PduCodec.encodePdu(pdu))

// The PDUs the peer's side of a memory pair reads until it sees the end.
const readAll = (t: Transport.Transport) =>
  Effect.gen(function* () {
    const parser = PduParser.make({ maxPduLength: 0 })
    const seen: Array<Pdu.Pdu> = []
    while (true) {
      const chunks = yield* Effect.result(t.read)
      if (Result.isFailure(chunks)) return seen
      for (const chunk of chunks.success) seen.push(...parser.push(chunk).pdus)
    }
  })

describe("the upper layer's steps", () => {
  it.effect(
    "every machine runs the same functions: its service and its timers are methods, not closures of its own",
    () =>
      Effect.gen(function* () {
        const [a] = yield* Transport.memoryPair()
        const [b] = yield* Transport.memoryPair()
        const one = yield* UpperLayer.make({ role: "acceptor", maxPduLength: 16384, artim: "30 seconds", transport: a })
        const two = yield* UpperLayer.make({ role: "acceptor", maxPduLength: 16384, artim: "30 seconds", transport: b })
        for (const k of ["submit", "sendPData", "writePData", "indicationWithin", "consume", "receivePData"] as const) {
          assert.strictEqual(one[k], two[k], k)
        }
        assert.strictEqual(one.timers.after, two.timers.after)
        // Called as methods, they still act on their own machine.
        assert.strictEqual(yield* one.state, "Sta2")
        // Sta2 + Evt15: AA-1, an A-ABORT sent and ARTIM started.
        yield* one.submit({ _tag: "AbortRequest" })
        assert.strictEqual(yield* one.state, "Sta13")
        assert.strictEqual(yield* two.state, "Sta2")
      })
  )

  it.effect("a primitive whose PDU cannot be encoded ends the association with a provider abort, not the process", () =>
    Effect.gen(function* () {
      const [ours, theirs] = yield* Transport.memoryPair()
      const ul = yield* UpperLayer.make({ role: "acceptor", maxPduLength: 16384, artim: "30 seconds", transport: ours })
      yield* theirs.write([encode(associateRq())])
      const first = yield* ul.indications
      assert.strictEqual(first._tag, "AssociateIndication")
      if (first._tag !== "AssociateIndication") return
      // A called AE title of 17 characters: no A-ASSOCIATE-AC can carry it.
      yield* ul.submit({ _tag: "AssociateAccept", ac: associateAc(first.rq, { calledAeTitle: "A".repeat(17) }) })
      const next = yield* ul.indications
      assert.strictEqual(next._tag, "Aborted")
      if (next._tag === "Aborted") {
        assert.strictEqual(next.abort.by, "provider")
        assert.match(next.abort.detail, /internal error: .*1-16/)
      }
      assert.strictEqual((yield* ul.indications)._tag, "Closed")
      yield* ul.closed
      assert.strictEqual(yield* ul.state, "Sta1")
      // Nothing half-encoded went out; the peer sees the connection end.
      assert.deepStrictEqual(yield* readAll(theirs), [])
    })
  )

  it.effect("an A-ASSOCIATE-AC submitted with its bytes goes out as those bytes, not encoded again", () =>
    Effect.gen(function* () {
      const [ours, theirs] = yield* Transport.memoryPair()
      const ul = yield* UpperLayer.make({ role: "acceptor", maxPduLength: 16384, artim: "30 seconds", transport: ours })
      yield* theirs.write([encode(associateRq())])
      const first = yield* ul.indications
      if (first._tag !== "AssociateIndication") return assert.fail(first._tag)
      const ac = associateAc(first.rq)
      // Bytes that differ from `ac` encoded (another calling AE title), to see which of the two is sent.
      const encoded = encode({ ...ac, callingAeTitle: "ENCODED-ONCE    " })
      yield* ul.submit({ _tag: "AssociateAccept", ac, encoded })
      const parser = PduParser.make({ maxPduLength: 0 })
      const sent: Array<Pdu.Pdu> = []
      while (sent.length === 0) for (const chunk of yield* theirs.read) sent.push(...parser.push(chunk).pdus)
      assert.strictEqual(sent[0]?._tag, "AAssociateAc")
      if (sent[0]?._tag === "AAssociateAc") assert.strictEqual(sent[0].callingAeTitle, "ENCODED-ONCE    ")
    })
  )

  // The machine's one finalizer (Round 12) cancels its timers as well as stopping it: an ARTIM armed when the scope
  // closes never fires afterwards (it would step the machine to Sta1).
  it.effect("closing the machine's scope cancels ARTIM and closes the connection's scope", () =>
    Effect.gen(function* () {
      const [ours] = yield* Transport.memoryPair()
      const scope = yield* Scope.make()
      const ul = yield* Scope.provide(
        UpperLayer.make({ role: "acceptor", maxPduLength: 16384, artim: "30 seconds", transport: ours }),
        scope
      )
      assert.strictEqual(yield* ul.state, "Sta2")
      yield* Scope.close(scope, Exit.void)
      yield* TestClock.adjust("31 seconds")
      assert.strictEqual(yield* ul.state, "Sta2")
    })
  )

  it.effect("a requestor's connection scope is closed with the machine's scope: the transport's finalizer runs", () =>
    Effect.gen(function* () {
      const [ours] = yield* Transport.memoryPair()
      let closed = 0
      const connect = Effect.as(
        Effect.flatMap(Effect.scope, (s) =>
          Scope.addFinalizer(
            s,
            Effect.sync(() => closed++)
          )
        ),
        ours
      )
      const scope = yield* Scope.make()
      const ul = yield* Scope.provide(
        UpperLayer.make({ role: "requestor", maxPduLength: 16384, artim: "30 seconds", connect }),
        scope
      )
      yield* ul.submit({ _tag: "AssociateRequest", rq: associateRq() })
      assert.strictEqual(yield* ul.state, "Sta5")
      assert.strictEqual(closed, 0)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(closed, 1)
    })
  )

  it.effect("a requestor's connection scope is closed as the machine finishes, its scope still open", () =>
    Effect.gen(function* () {
      const [ours, theirs] = yield* Transport.memoryPair()
      let closed = 0
      const connect = Effect.as(
        Effect.flatMap(Effect.scope, (s) =>
          Scope.addFinalizer(
            s,
            Effect.sync(() => closed++)
          )
        ),
        ours
      )
      const ul = yield* UpperLayer.make({ role: "requestor", maxPduLength: 16384, artim: "30 seconds", connect })
      yield* ul.submit({ _tag: "AssociateRequest", rq: associateRq() })
      yield* theirs.write([encode({ _tag: "AAssociateRj", result: 1, source: 1, reason: 1 })])
      assert.strictEqual((yield* ul.indications)._tag, "AssociateRejected")
      yield* ul.closed
      assert.strictEqual(yield* ul.state, "Sta1")
      assert.strictEqual(closed, 1)
    })
  )

  it.effect(
    "a consumer answering an A-RELEASE-RQ at once, an A-ABORT behind it in the same read: RP first, then the close",
    () =>
      Effect.gen(function* () {
        const [ours, theirs] = yield* Transport.memoryPair()
        const ul = yield* UpperLayer.make({
          role: "acceptor",
          maxPduLength: 16384,
          artim: "30 seconds",
          transport: ours
        })
        yield* theirs.write([encode(associateRq())])
        const first = yield* ul.indications
        if (first._tag !== "AssociateIndication") return assert.fail(first._tag)
        yield* ul.submit({ _tag: "AssociateAccept", ac: associateAc(first.rq) })
        const seen: Array<string> = []
        yield* ul.consume((i, submit) => {
          seen.push(i._tag)
          // Submitted from within the machine's own turn: stepped after the step that indicated it.
          if (i._tag === "ReleaseIndication") submit({ _tag: "ReleaseResponse" })
          return undefined
        })
        const rq = encode({ _tag: "AReleaseRq" })
        const abort = encode({ _tag: "AAbort", source: 0, reason: 0 })
        const both = new Uint8Array(rq.length + abort.length)
        both.set(rq)
        both.set(abort, rq.length)
        yield* theirs.write([both])
        yield* ul.closed
        assert.deepStrictEqual(seen, ["ReleaseIndication", "Closed"])
        const sent = (yield* readAll(theirs)).map((p) => p._tag)
        assert.deepStrictEqual(sent, ["AAssociateAc", "AReleaseRp"])
      })
  )

  // Round 19: over a socket, the taker of the A-ASSOCIATE indication runs within the machine's turn, and its
  // A-ASSOCIATE-AC, with nothing queued behind the step, is stepped at once (no suspension): it must still be in
  // effect (Sta6, the AC sent) when `submit` completes, and a P-DATA-TF that came in the same read as the
  // A-ASSOCIATE-RQ is stepped after it (indicated, not an unexpected PDU in Sta3).
  it.live("an A-ASSOCIATE-AC submitted by the taker of the indication is in effect as submit completes, over TCP", () =>
    Effect.gen(function* () {
      const server = yield* Transport.listenTcp("127.0.0.1", 0, { writeTimeout: Duration.seconds(5) })
      const outcome = yield* Deferred.make<{ readonly after: string; readonly next: string }>()
      yield* Effect.forkScoped(
        server.run((t) =>
          Effect.scoped(
            Effect.gen(function* () {
              const ul = yield* UpperLayer.make({
                role: "acceptor",
                maxPduLength: 16384,
                artim: "5 seconds",
                transport: t
              })
              const first = yield* ul.indications
              if (first._tag !== "AssociateIndication")
                return yield* Deferred.succeed(outcome, { after: first._tag, next: "" })
              yield* ul.submit({ _tag: "AssociateAccept", ac: associateAc(first.rq) })
              const after = yield* ul.state
              const next = yield* ul.indications
              yield* Deferred.succeed(outcome, { after, next: next._tag })
            })
          )
        )
      )
      const client = Net.createConnection({ host: "127.0.0.1", port: server.port })
      client.on("error", () => {})
      const received: Array<Buffer> = []
      client.on("data", (b: Buffer) => received.push(b))
      yield* Effect.callback<void>((resume) => void client.once("connect", () => resume(Effect.void)))
      const pdata = PduCodec.encodePDataTf([
        { presentationContextId: 1, isCommand: true, isLast: true, data: new Uint8Array([1, 2, 3, 4]) }
      ])
      // The A-ASSOCIATE-RQ and a P-DATA-TF in one write (one read on loopback).
      client.write(Buffer.concat([encode(associateRq()), Buffer.from(pdata)]))
      const { after, next } = yield* Deferred.await(outcome).pipe(Effect.timeout("5 seconds"))
      if (received.length === 0) {
        yield* Effect.callback<void>((resume) => void client.once("data", () => resume(Effect.void))).pipe(
          Effect.timeout("5 seconds")
        )
      }
      client.destroy()
      assert.strictEqual(after, "Sta6")
      assert.strictEqual(next, "PData")
      const parser = PduParser.make({ maxPduLength: 0 })
      const sent = received.flatMap((b) => parser.push(new Uint8Array(b)).pdus.map((p) => p._tag))
      assert.deepStrictEqual(sent.slice(0, 1), ["AAssociateAc"])
    }).pipe(Effect.scoped)
  )
})
