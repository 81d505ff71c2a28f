/** The Asynchronous Operations Window our requests use: slots taken at once or in order, handed over, given back once. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scheduler } from "effect"
import * as OperationsWindow from "../src/dimse/OperationsWindow.ts"

describe("OperationsWindow", () => {
  it("a free slot is taken at once; past the size, none", () => {
    const window = OperationsWindow.make(2)
    const a = { slot: false }
    const b = { slot: false }
    const c = { slot: false }
    assert.isTrue(window.tryTake(a))
    assert.isTrue(window.tryTake(b))
    assert.isFalse(window.tryTake(c))
    assert.isFalse(c.slot)
    assert.strictEqual(window.inUse(), 2)
    window.release(a)
    window.release(a)
    assert.strictEqual(window.inUse(), 1, "given back once, however often released")
    assert.isTrue(window.tryTake(c))
  })

  it.effect("a slot given back goes to the longest waiting taker, in order; tryTake does not jump the queue", () =>
    Effect.gen(function* () {
      const window = OperationsWindow.make(1)
      const first = { slot: false }
      assert.isTrue(window.tryTake(first))
      const order: Array<string> = []
      const second = { slot: false }
      const third = { slot: false }
      const f2 = yield* Effect.forkChild(
        Effect.andThen(
          window.take(second),
          Effect.sync(() => order.push("second"))
        )
      )
      const f3 = yield* Effect.forkChild(
        Effect.andThen(
          window.take(third),
          Effect.sync(() => order.push("third"))
        )
      )
      yield* Effect.yieldNow
      assert.isFalse(window.tryTake({ slot: false }), "a taker arriving while others wait waits too")
      window.release(first)
      yield* Fiber.join(f2)
      assert.isTrue(second.slot)
      assert.isFalse(third.slot)
      window.release(second)
      yield* Fiber.join(f3)
      assert.deepStrictEqual(order, ["second", "third"])
      assert.strictEqual(window.inUse(), 1)
    })
  )

  it.effect("an interrupted wait takes no slot, and the slot goes to the next taker", () =>
    Effect.gen(function* () {
      const window = OperationsWindow.make(1)
      const first = { slot: false }
      window.tryTake(first)
      const gone = { slot: false }
      const next = { slot: false }
      const fGone = yield* Effect.forkChild(window.take(gone))
      const fNext = yield* Effect.forkChild(window.take(next))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(fGone)
      window.release(first)
      yield* Fiber.join(fNext)
      assert.isFalse(gone.slot)
      assert.isTrue(next.slot)
      window.release(next)
      assert.strictEqual(window.inUse(), 0)
    })
  )

  it.live("a slot given back while a taker yields between its look and its wait is taken, not waited for ever", () =>
    Effect.gen(function* () {
      // The taker's fiber yields after `budget` operations: for one of these, between `take`'s look (no slot) and
      // its wait, while the holder gives its slot back with nobody waiting yet. Before, it waited for ever (budget 3).
      const hung: Array<number> = []
      for (let budget = 1; budget <= 30; budget++) {
        const window = OperationsWindow.make(1)
        const holder = { slot: false }
        assert.isTrue(window.tryTake(holder))
        const taker = { slot: false }
        const waiting = yield* Effect.forkChild(
          window.take(taker).pipe(Effect.provideService(Scheduler.MaxOpsBeforeYield, budget))
        )
        yield* Effect.yieldNow
        window.release(holder)
        const exit = yield* Fiber.await(waiting).pipe(Effect.timeout("100 millis"), Effect.exit)
        if (Exit.isFailure(exit) || !taker.slot) hung.push(budget)
      }
      assert.deepStrictEqual(hung, [])
    })
  )
})
