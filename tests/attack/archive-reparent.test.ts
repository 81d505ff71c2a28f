/**
 * The archive SCP against a peer reusing another study's Series Instance UID (another patient's Study Instance
 * UID): the C-STORE is refused with 0xC000 and an Error Comment saying why, and the series (study) stays where it
 * was; peers racing to claim one new series for two studies leave it in one.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { Scu } from "@netdicom/net"
import * as Part10 from "../../packages/archive/src/Part10.ts"
import { instance, listFiles } from "../../packages/archive/test/fixtures.ts"
import { connectArchive, startArchiveScp } from "./archive-support.ts"
import { CT, EXPLICIT } from "./support.ts"

const bare = (file: Uint8Array) => file.subarray(Part10.dataSetOffset(file)!)

const spec = { patientId: "VICTIM", patientName: "Victim^Vera", study: "8.1", series: "8.1.1", sop: "8.1.1.1" }

describe("archive SCP: a reused Series or Study Instance UID", () => {
  it.live("is refused with 0xC000 and an Error Comment; the victim's series and study stay where they were", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* startArchiveScp()
        const channel = yield* connectArchive(scp.port)
        const store = (s: typeof spec) =>
          Scu.store(channel, {
            sopClassUid: CT,
            sopInstanceUid: s.sop,
            transferSyntax: EXPLICIT,
            dataSet: bare(instance(s))
          })
        assert.strictEqual((yield* store(spec)).status, 0)
        assert.strictEqual((yield* store({ ...spec, sop: "8.1.1.2" })).status, 0)

        const series = yield* store({ ...spec, patientId: "THIEF", study: "9.1", sop: "9.1.1.1" })
        assert.strictEqual(series.status, 0xc000)
        assert.match(series.errorComment ?? "", /^Series Instance UID belongs to another study/)
        const study = yield* store({ ...spec, patientId: "THIEF", series: "8.1.9", sop: "8.1.9.1" })
        assert.strictEqual(study.status, 0xc000)
        assert.match(study.errorComment ?? "", /^Study Instance UID belongs to another patient/)

        const rows = yield* Stream.runCollect(
          scp.archive.find({ QueryRetrieveLevel: "SERIES", StudyInstanceUID: "8.1", SeriesInstanceUID: "" })
        )
        assert.deepStrictEqual(
          rows.map((r) => r["SeriesInstanceUID"]),
          ["8.1.1"]
        )
        const patients = yield* Stream.runCollect(
          scp.archive.find({ QueryRetrieveLevel: "PATIENT", PatientID: "" }, { model: "PatientRoot" })
        )
        assert.deepStrictEqual(
          patients.map((p) => p["PatientID"]),
          ["VICTIM"]
        )
        const files = yield* Effect.promise(() => listFiles(scp.root))
        assert.deepStrictEqual(
          files.filter((f) => f.endsWith(".dcm")),
          ["8.1/8.1.1.1.dcm", "8.1/8.1.1.2.dcm"]
        )
      })
    )
  )

  it.live("eight peers storing one new series under two studies at once leave it in one, files for the accepted", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* startArchiveScp()
        const channels = yield* Effect.forEach([0, 1, 2, 3, 4, 5, 6, 7], () => connectArchive(scp.port))
        const statuses = yield* Effect.forEach(
          channels,
          (channel, i) => {
            const s = { ...spec, study: i % 2 === 0 ? "8.2" : "8.3", series: "8.2.1", sop: `8.2.1.${i + 1}` }
            return Scu.store(channel, {
              sopClassUid: CT,
              sopInstanceUid: s.sop,
              transferSyntax: EXPLICIT,
              dataSet: bare(instance(s))
            }).pipe(Effect.map((r) => ({ study: s.study, status: r.status })))
          },
          { concurrency: "unbounded" }
        )
        const accepted = statuses.filter((s) => s.status === 0)
        assert.isAbove(accepted.length, 0)
        assert.strictEqual(new Set(accepted.map((s) => s.study)).size, 1)
        assert.isTrue(statuses.every((s) => s.status === 0 || s.status === 0xc000))
        const items = yield* scp.archive.retrieve({
          QueryRetrieveLevel: "SERIES",
          StudyInstanceUID: accepted[0]!.study,
          SeriesInstanceUID: "8.2.1"
        })
        assert.strictEqual(items.length, accepted.length)
        const files = yield* Effect.promise(() => listFiles(scp.root))
        assert.strictEqual(files.filter((f) => f.endsWith(".dcm")).length, accepted.length)
      })
    )
  )
})
