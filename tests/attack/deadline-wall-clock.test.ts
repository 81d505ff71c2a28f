/**
 * requestOne's single deadline timer keeps each request's deadline as a time of the Clock: it took the wall clock
 * (`currentTimeMillisUnsafe`, Date.now), which steps when the system time is corrected (NTP, a VM resumed). A step
 * forward of a minute made a request answered in time (4.5 s into a 5 s DIMSE timeout) time out at once when the
 * timer woke, and abort the association; a step back would have let one wait a minute past its timeout. Deadlines
 * are kept on the monotonic clock now. (The per-request race it replaced slept a relative time, unaffected.)
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Exit, Option } from "effect"
import { Scu } from "@netdicom/net"
import { connectScu, scopedEchoScp, scuAe, steppedClock, within } from "./hotpath-support.ts"

describe("requestOne's deadlines and a step of the wall clock", () => {
  it.live(
    "the wall clock steps a minute forward: a C-ECHO answered 4.5 s into its 5 s timeout succeeds",
    () =>
      Effect.gen(function* () {
        const scp = yield* scopedEchoScp((nth) => (nth === 1 ? 1000 : 4500))
        const live = yield* Clock.Clock
        const offset = { ms: 0 }
        const outcome = yield* within(
          15_000,
          Effect.scoped(
            Effect.gen(function* () {
              const channel = yield* connectScu(scp.port, scuAe({ dimse: "5 seconds", idle: "60 seconds" }))
              // The first C-ECHO arms the timer for its deadline (5 s), and is answered after 1 s.
              const first = yield* Effect.exit(Scu.echo(channel))
              // The second waits while the timer still sleeps for the first's deadline; the time steps meanwhile.
              yield* Effect.forkChild(
                Effect.andThen(
                  Effect.sleep("1 second"),
                  Effect.sync(() => (offset.ms = 60_000))
                )
              )
              const second = yield* Effect.exit(Scu.echo(channel))
              return { first, second }
            })
          ).pipe(Effect.provideService(Clock.Clock, steppedClock(live, offset)))
        )
        assert.isTrue(Option.isSome(outcome), "nothing hangs")
        const { first, second } = Option.getOrThrow(outcome)
        assert.isTrue(Exit.isSuccess(first))
        assert.isTrue(Exit.isSuccess(second), `answered within its timeout: ${String(second)}`)
      }),
    30_000
  )
})
