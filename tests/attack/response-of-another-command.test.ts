/**
 * Our SCU against an SCP that answers a request with the response of another command, under the request's Message
 * ID: a C-FIND-RQ answered by a C-ECHO-RSP (Success) read as "matching is complete", no match, and a C-STORE-RQ
 * answered by a C-ECHO-RSP as a stored instance. Matched by Message ID Being Responded To alone, both were taken as
 * the final response: a silently wrong answer. Such a response is now a protocol error: the association is aborted
 * and the request fails with `AssociationAborted` saying what came.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Result, Stream } from "effect"
import { DataSet, Scu } from "@netdicom/net"
import type { Dimse } from "@netdicom/wire"
import { commandOf, connectScu, pdataOf, scopedRawScp, scuAe } from "./hotpath-support.ts"
import { CT, EXPLICIT, VERIFICATION } from "./support.ts"

// A raw SCP answering every request with a Success C-ECHO-RSP to its Message ID.
const echoingScp = () =>
  scopedRawScp({
    onPdu: (socket, type, body) => {
      const m: Dimse.Message | undefined = type === 0x04 ? commandOf(body) : undefined
      if (m === undefined || !("messageId" in m)) return
      socket.write(
        pdataOf(body[4]!, true, {
          _tag: "CEchoRsp",
          messageIdBeingRespondedTo: m.messageId,
          affectedSopClassUid: VERIFICATION,
          status: 0
        })
      )
    }
  })

// The failure's message, or "succeeded" with what was returned.
const outcome = <A, E>(exit: Exit.Exit<A, E>): string =>
  Exit.isSuccess(exit) ? `succeeded: ${JSON.stringify(exit.value)}` : String(Exit.isFailure(exit) && exit.cause)

describe("a response of another command to our request's Message ID", () => {
  it.live("a C-ECHO-RSP to a C-FIND-RQ: the C-FIND fails, it does not end with no match", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* echoingScp()
        const exit = yield* Effect.exit(
          Effect.scoped(
            Effect.flatMap(connectScu(scp.port, scuAe({ dimse: "3 seconds" })), (channel) =>
              Stream.runCollect(Scu.find(channel, { model: "study", identifier: { PatientID: "*" } }))
            )
          )
        )
        assert.isTrue(Exit.isFailure(exit), outcome(exit))
        assert.include(outcome(exit), "AssociationAborted")
        assert.include(outcome(exit), "C-ECHO-RSP in answer to C-FIND-RQ")
      })
    )
  )

  it.live("a C-ECHO-RSP to a C-STORE-RQ: the C-STORE fails, it is not taken as stored", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* echoingScp()
        const dataSet = Result.getOrThrow(DataSet.encode({ SOPClassUID: CT, SOPInstanceUID: "1.2.3.4" }, EXPLICIT))
        const exit = yield* Effect.exit(
          Effect.scoped(
            Effect.flatMap(connectScu(scp.port, scuAe({ dimse: "3 seconds" })), (channel) =>
              Scu.store(channel, {
                sopClassUid: CT,
                sopInstanceUid: "1.2.3.4",
                transferSyntax: EXPLICIT,
                dataSet
              })
            )
          )
        )
        assert.isTrue(Exit.isFailure(exit), outcome(exit))
        assert.include(outcome(exit), "C-ECHO-RSP in answer to C-STORE-RQ")
      })
    )
  )
})
