/**
 * A Storage Commitment SCP that reports on the request's association in its `afterResponse` (as `NOutcome` describes),
 * facing an SCU that releases as soon as its N-ACTION-RSP is in: the SCU's A-RELEASE-RQ crosses the
 * N-EVENT-REPORT-RQ, and a requestor that has sent A-RELEASE-RQ may send no P-DATA (PS3.8 Sta7), so the report is
 * never answered. The SCP waited its DIMSE timeout for it (30 s by default), holding the SCU's release as long, and
 * only then tried elsewhere. Now the peer's A-RELEASE-RQ fails the SCP's outstanding requests at once, and any it
 * begins after it: the report fails with `AssociationAborted` at once and the release completes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Logger, Result } from "effect"
import { ApplicationEntity, Normalized, Scp, Scu, StorageCommitment } from "@netdicom/net"
import { Status } from "@netdicom/wire"

const SC = StorageCommitment.SOP_CLASS
const IMPLICIT = ApplicationEntity.IMPLICIT_VR_LITTLE_ENDIAN
const aeOf = (aeTitle: string, scuOnly: boolean) =>
  Result.getOrThrow(
    ApplicationEntity.make({
      aeTitle,
      contexts: [{ abstractSyntax: SC, transferSyntaxes: [IMPLICIT], ...(scuOnly ? { scu: true, scp: false } : {}) }],
      timeouts: { acse: "5 seconds", connect: "3 seconds", dimse: "4 seconds", write: "3 seconds" }
    })
  )

describe("an N-EVENT-REPORT crossing the SCU's A-RELEASE-RQ", () => {
  it.live("fails at once on the SCP, and the release does not wait for the DIMSE timeout", () =>
    Effect.gen(function* () {
      const reported = yield* Deferred.make<readonly [string, number]>()
      const started = Date.now()
      const server = yield* Scp.serve(aeOf("SCP", false), { port: 0 }).pipe(
        Effect.provide(
          Normalized.layer({
            [SC]: {
              nAction: (rq) =>
                Effect.succeed({
                  status: Status.SUCCESS,
                  afterResponse: Effect.gen(function* () {
                    const exit = yield* Effect.exit(
                      Normalized.nEventReport(rq.channel, {
                        sopClassUid: SC,
                        sopInstanceUid: StorageCommitment.SOP_INSTANCE,
                        eventTypeId: StorageCommitment.ALL_COMMITTED,
                        dataSet: { TransactionUID: "2.25.9" }
                      })
                    )
                    const how = Exit.isSuccess(exit)
                      ? `answered ${exit.value.status}`
                      : exit.cause.reasons[0]?._tag === "Fail"
                        ? exit.cause.reasons[0].error._tag
                        : "other"
                    yield* Deferred.succeed(reported, [how, Date.now() - started] as const)
                  })
                })
            }
          })
        )
      )
      yield* Effect.scoped(
        Effect.gen(function* () {
          const channel = yield* Scu.connect(aeOf("SCU", true), {
            host: "127.0.0.1",
            port: server.port,
            calledAeTitle: "SCP",
            contexts: [{ abstractSyntax: SC, transferSyntaxes: [IMPLICIT] }]
          })
          const rsp = yield* Scu.nAction(channel, {
            sopClassUid: SC,
            sopInstanceUid: StorageCommitment.SOP_INSTANCE,
            actionTypeId: StorageCommitment.REQUEST_COMMITMENT,
            dataSet: StorageCommitment.actionInformation({
              transactionUid: "2.25.9",
              references: [{ sopClassUid: "1.2.840.10008.5.1.4.1.1.2", sopInstanceUid: "1.2.3" }]
            })
          })
          assert.strictEqual(rsp.status, Status.SUCCESS)
        })
      )
      const released = Date.now() - started
      const [how, at] = yield* Deferred.await(reported)
      assert.strictEqual(how, "AssociationAborted")
      assert.isBelow(at, 2_000)
      assert.isBelow(released, 2_000)
    }).pipe(Effect.provide(Logger.layer([])))
  )
})
