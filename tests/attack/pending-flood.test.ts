/**
 * Connections that never finish their A-ASSOCIATE-RQ (PS3.8 9.1.5: ARTIM bounds each, 30 s by default). The server
 * keeps at most `maxPendingConnections` of them (default 4 x maxAssociations); past that it closed the connection
 * that had just arrived. So a peer holding that many silent (or half-sent) connections, and opening a new one each
 * time ARTIM closed one, kept every well-behaved client out: each was closed before its A-ASSOCIATE-RQ was read.
 * The oldest pending connection is now closed to make room, so a client whose A-ASSOCIATE-RQ follows its connect is
 * served while the flood goes on, and the pending count stays within its bound.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { associateRq, connectPeer, echoStillWorks, encode, type Peer, promise, startScp } from "./support.ts"

const MAX_PENDING = 16

/** Opens `n` connections; each sends `prefix` (maybe nothing) and then stays silent. */
const flood = (port: number, n: number, prefix: Uint8Array) =>
  promise(async () => {
    const peers: Array<Peer> = []
    for (let i = 0; i < n; i++) {
      const peer = await connectPeer(port)
      if (prefix.length > 0) peer.send(prefix)
      peers.push(peer)
    }
    return peers
  })

/** Time of one well-behaved C-ECHO (connect, associate, echo, release), in ms, or undefined if it failed. */
const timedEcho = (port: number) =>
  promise(async () => {
    const started = performance.now()
    const ok = await echoStillWorks(port).catch(() => false)
    return ok ? Math.round(performance.now() - started) : undefined
  })

const waitPending = (server: { readonly pending: Effect.Effect<number> }, n: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < 200 && (yield* server.pending) < n; i++) yield* Effect.sleep("10 millis")
    return yield* server.pending
  })

describe("connections flooding the pending A-ASSOCIATE-RQ places", () => {
  const cases = [
    { name: "silent connections", prefix: new Uint8Array(0) },
    // the PDU header and the first bytes of a real A-ASSOCIATE-RQ: the parser waits for the rest
    { name: "half-sent A-ASSOCIATE-RQs", prefix: encode(associateRq()).subarray(0, 40) }
  ]
  for (const { name, prefix } of cases) {
    it.live(
      `${MAX_PENDING} ${name} (ARTIM 20 s): a well-behaved client is still served at once`,
      () =>
        Effect.gen(function* () {
          const server = yield* startScp({ maxPendingConnections: MAX_PENDING, timeouts: { acse: "20 seconds" } })
          const peers = yield* flood(server.port, MAX_PENDING, prefix)
          assert.strictEqual(yield* waitPending(server, MAX_PENDING), MAX_PENDING, "the flood fills the places")
          const times: Array<number | undefined> = []
          for (let i = 0; i < 5; i++) times.push(yield* timedEcho(server.port))
          const pendingAfter = yield* server.pending
          for (const p of peers) p.destroy()
          assert.isTrue(
            times.every((t) => t !== undefined && t < 1000),
            `echo times (ms): ${times.map((t) => t ?? "refused").join(", ")}`
          )
          assert.isAtMost(pendingAfter, MAX_PENDING, "pending connections stay within their bound")
        }),
      30_000
    )
  }

  it.live(
    "a flood that reopens every connection closed keeps the places full: well-behaved clients are still served",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ maxPendingConnections: MAX_PENDING, timeouts: { acse: "20 seconds" } })
        let stop = false
        let opened = 0
        let highest = 0
        const open = new Set<Peer>()
        // each flood connection, once closed by the server, is replaced by a new silent one
        const keepOne = async (): Promise<void> => {
          while (!stop) {
            const peer = await connectPeer(server.port).catch(() => undefined)
            if (peer === undefined) continue
            opened++
            open.add(peer)
            await peer.closed(30_000)
            open.delete(peer)
            peer.destroy()
          }
        }
        const watchers = Array.from({ length: MAX_PENDING }, keepOne)
        yield* waitPending(server, MAX_PENDING)
        const times: Array<number | undefined> = []
        for (let i = 0; i < 10; i++) {
          times.push(yield* timedEcho(server.port))
          highest = Math.max(highest, yield* server.pending)
        }
        stop = true
        for (const p of open) p.destroy()
        yield* promise(() => Promise.all(watchers))
        assert.isTrue(
          times.every((t) => t !== undefined && t < 1000),
          `echo times (ms): ${times.map((t) => t ?? "refused").join(", ")}; flood connections opened: ${opened}`
        )
        assert.isAtMost(highest, MAX_PENDING, "pending connections stay within their bound")
      }),
    60_000
  )
})
