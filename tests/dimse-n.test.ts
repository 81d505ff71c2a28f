/**
 * netdicom to netdicom over loopback, through the packages' public API: Storage Commitment Push Model (PS3.4 Annex J:
 * N-ACTION, then the N-EVENT-REPORT on the same association, or on a new association the SCP opens with the SCP role
 * when the SCU has gone) and Modality Performed Procedure Step (PS3.4 Annex F: N-CREATE, then N-SETs), with their
 * statuses and errors: instances not held, a refused service, an update too late, and a peer that aborts in between.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Logger, Result, Scope } from "effect"
import { ApplicationEntity, type DimseChannel, Normalized, Scp, Scu, StorageCommitment } from "@netdicom/net"
import { Status } from "@netdicom/wire"

const MPPS = "1.2.840.10008.3.1.2.3.3"
const CT = "1.2.840.10008.5.1.4.1.1.2"
const TS = [ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN, ApplicationEntity.IMPLICIT_VR_LITTLE_ENDIAN]
const quiet = Logger.layer([])

const aeOf = (aeTitle: string, contexts: ReadonlyArray<ApplicationEntity.SupportedContext>) =>
  Result.getOrThrow(
    ApplicationEntity.make({
      aeTitle,
      contexts,
      timeouts: { acse: "5 seconds", connect: "5 seconds", dimse: "10 seconds", write: "5 seconds" }
    })
  )

// The SCP of Storage Commitment: holds `held`, commits those it holds, and reports on the association of the request
// while it is up; once the requester has released or aborted it, on a new association to the requester's AE, where
// it proposes the SCP role for the SOP class (PS3.4 J.3.3, PS3.7 D.3.3.4).
const commitmentScp = (options: {
  readonly held: ReadonlySet<string>
  // Where the SCU listens for reports on a new association.
  readonly scuPort: () => number
  // Report on a new association even while the request's is up (a SCP that always does so).
  readonly alwaysNewAssociation?: boolean
  // What the report waits for once the N-ACTION is answered (the commitment taking its time).
  readonly gate?: Effect.Effect<void>
  readonly reported: (how: "same" | "new", status: number) => Effect.Effect<void>
}) => {
  const scpAe = aeOf("COMMIT-SCP", [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS }])
  const report = (
    channel: DimseChannel.DimseChannel,
    how: "same" | "new",
    result: StorageCommitment.CommitmentResult
  ) =>
    Effect.gen(function* () {
      const { eventTypeId, dataSet } = StorageCommitment.eventInformation(result)
      const rsp = yield* Normalized.nEventReport(channel, {
        sopClassUid: StorageCommitment.SOP_CLASS,
        sopInstanceUid: StorageCommitment.SOP_INSTANCE,
        eventTypeId,
        dataSet
      })
      yield* options.reported(how, rsp.status)
    })
  const onNewAssociation = (peer: string, result: StorageCommitment.CommitmentResult) =>
    Effect.scoped(
      Effect.gen(function* () {
        const channel = yield* Scu.connect(scpAe, {
          host: "127.0.0.1",
          port: options.scuPort(),
          calledAeTitle: peer,
          contexts: [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS }],
          roles: [{ sopClassUid: StorageCommitment.SOP_CLASS, scu: false, scp: true }]
        })
        yield* report(channel, "new", result)
      })
    )
  const nAction: Normalized.NHandler = (rq) =>
    Effect.sync(() => {
      const request = StorageCommitment.readActionInformation(rq.dataSet)
      if (Result.isFailure(request)) return { status: 0x0110, errorComment: request.failure.detail }
      const { transactionUid, references } = request.success
      const result: StorageCommitment.CommitmentResult = {
        transactionUid,
        committed: references.filter((r) => options.held.has(r.sopInstanceUid)),
        failed: references
          .filter((r) => !options.held.has(r.sopInstanceUid))
          .map((r) => ({ ...r, reason: StorageCommitment.NO_SUCH_OBJECT_INSTANCE }))
      }
      const later = Effect.gen(function* () {
        if (options.gate !== undefined) yield* options.gate
        if (options.alwaysNewAssociation) {
          yield* rq.channel.association.ended
          return yield* onNewAssociation(rq.callingAeTitle, result)
        }
        // Same association while it is up; on a failure there (the peer went), a new one.
        const same = yield* Effect.result(report(rq.channel, "same", result))
        if (Result.isFailure(same)) yield* onNewAssociation(rq.callingAeTitle, result)
      })
      // Run apart from the request's handler, so that the SCU may release at once (a report on a new association).
      return { status: Status.SUCCESS, afterResponse: Effect.asVoid(Effect.forkDetach(Effect.ignore(later))) }
    })
  return { ae: scpAe, layer: Normalized.layer({ [StorageCommitment.SOP_CLASS]: { nAction } }) }
}

// The SCU's side: asks on an association of its own, takes reports on it (onEventReport) and on its listening port.
const scuAe = aeOf("COMMIT-SCU", [
  { abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS, scu: true, scp: false }
])
const REFS: ReadonlyArray<StorageCommitment.Reference> = [
  { sopClassUid: CT, sopInstanceUid: "1.2.3.1" },
  { sopClassUid: CT, sopInstanceUid: "1.2.3.2" },
  { sopClassUid: CT, sopInstanceUid: "1.2.3.404" }
]

const listenForReports = (onReport: (rq: Normalized.NRequest) => Effect.Effect<void>) =>
  Scp.serve(scuAe, { port: 0 }).pipe(
    Effect.provide(
      Normalized.layer({
        [StorageCommitment.SOP_CLASS]: {
          nEventReport: (rq) => Effect.as(onReport(rq), { status: Status.SUCCESS })
        }
      })
    )
  )

const askCommitment = (port: number, onEventReport?: Normalized.NHandler) =>
  Effect.gen(function* () {
    const channel = yield* Scu.connect(scuAe, {
      host: "127.0.0.1",
      port,
      calledAeTitle: "COMMIT-SCP",
      contexts: [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS }],
      ...(onEventReport !== undefined ? { onEventReport } : {})
    })
    const rsp = yield* Scu.nAction(channel, {
      sopClassUid: StorageCommitment.SOP_CLASS,
      sopInstanceUid: StorageCommitment.SOP_INSTANCE,
      actionTypeId: StorageCommitment.REQUEST_COMMITMENT,
      dataSet: StorageCommitment.actionInformation({ transactionUid: "2.25.1234", references: REFS })
    })
    return { channel, rsp }
  })

const expectedResult: StorageCommitment.CommitmentResult = {
  transactionUid: "2.25.1234",
  committed: REFS.slice(0, 2),
  failed: [{ ...REFS[2]!, reason: StorageCommitment.NO_SUCH_OBJECT_INSTANCE }]
}

describe("Storage Commitment Push Model, netdicom to netdicom", () => {
  it.live("N-ACTION, then the N-EVENT-REPORT on the same association, with the instances not held", () =>
    Effect.gen(function* () {
      const done = yield* Deferred.make<readonly ["same" | "new", number]>()
      const scp = commitmentScp({
        held: new Set(["1.2.3.1", "1.2.3.2"]),
        scuPort: () => 0,
        reported: (how, status) => Deferred.succeed(done, [how, status] as const)
      })
      const server = yield* Scp.serve(scp.ae, { port: 0 }).pipe(Effect.provide(scp.layer))
      const report = yield* Deferred.make<Normalized.NRequest>()
      const { rsp } = yield* askCommitment(server.port, (rq) =>
        Effect.as(Deferred.succeed(report, rq), { status: Status.SUCCESS })
      )
      assert.deepStrictEqual(
        [rsp.status, rsp.actionTypeId, rsp.sopInstanceUid],
        [0, StorageCommitment.REQUEST_COMMITMENT, StorageCommitment.SOP_INSTANCE]
      )
      const got = yield* Deferred.await(report)
      assert.deepStrictEqual(
        [got.eventTypeId, got.sopInstanceUid, got.callingAeTitle],
        [StorageCommitment.FAILURES_EXIST, StorageCommitment.SOP_INSTANCE, "COMMIT-SCP"]
      )
      assert.deepStrictEqual(Result.getOrThrow(StorageCommitment.readEventInformation(got.dataSet)), expectedResult)
      assert.deepStrictEqual(yield* Deferred.await(done), ["same", 0])
    })
  )

  it.live("N-ACTION, release, then the N-EVENT-REPORT on a new association the SCP opens with the SCP role", () =>
    Effect.gen(function* () {
      const done = yield* Deferred.make<readonly ["same" | "new", number]>()
      const report = yield* Deferred.make<Normalized.NRequest>()
      const listener = yield* listenForReports((rq) => Deferred.succeed(report, rq).pipe(Effect.asVoid))
      const scp = commitmentScp({
        held: new Set(["1.2.3.1", "1.2.3.2", "1.2.3.404"]),
        scuPort: () => listener.port,
        alwaysNewAssociation: true,
        reported: (how, status) => Deferred.succeed(done, [how, status] as const)
      })
      const server = yield* Scp.serve(scp.ae, { port: 0 }).pipe(Effect.provide(scp.layer))
      // asked and released: no onEventReport on this association
      const { rsp } = yield* Effect.scoped(askCommitment(server.port))
      assert.strictEqual(rsp.status, 0)
      const got = yield* Deferred.await(report)
      assert.deepStrictEqual([got.eventTypeId, got.callingAeTitle], [StorageCommitment.ALL_COMMITTED, "COMMIT-SCP"])
      assert.deepStrictEqual(Result.getOrThrow(StorageCommitment.readEventInformation(got.dataSet)), {
        transactionUid: "2.25.1234",
        committed: REFS,
        failed: []
      })
      assert.deepStrictEqual(yield* Deferred.await(done), ["new", 0])
    }).pipe(Effect.provide(quiet))
  )

  it.live("the SCU aborts before the report: the SCP's report on the same association fails, it opens a new one", () =>
    Effect.gen(function* () {
      const done = yield* Deferred.make<readonly ["same" | "new", number]>()
      const report = yield* Deferred.make<Normalized.NRequest>()
      const listener = yield* listenForReports((rq) => Deferred.succeed(report, rq).pipe(Effect.asVoid))
      const gate = yield* Deferred.make<void>()
      const scp = commitmentScp({
        held: new Set(["1.2.3.1", "1.2.3.2"]),
        scuPort: () => listener.port,
        gate: Deferred.await(gate),
        reported: (how, status) => Deferred.succeed(done, [how, status] as const)
      })
      const server = yield* Scp.serve(scp.ae, { port: 0 }).pipe(Effect.provide(scp.layer))
      // The SCU aborts its association once the N-ACTION is answered, before the commitment is done.
      const scope = yield* Scope.make()
      const { channel } = yield* askCommitment(server.port, () => Effect.succeed({ status: Status.SUCCESS })).pipe(
        Scope.provide(scope)
      )
      yield* Scope.close(scope, Exit.fail("gone"))
      assert.strictEqual((yield* channel.association.ended)._tag, "Aborted")
      yield* Deferred.succeed(gate, undefined)
      const got = yield* Deferred.await(report)
      assert.deepStrictEqual(Result.getOrThrow(StorageCommitment.readEventInformation(got.dataSet)), expectedResult)
      assert.deepStrictEqual(yield* Deferred.await(done), ["new", 0])
    }).pipe(Effect.provide(quiet))
  )

  it.live("an SCP without Storage Commitment refuses the N-ACTION 0x0122", () =>
    Effect.gen(function* () {
      const ae = aeOf("COMMIT-SCP", [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS }])
      const server = yield* Scp.serve(ae, { port: 0 })
      const { rsp } = yield* askCommitment(server.port)
      assert.deepStrictEqual([rsp.status, rsp.meaning], [0x0122, "Refused: SOP Class not supported"])
    }).pipe(Effect.provide(quiet))
  )
})

// An MPPS SCP: instances by UID, updated until COMPLETED or DISCONTINUED (then 0x0110 with Error ID A710, PS3.4
// F.7.2.2.2); `onCreate` runs once an N-CREATE is answered.
const mppsScp = (onCreate?: (channel: DimseChannel.DimseChannel) => Effect.Effect<void>) => {
  const held = new Map<string, Record<string, unknown>>()
  const layer = Normalized.layer({
    [MPPS]: {
      nCreate: (rq) =>
        Effect.sync(() => {
          if (rq.sopInstanceUid === undefined) return { status: 0x0120, errorComment: "SOP Instance UID required" }
          if (held.has(rq.sopInstanceUid)) return { status: 0x0111 }
          held.set(rq.sopInstanceUid, { ...rq.dataSet })
          return {
            status: Status.SUCCESS,
            ...(onCreate !== undefined ? { afterResponse: onCreate(rq.channel) } : {})
          }
        }),
      nSet: (rq) =>
        Effect.sync(() => {
          const pps = held.get(rq.sopInstanceUid!)
          if (pps === undefined) return { status: Status.NO_SUCH_SOP_INSTANCE }
          const state = pps["PerformedProcedureStepStatus"]
          if (state === "COMPLETED" || state === "DISCONTINUED") {
            return { status: Status.PROCESSING_FAILURE, errorId: 0xa710, errorComment: `already ${state}` }
          }
          Object.assign(pps, rq.dataSet)
          return { status: Status.SUCCESS }
        })
    }
  })
  const ae = aeOf("MPPS-SCP", [{ abstractSyntax: MPPS, transferSyntaxes: TS }])
  return { held, layer, ae }
}

const connectMpps = (port: number) =>
  Scu.connect(aeOf("MODALITY", []), {
    host: "127.0.0.1",
    port,
    calledAeTitle: "MPPS-SCP",
    contexts: [{ abstractSyntax: MPPS, transferSyntaxes: TS }]
  })

describe("Modality Performed Procedure Step, netdicom to netdicom", () => {
  it.live("N-CREATE IN PROGRESS, N-SET COMPLETED, then a late N-SET and an unknown instance", () =>
    Effect.gen(function* () {
      const scp = mppsScp()
      const server = yield* Scp.serve(scp.ae, { port: 0 }).pipe(Effect.provide(scp.layer))
      const channel = yield* connectMpps(server.port)
      const uid = "1.2.826.0.1.3680043.2.1"
      const created = yield* Scu.nCreate(channel, {
        sopClassUid: MPPS,
        sopInstanceUid: uid,
        dataSet: {
          PerformedProcedureStepStatus: "IN PROGRESS",
          PerformedProcedureStepID: "PPS1",
          Modality: "CT",
          PatientName: "DOE^JOHN",
          ScheduledStepAttributesSequence: [{ StudyInstanceUID: "1.2.3", AccessionNumber: "A1" }]
        }
      })
      assert.deepStrictEqual([created.status, created.sopInstanceUid], [0, uid])
      assert.deepStrictEqual(scp.held.get(uid)?.["ScheduledStepAttributesSequence"], [
        { StudyInstanceUID: "1.2.3", AccessionNumber: "A1" }
      ])
      const duplicate = yield* Scu.nCreate(channel, { sopClassUid: MPPS, sopInstanceUid: uid, dataSet: {} })
      assert.strictEqual(duplicate.status, 0x0111)
      const noUid = yield* Scu.nCreate(channel, { sopClassUid: MPPS, dataSet: {} })
      assert.deepStrictEqual([noUid.status, noUid.meaning], [0x0120, "Failure: missing attribute"])

      const completed = yield* Scu.nSet(channel, {
        sopClassUid: MPPS,
        sopInstanceUid: uid,
        dataSet: { PerformedProcedureStepStatus: "COMPLETED", PerformedProcedureStepEndTime: "101500" }
      })
      assert.strictEqual(completed.status, 0)
      assert.strictEqual(scp.held.get(uid)?.["PerformedProcedureStepStatus"], "COMPLETED")
      const late = yield* Scu.nSet(channel, {
        sopClassUid: MPPS,
        sopInstanceUid: uid,
        dataSet: { PerformedProcedureStepStatus: "DISCONTINUED" }
      })
      assert.deepStrictEqual([late.status, late.errorId, late.errorComment], [0x0110, 0xa710, "already COMPLETED"])
      const unknown = yield* Scu.nSet(channel, {
        sopClassUid: MPPS,
        sopInstanceUid: "1.2.3.999",
        dataSet: { PerformedProcedureStepStatus: "COMPLETED" }
      })
      assert.deepStrictEqual([unknown.status, unknown.category], [Status.NO_SUCH_SOP_INSTANCE, "Failure"])
    })
  )

  it.live("an SCP without MPPS refuses 0x0122, one that does not take the context rejects it", () =>
    Effect.gen(function* () {
      const plain = yield* Scp.serve(aeOf("MPPS-SCP", [{ abstractSyntax: MPPS, transferSyntaxes: TS }]), {
        port: 0
      })
      const refused = yield* Scu.nCreate(yield* connectMpps(plain.port), { sopClassUid: MPPS, sopInstanceUid: "1.2" })
      assert.strictEqual(refused.status, Status.SOP_CLASS_NOT_SUPPORTED)
      const verificationOnly = yield* Scp.serve(
        aeOf("MPPS-SCP", [{ abstractSyntax: "1.2.840.10008.1.1", transferSyntaxes: TS }]),
        { port: 0 }
      )
      const rejected = yield* Effect.result(connectMpps(verificationOnly.port))
      assert.isTrue(Result.isFailure(rejected) && rejected.failure._tag === "NoAcceptableContext")
    }).pipe(Effect.provide(quiet))
  )

  it.live("the SCP aborts after the N-CREATE: the N-SET fails with AssociationAborted, the instance stays", () =>
    Effect.gen(function* () {
      const scp = mppsScp((channel) => channel.association.abort)
      const server = yield* Scp.serve(scp.ae, { port: 0 }).pipe(Effect.provide(scp.layer))
      const channel = yield* connectMpps(server.port)
      const created = yield* Scu.nCreate(channel, {
        sopClassUid: MPPS,
        sopInstanceUid: "1.2.5",
        dataSet: { PerformedProcedureStepStatus: "IN PROGRESS" }
      })
      assert.strictEqual(created.status, 0)
      const ending = yield* channel.association.ended
      assert.strictEqual(ending._tag, "Aborted")
      const set = yield* Effect.result(
        Scu.nSet(channel, {
          sopClassUid: MPPS,
          sopInstanceUid: "1.2.5",
          dataSet: { PerformedProcedureStepStatus: "COMPLETED" }
        })
      )
      assert.isTrue(Result.isFailure(set))
      if (Result.isFailure(set)) assert.strictEqual(set.failure._tag, "AssociationAborted")
      assert.strictEqual(scp.held.get("1.2.5")?.["PerformedProcedureStepStatus"], "IN PROGRESS")
      // a new association picks it up
      const again = yield* connectMpps(server.port)
      const completed = yield* Scu.nSet(again, {
        sopClassUid: MPPS,
        sopInstanceUid: "1.2.5",
        dataSet: { PerformedProcedureStepStatus: "COMPLETED" }
      })
      assert.strictEqual(completed.status, 0)
      assert.strictEqual(scp.held.get("1.2.5")?.["PerformedProcedureStepStatus"], "COMPLETED")
    }).pipe(Effect.provide(quiet))
  )
})
