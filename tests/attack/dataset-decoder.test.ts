/**
 * `DataSet.decode` against hostile and unusual structure (PS3.5 7.1, 7.5, 6.2.2, 6.1).
 *
 * The scanner checks lengths and nesting first; dcmjs then reads values. Where the two disagree on structure,
 * well-formed data is lost without an error:
 * - dcmjs finds the end of an undefined-length item by scanning 2-byte words for FFFE,E00D, so an OB value inside
 *   such an item that contains those bytes ends the item early: the rest of the item is dropped, "ok".
 * - dcmjs drops empty items (`if (toRead)`), so `[{}]` decodes as `[]` and item indexes shift.
 * - UN with undefined length (PS3.5 6.2.2, an Implicit VR LE sequence), which the scanner accepts, is refused.
 * - In Implicit VR an undefined length on a non-SQ tag (PatientName) is accepted and its value is the delimiter
 *   bytes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { DataSet } from "@netdicom/net"
import { EXPLICIT, IMPLICIT } from "./support.ts"

const le16 = (n: number) => [n & 255, n >> 8]
const le32 = (n: number) => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255]
const tag = (g: number, e: number) => [...le16(g), ...le16(e)]
const UNDEFINED = le32(0xffffffff)
const lo = (g: number, e: number, s: string) => [...tag(g, e), 0x4c, 0x4f, ...le16(s.length), ...Buffer.from(s)]
const ob = (bytes: ReadonlyArray<number>) => [...tag(0x0009, 0x1010), 0x4f, 0x42, 0, 0, ...le32(bytes.length), ...bytes]
const item = (...els: ReadonlyArray<ReadonlyArray<number>>) => [
  ...tag(0xfffe, 0xe000),
  ...UNDEFINED,
  ...els.flat(),
  ...tag(0xfffe, 0xe00d),
  ...le32(0)
]
const sq = (g: number, e: number, ...items: ReadonlyArray<ReadonlyArray<number>>) => [
  ...tag(g, e),
  0x53,
  0x51,
  0,
  0,
  ...UNDEFINED,
  ...items.flat(),
  ...tag(0xfffe, 0xe0dd),
  ...le32(0)
]
const decode = (bytes: ReadonlyArray<number>, ts: string) => DataSet.decode(Uint8Array.from(bytes), ts)

/** Undefined-length sequences (each with one undefined-length item) nested `depth` deep. */
const nested = (depth: number, explicit: boolean): Uint8Array => {
  const open = Uint8Array.from([
    ...tag(0x0040, 0xa730),
    ...(explicit ? [0x53, 0x51, 0, 0] : []),
    ...UNDEFINED,
    ...tag(0xfffe, 0xe000),
    ...UNDEFINED
  ])
  const close = Uint8Array.from([...tag(0xfffe, 0xe00d), ...le32(0), ...tag(0xfffe, 0xe0dd), ...le32(0)])
  const out = new Uint8Array(depth * (open.length + close.length))
  for (let i = 0; i < depth; i++) {
    out.set(open, i * open.length)
    out.set(close, depth * open.length + i * close.length)
  }
  return out
}

/** Defined-length sequences nested `depth` deep in Implicit VR: lengths computed inside out, headers written outside in. */
const nestedDefined = (depth: number): Uint8Array => {
  const out = new Uint8Array(depth * 16)
  const view = new DataView(out.buffer)
  for (let i = 0; i < depth; i++) {
    const inner = (depth - i - 1) * 16 // bytes of the levels inside this one
    view.setUint16(i * 16, 0x0040, true)
    view.setUint16(i * 16 + 2, 0xa730, true)
    view.setUint32(i * 16 + 4, inner + 8, true)
    view.setUint16(i * 16 + 8, 0xfffe, true)
    view.setUint16(i * 16 + 10, 0xe000, true)
    view.setUint32(i * 16 + 12, inner, true)
  }
  return out
}

describe("DataSet.decode: structure the scanner and dcmjs read differently", () => {
  it("an OB value holding the bytes FFFE,E00D inside an undefined-length item loses nothing (or fails)", () => {
    const bytes = [
      ...sq(
        0x0040,
        0xa730,
        item(lo(0x0009, 0x0010, "PRIV"), ob([0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0]), lo(0x0010, 0x0010, "DOEJ"))
      ),
      ...lo(0x0010, 0x0020, "ID42")
    ]
    const r = decode(bytes, EXPLICIT)
    if (Result.isFailure(r)) return // refusing is acceptable; silently dropping is not
    const first = (r.success["ContentSequence"] as ReadonlyArray<Record<string, unknown>>)[0]!
    assert.strictEqual(first["PatientName"], "DOEJ", `item decoded as ${JSON.stringify(first)}`)
    assert.strictEqual(
      Buffer.from(first["00091010"] as ArrayBuffer).toString("hex"),
      "feff0de000000000",
      "the OB value"
    )
  })

  it("an empty item is kept: [{}] round-trips as one item", () => {
    const encoded = Result.getOrThrow(DataSet.encode({ ReferencedStudySequence: [{}] }, EXPLICIT))
    const r = Result.getOrThrow(DataSet.decode(encoded, EXPLICIT))
    assert.deepStrictEqual(r["ReferencedStudySequence"], [{}])
  })

  it("an empty first item does not shift the second: [{}, {uid}] keeps two items", () => {
    const bytes = sq(
      0x0008,
      0x1110,
      [...tag(0xfffe, 0xe000), ...le32(0)],
      [...tag(0xfffe, 0xe000), ...le32(10), ...tag(0x0008, 0x1155), 0x55, 0x49, 2, 0, 0x31, 0]
    )
    const r = Result.getOrThrow(decode(bytes, EXPLICIT))
    assert.deepStrictEqual(r["ReferencedStudySequence"], [{}, { ReferencedSOPInstanceUID: "1" }])
  })

  it("UN with undefined length holding an Implicit VR LE sequence (PS3.5 6.2.2) decodes", () => {
    const inner = [...tag(0x0010, 0x0010), ...le32(4), ...Buffer.from("ABCD")]
    const bytes = [
      ...tag(0x0011, 0x1010),
      0x55,
      0x4e,
      0,
      0,
      ...UNDEFINED,
      ...tag(0xfffe, 0xe000),
      ...UNDEFINED,
      ...inner,
      ...tag(0xfffe, 0xe00d),
      ...le32(0),
      ...tag(0xfffe, 0xe0dd),
      ...le32(0)
    ]
    const r = decode(bytes, EXPLICIT)
    assert.isTrue(Result.isSuccess(r), Result.isFailure(r) ? r.failure.message : "")
  })

  it("Implicit VR: an undefined length on PatientName is refused, not read as the delimiter bytes", () => {
    const bytes = [...tag(0x0010, 0x0010), ...UNDEFINED, ...tag(0xfffe, 0xe0dd), ...le32(0)]
    const r = decode(bytes, IMPLICIT)
    assert.isTrue(
      Result.isFailure(r),
      Result.isSuccess(r) ? `decoded as ${JSON.stringify(r.success["PatientName"])}` : ""
    )
  })
})

describe("DataSet.decode: what held up", () => {
  it("sequences nested 10,000 deep (explicit and implicit): a typed Malformed error, at once", () => {
    for (const [ts, explicit] of [
      [EXPLICIT, true],
      [IMPLICIT, false]
    ] as const) {
      const bytes = nested(10_000, explicit)
      const started = performance.now()
      const r = DataSet.decode(bytes, ts)
      assert.isBelow(performance.now() - started, 200)
      assert.isTrue(Result.isFailure(r) && r.failure.kind === "Malformed")
    }
  })

  it("defined-length sequences nested 10,000 deep in Implicit VR: typed error, at once", () => {
    const started = performance.now()
    const r = DataSet.decode(nestedDefined(10_000), IMPLICIT)
    assert.isBelow(performance.now() - started, 200)
    assert.isTrue(Result.isFailure(r) && r.failure.kind === "Malformed")
  })

  it("sequences nested 32 deep (the limit) still decode", () => {
    assert.isTrue(Result.isSuccess(DataSet.decode(nested(32, true), EXPLICIT)))
  })

  it("element and item lengths past the end, odd fixed lengths, broken VRs: typed errors", () => {
    const cases: ReadonlyArray<ReadonlyArray<number>> = [
      [...tag(0x0010, 0x0010), 0x50, 0x4e, 0xff, 0xff, 0x41, 0x42],
      [...tag(0x0011, 0x1010), 0x4f, 0x42, 0, 0, ...le32(0xfffffff0), 1, 2],
      [...tag(0x0040, 0xa730), 0x53, 0x51, 0, 0, ...le32(16), ...tag(0xfffe, 0xe000), ...le32(0x7fffffff)],
      [...tag(0x0020, 0x5000), 0x41, 0x54, 2, 0, 1, 2],
      [...tag(0x0010, 0x0010), 0x00, 0x01, 2, 0, 0x41, 0x42],
      [...tag(0x0011, 0x1010), 0x55, 0x4e, 0, 0, ...UNDEFINED, 1, 2, 3, 4, 5, 6, 7, 8],
      [...tag(0x7fe0, 0x0010), 0x4f, 0x42, 0, 0, ...UNDEFINED, ...tag(0xfffe, 0xe000), ...le32(4), 1, 2, 3, 4]
    ]
    for (const c of cases) {
      const r = decode(c, EXPLICIT)
      assert.isTrue(Result.isFailure(r) && r.failure._tag === "DataSetError", JSON.stringify(c))
    }
  })

  it("character sets: broken ISO 2022 escapes, invalid UTF-8, unknown terms: no throw, typed result", () => {
    const cs = (v: string) => {
      const b = [...Buffer.from(v, "latin1")]
      if (b.length % 2) b.push(0x20)
      return [...tag(8, 5), 0x43, 0x53, ...le16(b.length), ...b]
    }
    const pn = (bytes: ReadonlyArray<number>) => {
      const b = [...bytes]
      if (b.length % 2) b.push(0x20)
      return [...tag(0x10, 0x10), 0x50, 0x4e, ...le16(b.length), ...b]
    }
    const cases: ReadonlyArray<[string, ReadonlyArray<number>]> = [
      ["\\ISO 2022 IR 87", [0x1b, 0x24, 0x42, 0xff, 0xff, 0x1b]],
      ["\\ISO 2022 IR 149", [0x1b, 0x24, 0x29, 0x43, 0xff, 0xfe, 0x1b, 0x24]],
      ["ISO_IR 192", [0xc3, 0x28, 0xff, 0xfe]],
      ["ISO_IR 999", [0x41]],
      ["ISO 2022 IR 13\\ISO 2022 IR 87", [0x41]],
      ["GB18030", [0x81, 0x30, 0x81, 0x30, 0xff]],
      [Array(4000).fill("ISO 2022 IR 87").join("\\").slice(0, 60000), [0x41]]
    ]
    for (const [charset, name] of cases) {
      const r = decode([...cs(charset), ...pn(name)], EXPLICIT)
      assert.isTrue(Result.isSuccess(r) || r.failure._tag === "DataSetError")
    }
  })

  it("100,000 empty items and 100,000 zero-length elements: decoded in well under a second", () => {
    const items: Array<number> = [...tag(0x0040, 0xa730), 0x53, 0x51, 0, 0, ...UNDEFINED]
    for (let i = 0; i < 100_000; i++) items.push(...tag(0xfffe, 0xe000), ...le32(0))
    items.push(...tag(0xfffe, 0xe0dd), ...le32(0))
    const started = performance.now()
    decode(items, EXPLICIT)
    assert.isBelow(performance.now() - started, 1000)
  })
})
