/**
 * The MPPS SOP class (PS3.4 F.7): the rules of `Mpps` on data sets, and `MppsScp` end to end on loopback against our
 * SCU's `nCreate`/`nSet`: a step created, set, ended; the refusals Annex F names (0x0111 duplicate, 0x0112 unknown,
 * 0x0110 with Error ID A710 after COMPLETED or DISCONTINUED, 0x0106, 0x0120, 0x0121); and `Normalized.merge` serving
 * MPPS beside another SOP class.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as Mpps from "../src/services/Mpps.ts"
import * as MppsScp from "../src/services/MppsScp.ts"
import * as Normalized from "../src/services/Normalized.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { testAe } from "./support.ts"

const OTHER = "1.2.840.10008.1.20.1"

/** A step IN PROGRESS with every Type 1 attribute of the N-CREATE. */
export const inProgress = (over: Record<string, unknown> = {}) => ({
  PerformedProcedureStepStatus: "IN PROGRESS",
  ScheduledStepAttributesSequence: [{ StudyInstanceUID: "1.2.3.1", AccessionNumber: "A1" }],
  PatientName: "DOE^JANE",
  PatientID: "P1",
  PerformedProcedureStepID: "S1",
  PerformedStationAETitle: "MODALITY",
  PerformedProcedureStepStartDate: "20261206",
  PerformedProcedureStepStartTime: "101500",
  PerformedProcedureStepEndDate: "",
  PerformedProcedureStepEndTime: "",
  Modality: "CT",
  PerformedSeriesSequence: [],
  ...over
})

const ended = (status: string) => ({
  PerformedProcedureStepStatus: status,
  PerformedProcedureStepEndDate: "20261206",
  PerformedProcedureStepEndTime: "103000"
})

describe("Mpps rules", () => {
  it("an N-CREATE must be IN PROGRESS, with its Type 1 attributes and their values", () => {
    assert.isUndefined(Mpps.checkCreate(inProgress()))
    const completed = Mpps.checkCreate(inProgress({ PerformedProcedureStepStatus: "COMPLETED" }))
    assert.deepStrictEqual(
      [completed?.status, completed?.dataSet],
      [0x0106, { PerformedProcedureStepStatus: "COMPLETED" }]
    )
    const { PerformedProcedureStepStatus: _s, ...noStatus } = inProgress()
    assert.deepStrictEqual(Mpps.checkCreate(noStatus)?.attributeIdentifierList, [0x00400252])
    const { Modality: _m, ScheduledStepAttributesSequence: _q, ...noModality } = inProgress()
    const missing = Mpps.checkCreate(noModality)
    assert.deepStrictEqual([missing?.status, missing?.attributeIdentifierList], [0x0120, [0x00400270, 0x00080060]])
    const empty = Mpps.checkCreate(inProgress({ PerformedStationAETitle: "", ScheduledStepAttributesSequence: [] }))
    assert.deepStrictEqual([empty?.status, empty?.attributeIdentifierList], [0x0121, [0x00400270, 0x00400241]])
    const noStudy = Mpps.checkCreate(inProgress({ ScheduledStepAttributesSequence: [{ AccessionNumber: "A1" }] }))
    assert.deepStrictEqual([noStudy?.status, noStudy?.attributeIdentifierList], [0x0121, [0x0020000d]])
    for (const r of [completed, missing, empty, noStudy]) assert.isAtMost(r!.errorComment.length, 64)
  })

  it("an N-SET keeps what the N-CREATE set, takes the three states only, and ends a step with its end", () => {
    const current = inProgress()
    assert.isUndefined(Mpps.checkSet(current, ended("COMPLETED")))
    assert.isUndefined(Mpps.checkSet(current, { PerformedProcedureStepDescription: "more" }))
    // the same values again are no change
    assert.isUndefined(
      Mpps.checkSet(current, {
        ...ended("DISCONTINUED"),
        PatientID: "P1 ",
        ScheduledStepAttributesSequence: [{ StudyInstanceUID: "1.2.3.1", AccessionNumber: "A1" }]
      })
    )
    const changed = Mpps.checkSet(current, { ...ended("COMPLETED"), PatientID: "P2", Modality: "CT" })
    assert.deepStrictEqual([changed?.status, changed?.dataSet], [0x0106, { PatientID: "P2" }])
    const moved = Mpps.checkSet(current, { ScheduledStepAttributesSequence: [{ StudyInstanceUID: "1.2.3.9" }] })
    assert.strictEqual(moved?.status, 0x0106)
    assert.strictEqual(Mpps.checkSet(current, { PerformedProcedureStepStatus: "DONE" })?.status, 0x0106)
    const noEnd = Mpps.checkSet(current, { PerformedProcedureStepStatus: "COMPLETED" })
    assert.deepStrictEqual([noEnd?.status, noEnd?.attributeIdentifierList], [0x0121, [0x00400250, 0x00400251]])
    // an end set before, by an N-SET still IN PROGRESS, counts
    const withEnd = Mpps.applySet(current, {
      PerformedProcedureStepEndDate: "20261206",
      PerformedProcedureStepEndTime: "1030"
    })
    assert.isUndefined(Mpps.checkSet(withEnd, { PerformedProcedureStepStatus: "COMPLETED" }))
  })

  it("an N-SET replaces each attribute it names whole, sequences too, and merges the VRs it gives", () => {
    const next = Mpps.applySet(
      { ...inProgress(), _vrMap: { PixelData: "OW" } },
      { PerformedSeriesSequence: [{ SeriesInstanceUID: "1.2.3.2" }], _vrMap: { Other: "OB" } }
    )
    assert.deepStrictEqual(next["PerformedSeriesSequence"], [{ SeriesInstanceUID: "1.2.3.2" }])
    assert.deepStrictEqual(next["_vrMap"], { PixelData: "OW", Other: "OB" })
    assert.strictEqual(next["PatientID"], "P1")
  })
})

const scpAe = testAe({
  aeTitle: "MPPS-SCP",
  contexts: [Mpps.SOP_CLASS, OTHER].map((abstractSyntax) => ({
    abstractSyntax,
    transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN]
  }))
})

const connectTo = (port: number) =>
  Effect.gen(function* () {
    const ae = yield* testAe({ aeTitle: "MODALITY" })
    return yield* Scu.connect(ae, {
      host: "127.0.0.1",
      port,
      calledAeTitle: "MPPS-SCP",
      contexts: [Mpps.SOP_CLASS, OTHER].map((abstractSyntax) => ({
        abstractSyntax,
        transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN]
      }))
    })
  })

describe("MppsScp", () => {
  it.live("creates, sets and ends a step; refuses what Annex F refuses", () =>
    Effect.gen(function* () {
      const store = MppsScp.memoryStore()
      const changes: Array<string> = []
      const onChange = (c: MppsScp.Change) => Effect.sync(() => void changes.push(`${c.operation} ${c.status}`))
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(
        Effect.provide(MppsScp.layer({ store, onChange }))
      )
      const channel = yield* connectTo(server.port)
      const target = { sopClassUid: Mpps.SOP_CLASS }

      // no UID given: the SCP makes one
      const created = yield* Scu.nCreate(channel, { ...target, dataSet: inProgress() })
      assert.strictEqual(created.status, Status.SUCCESS)
      const uid = created.sopInstanceUid!
      assert.match(uid, /^2\.25\.\d+$/)
      assert.strictEqual(store.steps.get(uid)?.attributes["SOPInstanceUID"], uid)
      assert.strictEqual(store.steps.get(uid)?.callingAeTitle, "MODALITY")

      const again = yield* Scu.nCreate(channel, { ...target, sopInstanceUid: uid, dataSet: inProgress() })
      assert.strictEqual(again.status, 0x0111)
      const bad = yield* Scu.nCreate(channel, {
        ...target,
        sopInstanceUid: "1.2.3.5",
        dataSet: inProgress({ PerformedProcedureStepStatus: "COMPLETED" })
      })
      assert.deepStrictEqual([bad.status, bad.dataSet?.["PerformedProcedureStepStatus"]], [0x0106, "COMPLETED"])
      const noModality = yield* Scu.nCreate(channel, {
        ...target,
        sopInstanceUid: "1.2.3.6",
        dataSet: inProgress({ Modality: "" })
      })
      assert.deepStrictEqual([noModality.status, noModality.attributeIdentifierList], [0x0121, [0x00080060]])
      assert.isFalse(store.steps.has("1.2.3.5") || store.steps.has("1.2.3.6"))

      const unknown = yield* Scu.nSet(channel, { ...target, sopInstanceUid: "1.2.3.404", dataSet: ended("COMPLETED") })
      assert.strictEqual(unknown.status, Status.NO_SUCH_SOP_INSTANCE)
      const update = yield* Scu.nSet(channel, {
        ...target,
        sopInstanceUid: uid,
        dataSet: { PerformedProcedureStepDescription: "CHEST" }
      })
      assert.strictEqual(update.status, Status.SUCCESS)
      const patient = yield* Scu.nSet(channel, { ...target, sopInstanceUid: uid, dataSet: { PatientID: "P9" } })
      assert.strictEqual(patient.status, 0x0106)
      const done = yield* Scu.nSet(channel, { ...target, sopInstanceUid: uid, dataSet: ended("COMPLETED") })
      assert.strictEqual(done.status, Status.SUCCESS)
      assert.strictEqual(store.steps.get(uid)?.status, "COMPLETED")
      assert.strictEqual(store.steps.get(uid)?.attributes["PerformedProcedureStepDescription"], "CHEST")

      // PS3.4 Table F.7.2-2
      const late = yield* Scu.nSet(channel, { ...target, sopInstanceUid: uid, dataSet: ended("DISCONTINUED") })
      assert.deepStrictEqual(
        [late.status, late.errorId, late.errorComment],
        [0x0110, 0xa710, "Performed Procedure Step Object may no longer be updated"]
      )
      assert.strictEqual(store.steps.get(uid)?.status, "COMPLETED")
      assert.deepStrictEqual(changes, ["N-CREATE IN PROGRESS", "N-SET IN PROGRESS", "N-SET COMPLETED"])

      // DISCONTINUED ends a step as well
      yield* Scu.nCreate(channel, { ...target, sopInstanceUid: "1.2.3.7", dataSet: inProgress() })
      const stop = yield* Scu.nSet(channel, { ...target, sopInstanceUid: "1.2.3.7", dataSet: ended("DISCONTINUED") })
      assert.strictEqual(stop.status, Status.SUCCESS)
      const after = yield* Scu.nSet(channel, { ...target, sopInstanceUid: "1.2.3.7", dataSet: {} })
      assert.deepStrictEqual([after.status, after.errorId], [0x0110, 0xa710])
    }).pipe(Effect.scoped)
  )

  it.live("a store that fails is answered 0x0110; N-SETs of one step are applied one at a time", () =>
    Effect.gen(function* () {
      const memory = MppsScp.memoryStore()
      let failing = false
      const store: MppsScp.Store = {
        ...memory,
        // each read gives the event loop away first, so two N-SETs would interleave without the SCP's lock
        get: (uid) => Effect.andThen(Effect.sleep("5 millis"), memory.get(uid)),
        create: (uid, step) => (failing ? Effect.fail({ message: "disk full" }) : memory.create(uid, step))
      }
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(Effect.provide(MppsScp.layer({ store })))
      const target = { sopClassUid: Mpps.SOP_CLASS }
      const channel = yield* connectTo(server.port)
      yield* Scu.nCreate(channel, { ...target, sopInstanceUid: "1.2.3.1", dataSet: inProgress() })
      failing = true
      const failed = yield* Scu.nCreate(channel, { ...target, sopInstanceUid: "1.2.3.2", dataSet: inProgress() })
      assert.strictEqual(failed.status, Status.PROCESSING_FAILURE)
      // two associations ending the same step at once: one ends it, the other finds it ended
      const other = yield* connectTo(server.port)
      const both = yield* Effect.all(
        [channel, other].map((c, i) =>
          Scu.nSet(c, { ...target, sopInstanceUid: "1.2.3.1", dataSet: ended(i === 0 ? "COMPLETED" : "DISCONTINUED") })
        ),
        { concurrency: "unbounded" }
      )
      assert.sameMembers(
        both.map((r) => r.status),
        [Status.SUCCESS, Status.PROCESSING_FAILURE]
      )
    }).pipe(Effect.scoped)
  )

  it.live("Normalized.merge serves MPPS beside another SOP class's handlers", () =>
    Effect.gen(function* () {
      const other = Normalized.layer({ [OTHER]: { nAction: () => Effect.succeed({ status: 0x0123 }) } })
      const mpps = MppsScp.layer({ store: MppsScp.memoryStore() })
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(Effect.provide(Normalized.merge(other, mpps)))
      const channel = yield* connectTo(server.port)
      const created = yield* Scu.nCreate(channel, { sopClassUid: Mpps.SOP_CLASS, dataSet: inProgress() })
      assert.strictEqual(created.status, Status.SUCCESS)
      const action = yield* Scu.nAction(channel, { sopClassUid: OTHER, sopInstanceUid: "1.2.3", actionTypeId: 1 })
      assert.strictEqual(action.status, 0x0123)
    }).pipe(Effect.scoped)
  )
})
