/**
 * An MPPS SCU growing one step without end: each N-SET names new attributes (PS3.4 Table F.7.2-1 lets an N-SET set
 * any Type 3 attribute), and `Mpps.applySet` keeps the step's old ones beside them, so a step of 8 MiB N-SETs grew by
 * 8 MiB each (44 UT keywords alone make 350 MiB; private tags have no end), read, decoded, merged, encoded and
 * written whole on every later N-SET under the SCP's one lock: memory and time without bound. A step is now held to
 * `MppsScp.MAX_STEP_BYTES` encoded; the N-CREATE or N-SET that would take it over is refused 0x0213 (resource
 * limitation, PS3.7 10.1.2.1.9 / 10.1.5.1.6) and the step kept as it was.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Result } from "effect"
import { ApplicationEntity, DataSet, Mpps, MppsScp, Scp, Scu } from "@netdicom/net"
import { Status } from "@netdicom/wire"

const EXPLICIT = ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN
const TS = [EXPLICIT]
const timeouts = { acse: "5 seconds", connect: "5 seconds", dimse: "60 seconds", write: "20 seconds" } as const
const scpAe = Result.getOrThrow(
  ApplicationEntity.make({
    aeTitle: "MPPS-SCP",
    contexts: [{ abstractSyntax: Mpps.SOP_CLASS, transferSyntaxes: TS, scu: false, scp: true }],
    timeouts
  })
)
const scuAe = Result.getOrThrow(ApplicationEntity.make({ aeTitle: "MODALITY", timeouts }))

const inProgress = {
  PerformedProcedureStepStatus: "IN PROGRESS",
  ScheduledStepAttributesSequence: [{ StudyInstanceUID: "1.2.3.1" }],
  PerformedProcedureStepID: "S1",
  PerformedStationAETitle: "MODALITY",
  PerformedProcedureStepStartDate: "20261206",
  PerformedProcedureStepStartTime: "101500",
  Modality: "CT"
}

// UT attributes (unlimited length) an N-SET may set: each N-SET names a new one
const UT = ["TextValue", "ReasonForVisit", "LabelText", "TrackingID", "AssertionComments", "PrescriptionNotes"]
const MIB = 1 << 20

const encodedSize = (attributes: DataSet.Naturalized): number =>
  Result.getOrThrow(DataSet.encode(attributes, EXPLICIT)).length

describe("an MPPS step grown by N-SETs naming new attributes", () => {
  it.live("is held to MAX_STEP_BYTES: the N-SET that would pass it is refused 0x0213, the step kept", () =>
    Effect.gen(function* () {
      const store = MppsScp.memoryStore()
      const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(MppsScp.layer({ store })))
      const channel = yield* Scu.connect(scuAe, {
        host: "127.0.0.1",
        port: server.port,
        calledAeTitle: "MPPS-SCP",
        contexts: [{ abstractSyntax: Mpps.SOP_CLASS, transferSyntaxes: TS }]
      })
      const target = { sopClassUid: Mpps.SOP_CLASS, sopInstanceUid: "1.2.3.4" }
      const created = yield* Scu.nCreate(channel, { ...target, dataSet: inProgress })
      assert.strictEqual(created.status, Status.SUCCESS)
      const statuses: Array<number> = []
      for (const keyword of UT) {
        const set = yield* Scu.nSet(channel, { ...target, dataSet: { [keyword]: "x".repeat(6 * MIB) } })
        statuses.push(set.status)
      }
      // 6 MiB at a time: two fit under 16 MiB, the third does not, nor any after it
      assert.deepStrictEqual(statuses, [0, 0, 0x0213, 0x0213, 0x0213, 0x0213])
      const kept = store.steps.get("1.2.3.4")!.attributes
      assert.isAtMost(encodedSize(kept), MppsScp.MAX_STEP_BYTES)
      assert.deepStrictEqual(
        UT.map((k) => k in kept),
        [true, true, false, false, false, false]
      )
      // the step is still served: a small N-SET ends it
      const done = yield* Scu.nSet(channel, {
        ...target,
        dataSet: {
          PerformedProcedureStepStatus: "COMPLETED",
          PerformedProcedureStepEndDate: "20261206",
          PerformedProcedureStepEndTime: "103000"
        }
      })
      assert.strictEqual(done.status, Status.SUCCESS)
    }).pipe(Effect.scoped, Effect.provide(Logger.layer([])))
  )
})
