/**
 * The archive's index keeps at most `ArchiveIndex.INDEX_ATTRIBUTES_LIMIT` of JSON per row: a peer's instance whose
 * private elements (group 0009, before the patient's and the study's groups) fill that budget must not push the
 * standard attributes out of it, which would make the instance unfindable by Patient's Name and answer it without one.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Archive } from "../../packages/archive/src/Archive.ts"
import { find, tempDir, withArchive } from "../../packages/archive/test/fixtures.ts"
import { part10File, text } from "../support/elements.ts"

const SC = "1.2.840.10008.5.1.4.1.1.7"

const instance = (sop: string, privates: number): Uint8Array =>
  part10File(SC, sop, [
    text(8, 0x16, "UI", SC),
    text(8, 0x18, "UI", sop),
    // 30,000 private LO values "AB": ~360,000 of JSON with their keys, over the 262,144 a row keeps
    ...Array.from({ length: privates }, (_, i) => text(9, 0x1000 + i, "LO", "AB")),
    text(0x10, 0x10, "PN", "Budget^Pat"),
    text(0x10, 0x20, "LO", "BUDGET1"),
    text(0x20, 0x0d, "UI", "9.7"),
    text(0x20, 0x0e, "UI", "9.7.1"),
    text(0x20, 0x13, "IS", "5")
  ])

describe("the index's budget of attributes per row", () => {
  it.effect("private elements filling it leave the standard attributes in: matched and answered", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* withArchive(
        dir,
        Effect.gen(function* () {
          yield* (yield* Archive).store(instance("9.7.1.1", 30_000))
          const images = yield* find({
            QueryRetrieveLevel: "IMAGE",
            StudyInstanceUID: "9.7",
            SeriesInstanceUID: "9.7.1",
            InstanceNumber: "5"
          })
          assert.strictEqual(images.length, 1)
          assert.strictEqual(images[0]?.["InstanceNumber"], 5)
          const studies = yield* find({ QueryRetrieveLevel: "STUDY", PatientName: "Budget*", PatientID: "" })
          assert.strictEqual(studies[0]?.["PatientName"] !== undefined, true)
          assert.strictEqual(studies.length, 1)
          assert.strictEqual(studies[0]?.["PatientID"], "BUDGET1")
        })
      )
    })
  )
})
