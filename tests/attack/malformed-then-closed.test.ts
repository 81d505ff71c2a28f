/**
 * A peer that sends a PDU we cannot parse, gets our A-ABORT and closes its connection. The reader stopped reading at
 * the unparsable PDU, so it never saw the close: a connection whose A-ASSOCIATE-RQ did not parse sat in Sta13 until
 * ARTIM (the ACSE timeout, 30 s by default), holding its place among the server's pending connections (4 per
 * association allowed). About nine malformed requests a second, from sockets already gone, thus kept a server with
 * `maxAssociations: 64` (256 pending places) closing every new connection. The reader now reads on (and drops)
 * what follows, so the close ends the connection at once. An established association hit the same way was already
 * freed at once (its handler ends on the abort, and the connection with it): checked here too.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  associated,
  connectPeer,
  describe as describePdu,
  echoStillWorks,
  IMPLICIT,
  promise,
  startScp,
  VERIFICATION
} from "./support.ts"
import { identityItem, maxLengthItem, rawRq, uidItem } from "./hostile-rq-support.ts"
import { waitFor } from "./hotpath-support.ts"

// A User Identity sub-item of type 0 (PS3.8 D.3.3.7.1 has 1-5): the A-ASSOCIATE-RQ does not parse.
const malformedRq = rawRq({
  contexts: [{ id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] }],
  userItems: [maxLengthItem(16384), uidItem(0x52, "1.2.3.4"), identityItem(0, true, [], [])]
})

// A PDU of a type PS3.8 9.3.1 does not have (0x0A): it does not parse.
const unknownPdu = Uint8Array.of(0x0a, 0, 0, 0, 0, 2, 0, 0)

describe("a peer that closes after sending what we cannot parse", () => {
  it.live("malformed A-ASSOCIATE-RQs: their pending places are freed at once, the server still serves", () =>
    Effect.scoped(
      Effect.gen(function* () {
        // 1 association, so 4 pending connections at most; ARTIM well past the test
        const server = yield* startScp({ policy: {}, maxAssociations: 1, timeouts: { acse: "20 seconds" } })
        const answers: Array<string> = []
        for (let i = 0; i < 6; i++) {
          answers.push(
            yield* promise(async () => {
              const peer = await connectPeer(server.port)
              peer.send(malformedRq)
              const first = await peer.next(2000)
              peer.destroy()
              return describePdu(first)
            })
          )
          yield* waitFor(server.pending, (n) => n === 0, 1000)
        }
        assert.deepStrictEqual(
          answers,
          Array.from({ length: 6 }, () => "A-ABORT 2/6")
        )
        assert.strictEqual(yield* server.pending, 0)
        assert.isTrue(yield* promise(() => echoStillWorks(server.port)))
      })
    )
  )

  it.live("a PDU of an unknown type once associated: the association's place is freed at once", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* startScp({ maxAssociations: 1, timeouts: { acse: "20 seconds" } })
        const answer = yield* promise(async () => {
          const peer = await associated(server.port)
          peer.send(unknownPdu)
          const next = await peer.next(2000)
          peer.destroy()
          return describePdu(next)
        })
        assert.strictEqual(answer, "A-ABORT 2/1")
        assert.strictEqual(yield* waitFor(server.active, (n) => n === 0, 1000), 0)
        assert.isTrue(yield* promise(() => echoStillWorks(server.port)))
      })
    )
  )
})
