/**
 * Property tests of negotiation on hostile A-ASSOCIATE-RQs built item by item (the decoders' fuzz in `fuzz.test.ts`
 * mutates one plain RQ, whose User Information holds only a Maximum Length and an Implementation Class UID, so its
 * mutations never reach role selection, extended negotiation, user identity or window items). Each RQ that decodes
 * is answered by `evaluateRequest` without a throw; an A-ASSOCIATE-AC it gives encodes, decodes back to itself and is
 * one the requestor side (`evaluateAccept`) takes for an answer to that RQ; an A-ASSOCIATE-RJ encodes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import fc from "fast-check"
import { type AcceptorPolicy, ApplicationEntity, Negotiation } from "@netdicom/net"
import { PduCodec } from "@netdicom/wire"
import { CT, EXPLICIT, IMPLICIT, STUDY_FIND, VERIFICATION } from "./support.ts"
import { identityItem, item, maxLengthItem, rawRq, roleItem, uidItem } from "./hostile-rq-support.ts"

const u16 = (n: number): Array<number> => [(n >> 8) & 0xff, n & 0xff]
const latin1 = (s: string): Array<number> => Array.from(s, (c) => c.charCodeAt(0) & 0xff)

const ae = Result.getOrThrow(
  ApplicationEntity.make({
    aeTitle: "NETDICOM-SCP",
    contexts: [
      { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT, EXPLICIT] },
      { abstractSyntax: CT, transferSyntaxes: [EXPLICIT, IMPLICIT], scu: true, scp: true },
      { abstractSyntax: STUDY_FIND, transferSyntaxes: [IMPLICIT], scu: false }
    ],
    maxOperationsInvoked: 4,
    maxOperationsPerformed: 8
  })
)

// UIDs a hostile peer sends: ours, empty, padded, non-ASCII, control characters, 64 and 65 characters.
const uid = fc.oneof(
  {
    arbitrary: fc.constantFrom(
      VERIFICATION,
      CT,
      STUDY_FIND,
      IMPLICIT,
      EXPLICIT,
      "1.2.840.10008.1.2.2",
      `${CT}\u0000`,
      ` ${CT}`
    ),
    weight: 8
  },
  { arbitrary: fc.constantFrom("", "1.2.\u00e9", "1.2\r\n3", "1".repeat(64), "1".repeat(65), "\u0000"), weight: 1 },
  { arbitrary: fc.string({ unit: fc.constantFrom(..."0123456789."), maxLength: 20 }), weight: 1 }
)

const lengthPrefixed = (s: string) => [...u16(s.length), ...latin1(s)]
const bytes = fc.uint8Array({ maxLength: 40 })

const userItem = fc.oneof(
  fc.constantFrom(0, 1, 1023, 1024, 16384, 0xffffffff).map(maxLengthItem),
  uid.map((u) => uidItem(0x52, u)),
  fc
    .tuple(fc.constantFrom(0, 1, 2, 65535), fc.constantFrom(0, 1, 2, 65535))
    .map(([a, b]) => item(0x53, [...u16(a), ...u16(b)])),
  fc.tuple(uid, fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })).map(([u, a, b]) => roleItem(u, a, b)),
  fc.string({ maxLength: 18 }).map((s) => item(0x55, latin1(s))),
  fc.tuple(uid, bytes).map(([u, b]) => item(0x56, [...lengthPrefixed(u), ...b])),
  fc.tuple(uid, uid, fc.array(uid, { maxLength: 4 })).map(([s, c, related]) => {
    const list = related.flatMap(lengthPrefixed)
    return item(0x57, [...lengthPrefixed(s), ...lengthPrefixed(c), ...u16(list.length), ...list])
  }),
  fc
    .tuple(fc.integer({ min: 0, max: 6 }), fc.boolean(), bytes, bytes)
    .map(([t, p, a, b]) => identityItem(t, p, [...a], [...b])),
  fc.tuple(fc.integer({ min: 0x5a, max: 0xff }), bytes).map(([t, b]) => item(t, [...b]))
)

const context = fc.record({
  id: fc.oneof(
    { arbitrary: fc.constantFrom(1, 3, 5, 7, 9, 255), weight: 6 },
    { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 }
  ),
  abstractSyntax: uid,
  transferSyntaxes: fc.array(uid, { minLength: 1, maxLength: 6 })
})

const rq = fc
  .tuple(fc.array(context, { minLength: 1, maxLength: 8 }), fc.array(userItem, { maxLength: 12 }))
  .map(([contexts, userItems]) => rawRq({ contexts, userItems }))

// The default policy, and one answering every extended negotiation item with itself, accepting every user identity
// with a response, and supporting one more SOP class through common extended negotiation.
const policies: ReadonlyArray<AcceptorPolicy.AcceptorPolicy> = [
  {},
  {
    preferRequestorOrder: true,
    extendedNegotiation: (items) => items,
    userIdentity: () => ({ _tag: "Accept", response: new Uint8Array(8) }),
    commonExtendedNegotiation: () => [{ abstractSyntax: "1.2.3.4.5", transferSyntaxes: [IMPLICIT] }]
  }
]

describe("negotiation on hostile A-ASSOCIATE-RQs item by item", () => {
  it("evaluateRequest never throws; its AC round-trips and satisfies evaluateAccept; its RJ encodes", () => {
    const started = Date.now()
    let accepted = 0
    fc.assert(
      fc.property(rq, fc.constantFrom(...policies), (bytes, policy) => {
        const decoded = PduCodec.decodePdu(bytes)
        if (Result.isFailure(decoded) || decoded.success._tag !== "AAssociateRq") {
          assert.strictEqual(decoded._tag === "Failure" ? decoded.failure._tag : "", "PduDecodeError")
          return
        }
        const request = decoded.success
        const decision = Negotiation.evaluateRequest(ae, request, policy)
        if (decision._tag === "Reject") {
          assert.isTrue(Result.isSuccess(PduCodec.encodePdu(decision.rj)), decision.why)
          return
        }
        accepted++
        const ac = PduCodec.encodePdu(decision.ac)
        assert.isTrue(Result.isSuccess(ac), Result.isFailure(ac) ? ac.failure.message : "")
        const back = PduCodec.decodePdu(Result.getOrThrow(ac))
        assert.isTrue(Result.isSuccess(back), Result.isFailure(back) ? back.failure.message : "")
        const answered = Result.getOrThrow(back)
        assert.strictEqual(answered._tag, "AAssociateAc")
        if (answered._tag !== "AAssociateAc") return
        const answer = Negotiation.evaluateAccept(ae, request, answered)
        if (Result.isFailure(answer))
          assert.strictEqual(answer.failure._tag, "NoAcceptableContext", answer.failure.message)
        else {
          // the requestor's view of each accepted context: the same syntaxes, the roles swapped
          const swapped = decision.negotiated.accepted.map((c) => ({
            ...c,
            weAreScu: c.weAreScp,
            weAreScp: c.weAreScu
          }))
          assert.deepStrictEqual(answer.success.accepted, swapped)
        }
      }),
      { numRuns: 4000, seed: 16 }
    )
    assert.isAbove(accepted, 100)
    assert.isBelow(Date.now() - started, 20_000)
  }, 30_000)
})
