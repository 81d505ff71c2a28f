/**
 * A Series (Study) Instance UID already indexed under another study (patient): the instance is refused with
 * `UidConflict` rather than moving the series (study), other instances and all, under its own parent; the instance
 * alone in its series (study) may move it.
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option } from "effect"
import { Archive } from "../src/Archive.ts"
import { ArchiveIndex } from "../src/ArchiveIndex.ts"
import { find, instance, listFiles, tempDir, withArchive } from "./fixtures.ts"

const a1 = { patientId: "P1", patientName: "Doe^Jane", study: "5.1", series: "5.1.1", sop: "5.1.1.1" }
const a2 = { ...a1, sop: "5.1.1.2" }

const failure = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("the store succeeded")
  const found = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (found === undefined || found._tag !== "Fail") throw new Error("no failure")
  return found.error
}

/** Patient P1, study 5.1, series 5.1.1 with two instances; then `effect`. */
const withStudy = <A, E>(effect: (dir: string) => Effect.Effect<A, E, Archive | ArchiveIndex>) =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    return yield* withArchive(
      dir,
      Effect.gen(function* () {
        const archive = yield* Archive
        yield* archive.store(instance(a1))
        yield* archive.store(instance(a2))
        return yield* effect(dir)
      })
    )
  })

const seriesOf = (study: string) =>
  Effect.map(find({ QueryRetrieveLevel: "SERIES", StudyInstanceUID: study, SeriesInstanceUID: "" }), (rows) =>
    rows.map((r) => r["SeriesInstanceUID"])
  )

describe("a UID indexed under another parent", () => {
  it.effect("a new instance naming another study for an indexed series is refused; nothing moves or is written", () =>
    withStudy((dir) =>
      Effect.gen(function* () {
        const archive = yield* Archive
        const before = yield* Effect.promise(() => listFiles(dir))
        const exit = yield* Effect.exit(
          archive.store(
            instance({ patientId: "P2", patientName: "Roe^Rick", study: "6.1", series: "5.1.1", sop: "6.1.1.1" })
          )
        )
        const e = failure(exit)
        assert.strictEqual(e._tag, "UidConflict")
        if (e._tag === "UidConflict") {
          assert.strictEqual(e.status, 0xc000)
          assert.match(e.message, /^Series Instance UID belongs to another study: series 5\.1\.1 is in study 5\.1/)
        }
        assert.deepStrictEqual(yield* seriesOf("5.1"), ["5.1.1"])
        assert.deepStrictEqual(yield* seriesOf("6.1"), [])
        assert.deepStrictEqual(yield* Effect.promise(() => listFiles(dir)), before)
        const [patient] = yield* find({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "5.1", PatientID: "" })
        assert.strictEqual(patient?.["PatientID"], "P1")
      })
    )
  )

  it.effect("a new instance naming another Patient ID for an indexed study is refused", () =>
    withStudy(() =>
      Effect.gen(function* () {
        const archive = yield* Archive
        const e = failure(
          yield* Effect.exit(archive.store(instance({ ...a1, patientId: "P9", series: "5.1.2", sop: "5.1.2.1" })))
        )
        assert.strictEqual(e._tag, "UidConflict")
        assert.match(e.message, /^Study Instance UID belongs to another patient: study 5\.1 is under Patient ID "P1"/)
        // nor may an instance without a Patient ID take the study to a patient of its own
        const anonymous = failure(
          yield* Effect.exit(archive.store(instance({ ...a1, patientId: "", series: "5.1.3", sop: "5.1.3.1" })))
        )
        assert.strictEqual(anonymous._tag, "UidConflict")
        const studies = yield* find({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "5.1", PatientID: "" })
        assert.deepStrictEqual(
          studies.map((s) => s["PatientID"]),
          ["P1"]
        )
        assert.deepStrictEqual(yield* (yield* ArchiveIndex).stats, { patients: 1, studies: 1, series: 1, instances: 2 })
      })
    )
  )

  it.effect("re-storing an instance of a shared series under another study is refused; its file stays", () =>
    withStudy(() =>
      Effect.gen(function* () {
        const archive = yield* Archive
        const index = yield* ArchiveIndex
        const old = Option.getOrThrow(yield* index.get("5.1.1.1"))
        const e = failure(yield* Effect.exit(archive.store(instance({ ...a1, study: "6.1", patientId: "P2" }))))
        assert.strictEqual(e._tag, "UidConflict")
        const now = Option.getOrThrow(yield* index.get("5.1.1.1"))
        assert.strictEqual(now.filePath, old.filePath)
        assert.strictEqual(now.studyInstanceUid, "5.1")
        yield* Effect.promise(() => Fs.access(old.filePath))
        assert.isFalse(
          yield* Effect.promise(() =>
            Fs.access(Path.join(Path.dirname(Path.dirname(old.filePath)), "6.1")).then(
              () => true,
              () => false
            )
          )
        )
      })
    )
  )

  it.effect("the only instance of its series (study) may move it: a re-store correcting its own attributes", () =>
    withStudy(() =>
      Effect.gen(function* () {
        const archive = yield* Archive
        const index = yield* ArchiveIndex
        const lone = { patientId: "P3", patientName: "Lone^Ly", study: "7.1", series: "7.1.1", sop: "7.1.1.1" }
        yield* archive.store(instance(lone))
        // corrected Patient ID: the study (its only instance) goes to patient P4
        yield* archive.store(instance({ ...lone, patientId: "P4" }))
        const [study] = yield* find({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "7.1", PatientID: "" })
        assert.strictEqual(study?.["PatientID"], "P4")
        // corrected Study Instance UID: the series (its only instance) goes to study 7.2
        yield* archive.store(instance({ ...lone, patientId: "P4", study: "7.2" }))
        assert.deepStrictEqual(yield* seriesOf("7.2"), ["7.1.1"])
        assert.deepStrictEqual(yield* seriesOf("7.1"), [])
        assert.deepStrictEqual(yield* index.stats, { patients: 2, studies: 2, series: 2, instances: 3 })
      })
    )
  )

  it.effect("with uidConflicts 'move' (a plain storage SCP) the series moves as before", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const layer = Archive.layerFrom({
        root: Path.join(dir, "files"),
        index: { filename: ":memory:", uidConflicts: "move" }
      })
      yield* Effect.provide(
        Effect.gen(function* () {
          const archive = yield* Archive
          yield* archive.store(instance(a1))
          yield* archive.store(instance(a2))
          yield* archive.store(instance({ ...a1, study: "6.1", patientId: "P2", sop: "6.1.1.1" }))
          assert.deepStrictEqual(yield* seriesOf("6.1"), ["5.1.1"])
        }),
        layer
      )
    })
  )
})
