/**
 * Release collisions (PS3.8 9.2.3.2.2): both sides send an A-RELEASE-RQ. Our requestor must answer the peer's
 * (A-RELEASE-RP), take the peer's A-RELEASE-RP, and end released within a moment: no abort, no ACSE timeout.
 * And a server whose scope closes while a peer is half-way through its A-ASSOCIATE-RQ closes that connection at once.
 */
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { Scu } from "@netdicom/net"
import { connectScu, scopedRawScp, scuAe } from "./hotpath-support.ts"
import { associateRq, connectPeer, encode, promise, startScp } from "./support.ts"

const RELEASE_RQ = Uint8Array.of(0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0)
const RELEASE_RP = Uint8Array.of(0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0)

describe("release collisions", () => {
  it.live("the peer answers our A-RELEASE-RQ with its own, then with its A-RELEASE-RP on ours", () =>
    Effect.gen(function* () {
      const seen: Array<number> = []
      const scp = yield* scopedRawScp({
        ignoreRelease: true,
        answer: true,
        onPdu: (socket, type) => {
          seen.push(type)
          // our A-RELEASE-RQ: collide (send ours); our A-RELEASE-RP to it: answer ours, then close (acceptor)
          if (type === 0x05) socket.write(RELEASE_RQ)
          if (type === 0x06) {
            socket.write(RELEASE_RP)
            setTimeout(() => socket.end(), 20)
          }
        }
      })
      const started = Date.now()
      const exit = yield* Effect.exit(
        Effect.scoped(Effect.flatMap(connectScu(scp.port, scuAe({ acse: "3 seconds" })), Scu.echo))
      )
      const took = Date.now() - started
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      assert.isBelow(took, 1500, `took ${took} ms`)
      assert.deepStrictEqual(
        seen.filter((t) => t !== 0x04),
        [0x05, 0x06]
      )
    })
  )
})

describe("a server's scope closed during a handshake", () => {
  it.live("a peer half-way through its A-ASSOCIATE-RQ is closed at once", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const server = yield* Scope.provide(startScp({ timeouts: { acse: "20 seconds" } }), scope)
      const peer = yield* promise(() => connectPeer(server.port))
      const rq = encode(associateRq())
      peer.send(rq.subarray(0, 20))
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 50)))
      const started = Date.now()
      yield* Scope.close(scope, Exit.void)
      const closedIn = Date.now() - started
      const outcome = yield* promise(() => peer.closed(3000))
      peer.destroy()
      assert.isBelow(closedIn, 2500, `the server's scope took ${closedIn} ms to close`)
      assert.strictEqual(outcome, "closed")
      // and nothing listens any more
      const refused = yield* promise(
        () =>
          new Promise<boolean>((resolve) => {
            const s = Net.createConnection({ host: "127.0.0.1", port: server.port })
            s.on("connect", () => (s.destroy(), resolve(false)))
            s.on("error", () => resolve(true))
          })
      )
      assert.isTrue(refused)
    })
  )
})
