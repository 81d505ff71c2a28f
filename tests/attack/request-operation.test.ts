/**
 * A request whose Affected SOP Class UID is its context's, but whose operation that SOP class does not have: a C-MOVE
 * or C-GET sent on a Study Root FIND context (naming the FIND SOP class), a C-FIND on a GET context, a C-STORE on
 * the Verification context (or on a Q/R context, naming its SOP class). The SCP's check compared the SOP class with the context only, so each was served (a
 * retrieve run for a peer that negotiated a query only, a "Verification" instance stored). Each must be refused
 * 0x0122 (the SOP class named does not have the operation), not reach the services, and the association go on.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Result, Stream } from "effect"
import { ApplicationEntity, DataSet, QueryRetrieve, Scp, Scu } from "@netdicom/net"
import { countingServices } from "../../packages/net/test/support.ts"
import { CT, EXPLICIT, VERIFICATION } from "./support.ts"

const FIND = QueryRetrieve.SOP_CLASSES.study.find
const GET = QueryRetrieve.SOP_CLASSES.study.get!
const MOVE = QueryRetrieve.SOP_CLASSES.study.move!

const ae = (aeTitle: string, contexts: ReadonlyArray<string> = []) =>
  Result.getOrThrow(
    ApplicationEntity.make({
      aeTitle,
      contexts: contexts.map((abstractSyntax) => ({ abstractSyntax, transferSyntaxes: [EXPLICIT] }))
    })
  )

const start = Effect.gen(function* () {
  const served = { stored: 0, found: 0, retrieved: 0 }
  const services = Layer.merge(
    countingServices(served),
    Layer.succeed(Scp.MoveDestinations)({ lookup: () => Option.none() })
  )
  const server = yield* Scp.serve(ae("NETDICOM-SCP", [VERIFICATION, CT, FIND, GET, MOVE]), { port: 0 }).pipe(
    Effect.provide(services)
  )
  return { server, served }
})

const identifier = Result.getOrThrow(DataSet.encode({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "" }, EXPLICIT))
const instance = Result.getOrThrow(
  DataSet.encode({ SOPClassUID: VERIFICATION, SOPInstanceUID: "1.2.3.4", PatientID: "X" }, EXPLICIT)
)

describe("a request for an operation its SOP class does not have", () => {
  it.live("C-MOVE and C-GET on the FIND context, C-FIND on the GET context, C-STORE on Verification: 0x0122", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { server, served } = yield* start
        const channel = yield* Scu.connect(ae("NETDICOM-SCU"), {
          host: "127.0.0.1",
          port: server.port,
          calledAeTitle: "NETDICOM-SCP",
          contexts: [VERIFICATION, FIND, GET].map((abstractSyntax) => ({
            abstractSyntax,
            transferSyntaxes: [EXPLICIT]
          }))
        })
        const context = (abstractSyntax: string) =>
          channel.association.negotiated.accepted.find((c) => c.abstractSyntax === abstractSyntax)!
        const ask = (abstractSyntax: string, make: (messageId: number) => never, dataSet: Uint8Array) =>
          Effect.gen(function* () {
            const messageId = yield* channel.nextMessageId
            const responses = yield* Stream.runCollect(
              channel.request(context(abstractSyntax), make(messageId), { dataSet })
            )
            return responses.map((r) => `${r.message._tag} ${r.status.toString(16)}`)
          })
        const moved = yield* ask(
          FIND,
          (messageId) =>
            ({ _tag: "CMoveRq", messageId, affectedSopClassUid: FIND, priority: 0, moveDestination: "X" }) as never,
          identifier
        )
        const got = yield* ask(
          FIND,
          (messageId) => ({ _tag: "CGetRq", messageId, affectedSopClassUid: FIND, priority: 0 }) as never,
          identifier
        )
        const found = yield* ask(
          GET,
          (messageId) => ({ _tag: "CFindRq", messageId, affectedSopClassUid: GET, priority: 0 }) as never,
          identifier
        )
        const stored = yield* ask(
          VERIFICATION,
          (messageId) =>
            ({
              _tag: "CStoreRq",
              messageId,
              affectedSopClassUid: VERIFICATION,
              affectedSopInstanceUid: "1.2.3.4",
              priority: 0
            }) as never,
          instance
        )
        // and a C-STORE naming a Q/R SOP class on its own context (the SCP's C-STORE fast path must refuse it too)
        const storedOnFind = yield* ask(
          FIND,
          (messageId) =>
            ({
              _tag: "CStoreRq",
              messageId,
              affectedSopClassUid: FIND,
              affectedSopInstanceUid: "1.2.3.5",
              priority: 0
            }) as never,
          instance
        )
        assert.deepStrictEqual(
          { moved, got, found, stored, storedOnFind },
          {
            moved: ["CMoveRsp 122"],
            got: ["CGetRsp 122"],
            found: ["CFindRsp 122"],
            stored: ["CStoreRsp 122"],
            storedOnFind: ["CStoreRsp 122"]
          }
        )
        assert.deepStrictEqual(served, { stored: 0, found: 0, retrieved: 0 })
        // the association goes on: an echo is answered
        const echo = yield* Scu.echo(channel)
        assert.strictEqual(echo.status, 0)
      })
    )
  )
})
