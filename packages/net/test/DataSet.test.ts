/** Data set encoding and decoding: round trips, cross-checks with dcmjs, character sets, deflate, hostile bytes. */
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { deflateRawSync, inflateRawSync } from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as DataSet from "../src/dimse/DataSet.ts"
import * as Part10 from "../src/dimse/Part10.ts"

const IMPLICIT = "1.2.840.10008.1.2"
const EXPLICIT = "1.2.840.10008.1.2.1"
const DEFLATED = "1.2.840.10008.1.2.1.99"
const BIG = "1.2.840.10008.1.2.2"
const ALL = [IMPLICIT, EXPLICIT, BIG, DEFLATED] as const

const corpus = process.env["NETDICOM_CORPUS"] ?? path.resolve(import.meta.dirname, "../../../../shared/corpus")
const haveCorpus = fs.existsSync(corpus)
if (!haveCorpus) console.warn(`DataSet.test.ts: no corpus at ${corpus} (set NETDICOM_CORPUS): skipping corpus cases`)

interface Dcmjs {
  readonly data: {
    readonly DicomMessage: {
      readFile(buffer: ArrayBuffer): { meta: Record<string, unknown>; dict: Record<string, unknown> }
      _read(stream: unknown, syntax: string, options: object): Record<string, unknown>
      write(dict: object, stream: unknown, syntax: string, options: object): number
    }
    readonly DicomMetaDictionary: {
      naturalizeDataset(dict: object): Record<string, unknown>
      denaturalizeDataset(dataset: object): Record<string, unknown>
    }
    readonly ReadBufferStream: new (buffer: ArrayBuffer) => unknown
    readonly WriteBufferStream: new (size: number, littleEndian: boolean) => { getBuffer(): ArrayBuffer }
  }
}
const dcmjs = createRequire(import.meta.url)("dcmjs") as Dcmjs

const ok = <A, E>(r: Result.Result<A, E>): A => {
  if (Result.isFailure(r)) assert.fail(`expected success, got ${String((r.failure as { message?: string }).message)}`)
  return r.success
}

const err = <A, E>(r: Result.Result<A, E>): E => {
  if (Result.isSuccess(r)) assert.fail("expected a failure")
  return r.failure
}

const bytesOf = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex.replace(/\s+/g, ""), "hex"))

/** An Explicit VR Little Endian element with a 16-bit length; the value is given as bytes. */
const explicitElement = (group: number, element: number, vr: string, value: Uint8Array): Uint8Array => {
  const out = new Uint8Array(8 + value.length)
  const view = new DataView(out.buffer)
  view.setUint16(0, group, true)
  view.setUint16(2, element, true)
  out.set([vr.charCodeAt(0), vr.charCodeAt(1)], 4)
  view.setUint16(6, value.length, true)
  out.set(value, 8)
  return out
}

const concat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

const padEven = (b: Uint8Array, pad = 0x20): Uint8Array => (b.length % 2 === 0 ? b : concat(b, Uint8Array.of(pad)))
/** The Latin-1 bytes of a string, not padded. */
const raw = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "latin1"))
const latin1 = (s: string): Uint8Array => padEven(Uint8Array.from(Buffer.from(s, "latin1")))
const utf8 = (s: string): Uint8Array => padEven(new TextEncoder().encode(s))

/** The bytes a transfer syntax's data set has before deflating. */
const plain = (bytes: Uint8Array, ts: string): Uint8Array =>
  ts === DEFLATED ? new Uint8Array(inflateRawSync(bytes)) : bytes
const plainTs = (ts: string): string => (ts === DEFLATED ? EXPLICIT : ts)

/** A C-FIND identifier at IMAGE level with every kind of empty return key. */
const identifier = {
  QueryRetrieveLevel: "IMAGE",
  PatientName: "DOE^JOHN",
  PatientID: "",
  PatientBirthDate: "",
  StudyInstanceUID: "1.2.826.0.1.3680043.2.1125.1",
  StudyDate: "20200101-20201231",
  StudyTime: "",
  AccessionNumber: "",
  ModalitiesInStudy: ["CT", "MR"],
  NumberOfStudyRelatedInstances: "",
  PatientWeight: "",
  Rows: "",
  Columns: 512,
  SOPInstanceUID: "",
  ReferringPhysicianName: "",
  ReferencedStudySequence: [{ ReferencedSOPClassUID: "1.2.840.10008.3.1.2.3.1", ReferencedSOPInstanceUID: "" }],
  OtherPatientIDsSequence: [],
  StudyDescription: "odd"
}

describe("encode/decode round trips", () => {
  for (const ts of ALL) {
    it(`a C-FIND identifier with zero-length return keys survives ${ts}`, () => {
      const bytes = ok(DataSet.encode(identifier, ts))
      assert.deepStrictEqual(ok(DataSet.decode(bytes, ts)), identifier)

      const elements = ok(DataSet.scan(plain(bytes, ts), plainTs(ts)))
      const tags = elements.map((e) => e.tag)
      assert.deepStrictEqual(
        tags,
        [...tags].sort((a, b) => a - b),
        "ascending tag order"
      )
      for (const e of elements)
        if (e.length !== undefined) assert.strictEqual(e.length % 2, 0, DataSet.tagString(e.tag))
      const lengthOf = (tag: number) => elements.find((e) => e.tag === tag)?.length
      for (const tag of [
        0x00100020, 0x00100030, 0x00080030, 0x00080050, 0x00201208, 0x00101030, 0x00280010, 0x00080018
      ]) {
        assert.strictEqual(lengthOf(tag), 0, `${DataSet.tagString(tag)} is a zero-length return key`)
      }
      assert.strictEqual(lengthOf(0x00081030), 4, `"odd" is padded to 4`)
      assert.isUndefined(lengthOf(0x00081110), "sequences have an undefined length")
    })
  }

  it("values are padded as the VR says: UI with NUL, text with space", () => {
    const bytes = ok(DataSet.encode({ SOPInstanceUID: "1.2.3", PatientID: "ABC" }, EXPLICIT))
    assert.deepStrictEqual(
      Buffer.from(bytes).toString("hex"),
      "08001800554906003" + "12e322e3300" + "100020004c4f0400414243" + "20"
    )
  })

  it("a UI value of anything but digits and dots is refused, not rewritten (dcmjs wrote 1.2* as 1.2)", () => {
    for (const uid of ["1.2*", "1.2.?", "1.2.3a", "1.2.3\\1.2.x"]) {
      const r = DataSet.encode({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: uid }, IMPLICIT)
      assert.isTrue(Result.isFailure(r), uid)
      if (Result.isFailure(r)) {
        assert.strictEqual(r.failure.kind, "InvalidValue")
        assert.include(r.failure.reason, "StudyInstanceUID (UI)")
      }
    }
    const nested = DataSet.encode({ ReferencedSeriesSequence: [{ SeriesInstanceUID: "1.2*" }] }, IMPLICIT)
    assert.isTrue(Result.isFailure(nested))
    // padding and lists are UIDs still
    const list = ok(DataSet.encode({ StudyInstanceUID: ["1.2.3 ", "1.2.4\0"], SOPInstanceUID: "" }, IMPLICIT))
    assert.deepStrictEqual(ok(DataSet.decode(list, IMPLICIT))["StudyInstanceUID"], ["1.2.3", "1.2.4"])
  })

  it("a UI value is decoded as sent: 1.2* stays 1.2*, not a query for study 1.2 (dcmjs kept digits and dots only)", () => {
    const uid = (value: string) => explicitElement(0x0020, 0x000d, "UI", latin1(value))
    const decoded = (value: string) => ok(DataSet.decode(uid(value), EXPLICIT))["StudyInstanceUID"]
    assert.strictEqual(decoded("1.2*"), "1.2*")
    assert.strictEqual(decoded("1.2.?\0"), "1.2.?")
    assert.deepStrictEqual(decoded("1.2.3\\1.2.x\0"), ["1.2.3", "1.2.x"])
    // valid ones as before: padding off, lists split
    assert.strictEqual(decoded("1.2.3\0"), "1.2.3")
    assert.deepStrictEqual(decoded("1.2.3\\1.2.4 "), ["1.2.3", "1.2.4"])
    // in an item too, and in Implicit VR
    const nested = ok(DataSet.encode({ ReferencedSeriesSequence: [{ SeriesInstanceUID: "1.2.3" }] }, IMPLICIT))
    const starred = Buffer.from(nested).toString("latin1").replace("1.2.3", "1.2*\0")
    const item = ok(DataSet.decode(new Uint8Array(Buffer.from(starred, "latin1")), IMPLICIT))
    assert.deepStrictEqual(item["ReferencedSeriesSequence"], [{ SeriesInstanceUID: "1.2*" }])
  })

  it("Explicit VR Big Endian writes tags, lengths and numbers big-endian", () => {
    const bytes = ok(DataSet.encode({ Columns: 512, PatientID: "AB" }, BIG))
    assert.strictEqual(Buffer.from(bytes).toString("hex"), "0010002" + "04c4f00024142" + "002800115553000202" + "00")
  })

  it("null, [] and [''] are zero-length too; undefined is absent", () => {
    const bytes = ok(
      DataSet.encode(
        { PatientID: null, PatientName: [], StudyDate: [""], Rows: null, AccessionNumber: undefined },
        EXPLICIT
      )
    )
    const decoded = ok(DataSet.decode(bytes, EXPLICIT))
    assert.deepStrictEqual(decoded, { PatientID: "", PatientName: "", StudyDate: "", Rows: "" })
  })

  it("Person Name groups and several values; dcmjs {Alphabetic} objects are accepted", () => {
    const ds = {
      SpecificCharacterSet: "ISO_IR 192",
      PatientName: "Yamada^Tarou=山田^太郎=やまだ^たろう",
      OtherPatientNames: ["A^B", "C^D"]
    }
    assert.deepStrictEqual(ok(DataSet.decode(ok(DataSet.encode(ds, EXPLICIT)), EXPLICIT)), ds)
    const objects = { PatientName: [{ Alphabetic: "DOE^JANE", Ideographic: "X" }] }
    assert.deepStrictEqual(ok(DataSet.decode(ok(DataSet.encode(objects, EXPLICIT)), EXPLICIT)), {
      PatientName: "DOE^JANE=X"
    })
  })

  it("the data set given is left as it was, frozen or not (dcmjs marks and rewrites the values it writes)", () => {
    const given = () => ({
      PatientName: { Alphabetic: "DOE*" },
      OtherPatientNames: [{ Alphabetic: "A^B" }, "C^D"],
      ModalitiesInStudy: ["CT", "MR"],
      PixelSpacing: [0.5, 0.5],
      ReferencedStudySequence: [{ ReferencedSOPInstanceUID: "1.2.3", ReferencedSOPClassUID: "1.2.4" }],
      "00091010": "private",
      _vrMap: { "00091010": "LO" }
    })
    const deepFreeze = <T>(o: T): T => {
      if (typeof o === "object" && o !== null) {
        for (const v of Object.values(o)) deepFreeze(v)
        Object.freeze(o)
      }
      return o
    }
    for (const ts of ALL) {
      const plain = given()
      const bytes = ok(DataSet.encode(plain, ts))
      assert.deepStrictEqual(plain, given())
      assert.deepStrictEqual(ok(DataSet.encode(deepFreeze(given()), ts)), bytes)
    }
  })

  it("several values in one string (a backslash between them) are all written, however long together", () => {
    const u1 = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
    const u2 = "1.3.6.1.4.1.5962.1.2.8.20040826185059.5457"
    // each value within its VR's maximum (UI 64, CS 16), all of them together past it: dcmjs cut the string there
    const ds = {
      StudyInstanceUID: `${u1}\\${u2}`,
      ModalitiesInStudy: "CT\\MR\\US\\NM\\PT\\SEG",
      OtherPatientIDs: ["A\\B", "C"],
      ImageComments: "one comment \\ with a backslash in it"
    }
    for (const ts of ALL) {
      const decoded = ok(DataSet.decode(ok(DataSet.encode(ds, ts)), ts))
      assert.deepStrictEqual(decoded["StudyInstanceUID"], [u1, u2], ts)
      assert.deepStrictEqual(decoded["ModalitiesInStudy"], ["CT", "MR", "US", "NM", "PT", "SEG"], ts)
      assert.deepStrictEqual(decoded["OtherPatientIDs"], ["A", "B", "C"], ts)
      // LT holds one value: its backslash is text
      assert.strictEqual(decoded["ImageComments"], ds.ImageComments, ts)
    }
  })

  it("private elements keep their VR through _vrMap in explicit VR and come back as UN in implicit VR", () => {
    const ds = {
      PatientID: "P",
      "00090010": "ACME",
      "00091001": "hello",
      _vrMap: { "00090010": "LO", "00091001": "LO" }
    }
    assert.deepStrictEqual(ok(DataSet.decode(ok(DataSet.encode(ds, EXPLICIT)), EXPLICIT)), ds)
    const implicit = ok(DataSet.decode(ok(DataSet.encode(ds, IMPLICIT)), IMPLICIT))
    assert.strictEqual(implicit["00090010"], "ACME")
    assert.deepStrictEqual(new Uint8Array(implicit["00091001"] as ArrayBuffer), new TextEncoder().encode("hello "))
  })

  it("binary values: ArrayBuffer or a view in, ArrayBuffer out", () => {
    const ds = { EncapsulatedDocument: Uint8Array.of(1, 2, 3) }
    const decoded = ok(DataSet.decode(ok(DataSet.encode(ds, EXPLICIT)), EXPLICIT))
    assert.deepStrictEqual([...new Uint8Array(decoded["EncapsulatedDocument"] as ArrayBuffer)], [1, 2, 3, 0])
  })
})

/** A dcmjs naturalized data set in our form: PN objects as strings, no accessors, no empty _vrMap. */
const ourForm = (value: unknown, vrOf: (key: string) => string | undefined = () => undefined): unknown => {
  if (Array.isArray(value)) return value.map((v) => ourForm(v))
  if (value instanceof ArrayBuffer || typeof value !== "object" || value === null) return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    if (k === "_vrMap" && Object.keys(v as object).length === 0) continue
    if (vrOf(k) === "PN") {
      const names = (Array.isArray(v) ? v : [v]).map((pn: { Alphabetic?: string }) => pn.Alphabetic ?? "")
      out[k] = names.length === 1 ? names[0] : names
    } else out[k] = ourForm(v)
  }
  return out
}

describe("cross-checks with dcmjs", () => {
  const ds = {
    PatientName: "DOE^JOHN",
    PatientID: "12345",
    StudyInstanceUID: "1.2.3.4",
    SeriesNumber: 3,
    PixelSpacing: [0.5, 0.25],
    ImageType: ["ORIGINAL", "PRIMARY"],
    ReferencedSeriesSequence: [
      { SeriesInstanceUID: "1.2.3.4.5", ReferencedInstanceSequence: [{ ReferencedSOPInstanceUID: "1.2.3.4.5.6" }] },
      { SeriesInstanceUID: "1.2.3.4.7" }
    ]
  }
  const vrOf = (k: string) => (k === "PatientName" ? "PN" : undefined)

  for (const ts of [IMPLICIT, EXPLICIT, BIG]) {
    it(`dcmjs reads what we write and we read what dcmjs writes (${ts})`, () => {
      const ours = ok(DataSet.encode(ds, ts))
      const { DicomMessage, DicomMetaDictionary, ReadBufferStream, WriteBufferStream } = dcmjs.data
      const read = DicomMessage._read(new ReadBufferStream(ours.slice().buffer), ts, { ignoreErrors: false })
      assert.deepStrictEqual(ourForm(DicomMetaDictionary.naturalizeDataset(read), vrOf), ds)

      const stream = new WriteBufferStream(1024, ts !== BIG)
      DicomMessage.write(DicomMetaDictionary.denaturalizeDataset(ds), stream, ts, {})
      const theirs = new Uint8Array(stream.getBuffer())
      assert.deepStrictEqual(ok(DataSet.decode(theirs, ts)), ds)
      assert.deepStrictEqual(Buffer.from(ours).toString("hex"), Buffer.from(theirs).toString("hex"))
    })
  }

  it.skipIf(!haveCorpus)(
    "corpus data sets decoded by us re-encode and decode to the same values in every syntax",
    () => {
      for (const name of ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "reportsi_with_empty_number_tags.dcm"]) {
        const file = new Uint8Array(fs.readFileSync(path.join(corpus, name)))
        const meta = ok(Part10.readMeta(file))
        const original = ok(DataSet.decode(file.subarray(meta.dataSetOffset), meta.transferSyntaxUid))
        for (const ts of [EXPLICIT, BIG, DEFLATED]) {
          const again = ok(DataSet.decode(ok(DataSet.encode(original, ts)), ts))
          assert.deepStrictEqual(again, original, `${name} through ${ts}`)
        }
        // and dcmjs agrees with us on what the file holds
        const theirs = dcmjs.data.DicomMessage.readFile(file.slice().buffer)
        const natural = dcmjs.data.DicomMetaDictionary.naturalizeDataset(theirs.dict)
        for (const key of ["StudyInstanceUID", "SOPInstanceUID", "Modality", "SeriesNumber"]) {
          assert.deepStrictEqual(original[key], natural[key], `${name} ${key}`)
        }
      }
    }
  )
})

describe("character sets", () => {
  const name = (ds: DataSet.Naturalized) => ds["PatientName"]

  it("undeclared Latin-1 bytes (no (0008,0005)) decode as the sender meant", () => {
    const bytes = concat(
      explicitElement(0x0008, 0x0052, "CS", latin1("PATIENT")),
      explicitElement(0x0010, 0x0010, "PN", latin1("Müller^Hans"))
    )
    const decoded = ok(DataSet.decode(bytes, EXPLICIT))
    assert.strictEqual(name(decoded), "Müller^Hans")
    assert.isUndefined(decoded["SpecificCharacterSet"])
  })

  it("ISO_IR 192 decodes UTF-8, also inside sequence items", () => {
    const item = explicitElement(0x0008, 0x1030, "LO", utf8("山田^太郎 検査"))
    const sequence = concat(
      bytesOf("0800 1011 5351 0000 ffffffff"),
      bytesOf("feff 00e0 ffffffff"),
      item,
      bytesOf("feff 0de0 00000000 feff dde0 00000000")
    )
    const bytes = concat(
      explicitElement(0x0008, 0x0005, "CS", latin1("ISO_IR 192")),
      sequence,
      explicitElement(0x0010, 0x0010, "PN", utf8("山田^太郎"))
    )
    const decoded = ok(DataSet.decode(bytes, EXPLICIT))
    assert.strictEqual(name(decoded), "山田^太郎")
    assert.deepStrictEqual(decoded["ReferencedStudySequence"], [{ StudyDescription: "山田^太郎 検査" }])
    assert.strictEqual(decoded["SpecificCharacterSet"], "ISO_IR 192")
  })

  it("ISO_IR 100 and ISO_IR 144 are honoured", () => {
    const german = concat(
      explicitElement(0x0008, 0x0005, "CS", latin1("ISO_IR 100")),
      explicitElement(0x0010, 0x0010, "PN", latin1("Äneas^Rüdiger"))
    )
    assert.strictEqual(name(ok(DataSet.decode(german, EXPLICIT))), "Äneas^Rüdiger")
    // "Люк" in ISO 8859-5: Л=0xBB ю=0xEE к=0xDA
    const russian = concat(
      explicitElement(0x0008, 0x0005, "CS", latin1("ISO_IR 144")),
      explicitElement(0x0010, 0x0010, "PN", padEven(Uint8Array.of(0xbb, 0xee, 0xda)))
    )
    assert.strictEqual(name(ok(DataSet.decode(russian, EXPLICIT))), "Люк")
  })

  // Expected names as DCMTK 3.6.7 `dcmconv +U8` converts these files (checked by hand when writing the test).
  const CHARSET_FILES: Record<string, string> = {
    "chrArab.dcm": "قباني^لنزار",
    "chrFren.dcm": "Buc^Jérôme",
    "chrFrenMulti.dcm": "Buc^Jérôme",
    "chrGerm.dcm": "Äneas^Rüdiger",
    "chrGreek.dcm": "Διονυσιος",
    "chrH32.dcm": "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう",
    "chrHbrw.dcm": "שרון^דבורה",
    "chrI2.dcm": "Hong^Gildong=洪^吉洞=홍^길동",
    "chrRuss.dcm": "Люкceмбypг",
    "chrX1.dcm": "Wang^XiaoDong=王^小東",
    "chrX2.dcm": "Wang^XiaoDong=王^小东"
  }

  it.skipIf(!haveCorpus)("the corpus charset files decode as DCMTK converts them", () => {
    for (const [file, expected] of Object.entries(CHARSET_FILES)) {
      const bytes = new Uint8Array(fs.readFileSync(path.join(corpus, "charset", file)))
      const meta = ok(Part10.readMeta(bytes))
      assert.strictEqual(
        name(ok(DataSet.decode(bytes.subarray(meta.dataSetOffset), meta.transferSyntaxUid))),
        expected,
        file
      )
    }
    const japanese = new Uint8Array(fs.readFileSync(path.join(corpus, "charset", "chrJapMulti.dcm")))
    const meta = ok(Part10.readMeta(japanese))
    assert.strictEqual(
      name(ok(DataSet.decode(japanese.subarray(meta.dataSetOffset), meta.transferSyntaxUid))),
      "やまだ^たろう"
    )
  })

  it("decoding a Node Buffer view leaves the caller's bytes alone", () => {
    const bytes = concat(
      explicitElement(0x0008, 0x0005, "CS", latin1("ISO_IR 100")),
      explicitElement(0x0010, 0x0010, "PN", latin1("Müller"))
    )
    const pool = Buffer.alloc(bytes.length + 64, 0x55)
    pool.set(bytes, 32)
    const view = pool.subarray(32, 32 + bytes.length)
    const before = Buffer.from(pool)
    assert.strictEqual(name(ok(DataSet.decode(view, EXPLICIT))), "Müller")
    assert.isTrue(before.equals(pool))
  })

  it("an unknown character set is a typed error from decode, Latin-1 with a warning from decodeWithWarnings", () => {
    const bytes = concat(
      explicitElement(0x0008, 0x0005, "CS", latin1("ISO_IR 999")),
      explicitElement(0x0010, 0x0010, "PN", latin1("M\u00fcller^Hans")),
      explicitElement(0x0010, 0x0020, "LO", latin1("ID1 "))
    )
    const e = err(DataSet.decode(bytes, EXPLICIT))
    assert.strictEqual(e._tag, "DataSetError")
    assert.strictEqual(e.kind, "CharacterSet")
    assert.include(e.reason, "ISO_IR 999")
    const lenient = ok(DataSet.decodeWithWarnings(bytes, EXPLICIT))
    assert.strictEqual(name(lenient.dataset), "M\u00fcller^Hans")
    assert.strictEqual(lenient.dataset["PatientID"], "ID1")
    assert.strictEqual(lenient.warnings.length, 1)
    assert.include(lenient.warnings[0], "ISO_IR 999")
  })

  it("text over 7FH with no (0008,0005) is Latin-1, with one warning from decodeWithWarnings (UTF-8 hinted)", () => {
    // as DCMTK's wlmscpfs answers by default from a worklist file in UTF-8: the bytes, no Specific Character Set
    const müller = utf8("M\u00fcller^J\u00fcrgen")
    const bytes = concat(
      explicitElement(0x0010, 0x0010, "PN", müller),
      explicitElement(0x0010, 0x0020, "LO", latin1("P\u00e9 "))
    )
    const strict = ok(DataSet.decode(bytes, EXPLICIT))
    assert.strictEqual(name(strict), "M\u00c3\u00bcller^J\u00c3\u00bcrgen")
    const lenient = ok(DataSet.decodeWithWarnings(bytes, EXPLICIT))
    assert.strictEqual(name(lenient.dataset), "M\u00c3\u00bcller^J\u00c3\u00bcrgen")
    assert.strictEqual(lenient.dataset["PatientID"], "P\u00e9")
    assert.deepStrictEqual(lenient.warnings, [
      '"M\u00c3\u00bcller^J\u00c3\u00bcrgen" has bytes over 7FH but no Specific Character Set (0008,0005) declares ' +
        'them: read as Latin-1 (as UTF-8, undeclared, it would read "M\u00fcller^J\u00fcrgen")'
    ])
    // Latin-1 bytes are no UTF-8: no hint; ASCII, or a declared character set, no warning at all
    const latin = ok(DataSet.decodeWithWarnings(explicitElement(0x0010, 0x0020, "LO", latin1("P\u00e9 ")), EXPLICIT))
    assert.deepStrictEqual(latin.warnings, [
      '"P\u00e9" has bytes over 7FH but no Specific Character Set (0008,0005) declares them: read as Latin-1'
    ])
    const ascii = ok(DataSet.decodeWithWarnings(explicitElement(0x0010, 0x0020, "LO", latin1("P1")), EXPLICIT))
    assert.deepStrictEqual(ascii.warnings, [])
    const declared = concat(
      explicitElement(0x0008, 0x0005, "CS", latin1("ISO_IR 192")),
      explicitElement(0x0010, 0x0010, "PN", müller)
    )
    const ok192 = ok(DataSet.decodeWithWarnings(declared, EXPLICIT))
    assert.strictEqual(name(ok192.dataset), "M\u00fcller^J\u00fcrgen")
    assert.deepStrictEqual(ok192.warnings, [])
  })

  it("an escape sequence to a set the character set does not name: Latin-1 with a warning, or a typed error", () => {
    // ESC $ ( C is KS X 1001 into G0, not part of \ISO 2022 IR 87
    const value = concat(raw("Yamada="), bytesOf("1b242843 3021"), bytesOf("1b2842 20"))
    const bytes = concat(
      explicitElement(0x0008, 0x0005, "CS", latin1("\\ISO 2022 IR 87")),
      explicitElement(0x0010, 0x0010, "PN", value)
    )
    assert.strictEqual(err(DataSet.decode(bytes, EXPLICIT)).kind, "CharacterSet")
    const lenient = ok(DataSet.decodeWithWarnings(bytes, EXPLICIT))
    assert.strictEqual(name(lenient.dataset), "Yamada=\u001b$(C0!\u001b(B")
    assert.strictEqual(lenient.warnings.length, 1)
  })

  // PS3.5 Annex H.3.2: ISO 2022 IR 13 (JIS X 0201 katakana in G1) with JIS X 0208 (IR 87) in G0 after ESC $ B
  const H32 = concat(
    bytesOf("d4cfc0de5ec0dbb3"), // ﾔﾏﾀﾞ^ﾀﾛｳ
    raw("="),
    bytesOf("1b2442 3b334544 1b284a 5e 1b2442 42404f3a 1b284a"), // 山田^太郎
    raw("="),
    bytesOf("1b2442 2464245e2440 1b284a 5e 1b2442 243f246d2426 1b284a") // やまだ^たろう
  )

  it("ISO 2022 IR 13\\ISO 2022 IR 87: all three person name groups (PS3.5 H.3.2)", () => {
    for (const charset of ["ISO 2022 IR 13\\ISO 2022 IR 87", "ISO 2022 IR 13\\ISO 2022 IR 87 "]) {
      const bytes = concat(
        explicitElement(0x0008, 0x0005, "CS", latin1(charset)),
        explicitElement(0x0010, 0x0010, "PN", padEven(H32)),
        explicitElement(0x0010, 0x0020, "LO", bytesOf("b1b2b3 5c 1b2442 3b33 1b284a")) // ｱｲｳ\山
      )
      const decoded = ok(DataSet.decode(bytes, EXPLICIT))
      assert.strictEqual(name(decoded), "\uff94\uff8f\uff80\uff9e^\uff80\uff9b\uff73=山田^太郎=やまだ^たろう")
      assert.deepStrictEqual(decoded["PatientID"], ["\uff71\uff72\uff73", "山"])
    }
  })

  it("ISO 2022 IR 13 alone: half-width katakana in G1", () => {
    const bytes = concat(
      explicitElement(0x0008, 0x0005, "CS", latin1("ISO 2022 IR 13")),
      explicitElement(0x0010, 0x0010, "PN", bytesOf("d4cfc0de5ec0dbb3"))
    )
    assert.strictEqual(name(ok(DataSet.decode(bytes, EXPLICIT))), "\uff94\uff8f\uff80\uff9e^\uff80\uff9b\uff73")
  })

  it("the other ISO 2022 combinations: Korean, Chinese, Latin-1 G1, JIS X 0212", () => {
    const cases: ReadonlyArray<readonly [string, Uint8Array, string]> = [
      ["\\ISO 2022 IR 149", concat(raw("Hong^="), bytesOf("1b242943 c8ab")), "Hong^=홍"],
      ["\\ISO 2022 IR 58", concat(raw("Wang^="), bytesOf("1b242941 cdf5")), "Wang^=王"],
      ["ISO 2022 IR 100", latin1("M\u00fcller"), "M\u00fcller"],
      ["\\ISO 2022 IR 159", concat(raw("AB="), bytesOf("1b242844 2237"), bytesOf("1b2842")), "AB=\uff5e"]
    ]
    for (const [charset, value, expected] of cases) {
      const bytes = concat(
        explicitElement(0x0008, 0x0005, "CS", latin1(charset)),
        explicitElement(0x0010, 0x0010, "PN", padEven(value))
      )
      assert.strictEqual(name(ok(DataSet.decode(bytes, EXPLICIT))), expected, charset)
    }
  })

  it("encoding with ISO_IR 192 writes UTF-8", () => {
    const bytes = ok(DataSet.encode({ SpecificCharacterSet: "ISO_IR 192", PatientName: "山田^太郎" }, EXPLICIT))
    const pn = ok(DataSet.scan(bytes, EXPLICIT)).find((e) => e.tag === 0x00100010)!
    const value = bytes.subarray(pn.valueOffset, pn.valueOffset + pn.length!)
    assert.deepStrictEqual(value, utf8("山田^太郎"))
  })

  it("non-ASCII text without (0008,0005) gets ISO_IR 192 declared; another declared set is refused", () => {
    const bytes = ok(DataSet.encode({ PatientName: "Müller^Hans" }, IMPLICIT))
    assert.deepStrictEqual(ok(DataSet.decode(bytes, IMPLICIT)), {
      SpecificCharacterSet: "ISO_IR 192",
      PatientName: "Müller^Hans"
    })
    const refused = err(DataSet.encode({ SpecificCharacterSet: "ISO_IR 100", PatientName: "Müller^Hans" }, EXPLICIT))
    assert.strictEqual(refused.kind, "CharacterSet")
    // ASCII text under ISO_IR 100 is the same bytes: kept as declared
    const ascii = ok(DataSet.encode({ SpecificCharacterSet: "ISO_IR 100", PatientName: "Muller^Hans" }, EXPLICIT))
    assert.include(Buffer.from(ascii).toString("latin1"), "ISO_IR 100")
  })

  it("non-ASCII in a VR limited to ASCII is refused", () => {
    assert.strictEqual(err(DataSet.encode({ Modality: "ÇT" }, EXPLICIT)).kind, "InvalidValue")
  })
})

describe("deflate", () => {
  it("is raw deflate of the Explicit VR Little Endian bytes, of even length", () => {
    const deflated = ok(DataSet.encode(identifier, DEFLATED))
    assert.strictEqual(deflated.length % 2, 0)
    assert.deepStrictEqual(new Uint8Array(inflateRawSync(deflated)), ok(DataSet.encode(identifier, EXPLICIT)))
  })

  it("decodes a deflated data set and bounds the inflated size", () => {
    const big = ok(DataSet.encode({ PatientID: "X", EncapsulatedDocument: new Uint8Array(4 * 1024 * 1024) }, EXPLICIT))
    const deflated = new Uint8Array(deflateRawSync(big))
    assert.strictEqual(ok(DataSet.decode(deflated, DEFLATED))["PatientID"], "X")
    const bomb = err(DataSet.decode(deflated, DEFLATED, { maxInflatedLength: 1024 * 1024 }))
    assert.strictEqual(bomb.kind, "Malformed")
    assert.strictEqual(err(DataSet.decode(Uint8Array.of(1, 2, 3, 4), DEFLATED)).kind, "Malformed")
  })
})

describe("errors are typed, never thrown", () => {
  it("unsupported transfer syntaxes", () => {
    for (const ts of ["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.5", "1.2.3.4.5"]) {
      assert.strictEqual(err(DataSet.encode({ PatientID: "X" }, ts)).kind, "UnsupportedTransferSyntax")
      assert.strictEqual(err(DataSet.decode(new Uint8Array(0), ts)).kind, "UnsupportedTransferSyntax")
    }
    assert.isTrue(DataSet.isSupported("1.2.840.10008.1.2.1\0"))
  })

  it("bad values: unknown keywords, non-data-set items, values too long, wrong types", () => {
    assert.include(err(DataSet.encode({ PatientNam: "X" }, EXPLICIT)).reason, "PatientNam")
    assert.strictEqual(err(DataSet.encode({ ReferencedStudySequence: ["x"] }, EXPLICIT)).kind, "InvalidValue")
    assert.strictEqual(err(DataSet.encode({ StudyInstanceUID: "1.".repeat(40) }, EXPLICIT)).kind, "InvalidValue")
    assert.strictEqual(err(DataSet.encode({ Rows: "many" }, EXPLICIT)).kind, "InvalidValue")
  })

  it("text given for a binary VR, or for a private tag of no known VR, is refused naming the key", () => {
    // A C-FIND SCP echoing a requested private key from a stored header (no `_vrMap` entry for it) met
    // "dcmjs cannot write the data set: First argument to DataView constructor must be an ArrayBuffer".
    const privateKey = err(DataSet.encode({ QueryRetrieveLevel: "SERIES", "00090010": "GEMS_IDEN_01" }, EXPLICIT))
    assert.strictEqual(privateKey.kind, "InvalidValue")
    assert.include(privateKey.reason, "00090010")
    assert.include(privateKey.reason, "_vrMap")
    assert.notInclude(privateKey.reason, "DataView")
    const binary = err(DataSet.encode({ EncapsulatedDocument: "not bytes" }, EXPLICIT))
    assert.strictEqual(binary.kind, "InvalidValue")
    assert.include(binary.reason, "EncapsulatedDocument (OB)")
    // given its VR, or bytes, either encodes
    const withVr = { "00090010": "GEMS_IDEN_01", _vrMap: { "00090010": "LO" } }
    assert.strictEqual(ok(DataSet.decode(ok(DataSet.encode(withVr, EXPLICIT)), EXPLICIT))["00090010"], "GEMS_IDEN_01")
    ok(DataSet.encode({ "00091001": Uint8Array.of(1, 2) }, EXPLICIT))
    ok(DataSet.encode({ EncapsulatedDocument: Uint8Array.of(1, 2) }, EXPLICIT))
  })

  it("hostile lengths and structures", () => {
    const cases: Record<string, Uint8Array> = {
      "length past the end": bytesOf("1000 2000 4c4f 1000 4142"),
      "32-bit length 0xfffffff0": bytesOf("0800 1811 5351 0000 f0ffffff"),
      "header cut short": bytesOf("1000 2000 4c"),
      "bad VR": bytesOf("1000 2000 0101 0200 4142"),
      "item outside a sequence": bytesOf("feff 00e0 00000000"),
      "undefined-length sequence never closed": bytesOf("0800 1011 5351 0000 ffffffff feff 00e0 ffffffff"),
      "item longer than its sequence": bytesOf("0800 1011 5351 0000 08000000 feff 00e0 10000000 0000 0000 0000 0000"),
      "nested 40 deep": concat(
        ...Array.from({ length: 40 }, () => bytesOf("0800 1011 5351 0000 ffffffff feff 00e0 ffffffff"))
      )
    }
    for (const [what, bytes] of Object.entries(cases)) {
      const e = err(DataSet.decode(bytes, EXPLICIT))
      assert.include(["Truncated", "Malformed"], e.kind, what)
      assert.strictEqual(e._tag, "DataSetError")
    }
    assert.strictEqual(err(DataSet.decode(bytesOf("1000 2000 4c4f 1000 4142"), EXPLICIT)).needed, 24)
  })

  it("random damage to an encoded identifier never throws", () => {
    const good = ok(DataSet.encode(identifier, EXPLICIT))
    let seed = 42
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    for (let i = 0; i < 500; i++) {
      const damaged = good.slice(0, good.length - random(8))
      for (let k = 0; k < 3; k++) damaged[random(damaged.length)] = random(256)
      for (const ts of [IMPLICIT, EXPLICIT, BIG]) {
        const r = DataSet.decode(damaged, ts)
        if (Result.isFailure(r)) assert.strictEqual(r.failure._tag, "DataSetError")
      }
    }
  })
})

describe("scan", () => {
  it("stops after the tag asked for, so a prefix is enough", () => {
    const bytes = ok(DataSet.encode(identifier, EXPLICIT))
    const all = ok(DataSet.scan(bytes, EXPLICIT))
    const sop = all.find((e) => e.tag === 0x00080018)!
    const prefix = bytes.subarray(0, sop.end)
    const scanned = ok(DataSet.scan(prefix, EXPLICIT, { until: 0x00080018 }))
    assert.strictEqual(scanned.at(-1)!.tag, 0x00080018)
    const short = err(DataSet.scan(bytes.subarray(0, sop.end - 1), EXPLICIT, { until: 0x00080018 }))
    assert.strictEqual(short.kind, "Truncated")
    assert.strictEqual(short.needed, sop.end)
  })

  it("refuses deflated and unknown syntaxes", () => {
    assert.strictEqual(err(DataSet.scan(new Uint8Array(0), DEFLATED)).kind, "UnsupportedTransferSyntax")
    assert.strictEqual(err(DataSet.scan(new Uint8Array(0), "1.2.3")).kind, "UnsupportedTransferSyntax")
  })
})

/** An Implicit VR Little Endian element; the value is given as bytes. */
const implicitElement = (group: number, element: number, value: Uint8Array): Uint8Array => {
  const out = new Uint8Array(8 + value.length)
  const view = new DataView(out.buffer)
  view.setUint16(0, group, true)
  view.setUint16(2, element, true)
  view.setUint32(4, value.length, true)
  out.set(value, 8)
  return out
}

/** An item of defined length (little endian) holding the given elements. */
const definedItem = (...elements: ReadonlyArray<Uint8Array>): Uint8Array => {
  const body = concat(...elements)
  const header = bytesOf("feff 00e0 00000000")
  new DataView(header.buffer).setUint32(4, body.length, true)
  return concat(header, body)
}

const undefinedItem = (...elements: ReadonlyArray<Uint8Array>): Uint8Array =>
  concat(bytesOf("feff 00e0 ffffffff"), ...elements, bytesOf("feff 0de0 00000000"))

const SEQUENCE_END = bytesOf("feff dde0 00000000")

describe("structure comes from the scan, values from dcmjs (PS3.5 7.1, 7.5, 6.2.2)", () => {
  // FFFE,E00D as little-endian and as big-endian words, then more bytes: an item delimiter only to a word scanner
  const lookalike = Uint8Array.of(0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0, 0xff, 0xfe, 0xe0, 0x0d, 0, 0, 0, 0, 1, 2)

  for (const ts of ALL) {
    it(`an OB value holding FFFE,E00D inside an undefined-length item loses nothing (${ts})`, () => {
      const ds = {
        PatientID: "ID42",
        ContentSequence: [
          {
            EncapsulatedDocument: lookalike.slice().buffer,
            PatientName: "DOEJ",
            ReferencedStudySequence: [{ ReferencedSOPInstanceUID: "1.2" }]
          },
          { PatientName: "NEXT" }
        ]
      }
      const decoded = ok(DataSet.decode(ok(DataSet.encode(ds, ts)), ts))
      assert.deepStrictEqual(decoded, ds)
    })

    it(`empty items are kept in place (${ts})`, () => {
      const ds = { ReferencedStudySequence: [{}, { ReferencedSOPInstanceUID: "1.2" }, {}] }
      assert.deepStrictEqual(ok(DataSet.decode(ok(DataSet.encode(ds, ts)), ts)), ds)
      assert.deepStrictEqual(ok(DataSet.decode(ok(DataSet.encode({ ReferencedStudySequence: [{}] }, ts)), ts)), {
        ReferencedStudySequence: [{}]
      })
    })
  }

  it("an empty item of defined length and one of undefined length do not shift the next", () => {
    const uid = explicitElement(0x0008, 0x1155, "UI", padEven(latin1("1.2"), 0))
    const bytes = concat(
      bytesOf("0800 1011 5351 0000 ffffffff"),
      definedItem(),
      undefinedItem(),
      definedItem(uid),
      SEQUENCE_END,
      explicitElement(0x0010, 0x0020, "LO", latin1("P1"))
    )
    assert.deepStrictEqual(ok(DataSet.decode(bytes, EXPLICIT)), {
      ReferencedStudySequence: [{}, {}, { ReferencedSOPInstanceUID: "1.2" }],
      PatientID: "P1"
    })
  })

  it("UN of undefined length holds an Implicit VR Little Endian sequence, in Explicit VR LE and BE", () => {
    const items = concat(undefinedItem(implicitElement(0x0010, 0x0010, latin1("ABCD"))), SEQUENCE_END)
    const little = concat(bytesOf("1100 1010 554e 0000 ffffffff"), items)
    const big = concat(bytesOf("0011 1010 554e 0000 ffffffff"), items)
    const expected = { "00111010": [{ PatientName: "ABCD" }], _vrMap: { "00111010": "SQ" } }
    assert.deepStrictEqual(ok(DataSet.decode(little, EXPLICIT)), expected)
    assert.deepStrictEqual(ok(DataSet.decode(big, BIG)), expected)
    const scanned = ok(DataSet.scan(little, EXPLICIT))
    assert.deepStrictEqual(
      scanned.map((e) => [e.tag, e.vr, e.length, e.end]),
      [[0x00111010, "UN", undefined, little.length]]
    )
    // a standard sequence sent as UN keeps its keyword and needs no _vrMap
    const known = concat(bytesOf("0800 1011 554e 0000 ffffffff"), items)
    assert.deepStrictEqual(ok(DataSet.decode(known, EXPLICIT)), { ReferencedStudySequence: [{ PatientName: "ABCD" }] })
  })

  it("UN of defined length whose tag the dictionary says is SQ is read as Implicit VR LE items (6.2.2)", () => {
    const item = definedItem(
      implicitElement(0x0008, 0x1150, padEven(latin1("1.2.3"), 0)),
      implicitElement(0x0008, 0x1155, padEven(latin1("1.2"), 0))
    )
    const header = bytesOf("0800 1011 554e 0000 00000000")
    new DataView(header.buffer).setUint32(8, item.length, true)
    assert.deepStrictEqual(ok(DataSet.decode(concat(header, item), EXPLICIT)), {
      ReferencedStudySequence: [{ ReferencedSOPClassUID: "1.2.3", ReferencedSOPInstanceUID: "1.2" }]
    })
  })

  it("an undefined length where 7.1 does not allow one is Malformed, not the delimiter's bytes", () => {
    const cases: ReadonlyArray<[string, string, Uint8Array]> = [
      ["PatientName in Implicit VR", IMPLICIT, bytesOf("1000 1000 ffffffff feff dde0 00000000")],
      ["Rows in Implicit VR", IMPLICIT, bytesOf("2800 1000 ffffffff feff dde0 00000000")],
      ["UT in Explicit VR", EXPLICIT, bytesOf("4000 60a1 5554 0000 ffffffff feff dde0 00000000")]
    ]
    for (const [what, ts, bytes] of cases) {
      const e = err(DataSet.decode(bytes, ts))
      assert.strictEqual(e._tag, "DataSetError", what)
      assert.strictEqual(e.kind, "Malformed", what)
      assert.strictEqual(e.offset, 0, what)
      assert.include(e.reason, "undefined length", what)
      assert.strictEqual(err(DataSet.scan(bytes, ts)).kind, "Malformed", what)
    }
    // a tag the dictionary does not know has VR UN, so an undefined length makes it a sequence (6.2.2)
    const priv = concat(
      bytesOf("0900 1010 ffffffff"),
      undefinedItem(implicitElement(0x0010, 0x0020, latin1("X1"))),
      SEQUENCE_END
    )
    assert.deepStrictEqual(ok(DataSet.decode(priv, IMPLICIT)), {
      "00091010": [{ PatientID: "X1" }],
      _vrMap: { "00091010": "SQ" }
    })
  })

  it("an item's own (0008,0005) holds for that item only", () => {
    const sequence = concat(
      bytesOf("0800 1011 5351 0000 ffffffff"),
      undefinedItem(
        explicitElement(0x0008, 0x0005, "CS", latin1("ISO_IR 144")),
        explicitElement(0x0010, 0x0010, "PN", padEven(Uint8Array.of(0xbb, 0xee, 0xda)))
      ),
      undefinedItem(explicitElement(0x0010, 0x0010, "PN", latin1("Jérôme"))),
      SEQUENCE_END
    )
    const bytes = concat(
      explicitElement(0x0008, 0x0005, "CS", latin1("ISO_IR 100")),
      sequence,
      explicitElement(0x0010, 0x0010, "PN", latin1("Müller"))
    )
    assert.deepStrictEqual(ok(DataSet.decode(bytes, EXPLICIT)), {
      SpecificCharacterSet: "ISO_IR 192",
      ReferencedStudySequence: [{ SpecificCharacterSet: "ISO_IR 192", PatientName: "Люк" }, { PatientName: "Jérôme" }],
      PatientName: "Müller"
    })
  })

  it("an unexpected exception inside decode, scan or encode is a typed error, never thrown", () => {
    const good = ok(DataSet.encode({ PatientID: "X" }, EXPLICIT))
    const hostile = new Proxy(good, {
      get: (target, key) => {
        if (key === "4") throw new Error("boom")
        const value: unknown = Reflect.get(target, key)
        return typeof value === "function" ? value.bind(target) : value
      }
    })
    for (const e of [err(DataSet.decode(hostile, EXPLICIT)), err(DataSet.scan(hostile, EXPLICIT))]) {
      assert.strictEqual(e._tag, "DataSetError")
      assert.strictEqual(e.kind, "Malformed")
      assert.include(e.reason, "boom")
    }
    const throwing = Object.defineProperty({}, "PatientID", {
      enumerable: true,
      get: () => {
        throw new Error("bang")
      }
    })
    assert.strictEqual(err(DataSet.encode(throwing, EXPLICIT))._tag, "DataSetError")
  })
})
