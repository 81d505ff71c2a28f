/**
 * What an SCP answers when a service of the user's goes wrong: a storage handler that dies (a throw, a defect) is
 * answered 0x0110 processing failure at once, not left to the peer's DIMSE timeout, and the association goes on; a
 * C-FIND match the query service gives that cannot be encoded is left out and the final response says so (0xC000,
 * unable to process) instead of a Success the SCU would take for the whole answer.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Stream } from "effect"
import { Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import { SOP_CLASSES } from "../src/services/QueryRetrieve.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { CT, testAe } from "./support.ts"

const contexts = [
  { abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] },
  { abstractSyntax: SOP_CLASSES.study.find, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }
]

const connect = (port: number) =>
  Effect.gen(function* () {
    const ae = yield* testAe({ aeTitle: "NETDICOM-SCU", timeouts: { dimse: "30 seconds" } })
    return yield* Scu.connect(ae, { host: "127.0.0.1", port, calledAeTitle: "NETDICOM-SCP", contexts })
  })

const scpAe = testAe({ aeTitle: "NETDICOM-SCP", contexts, timeouts: { dimse: "30 seconds" } })

// Without an answer the SCU would wait for its 30 s DIMSE timeout.
const within10s = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.timeoutOrElse(effect, { duration: Duration.seconds(10), orElse: () => Effect.die("no response") })

describe("an SCP service that goes wrong", () => {
  it.live("a storage handler that throws or dies is answered 0x0110, and the association goes on", () =>
    within10s(
      Effect.gen(function* () {
        let calls = 0
        const store: Scp.StorageService["Service"]["store"] = (request) =>
          Effect.suspend(() => {
            calls++
            if (request.sopInstanceUid.endsWith(".1")) throw new Error("a bug in the handler")
            if (request.sopInstanceUid.endsWith(".2")) return Effect.die("a defect")
            return Effect.as(Stream.runDrain(request.dataSet).pipe(Effect.orDie), { status: Status.SUCCESS })
          })
        const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(
          Effect.provide(Layer.succeed(Scp.StorageService)({ store }))
        )
        const channel = yield* connect(server.port)
        const statuses: Array<number> = []
        const comments: Array<string | undefined> = []
        for (const sop of ["1.2.3.1", "1.2.3.2", "1.2.3.3"]) {
          const r = yield* Scu.store(channel, {
            sopClassUid: CT,
            sopInstanceUid: sop,
            transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
            dataSet: new Uint8Array(20_000)
          })
          statuses.push(r.status)
          comments.push(r.errorComment)
        }
        assert.deepStrictEqual(statuses, [Status.PROCESSING_FAILURE, Status.PROCESSING_FAILURE, Status.SUCCESS])
        assert.strictEqual(comments[0], "the storage handler failed")
        assert.strictEqual(calls, 3)
      })
    )
  )

  it.live("a C-FIND match that cannot be encoded is left out and the final response is 0xC000", () =>
    within10s(
      Effect.gen(function* () {
        const find: Scp.QueryService["Service"]["find"] = () =>
          Stream.fromIterable([
            { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.1" },
            // a DS value dcmjs cannot write (what dcmjs reads of "1e999" is null)
            { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.2", SliceThickness: [null, 1] },
            { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" }
          ])
        const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(
          Effect.provide(Layer.succeed(Scp.QueryService)({ find }))
        )
        const channel = yield* connect(server.port)
        const responses = yield* Stream.runCollect(
          Scu.find(channel, { model: "study", identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "" } })
        )
        const pending = responses.filter((r) => r.status === Status.PENDING)
        assert.deepStrictEqual(
          pending.map((r) => r.identifier?.["StudyInstanceUID"]),
          ["1.2.1", "1.2.3"]
        )
        const final = responses.at(-1)!
        assert.strictEqual(final.status, Status.UNABLE_TO_PROCESS)
        assert.strictEqual(final.errorComment, "1 match(es) could not be encoded")
      })
    )
  )
})
