/**
 * PDUs in the wrong state (PS3.8 9.2.3, Table 9-10), resets, and the association limit (PS3.8 7.1: A-ASSOCIATE-RJ
 * transient, source 3 "service-provider (presentation)", reason 2 "local limit exceeded").
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Ref, Stream } from "effect"
import { Status } from "@netdicom/wire"
import {
  associated,
  associateRq,
  command,
  connectPeer,
  CT,
  describe as show,
  echoStillWorks,
  encode,
  pdata,
  promise,
  startScp,
  untilAbortOrClose
} from "./support.ts"

const waitActive = (server: { readonly active: Effect.Effect<number> }, ms: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    let n = yield* server.active
    while (n > 0 && Date.now() < deadline) {
      yield* Effect.sleep("25 millis")
      n = yield* server.active
    }
    return n
  })

const ac = (port: number) => promise(() => associated(port))

describe("PDUs in the wrong state", () => {
  const sta2: ReadonlyArray<[string, () => Uint8Array]> = [
    ["A-RELEASE-RQ", () => encode({ _tag: "AReleaseRq" })],
    ["A-RELEASE-RP", () => encode({ _tag: "AReleaseRp" })],
    ["A-ASSOCIATE-RJ", () => encode({ _tag: "AAssociateRj", result: 1, source: 1, reason: 1 })],
    ["P-DATA-TF", () => pdata(1, true, true, new Uint8Array(4))]
  ]
  for (const [name, bytes] of sta2) {
    it.live(
      `${name} as the first PDU (Sta2): A-ABORT and close`,
      () =>
        Effect.gen(function* () {
          const server = yield* startScp({ timeouts: { acse: "400 millis" } })
          const peer = yield* promise(() => connectPeer(server.port))
          peer.send(bytes())
          const first = yield* promise(() => peer.next(3000))
          const closed = yield* promise(() => peer.closed(3000))
          peer.destroy()
          assert.match(show(first), /^A-ABORT 2\//, `got ${show(first)}`)
          assert.strictEqual(closed, "closed")
        }),
      10_000
    )
  }

  const sta6: ReadonlyArray<[string, () => Uint8Array]> = [
    ["a second A-ASSOCIATE-RQ", () => encode(associateRq())],
    ["A-ASSOCIATE-AC", () => encode({ ...associateRq(), _tag: "AAssociateAc", presentationContexts: [] })],
    ["A-RELEASE-RP", () => encode({ _tag: "AReleaseRp" })]
  ]
  for (const [name, bytes] of sta6) {
    it.live(
      `${name} in Sta6: A-ABORT (provider, unexpected PDU), the server serves on`,
      () =>
        Effect.gen(function* () {
          const server = yield* startScp()
          const peer = yield* ac(server.port)
          peer.send(bytes())
          const outcome = yield* promise(() => untilAbortOrClose(peer, 3000))
          peer.destroy()
          assert.strictEqual(outcome, "A-ABORT 2/2")
          assert.isTrue(yield* promise(() => echoStillWorks(server.port)))
        }),
      10_000
    )
  }

  it.live(
    "A-ASSOCIATE-RQ twice in one TCP segment (Sta3): the second aborts, nothing hangs",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ timeouts: { acse: "400 millis" } })
        const peer = yield* promise(() => connectPeer(server.port))
        const rq = encode(associateRq())
        const both = new Uint8Array(rq.length * 2)
        both.set(rq)
        both.set(rq, rq.length)
        peer.send(both)
        const outcome = yield* promise(() => untilAbortOrClose(peer, 4000))
        const closed = yield* promise(() => peer.closed(4000))
        peer.destroy()
        assert.match(outcome, /^A-ABORT|^closed$/)
        assert.strictEqual(closed, "closed")
        assert.strictEqual(yield* waitActive(server, 3000), 0)
      }),
    15_000
  )

  it.live(
    "A-RELEASE-RQ twice: A-RELEASE-RP then close, or A-ABORT 2/2 when the second arrives in Sta8 (AA-8)",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ timeouts: { acse: "400 millis" } })
        const peer = yield* ac(server.port)
        const rq = encode({ _tag: "AReleaseRq" })
        peer.send(rq)
        peer.send(rq)
        const first = yield* promise(() => peer.next(3000))
        const closed = yield* promise(() => peer.closed(4000))
        peer.destroy()
        assert.include(["PDU 0x06", "A-ABORT 2/2"], show(first))
        assert.strictEqual(closed, "closed")
      }),
    10_000
  )

  it.live(
    "A-ABORT then more PDUs (C-ECHO, A-RELEASE-RQ): no answer, connection closed, server serves on",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp()
        const peer = yield* ac(server.port)
        peer.send(encode({ _tag: "AAbort", source: 0, reason: 0 }))
        peer.send(
          pdata(1, true, true, command({ _tag: "CEchoRq", messageId: 1, affectedSopClassUid: "1.2.840.10008.1.1" }))
        )
        peer.send(encode({ _tag: "AReleaseRq" }))
        const next = yield* promise(() => peer.next(3000))
        peer.destroy()
        assert.strictEqual(show(next), "closed")
        assert.strictEqual(yield* waitActive(server, 3000), 0)
        assert.isTrue(yield* promise(() => echoStillWorks(server.port)))
      }),
    10_000
  )

  it.live(
    "connection reset in the middle of an A-ASSOCIATE-RQ and of a P-DATA-TF: slots freed, server serves on",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp()
        const p1 = yield* promise(() => connectPeer(server.port))
        p1.send(encode(associateRq()).subarray(0, 40))
        yield* Effect.sleep("50 millis")
        p1.socket.resetAndDestroy()
        const p2 = yield* ac(server.port)
        p2.send(pdata(3, false, false, new Uint8Array(1000)).subarray(0, 500))
        yield* Effect.sleep("50 millis")
        p2.socket.resetAndDestroy()
        assert.strictEqual(yield* waitActive(server, 3000), 0)
        assert.isTrue(yield* promise(() => echoStillWorks(server.port)))
      }),
    10_000
  )

  it.live(
    "connection reset in the middle of a C-STORE data set: the storage handler fails or is interrupted, never a short success",
    () =>
      Effect.gen(function* () {
        const seen = yield* Ref.make<string>("nothing")
        const server = yield* startScp({
          storage: {
            store: (request) =>
              Effect.gen(function* () {
                const r = yield* Stream.runCollect(request.dataSet).pipe(Effect.result)
                yield* Ref.set(seen, r._tag === "Success" ? `success with ${r.success.length} fragments` : "failure")
                return { status: Status.SUCCESS }
              }).pipe(Effect.onInterrupt(() => Ref.set(seen, "interrupted")))
          }
        })
        const peer = yield* ac(server.port)
        peer.send(
          pdata(
            3,
            true,
            true,
            command({
              _tag: "CStoreRq",
              messageId: 3,
              affectedSopClassUid: CT,
              affectedSopInstanceUid: "1.2.3",
              priority: 0
            })
          )
        )
        peer.send(pdata(3, false, false, new Uint8Array(2000)))
        yield* Effect.sleep("100 millis")
        peer.socket.resetAndDestroy()
        yield* waitActive(server, 3000)
        yield* Effect.sleep("100 millis")
        assert.include(["failure", "interrupted"], yield* Ref.get(seen))
      }),
    10_000
  )
})

describe("the association limit", () => {
  it.live(
    "200 concurrent A-ASSOCIATE-RQs against maxAssociations 64: 64 accepted, 136 A-ASSOCIATE-RJ 2/3/2, then it serves",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ timeouts: { acse: "5 seconds" } })
        const peers = yield* promise(() => Promise.all(Array.from({ length: 200 }, () => connectPeer(server.port))))
        for (const p of peers) p.send(encode(associateRq()))
        const answers = yield* promise(() => Promise.all(peers.map((p) => p.next(8000))))
        const tally = new Map<string, number>()
        for (const a of answers) tally.set(show(a), (tally.get(show(a)) ?? 0) + 1)
        for (const p of peers) p.destroy()
        assert.deepStrictEqual(
          Object.fromEntries(tally),
          { "PDU 0x02": 64, "A-ASSOCIATE-RJ 2/3/2": 136 },
          JSON.stringify(Object.fromEntries(tally))
        )
        assert.strictEqual(yield* waitActive(server, 5000), 0)
        assert.isTrue(yield* promise(() => echoStillWorks(server.port)))
      }),
    30_000
  )

  // Judgement call, not a PS3.8 rule: connections that have sent nothing yet count against maxAssociations until
  // ARTIM closes them (30 s by default), so maxAssociations idle sockets, reopened every ARTIM, lock everyone out.
  it.live(
    "two idle TCP connections (no A-ASSOCIATE-RQ) do not lock a real association out of maxAssociations 2",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ maxAssociations: 2, timeouts: { acse: "3 seconds" } })
        const idle = [yield* promise(() => connectPeer(server.port)), yield* promise(() => connectPeer(server.port))]
        yield* Effect.sleep("100 millis")
        const outcome = yield* promise(() =>
          associated(server.port).then(
            (p) => {
              p.destroy()
              return "accepted"
            },
            (e: unknown) => String(e)
          )
        )
        for (const p of idle) p.destroy()
        assert.strictEqual(outcome, "accepted")
      }),
    10_000
  )
})
