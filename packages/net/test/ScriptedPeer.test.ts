/** The acceptor against a scripted peer sending raw PDUs over TCP on 127.0.0.1 (PS3.8 9.2 cases). */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Scope } from "effect"
import * as Net from "node:net"
import { PduCodec } from "@netdicom/wire"
import { Result } from "effect"
import * as Server from "../src/association/Server.ts"
import { IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import { associateRq, rawPeer } from "./rawPeer.ts"
import { VERIFICATION, testAe } from "./support.ts"

const startServer = (artim: Duration.Input = "1 second") =>
  Effect.gen(function* () {
    const ae = yield* testAe({
      aeTitle: "NETDICOM-SCP",
      contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }],
      timeouts: { acse: artim }
    })
    return yield* Server.serve(ae, { port: 0, policy: { calledAeTitles: () => true }, handler: () => Effect.void })
  })

// The server counts an association until its fiber has finished; give it a moment, bounded.
const waitIdle = (server: Server.Server) =>
  Effect.gen(function* () {
    for (let i = 0; i < 100 && (yield* server.active) > 0; i++) yield* Effect.sleep("10 millis")
    assert.strictEqual(yield* server.active, 0)
  })

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

describe("acceptor against a scripted peer", () => {
  it.live("accepts, then answers A-RELEASE-RQ with A-RELEASE-RP and closes", () =>
    Effect.gen(function* () {
      const server = yield* startServer()
      const peer = yield* promise(() => rawPeer(server.port))
      peer.sendPdu(associateRq())
      const ac = yield* promise(() => peer.next())
      assert.strictEqual(ac !== "closed" && ac._tag, "AAssociateAc")
      peer.sendPdu({ _tag: "AReleaseRq" })
      assert.deepStrictEqual(yield* promise(() => peer.next()), { _tag: "AReleaseRp" })
      peer.end()
      yield* promise(() => peer.closed)
    })
  )

  // beforeRelease's `idle` (Round 12): when it says there is nothing to finish, the A-RELEASE-RP goes at once and the
  // hook does not run; when it says there is, the hook runs first and the answer waits for it.
  it.live("a peer's A-RELEASE-RQ: answered at once when idle, the hook skipped; otherwise after the hook", () =>
    Effect.gen(function* () {
      for (const idle of [true, false]) {
        const ae = yield* testAe({
          aeTitle: "NETDICOM-SCP",
          contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }]
        })
        let hookRan = 0
        const hookGate = yield* Deferred.make<void>()
        const server = yield* Server.serve(ae, {
          port: 0,
          handler: (a) =>
            a.beforeRelease(
              Effect.andThen(
                Effect.sync(() => hookRan++),
                Deferred.await(hookGate)
              ),
              () => idle
            )
        })
        const peer = yield* promise(() => rawPeer(server.port))
        peer.sendPdu(associateRq())
        const ac = yield* promise(() => peer.next())
        assert.strictEqual(ac !== "closed" && ac._tag, "AAssociateAc")
        peer.sendPdu({ _tag: "AReleaseRq" })
        const answer = yield* Effect.forkChild(promise(() => peer.next()))
        if (!idle) {
          // The hook holds the answer back.
          yield* Effect.sleep("200 millis")
          assert.isUndefined(answer.pollUnsafe())
          assert.strictEqual(hookRan, 1)
          yield* Deferred.succeed(hookGate, undefined)
        }
        assert.deepStrictEqual(yield* Fiber.join(answer), { _tag: "AReleaseRp" })
        assert.strictEqual(hookRan, idle ? 0 : 1)
        peer.end()
        yield* promise(() => peer.closed)
      }
    })
  )

  it.live("A-ASSOCIATE-RQ and A-ABORT in one TCP segment: the abort is honoured, nothing hangs", () =>
    Effect.gen(function* () {
      const server = yield* startServer()
      const peer = yield* promise(() => rawPeer(server.port))
      const rq = Result.getOrThrow(PduCodec.encodePdu(associateRq()))
      const abort = Result.getOrThrow(PduCodec.encodePdu({ _tag: "AAbort", source: 0, reason: 0 }))
      const both = new Uint8Array(rq.length + abort.length)
      both.set(rq)
      both.set(abort, rq.length)
      peer.send(both)
      // We may answer the RQ before seeing the abort; either way the connection closes.
      for (let i = 0; i < 3; i++) {
        const p = yield* promise(() => peer.next())
        if (p === "closed") break
        assert.include(["AAssociateAc", "AAbort"], p._tag)
      }
      yield* promise(() => peer.closed)
      yield* waitIdle(server)
    })
  )

  it.live("a calling AE of 16 spaces is rejected: calling AE not recognized", () =>
    Effect.gen(function* () {
      const server = yield* startServer()
      const peer = yield* promise(() => rawPeer(server.port))
      peer.sendPdu(associateRq({ callingAeTitle: " ".repeat(16) }))
      assert.deepStrictEqual(yield* promise(() => peer.next()), {
        _tag: "AAssociateRj",
        result: 1,
        source: 1,
        reason: 3
      })
    })
  )

  it.live("a called AE padded with NULs is accepted", () =>
    Effect.gen(function* () {
      const ae = yield* testAe({
        aeTitle: "NETDICOM-SCP",
        contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }]
      })
      const server = yield* Server.serve(ae, { port: 0, handler: () => Effect.void })
      const peer = yield* promise(() => rawPeer(server.port))
      peer.sendPdu(associateRq({ calledAeTitle: "NETDICOM-SCP\0\0\0\0" }))
      const p = yield* promise(() => peer.next())
      assert.strictEqual(p !== "closed" && p._tag, "AAssociateAc")
    })
  )

  it.live("an even presentation context id is rejected (permanent, source 1, reason 1)", () =>
    Effect.gen(function* () {
      const server = yield* startServer()
      const peer = yield* promise(() => rawPeer(server.port))
      const bytes = Result.getOrThrow(PduCodec.encodePdu(associateRq())).slice()
      // Patch the presentation context id byte from 1 to 2 (encoders refuse even ids).
      const at = bytes.findIndex((b, i) => b === 0x20 && bytes[i + 1] === 0 && bytes[i + 4] === 1)
      bytes[at + 4] = 2
      peer.send(bytes)
      assert.deepStrictEqual(yield* promise(() => peer.next()), {
        _tag: "AAssociateRj",
        result: 1,
        source: 1,
        reason: 1
      })
    })
  )

  it.live("P-DATA before association (Sta2) gets an A-ABORT and a close", () =>
    Effect.gen(function* () {
      const server = yield* startServer()
      const peer = yield* promise(() => rawPeer(server.port))
      peer.send(
        PduCodec.encodePDataTf([{ presentationContextId: 1, isCommand: true, isLast: true, data: new Uint8Array(4) }])
      )
      const p = yield* promise(() => peer.next())
      if (p !== "closed") assert.strictEqual(p._tag, "AAbort")
      yield* promise(() => peer.closed)
    })
  )

  it.live("an unknown PDU type in Sta6 gives A-ABORT source 2 reason 1", () =>
    Effect.gen(function* () {
      const server = yield* startServer()
      const peer = yield* promise(() => rawPeer(server.port))
      peer.sendPdu(associateRq())
      yield* promise(() => peer.next())
      peer.send(Uint8Array.from([0x09, 0, 0, 0, 0, 0]))
      assert.deepStrictEqual(yield* promise(() => peer.next()), { _tag: "AAbort", source: 2, reason: 1 })
    })
  )

  it.live("a P-DATA-TF above our maximum length gets A-ABORT before its body arrives", () =>
    Effect.gen(function* () {
      const server = yield* startServer()
      const peer = yield* promise(() => rawPeer(server.port))
      peer.sendPdu(associateRq())
      yield* promise(() => peer.next())
      peer.send(Uint8Array.from([0x04, 0, 0x7f, 0xff, 0xff, 0xff]))
      const p = yield* promise(() => peer.next())
      assert.deepStrictEqual(p, { _tag: "AAbort", source: 2, reason: 6 })
    })
  )

  it.live("a connection that never sends A-ASSOCIATE-RQ is closed by ARTIM (Sta2)", () =>
    Effect.gen(function* () {
      const server = yield* startServer("300 millis")
      const peer = yield* promise(() => rawPeer(server.port))
      const started = Date.now()
      yield* promise(() => peer.closed)
      assert.isAtLeast(Date.now() - started, 250)
    })
  )

  it.live("after A-RELEASE-RP a peer that keeps the connection open is closed by ARTIM (Sta13)", () =>
    Effect.gen(function* () {
      const server = yield* startServer("300 millis")
      const peer = yield* promise(() => rawPeer(server.port))
      peer.sendPdu(associateRq())
      yield* promise(() => peer.next())
      peer.sendPdu({ _tag: "AReleaseRq" })
      assert.deepStrictEqual(yield* promise(() => peer.next()), { _tag: "AReleaseRp" })
      yield* promise(() => peer.closed)
    })
  )

  it.live("5 silent connections and 3 HTTP requests do not stop a normal association", () =>
    Effect.gen(function* () {
      const server = yield* startServer("2 seconds")
      const silent = yield* promise(() => Promise.all(Array.from({ length: 5 }, () => rawPeer(server.port))))
      const http = yield* promise(() => Promise.all(Array.from({ length: 3 }, () => rawPeer(server.port))))
      for (const h of http) h.send(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
      for (const h of http) {
        const p = yield* promise(() => h.next())
        if (p !== "closed") assert.deepStrictEqual(p, { _tag: "AAbort", source: 2, reason: 1 })
      }
      const peer = yield* promise(() => rawPeer(server.port))
      peer.sendPdu(associateRq())
      const ac = yield* promise(() => peer.next())
      assert.strictEqual(ac !== "closed" && ac._tag, "AAssociateAc")
      for (const s of silent) s.destroy()
    })
  )

  it.live("a transport closed mid-PDU ends the association cleanly", () =>
    Effect.gen(function* () {
      const server = yield* startServer()
      const peer = yield* promise(() => rawPeer(server.port))
      peer.sendPdu(associateRq())
      yield* promise(() => peer.next())
      peer.send(Uint8Array.from([0x04, 0, 0, 0, 0, 100, 0, 0]))
      peer.destroy()
      yield* waitIdle(server)
    })
  )

  it.live("raw sockets only ever see PDUs: a half-open HTTP client is not answered with anything else", () =>
    Effect.gen(function* () {
      const server = yield* startServer()
      const socket = Net.createConnection({ host: "127.0.0.1", port: server.port })
      const data: Array<Buffer> = []
      socket.on("data", (d) => data.push(d))
      socket.write("GET / HTTP/1.1\r\n\r\n")
      yield* promise(() => new Promise<void>((r) => socket.on("close", () => r())))
      const all = Buffer.concat(data)
      if (all.length > 0) assert.strictEqual(all[0], 0x07)
    })
  )
})

describe("server shutdown", () => {
  it.live("closing the server's scope aborts the open associations with an A-ABORT", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const server = yield* Scope.provide(startServer(), scope)
      const peer = yield* promise(() => rawPeer(server.port))
      peer.sendPdu(associateRq())
      const ac = yield* promise(() => peer.next())
      assert.strictEqual(ac !== "closed" && ac._tag, "AAssociateAc")
      yield* Scope.close(scope, Exit.void)
      const next = yield* promise(() => peer.next())
      assert.deepStrictEqual(next, { _tag: "AAbort", source: 0, reason: 0 })
      yield* promise(() => peer.closed)
    })
  )
})
