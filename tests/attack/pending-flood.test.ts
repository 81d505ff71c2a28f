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
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { netdicom, startServer } from "../../packages/cli/test/support.ts"
import {
  associated,
  associateRq,
  connectPeer,
  echoStillWorks,
  encode,
  type Peer,
  promise,
  startScp
} from "./support.ts"

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

/*
 * Connections whose A-ASSOCIATE-RQ was rejected wait for the peer to close (PS3.8 Sta13, up to ARTIM + 1 s). A peer
 * that never closes them: one refused by the policy kept its place among `maxAssociations` all that while, so a few
 * peers the policy refuses (an unknown called or calling AE title) kept every permitted one out; and one refused for
 * load was counted nowhere, so connections refused while the server was full piled up without bound (a socket and a
 * fiber each, for 31 s by default). Both now count among the connections without an association, bounded by
 * `maxPendingConnections` (the oldest closed first), and take no association place.
 */
/** Sends `rq`, waits for the answer, and keeps the connection open; the answer's PDU type. */
const answeredAndHeld = (port: number, rq: ReturnType<typeof associateRq>) =>
  promise(async () => {
    const peer = await connectPeer(port)
    peer.send(encode(rq))
    const answer = await peer.next(3000)
    return { peer, answer: typeof answer === "string" ? answer : answer.type }
  })

describe("rejected A-ASSOCIATE-RQs whose connections stay open", () => {
  it.live(
    "peers refused by the policy take no association place (maxAssociations 2, ARTIM 20 s)",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ maxAssociations: 2, timeouts: { acse: "20 seconds" } })
        const refused = [
          yield* answeredAndHeld(server.port, associateRq({ calledAeTitle: "NOT-OURS" })),
          yield* answeredAndHeld(server.port, associateRq({ calledAeTitle: "NOT-OURS" })),
          yield* answeredAndHeld(server.port, associateRq({ calledAeTitle: "NOT-OURS" }))
        ]
        const active = yield* server.active
        const time = yield* timedEcho(server.port)
        for (const r of refused) r.peer.destroy()
        assert.deepStrictEqual(
          refused.map((r) => r.answer),
          [0x03, 0x03, 0x03],
          "each is rejected"
        )
        assert.strictEqual(active, 0, "no association place taken")
        assert.isTrue(time !== undefined && time < 1000, `a permitted client's echo: ${time ?? "refused"}`)
      }),
    30_000
  )

  it.live(
    "connections refused for load that stay open are bounded by maxPendingConnections, oldest closed first",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({
          maxAssociations: 1,
          maxPendingConnections: 4,
          timeouts: { acse: "20 seconds", idle: "20 seconds" }
        })
        const holder = yield* promise(() => associated(server.port))
        const refused: Array<{ readonly peer: Peer; readonly answer: number | string }> = []
        for (let i = 0; i < 40; i++) refused.push(yield* answeredAndHeld(server.port, associateRq()))
        yield* Effect.sleep("300 millis")
        const open = refused.filter((r) => !r.peer.socket.destroyed && !r.peer.socket.readableEnded).length
        const pending = yield* server.pending
        for (const r of refused) r.peer.destroy()
        holder.destroy()
        assert.isTrue(
          refused.every((r) => r.answer === 0x03),
          `each is rejected: ${refused.map((r) => r.answer).join(" ")}`
        )
        assert.isAtMost(open, 4, "connections the server still holds open")
        assert.isAtMost(pending, 4)
      }),
    30_000
  )
})

describe("netdicom storescp with its defaults (256 pending connections)", () => {
  it("300 silent connections: netdicom echo still succeeds at once", async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-pending-flood-"))
    const server = await startServer(["storescp", "0", "--out", out])
    const peers: Array<Peer> = []
    try {
      for (let i = 0; i < 300; i++) peers.push(await connectPeer(server.port))
      await new Promise((r) => setTimeout(r, 200))
      const started = performance.now()
      const r = await netdicom(["echo", "127.0.0.1", String(server.port)], 20_000)
      const took = Math.round(performance.now() - started)
      const closed = peers.filter((p) => p.socket.destroyed || p.socket.readableEnded).length
      assert.strictEqual(r.code, 0, r.stdout + r.stderr)
      assert.isBelow(took, 5000, "echo time (ms), process start included")
      assert.isAtLeast(closed, 300 - 256, "the oldest past the bound were closed")
    } finally {
      for (const p of peers) p.destroy()
      await server.interrupt()
      fs.rmSync(out, { recursive: true, force: true })
    }
  }, 60_000)
})

/*
 * Each connection without an association may hold one unfinished PDU of up to 1 MiB (then the parser's limit for an
 * A-ASSOCIATE-RQ, now 256 KiB at an acceptor): 256 connections each sending 1 MiB - 1 of one took `netdicom storescp`
 * from 95 to 371 MB RSS for ARTIM's 30 s. What they hold together is now bounded (`maxPendingBytes`, 16 MiB by
 * default): past it the connection holding the most is closed, so a client's A-ASSOCIATE-RQ of some kilobytes still
 * gets through.
 */
describe("connections holding large unfinished A-ASSOCIATE-RQs", () => {
  it.live(
    "20 x 256 KiB with maxPendingBytes 1 MiB: the bytes held stay within it, a well-behaved client is served",
    () =>
      Effect.gen(function* () {
        const BUDGET = 1024 * 1024
        const server = yield* startScp({ maxPendingBytes: BUDGET, timeouts: { acse: "20 seconds" } })
        const length = 256 * 1024
        const header = Uint8Array.of(0x01, 0, 0, 0x04, 0, 0) // an A-ASSOCIATE-RQ of 256 KiB, the acceptor's limit
        const body = new Uint8Array(length - 1).fill(0x41)
        const peers: Array<Peer> = []
        let highest = 0
        for (let i = 0; i < 20; i++) {
          const peer = yield* promise(() => connectPeer(server.port))
          peer.send(header)
          peer.send(body)
          peers.push(peer)
          yield* Effect.sleep("20 millis")
          highest = Math.max(highest, yield* server.pendingBytes)
        }
        for (let i = 0; i < 20; i++) {
          yield* Effect.sleep("20 millis")
          highest = Math.max(highest, yield* server.pendingBytes)
        }
        const time = yield* timedEcho(server.port)
        const closed = peers.filter((p) => p.socket.destroyed || p.socket.readableEnded).length
        for (const p of peers) p.destroy()
        assert.isAtMost(highest, BUDGET, "bytes held by connections without an association")
        assert.isAtLeast(closed, 16, "the largest were closed")
        assert.isTrue(time !== undefined && time < 1000, `a client's echo: ${time ?? "refused"}`)
      }),
    30_000
  )
})
