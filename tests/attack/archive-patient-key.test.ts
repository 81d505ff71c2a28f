/**
 * Patient keys (schema version 2) attacked with re-stores: an instance without Patient ID moved to another study, an
 * instance given a Patient ID and back; what is left must be one patient, one study, one series, one file.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Archive } from "../../packages/archive/src/Archive.ts"
import { ArchiveIndex } from "../../packages/archive/src/ArchiveIndex.ts"
import { InstanceStore } from "../../packages/archive/src/InstanceStore.ts"
import { find, inFreshArchive, instance, listFiles } from "../../packages/archive/test/fixtures.ts"

const base = { patientId: "", patientName: "Anon", study: "3.1", series: "3.1.1", sop: "3.1.1.1" }

describe("archive patient keys under re-stores", () => {
  it.live("re-storing the only instance under other study, Patient ID and back leaves no stray entity", () =>
    inFreshArchive(
      Effect.gen(function* () {
        const archive = yield* Archive
        const index = yield* ArchiveIndex
        const store = yield* InstanceStore
        const steps = [
          base,
          { ...base, study: "3.2" },
          { ...base, study: "3.2", patientId: "P1" },
          { ...base, study: "3.2", patientId: "" },
          { ...base, study: "3.1", patientId: "P2" },
          { ...base, study: "3.1", patientId: "" }
        ]
        for (const s of steps) {
          yield* archive.store(instance(s))
          const stats = yield* index.stats
          assert.deepStrictEqual(
            { patients: stats.patients, studies: stats.studies, series: stats.series, instances: stats.instances },
            { patients: 1, studies: 1, series: 1, instances: 1 },
            JSON.stringify(s)
          )
          const patients = yield* find({ QueryRetrieveLevel: "PATIENT", PatientID: "", PatientName: "" }, "PatientRoot")
          assert.strictEqual(patients.length, 1, JSON.stringify(s))
          const files = (yield* Effect.promise(() => listFiles(store.root))).filter((f) => f.endsWith(".dcm"))
          assert.deepStrictEqual(files, [`${s.study}/${s.sop}.dcm`], JSON.stringify(s))
        }
      })
    )
  )
})

describe("archive: a series moved by its only instance while another instance joins it", () => {
  it.live("20 rounds: the index and the files agree, the series is in one study", () =>
    inFreshArchive(
      Effect.gen(function* () {
        const archive = yield* Archive
        const index = yield* ArchiveIndex
        const store = yield* InstanceStore
        for (let round = 0; round < 20; round++) {
          const series = `3.9.${round}`
          const a = { patientId: "P", patientName: "A^B", study: "3.8", series, sop: `${series}.1` }
          yield* archive.store(instance(a))
          const outcomes = yield* Effect.all(
            [
              Effect.result(archive.store(instance({ ...a, study: "3.7", patientId: round % 2 === 0 ? "P" : "" }))),
              Effect.result(archive.store(instance({ ...a, sop: `${series}.2` }))),
              Effect.result(archive.store(instance({ ...a, sop: `${series}.3`, study: "3.7" })))
            ],
            { concurrency: "unbounded" }
          )
          const rows = [
            ...(yield* find({ QueryRetrieveLevel: "SERIES", StudyInstanceUID: "3.7", SeriesInstanceUID: series })),
            ...(yield* find({ QueryRetrieveLevel: "SERIES", StudyInstanceUID: "3.8", SeriesInstanceUID: series }))
          ]
          assert.strictEqual(rows.length, 1, `round ${round}: ${JSON.stringify(outcomes.map((o) => o._tag))}`)
          const items = yield* archive.retrieve({
            QueryRetrieveLevel: "SERIES",
            StudyInstanceUID: String(rows[0]!["StudyInstanceUID"]),
            SeriesInstanceUID: series
          })
          const files = (yield* Effect.promise(() => listFiles(store.root))).filter(
            (f) => f.endsWith(".dcm") && f.includes(`/${series}.`)
          )
          assert.deepStrictEqual(
            items.map((i) => i.filePath.slice(store.root.length + 1)).sort(),
            [...files].sort(),
            `round ${round}`
          )
          for (const item of items) assert.strictEqual(item.studyInstanceUid, rows[0]!["StudyInstanceUID"])
        }
        void index
      })
    )
  )
})
