/**
 * A-ASSOCIATE-RQs that parse but hold what our A-ASSOCIATE-AC cannot carry back: a non-ASCII or control character
 * in an AE title, a transfer syntax or a role item's SOP Class UID that is empty or not ASCII (the parser takes any
 * Latin-1 UID up to 64 characters), role items filling the User Information item so that the answer overflows its
 * 65,535 bytes. The AC used to be encoded to nothing: the peer got no answer while the SCP held the association
 * (until its idle timeout, 10 minutes by default), so a few such connections filled `maxAssociations`. Each now gets
 * an A-ASSOCIATE-RJ or an AC at once, and the server still serves.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  IMPLICIT,
  VERIFICATION,
  connectPeer,
  describe as describePdu,
  echoStillWorks,
  promise,
  startScp
} from "./support.ts"
import { maxLengthItem, rawRq, roleItem, uidItem } from "./hostile-rq-support.ts"

const verification = { id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] }
const implementation = uidItem(0x52, "1.2.3.4")

/** What the peer gets first for `rq` (2 s at most), the connection left open until then. */
const answer = (port: number, rq: Uint8Array) =>
  promise(async () => {
    const peer = await connectPeer(port)
    peer.send(rq)
    const first = await peer.next(2000)
    peer.destroy()
    return describePdu(first)
  })

// Role items whose SOP Class UIDs are all different and fill the RQ's User Information item to its 65,535 bytes:
// answered one for one, with our Maximum Length and Implementation Class UID beside them, they cannot fit.
const fullOfRoles = (): Array<Array<number>> => {
  const items: Array<Array<number>> = []
  let size = 0
  for (let i = 0; size + 72 <= 65535 - 15; i++) {
    items.push(roleItem(`1.2.840.10008.5.1.4.1.1.${String(i).padStart(6, "0")}.${"1".repeat(33)}`, 1, 1))
    size += 72
  }
  const last = 65535 - size - 6 - 2
  items.push(roleItem(`1.${"2".repeat(last - 2)}`, 1, 1))
  return items
}

describe("hostile A-ASSOCIATE-RQ contents that parse", () => {
  it.live("every one is answered at once, and the server still serves", () =>
    Effect.scoped(
      Effect.gen(function* () {
        // any called AE title, as netdicom storescp and qrscp answer; 2 associations at most
        const server = yield* startScp({ policy: {}, maxAssociations: 2 })
        const cases: ReadonlyArray<readonly [string, Uint8Array, string]> = [
          [
            "calling AE title with a non-ASCII character",
            rawRq({ calling: "ATT\u00e9CKER", contexts: [verification] }),
            "A-ASSOCIATE-RJ 1/1/3"
          ],
          [
            "calling AE title with a control character",
            rawRq({ calling: "AT\u0001K", contexts: [verification] }),
            "A-ASSOCIATE-RJ 1/1/3"
          ],
          [
            "called AE title with a non-ASCII character",
            rawRq({ called: "SCP\u00ff", contexts: [verification] }),
            "A-ASSOCIATE-RJ 1/1/7"
          ],
          [
            "a refused context's first transfer syntax not ASCII",
            rawRq({
              contexts: [verification, { id: 3, abstractSyntax: "1.2.3.99", transferSyntaxes: ["1.2.\u00e9"] }]
            }),
            "PDU 0x02"
          ],
          [
            "a role item with an empty SOP Class UID",
            rawRq({ contexts: [verification], userItems: [maxLengthItem(16384), implementation, roleItem("", 1, 1)] }),
            "PDU 0x02"
          ],
          [
            "a role item with a non-ASCII SOP Class UID",
            rawRq({
              contexts: [verification],
              userItems: [maxLengthItem(16384), implementation, roleItem("1.2.\u00ff", 1, 1)]
            }),
            "PDU 0x02"
          ],
          [
            "role items for 910 SOP classes filling the User Information item",
            rawRq({ contexts: [verification], userItems: fullOfRoles() }),
            "A-ASSOCIATE-RJ 1/1/1"
          ]
        ]
        const got: Array<string> = []
        for (const [what, rq] of cases) got.push(`${what}: ${yield* answer(server.port, rq)}`)
        assert.deepStrictEqual(
          got,
          cases.map(([what, , expected]) => `${what}: ${expected}`)
        )
        assert.isTrue(yield* promise(() => echoStillWorks(server.port)))
      })
    )
  )

  it.live("a control character in a calling AE title is refused, so it never reaches a C-MOVE's originator", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* startScp({ policy: {} })
        // the rest of the title is fine: only the character the command encoder refuses makes the difference
        const ok = yield* answer(server.port, rawRq({ calling: "AT-K", contexts: [verification] }))
        const bad = yield* answer(server.port, rawRq({ calling: "AT\\K", contexts: [verification] }))
        assert.deepStrictEqual([ok, bad], ["PDU 0x02", "A-ASSOCIATE-RJ 1/1/3"])
      })
    )
  )
})
