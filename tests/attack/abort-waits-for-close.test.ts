/**
 * After its A-ABORT the acceptor waits in Sta13 for the peer to close the connection, ARTIM bounding the wait
 * (PS3.8 Table 9-10: AA-8 and AA-1 start ARTIM, Sta13 + Evt17 is AR-5, Sta13 + Evt18 is AA-2). The SCP used to drop
 * the connection as soon as the association had ended, with its A-ABORT barely sent (found by model-acceptor.test.ts).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  associated,
  associateRq,
  command,
  describe as show,
  encode,
  pdata,
  promise,
  startScp,
  VERIFICATION
} from "./support.ts"

const ARTIM = 600

const cases: ReadonlyArray<[string, string, () => Uint8Array]> = [
  // AA-8: a PDU the state does not allow, answered by the provider
  ["a second A-ASSOCIATE-RQ in Sta6 (AA-8)", "A-ABORT 2/2", () => encode(associateRq())],
  // AA-1: the DIMSE user aborts on a PDV for a context that was never accepted
  [
    "a PDV on a context never accepted (AA-1)",
    "A-ABORT 0/0",
    () => pdata(9, true, true, command({ _tag: "CEchoRq", messageId: 1, affectedSopClassUid: VERIFICATION }))
  ]
]

describe("the acceptor's A-ABORT and the close that follows", () => {
  for (const [name, abort, bytes] of cases) {
    it.live(
      `${name}: the connection stays open until ARTIM, then closes; the peer's close ends it at once`,
      () =>
        Effect.gen(function* () {
          const server = yield* startScp({ timeouts: { acse: `${ARTIM} millis` } })
          const peer = yield* promise(() => associated(server.port))
          peer.send(bytes())
          const first = yield* promise(() => peer.next(3000))
          const sent = Date.now()
          assert.strictEqual(show(first), abort)
          // Sta13: the acceptor waits for our close
          const early = yield* promise(() => peer.next(ARTIM / 2))
          assert.strictEqual(show(early), "timeout", "closed before ARTIM expired")
          // ARTIM expires: AA-2
          const late = yield* promise(() => peer.next(ARTIM + 2000))
          peer.destroy()
          assert.strictEqual(show(late), "closed")
          assert.isAtLeast(Date.now() - sent, ARTIM * 0.9)

          // a peer that closes as it should ends Sta13 at once (AR-5): the association's place is given back
          const second = yield* promise(() => associated(server.port))
          second.send(bytes())
          assert.strictEqual(show(yield* promise(() => second.next(3000))), abort)
          second.destroy()
          const deadline = Date.now() + ARTIM / 2
          while ((yield* server.active) > 0 && Date.now() < deadline) yield* Effect.sleep("10 millis")
          assert.strictEqual(yield* server.active, 0)
        }),
      10_000
    )
  }
})
