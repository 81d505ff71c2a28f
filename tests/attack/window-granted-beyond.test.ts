/**
 * An SCP that grants more of an Asynchronous Operations Window than we asked for. Our SCU proposes none (1/1, no
 * item) unless told otherwise; an acceptor answering 65535 (or 0, unlimited) must not make it send 65,535 requests
 * without waiting: `netdicom store` (no `--window`) and `Scu.storeFiles` then kept every file they sent in memory
 * until its response, and a peer reading everything and answering nothing grew the SCU by the size of the files.
 * The window used is what both sides allow: the smaller of ours and theirs (0 meaning unlimited), both ways.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Scu } from "@netdicom/net"
import { connectScu, scopedRawScp, scuAe, waitFor } from "./hotpath-support.ts"

describe("an acceptor granting a larger window than proposed", () => {
  for (const granted of [65535, 0]) {
    it.live(`proposed none, granted ${granted}: one request outstanding at a time`, () =>
      Effect.gen(function* () {
        let echoes = 0
        // accepts with the window, never answers; counts the C-ECHO-RQs it was sent
        const scp = yield* scopedRawScp({ window: granted, onPdu: (_socket, type) => void (type === 0x04 && echoes++) })
        yield* Effect.scoped(
          Effect.gen(function* () {
            const channel = yield* connectScu(scp.port, scuAe({ dimse: "30 seconds" }))
            assert.strictEqual(channel.association.negotiated.maxOperationsInvoked, 1)
            assert.strictEqual(channel.association.negotiated.maxOperationsPerformed, 1)
            const fibers = yield* Effect.forEach([1, 2, 3], () => Effect.forkChild(Effect.ignore(Scu.echo(channel))))
            yield* waitFor(
              Effect.sync(() => echoes),
              (n) => n >= 1,
              3000
            )
            yield* Effect.sleep("300 millis")
            assert.strictEqual(echoes, 1, "C-ECHO-RQs sent before any response")
            for (const f of fibers) yield* Fiber.interrupt(f)
          })
        ).pipe(Effect.ignore)
      })
    )
  }

  it.live("proposed 2, granted 65535: two outstanding", () =>
    Effect.gen(function* () {
      let echoes = 0
      const scp = yield* scopedRawScp({ window: 65535, onPdu: (_socket, type) => void (type === 0x04 && echoes++) })
      yield* Effect.scoped(
        Effect.gen(function* () {
          const channel = yield* connectScu(scp.port, scuAe({ dimse: "30 seconds" }), {
            maxOperationsInvoked: 2,
            maxOperationsPerformed: 3
          })
          assert.strictEqual(channel.association.negotiated.maxOperationsInvoked, 2)
          assert.strictEqual(channel.association.negotiated.maxOperationsPerformed, 3)
          const fibers = yield* Effect.forEach([1, 2, 3], () => Effect.forkChild(Effect.ignore(Scu.echo(channel))))
          yield* waitFor(
            Effect.sync(() => echoes),
            (n) => n >= 2,
            3000
          )
          yield* Effect.sleep("300 millis")
          assert.strictEqual(echoes, 2)
          for (const f of fibers) yield* Fiber.interrupt(f)
        })
      ).pipe(Effect.ignore)
    })
  )
})
