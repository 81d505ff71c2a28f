/**
 * Instances whose header holds long values (an Encapsulated PDF's document, a large private OB value, a long text):
 * the header ends before the top-level element holding one (Header.BULK_VALUE_BYTES) and the bytes are streamed to
 * their file, never held whole; values longer than ArchiveIndex.INDEX_VALUE_LIMIT stay out of the index.
 */
import { createHash } from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import * as Sqlite from "node:sqlite"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Result } from "effect"
import { Archive } from "../src/Archive.ts"
import { ArchiveIndex } from "../src/ArchiveIndex.ts"
import * as Header from "../src/Header.ts"
import { find, inFreshArchive, tempDir, withArchive } from "./fixtures.ts"

const PDF = "1.2.840.10008.5.1.4.1.1.104.1"
const LONG_VRS = new Set(["OB", "OW", "UN", "UT", "SQ", "UC"])

/** One Explicit VR Little Endian element; `value` padded to even length. */
const element = (group: number, elem: number, vr: string, value: Uint8Array | string): Uint8Array => {
  let bytes = typeof value === "string" ? new TextEncoder().encode(value) : value
  if (bytes.length % 2 === 1) {
    const padded = new Uint8Array(bytes.length + 1)
    padded.set(bytes)
    padded[bytes.length] = vr === "UI" || vr === "OB" ? 0 : 0x20
    bytes = padded
  }
  const long = LONG_VRS.has(vr)
  const head = new Uint8Array(long ? 12 : 8)
  const view = new DataView(head.buffer)
  view.setUint16(0, group, true)
  view.setUint16(2, elem, true)
  head[4] = vr.charCodeAt(0)
  head[5] = vr.charCodeAt(1)
  if (long) view.setUint32(8, bytes.length, true)
  else view.setUint16(6, bytes.length, true)
  const out = new Uint8Array(head.length + bytes.length)
  out.set(head)
  out.set(bytes, head.length)
  return out
}

const join = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** File Meta Information (preamble, DICM, group length first) of an Explicit VR Little Endian instance. */
const meta = (sopClass: string, sop: string): Uint8Array => {
  const body = join([
    element(2, 1, "OB", new Uint8Array([0, 1])),
    element(2, 2, "UI", sopClass),
    element(2, 3, "UI", sop),
    element(2, 0x10, "UI", "1.2.840.10008.1.2.1")
  ])
  const preamble = new Uint8Array(132)
  preamble.set(new TextEncoder().encode("DICM"), 128)
  const length = new Uint8Array(4)
  new DataView(length.buffer).setUint32(0, body.length, true)
  return join([preamble, element(2, 0, "UL", length), body])
}

/** The elements before the bulk value: the UIDs and a few attributes the index keeps. */
const head = (sopClass: string, sop: string, extra: ReadonlyArray<Uint8Array> = []) =>
  join([
    meta(sopClass, sop),
    element(8, 0x16, "UI", sopClass),
    element(8, 0x18, "UI", sop),
    element(8, 0x60, "CS", "DOC"),
    element(0x10, 0x10, "PN", "Pdf^Patient"),
    element(0x10, 0x20, "LO", "PDF1"),
    element(0x20, 0x0d, "UI", "9.1"),
    element(0x20, 0x0e, "UI", "9.1.1"),
    ...extra
  ])

/** Header of an (0042,0011) OB element of `length` bytes, whose value the caller streams. */
const obHeader = (length: number): Uint8Array => {
  const h = element(0x42, 0x11, "OB", new Uint8Array(0))
  new DataView(h.buffer).setUint32(8, length, true)
  return h
}

const MiB = 1024 * 1024

/**
 * An Encapsulated PDF of `mib` MiB streamed in 1 MiB chunks (the same chunk object, so the test holds 1 MiB):
 * counts the chunks taken and hashes what was sent.
 */
const pdfSource = (mib: number) => {
  const chunk = new Uint8Array(MiB).fill(0x25)
  const hash = createHash("sha256")
  let taken = 0
  const before = join([head(PDF, "9.1.1.1", [element(0x42, 0x12, "LO", "application/pdf")]), obHeader(mib * MiB)])
  const after = element(0x50, 0x04, "CS", "NO")
  const source = (async function* () {
    for (const piece of [before, ...Array.from({ length: mib }, () => chunk), after]) {
      taken++
      hash.update(piece)
      yield piece
    }
  })()
  return { source, taken: () => taken, digest: () => hash.digest("hex") }
}

/** How many bytes an async source yields. */
const drain = (source: AsyncIterable<Uint8Array>) =>
  Effect.promise(async () => {
    let n = 0
    for await (const piece of source) n += piece.length
    return n
  })

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

describe("bulk values in the header", () => {
  it.effect("the header ends at a top-level element holding a value over BULK_VALUE_BYTES: few chunks are read", () =>
    Effect.gen(function* () {
      const pdf = pdfSource(80)
      const peeked = yield* Header.peek(pdf.source)
      assert.isAtMost(pdf.taken(), 2)
      assert.strictEqual(peeked.header.sopInstanceUid, "9.1.1.1")
      assert.strictEqual(peeked.header.studyInstanceUid, "9.1")
      assert.strictEqual(peeked.header.dataset["MIMETypeOfEncapsulatedDocument"], "application/pdf")
      assert.isFalse("EncapsulatedDocument" in peeked.header.dataset)
      // what follows the bulk element is stored, not read
      assert.isFalse("BurnedInAnnotation" in peeked.header.dataset)
      assert.deepStrictEqual(peeked.header.warnings, [])
      const bytes = yield* drain(peeked.bytes)
      assert.strictEqual(
        bytes,
        head(PDF, "9.1.1.1", [element(0x42, 0x12, "LO", "application/pdf")]).length + 12 + 80 * MiB + 10
      )
    })
  )

  it.effect("an 80 MiB Encapsulated PDF (past the old 64 MiB header limit) is stored byte for byte and found", () =>
    inFreshArchive(
      Effect.gen(function* () {
        const archive = yield* Archive
        const pdf = pdfSource(80)
        const stored = yield* archive.store(pdf.source, { sopInstanceUid: "9.1.1.1", sopClassUid: PDF })
        const file = yield* Effect.promise(() => Fs.readFile(stored.record.filePath))
        assert.strictEqual(sha256(file), pdf.digest())
        const [image] = yield* find({
          QueryRetrieveLevel: "IMAGE",
          StudyInstanceUID: "9.1",
          SeriesInstanceUID: "9.1.1",
          SOPInstanceUID: "",
          MIMETypeOfEncapsulatedDocument: ""
        })
        assert.strictEqual(image?.["SOPInstanceUID"], "9.1.1.1")
        assert.strictEqual(image?.["MIMETypeOfEncapsulatedDocument"], "application/pdf")
        // indexed again from the file (netdicom qrscp on a new index), reading only its first chunk
        const rebuilt = yield* archive.rebuild
        assert.deepStrictEqual(rebuilt, { indexed: 1, failed: [] })
        const items = yield* archive.retrieve({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "9.1" })
        assert.deepStrictEqual(
          items.map((i) => i.fileSize),
          [file.length]
        )
      })
    )
  )

  it("a value over the bound inside a sequence ends the header at the sequence; a private OB value too", () => {
    const inSequence = join([
      head(PDF, "9.1.1.2"),
      // (0040,A730) Content Sequence, one item of undefined length holding a 2 MiB UT
      element(0x40, 0xa730, "SQ", new Uint8Array(0)).map((b, i) => (i >= 8 ? 0xff : b)),
      Uint8Array.from([0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff]),
      element(0x40, 0xa160, "UT", "x".repeat(2 * MiB)),
      Uint8Array.from([0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0, 0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0])
    ])
    const h = Header.fromBytes(inSequence)
    assert.isTrue(Result.isSuccess(h))
    if (Result.isSuccess(h)) {
      assert.isFalse("ContentSequence" in h.success.dataset)
      assert.strictEqual(h.success.seriesInstanceUid, "9.1.1")
    }
    const privateOb = join([head(PDF, "9.1.1.3"), element(0x0029, 0x1010, "OB", new Uint8Array(3 * MiB))])
    const p = Header.fromBytes(privateOb)
    assert.isTrue(Result.isSuccess(p))
    if (Result.isSuccess(p))
      assert.deepStrictEqual(
        Object.keys(p.success.dataset)
          .filter((k) => k !== "_vrMap")
          .sort(),
        [
          "Modality",
          "PatientID",
          "PatientName",
          "SOPClassUID",
          "SOPInstanceUID",
          "SeriesInstanceUID",
          "StudyInstanceUID"
        ]
      )
  })

  it.effect("past maxHeaderBytes of data set the header ends at the next top-level element, not refused", () =>
    Effect.gen(function* () {
      // 40 values of 64 KiB (each under BULK_VALUE_BYTES): 2.5 MiB of data set
      const texts = Array.from({ length: 40 }, (_, i) => element(0x4001, 0x1000 + i, "UT", "t".repeat(64 * 1024)))
      const bytes = join([head(PDF, "9.1.1.4"), ...texts])
      const chunks = Array.from({ length: Math.ceil(bytes.length / 65536) }, (_, i) =>
        bytes.subarray(i * 65536, (i + 1) * 65536)
      )
      const peeked = yield* Header.peek(chunks, MiB)
      assert.strictEqual(peeked.header.studyInstanceUid, "9.1")
      assert.strictEqual(yield* drain(peeked.bytes), bytes.length)
    })
  )
})

describe("long values in the index", () => {
  // private LT elements (0009,1000+i), named by their tag in the index's JSON; read back by an IMAGE level C-FIND
  const privates = (count: number, length: number) =>
    Array.from({ length: count }, (_, i) => element(9, 0x1000 + i, "LT", `${i}`.padEnd(length, "x")))
  const privateKeys = (count: number) =>
    Object.fromEntries(
      Array.from({ length: count }, (_, i) => [(0x00091000 + i).toString(16).toUpperCase().padStart(8, "0"), ""])
    )
  const imageLevel = (keys: Record<string, string>) =>
    find({ QueryRetrieveLevel: "IMAGE", StudyInstanceUID: "9.1", SeriesInstanceUID: "9.1.1", ...keys })

  it.effect(
    "a row keeps attributes up to INDEX_ATTRIBUTES_LIMIT of JSON: those past it, in tag order, are left out",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        // 40 values of 7,000 characters: 280,000 and more of JSON, over the 262,144 a row keeps
        yield* withArchive(
          dir,
          Effect.gen(function* () {
            yield* (yield* Archive).store(head(PDF, "9.1.1.6", privates(40, 7000)))
            const [image] = yield* imageLevel(privateKeys(40))
            const kept = Array.from(
              { length: 40 },
              (_, i) => image?.[(0x00091000 + i).toString(16).toUpperCase().padStart(8, "0")]
            )
            const count = kept.filter((v) => typeof v === "string" && v.length > 0).length
            assert.strictEqual(count, 37)
            assert.isTrue(kept.slice(0, 37).every((v) => typeof v === "string" && v.length === 7000))
            assert.isTrue(kept.slice(37).every((v) => v === undefined || v === ""))
          })
        )
      })
  )

  it.effect("a level's attrs, merged from several instances, are cut at INDEX_ATTRIBUTES_LIMIT too", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      // two instances of one series, 30 different values of 7,000 characters each: 60 would be ~420,000 of JSON
      const values = (from: number) =>
        Array.from({ length: 30 }, (_, i) => element(9, from + i, "LT", `${i}`.padEnd(7000, "y")))
      const key = (element: number) => (0x00090000 + element).toString(16).toUpperCase().padStart(8, "0")
      yield* withArchive(
        dir,
        Effect.gen(function* () {
          const archive = yield* Archive
          yield* archive.store(head(PDF, "9.1.1.8", values(0x1000)))
          yield* archive.store(head(PDF, "9.1.1.9", values(0x1020)))
          const keys = Object.fromEntries([0x1000, 0x101d, 0x1020, 0x1026, 0x1027, 0x103d].map((e) => [key(e), ""]))
          const [series] = yield* find({ QueryRetrieveLevel: "SERIES", StudyInstanceUID: "9.1", ...keys })
          const kept = [0x1000, 0x101d, 0x1020, 0x1026, 0x1027, 0x103d].map((e) => {
            const value = series?.[key(e)]
            return typeof value === "string" ? value.length : 0
          })
          // the first instance's 30, then the second's while they fit: 37 in all
          assert.deepStrictEqual(kept, [7000, 7000, 7000, 7000, 0, 0])
          const [image] = yield* imageLevel({ [key(0x103d)]: "" })
          assert.isDefined(image)
        })
      )
    })
  )

  it.effect("many short values, each far below the limits, are all kept", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      // 250 values of 200 characters: ~52,000 of JSON, though 6 times their length (a bound on any JSON) is more
      yield* withArchive(
        dir,
        Effect.gen(function* () {
          // and one of 5,000 quotes: 10,002 characters of JSON, over INDEX_VALUE_LIMIT though its text is not
          const quotes = element(9, 0x10fa, "LT", '"'.repeat(5000))
          yield* (yield* Archive).store(head(PDF, "9.1.1.7", [...privates(250, 200), quotes]))
          const [image] = yield* imageLevel({ ...privateKeys(250), "000910FA": "" })
          for (let i = 0; i < 250; i++) {
            const value = image?.[(0x00091000 + i).toString(16).toUpperCase().padStart(8, "0")]
            assert.strictEqual(typeof value === "string" ? value.length : -1, 200, `element ${i}`)
          }
          assert.strictEqual(image?.["000910FA"] ?? "", "")
        })
      )
    })
  )

  it.effect("values over INDEX_VALUE_LIMIT are kept out of the index: C-FIND answers them empty", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const description = "d".repeat(9 * 1024)
      const comments = "c".repeat(60000)
      const bytes = join([
        head(PDF, "9.1.1.5", [
          element(0x20, 0x10, "SH", "S1"),
          element(0x32, 0x4000, "LT", comments),
          element(0x42, 0x12, "LO", "application/pdf")
        ])
      ])
      // StudyDescription (0008,1030) comes before the UIDs in tag order: splice it in
      const withDescription = join([
        bytes.subarray(0, meta(PDF, "9.1.1.5").length + element(8, 0x16, "UI", PDF).length),
        element(8, 0x1030, "LO", description),
        bytes.subarray(meta(PDF, "9.1.1.5").length + element(8, 0x16, "UI", PDF).length)
      ])
      yield* withArchive(
        dir,
        Effect.gen(function* () {
          const archive = yield* Archive
          yield* archive.store(withDescription)
          const [study] = yield* find({
            QueryRetrieveLevel: "STUDY",
            StudyInstanceUID: "9.1",
            StudyDescription: "",
            StudyComments: "",
            StudyID: ""
          })
          assert.strictEqual(study?.["StudyID"], "S1")
          assert.strictEqual(study?.["StudyDescription"] ?? "", "")
          assert.strictEqual(study?.["StudyComments"] ?? "", "")
          const matched = yield* find({ QueryRetrieveLevel: "STUDY", StudyDescription: "d*" })
          assert.deepStrictEqual(matched, [])
          const index = yield* ArchiveIndex
          assert.isTrue(Option.isSome(yield* index.get("9.1.1.5")))
        })
      )
      const db = new Sqlite.DatabaseSync(Path.join(dir, "index.sqlite"), { readOnly: true })
      const row = db
        .prepare(
          `SELECT (SELECT sum(length(attrs)) FROM patient) + (SELECT sum(length(attrs)) FROM study) +
            (SELECT sum(length(attrs)) FROM series) + (SELECT sum(length(attrs)) FROM instance) AS total`
        )
        .get()
      db.close()
      // the 69 KB of long values were kept four times over (patient, study, series and instance attrs)
      assert.isBelow(Number(row?.["total"]), 8 * 1024)
    })
  )
})
