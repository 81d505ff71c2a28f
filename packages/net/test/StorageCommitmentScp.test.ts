/**
 * `StorageCommitmentScp`: the bound on reports under way (an N-ACTION past it answered 0x0213, the count freed as
 * reports end), a decision that dies or leaves instances out (each failed 0x0110), an action type other than 1
 * (0x0123), and a report that goes on the association of the request.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Logger, Option, Result } from "effect"
import { ApplicationEntity, Normalized, Scp, Scu, StorageCommitment, StorageCommitmentScp } from "@netdicom/net"
import { Status } from "@netdicom/wire"

const CT = "1.2.840.10008.5.1.4.1.1.2"
const TS = [ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN]
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

const serveWith = (decide: StorageCommitmentScp.Options["decide"], maxOutstanding?: number) =>
  Scp.serve(scpAe, { port: 0 }).pipe(
    Effect.provide(
      StorageCommitmentScp.layer({
        ae: scpAe,
        decide,
        destinations: () => Option.none(),
        ...(maxOutstanding === undefined ? {} : { maxOutstanding })
      })
    )
  )

// An SCU taking reports on its association; `reports` receives them.
const connect = (port: number, reports: (rq: Normalized.NRequest) => Effect.Effect<void>) =>
  Scu.connect(scuAe, {
    host: "127.0.0.1",
    port,
    calledAeTitle: "COMMIT-SCP",
    contexts: [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS }],
    onEventReport: (rq) => Effect.as(reports(rq), { status: Status.SUCCESS })
  })

const ask = (
  channel: Effect.Success<ReturnType<typeof connect>>,
  transactionUid: string,
  references: ReadonlyArray<StorageCommitment.Reference>,
  actionTypeId: number = StorageCommitment.REQUEST_COMMITMENT
) =>
  Scu.nAction(channel, {
    sopClassUid: StorageCommitment.SOP_CLASS,
    sopInstanceUid: StorageCommitment.SOP_INSTANCE,
    actionTypeId,
    dataSet: StorageCommitment.actionInformation({ transactionUid, references })
  })

const ref = (sopInstanceUid: string) => ({ sopClassUid: CT, sopInstanceUid })

describe("StorageCommitmentScp", () => {
  it.live("past maxOutstanding reports under way an N-ACTION is answered 0x0213; the count frees once reported", () =>
    Effect.gen(function* () {
      const entered = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      let calls = 0
      const server = yield* serveWith(
        (references) =>
          Effect.gen(function* () {
            // the first decision waits for the gate, holding its place
            if (calls++ === 0) {
              yield* Deferred.succeed(entered, undefined)
              yield* Deferred.await(gate)
            }
            return { committed: references, failed: [] }
          }),
        1
      )
      const reported: Array<string> = []
      const first = yield* connect(server.port, (rq) =>
        Effect.sync(() =>
          reported.push(Result.getOrThrow(StorageCommitment.readEventInformation(rq.dataSet)).transactionUid)
        )
      )
      const second = yield* connect(server.port, (rq) =>
        Effect.sync(() =>
          reported.push(Result.getOrThrow(StorageCommitment.readEventInformation(rq.dataSet)).transactionUid)
        )
      )
      const waiting = yield* Effect.forkChild(ask(first, "2.25.1", [ref("1.2.3.1")]))
      yield* Deferred.await(entered)
      const refused = yield* ask(second, "2.25.2", [ref("1.2.3.2")])
      assert.deepStrictEqual([refused.status, refused.errorComment], [0x0213, "too many reports under way"])
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual((yield* Fiber.join(waiting)).status, Status.SUCCESS)
      for (let i = 0; i < 100 && reported.length < 1; i++) yield* Effect.sleep("20 millis")
      assert.deepStrictEqual(reported, ["2.25.1"])
      // the report went: the place is free again
      assert.strictEqual((yield* ask(second, "2.25.3", [ref("1.2.3.3")])).status, Status.SUCCESS)
      for (let i = 0; i < 100 && reported.length < 2; i++) yield* Effect.sleep("20 millis")
      assert.deepStrictEqual(reported, ["2.25.1", "2.25.3"])
    }).pipe(Effect.provide(quiet))
  )

  it.live("a decision that dies fails every instance 0x0110, and one that leaves an instance out fails it 0x0110", () =>
    Effect.gen(function* () {
      for (const decide of [
        () => Effect.die(new Error("boom")),
        (references: ReadonlyArray<StorageCommitment.Reference>) =>
          Effect.succeed({ committed: references.slice(0, 1), failed: [] })
      ]) {
        const server = yield* serveWith(decide)
        const report = yield* Deferred.make<Normalized.NRequest>()
        const channel = yield* connect(server.port, (rq) => Effect.asVoid(Deferred.succeed(report, rq)))
        assert.strictEqual((yield* ask(channel, "2.25.9", [ref("1.2.3.1"), ref("1.2.3.2")])).status, Status.SUCCESS)
        const rq = yield* Deferred.await(report).pipe(Effect.timeout("10 seconds"))
        assert.strictEqual(rq.eventTypeId, StorageCommitment.FAILURES_EXIST)
        const result = Result.getOrThrow(StorageCommitment.readEventInformation(rq.dataSet))
        assert.deepStrictEqual(
          result.failed.map((f) => [f.sopInstanceUid, f.reason]),
          decide.length === 0
            ? [
                ["1.2.3.1", StorageCommitment.PROCESSING_FAILURE],
                ["1.2.3.2", StorageCommitment.PROCESSING_FAILURE]
              ]
            : [["1.2.3.2", StorageCommitment.PROCESSING_FAILURE]]
        )
      }
    }).pipe(Effect.provide(quiet))
  )

  it.live("an action type other than 1 is answered 0x0123 (no such action)", () =>
    Effect.gen(function* () {
      const server = yield* serveWith((references) => Effect.succeed({ committed: references, failed: [] }))
      const channel = yield* connect(server.port, () => Effect.void)
      const rsp = yield* ask(channel, "2.25.5", [ref("1.2.3.1")], 2)
      assert.strictEqual(rsp.status, 0x0123)
    }).pipe(Effect.provide(quiet))
  )
})
