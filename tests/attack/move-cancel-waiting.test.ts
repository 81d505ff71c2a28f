/**
 * C-CANCEL of a C-MOVE while the SCP waits on its destination: one that takes the TCP connection and never answers
 * the A-ASSOCIATE-RQ, and one that accepts the association and never answers a C-STORE-RQ. The SCP looked at the
 * C-CANCEL only between sub-operations, so it went on waiting (its ACSE or DIMSE timeout, 30 s and 60 s by default)
 * while the requester, its cancel timeout (5 s) over, aborted the association: the final response and its counts
 * were lost. Now the asking for an association stops at the C-CANCEL, and a sub-operation under way gets a second to
 * finish before it is counted failed (its destination's association aborted). Also checked: every response's counts
 * add up to the instances to send (PS3.4 C.4.2.1.5).
 */
import { assert, describe, it } from "@effect/vitest"
import { type Duration, Effect, Exit, Layer, Option, Result, Stream } from "effect"
import * as Net from "node:net"
import { ApplicationEntity, DataSet, Scp, Scu } from "@netdicom/net"
import { Status } from "@netdicom/wire"
import { scopedRawScp } from "./hotpath-support.ts"
import { CT, EXPLICIT, IMPLICIT, promise } from "./support.ts"
import { moveScpAe, STUDY_MOVE } from "./archive-support.ts"

const COUNT = 5

const instances: ReadonlyArray<Scp.RetrievableInstance> = Array.from({ length: COUNT }, (_, i) => {
  const sopInstanceUid = `1.2.826.0.1.3680043.10.1313.${i + 1}`
  const bytes = Result.getOrThrow(
    DataSet.encode({ SOPClassUID: CT, SOPInstanceUID: sopInstanceUid, StudyInstanceUID: "1.2.9" }, IMPLICIT)
  )
  return { sopClassUid: CT, sopInstanceUid, transferSyntax: IMPLICIT, dataSet: () => Stream.make(bytes) }
})

// A TCP server that takes connections and never says a word.
const silentServer = Effect.acquireRelease(
  promise(
    () =>
      new Promise<{ readonly port: number; readonly close: () => void }>((resolve) => {
        const sockets = new Set<Net.Socket>()
        const server = Net.createServer((socket) => {
          sockets.add(socket)
          socket.on("error", () => {})
        })
        server.listen(0, "127.0.0.1", () =>
          resolve({
            port: (server.address() as Net.AddressInfo).port,
            close: () => {
              for (const s of sockets) s.destroy()
              server.close()
            }
          })
        )
      })
  ),
  (s) => Effect.sync(s.close)
)

// The Q/R SCP (long ACSE and DIMSE timeouts, as by default) moving `instances` to DEST on `destPort`.
const moveScp = (destPort: number) =>
  Effect.gen(function* () {
    const ae = moveScpAe({ acse: "30 seconds", dimse: "60 seconds", connect: "2 seconds" })
    const retrieve = Layer.succeed(Scp.RetrieveService)({ retrieve: () => Effect.succeed(instances) })
    const destinations = Layer.succeed(Scp.MoveDestinations)({
      lookup: (title) => (title.trim() === "DEST" ? Option.some({ host: "127.0.0.1", port: destPort }) : Option.none())
    })
    return yield* Scp.serve(ae, { port: 0 }).pipe(Effect.provide(Layer.merge(retrieve, destinations)))
  })

// A C-MOVE of the study to DEST, cancelled after `cancelAfter`: every response, or how it failed, and when.
const cancelledMove = (scpPort: number, cancelAfter: Duration.Input) =>
  Effect.scoped(
    Effect.gen(function* () {
      const ae = Result.getOrThrow(
        ApplicationEntity.make({
          aeTitle: "NETDICOM-SCU",
          timeouts: { acse: "2 seconds", connect: "2 seconds", dimse: "20 seconds", cancel: "4 seconds" }
        })
      )
      const channel = yield* Scu.connect(ae, {
        host: "127.0.0.1",
        port: scpPort,
        calledAeTitle: "NETDICOM-SCP",
        contexts: [{ abstractSyntax: STUDY_MOVE, transferSyntaxes: [EXPLICIT] }]
      })
      const started = Date.now()
      const exit = yield* Stream.runCollect(
        Scu.move(channel, {
          model: "study",
          destination: "DEST",
          identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.9" },
          cancelWhen: Effect.sleep(cancelAfter)
        })
      ).pipe(Effect.exit)
      return { exit, after: Date.now() - started }
    })
  )

const sums = (r: Scu.RetrieveProgress) => (r.remaining ?? 0) + (r.completed ?? 0) + (r.failed ?? 0) + (r.warning ?? 0)

describe("a C-MOVE cancelled while its SCP waits on the destination", () => {
  it.live("the destination never answers the A-ASSOCIATE-RQ: final 0xFE00 within a second or so, nothing sent", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dest = yield* silentServer
        const scp = yield* moveScp(dest.port)
        const { exit, after } = yield* cancelledMove(scp.port, "300 millis")
        assert.isTrue(Exit.isSuccess(exit), `the move failed after ${after} ms: ${String(exit)}`)
        if (!Exit.isSuccess(exit)) return
        const final = exit.value.at(-1)!
        assert.strictEqual(final.status, Status.CANCEL)
        assert.deepStrictEqual([final.remaining, final.completed, final.failed, final.warning], [COUNT, 0, 0, 0])
        assert.isBelow(after, 3000, `final response after ${after} ms`)
      })
    )
  )

  it.live(
    "the destination never answers a C-STORE-RQ: final 0xFE00 after a second's grace, the one under way failed",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const dest = yield* scopedRawScp({})
          const scp = yield* moveScp(dest.port)
          const { exit, after } = yield* cancelledMove(scp.port, "500 millis")
          assert.isTrue(Exit.isSuccess(exit), `the move failed after ${after} ms: ${String(exit)}`)
          if (!Exit.isSuccess(exit)) return
          const final = exit.value.at(-1)!
          assert.strictEqual(final.status, Status.CANCEL)
          // the first C-STORE went and was never answered: not completed, not remaining either
          assert.deepStrictEqual([final.remaining, final.completed, final.failed, final.warning], [COUNT - 1, 0, 1, 0])
          assert.deepStrictEqual(final.failedSopInstanceUids, [instances[0]!.sopInstanceUid])
          for (const r of exit.value) assert.strictEqual(sums(r), COUNT)
          assert.isBelow(after, 3000, `final response after ${after} ms`)
        })
      )
  )
})
