/**
 * A peer that aborts while our SCU is sending a large C-STORE: the store fails with the peer's A-ABORT, and the
 * log says the peer aborted, not that we found a DIMSE protocol error (a new user saw "DIMSE protocol error,
 * aborting: a message failed half sent: AssociationAborted ... aborted by peer" when a server stopped mid-store).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Logger, Option, Stream } from "effect"
import { Scu } from "@netdicom/net"
import { CT, EXPLICIT } from "./support.ts"
import { connectScu, scopedRawScp, within } from "./hotpath-support.ts"

const A_ABORT_BY_PEER = Uint8Array.from([7, 0, 0, 0, 0, 4, 0, 0, 0, 0])

describe("our SCU when the peer aborts during a C-STORE", () => {
  it.live(
    "64 MiB streamed, half sent, then the SCP's A-ABORT: AssociationAborted by the peer, and no 'protocol error' logged",
    () =>
      Effect.gen(function* () {
        const lines: Array<string> = []
        const capture = Logger.make(({ message }) => {
          lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
        })
        const chunk = new Uint8Array(1 << 20)
        let aborted = false
        let seen = 0
        const scp = yield* scopedRawScp({
          readBytesPerSecond: 4 << 20,
          onPdu: (socket, type, body) => {
            // the first P-DATA-TF holding data set bytes: abort, then close
            if (aborted || type !== 4 || (body[5]! & 1) === 1 || ++seen < 40) return
            aborted = true
            socket.write(A_ABORT_BY_PEER, () => socket.end())
          }
        })
        const exit = yield* within(
          8000,
          Effect.exit(
            Effect.scoped(
              Effect.flatMap(connectScu(scp.port), (channel) =>
                Scu.store(channel, {
                  sopClassUid: CT,
                  sopInstanceUid: "1.2.3",
                  transferSyntax: EXPLICIT,
                  dataSet: Stream.range(1, 64).pipe(Stream.map(() => chunk))
                })
              )
            )
          ).pipe(Effect.provide(Logger.layer([capture])))
        )
        assert.isTrue(Option.isSome(exit), "the C-STORE ended within 8 s")
        const e = Option.getOrThrow(exit)
        assert.isTrue(Exit.isFailure(e))
        const reason = Exit.isFailure(e) ? e.cause.reasons[0] : undefined
        const error = reason !== undefined && reason._tag === "Fail" ? (reason.error as { _tag?: string }) : {}
        assert.strictEqual(error._tag, "AssociationAborted")
        assert.isTrue(aborted, "the SCP saw data and aborted")
        const misleading = lines.filter((l) => l.includes("protocol error"))
        assert.deepStrictEqual(misleading, [], `log lines: ${lines.join(" | ")}`)
      }),
    10_000
  )
})
