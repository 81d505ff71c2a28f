/**
 * How a program ends on a signal, for a program of C-FINDs, C-GETs and C-MOVEs that should cancel them on Ctrl-C
 * rather than abort their associations (the `netdicom` command runs on it). Run its main with `runMain` in place of
 * `NodeRuntime.runMain`. While a C-FIND, C-GET or C-MOVE is under way with `cancelWhen: yield* cancelOnSignal`, the
 * first SIGINT (Ctrl-C) or SIGTERM cancels it: C-CANCEL goes out, the peer's final response (0xFE00 with its counts)
 * still reaches the program as its last response, and the association stays, to be released. Otherwise the first
 * signal interrupts the program: its associations are released or aborted. Either way the process then exits with
 * the signal's own code, 128 + its number (SIGINT 130, SIGTERM 143), unless the program succeeded all the same (then
 * as it would have). A second signal aborts at once the associations registered with `abortOnRepeat` and interrupts
 * the program, instead of waiting for the peer (a final response after the C-CANCEL, an A-RELEASE-RP).
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import type * as Association from "../association/Association.ts"

/** The signals that stop the program, and the exit code each gives (128 + the signal's number). */
export const EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const

/** A signal that stops the program. */
export type StopSignal = keyof typeof EXIT_CODES

// What a repeated signal runs: aborts of the associations open now.
const onRepeat = new Set<() => void>()

/**
 * Registers `association` to be aborted (A-ABORT) at once when a second signal comes while the program is stopping
 * (waiting for a final response after its C-CANCEL, say, or for the peer's A-RELEASE-RP as the scope closes): it
 * stays registered until the association has ended, released or aborted, not only until the scope closes, since
 * its release runs after that.
 */
export const abortOnRepeat = (association: Association.Association): Effect.Effect<void> =>
  Effect.gen(function* () {
    const abort = () => void Effect.runFork(association.abort)
    onRepeat.add(abort)
    yield* Effect.forkDetach(
      Effect.andThen(
        association.ended,
        Effect.sync(() => void onRepeat.delete(abort))
      )
    )
  })

// What a first signal runs instead of interrupting the program: cancels of the operations under way.
const onFirst = new Set<() => void>()

/**
 * For the current scope: an effect that completes when the first SIGINT or SIGTERM comes, which then does not
 * interrupt the program (run by `runMain`). Give it to `Scu.find`/`get`/`move` as `cancelWhen`: the operation is
 * cancelled and its final response still reaches the program.
 */
export const cancelOnSignal: Effect.Effect<Effect.Effect<void>, never, Scope.Scope> = Effect.gen(function* () {
  const signalled = yield* Deferred.make<void>()
  const cancel = () => void Deferred.doneUnsafe(signalled, Exit.void)
  yield* Effect.acquireRelease(
    Effect.sync(() => onFirst.add(cancel)),
    () => Effect.sync(() => void onFirst.delete(cancel))
  )
  return Deferred.await(signalled)
})

/**
 * The exit code of a program that ended with `exit`, stopped by `signal` if one came: the signal's code when it did
 * not succeed (interrupted, or ended after cancelling its operation), otherwise `fallback`.
 */
export const exitCode = <A, E>(
  exit: Exit.Exit<A, E>,
  signal: StopSignal | undefined,
  fallback: (exit: Exit.Exit<A, E>) => number
): number => (signal !== undefined && Exit.isFailure(exit) ? EXIT_CODES[signal] : fallback(exit))

const defaultCode = <A, E>(exit: Exit.Exit<A, E>): number => {
  let code = 1
  Runtime.defaultTeardown(exit, (c) => {
    code = c
  })
  return code
}

// The main fiber with our signal handlers (in place of NodeRuntime's, which give every interruption 130).
const run = Runtime.makeRunMain(({ fiber }) => {
  let signal: StopSignal | undefined
  // Whether the first signal cancelled an operation rather than interrupting the program.
  let cancelled = false
  const on = (s: StopSignal) => () => {
    if (signal === undefined) {
      signal = s
      if (onFirst.size > 0) {
        cancelled = true
        for (const cancel of onFirst) cancel()
        return
      }
      fiber.interruptUnsafe(fiber.id)
      return
    }
    for (const abort of onRepeat) abort()
    if (cancelled) {
      cancelled = false
      fiber.interruptUnsafe(fiber.id)
    }
  }
  const onSigint = on("SIGINT")
  const onSigterm = on("SIGTERM")
  fiber.addObserver((exit) => {
    process.removeListener("SIGINT", onSigint)
    process.removeListener("SIGTERM", onSigterm)
    const code = exitCode(exit, signal, defaultCode)
    // As NodeRuntime: a program that succeeded unsignalled lets Node exit once nothing is left to run.
    if (signal !== undefined || code !== 0) process.exit(code)
  })
  process.on("SIGINT", onSigint)
  process.on("SIGTERM", onSigterm)
})

/**
 * Runs the program as the process's main fiber (as `NodeRuntime.runMain` does, but errors are not reported: report
 * them yourself): the first SIGINT or SIGTERM cancels what `cancelOnSignal` registered, or else interrupts the
 * program, and sets the exit code; a repeated one runs the aborts of `abortOnRepeat` (and interrupts a program whose
 * operation it had cancelled).
 */
export const runMain = <E, A>(effect: Effect.Effect<A, E>): void => run(effect, { disableErrorReporting: true })
