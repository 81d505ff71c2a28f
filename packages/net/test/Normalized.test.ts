/**
 * DIMSE-N end to end on loopback: our SCU's `nAction`, `nCreate`, `nSet`, `nGet`, `nDelete` and `nEventReport`
 * against our SCP's `NormalizedService`, with data sets both ways; the refusals of what is not served (0x0122,
 * 0x0211, 0x0124); a handler that dies (0x0110); the typed failures of the calls; and an SCU taking N-EVENT-REPORTs
 * from its peer on its own association.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Layer, Logger, Result } from "effect"
import { Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as Normalized from "../src/services/Normalized.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { testAe, VERIFICATION } from "./support.ts"

const MPPS = "1.2.840.10008.3.1.2.3.3"
const COMMITMENT = "1.2.840.10008.1.20.1"
const FILM_BOX = "1.2.840.10008.5.1.1.2"
const TS = [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN]

const scpAe = testAe({
  aeTitle: "NETDICOM-SCP",
  contexts: [MPPS, COMMITMENT, FILM_BOX, VERIFICATION].map((abstractSyntax) => ({
    abstractSyntax,
    transferSyntaxes: TS
  }))
})

const connectTo = (port: number, extra: Partial<Scu.ConnectOptions> = {}) =>
  Effect.gen(function* () {
    const ae = yield* testAe({ aeTitle: "NETDICOM-SCU" })
    return yield* Scu.connect(ae, {
      host: "127.0.0.1",
      port,
      calledAeTitle: "NETDICOM-SCP",
      contexts: [MPPS, COMMITMENT, FILM_BOX, VERIFICATION].map((abstractSyntax) => ({
        abstractSyntax,
        transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN]
      })),
      ...extra
    })
  })

// An MPPS SCP kept in a map: N-CREATE makes an instance (its UID given or assigned), N-SET changes it until it is
// COMPLETED, N-GET returns what is asked of it, N-DELETE is no MPPS operation (left out: 0x0211).
const mppsService = () => {
  const store = new Map<string, Record<string, unknown>>()
  let assigned = 0
  const handlers: Normalized.NHandlers = {
    nCreate: (rq) =>
      Effect.sync(() => {
        const uid = rq.sopInstanceUid ?? `1.2.826.0.1.99.${++assigned}`
        if (store.has(uid)) return { status: 0x0111, errorComment: "duplicate SOP instance" }
        store.set(uid, { ...rq.dataSet })
        return { status: Status.SUCCESS, sopInstanceUid: uid }
      }),
    nSet: (rq) =>
      Effect.sync(() => {
        const held = store.get(rq.sopInstanceUid ?? "")
        if (held === undefined) return { status: Status.NO_SUCH_SOP_INSTANCE }
        if (held["PerformedProcedureStepStatus"] === "COMPLETED") {
          return { status: Status.PROCESSING_FAILURE, errorId: 0xa710, errorComment: "may no longer be updated" }
        }
        Object.assign(held, rq.dataSet)
        return { status: Status.SUCCESS }
      }),
    nGet: (rq) =>
      Effect.sync(() => {
        const held = store.get(rq.sopInstanceUid ?? "")
        if (held === undefined) return { status: Status.NO_SUCH_SOP_INSTANCE }
        const wanted = rq.attributeIdentifierList
        if (wanted === undefined) return { status: Status.SUCCESS, dataSet: held }
        // only Patient's Name (0010,0010) and the status (0040,0252) are kept apart here
        const known: Record<number, string> = { 0x00100010: "PatientName", 0x00400252: "PerformedProcedureStepStatus" }
        const missing = wanted.filter((t) => known[t] === undefined)
        const dataSet = Object.fromEntries(wanted.flatMap((t) => (known[t] ? [[known[t], held[known[t]]]] : [])))
        return missing.length === 0
          ? { status: Status.SUCCESS, dataSet }
          : { status: 0x0107, attributeIdentifierList: missing, dataSet }
      })
  }
  return { store, layer: Normalized.layer({ [MPPS]: handlers }) }
}

describe("DIMSE-N, SCU against SCP", () => {
  it.live("MPPS: N-CREATE, N-SET, N-GET with their statuses and data sets", () =>
    Effect.gen(function* () {
      const mpps = mppsService()
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(Effect.provide(mpps.layer))
      const channel = yield* connectTo(server.port)

      const created = yield* Scu.nCreate(channel, {
        sopClassUid: MPPS,
        dataSet: { PatientName: "DOE^JANE", PerformedProcedureStepStatus: "IN PROGRESS" }
      })
      assert.deepStrictEqual([created.status, created.category, created.sopClassUid], [0, "Success", MPPS])
      const uid = created.sopInstanceUid!
      assert.strictEqual(uid, "1.2.826.0.1.99.1")
      assert.deepStrictEqual(mpps.store.get(uid), {
        PatientName: "DOE^JANE",
        PerformedProcedureStepStatus: "IN PROGRESS"
      })

      const again = yield* Scu.nCreate(channel, { sopClassUid: MPPS, sopInstanceUid: uid, dataSet: {} })
      assert.deepStrictEqual(
        [again.status, again.meaning, again.errorComment],
        [0x0111, "Failure: duplicate SOP Instance", "duplicate SOP instance"]
      )

      const set = yield* Scu.nSet(channel, {
        sopClassUid: MPPS,
        sopInstanceUid: uid,
        dataSet: { PerformedProcedureStepStatus: "COMPLETED" }
      })
      assert.deepStrictEqual([set.status, set.sopInstanceUid], [0, uid])
      const late = yield* Scu.nSet(channel, {
        sopClassUid: MPPS,
        sopInstanceUid: uid,
        dataSet: { PerformedProcedureStepStatus: "DISCONTINUED" }
      })
      assert.deepStrictEqual([late.status, late.errorId, late.category], [0x0110, 0xa710, "Failure"])
      const unknown = yield* Scu.nSet(channel, { sopClassUid: MPPS, sopInstanceUid: "1.2.3.404", dataSet: {} })
      assert.deepStrictEqual([unknown.status, unknown.meaning], [0x0112, "Failure: no such SOP Instance"])

      const all = yield* Scu.nGet(channel, { sopClassUid: MPPS, sopInstanceUid: uid })
      assert.deepStrictEqual(all.dataSet, { PatientName: "DOE^JANE", PerformedProcedureStepStatus: "COMPLETED" })
      const some = yield* Scu.nGet(channel, {
        sopClassUid: MPPS,
        sopInstanceUid: uid,
        attributes: [0x00400252, 0x00081030]
      })
      assert.deepStrictEqual(
        [some.status, some.category, some.attributeIdentifierList],
        [0x0107, "Warning", [0x00081030]]
      )
      assert.deepStrictEqual(some.dataSet, { PerformedProcedureStepStatus: "COMPLETED" })
    })
  )

  it.live("refusals: no service for the SOP class 0x0122, an operation not served 0x0211, no role 0x0124", () =>
    Effect.gen(function* () {
      const warnings: Array<string> = []
      const capture = Logger.make(({ logLevel, message }) => {
        if (logLevel === "Warn") warnings.push((Array.isArray(message) ? message : [message]).join(" "))
      })
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(
        Effect.provide(Layer.merge(mppsService().layer, Logger.layer([capture])))
      )
      const channel = yield* connectTo(server.port)
      const noService = yield* Scu.nAction(channel, {
        sopClassUid: COMMITMENT,
        sopInstanceUid: "1.2.840.10008.1.20.1.1",
        actionTypeId: 1,
        dataSet: { TransactionUID: "1.2.3" }
      })
      assert.deepStrictEqual(
        [noService.status, noService.errorComment],
        [Status.SOP_CLASS_NOT_SUPPORTED, "no DIMSE-N service for this SOP class"]
      )
      const notServed = yield* Scu.nDelete(channel, { sopClassUid: MPPS, sopInstanceUid: "1.2.3" })
      assert.deepStrictEqual(
        [notServed.status, notServed.errorComment],
        [Status.UNRECOGNIZED_OPERATION, "N-DELETE is not served for this SOP class"]
      )
      // N-EVENT-REPORT is the SCP's to send: the SCP of MPPS has no SCU role here to receive one
      const wrongWay = yield* Scu.nEventReport(channel, {
        sopClassUid: MPPS,
        sopInstanceUid: "1.2.3",
        eventTypeId: 1
      }).pipe(Effect.result)
      assert.isTrue(Result.isFailure(wrongWay))
      if (Result.isFailure(wrongWay)) assert.strictEqual(wrongWay.failure._tag, "NoAcceptedContext")
      // the association goes on
      assert.strictEqual((yield* Scu.echo(channel)).status, 0)
      assert.lengthOf(
        warnings.filter((w) => w.includes("refused")),
        2
      )
    })
  )

  it.live("a request on a context where the acceptor does not perform it is refused 0x0124", () =>
    Effect.gen(function* () {
      // The SCU proposes MPPS with the SCP role only: the acceptor is then MPPS's SCU, not its SCP.
      const ae = yield* testAe({
        aeTitle: "NETDICOM-SCP",
        contexts: [{ abstractSyntax: MPPS, transferSyntaxes: TS, scu: true, scp: true }]
      })
      const server = yield* Scp.serve(ae, { port: 0 }).pipe(Effect.provide(mppsService().layer))
      const scuAe = yield* testAe({
        aeTitle: "NETDICOM-SCU",
        contexts: [{ abstractSyntax: MPPS, transferSyntaxes: TS, scu: true, scp: true }]
      })
      const channel = yield* Scu.connect(scuAe, {
        host: "127.0.0.1",
        port: server.port,
        calledAeTitle: "NETDICOM-SCP",
        contexts: [{ abstractSyntax: MPPS, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }],
        roles: [{ sopClassUid: MPPS, scu: false, scp: true }]
      })
      // We are MPPS's SCP on this association: our N-EVENT-REPORT reaches the peer as its SCU, whose NormalizedService
      // for MPPS has no nEventReport (0x0211)
      const report = yield* Scu.nEventReport(channel, { sopClassUid: MPPS, sopInstanceUid: "1.2.3", eventTypeId: 1 })
      assert.strictEqual(report.status, Status.UNRECOGNIZED_OPERATION)
      // our N-CREATE has no context where we are SCU: a typed failure, nothing sent
      const create = yield* Scu.nCreate(channel, { sopClassUid: MPPS }).pipe(Effect.result)
      assert.isTrue(Result.isFailure(create) && create.failure._tag === "NoAcceptedContext")
      // sent all the same on that context (as a peer ignoring the roles would), it is refused 0x0124
      const context = channel.association.negotiated.accepted[0]!
      assert.deepStrictEqual([context.weAreScu, context.weAreScp], [false, true])
      const refused = yield* channel.requestOne(context, {
        _tag: "NCreateRq",
        messageId: channel.takeMessageId(),
        affectedSopClassUid: MPPS,
        hasDataSet: false
      })
      assert.deepStrictEqual(
        [refused.message._tag, refused.status, "errorComment" in refused.message && refused.message.errorComment],
        ["NCreateRsp", Status.NOT_AUTHORIZED, "no SCP role negotiated on presentation context 1"]
      )
    })
  )

  it.live("a handler that dies is answered 0x0110; the association goes on", () =>
    Effect.gen(function* () {
      const dying = Normalized.layer({
        [MPPS]: { nCreate: () => Effect.die(new Error("database gone")) }
      })
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(
        Effect.provide(Layer.merge(dying, Logger.layer([])))
      )
      const channel = yield* connectTo(server.port)
      const r = yield* Scu.nCreate(channel, { sopClassUid: MPPS, dataSet: { PatientName: "X" } })
      assert.deepStrictEqual([r.status, r.errorComment], [Status.PROCESSING_FAILURE, "the request's handler failed"])
      assert.strictEqual((yield* Scu.echo(channel)).status, 0)
    })
  )

  it.live("typed failures: a data set of ours that cannot be encoded sends nothing", () =>
    Effect.gen(function* () {
      const mpps = mppsService()
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(Effect.provide(mpps.layer))
      const channel = yield* connectTo(server.port)
      const r = yield* Scu.nCreate(channel, { sopClassUid: MPPS, dataSet: { NoSuchKeyword: "x" } }).pipe(Effect.result)
      assert.isTrue(Result.isFailure(r))
      if (Result.isFailure(r)) assert.strictEqual(r.failure._tag, "DataSetError")
      assert.strictEqual(mpps.store.size, 0)
      assert.strictEqual((yield* Scu.echo(channel)).status, 0)
    })
  )

  it.live("an SCU takes its peer's N-EVENT-REPORT after the N-ACTION-RSP, on the same association", () =>
    Effect.gen(function* () {
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(
        Effect.provide(
          Normalized.layer({
            [COMMITMENT]: {
              nAction: (rq) =>
                Effect.succeed({
                  status: Status.SUCCESS,
                  afterResponse: Normalized.nEventReport(rq.channel, {
                    sopClassUid: COMMITMENT,
                    sopInstanceUid: rq.sopInstanceUid!,
                    eventTypeId: 1,
                    dataSet: { TransactionUID: (rq.dataSet?.["TransactionUID"] as string) ?? "" }
                  }).pipe(
                    Effect.tap((rsp) => Effect.sync(() => reportAnswered.push(rsp.status))),
                    Effect.ignore
                  )
                })
            }
          })
        )
      )
      const reportAnswered: Array<number> = []
      const reported = yield* Deferred.make<Normalized.NRequest>()
      const channel = yield* connectTo(server.port, {
        onEventReport: (rq) => Effect.as(Deferred.succeed(reported, rq), { status: Status.SUCCESS })
      })
      const action = yield* Scu.nAction(channel, {
        sopClassUid: COMMITMENT,
        sopInstanceUid: "1.2.840.10008.1.20.1.1",
        actionTypeId: 1,
        dataSet: { TransactionUID: "1.2.3.77" }
      })
      assert.deepStrictEqual([action.status, action.actionTypeId], [0, 1])
      const report = yield* Deferred.await(reported)
      assert.deepStrictEqual(
        [report.operation, report.sopClassUid, report.eventTypeId, report.dataSet, report.callingAeTitle],
        ["N-EVENT-REPORT", COMMITMENT, 1, { TransactionUID: "1.2.3.77" }, "NETDICOM-SCP"]
      )
      // the SCP got our N-EVENT-REPORT-RSP before the association is released
      yield* Effect.sleep("50 millis")
      assert.deepStrictEqual(reportAnswered, [0])
    })
  )

  it.live("an SCU without onEventReport refuses its peer's N-EVENT-REPORT 0x0122", () =>
    Effect.gen(function* () {
      const answered = yield* Deferred.make<number>()
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(
        Effect.provide(
          Layer.merge(
            Normalized.layer({
              [COMMITMENT]: {
                nAction: (rq) =>
                  Effect.succeed({
                    status: Status.SUCCESS,
                    afterResponse: Normalized.nEventReport(rq.channel, {
                      sopClassUid: COMMITMENT,
                      sopInstanceUid: rq.sopInstanceUid!,
                      eventTypeId: 1
                    }).pipe(
                      Effect.flatMap((rsp) => Deferred.succeed(answered, rsp.status)),
                      Effect.ignore
                    )
                  })
              }
            }),
            Logger.layer([])
          )
        )
      )
      const channel = yield* connectTo(server.port)
      yield* Scu.nAction(channel, {
        sopClassUid: COMMITMENT,
        sopInstanceUid: "1.2.840.10008.1.20.1.1",
        actionTypeId: 1
      })
      assert.strictEqual(yield* Deferred.await(answered), Status.SOP_CLASS_NOT_SUPPORTED)
    })
  )

  it.live("a Pending DIMSE-N response is a protocol error at once, not a wait for the DIMSE timeout", () =>
    Effect.gen(function* () {
      const pending = Normalized.layer({ [MPPS]: { nCreate: () => Effect.succeed({ status: Status.PENDING }) } })
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(
        Effect.provide(Layer.merge(pending, Logger.layer([])))
      )
      const channel = yield* connectTo(server.port)
      const started = Date.now()
      const r = yield* Scu.nCreate(channel, { sopClassUid: MPPS }).pipe(Effect.result, Effect.provide(Logger.layer([])))
      assert.isTrue(Result.isFailure(r))
      if (Result.isFailure(r)) {
        assert.strictEqual(r.failure._tag, "DimseProtocolError")
        assert.include(r.failure.message, "N-CREATE-RSP with status 0xff00 (Pending), which N-CREATE does not have")
      }
      assert.isBelow(Date.now() - started, 5000)
    })
  )

  it.live("an SCP whose AE accepts DIMSE-N SOP classes without a NormalizedService says so once at start", () =>
    Effect.gen(function* () {
      const warnings: Array<string> = []
      const capture = Logger.make(({ logLevel, message }) => {
        if (logLevel === "Warn") warnings.push((Array.isArray(message) ? message : [message]).join(" "))
      })
      yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(Effect.provide(Logger.layer([capture])))
      assert.deepStrictEqual(warnings, [
        "the AE accepts SOP classes of a service not provided: no NormalizedService (DIMSE-N) in context, " +
          "so such requests are answered 0x0122 (SOP Class not supported)"
      ])
      warnings.length = 0
      yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(
        Effect.provide(Layer.merge(mppsService().layer, Logger.layer([capture])))
      )
      assert.deepStrictEqual(warnings, [])
    })
  )

  it.live("an SCU whose onEventReport wakes a fiber that releases at once still answers the report first", () =>
    Effect.gen(function* () {
      const answered = yield* Deferred.make<number>()
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(
        Effect.provide(
          Normalized.layer({
            [COMMITMENT]: {
              nAction: (rq) =>
                Effect.succeed({
                  status: Status.SUCCESS,
                  afterResponse: Normalized.nEventReport(rq.channel, {
                    sopClassUid: COMMITMENT,
                    sopInstanceUid: rq.sopInstanceUid!,
                    eventTypeId: 1
                  }).pipe(
                    Effect.flatMap((rsp) => Deferred.succeed(answered, rsp.status)),
                    Effect.catch((e) => Deferred.succeed(answered, -1).pipe(Effect.andThen(Effect.log(e.message))))
                  )
                })
            }
          })
        )
      )
      const started = Date.now()
      // Effect resumes the waiting fiber on the handler's own stack: this scope ends (A-RELEASE-RQ) while the
      // handler has not answered yet, unless the channel waits for it.
      yield* Effect.scoped(
        Effect.gen(function* () {
          const woken = yield* Deferred.make<void>()
          const channel = yield* connectTo(server.port, {
            onEventReport: () => Effect.as(Deferred.succeed(woken, undefined), { status: Status.SUCCESS })
          })
          yield* Scu.nAction(channel, {
            sopClassUid: COMMITMENT,
            sopInstanceUid: "1.2.840.10008.1.20.1.1",
            actionTypeId: 1
          })
          yield* Deferred.await(woken)
        })
      )
      assert.strictEqual(yield* Deferred.await(answered), Status.SUCCESS)
      assert.isBelow(Date.now() - started, 5000)
    })
  )
})
