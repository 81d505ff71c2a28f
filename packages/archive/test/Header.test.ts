import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as Header from "../src/Header.ts"
import { SC, part10, patch } from "./fixtures.ts"

const header = (bytes: Uint8Array) => {
  const parsed = Header.fromBytes(bytes)
  if (Result.isFailure(parsed)) throw new Error(parsed.failure.message)
  return parsed.success
}

const base = {
  SOPClassUID: SC,
  SOPInstanceUID: "3.1.1.1",
  StudyInstanceUID: "3.1",
  SeriesInstanceUID: "3.1.1",
  PatientID: "JP1"
}

describe("ISO 2022 code extensions (PS3.5 6.1.2.5)", () => {
  it("JIS X 0208 after ESC $ B, back to ASCII at ESC ( B (\\ISO 2022 IR 87)", () => {
    const bytes = part10({
      ...base,
      SpecificCharacterSet: ["", "ISO 2022 IR 87"],
      PatientName:
        "Yamada^Tarou=\u001b$B;3ED\u001b(B^\u001b$BB@O:\u001b(B=\u001b$B$d$^$@\u001b(B^\u001b$B$?$m$&\u001b(B"
    })
    const h = header(bytes)
    assert.strictEqual(h.specificCharacterSet, "\\ISO 2022 IR 87")
    assert.deepStrictEqual(h.dataset["PatientName"], [
      {
        Alphabetic: "Yamada^Tarou",
        Ideographic: "\u5c71\u7530^\u592a\u90ce",
        Phonetic: "\u3084\u307e\u3060^\u305f\u308d\u3046"
      }
    ])
    assert.deepStrictEqual(h.warnings, [])
  })

  it("KS X 1001 in G1 after ESC $ ) C (\\ISO 2022 IR 149), with high bytes", () => {
    // 홍 C8AB ^ 길동 B1E6 B5BF, each component designating G1 again
    const korean = Uint8Array.from([
      0x1b, 0x24, 0x29, 0x43, 0xc8, 0xab, 0x5e, 0x1b, 0x24, 0x29, 0x43, 0xb1, 0xe6, 0xb5, 0xbf
    ])
    const bytes = patch(
      part10({ ...base, SpecificCharacterSet: ["", "ISO 2022 IR 149"], PatientName: "Hong^Gildong=KKKKKKKKKKKKKKK" }),
      "KKKKKKKKKKKKKKK",
      korean
    )
    const h = header(bytes)
    assert.deepStrictEqual(h.dataset["PatientName"], [
      { Alphabetic: "Hong^Gildong", Ideographic: "\ud64d^\uae38\ub3d9" }
    ])
  })

  it("an unknown escape sequence is left as dcmjs decoded it, with a warning", () => {
    const h = header(part10({ ...base, SpecificCharacterSet: ["", "ISO 2022 IR 87"], PatientName: "A\u001b%GB" }))
    assert.deepStrictEqual(h.dataset["PatientName"], [{ Alphabetic: "A\u001b%GB" }])
    assert.strictEqual(h.warnings.length, 1)
  })

  it("a single character set needs no second decoding", () => {
    const h = header(part10({ ...base, SpecificCharacterSet: "ISO_IR 192", PatientName: "M\u00fcller^\u00c5sa" }))
    assert.deepStrictEqual(h.dataset["PatientName"], [{ Alphabetic: "M\u00fcller^\u00c5sa" }])
    assert.strictEqual(h.specificCharacterSet, "ISO_IR 192")
  })
})

describe("Header", () => {
  it("finds the header in a prefix of a large instance: pixel data is never needed", () => {
    const bytes = part10(
      { ...base, SpecificCharacterSet: "ISO_IR 192", PatientName: "Big^Image" },
      undefined,
      4_000_000
    )
    const step = Header.parse(bytes.subarray(0, Header.INITIAL_PREFIX), false)
    assert.strictEqual(step._tag, "Parsed")
    if (step._tag === "Parsed") {
      assert.strictEqual(step.header.sopInstanceUid, "3.1.1.1")
      assert.isFalse("PixelData" in step.header.dataset)
    }
    assert.strictEqual(Header.parse(bytes.subarray(0, 200), false)._tag, "NeedMore")
    assert.strictEqual(Header.parse(bytes.subarray(0, 200), true)._tag, "Invalid")
  })

  it("binary values are dropped, the rest is JSON-safe", () => {
    const h = header(
      part10({ ...base, SpecificCharacterSet: "ISO_IR 192", PatientName: "A^B", ImageType: ["ORIGINAL", "PRIMARY"] })
    )
    assert.deepStrictEqual(h.dataset["ImageType"], ["ORIGINAL", "PRIMARY"])
    assert.deepStrictEqual(JSON.parse(JSON.stringify(h.dataset)), h.dataset)
    assert.isUndefined(h.meta["FileMetaInformationVersion"])
    assert.strictEqual(h.transferSyntaxUid, "1.2.840.10008.1.2.1")
  })

  it("refuses data sets without their UIDs", () => {
    const parsed = Header.fromBytes(part10({ SOPClassUID: SC, SOPInstanceUID: "4.1", PatientID: "X" }))
    assert.isTrue(Result.isFailure(parsed))
    if (Result.isFailure(parsed)) assert.strictEqual(parsed.failure.reason, "no Study Instance UID")
  })
})

describe("text inside sequence items (dcmjs reads each item as windows-1252)", () => {
  const coded = (meaning: string) => [{ CodeValue: "T-D1100", CodingSchemeDesignator: "SRT", CodeMeaning: meaning }]

  it("is decoded with the data set's character set, as the top level is (ISO_IR 192)", () => {
    const text = "Sch\u00e4del \u041a\u0438\u0440\u0438\u043b\u043b"
    const h = header(
      part10({
        ...base,
        SpecificCharacterSet: "ISO_IR 192",
        StudyDescription: text,
        AnatomicRegionSequence: coded(text)
      })
    )
    assert.strictEqual(h.dataset["StudyDescription"], text)
    const items = h.dataset["AnatomicRegionSequence"] as ReadonlyArray<Record<string, unknown>>
    assert.strictEqual(items[0]?.["CodeMeaning"], text)
    assert.strictEqual(items[0]?.["CodeValue"], "T-D1100")
  })

  it("is decoded with a single-byte set too, nested items and person names included (ISO_IR 144)", () => {
    // "Кирилл" in ISO 8859-5 bytes, written over ASCII placeholders of the same length
    const cyrillic = Uint8Array.of(0xba, 0xd8, 0xe0, 0xd8, 0xdb, 0xdb)
    const bytes = patch(
      part10({
        ...base,
        SpecificCharacterSet: "ISO_IR 144",
        PatientName: "QQQQQQ",
        ProcedureCodeSequence: [
          { ...coded("QQQQQQ")[0], EquivalentCodeSequence: coded("QQQQQQ") },
          { CodeValue: "X", CodingSchemeDesignator: "L", CodeMeaning: "plain" }
        ],
        ReferencedPatientSequence: [{ ReferencedSOPClassUID: SC, ReferencedSOPInstanceUID: "3.9" }],
        PerformingPhysicianName: "QQQQQQ"
      }),
      "QQQQQQ",
      cyrillic
    )
    const h = header(bytes)
    const word = "\u041a\u0438\u0440\u0438\u043b\u043b"
    assert.deepStrictEqual(h.dataset["PatientName"], [{ Alphabetic: word }])
    const items = h.dataset["ProcedureCodeSequence"] as ReadonlyArray<Record<string, unknown>>
    assert.strictEqual(items[0]?.["CodeMeaning"], word)
    const nested = items[0]?.["EquivalentCodeSequence"] as ReadonlyArray<Record<string, unknown>>
    assert.strictEqual(nested[0]?.["CodeMeaning"], word)
    assert.strictEqual(items[1]?.["CodeMeaning"], "plain")
    const referenced = h.dataset["ReferencedPatientSequence"] as ReadonlyArray<Record<string, unknown>>
    assert.strictEqual(referenced[0]?.["ReferencedSOPInstanceUID"], "3.9")
  })

  it("stays as dcmjs read it without a Specific Character Set", () => {
    const bytes = patch(
      part10({ ...base, AnatomicRegionSequence: coded("QQQQQQ") }),
      "QQQQQQ",
      Uint8Array.of(0x53, 0x63, 0x68, 0xe4, 0x64, 0x6c) // "Schädl" in Latin-1 bytes, no character set declared
    )
    const items = header(bytes).dataset["AnatomicRegionSequence"] as ReadonlyArray<Record<string, unknown>>
    assert.strictEqual(items[0]?.["CodeMeaning"], "Sch\u00e4dl")
  })
})
