/**
 * How `netdicom` ends on a signal. The first SIGINT (Ctrl-C) or SIGTERM interrupts the command: its associations are
 * released or aborted, a C-FIND, C-GET or C-MOVE under way is cancelled first (C-CANCEL, then the peer's final
 * response awaited within `timeouts.cancel`), and the process exits with the signal's own code, 128 + its number
 * (SIGINT 130, SIGTERM 143). A second signal aborts at once the associations the command registered
 * (`abortOnRepeat`) instead of waiting for the peer.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import type { Association } from "@netdicom/net"

/** The signals that stop the command, and the exit code each gives (128 + the signal's number). */
export const EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const

/** A signal that stops the command. */
export type StopSignal = keyof typeof EXIT_CODES

// What a repeated signal runs: aborts of the associations open now.
const onRepeat = new Set<() => void>()

/**
 * Registers `association`, for the current scope, to be aborted (A-ABORT) at once when a second signal comes while
 * the command is stopping (waiting for a final response after its C-CANCEL, say).
 */
export const abortOnRepeat = (association: Association.Association): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const abort = () => void Effect.runFork(association.abort)
      onRepeat.add(abort)
      return abort
    }),
    (abort) => Effect.sync(() => void onRepeat.delete(abort))
  ).pipe(Effect.asVoid)

/** The exit code of a command that ended with `exit`, stopped by `signal` if one came. */
export const exitCode = <A, E>(
  exit: Exit.Exit<A, E>,
  signal: StopSignal | undefined,
  fallback: (exit: Exit.Exit<A, E>) => number
): number =>
  signal !== undefined && Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)
    ? EXIT_CODES[signal]
    : fallback(exit)

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
  const on = (s: StopSignal) => () => {
    if (signal === undefined) {
      signal = s
      fiber.interruptUnsafe(fiber.id)
      return
    }
    for (const abort of onRepeat) abort()
  }
  const onSigint = on("SIGINT")
  const onSigterm = on("SIGTERM")
  fiber.addObserver((exit) => {
    process.removeListener("SIGINT", onSigint)
    process.removeListener("SIGTERM", onSigterm)
    const code = exitCode(exit, signal, defaultCode)
    // As NodeRuntime: a command that succeeded unsignalled lets Node exit once nothing is left to run.
    if (signal !== undefined || code !== 0) process.exit(code)
  })
  process.on("SIGINT", onSigint)
  process.on("SIGTERM", onSigterm)
})

/**
 * Runs the command as the process's main fiber (as `NodeRuntime.runMain` does, errors not reported): the first
 * SIGINT or SIGTERM interrupts it and sets the exit code, a repeated one runs the aborts of `abortOnRepeat`.
 */
export const runMain = <E, A>(effect: Effect.Effect<A, E>): void => run(effect, { disableErrorReporting: true })
