/**
 * The re-encoder between the native transfer syntaxes (`wire/Transcoder`, with dcmjs's dictionary from
 * `dimse/Transcode`): data sets built here by hand in each syntax (so the expected bytes are known) must turn into
 * one another byte for byte, however they are chunked; dcmjs must read the same attributes from both sides; the
 * corpus's native files must survive every conversion; and what is not a native data set is refused.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Stream } from "effect"
import * as fc from "fast-check"
import * as fs from "node:fs"
import * as path from "node:path"
import { Transcoder } from "@netdicom/wire"
import * as DataSet from "../src/dimse/DataSet.ts"
import { dcmjs } from "../src/dimse/Dcmjs.ts"
import * as Part10 from "../src/dimse/Part10.ts"
import * as Transcode from "../src/dimse/Transcode.ts"

const IMPLICIT_LE = "1.2.840.10008.1.2"
const EXPLICIT_LE = "1.2.840.10008.1.2.1"
const EXPLICIT_BE = "1.2.840.10008.1.2.2"
const SYNTAXES = [IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE] as const
const UNDEFINED = 0xffffffff

type Node =
  | { readonly tag: number; readonly vr: string; readonly value: Uint8Array }
  | {
      readonly tag: number
      readonly vr: "SQ"
      readonly items: ReadonlyArray<ReadonlyArray<Node>>
      // lengths of the sequence and its items defined (as a writer that computed them would)
      readonly defined?: boolean
    }

const LONG = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"])
const WORD: Record<string, number> = { US: 2, SS: 2, OW: 2, AT: 2, UL: 4, SL: 4, FL: 4, OL: 4, OF: 4 }
for (const vr of ["FD", "OD", "OV", "SV", "UV"]) WORD[vr] = 8

interface Syntax {
  readonly explicit: boolean
  readonly little: boolean
}
const syntaxOf = (uid: string): Syntax => ({ explicit: uid !== IMPLICIT_LE, little: uid !== EXPLICIT_BE })

const cat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => new Uint8Array(Buffer.concat(parts))
const u16 = (n: number, little: boolean) => {
  const b = new Uint8Array(2)
  new DataView(b.buffer).setUint16(0, n, little)
  return b
}
const u32 = (n: number, little: boolean) => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n, little)
  return b
}
const ascii = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)))
const tagBytes = (tag: number, little: boolean) => cat([u16(tag >>> 16, little), u16(tag & 0xffff, little)])

const header = (tag: number, vr: string, length: number, s: Syntax) =>
  !s.explicit || tag >>> 16 === 0xfffe
    ? cat([tagBytes(tag, s.little), u32(length, s.little)])
    : LONG.has(vr)
      ? cat([tagBytes(tag, s.little), ascii(vr), new Uint8Array(2), u32(length, s.little)])
      : cat([tagBytes(tag, s.little), ascii(vr), u16(length, s.little)])

// A value given little endian, in the syntax's byte order.
const ordered = (vr: string, value: Uint8Array, little: boolean): Uint8Array => {
  const w = WORD[vr]
  if (little || w === undefined) return value
  const out = new Uint8Array(value)
  for (let i = 0; i + w <= out.length; i += w) out.subarray(i, i + w).reverse()
  return out
}

/** A data set in a syntax; `undefinedLengths` writes every sequence and item with delimiters, as the re-encoder. */
const encode = (nodes: ReadonlyArray<Node>, s: Syntax, undefinedLengths = false): Uint8Array =>
  cat(
    nodes.map((node) => {
      if ("value" in node)
        return cat([header(node.tag, node.vr, node.value.length, s), ordered(node.vr, node.value, s.little)])
      const defined = node.defined === true && !undefinedLengths
      const items = node.items.map((item) => {
        const body = encode(item, s, undefinedLengths)
        if (defined || (body.length === 0 && undefinedLengths && node.defined === true)) {
          return cat([header(0xfffee000, "", body.length, s), body])
        }
        return cat([header(0xfffee000, "", UNDEFINED, s), body, header(0xfffee00d, "", 0, s)])
      })
      const body = cat(items)
      // an empty sequence or item of length 0 stays so: there is nothing in it to change length
      if (defined || (body.length === 0 && undefinedLengths && node.defined === true)) {
        return cat([header(node.tag, "SQ", body.length, s), body])
      }
      return cat([header(node.tag, "SQ", UNDEFINED, s), body, header(0xfffee0dd, "", 0, s)])
    })
  )

/** The re-encoded bytes, fed in pieces cut at `cuts` (offsets), or the problem. */
const run = (from: string, to: string, bytes: Uint8Array, cuts: ReadonlyArray<number> = []): Uint8Array | string => {
  const t = Transcoder.make(from, to, Transcode.vrOf)
  if (t === undefined) return "no transcoder"
  const out: Array<Uint8Array> = []
  const at = [0, ...[...new Set(cuts)].filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length]
  for (let i = 0; i + 1 < at.length; i++) out.push(...t.push(bytes.subarray(at[i]!, at[i + 1]!)))
  const end = t.finish()
  if (!("bytes" in end)) return end.detail
  return cat([...out, ...end.bytes])
}

/**
 * What dcmjs read, for comparing across syntaxes: dcmjs keeps binary values (OB, OW...) as the bytes of the data
 * set, in its byte order, so they are compared by length here (the byte-for-byte tests check their bytes); and what
 * an implicit data set cannot say (private tags' VRs, and so their values, and `_vrMap`) and group lengths (dropped)
 * are left out.
 */
const comparable = (value: unknown, implicit = false): unknown => {
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return `binary ${value.byteLength}`
  if (Array.isArray(value)) return value.map((v) => comparable(v, implicit))
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) {
      if (k === "_vrMap" || (/^[0-9A-F]{8}$/.test(k) && parseInt(k.slice(0, 4), 16) % 2 === 1)) continue
      // group lengths are dropped by the re-encoder
      if (/^[0-9A-F]{4}0000$/.test(k)) continue
      // US or SS: dcmjs reads an implicit one as US whatever the Pixel Representation
      if (implicit && dcmjs().data.DicomMetaDictionary.nameMap[k]?.vr === "xs") continue
      out[k] = comparable(v, implicit)
    }
    return out
  }
  return value
}

const hex = (b: Uint8Array | string) => (typeof b === "string" ? b : Buffer.from(b).toString("hex"))
const text = (s: string) => ascii(s.length % 2 === 0 ? s : `${s} `)
const uid = (s: string) => (s.length % 2 === 0 ? ascii(s) : cat([ascii(s), new Uint8Array(1)]))
const le16 = (...ns: Array<number>) => cat(ns.map((n) => u16(n, true)))
const le32f = (...ns: Array<number>) =>
  cat(
    ns.map((n) => {
      const b = new Uint8Array(4)
      new DataView(b.buffer).setFloat32(0, n, true)
      return b
    })
  )

// Sequences nested three deep, of defined and undefined lengths, empty values and items, every swapped VR.
const sample = (defined: boolean): ReadonlyArray<Node> => [
  { tag: 0x00080016, vr: "UI", value: uid("1.2.840.10008.5.1.4.1.1.2") },
  { tag: 0x00080018, vr: "UI", value: uid("1.2.3.4.5.6") },
  { tag: 0x00080050, vr: "SH", value: new Uint8Array(0) },
  { tag: 0x00080060, vr: "CS", value: text("CT") },
  {
    tag: 0x00081115,
    vr: "SQ",
    defined,
    items: [
      [
        { tag: 0x00080008, vr: "CS", value: text("ORIGINAL\\PRIMARY") },
        {
          tag: 0x00081140,
          vr: "SQ",
          defined: !defined,
          items: [
            [
              { tag: 0x00081150, vr: "UI", value: uid("1.2.840.10008.5.1.4.1.1.2") },
              {
                tag: 0x0040a730,
                vr: "SQ",
                defined,
                items: [[{ tag: 0x0040a040, vr: "CS", value: text("TEXT") }], []]
              }
            ],
            []
          ]
        }
      ]
    ]
  },
  { tag: 0x00089459, vr: "FL", value: le32f(1.5, -2.25) },
  { tag: 0x00100010, vr: "PN", value: text("DOE^JOHN") },
  { tag: 0x00100020, vr: "LO", value: text("ID1") },
  { tag: 0x00181638, vr: "OF", value: le32f(0.5, 1, 2) },
  { tag: 0x00189219, vr: "SS", value: le16(0xfffe) },
  { tag: 0x00209165, vr: "AT", value: le16(0x0020, 0x0013) },
  { tag: 0x00280010, vr: "US", value: le16(2) },
  { tag: 0x00280011, vr: "US", value: le16(2) },
  { tag: 0x00281201, vr: "OW", value: le16(1, 2, 3, 0xffff) },
  { tag: 0x00720082, vr: "SV", value: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) },
  { tag: 0x7fe00010, vr: "OW", value: le16(0x0102, 0x0304, 0x0506, 0x0708) }
]

describe("Transcoder between the native transfer syntaxes", () => {
  it("the pool's VRs are the dictionary's", () => {
    for (const node of [...sample(false), ...POOL.map(([tag, vr]) => ({ tag, vr }))]) {
      if ((node.tag >>> 16) % 2 === 1) continue
      const vr = Transcode.vrOf(node.tag)
      // Pixel Data is `ox` (OB or OW) in the dictionary; implicit VR means OW (PS3.5 A.1)
      assert.strictEqual(vr === "ox" ? "OW" : vr, node.vr, node.tag.toString(16))
    }
  })

  for (const from of SYNTAXES) {
    for (const to of SYNTAXES.filter((s) => s !== from)) {
      it(`${from} to ${to}: the bytes of the same data set, sequences of undefined length, byte for byte`, () => {
        for (const defined of [false, true]) {
          const input = encode(sample(defined), syntaxOf(from))
          const expected = encode(sample(defined), syntaxOf(to), true)
          assert.strictEqual(hex(run(from, to, input)), hex(expected))
          // one byte at a time
          assert.strictEqual(hex(run(from, to, input, [...input.keys()])), hex(expected))
        }
      })

      it(`${from} to ${to}: dcmjs reads the same attributes from both`, () => {
        const input = encode(sample(true), syntaxOf(from))
        const output = run(from, to, input)
        assert.instanceOf(output, Uint8Array)
        const before = Result.getOrThrow(DataSet.decode(input, from))
        const after = Result.getOrThrow(DataSet.decode(output as Uint8Array, to))
        assert.deepStrictEqual(comparable(after), comparable(before))
        // three sequences deep
        type Items = ReadonlyArray<Record<string, unknown>>
        const series = after["ReferencedSeriesSequence"] as Items
        const images = series[0]!["ReferencedImageSequence"] as Items
        const content = images[0]!["ContentSequence"] as Items
        assert.strictEqual(content[0]!["ValueType"], "TEXT")
      })
    }
  }

  it("Implicit to Explicit to Implicit gives the same bytes back", () => {
    const implicit = encode(sample(false), syntaxOf(IMPLICIT_LE), true)
    const explicit = run(IMPLICIT_LE, EXPLICIT_LE, implicit) as Uint8Array
    assert.strictEqual(hex(run(EXPLICIT_LE, IMPLICIT_LE, explicit)), hex(implicit))
  })

  it("private and unknown tags become UN; a private sequence stays implicit inside UN of undefined length", () => {
    const privateItem = encode([{ tag: 0x00091001, vr: "UN", value: ascii("ab") }], syntaxOf(IMPLICIT_LE))
    const implicit = cat([
      encode([{ tag: 0x00090010, vr: "LO", value: text("ACME") }], syntaxOf(IMPLICIT_LE)),
      header(0x00091010, "", UNDEFINED, syntaxOf(IMPLICIT_LE)),
      header(0xfffee000, "", UNDEFINED, syntaxOf(IMPLICIT_LE)),
      privateItem,
      header(0xfffee00d, "", 0, syntaxOf(IMPLICIT_LE)),
      header(0xfffee0dd, "", 0, syntaxOf(IMPLICIT_LE)),
      encode([{ tag: 0x00091020, vr: "UN", value: new Uint8Array([1, 2, 3, 4]) }], syntaxOf(IMPLICIT_LE)),
      encode([{ tag: 0x7fe11010, vr: "UN", value: new Uint8Array(0) }], syntaxOf(IMPLICIT_LE))
    ])
    for (const to of [EXPLICIT_LE, EXPLICIT_BE]) {
      const s = syntaxOf(to)
      const expected = cat([
        encode([{ tag: 0x00090010, vr: "LO", value: text("ACME") }], s),
        header(0x00091010, "UN", UNDEFINED, s),
        // the content of a UN of undefined length is Implicit VR Little Endian in every syntax (PS3.5 6.2.2)
        header(0xfffee000, "", UNDEFINED, syntaxOf(IMPLICIT_LE)),
        privateItem,
        header(0xfffee00d, "", 0, syntaxOf(IMPLICIT_LE)),
        header(0xfffee0dd, "", 0, syntaxOf(IMPLICIT_LE)),
        encode([{ tag: 0x00091020, vr: "UN", value: new Uint8Array([1, 2, 3, 4]) }], s),
        encode([{ tag: 0x7fe11010, vr: "UN", value: new Uint8Array(0) }], s)
      ])
      const output = run(IMPLICIT_LE, to, implicit)
      assert.strictEqual(hex(output), hex(expected), to)
      // and back
      assert.strictEqual(hex(run(to, IMPLICIT_LE, output as Uint8Array)), hex(implicit), to)
    }
  })

  it("a value over 65,535 bytes whose VR has a 2-byte length in explicit syntaxes becomes UN (PS3.5 6.2.2)", () => {
    const long = new Uint8Array(70_000).fill(0x41)
    const implicit = encode([{ tag: 0x00080108, vr: "LT", value: long }], syntaxOf(IMPLICIT_LE))
    const explicit = run(IMPLICIT_LE, EXPLICIT_LE, implicit)
    assert.strictEqual(hex(explicit), hex(encode([{ tag: 0x00080108, vr: "UN", value: long }], syntaxOf(EXPLICIT_LE))))
    assert.strictEqual(hex(run(EXPLICIT_LE, IMPLICIT_LE, explicit as Uint8Array)), hex(implicit))
  })

  it("US or SS follows the item's Pixel Representation; group lengths are dropped", () => {
    const build = (pixelRepresentation: number, vr: string, groupLength: boolean): ReadonlyArray<Node> => [
      ...(groupLength ? [{ tag: 0x00280000, vr: "UL", value: cat([u32(10, true)]) }] : []),
      { tag: 0x00280103, vr: "US", value: le16(pixelRepresentation) },
      { tag: 0x00280106, vr, value: le16(0xff00) }
    ]
    for (const [rep, vr] of [
      [0, "US"],
      [1, "SS"]
    ] as const) {
      const implicit = encode(build(rep, vr, true), syntaxOf(IMPLICIT_LE))
      assert.strictEqual(
        hex(run(IMPLICIT_LE, EXPLICIT_BE, implicit)),
        hex(encode(build(rep, vr, false), syntaxOf(EXPLICIT_BE)))
      )
    }
  })

  it("what is not a whole native data set is a problem, not bytes", () => {
    const whole = encode(sample(true), syntaxOf(IMPLICIT_LE))
    assert.isString(run(IMPLICIT_LE, EXPLICIT_LE, whole.subarray(0, whole.length - 3)))
    assert.isString(run(IMPLICIT_LE, EXPLICIT_LE, whole.subarray(0, 5)))
    // encapsulated pixel data (OB of undefined length) in an explicit native syntax
    const encapsulated = cat([
      header(0x7fe00010, "OB", UNDEFINED, syntaxOf(EXPLICIT_LE)),
      header(0xfffee000, "", 0, syntaxOf(EXPLICIT_LE))
    ])
    assert.match(run(EXPLICIT_LE, IMPLICIT_LE, encapsulated) as string, /undefined length/)
    // an element running past the end of its defined-length item
    const item = cat([
      header(0x00081140, "SQ", 16, syntaxOf(EXPLICIT_LE)),
      header(0xfffee000, "", 8, syntaxOf(EXPLICIT_LE)),
      encode([{ tag: 0x00081150, vr: "UI", value: uid("1.2.3.4") }], syntaxOf(EXPLICIT_LE))
    ])
    assert.match(run(EXPLICIT_LE, IMPLICIT_LE, item) as string, /runs past/)
    // a delimiter out of place
    assert.isString(run(EXPLICIT_LE, IMPLICIT_LE, header(0xfffee00d, "", 0, syntaxOf(EXPLICIT_LE))))
    // compressed and deflated syntaxes are not converted
    assert.isUndefined(Transcoder.make("1.2.840.10008.1.2.4.50", EXPLICIT_LE, Transcode.vrOf))
    assert.isUndefined(Transcoder.make("1.2.840.10008.1.2.1.99", EXPLICIT_LE, Transcode.vrOf))
    assert.isUndefined(Transcoder.make(EXPLICIT_LE, EXPLICIT_LE, Transcode.vrOf))
  })

  it.effect("Transcode.transcode re-encodes a stream chunk by chunk, and fails a bad one with DataSourceFailed", () =>
    Effect.gen(function* () {
      const input = encode(sample(true), syntaxOf(EXPLICIT_BE))
      const pieces = [input.subarray(0, 7), input.subarray(7, 100), input.subarray(100)]
      const source = yield* Transcode.transcode(Stream.fromIterable(pieces), EXPLICIT_BE, IMPLICIT_LE)
      assert.notInstanceOf(source, Uint8Array)
      const chunks = yield* Stream.runCollect(source as Stream.Stream<Uint8Array>)
      assert.strictEqual(hex(cat(chunks)), hex(encode(sample(true), syntaxOf(IMPLICIT_LE), true)))
      const bytes = yield* Transcode.transcode(input, EXPLICIT_BE, IMPLICIT_LE)
      assert.strictEqual(hex(bytes as Uint8Array), hex(cat(chunks)))
      const cut = yield* Transcode.transcode(Stream.make(input.subarray(0, 50)), EXPLICIT_BE, IMPLICIT_LE)
      const failed = yield* Effect.flip(Stream.runCollect(cut as Stream.Stream<Uint8Array, unknown>))
      assert.strictEqual((failed as { _tag: string })._tag, "DataSourceFailed")
      const bad = yield* Effect.flip(Transcode.transcode(input.subarray(0, 50), EXPLICIT_BE, IMPLICIT_LE))
      assert.strictEqual(bad._tag, "DataSourceFailed")
    })
  )
})

// Tags whose dictionary VR is not ambiguous, for generated data sets.
const POOL: ReadonlyArray<readonly [number, string]> = [
  [0x00080012, "DA"],
  [0x00080013, "TM"],
  [0x00080015, "DT"],
  [0x00080018, "UI"],
  [0x00080060, "CS"],
  [0x00080081, "ST"],
  [0x00080108, "LT"],
  [0x0008010e, "UR"],
  [0x00080119, "UC"],
  [0x0008030e, "UT"],
  [0x0008040c, "UV"],
  [0x00081160, "IS"],
  [0x00081163, "FD"],
  [0x00082130, "DS"],
  [0x00089459, "FL"],
  [0x00100010, "PN"],
  [0x00100020, "LO"],
  [0x00101010, "AS"],
  [0x00181638, "OF"],
  [0x00186020, "SL"],
  [0x00189219, "SS"],
  [0x00209165, "AT"],
  [0x00280010, "US"],
  [0x00281201, "OW"],
  [0x003a032e, "OD"],
  [0x00420011, "OB"],
  [0x00660129, "OL"],
  [0x0072006d, "UN"],
  [0x00720081, "OV"],
  [0x00720082, "SV"],
  [0x00091001, "UN"]
]
const SEQUENCES = [0x00081115, 0x00081140, 0x0040a730]

const nodes = (depth: number): fc.Arbitrary<ReadonlyArray<Node>> => {
  const element = fc
    .tuple(fc.constantFrom(...POOL), fc.integer({ min: 0, max: 6 }), fc.uint8Array({ minLength: 64, maxLength: 64 }))
    .map(([[tag, vr], words, bytes]): Node => ({ tag, vr, value: bytes.subarray(0, words * 8) }))
  const sequence =
    depth >= 3
      ? fc.constant<Array<Node>>([])
      : fc
          .tuple(
            fc.constantFrom(...SEQUENCES),
            fc.boolean(),
            fc.array(
              fc.constant(null).chain(() => nodes(depth + 1)),
              { maxLength: 3 }
            )
          )
          .map(([tag, defined, items]): Array<Node> => [{ tag, vr: "SQ", defined, items }])
  return fc
    .tuple(fc.array(element, { maxLength: 8 }), fc.array(sequence, { maxLength: 2 }))
    .map(([elements, sequences]) => {
      const byTag = new Map<number, Node>()
      for (const n of [...elements, ...sequences.flat()]) byTag.set(n.tag, n)
      return [...byTag.values()].sort((a, b) => a.tag - b.tag)
    })
}

describe("Transcoder on generated data sets", () => {
  it("every pair of syntaxes, cut anywhere: the other syntax's bytes of the same data set", () => {
    fc.assert(
      fc.property(
        nodes(0),
        fc.constantFrom(...SYNTAXES),
        fc.constantFrom(...SYNTAXES),
        fc.array(fc.nat({ max: 4000 }), { maxLength: 6 }),
        (data, from, to, cuts) => {
          fc.pre(from !== to)
          const input = encode(data, syntaxOf(from))
          assert.strictEqual(hex(run(from, to, input, cuts)), hex(encode(data, syntaxOf(to), true)))
        }
      ),
      { numRuns: 300 }
    )
  })
})

const corpus = process.env["NETDICOM_CORPUS"] ?? path.resolve(import.meta.dirname, "../../../../shared/corpus")
const haveCorpus = fs.existsSync(corpus)
if (!haveCorpus) console.warn(`Transcode.test.ts: no corpus at ${corpus} (set NETDICOM_CORPUS): skipping corpus cases`)

describe.skipIf(!haveCorpus)("Transcoder on the corpus's native files", () => {
  it("every conversion reads the same in dcmjs, and back gives the same again", () => {
    let converted = 0
    for (const name of fs.readdirSync(corpus).filter((n) => n.endsWith(".dcm"))) {
      const bytes = new Uint8Array(fs.readFileSync(path.join(corpus, name)))
      const meta = Part10.readMeta(bytes)
      if (Result.isFailure(meta) || !Transcoder.isNative(meta.success.transferSyntaxUid)) continue
      const from = meta.success.transferSyntaxUid.replace(/\0$/, "")
      const dataSet = bytes.subarray(meta.success.dataSetOffset)
      const before = DataSet.decode(dataSet, from)
      if (Result.isFailure(before)) continue // a file dcmjs cannot read (the truncated ones) is not compared
      for (const to of SYNTAXES.filter((s) => s !== from)) {
        const output = run(from, to, dataSet, [1, 333, 4096, 70_001])
        assert.instanceOf(output, Uint8Array, `${name} to ${to}: ${String(output)}`)
        const after = Result.getOrThrow(DataSet.decode(output as Uint8Array, to))
        const implicit = to === IMPLICIT_LE || from === IMPLICIT_LE
        assert.deepStrictEqual(comparable(after, implicit), comparable(before.success, implicit), `${name} to ${to}`)
        const back = run(to, from, output as Uint8Array)
        assert.instanceOf(back, Uint8Array, `${name} back from ${to}: ${String(back)}`)
        const again = Result.getOrThrow(DataSet.decode(back as Uint8Array, from))
        assert.deepStrictEqual(comparable(again), comparable(before.success), `${name} back from ${to}`)
        converted++
      }
    }
    assert.isAbove(converted, 20)
  })
})

describe("Transcode.withFallbacks", () => {
  it("adds one context per SOP class proposed in a native syntax, after the given ones, within the room", () => {
    const own = [
      { abstractSyntax: "1.2.1", transferSyntaxes: [IMPLICIT_LE] },
      { abstractSyntax: "1.2.1", transferSyntaxes: [EXPLICIT_LE] },
      { abstractSyntax: "1.2.2", transferSyntaxes: ["1.2.840.10008.1.2.4.50"] },
      { abstractSyntax: "1.2.3", transferSyntaxes: [EXPLICIT_BE] }
    ]
    assert.deepStrictEqual(Transcode.withFallbacks(own), [
      ...own,
      { abstractSyntax: "1.2.1", transferSyntaxes: [EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE] },
      { abstractSyntax: "1.2.3", transferSyntaxes: [EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE] }
    ])
    assert.strictEqual(Transcode.withFallbacks(own, 5).length, 5)
    assert.deepStrictEqual(Transcode.withFallbacks(own, 4), own)
  })
})
