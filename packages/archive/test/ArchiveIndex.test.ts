import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import * as Sqlite from "node:sqlite"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Logger, Option, Stream } from "effect"
import { Archive } from "../src/Archive.ts"
import { ArchiveIndex } from "../src/ArchiveIndex.ts"
import type { Dataset } from "../src/Header.ts"
import * as Dcmjs from "../src/internal/Dcmjs.ts"
import {
  CT,
  MR,
  SC,
  find,
  inFreshArchive,
  instance,
  listFiles,
  part10,
  patch,
  tempDir,
  withArchive,
  withoutSopUids
} from "./fixtures.ts"

/** P1 has two studies (CT+MR, CT), P2 one MR study, P3 one OT study. */
const population = [
  instance({
    patientId: "P1",
    patientName: "Doe^John",
    study: "1.2.1",
    series: "1.2.1.1",
    sop: "1.2.1.1.1",
    accession: "ACC1",
    studyTime: "101500",
    seriesNumber: 1,
    instanceNumber: 1,
    extra: {
      ProcedureCodeSequence: [
        { CodeValue: "P1-HEAD", CodingSchemeDesignator: "LOCAL", CodeMeaning: "Head" },
        { CodeValue: "P1-NECK", CodingSchemeDesignator: "LOCAL", CodeMeaning: "Neck" }
      ]
    }
  }),
  instance({
    patientId: "P1",
    patientName: "Doe^John",
    study: "1.2.1",
    series: "1.2.1.1",
    sop: "1.2.1.1.2",
    accession: "ACC1",
    instanceNumber: 2
  }),
  instance({
    patientId: "P1",
    patientName: "Doe^John",
    study: "1.2.1",
    series: "1.2.1.2",
    sop: "1.2.1.2.1",
    modality: "MR",
    sopClass: MR,
    seriesNumber: 2
  }),
  instance({
    patientId: "P1",
    patientName: "Doe^John",
    study: "1.2.2",
    series: "1.2.2.1",
    sop: "1.2.2.1.1",
    studyDate: "20210601",
    studyTime: "083000",
    accession: "ACC2"
  }),
  instance({
    patientId: "P2",
    patientName: "Doe^Jane",
    study: "1.2.3",
    series: "1.2.3.1",
    sop: "1.2.3.1.1",
    modality: "MR",
    sopClass: MR,
    studyDate: "20191231",
    studyTime: "235959"
  }),
  instance({
    patientId: "P3",
    patientName: "Smith^Anna",
    study: "1.2.4",
    series: "1.2.4.1",
    sop: "1.2.4.1.1",
    modality: "OT",
    sopClass: SC,
    studyDate: "20200301",
    studyTime: "120000"
  })
]

const storeAll = Effect.flatMap(Archive, (a) => Effect.forEach(population, (bytes) => a.store(bytes)))

/** Runs `body` on a fresh archive holding the population. */
const withPopulation = <A, E, R extends Archive | ArchiveIndex>(body: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    return yield* withArchive(dir, Effect.andThen(storeAll, body))
  })

const uids = (found: ReadonlyArray<Dataset>, keyword: string) => found.map((d) => d[keyword]).sort()

const failureTag = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.exit(effect), (exit) =>
    Exit.isFailure(exit)
      ? exit.cause.reasons[0]?._tag === "Fail"
        ? exit.cause.reasons[0].error._tag
        : "defect"
      : "success"
  )

describe("C-FIND on the index", () => {
  it.effect("STUDY level: wildcard PN, open date range, only the requested keys come back", () =>
    withPopulation(
      Effect.gen(function* () {
        const found = yield* find({
          QueryRetrieveLevel: "STUDY",
          PatientName: "DOE^*",
          StudyDate: "20200101-",
          StudyInstanceUID: "",
          ModalitiesInStudy: ""
        })
        assert.deepStrictEqual(uids(found, "StudyInstanceUID"), ["1.2.1", "1.2.2"])
        const s1 = found.find((d) => d["StudyInstanceUID"] === "1.2.1")!
        assert.deepStrictEqual(Object.keys(s1).sort(), [
          "ModalitiesInStudy",
          "PatientName",
          "QueryRetrieveLevel",
          "StudyDate",
          "StudyInstanceUID"
        ])
        assert.deepStrictEqual(s1, {
          QueryRetrieveLevel: "STUDY",
          PatientName: [{ Alphabetic: "Doe^John" }],
          StudyDate: "20200115",
          StudyInstanceUID: "1.2.1",
          ModalitiesInStudy: ["CT", "MR"]
        })
        assert.strictEqual(found.find((d) => d["StudyInstanceUID"] === "1.2.2")?.["ModalitiesInStudy"], "CT")
      })
    )
  )

  it.effect("universal, single value, ? wildcard, UID list, closed and upper-bounded ranges", () =>
    withPopulation(
      Effect.gen(function* () {
        const all = yield* find({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "" })
        assert.deepStrictEqual(uids(all, "StudyInstanceUID"), ["1.2.1", "1.2.2", "1.2.3", "1.2.4"])
        const p2 = yield* find({ QueryRetrieveLevel: "STUDY", PatientID: "P2", StudyInstanceUID: "" })
        assert.deepStrictEqual(uids(p2, "StudyInstanceUID"), ["1.2.3"])
        const jane = yield* find({ QueryRetrieveLevel: "STUDY", PatientName: "Doe^J?ne", StudyInstanceUID: "" })
        assert.deepStrictEqual(uids(jane, "StudyInstanceUID"), ["1.2.3"])
        const list = yield* find({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.1\\1.2.3\\9.9" })
        assert.deepStrictEqual(uids(list, "StudyInstanceUID"), ["1.2.1", "1.2.3"])
        const closed = yield* find({
          QueryRetrieveLevel: "STUDY",
          StudyDate: "20200101-20200228",
          StudyInstanceUID: ""
        })
        assert.deepStrictEqual(uids(closed, "StudyInstanceUID"), ["1.2.1"])
        const before = yield* find({ QueryRetrieveLevel: "STUDY", StudyDate: "-20200115", StudyInstanceUID: "" })
        assert.deepStrictEqual(uids(before, "StudyInstanceUID"), ["1.2.1", "1.2.3"])
        const morning = yield* find({ QueryRetrieveLevel: "STUDY", StudyTime: "0800-1100", StudyInstanceUID: "" })
        assert.deepStrictEqual(uids(morning, "StudyInstanceUID"), ["1.2.1", "1.2.2"])
        const accession = yield* find({ QueryRetrieveLevel: "STUDY", AccessionNumber: "ACC2", StudyInstanceUID: "" })
        assert.deepStrictEqual(uids(accession, "StudyInstanceUID"), ["1.2.2"])
        const mr = yield* find({ QueryRetrieveLevel: "STUDY", ModalitiesInStudy: "MR", StudyInstanceUID: "" })
        assert.deepStrictEqual(uids(mr, "StudyInstanceUID"), ["1.2.1", "1.2.3"])
        const none = yield* find({ QueryRetrieveLevel: "STUDY", PatientName: "Nobody", StudyInstanceUID: "" })
        assert.deepStrictEqual(none, [])
      })
    )
  )

  it.effect("counts and SOP classes are derived from the hierarchy", () =>
    withPopulation(
      Effect.gen(function* () {
        const [s1] = yield* find({
          QueryRetrieveLevel: "STUDY",
          StudyInstanceUID: "1.2.1",
          NumberOfStudyRelatedSeries: "",
          NumberOfStudyRelatedInstances: "",
          SOPClassesInStudy: "",
          NumberOfPatientRelatedStudies: ""
        })
        assert.strictEqual(s1?.["NumberOfStudyRelatedSeries"], 2)
        assert.strictEqual(s1?.["NumberOfStudyRelatedInstances"], 3)
        assert.deepStrictEqual(s1?.["SOPClassesInStudy"], [CT, MR])
        assert.strictEqual(s1?.["NumberOfPatientRelatedStudies"], 2)
        const [withAe] = yield* Archive.use((a) =>
          Stream.runCollect(
            a.find(
              { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.1", RetrieveAETitle: "" },
              { retrieveAETitle: "ARCHIVE" }
            )
          )
        )
        assert.strictEqual(withAe?.["RetrieveAETitle"], "ARCHIVE")
      })
    )
  )

  it.effect("SERIES level needs the study's unique key; higher-level keys are returned, not matched", () =>
    withPopulation(
      Effect.gen(function* () {
        assert.strictEqual(
          yield* failureTag(find({ QueryRetrieveLevel: "SERIES", SeriesInstanceUID: "" })),
          "IdentifierDoesNotMatchSopClass"
        )
        assert.strictEqual(
          yield* failureTag(find({ QueryRetrieveLevel: "SERIES", StudyInstanceUID: "1.2.1\\1.2.2", Modality: "" })),
          "IdentifierDoesNotMatchSopClass"
        )
        const series = yield* find({
          QueryRetrieveLevel: "SERIES",
          StudyInstanceUID: "1.2.1",
          SeriesInstanceUID: "",
          Modality: "",
          SeriesNumber: "",
          NumberOfSeriesRelatedInstances: "",
          PatientName: ""
        })
        assert.deepStrictEqual(
          series.map((s) => [
            s["SeriesInstanceUID"],
            s["Modality"],
            s["SeriesNumber"],
            s["NumberOfSeriesRelatedInstances"]
          ]),
          [
            ["1.2.1.1", "CT", 1, 2],
            ["1.2.1.2", "MR", 2, 1]
          ]
        )
        assert.deepStrictEqual(series[0]?.["PatientName"], [{ Alphabetic: "Doe^John" }])
        const mr = yield* find({ QueryRetrieveLevel: "SERIES", StudyInstanceUID: "1.2.1", Modality: "MR" })
        assert.deepStrictEqual(mr, [{ QueryRetrieveLevel: "SERIES", StudyInstanceUID: "1.2.1", Modality: "MR" }])
      })
    )
  )

  it.effect("relational queries and keys of lower levels are refused with UnableToProcess", () =>
    withPopulation(
      Effect.gen(function* () {
        assert.strictEqual(
          yield* failureTag(find({ QueryRetrieveLevel: "SERIES", StudyInstanceUID: "1.2.1", PatientName: "Doe*" })),
          "UnableToProcess"
        )
        assert.strictEqual(
          yield* failureTag(find({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "", Modality: "CT" })),
          "UnableToProcess"
        )
        const [s] = yield* find({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.4", Modality: "" })
        assert.deepStrictEqual(s, { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.4", Modality: "" })
        assert.strictEqual(
          yield* failureTag(find({ QueryRetrieveLevel: "STUDY", StudyDate: "2020011", StudyInstanceUID: "" })),
          "UnableToProcess"
        )
      })
    )
  )

  it.effect("IMAGE level gives instances, their transfer syntax and any header attribute", () =>
    withPopulation(
      Effect.gen(function* () {
        const images = yield* find({
          QueryRetrieveLevel: "IMAGE",
          StudyInstanceUID: "1.2.1",
          SeriesInstanceUID: "1.2.1.1",
          SOPInstanceUID: "",
          SOPClassUID: "",
          InstanceNumber: "",
          AvailableTransferSyntaxUID: "",
          Rows: "",
          InstanceAvailability: ""
        })
        assert.deepStrictEqual(images, [
          {
            QueryRetrieveLevel: "IMAGE",
            StudyInstanceUID: "1.2.1",
            SeriesInstanceUID: "1.2.1.1",
            SOPInstanceUID: "1.2.1.1.1",
            SOPClassUID: CT,
            InstanceNumber: 1,
            AvailableTransferSyntaxUID: "1.2.840.10008.1.2.1",
            Rows: 2,
            InstanceAvailability: "ONLINE"
          },
          {
            QueryRetrieveLevel: "IMAGE",
            StudyInstanceUID: "1.2.1",
            SeriesInstanceUID: "1.2.1.1",
            SOPInstanceUID: "1.2.1.1.2",
            SOPClassUID: CT,
            InstanceNumber: 2,
            AvailableTransferSyntaxUID: "1.2.840.10008.1.2.1",
            Rows: 2,
            InstanceAvailability: "ONLINE"
          }
        ])
        const second = yield* find({
          QueryRetrieveLevel: "IMAGE",
          StudyInstanceUID: "1.2.1",
          SeriesInstanceUID: "1.2.1.1",
          InstanceNumber: "2",
          SOPInstanceUID: ""
        })
        assert.deepStrictEqual(uids(second, "SOPInstanceUID"), ["1.2.1.1.2"])
      })
    )
  )

  it.effect("sequence matching on a stored sequence returns only the matching items, cut to the sub-keys", () =>
    withPopulation(
      Effect.gen(function* () {
        const found = yield* find({
          QueryRetrieveLevel: "STUDY",
          StudyInstanceUID: "",
          ProcedureCodeSequence: [{ CodeValue: "P1-N*", CodeMeaning: "" }]
        })
        assert.deepStrictEqual(found, [
          {
            QueryRetrieveLevel: "STUDY",
            StudyInstanceUID: "1.2.1",
            ProcedureCodeSequence: [{ CodeValue: "P1-NECK", CodeMeaning: "Neck" }]
          }
        ])
      })
    )
  )

  it.effect("text inside a stored sequence's items is matched and answered in the data set's character set", () =>
    inFreshArchive(
      Effect.gen(function* () {
        const archive = yield* Archive
        const meaning = "Sch\u00e4del \u041a\u0438\u0440\u0438\u043b\u043b"
        yield* archive.store(
          instance({
            patientId: "U1",
            patientName: "Doe^Utf",
            study: "1.2.9",
            series: "1.2.9.1",
            sop: "1.2.9.1.1",
            extra: { ProcedureCodeSequence: [{ CodeValue: "H", CodingSchemeDesignator: "L", CodeMeaning: meaning }] }
          })
        )
        const found = yield* find({
          QueryRetrieveLevel: "STUDY",
          StudyInstanceUID: "",
          ProcedureCodeSequence: [{ CodeMeaning: "Sch\u00e4del*" }]
        })
        assert.deepStrictEqual(found, [
          {
            SpecificCharacterSet: "ISO_IR 192",
            QueryRetrieveLevel: "STUDY",
            StudyInstanceUID: "1.2.9",
            ProcedureCodeSequence: [{ CodeMeaning: meaning }]
          }
        ])
      })
    )
  )

  it.effect("an instance changing its patient's attributes is logged, and the patient takes them", () =>
    inFreshArchive(
      Effect.gen(function* () {
        const archive = yield* Archive
        const lines: Array<string> = []
        const capture = Logger.make(({ logLevel, message }) => {
          lines.push(`${logLevel} ${(Array.isArray(message) ? message : [message]).map(String).join(" ")}`)
        })
        const store = (name: string, sop: string, study: string, birthDate = "") =>
          archive
            .store(
              instance({
                patientId: "PX",
                patientName: name,
                study,
                series: `${study}.1`,
                sop,
                extra: { PatientBirthDate: birthDate }
              })
            )
            .pipe(Effect.provide(Logger.layer([capture])))
        yield* store("Doe^John", "1.3.1.1.1", "1.3.1")
        yield* store("Doe^John", "1.3.1.1.2", "1.3.1")
        assert.deepStrictEqual(lines, [])
        yield* store("Roe^Jane", "1.3.2.1.1", "1.3.2", "19700101")
        assert.strictEqual(lines.length, 1, lines.join("\n"))
        // a value the patient had none of is said so in words
        assert.match(
          lines[0]!,
          /^Warn instance 1\.3\.2\.1\.1 changes patient "PX": PatientName "Doe\^John" -> "Roe\^Jane", PatientBirthDate \(none\) -> "19700101"/
        )
        const patients = yield* find(
          { QueryRetrieveLevel: "PATIENT", PatientID: "PX", PatientName: "", NumberOfPatientRelatedStudies: "" },
          "PatientRoot"
        )
        assert.deepStrictEqual(
          patients.map((p) => [p["PatientName"], p["NumberOfPatientRelatedStudies"]]),
          [[[{ Alphabetic: "Roe^Jane" }], 2]]
        )
      })
    )
  )

  it.effect("Patient Root: PATIENT level, then STUDY level under a Patient ID", () =>
    withPopulation(
      Effect.gen(function* () {
        const patients = yield* find(
          { QueryRetrieveLevel: "PATIENT", PatientID: "", PatientName: "doe*", NumberOfPatientRelatedStudies: "" },
          "PatientRoot"
        )
        assert.deepStrictEqual(
          patients.map((p) => [p["PatientID"], p["NumberOfPatientRelatedStudies"]]),
          [
            ["P1", 2],
            ["P2", 1]
          ]
        )
        assert.strictEqual(
          yield* failureTag(find({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "" }, "PatientRoot")),
          "IdentifierDoesNotMatchSopClass"
        )
        const studies = yield* find(
          { QueryRetrieveLevel: "STUDY", PatientID: "P1", StudyInstanceUID: "" },
          "PatientRoot"
        )
        assert.deepStrictEqual(uids(studies, "StudyInstanceUID"), ["1.2.1", "1.2.2"])
        const images = yield* find(
          {
            QueryRetrieveLevel: "IMAGE",
            PatientID: "P1",
            StudyInstanceUID: "1.2.1",
            SeriesInstanceUID: "1.2.1.2",
            SOPInstanceUID: ""
          },
          "PatientRoot"
        )
        assert.deepStrictEqual(uids(images, "SOPInstanceUID"), ["1.2.1.2.1"])
        assert.strictEqual(
          yield* failureTag(find({ QueryRetrieveLevel: "PATIENT", PatientID: "" }, "StudyRoot")),
          "IdentifierDoesNotMatchSopClass"
        )
        assert.strictEqual(yield* failureTag(find({ PatientID: "" })), "IdentifierDoesNotMatchSopClass")
        assert.strictEqual(yield* failureTag(find({ QueryRetrieveLevel: "FRAME" })), "IdentifierDoesNotMatchSopClass")
      })
    )
  )

  it.effect("identifiers are dcmjs naturalized objects that dcmjs can write", () =>
    withPopulation(
      Effect.gen(function* () {
        const [s] = yield* find({
          QueryRetrieveLevel: "STUDY",
          StudyInstanceUID: "1.2.1",
          PatientName: "",
          ModalitiesInStudy: "",
          NumberOfStudyRelatedInstances: "",
          ReferringPhysicianName: "",
          StudyDate: ""
        })
        const bytes = Dcmjs.writePart10({ TransferSyntaxUID: "1.2.840.10008.1.2.1" }, s!)
        const back = Dcmjs.naturalize(Dcmjs.readFile(bytes.slice().buffer, {}).dict)
        assert.deepStrictEqual(back["PatientName"], [{ Alphabetic: "Doe^John" }])
        assert.deepStrictEqual(back["ModalitiesInStudy"], ["CT", "MR"])
        assert.strictEqual(back["NumberOfStudyRelatedInstances"], 3)
      })
    )
  )

  it.effect("the stream is paged and can be cut short", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* withArchive(
        dir,
        Effect.gen(function* () {
          yield* storeAll
          const archive = yield* Archive
          const all = yield* Stream.runCollect(archive.find({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "" }))
          assert.strictEqual(all.length, 4)
          const some = yield* Stream.runCollect(
            Stream.take(archive.find({ QueryRetrieveLevel: "STUDY", PatientName: "Doe*", StudyInstanceUID: "" }), 2)
          )
          assert.strictEqual(some.length, 2)
        }),
        { pageSize: 1 }
      )
    })
  )
})

describe("retrieve, replace, remove, persistence", () => {
  it.effect("retrieve lists the stored instances under the unique keys", () =>
    withPopulation(
      Effect.gen(function* () {
        const archive = yield* Archive
        const study = yield* archive.retrieve({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.1" })
        assert.deepStrictEqual(
          study.map((i) => i.sopInstanceUid),
          ["1.2.1.1.1", "1.2.1.1.2", "1.2.1.2.1"]
        )
        const item = study[0]!
        assert.strictEqual(item.sopClassUid, CT)
        assert.strictEqual(item.transferSyntaxUid, "1.2.840.10008.1.2.1")
        assert.strictEqual((yield* Effect.promise(() => Fs.stat(item.filePath))).size, item.fileSize)
        const two = yield* archive.retrieve({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: ["1.2.3", "1.2.4"] })
        assert.deepStrictEqual(
          two.map((i) => i.sopInstanceUid),
          ["1.2.3.1.1", "1.2.4.1.1"]
        )
        const series = yield* archive.retrieve({
          QueryRetrieveLevel: "SERIES",
          StudyInstanceUID: "1.2.1",
          SeriesInstanceUID: "1.2.1.2"
        })
        assert.deepStrictEqual(
          series.map((i) => i.sopInstanceUid),
          ["1.2.1.2.1"]
        )
        const images = yield* archive.retrieve({
          QueryRetrieveLevel: "IMAGE",
          StudyInstanceUID: "1.2.1",
          SeriesInstanceUID: "1.2.1.1",
          SOPInstanceUID: "1.2.1.1.2\\1.2.1.1.9"
        })
        assert.deepStrictEqual(
          images.map((i) => i.sopInstanceUid),
          ["1.2.1.1.2"]
        )
        const patient = yield* archive.retrieve(
          { QueryRetrieveLevel: "PATIENT", PatientID: "P1" },
          { model: "PatientRoot" }
        )
        assert.strictEqual(patient.length, 4)
        assert.strictEqual(
          yield* failureTag(archive.retrieve({ QueryRetrieveLevel: "SERIES", SeriesInstanceUID: "1.2.1.1" })),
          "IdentifierDoesNotMatchSopClass"
        )
        assert.strictEqual(
          yield* failureTag(archive.retrieve({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "" })),
          "IdentifierDoesNotMatchSopClass"
        )
        assert.strictEqual(
          yield* failureTag(
            archive.retrieve({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.1" }, { model: "PatientRoot" })
          ),
          "IdentifierDoesNotMatchSopClass"
        )
      })
    )
  )

  it.effect("re-storing a SOP Instance UID replaces it; moving it to another study prunes the old one", () =>
    withPopulation(
      Effect.gen(function* () {
        const archive = yield* Archive
        const index = yield* ArchiveIndex
        const spec = { patientId: "P3", patientName: "Smith^Anna", study: "1.2.4", series: "1.2.4.1", sop: "1.2.4.1.1" }
        const again = yield* archive.store(instance({ ...spec, instanceNumber: 42, modality: "OT", sopClass: SC }))
        assert.isTrue(Option.isSome(again.replaced))
        assert.deepStrictEqual(yield* index.stats, { patients: 3, studies: 4, series: 5, instances: 6 })
        const [image] = yield* find({
          QueryRetrieveLevel: "IMAGE",
          StudyInstanceUID: "1.2.4",
          SeriesInstanceUID: "1.2.4.1",
          InstanceNumber: ""
        })
        assert.strictEqual(image?.["InstanceNumber"], 42)

        const oldPath = again.record.filePath
        const moved = yield* archive.store(instance({ ...spec, patientId: "P2", study: "1.2.5", series: "1.2.5.1" }))
        assert.strictEqual(Option.getOrThrow(moved.replaced).filePath, oldPath)
        assert.notStrictEqual(moved.record.filePath, oldPath)
        assert.isFalse(
          yield* Effect.promise(() =>
            Fs.access(oldPath).then(
              () => true,
              () => false
            )
          )
        )
        assert.deepStrictEqual(yield* index.stats, { patients: 2, studies: 4, series: 5, instances: 6 })
        const studies = yield* find({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "" })
        assert.deepStrictEqual(uids(studies, "StudyInstanceUID"), ["1.2.1", "1.2.2", "1.2.3", "1.2.5"])
      })
    )
  )

  it.effect("remove deletes the entry, its file and the parents it leaves empty", () =>
    withPopulation(
      Effect.gen(function* () {
        const archive = yield* Archive
        const removed = yield* archive.remove("1.2.3.1.1")
        const path = Option.getOrThrow(removed).filePath
        assert.isFalse(
          yield* Effect.promise(() =>
            Fs.access(path).then(
              () => true,
              () => false
            )
          )
        )
        assert.deepStrictEqual(yield* ArchiveIndex.use((i) => i.stats), {
          patients: 2,
          studies: 3,
          series: 4,
          instances: 5
        })
        assert.isTrue(Option.isNone(yield* archive.remove("1.2.3.1.1")))
      })
    )
  )

  it.effect("the index survives a restart, and rebuild re-creates it from the files", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* withArchive(dir, storeAll)
      // a new layer opens the same file: a restart
      const found = yield* withArchive(
        dir,
        find({ QueryRetrieveLevel: "STUDY", PatientName: "doe^jo*", StudyInstanceUID: "" })
      )
      assert.deepStrictEqual(uids(found, "StudyInstanceUID"), ["1.2.1", "1.2.2"])
      for (const f of yield* Effect.promise(() => listFiles(dir))) {
        if (f.startsWith("index.sqlite")) yield* Effect.promise(() => Fs.rm(Path.join(dir, f)))
      }
      const report = yield* withArchive(
        dir,
        Archive.use((a) => a.rebuild)
      )
      assert.deepStrictEqual(report, { indexed: 6, failed: [] })
      const again = yield* withArchive(dir, find({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "" }))
      assert.strictEqual(again.length, 4)
    })
  )

  it.effect("studies without a Patient ID are not one patient: each keeps its own Patient Name", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const anonymous = (patientName: string, n: number) =>
        instance({ patientId: "", patientName, study: `9.9.${n}`, series: `9.9.${n}.1`, sop: `9.9.${n}.1.1` })
      const found = yield* withArchive(
        dir,
        Effect.gen(function* () {
          const archive = yield* Archive
          yield* archive.store(anonymous("Anonymized", 1))
          yield* archive.store(anonymous("Other^Person", 2))
          return {
            studies: yield* find({ QueryRetrieveLevel: "STUDY", PatientName: "", StudyInstanceUID: "" }),
            patients: yield* find({ QueryRetrieveLevel: "PATIENT", PatientID: "", PatientName: "" }, "PatientRoot")
          }
        })
      )
      const names = found.studies.map((d) => [d["StudyInstanceUID"], d["PatientName"]]).sort()
      assert.deepStrictEqual(names, [
        ["9.9.1", [{ Alphabetic: "Anonymized" }]],
        ["9.9.2", [{ Alphabetic: "Other^Person" }]]
      ])
      assert.strictEqual(found.patients.length, 2)
    })
  )

  it.effect("each level's attrs merge only its own instances, when the levels' stored attrs differ or agree", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const spec = { patientId: "P7", patientName: "Seven^Pat" }
      const stored = [
        instance({
          ...spec,
          study: "7.1",
          series: "7.1.1",
          sop: "7.1.1.1",
          extra: { BodyPartExamined: "HEAD", ProtocolName: "P-one" }
        }),
        instance({ ...spec, study: "7.1", series: "7.1.2", sop: "7.1.2.1", extra: { ProtocolName: "P-two" } }),
        // empty: the series keeps P-one, the study and patient P-two (their stored attrs now differ from the series's)
        instance({ ...spec, study: "7.1", series: "7.1.1", sop: "7.1.1.2", extra: { ProtocolName: "" } }),
        instance({ ...spec, study: "7.2", series: "7.2.1", sop: "7.2.1.1", extra: { BodyPartExamined: "KNEE" } })
      ]
      yield* withArchive(
        dir,
        Effect.flatMap(Archive, (a) => Effect.forEach(stored, (bytes) => a.store(bytes)))
      )
      const rows = yield* Effect.sync(() => {
        const db = new Sqlite.DatabaseSync(Path.join(dir, "index.sqlite"))
        const read = (sql: string) =>
          Object.fromEntries(
            db
              .prepare(sql)
              .all()
              .map((r) => {
                const attrs = JSON.parse(String(r["attrs"])) as Record<string, unknown>
                return [String(r["uid"]), [attrs["BodyPartExamined"], attrs["ProtocolName"], attrs["SOPInstanceUID"]]]
              })
          )
        const out = {
          series: read("SELECT series_instance_uid AS uid, attrs FROM series"),
          study: read("SELECT study_instance_uid AS uid, attrs FROM study"),
          patient: read("SELECT patient_id AS uid, attrs FROM patient")
        }
        db.close()
        return out
      })
      assert.deepStrictEqual(rows, {
        series: {
          "7.1.1": ["HEAD", "P-one", "7.1.1.2"],
          "7.1.2": [undefined, "P-two", "7.1.2.1"],
          "7.2.1": ["KNEE", undefined, "7.2.1.1"]
        },
        study: { "7.1": ["HEAD", "P-two", "7.1.1.2"], "7.2": ["KNEE", undefined, "7.2.1.1"] },
        patient: { P7: ["KNEE", "P-two", "7.2.1.1"] }
      })
    })
  )

  it.effect("a level's columns follow each instance that changes them; one that leaves them updates only attrs", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const spec = { patientId: "P8", patientName: "Eight^Pat", study: "8.1", series: "8.1.1" }
      const stored = [
        instance({ ...spec, sop: "8.1.1.1", extra: { SeriesDescription: "A", InstitutionName: "First" } }),
        // columns as they are, attrs not: only attrs change
        instance({ ...spec, sop: "8.1.1.2", extra: { SeriesDescription: "A", InstitutionName: "Second" } }),
        // a column changed (and the patient's name): the row's columns follow
        instance({ ...spec, patientName: "Eight^Renamed", sop: "8.1.1.3", extra: { SeriesDescription: "B" } }),
        // an empty column keeps the stored value, as an empty attribute does; the patient's name goes back
        instance({ ...spec, sop: "8.1.1.4", extra: { SeriesDescription: "", InstitutionName: "" } })
      ]
      const rows: Array<ReadonlyArray<unknown>> = []
      yield* withArchive(
        dir,
        Effect.gen(function* () {
          const archive = yield* Archive
          for (const bytes of stored) {
            yield* archive.store(bytes)
            const [series] = yield* find({
              QueryRetrieveLevel: "SERIES",
              StudyInstanceUID: "8.1",
              SeriesInstanceUID: "8.1.1",
              SeriesDescription: "",
              InstitutionName: "",
              NumberOfSeriesRelatedInstances: ""
            })
            const [study] = yield* find({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "8.1", PatientName: "" })
            rows.push([
              series?.["SeriesDescription"],
              series?.["InstitutionName"],
              series?.["NumberOfSeriesRelatedInstances"],
              (study?.["PatientName"] as ReadonlyArray<{ Alphabetic?: string }> | undefined)?.[0]?.Alphabetic
            ])
          }
        })
      )
      assert.deepStrictEqual(rows, [
        ["A", "First", 1, "Eight^Pat"],
        ["A", "Second", 2, "Eight^Pat"],
        ["B", "Second", 3, "Eight^Renamed"],
        ["B", "Second", 4, "Eight^Pat"]
      ])
    })
  )

  it.effect("an index of schema version 1 is made anew on opening, and rebuild re-indexes the files", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* withArchive(dir, storeAll)
      const file = Path.join(dir, "index.sqlite")
      yield* Effect.sync(() => {
        const db = new Sqlite.DatabaseSync(file)
        db.exec("PRAGMA user_version = 1")
        db.close()
      })
      const seen = yield* withArchive(
        dir,
        Effect.gen(function* () {
          const index = yield* ArchiveIndex
          const before = yield* index.stats
          const report = yield* Archive.use((a) => a.rebuild)
          return { replaced: index.replacedSchema, before: before.instances, report }
        })
      )
      assert.deepStrictEqual(seen, { replaced: 1, before: 0, report: { indexed: 6, failed: [] } })
      const again = yield* withArchive(
        dir,
        ArchiveIndex.use((i) => Effect.succeed(i.replacedSchema))
      )
      assert.strictEqual(again, undefined)
    })
  )

  it.effect("a store that names another SOP Instance UID is refused", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const tag = yield* withArchive(
        dir,
        failureTag(Archive.use((a) => a.store(population[0]!, { sopInstanceUid: "9.9" })))
      )
      assert.strictEqual(tag, "InvalidInstance")
    })
  )
})

describe("character sets", () => {
  const latin1 = (text: string) => Uint8Array.from([...text].map((c) => c.charCodeAt(0)))

  it.effect("ISO_IR 100 and ISO_IR 192 Person Names match and come back as Unicode", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      // dcmjs writes UTF-8, so the Latin-1 name is patched in over a placeholder of the same byte length
      const french = patch(
        part10({
          SpecificCharacterSet: "ISO_IR 100",
          SOPClassUID: SC,
          SOPInstanceUID: "2.1.1.1",
          StudyInstanceUID: "2.1",
          SeriesInstanceUID: "2.1.1",
          PatientID: "FR1",
          PatientName: "Buc^JXrXme",
          StudyDescription: "Cr\u00e2ne"
        }),
        "Buc^JXrXme",
        latin1("Buc^J\u00e9r\u00f4me")
      )
      const chinese = part10({
        SpecificCharacterSet: "ISO_IR 192",
        SOPClassUID: SC,
        SOPInstanceUID: "2.2.1.1",
        StudyInstanceUID: "2.2",
        SeriesInstanceUID: "2.2.1",
        PatientID: "CN1",
        PatientName: [{ Alphabetic: "Wang^XiaoDong", Ideographic: "\u738b^\u5c0f\u6771" }]
      })
      yield* withArchive(
        dir,
        Effect.gen(function* () {
          const archive = yield* Archive
          const fr = yield* archive.store(french)
          assert.strictEqual(fr.record.specificCharacterSet, "ISO_IR 100")
          const cn = yield* archive.store(chinese)
          assert.strictEqual(cn.record.specificCharacterSet, "ISO_IR 192")

          const [jerome] = yield* find({
            QueryRetrieveLevel: "STUDY",
            PatientName: "buc^j\u00e9r*",
            StudyInstanceUID: ""
          })
          assert.deepStrictEqual(jerome, {
            SpecificCharacterSet: "ISO_IR 192",
            QueryRetrieveLevel: "STUDY",
            PatientName: [{ Alphabetic: "Buc^J\u00e9r\u00f4me" }],
            StudyInstanceUID: "2.1"
          })
          const exact = yield* find({
            QueryRetrieveLevel: "STUDY",
            PatientName: "Buc^J\u00e9r\u00f4me",
            StudyInstanceUID: ""
          })
          assert.strictEqual(exact.length, 1)
          const ascii = yield* find({ QueryRetrieveLevel: "STUDY", PatientName: "Buc^Jerome", StudyInstanceUID: "" })
          assert.strictEqual(ascii.length, 0)

          const [wang] = yield* find({ QueryRetrieveLevel: "STUDY", PatientName: "\u738b^*", StudyInstanceUID: "" })
          assert.deepStrictEqual(wang?.["PatientName"], [
            { Alphabetic: "Wang^XiaoDong", Ideographic: "\u738b^\u5c0f\u6771" }
          ])
          assert.strictEqual(wang?.["SpecificCharacterSet"], "ISO_IR 192")
          const byAlphabetic = yield* find({
            QueryRetrieveLevel: "STUDY",
            PatientName: "WANG^XIAODONG",
            StudyInstanceUID: ""
          })
          assert.deepStrictEqual(uids(byAlphabetic, "StudyInstanceUID"), ["2.2"])
        })
      )
    })
  )

  it.effect("Person Name matching can be made case-sensitive", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* withArchive(
        dir,
        Effect.gen(function* () {
          yield* storeAll
          const lower = yield* find({ QueryRetrieveLevel: "STUDY", PatientName: "doe*", StudyInstanceUID: "" })
          assert.strictEqual(lower.length, 0)
          const exact = yield* find({ QueryRetrieveLevel: "STUDY", PatientName: "Doe*", StudyInstanceUID: "" })
          assert.strictEqual(exact.length, 3)
          const override = yield* Archive.use((a) =>
            Stream.runCollect(
              a.find(
                { QueryRetrieveLevel: "STUDY", PatientName: "doe*", StudyInstanceUID: "" },
                { caseInsensitivePersonName: true }
              )
            )
          )
          assert.strictEqual(override.length, 3)
        }),
        { caseInsensitivePersonName: false }
      )
    })
  )
})

describe("an instance whose data set names no SOP instance of its own", () => {
  it.effect("a C-STORE of it is refused as invalid, saying so, not failed by the index (0xA700 to the peer)", () =>
    inFreshArchive(
      Effect.gen(function* () {
        const archive = yield* Archive
        const spec = { patientId: "P9", patientName: "No^Sop", study: "9.1", series: "9.1.1", sop: "9.1.1.1" }
        const bytes = withoutSopUids(instance(spec))
        const refused = yield* Effect.flip(archive.store(bytes, { sopInstanceUid: "9.1.1.1", sopClassUid: CT }))
        assert.strictEqual(refused._tag, "InvalidInstance")
        assert.strictEqual(refused.message, "no SOP Class UID and SOP Instance UID in the data set")
        assert.deepStrictEqual(yield* find({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "9.1" }), [])
      })
    )
  )
})
