/** The incoming data set buffer: order, backpressure, failure after what was buffered, discard, and no busy waiting. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Stream, Tracer } from "effect"
import { AssociationAborted } from "../src/association/AssociationError.ts"
import * as Inflow from "../src/dimse/Inflow.ts"

const bytes = (n: number, v: number) => new Uint8Array(n).fill(v)

describe("Inflow", () => {
  it.effect("delivers fragments in order, then ends", () =>
    Effect.gen(function* () {
      const inflow = Inflow.make(1 << 20)
      const reader = yield* Effect.forkChild(Stream.runCollect(inflow.stream))
      yield* Effect.yieldNow
      for (let i = 1; i <= 5; i++) {
        assert.isUndefined(inflow.push(bytes(i, i)), "under the limit nobody waits")
        yield* Effect.yieldNow
      }
      assert.isUndefined(inflow.push(new Uint8Array(0)), "an empty fragment is nothing")
      inflow.end()
      const got = yield* Fiber.join(reader)
      assert.deepStrictEqual(
        got.map((c) => c.length),
        [1, 2, 3, 4, 5]
      )
    })
  )

  it.effect("past the limit the receiver waits until the reader has taken the bytes", () =>
    Effect.gen(function* () {
      const inflow = Inflow.make(100)
      assert.isUndefined(inflow.push(bytes(60, 1)))
      const wait = inflow.push(bytes(60, 2))
      assert.isDefined(wait, "120 bytes unread: wait")
      const waiting = yield* Effect.forkChild(wait!)
      yield* Effect.yieldNow
      assert.isUndefined(waiting.pollUnsafe(), "nobody has read yet")
      const reader = yield* Effect.forkChild(Stream.runCollect(Stream.take(inflow.stream, 2)))
      yield* Fiber.join(waiting)
      const got = yield* Fiber.join(reader)
      assert.deepStrictEqual(
        got.map((c) => c[0]),
        [1, 2]
      )
    })
  )

  it.effect("a failure reaches the reader after the fragments already buffered", () =>
    Effect.gen(function* () {
      const inflow = Inflow.make(1 << 20)
      inflow.push(bytes(4, 7))
      inflow.fail(new AssociationAborted({ by: "peer", source: 0, reason: 0, detail: "gone" }))
      const seen: Array<number> = []
      const exit = yield* Effect.exit(Stream.runForEach(inflow.stream, (c) => Effect.sync(() => seen.push(c.length))))
      assert.deepStrictEqual(seen, [4])
      assert.isTrue(Exit.isFailure(exit))
    })
  )

  it.effect("discard drops what is buffered, releases a waiting receiver, and ignores what follows", () =>
    Effect.gen(function* () {
      const inflow = Inflow.make(10)
      const wait = inflow.push(bytes(20, 1))
      assert.isDefined(wait)
      const waiting = yield* Effect.forkChild(wait!)
      inflow.discard()
      yield* Fiber.join(waiting)
      assert.isUndefined(inflow.push(bytes(1000, 2)), "after discard nothing is held, nobody waits")
      const got = yield* Stream.runCollect(inflow.stream)
      assert.strictEqual(got.length, 0)
    })
  )

  it.effect("a waiting reader woken by a push does not spin (a regression: ~2,000 steps per wake)", () =>
    Effect.gen(function* () {
      const inflow = Inflow.make(1 << 20)
      // counts the reader's runtime steps through the tracer's per-step hook
      let steps = 0
      const tracer = Tracer.make({
        span: (options) => Tracer.externalSpan({ spanId: options.name, traceId: "inflow" }) as never,
        context: (primitive, fiber) => {
          steps++
          return (primitive as unknown as Record<string, (f: unknown) => never>)["~effect/Effect/evaluate"]!(fiber)
        }
      })
      const reader = yield* Effect.forkChild(Effect.withTracer(Stream.runDrain(inflow.stream), tracer))
      yield* Effect.yieldNow
      for (let i = 0; i < 20; i++) {
        inflow.push(bytes(8, i))
        yield* Effect.yieldNow
      }
      inflow.end()
      yield* Fiber.join(reader)
      assert.isAbove(steps, 0)
      assert.isBelow(steps, 1000, `${steps} steps for 20 wakes`)
    })
  )

  it.effect("its streams, built on first use, are Streams read through pipe and stream functions alike", () =>
    Effect.gen(function* () {
      const inflow = Inflow.make(1 << 20)
      assert.isTrue(Stream.isStream(inflow.stream))
      assert.isTrue(Stream.isStream(inflow.lentStream))
      inflow.push(bytes(4, 1))
      inflow.push(bytes(6, 2))
      inflow.end()
      // one channel for every use of a stream: a second read finds the fragments already taken
      const first = inflow.stream.channel
      assert.strictEqual(inflow.stream.channel, first)
      const got = yield* inflow.stream.pipe(
        Stream.map((c) => c.length),
        Stream.runCollect
      )
      assert.deepStrictEqual(got, [4, 6])
      assert.deepStrictEqual(yield* Stream.runCollect(inflow.stream), [])
    })
  )
})
