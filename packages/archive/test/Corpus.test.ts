/**
 * Indexing real files from the corpus (pydicom's test files): the folder in NETDICOM_CORPUS, else ../shared/corpus
 * next to the repository (tests/support/peers.ts `corpusDir`). Skipped, with a message, without it.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Zlib from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Result, Stream } from "effect"
import { Archive } from "../src/Archive.ts"
import { ArchiveIndex } from "../src/ArchiveIndex.ts"
import * as Part10 from "../src/Part10.ts"
import type { Dataset } from "../src/Header.ts"
import { corpusDir, corpusFile } from "../../../tests/support/peers.ts"
import { find, inFreshArchive, tempDir, withArchive } from "./fixtures.ts"

const CORPUS = corpusDir()
const present = corpusFile("CT_small.dcm") !== undefined
if (!present) {
  console.warn(
    `Corpus.test.ts: ${CORPUS} (with CT_small.dcm) is not there (set NETDICOM_CORPUS): skipping the corpus tests`
  )
}

const files = (dir: string): ReadonlyArray<string> =>
  Fs.existsSync(dir)
    ? Fs.readdirSync(dir)
        .filter((f) => f.endsWith(".dcm"))
        .sort()
        .map((f) => Path.join(dir, f))
    : []

/** Files a Part 10 reader must refuse: no File Meta Information, no transfer syntax, truncated, no study. */
const REFUSED = [
  "ExplVR_BigEndNoMeta.dcm",
  "ExplVR_LitEndNoMeta.dcm",
  "no_meta.dcm",
  "no_meta_group_length.dcm",
  "meta_missing_tsyntax.dcm",
  "rtplan_truncated.dcm"
]

const names = (found: ReadonlyArray<Dataset>): ReadonlyArray<unknown> => found.map((d) => d["PatientName"])

describe.skipIf(!present)(`corpus at ${CORPUS}`, () => {
  it.effect("every file is indexed in place or refused with a per-file reason", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* withArchive(
        dir,
        Effect.gen(function* () {
          const index = yield* ArchiveIndex
          const all = [...files(CORPUS), ...files(Path.join(CORPUS, "charset"))]
          const refused: Array<string> = []
          for (const path of all) {
            const outcome = yield* Effect.result(index.indexFile(path))
            if (Result.isFailure(outcome)) {
              assert.strictEqual(outcome.failure._tag, "InvalidInstance", path)
              refused.push(Path.basename(path))
            }
          }
          for (const name of REFUSED) assert.include(refused, name)
          assert.isAtLeast(all.length - refused.length, 40)

          const sop = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
          const entry = Option.getOrThrow(yield* index.get(sop))
          const [ct] = yield* index.retrieve({
            QueryRetrieveLevel: "IMAGE",
            StudyInstanceUID: entry.studyInstanceUid,
            SeriesInstanceUID: entry.seriesInstanceUid,
            SOPInstanceUID: sop
          })
          assert.strictEqual(ct?.filePath, Path.join(CORPUS, "CT_small.dcm"))
          assert.strictEqual(ct?.transferSyntaxUid, "1.2.840.10008.1.2.1")

          const compressed = yield* find({
            QueryRetrieveLevel: "STUDY",
            PatientName: "compressedsamples^*",
            StudyInstanceUID: ""
          })
          assert.includeDeepMembers(names(compressed) as Array<unknown>, [
            [{ Alphabetic: "CompressedSamples^CT1" }],
            [{ Alphabetic: "CompressedSamples^MR1" }]
          ])
        })
      )
    })
  )

  it.effect("stored through the archive, a data set cut short is refused with its reason and the rest are kept", () =>
    Effect.scoped(
      inFreshArchive(
        Effect.gen(function* () {
          const archive = yield* Archive
          const stored: Array<string> = []
          const reasons = new Map<string, string>()
          for (const path of files(CORPUS)) {
            const outcome = yield* Effect.result(archive.store(new Uint8Array(Fs.readFileSync(path))))
            if (Result.isSuccess(outcome)) stored.push(Path.basename(path))
            else reasons.set(Path.basename(path), outcome.failure.message)
          }
          // MR_truncated.dcm: its Pixel Data claims 8192 bytes, 8130 follow.
          assert.match(
            reasons.get("MR_truncated.dcm") ?? "stored",
            /truncated or malformed data set: \(7fe0,0010\) needs 8192/
          )
          assert.include(stored, "CT_small.dcm")
          assert.include(stored, "image_dfl.dcm")
          assert.isAtLeast(stored.length, 40)
          // A deflated data set (PS3.5 A.5) is inflated to be walked: cut short inside, it is refused too.
          const dfl = new Uint8Array(Fs.readFileSync(Path.join(CORPUS, "image_dfl.dcm")))
          const offset = Part10.dataSetOffset(dfl)!
          const inflated = Zlib.inflateRawSync(dfl.subarray(offset))
          const cut = Buffer.concat([
            dfl.subarray(0, offset),
            Zlib.deflateRawSync(inflated.subarray(0, inflated.length - 1000))
          ])
          const refused = yield* Effect.result(archive.store(new Uint8Array(cut)))
          assert.isTrue(Result.isFailure(refused))
          if (Result.isFailure(refused))
            assert.match(refused.failure.message, /truncated or malformed data set: \(7fe0,0010\)/)
          // A deflate stream that does not inflate.
          const garbage = Buffer.concat([dfl.subarray(0, offset), Buffer.from("not a deflate stream at all")])
          const broken = yield* Effect.result(archive.store(new Uint8Array(garbage)))
          assert.isTrue(Result.isFailure(broken))
          if (Result.isFailure(broken))
            assert.match(broken.failure.message, /does not inflate|cannot parse Part 10 file/)
        })
      )
    )
  )

  it.effect("names in Latin-1, Greek, Cyrillic, Arabic, Hebrew, GB18030, UTF-8 and ISO 2022 come back as Unicode", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* withArchive(
        dir,
        Effect.gen(function* () {
          const index = yield* ArchiveIndex
          for (const path of files(Path.join(CORPUS, "charset"))) yield* Effect.ignore(index.indexFile(path))
          const expected: ReadonlyArray<readonly [string, unknown]> = [
            ["buc^j\u00e9r\u00f4me", [{ Alphabetic: "Buc^J\u00e9r\u00f4me" }]],
            ["\u00e4neas^r\u00fcdiger", [{ Alphabetic: "\u00c4neas^R\u00fcdiger" }]],
            [
              "\u0394\u03b9\u03bf\u03bd\u03c5\u03c3\u03b9\u03bf\u03c2",
              [{ Alphabetic: "\u0394\u03b9\u03bf\u03bd\u03c5\u03c3\u03b9\u03bf\u03c2" }]
            ],
            ["\u041b\u044e\u043a*", [{ Alphabetic: "\u041b\u044e\u043a\u0063\u0065\u043c\u0431\u0079\u0070\u0433" }]],
            [
              "\u0642\u0628\u0627\u0646\u064a^*",
              [{ Alphabetic: "\u0642\u0628\u0627\u0646\u064a^\u0644\u0646\u0632\u0627\u0631" }]
            ],
            ["\u05e9\u05e8\u05d5\u05df^*", [{ Alphabetic: "\u05e9\u05e8\u05d5\u05df^\u05d3\u05d1\u05d5\u05e8\u05d4" }]],
            ["\u738b^\u5c0f\u6771", [{ Alphabetic: "Wang^XiaoDong", Ideographic: "\u738b^\u5c0f\u6771" }]],
            ["\u738b^\u5c0f\u4e1c", [{ Alphabetic: "Wang^XiaoDong", Ideographic: "\u738b^\u5c0f\u4e1c" }]],
            [
              "\u5c71\u7530^*",
              [
                {
                  Alphabetic: "\uff94\uff8f\uff80\uff9e^\uff80\uff9b\uff73",
                  Ideographic: "\u5c71\u7530^\u592a\u90ce",
                  Phonetic: "\u3084\u307e\u3060^\u305f\u308d\u3046"
                }
              ]
            ],
            [
              "hong^gildong",
              [{ Alphabetic: "Hong^Gildong", Ideographic: "\u6d2a^\u5409\u6d1e", Phonetic: "\ud64d^\uae38\ub3d9" }]
            ]
          ]
          for (const [query, name] of expected) {
            const found = yield* find({ QueryRetrieveLevel: "STUDY", PatientName: query, StudyInstanceUID: "" })
            assert.deepInclude(names(found) as Array<unknown>, name, query)
            for (const identifier of found) assert.strictEqual(identifier["SpecificCharacterSet"], "ISO_IR 192")
          }
        })
      )
    })
  )

  it.effect("stored corpus files are bit-exact, whole or chunked, deflated and big endian included", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* withArchive(
        dir,
        Effect.gen(function* () {
          const archive = yield* Archive
          for (const name of [
            "CT_small.dcm",
            "MR_small_bigendian.dcm",
            "image_dfl.dcm",
            "JPEG2000.dcm",
            "rtplan.dcm"
          ]) {
            const bytes = new Uint8Array(Fs.readFileSync(Path.join(CORPUS, name)))
            const whole = yield* archive.store(bytes)
            assert.deepStrictEqual(new Uint8Array(Fs.readFileSync(whole.record.filePath)), bytes, name)
            async function* chunked() {
              for (let i = 0; i < bytes.length; i += 1000) yield bytes.subarray(i, i + 1000)
            }
            const again = yield* archive.store(chunked())
            assert.strictEqual(again.record.filePath, whole.record.filePath)
            assert.deepStrictEqual(new Uint8Array(Fs.readFileSync(again.record.filePath)), bytes, name)
          }
          assert.strictEqual((yield* ArchiveIndex.use((i) => i.stats)).instances, 5)
          const studies = yield* Stream.runCollect(
            archive.find({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "", NumberOfStudyRelatedInstances: "" })
          )
          const total = studies.reduce((n, s) => n + Number(s["NumberOfStudyRelatedInstances"]), 0)
          assert.strictEqual(total, 5)
        })
      )
    })
  )
})
