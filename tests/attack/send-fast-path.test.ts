/**
 * The send path's fast lane: a whole message with a free window slot and nobody else sending is written at once,
 * without the send and write locks (DimseChannel `beginWhole`, UpperLayer `writePData`, OperationsWindow). Where it
 * cannot be (a slot to wait for, a streamed message holding the lock, a socket that must drain), the slow path must
 * keep what it kept before: the window's bound, whole messages never interleaved, the write deadline.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Option, Result, Stream } from "effect"
import { ApplicationEntity, DimseChannel, Scp, Scu } from "@netdicom/net"
import { type Dimse, Status } from "@netdicom/wire"
import { connectScu, scopedRawScp, scuAe, within } from "./hotpath-support.ts"

const CT = "1.2.840.10008.5.1.4.1.1.2"
const EXPLICIT = "1.2.840.10008.1.2.1"
const VERIFICATION = "1.2.840.10008.1.1"

const ae = (aeTitle: string, window: number) =>
  Result.getOrThrow(
    ApplicationEntity.make({
      aeTitle,
      maxOperationsInvoked: window,
      maxOperationsPerformed: window,
      contexts: [
        { abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
        { abstractSyntax: VERIFICATION, transferSyntaxes: ["1.2.840.10008.1.2"] }
      ],
      timeouts: { acse: "2 seconds", connect: "2 seconds", dimse: "10 seconds", write: "2 seconds" }
    })
  )

// A netdicom SCP taking C-STOREs into `stored` (UID -> bytes), each answered once `gate` (if given) is open.
const storeScp = (window: number, stored: Map<string, number>, gate?: Deferred.Deferred<void>) =>
  Scp.serve(ae("NETDICOM-SCP", window), { port: 0 }).pipe(
    Effect.provide(
      Layer.succeed(Scp.StorageService)({
        store: (request) =>
          Effect.gen(function* () {
            let bytes = 0
            yield* Stream.runForEach(request.dataSet, (chunk) => Effect.sync(() => (bytes += chunk.length)))
            if (gate !== undefined) yield* Deferred.await(gate)
            stored.set(request.sopInstanceUid, bytes)
            return { status: Status.SUCCESS }
          }).pipe(Effect.orDie)
      })
    )
  )

const connect = (port: number, window: number) =>
  Scu.connect(ae("NETDICOM-SCU", window), {
    host: "127.0.0.1",
    port,
    calledAeTitle: "NETDICOM-SCP",
    contexts: [
      { abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
      { abstractSyntax: VERIFICATION, transferSyntaxes: ["1.2.840.10008.1.2"] }
    ]
  })

const store = (channel: DimseChannel.DimseChannel, uid: string, dataSet: DimseChannel.DataSource) =>
  Scu.store(channel, { sopClassUid: CT, sopInstanceUid: uid, transferSyntax: EXPLICIT, dataSet })

describe("the send path's fast lane and its fallbacks", () => {
  it.live("a window of 2: the third request waits; interrupted while waiting, it leaves no slot taken", () =>
    Effect.gen(function* () {
      const stored = new Map<string, number>()
      const gate = yield* Deferred.make<void>()
      const server = yield* storeScp(2, stored, gate)
      const channel = yield* connect(server.port, 2)
      assert.strictEqual(channel.association.negotiated.maxOperationsInvoked, 2)
      const first = yield* Effect.forkChild(store(channel, "1.1", new Uint8Array(1000)))
      const second = yield* Effect.forkChild(store(channel, "1.2", new Uint8Array(1000)))
      const third = yield* Effect.forkChild(store(channel, "1.3", new Uint8Array(1000)))
      yield* Effect.sleep("200 millis")
      assert.isUndefined(third.pollUnsafe(), "the third waits for a slot")
      yield* Fiber.interrupt(third)
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual((yield* Fiber.join(first)).status, 0)
      assert.strictEqual((yield* Fiber.join(second)).status, 0)
      // Both slots are free again: two more at once, then a C-ECHO.
      const more = yield* Effect.all(
        [store(channel, "1.4", new Uint8Array(10)), store(channel, "1.5", new Uint8Array(10))],
        {
          concurrency: 2
        }
      ).pipe(Effect.timeout("5 seconds"))
      assert.deepStrictEqual(
        more.map((r) => r.status),
        [0, 0]
      )
      assert.strictEqual((yield* Scu.echo(channel)).status, 0)
      assert.isFalse(stored.has("1.3"), "the interrupted request was never sent")
    }).pipe(Effect.scoped)
  )

  it.live("whole messages sent while a streamed one holds the send lock wait for it: nothing interleaves", () =>
    Effect.gen(function* () {
      const stored = new Map<string, number>()
      const server = yield* storeScp(8, stored)
      const channel = yield* connect(server.port, 8)
      const chunk = new Uint8Array(64 << 10)
      const results = yield* Effect.all(
        [
          store(channel, "2.0", Stream.range(1, 40).pipe(Stream.map(() => chunk))),
          ...Array.from({ length: 12 }, (_, i) => store(channel, `2.${i + 1}`, new Uint8Array(30_000 + i * 2))),
          Effect.map(Scu.echo(channel), (r) => ({ ...r, sopInstanceUid: "echo" }))
        ],
        { concurrency: 8 }
      )
      assert.isTrue(results.every((r) => r.status === 0))
      assert.strictEqual(stored.get("2.0"), 40 * (64 << 10))
      for (let i = 0; i < 12; i++) assert.strictEqual(stored.get(`2.${i + 1}`), 30_000 + i * 2)
    }).pipe(Effect.scoped)
  )

  it.live(
    "whole messages written at once to a peer that stops reading: past the socket's limit the write deadline ends it",
    () =>
      Effect.gen(function* () {
        const scp = yield* scopedRawScp({ stopReading: true })
        const started = Date.now()
        const exit = yield* within(
          8000,
          Effect.exit(
            Effect.scoped(
              Effect.flatMap(connectScu(scp.port, scuAe({ write: "500 millis", dimse: "30 seconds" })), (channel) =>
                Effect.gen(function* () {
                  const context = Result.getOrThrow(channel.findContext(CT, "SCU"))
                  // 200 KB messages, each one write (no response awaited): the kernel's buffers, then 1 MiB in the
                  // socket, then the wait for it to drain, which the 0.5 s deadline ends.
                  for (let i = 1; i <= 200; i++) {
                    const rq: Dimse.CStoreRq = {
                      _tag: "CStoreRq",
                      messageId: i,
                      affectedSopClassUid: CT,
                      affectedSopInstanceUid: `3.${i}`,
                      priority: 0
                    }
                    yield* channel.send(context, rq, new Uint8Array(200_000))
                  }
                })
              )
            )
          )
        )
        assert.isTrue(Option.isSome(exit), "ended within 8 s")
        const e = Option.getOrThrow(exit)
        assert.isTrue(Exit.isFailure(e), "40 MB cannot have been taken by a peer that reads nothing")
        assert.isBelow(Date.now() - started, 4000, "ended by the 0.5 s write deadline")
      }),
    10_000
  )
})
