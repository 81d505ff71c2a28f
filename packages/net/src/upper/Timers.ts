/**
 * Timers on the Clock of the fiber that made them, without a fiber per timer where the Clock allows.
 *
 * The timers of an association (ARTIM, the idle watch, the ACSE and DIMSE response deadlines) are armed and
 * disarmed on every association, nearly always disarmed before they fire. `Effect.sleep` in a forked fiber, or
 * `Effect.timeoutOrElse` (a race of two forked fibers, one of them sleeping), costs fibers, scheduler turns and
 * interruptions for each. Here, with Effect's own Clock a timer is a plain `setTimeout`; with any other Clock (the
 * TestClock of the tests, a user's) it is a sleep on that Clock in a fiber of its own, so time still passes the way
 * that Clock says. Either way the callback runs synchronously when the time is up; closing the scope the timers were
 * made in cancels those still armed.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"

/** Timers bound to one Clock. */
export interface Timers {
  /** The Clock's monotonic time, in milliseconds (a step of the system time changes nothing). */
  readonly now: () => number
  /** Runs `fire` once `millis` have passed on the Clock, unless the returned cancel ran first (it may run twice). */
  readonly after: (millis: number, fire: () => void) => () => void
  /**
   * Waits for `deferred`; if it is not done within `duration`, stops waiting and runs `orElse` instead (what
   * `Effect.timeoutOrElse` does with a `Deferred.await`, with no fiber forked).
   */
  readonly awaitWithin: <A, E, A2, E2>(
    deferred: Deferred.Deferred<A, E>,
    duration: Duration.Duration,
    orElse: () => Effect.Effect<A2, E2>
  ) => Effect.Effect<A | A2, E | E2>
}

// Effect's own Clock, the default of the reference (setTimeout underneath).
const liveClock = Context.get(Context.empty(), Clock.Clock)

// setTimeout's limit (a longer delay fires at once).
const MAX_TIMER_MILLIS = 2 ** 31 - 1

const NOOP = () => {}

// What Effect's own Clock reads for its monotonic time in Node (`process.hrtime.bigint`), in milliseconds: the same
// clock, without the two calls through the Clock service.
const hrtime = globalThis.process?.hrtime
const liveNow: () => number =
  typeof hrtime?.bigint === "function"
    ? () => Number(hrtime.bigint() / 1_000_000n)
    : () => Number(liveClock.monotonicTimeNanosUnsafe() / 1_000_000n)

/** Timers and what cancels those still armed, for a maker that cancels them in a finalizer of its own. */
export interface Owned extends Timers {
  /** Cancels every timer still armed. */
  readonly cancelAll: () => void
}

// Timers on one Clock: a class, so that every association's timers share its methods rather than making closures.
class ClockTimers implements Owned {
  readonly #context: Context.Context<never>
  readonly #clock: Clock.Clock
  readonly #live: boolean
  // Timers armed and not yet fired or cancelled.
  readonly #armed = new Set<() => void>()
  #runFork: ((effect: Effect.Effect<void>) => Fiber.Fiber<void>) | undefined = undefined
  // On the monotonic clock: the wall clock steps when the system time is corrected, which would end a wait early
  // (a step forward) or stretch it (a step back).
  // With Effect's own Clock, its monotonic source read directly (the idle watch reads it once per socket read).
  readonly now: () => number

  constructor(context: Context.Context<never>) {
    const clock = Context.get(context, Clock.Clock)
    this.#context = context
    this.#clock = clock
    this.#live = clock === liveClock
    this.now = this.#live ? liveNow : () => Number(clock.monotonicTimeNanosUnsafe() / 1_000_000n)
  }

  cancelAll(): void {
    for (const cancel of this.#armed) cancel()
    this.#armed.clear()
  }

  after(millis: number, fire: () => void): () => void {
    if (!(millis < Infinity)) return NOOP
    const armed = this.#armed
    let cancel: () => void
    const run = () => {
      armed.delete(cancel)
      fire()
    }
    if (this.#live && millis <= MAX_TIMER_MILLIS) {
      const handle = setTimeout(run, Math.max(millis, 0))
      cancel = () => {
        armed.delete(cancel)
        clearTimeout(handle)
      }
    } else {
      let fiber: Fiber.Fiber<void> | undefined
      cancel = () => {
        armed.delete(cancel)
        fiber?.interruptUnsafe()
        fiber = undefined
      }
      this.#runFork ??= Effect.runForkWith(this.#context)
      fiber = this.#runFork(Effect.andThen(this.#clock.sleep(Duration.millis(millis)), Effect.sync(run)))
      // A sleep of nothing may already have fired.
      if (fiber.pollUnsafe() !== undefined) return NOOP
    }
    armed.add(cancel)
    return cancel
  }

  awaitWithin<A, E, A2, E2>(
    deferred: Deferred.Deferred<A, E>,
    duration: Duration.Duration,
    orElse: () => Effect.Effect<A2, E2>
  ): Effect.Effect<A | A2, E | E2> {
    return Effect.callback<A | A2, E | E2>((resume) => {
      if (deferred.effect !== undefined) return resume(deferred.effect)
      const unregister = () => {
        const resumes = deferred.resumes
        if (resumes === undefined) return
        const index = resumes.indexOf(onDone)
        if (index >= 0) resumes.splice(index, 1)
      }
      const onDone = (effect: Effect.Effect<A, E>) => {
        cancel()
        resume(effect)
      }
      ;(deferred.resumes ??= []).push(onDone)
      const cancel = this.after(Duration.toMillis(duration), () => {
        unregister()
        resume(Effect.suspend(orElse))
      })
      return Effect.sync(() => {
        cancel()
        unregister()
      })
    })
  }
}

/**
 * Timers on the Clock of `context`, whose timers that are not on Effect's own Clock run with its services; made at
 * once, with no finalizer: the maker calls `cancelAll` as its scope closes (one finalizer for all it holds). Their
 * functions are methods: call them on the timers (`timers.after(...)`), not detached.
 */
export const makeUnsafe = (context: Context.Context<never>): Owned => new ClockTimers(context)

/** Timers on the current fiber's Clock, cancelled when the current scope closes. */
export const make: Effect.Effect<Timers, never, Scope.Scope> = Effect.withFiber((fiber) => {
  const timers = makeUnsafe(fiber.context as Context.Context<never>)
  // A finalizer on the scope itself: Effect.addFinalizer would merge the whole context into the closing fiber's
  // to run it, a copy of every service per finalizer per association, for a callback that reads none.
  return Effect.as(
    Scope.addFinalizer(
      Context.get(fiber.context as Context.Context<Scope.Scope>, Scope.Scope),
      Effect.sync(() => timers.cancelAll())
    ),
    timers as Timers
  )
})
