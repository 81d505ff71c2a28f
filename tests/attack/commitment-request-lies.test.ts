/**
 * A Storage Commitment SCU that lies in its N-ACTION-RQ (StorageCommitmentScp):
 * - a Requested SOP Instance UID other than the well-known 1.2.840.10008.1.20.1.1 was answered Success and reported;
 *   now 0x0112 (no such SOP instance), no report;
 * - a Transaction UID, or a Referenced SOP Class/Instance UID, that no report can carry (over 64 characters, not
 *   digits and dots) was answered Success and its report then failed to encode, lost: now refused 0x0110 at once;
 * - a Transaction UID already under way was reported twice as committed; now the second request's instances fail
 *   0x0131 (duplicate transaction UID, PS3.4 J.3.3.1.2), the first's report unchanged.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Logger, Option, Result, Scope } from "effect"
import {
  ApplicationEntity,
  DataSet,
  Normalized,
  Scp,
  Scu,
  StorageCommitment,
  StorageCommitmentScp
} from "@netdicom/net"
import type { DimseChannel } from "@netdicom/net"
import { Status } from "@netdicom/wire"

const CT = "1.2.840.10008.5.1.4.1.1.2"
const EXPLICIT = ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN
const TS = [EXPLICIT]
const quiet = Logger.layer([])
const timeouts = { acse: "5 seconds", connect: "5 seconds", dimse: "10 seconds", write: "5 seconds" } as const

const scpAe = Result.getOrThrow(
  ApplicationEntity.make({
    aeTitle: "COMMIT-SCP",
    contexts: [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS, scu: false, scp: true }],
    timeouts
  })
)
const scuAe = Result.getOrThrow(ApplicationEntity.make({ aeTitle: "MODALITY", timeouts }))

const options = (decide: StorageCommitmentScp.Options["decide"]): StorageCommitmentScp.Options => ({
  ae: scpAe,
  decide,
  destinations: () => Option.none()
})
const commitAll: StorageCommitmentScp.Options["decide"] = (references) =>
  Effect.succeed({ committed: references, failed: [] })

const connect = (port: number, reports: (rq: Normalized.NRequest) => Effect.Effect<void>) =>
  Scu.connect(scuAe, {
    host: "127.0.0.1",
    port,
    calledAeTitle: "COMMIT-SCP",
    contexts: [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS }],
    onEventReport: (rq) => Effect.as(reports(rq), { status: Status.SUCCESS })
  })

// An Explicit VR Little Endian element with a short-form VR, and a defined-length sequence of items.
const element = (group: number, elementNo: number, vr: string, value: string): Buffer => {
  const bytes = Buffer.from(value.length % 2 === 1 ? `${value}\0` : value, "latin1")
  const h = Buffer.alloc(8)
  h.writeUInt16LE(group, 0)
  h.writeUInt16LE(elementNo, 2)
  h.write(vr, 4, "latin1")
  h.writeUInt16LE(bytes.length, 6)
  return Buffer.concat([h, bytes])
}
const sequence = (group: number, elementNo: number, items: ReadonlyArray<Buffer>): Buffer => {
  const body = Buffer.concat(
    items.map((item) => {
      const h = Buffer.alloc(8)
      h.writeUInt16LE(0xfffe, 0)
      h.writeUInt16LE(0xe000, 2)
      h.writeUInt32LE(item.length, 4)
      return Buffer.concat([h, item])
    })
  )
  const h = Buffer.alloc(12)
  h.writeUInt16LE(group, 0)
  h.writeUInt16LE(elementNo, 2)
  h.write("SQ", 4, "latin1")
  h.writeUInt32LE(body.length, 8)
  return Buffer.concat([h, body])
}
// Action Information as the wire has it: our own encoder would refuse these UIDs before sending
const actionBytes = (transactionUid: string, sopClassUid: string, sopInstanceUid: string) =>
  Buffer.concat([
    element(0x0008, 0x1195, "UI", transactionUid),
    sequence(0x0008, 0x1199, [
      Buffer.concat([element(0x0008, 0x1150, "UI", sopClassUid), element(0x0008, 0x1155, "UI", sopInstanceUid)])
    ])
  ])

// The N-ACTION handler given a request carrying `bytes` as its Action Information (its afterResponse not run).
const actOn = (bytes: Buffer) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    let decided = false
    const served = StorageCommitmentScp.handlers(
      options((references) => Effect.sync(() => ((decided = true), { committed: references, failed: [] }))),
      scope
    )
    const dataSet = Result.getOrThrow(DataSet.decode(new Uint8Array(bytes), EXPLICIT))
    const outcome = yield* served.nAction!({
      operation: "N-ACTION",
      message: undefined as never,
      sopClassUid: StorageCommitment.SOP_CLASS,
      sopInstanceUid: StorageCommitment.SOP_INSTANCE,
      eventTypeId: undefined,
      actionTypeId: StorageCommitment.REQUEST_COMMITMENT,
      attributeIdentifierList: undefined,
      dataSet,
      transferSyntax: EXPLICIT,
      callingAeTitle: "MODALITY",
      // a request served is watched until its association ends: one that never does
      channel: { association: { whenEnded: () => () => {} } } as unknown as DimseChannel.DimseChannel
    })
    yield* Scope.close(scope, Effect.void as never)
    return { outcome, decided }
  })

describe("a Storage Commitment N-ACTION that lies", () => {
  it.live("naming another SOP instance than the well-known one is answered 0x0112, and nothing is reported", () =>
    Effect.gen(function* () {
      const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(
        Effect.provide(StorageCommitmentScp.layer(options(commitAll)))
      )
      const reports: Array<Normalized.NRequest> = []
      const channel = yield* connect(server.port, (rq) => Effect.sync(() => void reports.push(rq)))
      const rsp = yield* Scu.nAction(channel, {
        sopClassUid: StorageCommitment.SOP_CLASS,
        sopInstanceUid: "1.2.3.4.5",
        actionTypeId: StorageCommitment.REQUEST_COMMITMENT,
        dataSet: StorageCommitment.actionInformation({
          transactionUid: "2.25.11",
          references: [{ sopClassUid: CT, sopInstanceUid: "1.2.3.1" }]
        })
      })
      assert.strictEqual(rsp.status, Status.NO_SUCH_SOP_INSTANCE)
      yield* Effect.sleep("300 millis")
      assert.deepStrictEqual(reports, [])
    }).pipe(Effect.provide(quiet))
  )

  it.live("with a UID no report could carry is refused 0x0110 at once, undecided", () =>
    Effect.gen(function* () {
      for (const [transactionUid, sopClassUid, sopInstanceUid] of [
        [`1.${"2".repeat(300)}`, CT, "1.2.3.1"],
        ["2.25.hello", CT, "1.2.3.1"],
        ["2.25.12", CT, `1.${"3".repeat(70)}`],
        ["2.25.13", "1.2.840.*", "1.2.3.1"]
      ]) {
        const { decided, outcome } = yield* actOn(actionBytes(transactionUid!, sopClassUid!, sopInstanceUid!))
        assert.strictEqual(outcome.status, Status.PROCESSING_FAILURE, transactionUid)
        assert.isUndefined(outcome.afterResponse)
        assert.isFalse(decided)
        assert.match(outcome.errorComment ?? "", /no UID|not a UID|UID that is/)
      }
      // a UID with a leading zero in a component, as some devices make them, is still served
      const served = yield* actOn(actionBytes("2.25.014", CT, "1.2.03.1"))
      assert.strictEqual(served.outcome.status, Status.SUCCESS)
    }).pipe(Effect.provide(quiet))
  )

  it.live("with a Transaction UID already under way is reported with every instance failed 0x0131", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const entered = yield* Deferred.make<void>()
      let calls = 0
      const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(
        Effect.provide(
          StorageCommitmentScp.layer(
            options((references) =>
              Effect.gen(function* () {
                if (calls++ === 0) {
                  yield* Deferred.succeed(entered, undefined)
                  yield* Deferred.await(gate)
                }
                return { committed: references, failed: [] }
              })
            )
          )
        )
      )
      const reports: Array<StorageCommitment.CommitmentResult> = []
      const take = (rq: Normalized.NRequest) =>
        Effect.sync(() => void reports.push(Result.getOrThrow(StorageCommitment.readEventInformation(rq.dataSet))))
      const first = yield* connect(server.port, take)
      const second = yield* connect(server.port, take)
      const ask = (channel: typeof first, instance: string) =>
        Scu.nAction(channel, {
          sopClassUid: StorageCommitment.SOP_CLASS,
          sopInstanceUid: StorageCommitment.SOP_INSTANCE,
          actionTypeId: StorageCommitment.REQUEST_COMMITMENT,
          dataSet: StorageCommitment.actionInformation({
            transactionUid: "2.25.77",
            references: [{ sopClassUid: CT, sopInstanceUid: instance }]
          })
        })
      const waiting = yield* Effect.forkChild(ask(first, "1.2.3.1"))
      yield* Deferred.await(entered)
      assert.strictEqual((yield* ask(second, "1.2.3.2")).status, Status.SUCCESS)
      for (let i = 0; i < 100 && reports.length < 1; i++) yield* Effect.sleep("20 millis")
      assert.deepStrictEqual(reports, [
        {
          transactionUid: "2.25.77",
          committed: [],
          failed: [{ sopClassUid: CT, sopInstanceUid: "1.2.3.2", reason: StorageCommitment.DUPLICATE_TRANSACTION_UID }]
        }
      ])
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual((yield* Fiber.join(waiting)).status, Status.SUCCESS)
      for (let i = 0; i < 100 && reports.length < 2; i++) yield* Effect.sleep("20 millis")
      assert.deepStrictEqual(reports[1], {
        transactionUid: "2.25.77",
        committed: [{ sopClassUid: CT, sopInstanceUid: "1.2.3.1" }],
        failed: []
      })
      // that transaction is over: the UID may be asked again
      reports.length = 0
      assert.strictEqual((yield* ask(second, "1.2.3.3")).status, Status.SUCCESS)
      for (let i = 0; i < 100 && reports.length < 1; i++) yield* Effect.sleep("20 millis")
      assert.deepStrictEqual(reports[0]?.committed, [{ sopClassUid: CT, sopInstanceUid: "1.2.3.3" }])
    }).pipe(Effect.provide(quiet))
  )
})
