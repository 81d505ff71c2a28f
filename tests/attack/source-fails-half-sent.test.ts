/**
 * A streamed data set of ours that fails once part of it has gone (a router forwarding a modality's C-STORE as it
 * arrives, the modality gone mid-instance): the association must be aborted, but the log says our data set source
 * failed, not that there was a DIMSE protocol error (a new user read "DIMSE protocol error, aborting: a message
 * failed half sent: DataSourceFailed ..." and looked for a fault in the PACS).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Logger, Option, Stream } from "effect"
import { DimseError, Scu } from "@netdicom/net"
import { CT, EXPLICIT } from "./support.ts"
import { connectScu, scopedRawScp, within } from "./hotpath-support.ts"

describe("our SCU when its own data set source fails half sent", () => {
  it.live(
    "the C-STORE fails with DataSourceFailed, the association is aborted, and no 'protocol error' is logged",
    () =>
      Effect.gen(function* () {
        const lines: Array<string> = []
        const capture = Logger.make(({ message }) => {
          lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
        })
        const scp = yield* scopedRawScp({})
        const chunk = new Uint8Array(1 << 20)
        // 4 MiB go out, then the source fails
        const dataSet = Stream.concat(
          Stream.range(1, 4).pipe(Stream.map(() => chunk)),
          Stream.fail(new DimseError.DataSourceFailed({ detail: "the modality aborted" }))
        )
        const exit = yield* within(
          8000,
          Effect.exit(
            Effect.scoped(
              Effect.flatMap(connectScu(scp.port), (channel) =>
                Effect.gen(function* () {
                  const stored = yield* Effect.exit(
                    Scu.store(channel, { sopClassUid: CT, sopInstanceUid: "1.2.3", transferSyntax: EXPLICIT, dataSet })
                  )
                  const ended = yield* channel.association.ended
                  return { stored, ended }
                })
              )
            )
          ).pipe(Effect.provide(Logger.layer([capture])))
        )
        assert.isTrue(Option.isSome(exit), "the C-STORE ended within 8 s")
        const outer = Option.getOrThrow(exit)
        assert.isTrue(Exit.isSuccess(outer))
        const { stored, ended } = Exit.isSuccess(outer) ? outer.value : assert.fail("no result")
        const reason = Exit.isFailure(stored) ? stored.cause.reasons[0] : undefined
        const error = reason !== undefined && reason._tag === "Fail" ? (reason.error as { _tag?: string }) : {}
        assert.strictEqual(error._tag, "DataSourceFailed")
        assert.strictEqual(ended._tag, "Aborted", "a half-sent message cannot be finished: the association is aborted")
        const misleading = lines.filter((l) => l.includes("protocol error"))
        assert.deepStrictEqual(misleading, [], `log lines: ${lines.join(" | ")}`)
        const said = lines.filter((l) => l.includes("data set source failed") && l.includes("the modality aborted"))
        assert.strictEqual(said.length, 1, `log lines: ${lines.join(" | ")}`)
      }),
    10_000
  )
})
