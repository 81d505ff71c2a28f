/**
 * An MPPS SCU sending a Performed Procedure Step Status our encoder will not write back (CS text in Latin-1,
 * "FINI\xe9" under ISO_IR 100): the SCP refused it 0x0106 and echoed the value in the response's data set (PS3.7
 * C.4.3), which then failed to encode, so the SCU got 0x0110 "the reply data set cannot be encoded" instead of the
 * standard's status, for N-CREATE and N-SET alike. The refusal now goes without a data set it cannot encode; the
 * status and the Error Comment naming the attribute stay.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Result } from "effect"
import { ApplicationEntity, Mpps, MppsScp, Scp, Scu } from "@netdicom/net"
import { Status } from "@netdicom/wire"

const EXPLICIT = ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN
const TS = [EXPLICIT]
const scpAe = Result.getOrThrow(
  ApplicationEntity.make({
    aeTitle: "MPPS-SCP",
    contexts: [{ abstractSyntax: Mpps.SOP_CLASS, transferSyntaxes: TS, scu: false, scp: true }]
  })
)
const scuAe = Result.getOrThrow(ApplicationEntity.make({ aeTitle: "MODALITY" }))

// An Explicit VR Little Endian element with a 2-byte length, padded with a space.
const element = (group: number, elementNo: number, vr: string, value: Buffer): Buffer => {
  const padded = value.length % 2 === 1 ? Buffer.concat([value, Buffer.from(" ")]) : value
  const h = Buffer.alloc(8)
  h.writeUInt16LE(group, 0)
  h.writeUInt16LE(elementNo, 2)
  h.write(vr, 4, "latin1")
  h.writeUInt16LE(padded.length, 6)
  return Buffer.concat([h, padded])
}
const latinStatus = new Uint8Array(
  Buffer.concat([
    element(0x0008, 0x0005, "CS", Buffer.from("ISO_IR 100")),
    element(0x0040, 0x0252, "CS", Buffer.from("FINI\xe9", "latin1"))
  ])
)

describe("an MPPS status value that cannot be written back", () => {
  it.live("is refused 0x0106 on N-CREATE and N-SET, not 0x0110", () =>
    Effect.gen(function* () {
      const store = MppsScp.memoryStore()
      const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(MppsScp.layer({ store })))
      const channel = yield* Scu.connect(scuAe, {
        host: "127.0.0.1",
        port: server.port,
        calledAeTitle: "MPPS-SCP",
        contexts: [{ abstractSyntax: Mpps.SOP_CLASS, transferSyntaxes: TS }]
      })
      const created = yield* Scu.nCreate(channel, {
        sopClassUid: Mpps.SOP_CLASS,
        sopInstanceUid: "1.2.3.4",
        dataSet: {
          PerformedProcedureStepStatus: "IN PROGRESS",
          ScheduledStepAttributesSequence: [{ StudyInstanceUID: "1.2.3.1" }],
          PerformedProcedureStepID: "S1",
          PerformedStationAETitle: "MODALITY",
          PerformedProcedureStepStartDate: "20261206",
          PerformedProcedureStepStartTime: "101500",
          Modality: "CT"
        }
      })
      assert.strictEqual(created.status, Status.SUCCESS)
      const context = Result.getOrThrow(channel.findContext(Mpps.SOP_CLASS, "SCU"))
      const set = yield* channel.requestOne(
        context,
        {
          _tag: "NSetRq",
          messageId: channel.takeMessageId(),
          requestedSopClassUid: Mpps.SOP_CLASS,
          requestedSopInstanceUid: "1.2.3.4"
        },
        latinStatus
      )
      const create = yield* channel.requestOne(
        context,
        {
          _tag: "NCreateRq",
          messageId: channel.takeMessageId(),
          affectedSopClassUid: Mpps.SOP_CLASS,
          affectedSopInstanceUid: "1.2.3.5",
          hasDataSet: true
        },
        latinStatus
      )
      for (const r of [set, create]) {
        const m = r.message as { readonly status: number; readonly errorComment?: string }
        assert.strictEqual(m.status, 0x0106, JSON.stringify(r.message))
        assert.include(m.errorComment, "(0040,0252)")
      }
      assert.strictEqual(store.steps.get("1.2.3.4")?.status, "IN PROGRESS")
      assert.isFalse(store.steps.has("1.2.3.5"))
    }).pipe(Effect.scoped, Effect.provide(Logger.layer([])))
  )
})
