/**
 * Attack on `DataSet.decode` reading UI values from their bytes: UIDs holding control characters, NULs, backslashes,
 * wildcards, bytes past ASCII, odd lengths and 64 KiB, at the top level and in an item. Decoding must give a value or
 * a typed error (never a throw, nor a bug caught as "unexpected error"); what it gives must re-encode unchanged or be
 * refused typed (`DataSet.encode`), and the archive's matching must take it as a key (or refuse it, typed) and find
 * the value it came from.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import fc from "fast-check"
import { DataSet } from "@netdicom/net"
import * as Matching from "../../packages/archive/src/Matching.ts"
import { EXPLICIT, IMPLICIT } from "./support.ts"

const ALPHABET = [..."0123456789.", "\\", " ", "\0", "*", "?", "\x01", "\x1b", "\x7f", "\x80", "\xe9", "\xff", "/"]
const uidBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.array(fc.constantFrom(...ALPHABET), { maxLength: 80 }).map((cs) => new Uint8Array(cs.map((c) => c.charCodeAt(0)))),
  fc.uint8Array({ maxLength: 70 }),
  fc
    .tuple(fc.integer({ min: 65_000, max: 65_535 }), fc.constantFrom(0x31, 0x2e, 0x5c, 0x00))
    .map(([n, fill]) => new Uint8Array(n).fill(0x31).fill(fill, n - 3))
)

const le16 = (n: number) => new Uint8Array([n & 0xff, n >> 8])
const le32 = (n: number) => new Uint8Array([n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24])
const cat = (...parts: ReadonlyArray<Uint8Array>) => new Uint8Array(Buffer.concat(parts))
const tag = (group: number, element: number) => cat(le16(group), le16(element))
const ui = (group: number, element: number, value: Uint8Array, explicit: boolean) =>
  explicit
    ? cat(tag(group, element), new Uint8Array([0x55, 0x49]), le16(value.length), value)
    : cat(tag(group, element), le32(value.length), value)

// (0008,0018) holding the value, and (0008,1115) with one item whose (0020,000E) holds it too.
const dataSet = (value: Uint8Array, explicit: boolean): Uint8Array => {
  const item = ui(0x0020, 0x000e, value, explicit)
  const itemBytes = cat(tag(0xfffe, 0xe000), le32(item.length), item)
  const sq = explicit
    ? cat(tag(0x0008, 0x1115), new Uint8Array([0x53, 0x51, 0, 0]), le32(itemBytes.length), itemBytes)
    : cat(tag(0x0008, 0x1115), le32(itemBytes.length), itemBytes)
  return cat(ui(0x0008, 0x0018, value, explicit), sq)
}

const options = { caseInsensitivePersonName: true }

describe("ui-bytes-fuzz", () => {
  it("a UI value of any bytes decodes, re-encodes unchanged or is refused typed, and matches itself", () => {
    fc.assert(
      fc.property(uidBytes, fc.boolean(), (value, explicitWanted) => {
        const explicit = explicitWanted && value.length <= 0xffff
        const syntax = explicit ? EXPLICIT : IMPLICIT
        const decoded = DataSet.decode(dataSet(value, explicit), syntax)
        if (Result.isFailure(decoded)) {
          assert.strictEqual(decoded.failure._tag, "DataSetError")
          assert.notMatch(decoded.failure.reason, /unexpected error/)
          return
        }
        const dataset = decoded.success
        const uid = dataset["SOPInstanceUID"]
        const items = dataset["ReferencedSeriesSequence"] as ReadonlyArray<Record<string, unknown>>
        assert.deepStrictEqual(items[0]?.["SeriesInstanceUID"], uid)
        for (const v of Array.isArray(uid) ? uid : [uid]) assert.strictEqual(typeof v, "string")

        const encoded = DataSet.encode(dataset, syntax)
        if (Result.isFailure(encoded)) {
          assert.strictEqual(encoded.failure._tag, "DataSetError")
          assert.strictEqual(encoded.failure.kind, "InvalidValue")
          assert.notMatch(encoded.failure.reason, /unexpected error|cannot read the data set given/)
        } else {
          const again = DataSet.decode(encoded.success, syntax)
          assert.isTrue(Result.isSuccess(again))
          if (Result.isSuccess(again)) assert.deepStrictEqual(again.success["SOPInstanceUID"], uid)
        }

        const key = Matching.compileKey("SOPInstanceUID", uid, options)
        if (Result.isFailure(key)) {
          assert.include(["IdentifierDoesNotMatchSopClass", "UnableToProcess"], key.failure._tag)
          return
        }
        if (Matching.strings("UI", uid).length > 0) assert.isTrue(key.success.test(uid))
      }),
      { numRuns: 400 }
    )
  })
})
