/**
 * Storage Commitment Push Model (PS3.4 Annex J) in one process: an SCP that commits the instances it holds, on a free
 * port, and an SCU that asks it to commit two, one of which it does not hold, and prints the N-EVENT-REPORT that comes
 * back on the same association. `npx -y pnpm@10 exec node examples/storage-commitment.ts`
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Deferred, Effect, Result } from "effect"
import { ApplicationEntity, Normalized, Scp, Scu, StorageCommitment } from "@netdicom/net"

const CT = "1.2.840.10008.5.1.4.1.1.2"
const held = new Set(["1.2.3.1"])
const contexts = [
  { abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: [ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN] }
]

// The SCP: answers the N-ACTION, then reports on the same association (`afterResponse`).
const commitment = Normalized.layer({
  [StorageCommitment.SOP_CLASS]: {
    nAction: (request) =>
      Effect.sync(() => {
        const asked = StorageCommitment.readActionInformation(request.dataSet)
        if (Result.isFailure(asked)) return { status: 0x0110, errorComment: asked.failure.detail }
        const { transactionUid, references } = asked.success
        const { eventTypeId, dataSet } = StorageCommitment.eventInformation({
          transactionUid,
          committed: references.filter((r) => held.has(r.sopInstanceUid)),
          failed: references
            .filter((r) => !held.has(r.sopInstanceUid))
            .map((r) => ({ ...r, reason: StorageCommitment.NO_SUCH_OBJECT_INSTANCE }))
        })
        const report = Normalized.nEventReport(request.channel, {
          sopClassUid: StorageCommitment.SOP_CLASS,
          sopInstanceUid: StorageCommitment.SOP_INSTANCE,
          eventTypeId,
          dataSet
        })
        return { status: 0x0000, afterResponse: Effect.ignore(report) }
      })
  }
})

const program = Effect.scoped(
  Effect.gen(function* () {
    const scpAe = Result.getOrThrow(ApplicationEntity.make({ aeTitle: "COMMIT-SCP", contexts }))
    const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(commitment))

    // The SCU: its N-EVENT-REPORTs arrive through `onEventReport`, while the association is up.
    const reported = yield* Deferred.make<Normalized.NRequest>()
    const channel = yield* Scu.connect(Result.getOrThrow(ApplicationEntity.make({ aeTitle: "MODALITY" })), {
      host: "127.0.0.1",
      port: server.port,
      calledAeTitle: "COMMIT-SCP",
      contexts,
      onEventReport: (report) => Effect.as(Deferred.succeed(reported, report), { status: 0x0000 })
    })
    const asked = yield* Scu.nAction(channel, {
      sopClassUid: StorageCommitment.SOP_CLASS,
      sopInstanceUid: StorageCommitment.SOP_INSTANCE,
      actionTypeId: StorageCommitment.REQUEST_COMMITMENT,
      dataSet: StorageCommitment.actionInformation({
        transactionUid: "2.25.1001",
        references: [
          { sopClassUid: CT, sopInstanceUid: "1.2.3.1" },
          { sopClassUid: CT, sopInstanceUid: "1.2.3.2" }
        ]
      })
    })
    yield* Console.log(`N-ACTION: ${asked.meaning}`)
    const report = yield* Deferred.await(reported).pipe(Effect.timeout("10 seconds"))
    const result = yield* Effect.fromResult(StorageCommitment.readEventInformation(report.dataSet))
    yield* Console.log(`N-EVENT-REPORT event ${report.eventTypeId} for transaction ${result.transactionUid}`)
    for (const r of result.committed) yield* Console.log(`  committed ${r.sopInstanceUid}`)
    for (const f of result.failed) yield* Console.log(`  failed ${f.sopInstanceUid} (0x${f.reason.toString(16)})`)
  })
)

NodeRuntime.runMain(program)
