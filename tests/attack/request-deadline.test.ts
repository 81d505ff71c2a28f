/**
 * The DIMSE timeout of requests with one response (`requestOne`: C-ECHO, C-STORE), kept by one timer per channel
 * that sleeps until the oldest waiting request is due: a timer armed for an answered request must neither time out
 * the next one early nor let it wait past its own deadline, and the timer starts again after an idle spell.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Logger, Option } from "effect"
import { Scu } from "@netdicom/net"
import { connectScu, scopedEchoScp, scuAe, within } from "./hotpath-support.ts"

describe("requestOne's DIMSE timeout", () => {
  it.live(
    "C-ECHOs answered after 0.6 s each within a 1 s timeout succeed; the third, never answered, times out on time",
    () =>
      Effect.gen(function* () {
        const scp = yield* scopedEchoScp((nth) => (nth <= 2 ? 600 : undefined))
        const outcome = yield* within(
          8000,
          Effect.scoped(
            Effect.gen(function* () {
              const channel = yield* connectScu(scp.port, scuAe({ dimse: "1 second" }))
              const first = yield* Scu.echo(channel)
              const second = yield* Scu.echo(channel)
              const started = Date.now()
              const third = yield* Effect.exit(Scu.echo(channel))
              return { first, second, third, waited: Date.now() - started }
            })
          ).pipe(Effect.orDie)
        )
        assert.isTrue(Option.isSome(outcome), "nothing hangs")
        const { first, second, third, waited } = Option.getOrThrow(outcome)
        assert.strictEqual(first.status, 0)
        assert.strictEqual(second.status, 0)
        assert.isTrue(Exit.isFailure(third))
        if (Exit.isFailure(third)) {
          const error = third.cause.reasons.find((r) => r._tag === "Fail")
          assert.strictEqual(error?._tag === "Fail" ? error.error._tag : undefined, "DimseTimeout")
        }
        assert.isAtLeast(waited, 900, `timed out after ${waited} ms, before its own deadline`)
        assert.isBelow(waited, 2500, `timed out after ${waited} ms, long after its deadline`)
      }),
    15_000
  )

  it.live(
    "after an idle spell longer than the timeout, an unanswered C-ECHO still times out, logged as a timeout",
    () =>
      Effect.gen(function* () {
        const scp = yield* scopedEchoScp((nth) => (nth === 1 ? 0 : undefined))
        const warnings: Array<string> = []
        const capture = Logger.make(({ logLevel, message }) => {
          if (logLevel === "Warn") warnings.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
        })
        const outcome = yield* within(
          8000,
          Effect.scoped(
            Effect.gen(function* () {
              const channel = yield* connectScu(scp.port, scuAe({ dimse: "500 millis", idle: "10 seconds" }))
              const first = yield* Scu.echo(channel)
              yield* Effect.sleep("800 millis")
              const started = Date.now()
              const second = yield* Effect.exit(Scu.echo(channel))
              return { first, second, waited: Date.now() - started }
            })
          ).pipe(Effect.orDie, Effect.provide(Logger.layer([capture])))
        )
        assert.isTrue(Option.isSome(outcome), "nothing hangs")
        const { first, second, waited } = Option.getOrThrow(outcome)
        assert.strictEqual(first.status, 0)
        assert.isTrue(Exit.isFailure(second))
        assert.isAtLeast(waited, 400)
        assert.isBelow(waited, 2000)
        // a timeout, not the peer breaking PS3.7
        assert.deepStrictEqual(
          warnings.filter((w) => w.startsWith("DIMSE")),
          ["DIMSE timeout, aborting: no response to message 2 within 500ms"]
        )
      })
  )
})
