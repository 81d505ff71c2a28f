import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as Matching from "../src/Matching.ts"

const options = { caseInsensitivePersonName: true }
const key = (keyword: string, value: unknown, o = options) => {
  const compiled = Matching.compileKey(keyword, value, o)
  if (Result.isFailure(compiled)) throw new Error(compiled.failure.message)
  return compiled.success
}
const refused = (keyword: string, value: unknown): string => {
  const compiled = Matching.compileKey(keyword, value, options)
  return Result.isFailure(compiled) ? compiled.failure._tag : "accepted"
}

describe("Matching (PS3.4 C.2.2.2)", () => {
  it("universal matching: empty, null, [], * alone", () => {
    for (const v of ["", null, undefined, [], "*", [{ Alphabetic: "" }]]) {
      const k = key("PatientName", v)
      assert.strictEqual(k.match._tag, "Universal")
      assert.isTrue(k.test(undefined))
      assert.isTrue(k.test([{ Alphabetic: "X" }]))
    }
  })

  it("single value matching is exact, trailing spaces insignificant", () => {
    const k = key("AccessionNumber", "A123 ")
    assert.isTrue(k.test("A123"))
    assert.isFalse(k.test("a123"))
    assert.isFalse(k.test("A1234"))
    assert.isFalse(k.test(undefined))
    assert.isFalse(k.test(""))
  })

  it("PN is case-insensitive when configured, and each component group may match", () => {
    assert.isTrue(key("PatientName", "doe^john").test([{ Alphabetic: "DOE^JOHN" }]))
    assert.isFalse(
      key("PatientName", "doe^john", { caseInsensitivePersonName: false }).test([{ Alphabetic: "DOE^JOHN" }])
    )
    assert.isTrue(key("PatientName", "DOE^JOHN").test("DOE^JOHN^^^"))
    const wang = [{ Alphabetic: "Wang^XiaoDong", Ideographic: "王^小東" }]
    assert.isTrue(key("PatientName", "王^小東").test(wang))
    assert.isTrue(key("PatientName", "王*").test(wang))
    assert.isTrue(key("PatientName", "wang*=王*").test(wang))
    assert.isFalse(key("PatientName", "wang*=李*").test(wang))
    assert.isTrue(key("PatientName", { Alphabetic: "WANG^*" }).test(wang))
  })

  it("wildcards * and ? with regex characters taken literally", () => {
    const k = key("StudyDescription", "CT (head)*")
    assert.isTrue(k.test("CT (head) with contrast"))
    assert.isFalse(k.test("CT head"))
    const q = key("PatientID", "A?C")
    assert.isTrue(q.test("ABC"))
    assert.isTrue(q.test("AéC"))
    assert.isFalse(q.test("AC"))
    assert.isTrue(key("PatientID", "a.c*").test("a.cd"))
    assert.isFalse(key("PatientID", "a.c*").test("abcd"))
    assert.isTrue(key("PatientID", "*").test(undefined))
  })

  it("list of UID matching", () => {
    const k = key("StudyInstanceUID", "1.2.3\\1.2.4")
    assert.deepStrictEqual(Matching.singleValues(k), ["1.2.3", "1.2.4"])
    assert.isTrue(k.test("1.2.4"))
    assert.isFalse(k.test("1.2.5"))
    assert.isTrue(key("SeriesInstanceUID", ["9.8", "9.9"]).test("9.9"))
    // PS3.4 C.2.2.2.4 leaves UI out of wild card matching: the identifier does not match the SOP class (0xA900)
    assert.strictEqual(refused("StudyInstanceUID", "1.2.*"), "IdentifierDoesNotMatchSopClass")
  })

  it("multi-valued stored attributes match when any value matches", () => {
    assert.isTrue(key("ModalitiesInStudy", "MR").test(["CT", "MR"]))
    assert.isTrue(key("ModalitiesInStudy", "CT\\PT").test(["CT", "MR"]))
    assert.isFalse(key("ModalitiesInStudy", "PT").test(["CT", "MR"]))
    assert.isTrue(key("ModalitiesInStudy", "M*").test(["CT", "MR"]))
  })

  it("numbers compare as numbers", () => {
    assert.isTrue(key("SeriesNumber", "3").test(3))
    assert.isTrue(key("SeriesNumber", 3).test("03"))
    assert.isFalse(key("SeriesNumber", 3).test(4))
  })

  it("DA range matching: inclusive, open both ways, old dotted format", () => {
    const inside = key("StudyDate", "20200101-20201231")
    assert.isTrue(inside.test("20200101"))
    assert.isTrue(inside.test("20201231"))
    assert.isFalse(inside.test("20210101"))
    assert.isTrue(key("StudyDate", "20200101-").test("20991231"))
    assert.isFalse(key("StudyDate", "20200101-").test("20191231"))
    assert.isTrue(key("StudyDate", "-20200101").test("19000101"))
    assert.isTrue(key("StudyDate", "20200101").test("2020.01.01"))
    assert.isFalse(key("StudyDate", "20200101").test("20200102"))
    assert.isFalse(inside.test(undefined))
    assert.strictEqual(refused("StudyDate", "2020-13"), "UnableToProcess")
    assert.strictEqual(refused("StudyDate", "yesterday"), "UnableToProcess")
  })

  it("TM range matching pads bounds to full precision", () => {
    const k = key("StudyTime", "1200-1300")
    assert.isTrue(k.test("120000"))
    assert.isTrue(k.test("130059.999"))
    assert.isFalse(k.test("130100"))
    assert.isFalse(k.test("115959.99"))
    assert.isTrue(key("StudyTime", "12:30-").test("123000"))
    assert.isTrue(key("StudyTime", "1015").test("101500"))
    assert.isTrue(key("StudyTime", "-08").test("085959"))
    assert.isFalse(key("StudyTime", "-08").test("090000"))
  })

  it("DT range matching, with and without an offset", () => {
    const k = key("AcquisitionDateTime", "20200101-20200131")
    assert.strictEqual(k.match._tag, "Values")
    assert.isTrue(k.test("20200115103000.5"))
    assert.isTrue(k.test("20200131235959"))
    assert.isFalse(k.test("20200201000000"))
    assert.isTrue(key("AcquisitionDateTime", "2020-2021").test("20211231"))
    const single = key("AcquisitionDateTime", "20200101120000-0500")
    assert.strictEqual(single.match._tag === "Values" ? single.match.values[0]?._tag : "", "Single")
    assert.isTrue(single.test("20200101120000"))
    const ranged = key("AcquisitionDateTime", "20200101120000-0500-20200102")
    assert.strictEqual(ranged.match._tag === "Values" ? ranged.match.values[0]?._tag : "", "Range")
    assert.isTrue(ranged.test("20200102235959"))
  })

  it("sequence matching: an item matches when all its keys match; only matching items come back", () => {
    const stored = [
      { CodeValue: "A1", CodingSchemeDesignator: "L", CodeMeaning: "Head" },
      { CodeValue: "B2", CodingSchemeDesignator: "L", CodeMeaning: "Chest" }
    ]
    const k = key("ProcedureCodeSequence", [{ CodeValue: "B*", CodeMeaning: "" }])
    assert.isTrue(k.test(stored))
    assert.deepStrictEqual(k.respond(stored), [{ CodeValue: "B2", CodeMeaning: "Chest" }])
    assert.isFalse(key("ProcedureCodeSequence", [{ CodeValue: "C*" }]).test(stored))
    assert.isFalse(key("ProcedureCodeSequence", [{ CodeValue: "A1" }]).test(undefined))
    const all = key("ProcedureCodeSequence", [])
    assert.strictEqual(all.match._tag, "Universal")
    assert.deepStrictEqual(all.respond(stored), stored)
    const universalItem = key("ProcedureCodeSequence", [{ CodeValue: "" }])
    assert.isTrue(universalItem.test(undefined))
    assert.deepStrictEqual(universalItem.respond(stored), [{ CodeValue: "A1" }, { CodeValue: "B2" }])
  })

  it("VRs come from the dictionary, ambiguous ones resolve to the first", () => {
    assert.strictEqual(Matching.vrOf("PatientName"), "PN")
    assert.strictEqual(Matching.vrOf("PixelPaddingValue"), "US")
    assert.strictEqual(Matching.vrOf("PixelPaddingValue", { PixelPaddingValue: "SS" }), "SS")
    assert.strictEqual(Matching.vrOf("00100010"), "PN")
    assert.strictEqual(Matching.vrOf("NoSuchKeyword"), "UN")
  })

  it("full precision forms", () => {
    assert.strictEqual(Matching.fullTime("12", false), "120000.000000")
    assert.strictEqual(Matching.fullTime("12", true), "125959.999999")
    assert.strictEqual(Matching.fullTime("1230.5", true), undefined)
    assert.strictEqual(Matching.fullTime("123000.5", true), "123000.599999")
    assert.strictEqual(Matching.fullDateTime("2020", true), "20201231235959.999999")
    assert.strictEqual(Matching.fullDateTime("202002+0100", false), "20200201000000.000000")
    assert.strictEqual(Matching.fullDateTime("2020-2021", false), undefined)
  })
})
