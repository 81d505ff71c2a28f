/**
 * Our SCU against an SCP that answers a request on another accepted presentation context than the request's. A
 * response was matched by its Message ID Being Responded To alone, so a C-ECHO-RSP on the Study FIND context was
 * taken as the C-ECHO's answer, and a C-FIND-RSP whose identifier came on the CT context (Explicit VR Little Endian)
 * was decoded in the FIND context's Implicit VR: the data set of one context read in another's transfer syntax. A
 * DIMSE message and its response share their presentation context (PS3.7 9.1, the context fixes the abstract and
 * transfer syntax of both); such a response is now a protocol error: the association is aborted (A-ABORT) and the
 * request fails with `AssociationAborted` naming both contexts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Result, Stream } from "effect"
import { DataSet, Scu } from "@netdicom/net"
import { PduCodec, type Dimse } from "@netdicom/wire"
import { commandOf, connectScu, pdataOf, scopedRawScp, scuAe } from "./hotpath-support.ts"
import { EXPLICIT, STUDY_FIND, VERIFICATION } from "./support.ts"

// connectScu proposes Verification (1, implicit), CT (3, explicit) and Study FIND (5, implicit).
const CT_CONTEXT = 3
const FIND_CONTEXT = 5

const outcome = <A, E>(exit: Exit.Exit<A, E>): string =>
  Exit.isSuccess(exit) ? `succeeded: ${JSON.stringify(exit.value)}` : String(Exit.isFailure(exit) && exit.cause)

describe("a response on another presentation context than its request's", () => {
  it.live("a C-ECHO-RSP on the Study FIND context: the C-ECHO fails, the association is aborted", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const got: Array<number> = []
        const scp = yield* scopedRawScp({
          onPdu: (socket, type, body) => {
            got.push(type)
            const m = type === 0x04 ? commandOf(body) : undefined
            if (m?._tag !== "CEchoRq") return
            socket.write(
              pdataOf(FIND_CONTEXT, true, {
                _tag: "CEchoRsp",
                messageIdBeingRespondedTo: m.messageId,
                affectedSopClassUid: VERIFICATION,
                status: 0
              })
            )
          }
        })
        const exit = yield* Effect.exit(
          Effect.scoped(Effect.flatMap(connectScu(scp.port, scuAe({ dimse: "3 seconds" })), Scu.echo))
        )
        assert.isTrue(Exit.isFailure(exit), outcome(exit))
        assert.include(outcome(exit), "AssociationAborted")
        assert.include(outcome(exit), `C-ECHO-RSP on presentation context ${FIND_CONTEXT}`)
        // the peer got the C-ECHO-RQ, then our A-ABORT (no A-RELEASE-RQ)
        yield* Effect.sleep("100 millis")
        assert.deepStrictEqual(got, [0x04, 0x07])
      })
    )
  )

  it.live("a C-FIND-RSP whose identifier comes on the CT context: the C-FIND fails, no match is decoded", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const identifier = Result.getOrThrow(
          DataSet.encode({ QueryRetrieveLevel: "STUDY", PatientID: "PAT-1", StudyInstanceUID: "1.2.3" }, EXPLICIT)
        )
        const scp = yield* scopedRawScp({
          onPdu: (socket, type, body) => {
            const m = type === 0x04 ? commandOf(body) : undefined
            if (m?._tag !== "CFindRq") return
            const pending: Dimse.Message = {
              _tag: "CFindRsp",
              messageIdBeingRespondedTo: m.messageId,
              affectedSopClassUid: STUDY_FIND,
              status: 0xff00,
              hasIdentifier: true
            }
            socket.write(pdataOf(CT_CONTEXT, true, pending))
            socket.write(
              PduCodec.encodePDataTf([
                { presentationContextId: CT_CONTEXT, isCommand: false, isLast: true, data: identifier }
              ])
            )
            socket.write(
              pdataOf(CT_CONTEXT, true, {
                _tag: "CFindRsp",
                messageIdBeingRespondedTo: m.messageId,
                affectedSopClassUid: STUDY_FIND,
                status: 0,
                hasIdentifier: false
              })
            )
          }
        })
        const exit = yield* Effect.exit(
          Effect.scoped(
            Effect.flatMap(connectScu(scp.port, scuAe({ dimse: "3 seconds" })), (channel) =>
              Stream.runCollect(Scu.find(channel, { model: "study", identifier: { PatientID: "*" } }))
            )
          )
        )
        assert.isTrue(Exit.isFailure(exit), outcome(exit))
        assert.include(outcome(exit), "AssociationAborted")
        assert.include(outcome(exit), `C-FIND-RSP on presentation context ${CT_CONTEXT}`)
      })
    )
  )
})
