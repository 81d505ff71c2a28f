/**
 * Storage Commitment Push Model (PS3.4 Annex J) between netdicom and Orthanc 1.10, which implements it as SCP and
 * SCU and sends its reports asynchronously, on an association of its own to the modality its DicomModalities name.
 *
 * - our SCU against Orthanc's SCP: a C-STORE, then an N-ACTION for that instance and one Orthanc does not hold; the
 *   N-EVENT-REPORT comes to our listening SCP on a new association, with one committed and one failed (0x0112);
 * - Orthanc's SCU against our SCP (its REST `/modalities/{id}/storage-commitment`): our N-ACTION handler answers and
 *   reports on the same association; Orthanc's REST API shows the report it received.
 *
 * Skipped with a warning when Orthanc or the corpus is missing.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { Deferred, Effect, Logger, Result } from "effect"
import { ApplicationEntity, Normalized, Scp, Scu, StorageCommitment } from "@netdicom/net"
import { Status } from "@netdicom/wire"
import { corpusDir, hasOrthanc, startOrthanc, stopAll } from "./support/peers.ts"

const orthanc = hasOrthanc()
const corpus = corpusDir()
const ct = path.join(corpus, "CT_small.dcm")
const haveCt = fs.existsSync(ct)
if (!orthanc)
  console.warn("orthanc-storage-commitment.test.ts: Orthanc is not installed (apt-get install orthanc): skipping")
if (!haveCt) console.warn(`orthanc-storage-commitment.test.ts: no ${ct} (set NETDICOM_CORPUS): skipping`)

afterAll(() => stopAll())

const TS = [ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN, ApplicationEntity.IMPLICIT_VR_LITTLE_ENDIAN]
const ae = Result.getOrThrow(
  ApplicationEntity.make({
    aeTitle: "NETDICOM",
    contexts: [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS, scu: true, scp: true }],
    timeouts: { acse: "10 seconds", dimse: "30 seconds" }
  })
)

describe.skipIf(!orthanc || !haveCt)("Storage Commitment with Orthanc", () => {
  it.live("our SCU asks Orthanc's SCP; the report comes on a new association Orthanc opens", () =>
    Effect.gen(function* () {
      const reported = yield* Deferred.make<Normalized.NRequest>()
      const listener = yield* Scp.serve(ae, { port: 0 }).pipe(
        Effect.provide(
          Normalized.layer({
            [StorageCommitment.SOP_CLASS]: {
              nEventReport: (rq) => Effect.as(Deferred.succeed(reported, rq), { status: Status.SUCCESS })
            }
          })
        )
      )
      const o = yield* Effect.promise(() =>
        startOrthanc({ modalities: { netdicom: { aet: "NETDICOM", port: listener.port } } })
      )
      const meta = yield* Scu.describeFile(ct)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const channel = yield* Scu.connect(ae, {
            host: "127.0.0.1",
            port: o.dicomPort,
            calledAeTitle: o.aet,
            contexts: [
              { abstractSyntax: meta.sopClassUid, transferSyntaxes: [meta.transferSyntaxUid] },
              { abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS }
            ]
          })
          assert.strictEqual((yield* Scu.storeFile(channel, ct)).status, 0)
          const action = yield* Scu.nAction(channel, {
            sopClassUid: StorageCommitment.SOP_CLASS,
            sopInstanceUid: StorageCommitment.SOP_INSTANCE,
            actionTypeId: StorageCommitment.REQUEST_COMMITMENT,
            dataSet: StorageCommitment.actionInformation({
              transactionUid: "2.25.4242",
              references: [
                { sopClassUid: meta.sopClassUid, sopInstanceUid: meta.sopInstanceUid },
                { sopClassUid: meta.sopClassUid, sopInstanceUid: "1.2.3.404" }
              ]
            })
          })
          assert.strictEqual(action.status, 0)
        })
      )
      const report = yield* Deferred.await(reported).pipe(Effect.timeout("20 seconds"))
      assert.deepStrictEqual([report.eventTypeId, report.callingAeTitle], [StorageCommitment.FAILURES_EXIST, o.aet])
      assert.deepStrictEqual(Result.getOrThrow(StorageCommitment.readEventInformation(report.dataSet)), {
        transactionUid: "2.25.4242",
        committed: [{ sopClassUid: meta.sopClassUid, sopInstanceUid: meta.sopInstanceUid }],
        failed: [
          {
            sopClassUid: meta.sopClassUid,
            sopInstanceUid: "1.2.3.404",
            reason: StorageCommitment.NO_SUCH_OBJECT_INSTANCE
          }
        ]
      })
    }).pipe(Effect.provide(Logger.layer([])))
  )

  it.live("Orthanc's SCU asks our SCP; we report on a new association to Orthanc, which shows the result", () =>
    Effect.gen(function* () {
      const meta = yield* Scu.describeFile(ct)
      const held = new Set([meta.sopInstanceUid])
      const orthancPort = yield* Deferred.make<number>()
      // Commits what it holds; reports once Orthanc's association has ended, on one of ours with the SCP role.
      const nAction: Normalized.NHandler = (rq) =>
        Effect.sync(() => {
          const asked = Result.getOrThrow(StorageCommitment.readActionInformation(rq.dataSet))
          const { eventTypeId, dataSet } = StorageCommitment.eventInformation({
            transactionUid: asked.transactionUid,
            committed: asked.references.filter((r) => held.has(r.sopInstanceUid)),
            failed: asked.references
              .filter((r) => !held.has(r.sopInstanceUid))
              .map((r) => ({ ...r, reason: StorageCommitment.NO_SUCH_OBJECT_INSTANCE }))
          })
          const report = Effect.scoped(
            Effect.gen(function* () {
              yield* rq.channel.association.ended
              const channel = yield* Scu.connect(ae, {
                host: "127.0.0.1",
                port: yield* Deferred.await(orthancPort),
                calledAeTitle: rq.callingAeTitle,
                contexts: [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS }],
                roles: [{ sopClassUid: StorageCommitment.SOP_CLASS, scu: false, scp: true }]
              })
              const rsp = yield* Normalized.nEventReport(channel, {
                sopClassUid: StorageCommitment.SOP_CLASS,
                sopInstanceUid: StorageCommitment.SOP_INSTANCE,
                eventTypeId,
                dataSet
              })
              assert.strictEqual(rsp.status, 0)
            })
          )
          return { status: Status.SUCCESS, afterResponse: Effect.asVoid(Effect.forkDetach(report)) }
        })
      const server = yield* Scp.serve(ae, { port: 0 }).pipe(
        Effect.provide(Normalized.layer({ [StorageCommitment.SOP_CLASS]: { nAction } }))
      )
      const o = yield* Effect.promise(() =>
        startOrthanc({ aet: "ORTHANC", modalities: { netdicom: { aet: "NETDICOM", port: server.port } } })
      )
      yield* Deferred.succeed(orthancPort, o.dicomPort)
      const started = (yield* Effect.promise(() =>
        o.rest("/modalities/netdicom/storage-commitment", {
          method: "POST",
          body: JSON.stringify({
            DicomInstances: [
              [meta.sopClassUid, meta.sopInstanceUid],
              [meta.sopClassUid, "1.2.3.404"]
            ]
          })
        })
      )) as { readonly ID: string; readonly Path: string }
      let result: {
        readonly Status: string
        readonly Success: ReadonlyArray<unknown>
        readonly Failures: ReadonlyArray<unknown>
      }
      for (let i = 0; ; i++) {
        result = (yield* Effect.promise(() => o.rest(started.Path))) as typeof result
        if (result.Status !== "Pending" || i > 200) break
        yield* Effect.sleep("100 millis")
      }
      assert.strictEqual(result.Status, "Failure")
      assert.deepStrictEqual(result.Success, [{ SOPClassUID: meta.sopClassUid, SOPInstanceUID: meta.sopInstanceUid }])
      // Orthanc adds its own Description of the reason
      assert.deepStrictEqual(
        result.Failures.map((f) => {
          const { FailureReason, SOPClassUID, SOPInstanceUID } = f as Record<string, unknown>
          return { FailureReason, SOPClassUID, SOPInstanceUID }
        }),
        [
          {
            FailureReason: StorageCommitment.NO_SUCH_OBJECT_INSTANCE,
            SOPClassUID: meta.sopClassUid,
            SOPInstanceUID: "1.2.3.404"
          }
        ]
      )
    }).pipe(Effect.provide(Logger.layer([])))
  )
})
