/**
 * `Scu.storeNow`'s returned effect run more than once. An effect is a description that may be run again: a C-STORE
 * begun now whose effect is run twice must still be one request at the peer (one message id sent once), and every
 * run must get the response. Two paths: the request sent as `storeNow` was called (a free window slot), and the
 * request left waiting for a slot (the window full), sent once its effect runs.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Result, Stream } from "effect"
import { ApplicationEntity, Scp, Scu } from "@netdicom/net"
import type { StoreHandler } from "@netdicom/net"
import { Status } from "@netdicom/wire"
import { CT, EXPLICIT } from "./support.ts"

const contexts = [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT] }]

// An SCP (window 1) whose storage holds every answer until `release` is done; `arrived` lists what it received.
const connected = Effect.gen(function* () {
  const arrived: Array<string> = []
  const release = yield* Deferred.make<void>()
  const storage = Layer.succeed(Scp.StorageService)({
    store: (request: StoreHandler.StoreRequest) =>
      Effect.gen(function* () {
        arrived.push(request.sopInstanceUid)
        yield* Deferred.await(release)
        return { status: Status.SUCCESS }
      })
  })
  const scpAe = Result.getOrThrow(ApplicationEntity.make({ aeTitle: "NETDICOM-SCP", contexts }))
  const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(storage))
  const scuAe = Result.getOrThrow(ApplicationEntity.make({ aeTitle: "NETDICOM-SCU" }))
  const channel = yield* Scu.connect(scuAe, {
    host: "127.0.0.1",
    port: server.port,
    calledAeTitle: "NETDICOM-SCP",
    contexts
  })
  assert.strictEqual(channel.association.negotiated.maxOperationsInvoked, 1)
  return { channel, arrived, release }
})

const input = (uid: string): Scu.StoreInput => ({
  sopClassUid: CT,
  sopInstanceUid: uid,
  transferSyntax: EXPLICIT,
  dataSet: new Uint8Array(64)
})

describe("Scu.storeNow's effect run twice", () => {
  it.live("sent at once: both runs, at the same time, get the response", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { channel, arrived, release } = yield* connected
        const answer = Scu.storeNow(channel, input("1.2.3.1"))
        const both = yield* Effect.forkChild(Effect.all([answer, answer], { concurrency: 2 }))
        yield* Effect.sleep("100 millis")
        yield* Deferred.succeed(release, undefined)
        const [a, b] = yield* Effect.timeout(Fiber.join(both), "3 seconds")
        assert.strictEqual(a.sopInstanceUid, "1.2.3.1")
        assert.strictEqual(b.sopInstanceUid, "1.2.3.1")
        assert.deepStrictEqual(arrived, ["1.2.3.1"])
      })
    )
  )

  it.live("sent once its effect runs (the window full): the request leaves once, both runs get the response", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { channel, arrived, release } = yield* connected
        const first = Scu.storeNow(channel, input("1.2.3.1"))
        // the window (1) is taken by the first: the second waits for its effect to run
        const second = Scu.storeNow(channel, input("1.2.3.2"))
        const both = yield* Effect.forkChild(Effect.all([second, second], { concurrency: 2 }))
        yield* Effect.sleep("100 millis")
        yield* Deferred.succeed(release, undefined)
        assert.strictEqual((yield* first).sopInstanceUid, "1.2.3.1")
        const [a, b] = yield* Effect.timeout(Fiber.join(both), "3 seconds")
        assert.strictEqual(a.sopInstanceUid, "1.2.3.2")
        assert.strictEqual(b.sopInstanceUid, "1.2.3.2")
        yield* Effect.sleep("100 millis")
        assert.deepStrictEqual(arrived, ["1.2.3.1", "1.2.3.2"])
      })
    )
  )

  it.live(
    "sent at once, a run interrupted while it waits: the slot stays taken until the response; a run after gets it",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { channel, arrived, release } = yield* connected
          const answer = Scu.storeNow(channel, input("1.2.3.1"))
          const waiting = yield* Effect.forkChild(answer)
          yield* Effect.sleep("50 millis")
          yield* Effect.timeout(Fiber.interrupt(waiting), "1 second")
          // the request reached the peer: its slot (window 1) stays taken, so the next C-STORE waits for its response
          const next = yield* Effect.forkChild(Scu.store(channel, input("1.2.3.2")))
          yield* Effect.sleep("100 millis")
          assert.deepStrictEqual(arrived, ["1.2.3.1"])
          yield* Deferred.succeed(release, undefined)
          assert.strictEqual((yield* Effect.timeout(answer, "3 seconds")).sopInstanceUid, "1.2.3.1")
          assert.strictEqual((yield* Effect.timeout(Fiber.join(next), "3 seconds")).sopInstanceUid, "1.2.3.2")
          assert.deepStrictEqual(arrived, ["1.2.3.1", "1.2.3.2"])
        })
      )
  )

  it.live("begun and never run, a C-STORE in parts (a stream, or bytes over a batch) holds no window slot", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { channel, arrived, release } = yield* connected
        yield* Deferred.succeed(release, undefined)
        // never run: nothing leaves, and the window (1) stays free for the next request
        Scu.storeNow(channel, { ...input("1.2.3.1"), dataSet: Stream.make(new Uint8Array(64)) })
        Scu.storeNow(channel, { ...input("1.2.3.2"), dataSet: new Uint8Array(1 << 20) })
        const r = yield* Effect.timeout(Scu.store(channel, input("1.2.3.3")), "3 seconds")
        assert.strictEqual(r.sopInstanceUid, "1.2.3.3")
        assert.deepStrictEqual(arrived, ["1.2.3.3"])
      })
    )
  )
})
