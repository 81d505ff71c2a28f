/** `Files.partsFor`: files needing more presentation contexts than an association holds, split by SOP class. */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Files from "../src/Files.ts"

const file = (n: number, sopClassUid: string, transferSyntaxUid: string): Files.Sendable => ({
  path: `/in/${n}.dcm`,
  sopClassUid,
  sopInstanceUid: `1.2.3.${n}`,
  transferSyntaxUid,
  dataSetOffset: 132,
  fileSize: 1000,
  modifiedMs: 0
})

describe("Files.partsFor", () => {
  it("keeps files that fit one association as one part, in their order", () => {
    const files = [file(1, "1.2.1", "1.2.840.10008.1.2"), file(2, "1.2.2", "1.2.840.10008.1.2.1")]
    const parts = Files.partsFor(files, 2)
    assert.strictEqual(parts.length, 1)
    assert.deepStrictEqual(parts[0]!.files, files)
    assert.strictEqual(parts[0]!.contexts.length, 2)
  })

  it("splits by SOP class, a class's transfer syntaxes together", () => {
    const files = [
      file(1, "1.2.1", "ts.a"),
      file(2, "1.2.2", "ts.a"),
      file(3, "1.2.1", "ts.b"),
      file(4, "1.2.3", "ts.a"),
      file(5, "1.2.2", "ts.b")
    ]
    const parts = Files.partsFor(files, 3)
    assert.deepStrictEqual(
      parts.map((p) => p.files.map((f) => f.sopInstanceUid)),
      [
        ["1.2.3.1", "1.2.3.3"],
        ["1.2.3.2", "1.2.3.5", "1.2.3.4"]
      ]
    )
  })

  it("every file once, every part within the room and holding each context its files need", () => {
    const arb = fc.record({
      room: fc.integer({ min: 1, max: 6 }),
      files: fc.array(fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 4 })), { maxLength: 60 })
    })
    fc.assert(
      fc.property(arb, ({ room, files }) => {
        const given = files.map(([c, t], n) => file(n, `1.2.${c}`, `ts.${t}`))
        const parts = Files.partsFor(given, room)
        const seen = parts.flatMap((p) => p.files.map((f) => f.path)).sort()
        assert.deepStrictEqual(seen, given.map((f) => f.path).sort())
        for (const p of parts) {
          assert.isAtMost(p.contexts.length, room)
          assert.isAbove(p.files.length, 0)
          const keys = new Set(p.contexts.map((c) => `${c.abstractSyntax}|${c.transferSyntaxes[0]}`))
          for (const f of p.files) assert.isTrue(keys.has(Files.contextKey(f)))
        }
      })
    )
  })
})
