/**
 * A mix of connections without an association (silent ones, ones dribbling a large A-ASSOCIATE-RQ a few bytes at a
 * time, ones whose A-ASSOCIATE-RQ was rejected and that never close) past `maxPendingConnections` and
 * `maxPendingBytes`, while a good client keeps associating; then the server stops in the middle of it. The good
 * client must be served each time, the pending connections stay within both bounds, and once stopped the server must
 * close every connection itself and leave no socket, server handle or timer behind
 * (process.getActiveResourcesInfo()). From raw peers on 127.0.0.1. A guard test (the product held).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { associateRq, connectPeer, echoStillWorks, encode, promise, startScp, type Peer } from "./support.ts"

const MAX_PENDING = 12
const MAX_BYTES = 64 * 1024

// Counts of the kinds of handles that matter here: sockets, listening servers, timers.
const resources = () => {
  const counts: Record<string, number> = {}
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1
  return {
    sockets: counts["TCPSocketWrap"] ?? 0,
    servers: counts["TCPServerWrap"] ?? 0,
    timers: counts["Timeout"] ?? 0
  }
}

const tsUid = (j: number) => `1.2.840.10008.1.2.${j}.${"9".repeat(40)}`
// An A-ASSOCIATE-RQ of about 40 KiB (many presentation contexts): two held unfinished pass `MAX_BYTES`.
const bigRq = encode(
  associateRq({
    presentationContexts: Array.from({ length: 127 }, (_, i) => ({
      _tag: "PresentationContextRq" as const,
      id: 2 * i + 1,
      abstractSyntax: `1.2.840.10008.5.1.4.1.1.${i}.${"1".repeat(30)}`,
      transferSyntaxes: [tsUid(0), ...Array.from({ length: 5 }, (_, j) => tsUid(j + 1))]
    }))
  })
)

describe("silent, dribbling and rejected connections, then the server stops", () => {
  it.live(
    "a good client is served throughout; the bounds hold; the stop leaves no socket or timer",
    () =>
      Effect.gen(function* () {
        assert.isAbove(bigRq.length, 32 * 1024)
        const before = resources()
        const scope = yield* Scope.make()
        const server = yield* startScp({
          maxPendingConnections: MAX_PENDING,
          maxPendingBytes: MAX_BYTES,
          timeouts: { acse: "20 seconds" }
        }).pipe(Scope.provide(scope))
        const peers: Array<Peer> = []
        let stop = false
        // Dribblers: 2 KiB of the big RQ every 20 ms, never the whole of it before the stop.
        const dribble = async (peer: Peer) => {
          for (let at = 0; at < bigRq.length - 1 && !stop; at += 2048) {
            peer.send(bigRq.subarray(at, Math.min(at + 2048, bigRq.length - 1)))
            await new Promise((r) => setTimeout(r, 20))
          }
        }
        const dribbling: Array<Promise<void>> = []
        const echoes: Array<boolean> = []
        let highestPending = 0
        let highestBytes = 0
        for (let round = 0; round < 4; round++) {
          for (let i = 0; i < 6; i++) peers.push(yield* promise(() => connectPeer(server.port)))
          for (let i = 0; i < 4; i++) {
            const peer = yield* promise(() => connectPeer(server.port))
            peers.push(peer)
            dribbling.push(dribble(peer))
          }
          for (let i = 0; i < 4; i++) {
            const peer = yield* promise(() => connectPeer(server.port))
            peers.push(peer)
            peer.send(encode(associateRq({ calledAeTitle: "NOT-OURS" })))
          }
          yield* Effect.sleep("100 millis")
          echoes.push(yield* promise(() => echoStillWorks(server.port)))
          highestPending = Math.max(highestPending, yield* server.pending)
          highestBytes = Math.max(highestBytes, yield* server.pendingBytes)
        }
        // Stop the server with all of it going on.
        yield* Scope.close(scope, Exit.void)
        const closed = yield* promise(() => Promise.all(peers.map((p) => p.closed(5000))))
        stop = true
        yield* promise(() => Promise.all(dribbling))
        for (const p of peers) p.destroy()
        // Sockets and timers closed a turn later.
        let after = resources()
        for (let i = 0; i < 40 && (after.sockets > before.sockets || after.timers > before.timers); i++) {
          yield* Effect.sleep("50 millis")
          after = resources()
        }
        assert.deepStrictEqual(echoes, [true, true, true, true], "the good client is served every round")
        // The bound was approached (56 connections opened for 12 places), and held.
        assert.isAtMost(highestPending, MAX_PENDING)
        assert.isAtLeast(highestPending, MAX_PENDING / 2)
        assert.isAbove(highestBytes, 0)
        assert.isAtMost(highestBytes, MAX_BYTES)
        assert.strictEqual(closed.filter((c) => c !== "closed").length, 0, "every connection closed by the server")
        assert.isAtMost(after.sockets, before.sockets, "no socket left")
        assert.isAtMost(after.servers, before.servers, "no listening server left")
        assert.isAtMost(after.timers, before.timers, "no timer left")
      }),
    60_000
  )
})
