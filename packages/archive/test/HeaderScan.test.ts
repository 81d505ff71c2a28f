/**
 * `HeaderScan` against dcmjs, the reader it stands in for: on random data sets built byte by byte (character sets,
 * padding, backslashes, odd lengths, numbers, person names, sequences, binary and private elements, Explicit and
 * Implicit VR) and on the shared corpus read in place, whatever it reads must be what dcmjs reads and naturalizes
 * (binary values stripped), keys in the same order; what it does not read it must leave to dcmjs (undefined).
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import * as Header from "../src/Header.ts"
import * as Dcmjs from "../src/internal/Dcmjs.ts"
import * as HeaderScan from "../src/internal/HeaderScan.ts"
import { stripBinary } from "../src/internal/StripBinary.ts"
import { corpusDir } from "../../../tests/support/peers.ts"
import { cat, element, SEQUENCE_END, u16, u32, type El } from "./bytes.ts"

const PIXEL_DATA = "7FE00010"
const EXPLICIT_LE = "1.2.840.10008.1.2.1"
const IMPLICIT_LE = "1.2.840.10008.1.2"
const JPEG_BASELINE = "1.2.840.10008.1.2.4.50"

/** What the archive's header was before `HeaderScan`: dcmjs's whole read, naturalized, binary values stripped. */
const reference = (bytes: Uint8Array, untilTag: string) => {
  const file = Dcmjs.readFile(new Uint8Array(bytes).buffer, {
    ignoreErrors: false,
    untilTag,
    includeUntilTagValue: false
  })
  const charset = file.dict["00080005"]?._rawValue
  const dict = { ...file.dict }
  delete dict[PIXEL_DATA]
  delete dict[untilTag]
  return {
    meta: stripBinary(Dcmjs.naturalize(file.meta)),
    dataset: stripBinary(Dcmjs.naturalize(dict)),
    terms: Array.isArray(charset) ? charset.map((c) => String(c).trim()) : []
  }
}

/** Compares a scan with the reference; gives whether the scan read it (false: left to dcmjs). */
const agrees = (bytes: Uint8Array, untilTag: string = PIXEL_DATA, label = ""): boolean => {
  let expected: ReturnType<typeof reference> | undefined
  try {
    expected = reference(bytes, untilTag)
  } catch {
    expected = undefined
  }
  const scanned = HeaderScan.scan(bytes, parseInt(untilTag, 16))
  if (scanned === undefined) return false
  assert.isDefined(expected, `${label}: scanned what dcmjs refuses`)
  assert.deepStrictEqual(scanned.dataset, expected!.dataset, label)
  assert.strictEqual(JSON.stringify(scanned.dataset), JSON.stringify(expected!.dataset), `${label}: key order`)
  assert.deepStrictEqual(scanned.meta, expected!.meta, label)
  assert.strictEqual(JSON.stringify(scanned.meta), JSON.stringify(expected!.meta), label)
  assert.deepStrictEqual(scanned.terms, expected!.terms, label)
  return true
}

// ---- a byte builder of Part 10 files

const latin1 = (s: string) => Uint8Array.from([...s].map((c) => Math.min(c.codePointAt(0)!, 0xff)))
const utf8 = (s: string) => new TextEncoder().encode(s)

const ITEM = (body: Uint8Array, defined: boolean) =>
  defined
    ? cat([u16(0xfffe), u16(0xe000), u32(body.length), body])
    : cat([u16(0xfffe), u16(0xe000), u32(0xffffffff), body, u16(0xfffe), u16(0xe00d), u32(0)])

const file = (syntax: string, elements: ReadonlyArray<El>, metaExtra: ReadonlyArray<El> = []): Uint8Array => {
  const uid = (s: string) => latin1(s.length % 2 === 0 ? s : `${s}\0`)
  const metaBody = cat(
    [
      { tag: 0x00020001, vr: "OB", value: Uint8Array.of(0, 1) },
      { tag: 0x00020002, vr: "UI", value: uid("1.2.840.10008.5.1.4.1.1.2") },
      { tag: 0x00020003, vr: "UI", value: uid("1.2.3.4.5") },
      { tag: 0x00020010, vr: "UI", value: uid(syntax) },
      { tag: 0x00020012, vr: "UI", value: uid("1.2.3.99") },
      ...metaExtra
    ].map((e) => element(e, true))
  )
  const explicit = syntax !== IMPLICIT_LE
  const sorted = [...elements].sort((a, b) => a.tag - b.tag)
  return cat([
    new Uint8Array(128),
    latin1("DICM"),
    element({ tag: 0x00020000, vr: "UL", value: u32(metaBody.length) }, true),
    metaBody,
    ...sorted.map((e) => element(e, explicit))
  ])
}

// ---- random elements

/** Tags the dictionary knows, by VR, and a few it does not (private, unknown, index-like keys). */
const TAGS: Readonly<Record<string, ReadonlyArray<number>>> = {
  AE: [0x00080054, 0x00400001],
  AS: [0x00101010],
  CS: [0x00080060, 0x00080008, 0x00185100, 0x20500020],
  DA: [0x00080020, 0x00100030],
  DS: [0x00180050, 0x00200032, 0x00281050],
  DT: [0x0008002a],
  IS: [0x00200013, 0x00200011],
  LO: [0x00100020, 0x00081030, 0x0008103e],
  LT: [0x00104000],
  PN: [0x00100010, 0x00080090],
  SH: [0x00080050, 0x00200010],
  ST: [0x00080081],
  TM: [0x00080030],
  UC: [0x00081080],
  UI: [0x0020000d, 0x0020000e, 0x00080018, 0x00080016],
  UR: [0x00081190],
  UT: [0x00080119],
  US: [0x00280010, 0x00280100, 0x00280106],
  SS: [0x00189219],
  UL: [0x00081161],
  SL: [0x00186020],
  FL: [0x00189306],
  FD: [0x00189327],
  OB: [0x00287fe0, 0x00091010],
  OW: [0x00660023],
  AT: [0x00209165],
  UN: [0x00091011, 0x00100021, 0x10019999],
  SQ: [0x00081140, 0x00082112]
}

const CHARS = [
  "A",
  "b",
  "0",
  "9",
  " ",
  " ",
  "\\",
  "=",
  "^",
  ".",
  "-",
  "+",
  "e",
  "\0",
  "\t",
  "é",
  "ü",
  "\u00a0",
  "日",
  "ж"
]
const text = fc.array(fc.constantFrom(...CHARS), { maxLength: 14 }).map((cs) => cs.join(""))
const numberText = fc
  .array(fc.constantFrom("1", "2", ".", "-", "+", "e", "E", " ", "\\", "x", "0"), { maxLength: 12 })
  .map((cs) => cs.join(""))

const pad = (bytes: Uint8Array, how: "none" | "space" | "nul") =>
  bytes.length % 2 === 0 || how === "none" ? bytes : cat([bytes, Uint8Array.of(how === "space" ? 0x20 : 0)])

const stringElement = (encode: (s: string) => Uint8Array) =>
  fc
    .record({
      vr: fc.constantFrom(
        "AE",
        "AS",
        "CS",
        "DA",
        "DS",
        "DT",
        "IS",
        "LO",
        "LT",
        "PN",
        "SH",
        "ST",
        "TM",
        "UC",
        "UI",
        "UR",
        "UT"
      ),
      pick: fc.nat(),
      value: text,
      numbers: numberText,
      padding: fc.constantFrom("none", "space", "nul")
    })
    .map(({ vr, pick, value, numbers, padding }): El => {
      const tags = TAGS[vr]!
      const raw = vr === "DS" || vr === "IS" ? numbers : vr === "UI" ? value.replace(/[^0-9.\\ \0]/g, "1") : value
      return { tag: tags[pick % tags.length]!, vr, value: pad(encode(raw), padding as "none" | "space" | "nul") }
    })

const numericElement = fc
  .record({
    vr: fc.constantFrom("US", "SS", "UL", "SL", "FL", "FD", "OB", "OW", "AT"),
    pick: fc.nat(),
    count: fc.nat({ max: 3 }),
    odd: fc.nat({ max: 5 }).map((n) => n === 0),
    seed: fc.uint8Array({ minLength: 32, maxLength: 32 })
  })
  .map(({ vr, pick, count, odd, seed }): El => {
    const size = { US: 2, SS: 2, UL: 4, SL: 4, FL: 4, FD: 8, OB: 1, OW: 2, AT: 4 }[vr]!
    const tags = TAGS[vr]!
    const length = Math.max(0, count * size + (odd && size > 1 ? 1 : 0))
    return { tag: tags[pick % tags.length]!, vr, value: seed.subarray(0, (length + 1) & ~1) }
  })

const sequenceElement = (encode: (s: string) => Uint8Array, explicit: boolean) =>
  fc
    .record({
      pick: fc.nat(),
      items: fc.array(fc.record({ name: text, id: text, defined: fc.boolean() }), { maxLength: 3 }),
      undefinedLength: fc.boolean()
    })
    .map(({ pick, items, undefinedLength }): El => {
      const tags = TAGS["SQ"]!
      const body = cat(
        items.map(({ name, id, defined }) =>
          ITEM(
            cat([
              element({ tag: 0x00080100, vr: "SH", value: pad(encode(id), "space") }, explicit),
              element({ tag: 0x00080104, vr: "LO", value: pad(encode(name), "space") }, explicit)
            ]),
            defined
          )
        )
      )
      return {
        tag: tags[pick % tags.length]!,
        vr: "SQ",
        value: undefinedLength ? cat([body, SEQUENCE_END]) : body,
        undefinedLength
      }
    })

const unknownElement = fc.record({ pick: fc.nat(), value: text }).map(({ pick, value }): El => {
  const tags = TAGS["UN"]!
  return { tag: tags[pick % tags.length]!, vr: "UN", value: pad(latin1(value), "nul") }
})

const CHARSETS = ["", "ISO_IR 100", "ISO_IR 192", "ISO_IR 6", "ISO_IR 144", "\\ISO 2022 IR 87"] as const

const dataSet = fc
  .record({
    syntax: fc.constantFrom(EXPLICIT_LE, IMPLICIT_LE, JPEG_BASELINE),
    charset: fc.option(fc.constantFrom(...CHARSETS), { nil: undefined }),
    strings: fc.array(fc.nat(), { maxLength: 12 }),
    seed: fc.nat()
  })
  .chain(({ syntax, charset }) => {
    const encode = charset === "ISO_IR 192" ? utf8 : latin1
    const explicit = syntax !== IMPLICIT_LE
    return fc
      .record({
        strings: fc.array(stringElement(encode), { maxLength: 12 }),
        numbers: fc.array(numericElement, { maxLength: 4 }),
        sequences: fc.array(sequenceElement(encode, explicit), { maxLength: 2 }),
        unknown: fc.array(unknownElement, { maxLength: 2 })
      })
      .map(({ strings, numbers, sequences, unknown }) => {
        const byTag = new Map<number, El>()
        for (const e of [...strings, ...numbers, ...sequences, ...unknown]) byTag.set(e.tag, e)
        if (charset !== undefined) {
          byTag.set(0x00080005, { tag: 0x00080005, vr: "CS", value: pad(latin1(charset), "space") })
        }
        return file(syntax, [...byTag.values()])
      })
  })

describe("HeaderScan", () => {
  it("reads random data sets as dcmjs does, or leaves them to it", () => {
    let read = 0
    let runs = 0
    fc.assert(
      fc.property(dataSet, (bytes) => {
        runs++
        if (agrees(bytes)) read++
      }),
      { numRuns: 1500 }
    )
    // most of them are its own to read: the comparison is not vacuous
    assert.isAbove(read, runs / 2)
  })

  it("stops at the tag it is given, as dcmjs stops there", () => {
    const bytes = file(EXPLICIT_LE, [
      { tag: 0x00100010, vr: "PN", value: latin1("DOE^JO") },
      { tag: 0x00100020, vr: "LO", value: latin1("ID") },
      { tag: 0x00200013, vr: "IS", value: latin1("7 ") }
    ])
    assert.isTrue(agrees(bytes, "00100020"))
    assert.deepStrictEqual(Object.keys(HeaderScan.scan(bytes, 0x00100020)!.dataset), ["_vrMap", "PatientName"])
    // as `Header` gives it: the bytes up to the tag of the element that ends the header, and that tag
    const cut = bytes.subarray(0, bytes.length - 2 * (8 + 2) + 4)
    assert.isTrue(agrees(cut, "00100020"))
  })

  it("keeps dcmjs's key order: tag texts that are array indices first", () => {
    const bytes = file(EXPLICIT_LE, [
      { tag: 0x00100010, vr: "PN", value: latin1("DOE^JO") },
      { tag: 0x20500020, vr: "CS", value: latin1("IDENTITY") },
      { tag: 0x10019999, vr: "LO", value: latin1("X ") }
    ])
    assert.isTrue(agrees(bytes))
    assert.deepStrictEqual(Object.keys(HeaderScan.scan(bytes, 0x7fe00010)!.dataset), [
      "10019999",
      "_vrMap",
      "PresentationLUTShape",
      "PatientName"
    ])
  })

  it("reads elements out of tag order as dcmjs does: in file order", () => {
    const inOrder = file(EXPLICIT_LE, [{ tag: 0x00200013, vr: "IS", value: latin1("7 ") }])
    const earlier = element({ tag: 0x00100010, vr: "PN", value: latin1("DOE^JO") }, true)
    const bytes = cat([inOrder, earlier])
    assert.isTrue(agrees(bytes))
    assert.deepStrictEqual(Object.keys(HeaderScan.scan(bytes, 0x7fe00010)!.dataset), [
      "_vrMap",
      "InstanceNumber",
      "PatientName"
    ])
  })

  it("sequences nested too deep are refused as before, the shallow ones read", () => {
    // (0008,1115) sequences of undefined length, each in an item of the one before, 70 deep (the walk allows 64)
    const sequenceAndItem = [u16(0x0008), u16(0x1115), latin1("SQ"), u16(0), u32(0xffffffff)]
    const openItem = cat([...sequenceAndItem, u16(0xfffe), u16(0xe000), u32(0xffffffff)])
    const closeItem = cat([u16(0xfffe), u16(0xe00d), u32(0), SEQUENCE_END])
    const nested = (depth: number) =>
      cat([...Array<Uint8Array>(depth).fill(openItem), ...Array<Uint8Array>(depth).fill(closeItem)])
    const uids = [
      { tag: 0x00080016, vr: "UI", value: latin1("1.2.840.10008.5.1.4.1.1.2\0") },
      { tag: 0x00080018, vr: "UI", value: latin1("1.2.3.4.5\0") },
      { tag: 0x0020000d, vr: "UI", value: latin1("1.2.3.4") },
      { tag: 0x0020000e, vr: "UI", value: latin1("1.2.3.4.6\0") }
    ]
    const deep = cat([file(EXPLICIT_LE, uids.slice(0, 2)), nested(70), ...uids.slice(2).map((e) => element(e, true))])
    const step = Header.parse(deep, true)
    assert.strictEqual(step._tag, "Invalid")
    if (step._tag === "Invalid") assert.match(step.reason, /nested too deep/)
    const shallow = cat([file(EXPLICIT_LE, uids.slice(0, 2)), nested(3), ...uids.slice(2).map((e) => element(e, true))])
    assert.strictEqual(Header.parse(shallow, true)._tag, "Parsed")
  })

  it("a malformed item in a sequence it would hand dcmjs is refused as before", () => {
    // a sequence whose item holds an OB of undefined length (encapsulated) with a fragment of undefined length
    const fragment = cat([u16(0xfffe), u16(0xe000), u32(0xffffffff), u16(0xfffe), u16(0xe00d), u32(0)])
    const ob = cat([u16(0x0009), u16(0x1010), latin1("OB"), u16(0), u32(0xffffffff), fragment, SEQUENCE_END])
    const sequence = cat([
      u16(0x0008),
      u16(0x1115),
      latin1("SQ"),
      u16(0),
      u32(0xffffffff),
      ITEM(ob, false),
      SEQUENCE_END
    ])
    const uids = [
      { tag: 0x00080016, vr: "UI", value: latin1("1.2.840.10008.5.1.4.1.1.2\0") },
      { tag: 0x00080018, vr: "UI", value: latin1("1.2.3.4.5\0") },
      { tag: 0x0020000d, vr: "UI", value: latin1("1.2.3.4") },
      { tag: 0x0020000e, vr: "UI", value: latin1("1.2.3.4.6\0") }
    ]
    const bytes = cat([file(EXPLICIT_LE, uids.slice(0, 2)), sequence, ...uids.slice(2).map((e) => element(e, true))])
    const step = Header.parse(bytes, true)
    assert.strictEqual(step._tag, "Invalid")
    if (step._tag === "Invalid") assert.match(step.reason, /fragment of undefined length/)
  })

  it("tags in descending order are read in time linear in their number", () => {
    // 60,000 private elements, each tag below the one before: a repeated tag is looked for among all before it
    const count = 60_000
    const elements = Array.from({ length: count }, (_, i) =>
      element({ tag: 0x0009ffff - i, vr: "LO", value: latin1("A ") }, true)
    )
    const bytes = cat([file(EXPLICIT_LE, []), ...elements])
    const started = performance.now()
    const scanned = HeaderScan.scan(bytes, 0x7fe00010)
    const took = performance.now() - started
    assert.strictEqual(Object.keys(scanned?.dataset ?? {}).length, count + 1)
    // a bound against a quadratic search (seconds here), not a speed target
    assert.isBelow(took, 1000)
  })

  it("leaves to dcmjs what it does not read: big endian, several character sets, a tag twice", () => {
    const twice = file(EXPLICIT_LE, [{ tag: 0x00100010, vr: "PN", value: latin1("A ") }])
    const doubled = cat([twice, element({ tag: 0x00100010, vr: "PN", value: latin1("B ") }, true)])
    assert.isUndefined(HeaderScan.scan(doubled, 0x7fe00010))
    const multi = file(EXPLICIT_LE, [{ tag: 0x00080005, vr: "CS", value: latin1("\\ISO 2022 IR 87 ") }])
    assert.isUndefined(HeaderScan.scan(multi, 0x7fe00010))
    const big = file("1.2.840.10008.1.2.2", [])
    assert.isUndefined(HeaderScan.scan(big, 0x7fe00010))
  })

  const corpus = corpusDir()
  it.skipIf(!Fs.existsSync(corpus))(`reads the shared corpus as dcmjs does (${corpus})`, () => {
    const files = Fs.readdirSync(corpus, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".dcm"))
    let read = 0
    for (const f of files) {
      const path = Path.join(corpus, f)
      if (Fs.statSync(path).size > 4 * 1024 * 1024) continue
      if (agrees(new Uint8Array(Fs.readFileSync(path)), PIXEL_DATA, f)) read++
    }
    assert.isAbove(read, 0)
  })
})
