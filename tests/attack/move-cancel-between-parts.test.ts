/**
 * A C-MOVE split over several associations (more than 128 presentation contexts: one instance of each of the 168
 * storage SOP classes), to a destination that stores every instance but never answers our A-RELEASE-RQ, cancelled
 * once the first association's release has begun. The SCP waited for that release (its ACSE timeout) before looking
 * at the C-CANCEL, so the requester, its cancel timeout over, aborted: the final response was lost. The release now
 * goes on beside the operation, which answers the C-CANCEL at once (0xFE00, the second part's instances remaining).
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Result, Stream } from "effect"
import { ApplicationEntity, ContextParts, DataSet, Scp, Scu } from "@netdicom/net"
import { Status, Uids } from "@netdicom/wire"
import { scopedRawScp } from "./hotpath-support.ts"
import { IMPLICIT } from "./support.ts"
import { connectMoveScu, moveScpAe, moveServices } from "./archive-support.ts"

const instances: ReadonlyArray<Scp.RetrievableInstance> = Uids.STORAGE_SOP_CLASSES.map((sopClassUid, i) => {
  const sopInstanceUid = `1.2.826.0.1.3680043.10.1317.${i + 1}`
  const bytes = Result.getOrThrow(
    DataSet.encode({ SOPClassUID: sopClassUid, SOPInstanceUID: sopInstanceUid }, IMPLICIT)
  )
  return { sopClassUid, sopInstanceUid, transferSyntax: IMPLICIT, dataSet: () => Stream.make(bytes) }
})

describe("a split C-MOVE cancelled while a part's association is being released", () => {
  it.live("the final 0xFE00 comes at once, not after the destination's release (ACSE timeout 6 s)", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const parts = ContextParts.partsFor(instances, (x) => x, { fallbacks: true })
        assert.isAbove(parts.length, 1)
        const releasing = yield* Deferred.make<void>()
        // accepts every context, answers each C-STORE-RQ with Success, never answers A-RELEASE-RQ
        const dest = yield* scopedRawScp({
          answer: true,
          ignoreRelease: true,
          onPdu: (_socket, type) => {
            if (type === 0x05) Deferred.doneUnsafe(releasing, Exit.void)
          }
        })
        const ae = moveScpAe({ acse: "6 seconds" })
        const services = moveServices(instances, dest.port)
        const scp = yield* Scp.serve(ae, { port: 0 }).pipe(Effect.provide(services))
        let cancelledAt = 0
        let finalAt = 0
        const exit = yield* Effect.scoped(
          Effect.gen(function* () {
            const scuAe = Result.getOrThrow(
              ApplicationEntity.make({
                aeTitle: "NETDICOM-SCU",
                timeouts: { dimse: "20 seconds", cancel: "3 seconds" }
              })
            )
            const channel = yield* connectMoveScu(scp.port, scuAe)
            return yield* Stream.runCollect(
              Scu.move(channel, {
                model: "study",
                destination: "DEST",
                identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.9" },
                cancelWhen: Effect.tap(Deferred.await(releasing), () =>
                  Effect.sync(() => void (cancelledAt = Date.now()))
                )
              }).pipe(
                Stream.tap((r) =>
                  Effect.sync(() => {
                    if (r.status !== Status.PENDING) finalAt = Date.now()
                  })
                )
              )
            )
          })
        ).pipe(Effect.exit)
        assert.isTrue(Exit.isSuccess(exit), `the C-MOVE failed: ${String(exit)}`)
        if (!Exit.isSuccess(exit)) return
        const final = exit.value.at(-1)!
        const first = parts[0]!.items.length
        assert.deepStrictEqual(
          [final.status, final.remaining, final.completed, final.failed, final.warning],
          [Status.CANCEL, instances.length - first, first, 0, 0]
        )
        assert.isBelow(finalAt - cancelledAt, 1500, `final response ${finalAt - cancelledAt} ms after the C-CANCEL`)
      })
    )
  )
})
