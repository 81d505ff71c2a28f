/**
 * The archive's header reader (`HeaderScan`, then `Charset.redecodeItems`) against data sets whose VRs lie: a
 * Specific Character Set written as UN, a text element of undefined length in Implicit VR, a sequence on a tag the
 * dictionary gives another VR (or none: private), text on a tag the dictionary calls a sequence. What the scan reads
 * must be what dcmjs reads (the archive's reference), and text must come out decoded once with the data set's
 * character set.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as Header from "../../packages/archive/src/Header.ts"
import * as Dcmjs from "../../packages/archive/src/internal/Dcmjs.ts"
import * as HeaderScan from "../../packages/archive/src/internal/HeaderScan.ts"
import { stripBinary } from "../../packages/archive/src/internal/StripBinary.ts"
import { cat, element, SEQUENCE_END, u16, u32, type El } from "../../packages/archive/test/bytes.ts"

const PIXEL_DATA = 0x7fe00010
const EXPLICIT_LE = "1.2.840.10008.1.2.1"
const IMPLICIT_LE = "1.2.840.10008.1.2"

const latin1 = (s: string) => Uint8Array.from([...s].map((c) => c.charCodeAt(0) & 0xff))
const utf8 = (s: string) => new TextEncoder().encode(s)

const item = (body: Uint8Array) => cat([u16(0xfffe), u16(0xe000), u32(body.length), body])

const UIDS: ReadonlyArray<El> = [
  { tag: 0x00080016, vr: "UI", value: latin1("1.2.840.10008.5.1.4.1.1.2\0") },
  { tag: 0x00080018, vr: "UI", value: latin1("1.2.3.4.5\0") },
  { tag: 0x0020000d, vr: "UI", value: latin1("1.2.3.4") },
  { tag: 0x0020000e, vr: "UI", value: latin1("1.2.3.4.6\0") }
]

/** A Part 10 file of the elements, in tag order, the four UIDs the archive needs among them. */
const part10 = (syntax: string, elements: ReadonlyArray<El>): Uint8Array => {
  const metaBody = cat(
    [
      { tag: 0x00020001, vr: "OB", value: Uint8Array.of(0, 1) },
      { tag: 0x00020002, vr: "UI", value: latin1("1.2.840.10008.5.1.4.1.1.2\0") },
      { tag: 0x00020003, vr: "UI", value: latin1("1.2.3.4.5\0") },
      { tag: 0x00020010, vr: "UI", value: latin1(syntax.length % 2 === 0 ? syntax : `${syntax}\0`) }
    ].map((e) => element(e, true))
  )
  const sorted = [...UIDS, ...elements].sort((a, b) => a.tag - b.tag)
  return cat([
    new Uint8Array(128),
    latin1("DICM"),
    element({ tag: 0x00020000, vr: "UL", value: u32(metaBody.length) }, true),
    metaBody,
    ...sorted.map((e) => element(e, syntax !== IMPLICIT_LE))
  ])
}

/** dcmjs's whole read, naturalized and stripped: what the archive indexed before the scan. */
const dcmjsDataSet = (bytes: Uint8Array) => {
  const read = Dcmjs.readFile(new Uint8Array(bytes).buffer, {
    ignoreErrors: false,
    untilTag: "7FE00010",
    includeUntilTagValue: false
  })
  return stripBinary(Dcmjs.naturalize(read.dict))
}

const dataSetOf = (bytes: Uint8Array) => {
  const header = Header.fromBytes(bytes)
  assert.isTrue(Result.isSuccess(header), Result.isFailure(header) ? header.failure.reason : "")
  return Result.isSuccess(header) ? header.success.dataset : {}
}

const CHARSET_UTF8: El = { tag: 0x00080005, vr: "CS", value: latin1("ISO_IR 192") }

describe("HeaderScan and lying VRs", () => {
  it("a Specific Character Set written as UN decodes the text after it, as dcmjs has it (its dictionary's CS)", () => {
    const bytes = part10(EXPLICIT_LE, [
      { ...CHARSET_UTF8, vr: "UN" },
      { tag: 0x00100010, vr: "PN", value: utf8("Schädel^Änne ") }
    ])
    const scanned = HeaderScan.scan(bytes, PIXEL_DATA)
    if (scanned !== undefined) assert.deepStrictEqual(scanned.dataset, dcmjsDataSet(bytes))
    assert.deepStrictEqual(dataSetOf(bytes)["PatientName"], [{ Alphabetic: "Schädel^Änne" }])
  })

  it("a text element of undefined length in Implicit VR is read as dcmjs reads it, not as a sequence", () => {
    // dcmjs gives (0010,0010) its dictionary's PN and reads it to the end of the bytes: (0010,0020) is not an
    // element of its own there, and the scan must not index it as one
    const bytes = part10(IMPLICIT_LE, [
      { tag: 0x00100010, vr: "PN", value: SEQUENCE_END, undefinedLength: true },
      { tag: 0x00100020, vr: "LO", value: latin1("ID") }
    ])
    const expected = dcmjsDataSet(bytes)
    assert.notProperty(expected, "PatientID")
    const scanned = HeaderScan.scan(bytes, PIXEL_DATA)
    if (scanned !== undefined) assert.deepStrictEqual(scanned.dataset, expected)
  })

  it("a person name's tag written with another VR is read as dcmjs reads it (its person name accessors)", () => {
    for (const [vr, value] of [
      ["CS", "----"],
      ["LO", "DOE^J\\ROE^K "],
      ["SH", ""]
    ] as const) {
      const bytes = part10(EXPLICIT_LE, [{ tag: 0x00100010, vr, value: latin1(value) }])
      const scanned = HeaderScan.scan(bytes, PIXEL_DATA)
      if (scanned !== undefined) {
        assert.strictEqual(JSON.stringify(scanned.dataset), JSON.stringify(dcmjsDataSet(bytes)), `${vr} '${value}'`)
      }
    }
  })

  it("a number on a person name's tag is refused as an instance dcmjs cannot read, not thrown", () => {
    // dcmjs's naturalized data set throws on a number given to a person name keyword ("Cannot add accessors to
    // non-string primitives"): it escaped Header.fromBytes, the C-STORE handler failed and no response was sent
    for (const charset of [[], [{ tag: 0x00080005, vr: "CS", value: latin1("ISO_IR 101") }]]) {
      const bytes = part10(EXPLICIT_LE, [...charset, { tag: 0x00080090, vr: "FL", value: new Uint8Array(4) }])
      const header = Header.fromBytes(bytes)
      assert.isTrue(Result.isFailure(header))
      if (Result.isFailure(header)) assert.match(header.failure.reason, /cannot/)
    }
  })

  it("text on a tag the dictionary calls a sequence is decoded once, not again as an item's", () => {
    const bytes = part10(EXPLICIT_LE, [CHARSET_UTF8, { tag: 0x00081032, vr: "LO", value: utf8("Schädel\\Kopf ") }])
    assert.deepStrictEqual(dataSetOf(bytes)["ProcedureCodeSequence"], ["Schädel", "Kopf"])
  })

  it("the items of a private sequence and of a sequence on a tag of another VR are decoded with the character set", () => {
    const name = element({ tag: 0x00100010, vr: "PN", value: utf8("Schädel ") }, true)
    const bytes = part10(EXPLICIT_LE, [
      CHARSET_UTF8,
      { tag: 0x00081030, vr: "SQ", value: item(name) },
      { tag: 0x00090010, vr: "LO", value: latin1("ACME 1.0") },
      { tag: 0x00091010, vr: "SQ", value: item(name) },
      { tag: 0x00091011, vr: "PN", value: utf8("Schädel ") }
    ])
    const dataset = dataSetOf(bytes)
    const names = (key: string) => (dataset[key] as ReadonlyArray<Record<string, unknown>>).map((i) => i["PatientName"])
    assert.deepStrictEqual(names("StudyDescription"), [[{ Alphabetic: "Schädel" }]])
    assert.deepStrictEqual(names("00091010"), [[{ Alphabetic: "Schädel" }]])
    // a private person name at the top level is read right already
    assert.deepStrictEqual(dataset["00091011"], [{ Alphabetic: "Schädel" }])
  })
})
