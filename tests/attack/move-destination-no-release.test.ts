/**
 * A C-MOVE destination that stores every instance but never answers our A-RELEASE-RQ. The SCP sent the final
 * C-MOVE-RSP only once the destination's association was released, so it waited its ACSE timeout (30 s by default,
 * as long as pynetdicom's default DIMSE timeout) with every sub-operation done and nothing said to the requester.
 * The final response now goes before the last association is released, and that release goes on without the
 * request's handler, so the requester's own A-RELEASE-RQ (answered once the handlers are done) is not held back either.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Stream } from "effect"
import { ApplicationEntity, DataSet, Scp, Scu } from "@netdicom/net"
import { Status } from "@netdicom/wire"
import { scopedRawScp } from "./hotpath-support.ts"
import { CT, IMPLICIT } from "./support.ts"
import { connectMoveScu, moveScpAe, moveServices } from "./archive-support.ts"

const instances: ReadonlyArray<Scp.RetrievableInstance> = Array.from({ length: 3 }, (_, i) => {
  const sopInstanceUid = `1.2.826.0.1.3680043.10.1315.${i + 1}`
  const bytes = Result.getOrThrow(DataSet.encode({ SOPClassUID: CT, SOPInstanceUID: sopInstanceUid }, IMPLICIT))
  return { sopClassUid: CT, sopInstanceUid, transferSyntax: IMPLICIT, dataSet: () => Stream.make(bytes) }
})

describe("a C-MOVE destination that never answers A-RELEASE-RQ", () => {
  it.live("neither the final response nor our release waits for the destination's release (ACSE timeout 5 s)", () =>
    Effect.scoped(
      Effect.gen(function* () {
        // answers each C-STORE-RQ with Success, leaves A-RELEASE-RQ unanswered
        const dest = yield* scopedRawScp({ answer: true, ignoreRelease: true })
        const ae = moveScpAe({ acse: "5 seconds" })
        const services = moveServices(instances, dest.port)
        const scp = yield* Scp.serve(ae, { port: 0 }).pipe(Effect.provide(services))
        const started = Date.now()
        let finalAfter = -1
        const responses = yield* Effect.scoped(
          Effect.gen(function* () {
            const scuAe = Result.getOrThrow(
              ApplicationEntity.make({ aeTitle: "NETDICOM-SCU", timeouts: { dimse: "20 seconds" } })
            )
            const channel = yield* connectMoveScu(scp.port, scuAe)
            return yield* Stream.runCollect(
              Scu.move(channel, {
                model: "study",
                destination: "DEST",
                identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.9" }
              }).pipe(
                Stream.tap((r) =>
                  Effect.sync(() => void (r.status !== Status.PENDING && (finalAfter = Date.now() - started)))
                )
              )
            )
          })
        )
        const released = Date.now() - started
        const final = responses.at(-1)!
        assert.deepStrictEqual([final.status, final.completed, final.failed], [Status.SUCCESS, instances.length, 0])
        assert.isBelow(finalAfter, 2000, `final response after ${finalAfter} ms`)
        assert.isBelow(released, 2000, `our association released after ${released} ms`)
      })
    )
  )
})
