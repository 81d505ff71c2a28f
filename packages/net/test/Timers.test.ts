/**
 * Timers on the fiber's Clock: with Effect's own Clock a plain setTimeout, with the TestClock a sleep on it. Either
 * way a timer fires once, not before its time, not after it was cancelled or its scope closed; `awaitWithin` answers
 * the Deferred's value when it comes in time and `orElse` when it does not, and leaves no waiter behind.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Duration, Effect, Exit, Fiber, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Timers from "../src/upper/Timers.ts"

describe("Timers", () => {
  it.live("with Effect's Clock: now is its monotonic time in milliseconds", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const timers = yield* Timers.make
        const before = Number((yield* Clock.monotonicTimeNanos) / 1_000_000n)
        const now = timers.now()
        const after = Number((yield* Clock.monotonicTimeNanos) / 1_000_000n)
        assert.isAtLeast(now, before)
        assert.isAtMost(now, after)
        yield* Effect.sleep("20 millis")
        assert.isAtLeast(timers.now() - now, 15)
      })
    )
  )

  it.live("with Effect's Clock: a timer fires once after its time; a cancelled one never", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const timers = yield* Timers.make
        let fired = 0
        let cancelledFired = 0
        const start = Date.now()
        let firedAt = 0
        timers.after(30, () => {
          fired++
          firedAt = Date.now()
        })
        const cancel = timers.after(10, () => cancelledFired++)
        cancel()
        cancel()
        yield* Effect.sleep("80 millis")
        assert.strictEqual(fired, 1)
        assert.isAtLeast(firedAt - start, 25)
        assert.strictEqual(cancelledFired, 0)
      })
    )
  )

  it.live("with Effect's Clock: closing the scope cancels the timers still armed", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const timers = yield* Scope.provide(Timers.make, scope)
      let fired = 0
      timers.after(20, () => fired++)
      yield* Scope.close(scope, Exit.void)
      yield* Effect.sleep("60 millis")
      assert.strictEqual(fired, 0)
    })
  )

  it.live("made at once (makeUnsafe): cancelAll cancels the timers still armed, on either Clock", () =>
    Effect.gen(function* () {
      const timers = Timers.makeUnsafe(yield* Effect.context<never>())
      let fired = 0
      timers.after(20, () => fired++)
      timers.after(30, () => fired++)
      timers.cancelAll()
      yield* Effect.sleep("60 millis")
      assert.strictEqual(fired, 0)
    })
  )

  it.effect("made at once on the TestClock: cancelAll stops the sleeping timers", () =>
    Effect.gen(function* () {
      const timers = Timers.makeUnsafe(yield* Effect.context<never>())
      let fired = 0
      timers.after(1000, () => fired++)
      timers.cancelAll()
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(fired, 0)
      timers.after(1000, () => fired++)
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(fired, 1)
    })
  )

  it.live("with Effect's Clock: awaitWithin answers the value in time, orElse past the deadline", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const timers = yield* Timers.make
        const soon = yield* Deferred.make<number, string>()
        yield* Effect.forkScoped(Effect.andThen(Effect.sleep("10 millis"), Deferred.succeed(soon, 1)))
        assert.strictEqual(yield* timers.awaitWithin(soon, Duration.seconds(5), () => Effect.succeed(-1)), 1)
        const failed = yield* Deferred.make<number, string>()
        yield* Deferred.fail(failed, "boom")
        assert.strictEqual(
          yield* Effect.flip(timers.awaitWithin(failed, Duration.seconds(5), () => Effect.succeed(-1))),
          "boom"
        )
        const never = yield* Deferred.make<number, string>()
        const late = yield* timers.awaitWithin(never, Duration.millis(20), () => Effect.succeed(-1))
        assert.strictEqual(late, -1)
        // The waiter that timed out is gone from the Deferred.
        assert.strictEqual(never.resumes?.length ?? 0, 0)
      })
    )
  )

  it.effect("with the TestClock: the deadline passes only when the TestClock says so", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const timers = yield* Timers.make
        let fired = 0
        timers.after(1000, () => fired++)
        const never = yield* Deferred.make<number>()
        const waiting = yield* Effect.forkScoped(
          timers.awaitWithin(never, Duration.seconds(30), () => Effect.succeed(-1))
        )
        yield* TestClock.adjust("999 millis")
        assert.strictEqual(fired, 0)
        yield* TestClock.adjust("1 millis")
        assert.strictEqual(fired, 1)
        yield* TestClock.adjust("28 seconds")
        assert.isUndefined(waiting.pollUnsafe())
        yield* TestClock.adjust("1 second")
        assert.deepStrictEqual(yield* Fiber.await(waiting), Exit.succeed(-1))
        // Interrupted while waiting: the waiter and the timer go.
        const other = yield* Deferred.make<number>()
        const interrupted = yield* Effect.forkScoped(
          timers.awaitWithin(other, Duration.seconds(5), () => Effect.succeed(-1))
        )
        yield* Effect.yieldNow
        yield* Fiber.interrupt(interrupted)
        assert.strictEqual(other.resumes?.length ?? 0, 0)
      })
    )
  )
})
