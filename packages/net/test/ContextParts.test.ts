/** `ContextParts.partsFor`: stored instances needing more presentation contexts than an association holds. */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as ContextParts from "../src/dimse/ContextParts.ts"

const JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
const SYNTAXES = [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN, JPEG_BASELINE, "1.2.840.10008.1.2.4.90"]

interface Item extends ContextParts.Stored {
  readonly uid: string
}

const item = (n: number, sopClassUid: string, transferSyntax: string): Item => ({
  uid: `1.2.3.${n}`,
  sopClassUid,
  transferSyntax
})
const self = (x: Item) => x
const uids = (parts: ReadonlyArray<ContextParts.Part<Item>>) => parts.map((p) => p.items.map((x) => x.uid))

describe("ContextParts.partsFor", () => {
  it("keeps instances that fit one association as one part, in their order, fallbacks included", () => {
    const items = [item(1, "1.2.2", EXPLICIT_VR_LITTLE_ENDIAN), item(2, "1.2.1", JPEG_BASELINE)]
    const parts = ContextParts.partsFor(items, self, { room: 3, fallbacks: true })
    assert.deepStrictEqual(uids(parts), [["1.2.3.1", "1.2.3.2"]])
    // the two own contexts, then the fallback of the native one (a JPEG instance cannot be re-encoded)
    assert.deepStrictEqual(
      parts[0]!.contexts.map((c) => [c.abstractSyntax, c.transferSyntaxes.length]),
      [
        ["1.2.2", 1],
        ["1.2.1", 1],
        ["1.2.2", 3]
      ]
    )
  })

  it("splits by SOP class when the fallbacks would not fit beside the own contexts", () => {
    const items = [
      item(1, "1.2.1", EXPLICIT_VR_LITTLE_ENDIAN),
      item(2, "1.2.2", EXPLICIT_VR_LITTLE_ENDIAN),
      item(3, "1.2.1", EXPLICIT_VR_LITTLE_ENDIAN)
    ]
    // the own contexts alone fit two places, with the fallbacks they need four
    assert.deepStrictEqual(uids(ContextParts.partsFor(items, self, { room: 2 })), [["1.2.3.1", "1.2.3.2", "1.2.3.3"]])
    const parts = ContextParts.partsFor(items, self, { room: 2, fallbacks: true })
    assert.deepStrictEqual(uids(parts), [["1.2.3.1", "1.2.3.3"], ["1.2.3.2"]])
    for (const p of parts) assert.strictEqual(p.contexts.length, 2)
  })

  it("nothing to send is no part", () => {
    assert.deepStrictEqual(ContextParts.partsFor([], self, { fallbacks: true }), [])
  })

  it("every instance once; every part within the room, with each own context and, where it fits, each fallback", () => {
    const arb = fc.record({
      room: fc.integer({ min: 1, max: 8 }),
      fallbacks: fc.boolean(),
      items: fc.array(fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 3 })), { maxLength: 60 })
    })
    fc.assert(
      fc.property(arb, ({ room, fallbacks, items }) => {
        const given = items.map(([c, t], n) => item(n, `1.2.${c}`, SYNTAXES[t]!))
        const parts = ContextParts.partsFor(given, self, { room, fallbacks })
        const seen = parts.flatMap((p) => p.items.map((x) => x.uid)).sort()
        assert.deepStrictEqual(seen, given.map((x) => x.uid).sort())
        for (const p of parts) {
          assert.isAtMost(p.contexts.length, room)
          assert.isAbove(p.items.length, 0)
          const own = new Set(
            p.contexts.map((c) =>
              ContextParts.contextKey({ sopClassUid: c.abstractSyntax, transferSyntax: c.transferSyntaxes[0]! })
            )
          )
          for (const x of p.items) assert.isTrue(own.has(ContextParts.contextKey(x)))
          if (!fallbacks) continue
          const withFallback = new Set(
            p.contexts.filter((c) => c.transferSyntaxes.length > 1).map((c) => c.abstractSyntax)
          )
          for (const x of p.items) {
            // a class whose own contexts and fallback fit an association has its fallback wherever it goes
            const classSyntaxes = new Set(
              given.filter((y) => y.sopClassUid === x.sopClassUid).map((y) => y.transferSyntax)
            )
            const native =
              x.transferSyntax === EXPLICIT_VR_LITTLE_ENDIAN || x.transferSyntax === IMPLICIT_VR_LITTLE_ENDIAN
            if (native && classSyntaxes.size + 1 <= room) assert.isTrue(withFallback.has(x.sopClassUid))
          }
        }
      })
    )
  })
})
