/** Release collisions (PS3.8 9.2, Sta9-Sta12) in both roles, and ARTIM driven by TestClock. */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Result } from "effect"
import { TestClock } from "effect/testing"
import * as Net from "node:net"
import { PduCodec, PduParser, type Pdu } from "@netdicom/wire"
import * as Association from "../src/association/Association.ts"
import * as Server from "../src/association/Server.ts"
import { IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as Transport from "../src/upper/Transport.ts"
import * as UpperLayer from "../src/upper/UpperLayer.ts"
import { associateAc, associateRq, rawPeer } from "./rawPeer.ts"
import { VERIFICATION, testAe } from "./support.ts"

const encode = (pdu: Pdu.Pdu) => Result.getOrThrow(PduCodec.encodePdu(pdu))

/** A scripted acceptor: answers the RQ with an AC, then runs `script` on each later PDU. */
const scriptedAcceptor = (onPdu: (pdu: Pdu.Pdu, socket: Net.Socket) => void) =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<Net.Server>((resolve) => {
          const server = Net.createServer((socket) => {
            const parser = PduParser.make({ maxPduLength: 0 })
            socket.on("error", () => {})
            socket.on("data", (chunk) => {
              for (const pdu of parser.push(new Uint8Array(chunk)).pdus) {
                if (pdu._tag === "AAssociateRq") {
                  socket.write(encode(associateAc(pdu)))
                } else onPdu(pdu, socket)
              }
            })
          })
          server.listen(0, "127.0.0.1", () => resolve(server))
        })
    ),
    (server) => Effect.sync(() => server.close())
  )

describe("release collision", () => {
  it.live("as requestor: both sides send A-RELEASE-RQ; we answer (AR-9) and finish on their RP", () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      const server = yield* scriptedAcceptor((pdu, socket) => {
        seen.push(pdu._tag)
        if (pdu._tag === "AReleaseRq") socket.write(encode({ _tag: "AReleaseRq" })) // collide
        if (pdu._tag === "AReleaseRp") {
          socket.write(encode({ _tag: "AReleaseRp" }))
          socket.end()
        }
      })
      const port = (server.address() as Net.AddressInfo).port
      const ae = yield* testAe({ aeTitle: "NETDICOM-SCU" })
      yield* Effect.scoped(
        Association.connect(ae, {
          host: "127.0.0.1",
          port,
          calledAeTitle: "PEER",
          contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }]
        })
      )
      assert.deepStrictEqual(seen, ["AReleaseRq", "AReleaseRp"])
    })
  )

  it.live("as acceptor: we and the requestor release at once; we end in Sta13 and close (AR-10, AR-4)", () =>
    Effect.gen(function* () {
      const ae = yield* testAe({
        aeTitle: "NETDICOM-SCP",
        contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }]
      })
      const released = yield* Deferred.make<string>()
      const server = yield* Server.serve(ae, {
        port: 0,
        handler: (a) => Effect.flatMap(Effect.result(a.release), (r) => Deferred.succeed(released, r._tag))
      })
      const peer = yield* Effect.promise(() => rawPeer(server.port))
      peer.sendPdu(associateRq())
      const got: Array<string> = []
      while (true) {
        const p = yield* Effect.promise(() => peer.next())
        if (p === "closed") break
        got.push(p._tag)
        if (p._tag === "AAssociateAc") peer.sendPdu({ _tag: "AReleaseRq" }) // races our own A-RELEASE-RQ
        if (p._tag === "AReleaseRq") peer.sendPdu({ _tag: "AReleaseRp" })
        if (p._tag === "AReleaseRp") peer.end()
      }
      assert.deepStrictEqual(got.slice(0, 2), ["AAssociateAc", "AReleaseRq"])
      assert.include(got, "AReleaseRp")
      assert.strictEqual(yield* Deferred.await(released), "Success")
    })
  )
})

describe("ARTIM on the Effect clock", () => {
  it.effect("Sta2: no A-ASSOCIATE-RQ within the ARTIM timeout closes the connection", () =>
    Effect.gen(function* () {
      const [ours, theirs] = yield* Transport.memoryPair()
      const ul = yield* UpperLayer.make({ role: "acceptor", maxPduLength: 16384, artim: "30 seconds", transport: ours })
      const first = yield* Effect.forkChild(ul.indications)
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow
      assert.strictEqual(yield* ul.state, "Sta2")
      yield* TestClock.adjust("29 seconds")
      assert.strictEqual(yield* ul.state, "Sta2")
      yield* TestClock.adjust("1 second")
      const i = yield* Fiber.join(first)
      assert.strictEqual(i._tag, "Aborted")
      yield* ul.closed
      assert.strictEqual(yield* ul.state, "Sta1")
      const eof = yield* Effect.result(theirs.read)
      assert.isTrue(Result.isFailure(eof))
    })
  )

  it.effect("indicationWithin: nothing within the time runs orElse; a deadline left behind is skipped", () =>
    Effect.gen(function* () {
      const [ours, theirs] = yield* Transport.memoryPair()
      const ul = yield* UpperLayer.make({ role: "acceptor", maxPduLength: 16384, artim: "30 seconds", transport: ours })
      const late = yield* Effect.forkChild(ul.indicationWithin(Duration.seconds(5), () => Effect.succeed("late")))
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow
      yield* TestClock.adjust("4 seconds")
      assert.isUndefined(late.pollUnsafe())
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(late), "late")
      // A waiter interrupted before its time: its deadline still comes, and the next taker skips it.
      const gone = yield* Effect.forkChild(ul.indicationWithin(Duration.seconds(1), () => Effect.succeed("late")))
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow
      yield* Fiber.interrupt(gone)
      yield* TestClock.adjust("1 second")
      yield* theirs.write([encode(associateRq())])
      const next = yield* ul.indicationWithin(Duration.seconds(10), () => Effect.succeed("late"))
      assert.strictEqual(typeof next === "string" ? next : next._tag, "AssociateIndication")
    })
  )

  it.effect("Sta13: a peer that keeps the connection open after A-ASSOCIATE-RJ is closed by ARTIM", () =>
    Effect.gen(function* () {
      const [ours, theirs] = yield* Transport.memoryPair()
      const ul = yield* UpperLayer.make({ role: "acceptor", maxPduLength: 16384, artim: "10 seconds", transport: ours })
      yield* theirs.write([encode(associateRq())])
      const rq = yield* ul.indications
      assert.strictEqual(rq._tag, "AssociateIndication")
      yield* ul.submit({ _tag: "AssociateReject", rj: { _tag: "AAssociateRj", result: 1, source: 1, reason: 7 } })
      const rj = yield* theirs.read
      assert.deepStrictEqual(
        PduCodec.decodePdu(rj[0]!),
        Result.succeed({ _tag: "AAssociateRj", result: 1, source: 1, reason: 7 })
      )
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow
      assert.strictEqual(yield* ul.state, "Sta13")
      yield* TestClock.adjust("10 seconds")
      yield* ul.closed
      assert.strictEqual(yield* ul.state, "Sta1")
    })
  )
})

// An A-ASSOCIATE-AC for `rq`: its first context accepted in Implicit VR Little Endian.
const acceptAll = (rq: Pdu.AAssociateRq): Pdu.AAssociateAc => ({
  _tag: "AAssociateAc",
  protocolVersion: 1,
  calledAeTitle: rq.calledAeTitle,
  callingAeTitle: rq.callingAeTitle,
  applicationContextName: rq.applicationContextName,
  presentationContexts: [{ _tag: "PresentationContextAc", id: 1, result: 0, transferSyntax: "1.2.840.10008.1.2" }],
  userInformation: [{ _tag: "MaximumLength", maximumLength: 16384 }],
  unknownItems: []
})

describe("release, then ARTIM", () => {
  it.effect("after our A-RELEASE-RP a peer slow to close is closed by ARTIM, and the association ends released", () =>
    Effect.gen(function* () {
      const [ours, theirs] = yield* Transport.memoryPair()
      const ul = yield* UpperLayer.make({ role: "acceptor", maxPduLength: 16384, artim: "10 seconds", transport: ours })
      yield* theirs.write([encode(associateRq())])
      const rq = yield* ul.indications
      if (rq._tag !== "AssociateIndication") return assert.fail(rq._tag)
      yield* ul.submit({ _tag: "AssociateAccept", ac: acceptAll(rq.rq) })
      yield* theirs.read
      yield* theirs.write([encode({ _tag: "AReleaseRq" })])
      assert.strictEqual((yield* ul.indications)._tag, "ReleaseIndication")
      yield* ul.submit({ _tag: "ReleaseResponse" })
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow
      assert.strictEqual(yield* ul.state, "Sta13")
      yield* TestClock.adjust("10 seconds")
      yield* ul.closed
      // Closed, with no abort reported in between: the release had completed.
      assert.strictEqual((yield* ul.indications)._tag, "Closed")
    })
  )
})

describe("idle timeout on the Effect clock", () => {
  it.effect(
    "an established association with no PDU for the idle time is aborted (A-ABORT, ended as aborted by us)",
    () =>
      Effect.gen(function* () {
        const [ours, theirs] = yield* Transport.memoryPair()
        const ul = yield* UpperLayer.make({
          role: "acceptor",
          maxPduLength: 16384,
          artim: "10 seconds",
          idle: "60 seconds",
          transport: ours
        })
        yield* theirs.write([encode(associateRq())])
        const rq = yield* ul.indications
        assert.strictEqual(rq._tag, "AssociateIndication")
        if (rq._tag !== "AssociateIndication") return
        yield* ul.submit({ _tag: "AssociateAccept", ac: acceptAll(rq.rq) })
        yield* theirs.read
        for (let i = 0; i < 20; i++) yield* Effect.yieldNow
        assert.strictEqual(yield* ul.state, "Sta6")
        yield* TestClock.adjust("59 seconds")
        for (let i = 0; i < 20; i++) yield* Effect.yieldNow
        assert.strictEqual(yield* ul.state, "Sta6")
        yield* TestClock.adjust("2 seconds")
        const aborted = yield* ul.indications
        assert.strictEqual(aborted._tag, "Aborted")
        if (aborted._tag === "Aborted") assert.match(aborted.abort.detail, /idle/)
        const sent = yield* theirs.read
        assert.deepStrictEqual(PduCodec.decodePdu(sent[0]!), Result.succeed({ _tag: "AAbort", source: 0, reason: 0 }))
      })
  )
})
