/**
 * An MPPS SCU growing one step without end: each N-SET names new attributes (PS3.4 Table F.7.2-1 lets an N-SET set
 * any Type 3 attribute), and `Mpps.applySet` keeps the step's old ones beside them, so a step of 8 MiB N-SETs grew by
 * 8 MiB each (44 UT keywords alone make 350 MiB; private tags have no end), read, decoded, merged, encoded and
 * written whole on every later N-SET under the SCP's one lock: memory and time without bound. A step is now held to
 * `MppsScp.MAX_STEP_BYTES` encoded; the N-CREATE or N-SET that would take it over is refused 0x0213 (resource
 * limitation, PS3.7 10.1.2.1.9 / 10.1.5.1.6) and the step kept as it was, measured as a store keeps it (text in
 * UTF-8; N-SETs in Latin-1 are held the same: a guard). A value that cannot be encoded (kept) is now 0x0106: it was
 * stored by a store in memory, and answered 0x0110 by the archive's, logged as the store's failure.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Result } from "effect"
import { DataSet, type DimseChannel, Mpps, MppsScp, Scu } from "@netdicom/net"
import { Status } from "@netdicom/wire"
import { EXPLICIT, element, inProgress, serveAndConnect } from "./mpps-support.ts"

// UT attributes (unlimited length) an N-SET may set: each N-SET names a new one
const UT = ["TextValue", "ReasonForVisit", "LabelText", "TrackingID", "AssertionComments", "PrescriptionNotes"]
const MIB = 1 << 20

const encodedSize = (attributes: DataSet.Naturalized): number =>
  Result.getOrThrow(DataSet.encode({ ...attributes, SpecificCharacterSet: "ISO_IR 192" }, EXPLICIT)).length

const LATIN_1 = element(0x00080005, "CS", Buffer.from("ISO_IR 100"))
const tagOf = (keyword: string): number => {
  const dcmjs = DataSet.dcmjsModule() as {
    readonly data: { readonly DicomMetaDictionary: { readonly nameMap: Record<string, { readonly tag: string }> } }
  }
  return Number.parseInt(dcmjs.data.DicomMetaDictionary.nameMap[keyword]!.tag.replace(/[(),]/g, ""), 16)
}

// A request with a data set of our bytes; its response's status.
const raw = (
  channel: DimseChannel.DimseChannel,
  operation: "NSetRq" | "NCreateRq",
  uid: string,
  dataSet: Uint8Array
): Effect.Effect<number, unknown> => {
  const context = Result.getOrThrow(channel.findContext(Mpps.SOP_CLASS, "SCU"))
  const messageId = channel.takeMessageId()
  const rq =
    operation === "NSetRq"
      ? ({
          _tag: "NSetRq",
          messageId,
          requestedSopClassUid: Mpps.SOP_CLASS,
          requestedSopInstanceUid: uid,
          hasDataSet: true
        } as const)
      : ({
          _tag: "NCreateRq",
          messageId,
          affectedSopClassUid: Mpps.SOP_CLASS,
          affectedSopInstanceUid: uid,
          hasDataSet: true
        } as const)
  return Effect.map(channel.requestOne(context, rq, dataSet), (r) => (r.message as { readonly status: number }).status)
}

describe("an MPPS step grown by N-SETs naming new attributes", () => {
  it.live("is held to MAX_STEP_BYTES: the N-SET that would pass it is refused 0x0213, the step kept", () =>
    Effect.gen(function* () {
      const store = MppsScp.memoryStore()
      const { channel } = yield* serveAndConnect(store)
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

  it.live("in Latin-1 as well: the bound is on the step as kept, in UTF-8", () =>
    Effect.gen(function* () {
      const store = MppsScp.memoryStore()
      const { channel } = yield* serveAndConnect(store)
      const created = yield* Scu.nCreate(channel, {
        sopClassUid: Mpps.SOP_CLASS,
        sopInstanceUid: "1.2.3.4",
        dataSet: inProgress
      })
      assert.strictEqual(created.status, Status.SUCCESS)
      const statuses: Array<number> = []
      for (const keyword of UT) {
        const text = Buffer.alloc(6 * MIB, "x")
        text[0] = 0xe9 // é
        statuses.push(
          yield* raw(channel, "NSetRq", "1.2.3.4", Buffer.concat([LATIN_1, element(tagOf(keyword), "UT", text)]))
        )
      }
      assert.deepStrictEqual(statuses, [0, 0, 0x0213, 0x0213, 0x0213, 0x0213])
      assert.isAtMost(encodedSize(store.steps.get("1.2.3.4")!.attributes), MppsScp.MAX_STEP_BYTES)
    }).pipe(Effect.scoped, Effect.provide(Logger.layer([])))
  )

  it.live("a value that cannot be kept (a CS in Latin-1) is 0x0106, not stored", () =>
    Effect.gen(function* () {
      const store = MppsScp.memoryStore()
      const { channel } = yield* serveAndConnect(store)
      const { Modality: _m, ...rest } = inProgress
      // (0008,0005) and (0008,0060) come before every attribute of `rest`
      const dataSet = Buffer.concat([
        LATIN_1,
        element(0x00080060, "CS", Buffer.from("CT\xe9", "latin1")),
        Result.getOrThrow(DataSet.encode(rest, EXPLICIT))
      ])
      assert.strictEqual(yield* raw(channel, "NCreateRq", "1.2.3.5", dataSet), 0x0106)
      assert.isFalse(store.steps.has("1.2.3.5"))
    }).pipe(Effect.scoped, Effect.provide(Logger.layer([])))
  )
})
