/**
 * Message ids run 1..65535 and wrap. With an unlimited window (0) a request may still await its response when the
 * counter comes round to its id again: the next id must skip it, or two outstanding requests share an id and one
 * gets the other's response.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { Scu } from "@netdicom/net"
import { connectScu, scopedRawScp, scuAe, waitFor } from "./hotpath-support.ts"

describe("message ids wrapping around outstanding requests", () => {
  it.live("65,535 ids later, the ids of three unanswered C-ECHOs are not handed out again", () =>
    Effect.gen(function* () {
      let echoes = 0
      // accepts, never answers; counts the C-ECHO-RQs it was sent
      const scp = yield* scopedRawScp({ window: 0, onPdu: (_socket, type) => void (type === 0x04 && echoes++) })
      yield* Effect.scoped(
        Effect.gen(function* () {
          const channel = yield* connectScu(scp.port, scuAe({ dimse: "30 seconds" }), { maxOperationsInvoked: 0 })
          const fibers = yield* Effect.forEach([1, 2, 3], () => Effect.forkChild(Effect.ignore(Scu.echo(channel))))
          yield* waitFor(
            Effect.sync(() => echoes),
            (n) => n === 3,
            3000
          )
          const handed = new Set<number>()
          for (let i = 0; i < 0xffff; i++) handed.add(yield* channel.nextMessageId)
          for (const outstanding of [1, 2, 3]) assert.isFalse(handed.has(outstanding), `id ${outstanding} handed out`)
          assert.strictEqual(handed.size, 0xffff - 3)
          for (const f of fibers) yield* Fiber.interrupt(f)
        })
      ).pipe(Effect.ignore)
    })
  )
})
