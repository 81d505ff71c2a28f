/**
 * C-CANCEL of a C-FIND whose query service is slow to find its next match (a large archive's wildcard scan can take
 * seconds per row, docs/limitations.md), and of a C-MOVE whose retrieve service is slow to list the instances. The
 * SCP looked at the C-CANCEL only when the next match came (or once the listing was done), so the requester, its
 * cancel timeout over (5 s by default), aborted the association: the final 0xFE00 was lost. The query, or the
 * listing, is now stopped when the C-CANCEL comes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option, Stream } from "effect"
import { Scp, Scu } from "@netdicom/net"
import { Status } from "@netdicom/wire"
import { connectScu, scuAe } from "./hotpath-support.ts"
import { EXPLICIT, startScp } from "./support.ts"
import { moveScpAe, STUDY_MOVE } from "./archive-support.ts"

describe("a C-FIND or C-MOVE cancelled while its service is slow to answer", () => {
  it.live("a C-FIND cancelled while its query looks for the next match: the final 0xFE00 comes at once", () =>
    Effect.scoped(
      Effect.gen(function* () {
        let stopped = false
        // one match, then a search that takes 20 s
        const server = yield* startScp({
          query: {
            find: () =>
              Stream.concat(
                Stream.make({ PatientID: "P1" }),
                Stream.fromEffect(Effect.as(Effect.sleep("20 seconds"), { PatientID: "P2" })).pipe(
                  Stream.onExit(() => Effect.sync(() => void (stopped = true)))
                )
              )
          }
        })
        const started = Date.now()
        const exit = yield* Effect.scoped(
          Effect.flatMap(connectScu(server.port, scuAe({ cancel: "3 seconds", dimse: "30 seconds" })), (channel) =>
            Stream.runCollect(
              Scu.find(channel, {
                model: "study",
                identifier: { PatientID: "*" },
                cancelWhen: Effect.sleep("300 millis")
              })
            )
          )
        ).pipe(Effect.exit)
        const after = Date.now() - started
        assert.isTrue(Exit.isSuccess(exit), `the C-FIND failed after ${after} ms: ${String(exit)}`)
        if (!Exit.isSuccess(exit)) return
        assert.deepStrictEqual(
          exit.value.map((r) => r.status),
          [Status.PENDING, Status.CANCEL]
        )
        assert.isBelow(after, 2000, `final response after ${after} ms`)
        assert.isTrue(stopped, "the query service's stream was stopped")
      })
    )
  )

  it.live("a C-MOVE cancelled while its instances are listed: the final 0xFE00 comes at once", () =>
    Effect.scoped(
      Effect.gen(function* () {
        let stopped = false
        const ae = moveScpAe()
        // a listing that takes 20 s
        const services = Layer.merge(
          Layer.succeed(Scp.RetrieveService)({
            retrieve: () =>
              Effect.as(Effect.sleep("20 seconds"), []).pipe(
                Effect.onInterrupt(() => Effect.sync(() => void (stopped = true)))
              )
          }),
          Layer.succeed(Scp.MoveDestinations)({ lookup: () => Option.some({ host: "127.0.0.1", port: 1 }) })
        )
        const server = yield* Scp.serve(ae, { port: 0 }).pipe(Effect.provide(services))
        const started = Date.now()
        const exit = yield* Effect.scoped(
          Effect.flatMap(
            connectScu(server.port, scuAe({ cancel: "3 seconds", dimse: "30 seconds" }), {
              contexts: [{ abstractSyntax: STUDY_MOVE, transferSyntaxes: [EXPLICIT] }]
            }),
            (channel) =>
              Stream.runCollect(
                Scu.move(channel, {
                  model: "study",
                  destination: "DEST",
                  identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.9" },
                  cancelWhen: Effect.sleep("300 millis")
                })
              )
          )
        ).pipe(Effect.exit)
        const after = Date.now() - started
        assert.isTrue(Exit.isSuccess(exit), `the C-MOVE failed after ${after} ms: ${String(exit)}`)
        if (!Exit.isSuccess(exit)) return
        assert.deepStrictEqual(
          exit.value.map((r) => r.status),
          [Status.CANCEL]
        )
        assert.isBelow(after, 2000, `final response after ${after} ms`)
        assert.isTrue(stopped, "the listing was interrupted")
      })
    )
  )
})
