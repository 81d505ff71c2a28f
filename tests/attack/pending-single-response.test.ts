/**
 * A C-STORE-RSP or C-ECHO-RSP with a Pending status (0xFF00), which neither service has (PS3.4 A, B): the response
 * was skipped as "not the final one" and the request waited for another until its DIMSE timeout (60 s by default),
 * then failed as a timeout ("waiting for response to C-STORE-RQ"), though the peer had answered. DCMTK and pynetdicom
 * take such a response as the answer; we now fail the request at once with a `DimseProtocolError` naming the status,
 * and abort the association.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Result } from "effect"
import { DataSet, type DimseChannel, Scu } from "@netdicom/net"
import type { Dimse } from "@netdicom/wire"
import { commandOf, connectScu, pdataOf, scopedRawScp, scuAe } from "./hotpath-support.ts"
import { CT, EXPLICIT } from "./support.ts"

// A raw SCP answering C-ECHO-RQ and C-STORE-RQ (the command: the data set is not waited for) with status 0xFF00.
const pendingScp = () =>
  scopedRawScp({
    onPdu: (socket, type, body) => {
      const m: Dimse.Message | undefined = type === 0x04 ? commandOf(body) : undefined
      if (m?._tag === "CEchoRq") {
        socket.write(
          pdataOf(body[4]!, true, {
            _tag: "CEchoRsp",
            messageIdBeingRespondedTo: m.messageId,
            affectedSopClassUid: m.affectedSopClassUid,
            status: 0xff00
          })
        )
      } else if (m?._tag === "CStoreRq") {
        socket.write(
          pdataOf(body[4]!, true, {
            _tag: "CStoreRsp",
            messageIdBeingRespondedTo: m.messageId,
            affectedSopClassUid: m.affectedSopClassUid,
            affectedSopInstanceUid: m.affectedSopInstanceUid,
            status: 0xff00
          })
        )
      }
    }
  })

const failsFast = <A, E>(request: (channel: DimseChannel.DimseChannel) => Effect.Effect<A, E>, name: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const scp = yield* pendingScp()
      const started = Date.now()
      const exit = yield* Effect.exit(
        Effect.scoped(Effect.flatMap(connectScu(scp.port, scuAe({ dimse: "3 seconds" })), request))
      )
      const after = Date.now() - started
      assert.isTrue(Exit.isFailure(exit), `${name} succeeded`)
      assert.include(String(exit), "DimseProtocolError")
      assert.include(String(exit), `${name}-RSP with status 0xff00 (Pending)`)
      assert.isBelow(after, 1000, `failed after ${after} ms`)
    })
  )

describe("a Pending status on the response of a service that has none", () => {
  it.live("C-STORE-RSP 0xFF00: the C-STORE fails at once, typed, not at the DIMSE timeout", () =>
    failsFast((channel) => {
      const dataSet = Result.getOrThrow(DataSet.encode({ SOPClassUID: CT, SOPInstanceUID: "1.2.3.4" }, EXPLICIT))
      return Scu.store(channel, { sopClassUid: CT, sopInstanceUid: "1.2.3.4", transferSyntax: EXPLICIT, dataSet })
    }, "C-STORE")
  )

  it.live("C-ECHO-RSP 0xFF00: the C-ECHO fails at once, typed", () => failsFast(Scu.echo, "C-ECHO"))
})
