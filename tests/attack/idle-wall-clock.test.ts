/**
 * The association's idle timeout measured the time since the last PDU on the wall clock (Date.now): a step of the
 * system time forward (NTP, a resumed VM) between a PDU and the idle watch's next check ended an association that
 * had been idle for 2 s of its 3 s as if idle for a minute; a step back would have kept an idle one open for as
 * long as the step. It is measured on the monotonic clock now.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Exit, Option } from "effect"
import { Scu } from "@netdicom/net"
import { connectScu, scopedEchoScp, scuAe, steppedClock, within } from "./hotpath-support.ts"

describe("the idle timeout and a step of the wall clock", () => {
  it.live(
    "a C-ECHO every 2 s with a 3 s idle timeout, the time stepping a minute forward: still open",
    () =>
      Effect.gen(function* () {
        const scp = yield* scopedEchoScp(() => 0)
        const live = yield* Clock.Clock
        const offset = { ms: 0 }
        const outcome = yield* within(
          20_000,
          Effect.scoped(
            Effect.gen(function* () {
              const channel = yield* connectScu(scp.port, scuAe({ dimse: "5 seconds", idle: "3 seconds" }))
              const results: Array<Exit.Exit<unknown, unknown>> = []
              for (let i = 0; i < 4; i++) {
                results.push(yield* Effect.exit(Scu.echo(channel)))
                if (i === 1)
                  yield* Effect.andThen(
                    Effect.sleep("200 millis"),
                    Effect.sync(() => (offset.ms = 60_000))
                  )
                yield* Effect.sleep(i === 1 ? "1800 millis" : "2 seconds")
              }
              return results
            })
          ).pipe(Effect.provideService(Clock.Clock, steppedClock(live, offset)))
        )
        assert.isTrue(Option.isSome(outcome), "nothing hangs")
        const results = Option.getOrThrow(outcome)
        results.forEach((r, i) => assert.isTrue(Exit.isSuccess(r), `C-ECHO ${i + 1}: ${String(r)}`))
      }),
    30_000
  )
})
