/**
 * DIMSE-N requests for a SOP class that has no such operation (Verification), against our SCP from a scripted peer:
 * answered 0x0211 "unrecognized operation" (PS3.7 Annex C) with the request's response command, their data set
 * drained, the association going on. A command set that is no DIMSE message still aborts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Result } from "effect"
import { CommandSet, Dimse, PduCodec, Status, type Pdu } from "@netdicom/wire"
import * as Scp from "../src/services/Scp.ts"
import { associateRq, rawPeer, type RawPeer } from "./rawPeer.ts"
import { VERIFICATION, testAe } from "./support.ts"

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

const pData = (isCommand: boolean, data: Uint8Array, isLast = true) =>
  PduCodec.encodePDataTf([{ presentationContextId: 1, isCommand, isLast, data }])

// The command set of the next P-DATA-TF the peer receives (one whole command per PDU here).
const nextCommand = (peer: RawPeer) =>
  Effect.gen(function* () {
    const pdu: Pdu.Pdu | "closed" = yield* promise(() => peer.next())
    assert.isTrue(pdu !== "closed" && pdu._tag === "PDataTf", `a P-DATA-TF, not ${JSON.stringify(pdu)}`)
    const pdv = (pdu as Pdu.PDataTf).pdvs[0]!
    assert.isTrue(pdv.isCommand && pdv.isLast)
    return Result.getOrThrow(CommandSet.decode(pdv.data))
  })

const start = Effect.gen(function* () {
  const warnings: Array<string> = []
  const capture = Logger.make(({ logLevel, message }) => {
    if (logLevel === "Warn") warnings.push((Array.isArray(message) ? message : [message]).join(" "))
  })
  const ae = yield* testAe({
    aeTitle: "NETDICOM-SCP",
    contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: ["1.2.840.10008.1.2"] }]
  })
  const server = yield* Scp.serve(ae, { port: 0 }).pipe(Effect.provide(Logger.layer([capture])))
  const peer = yield* promise(() => rawPeer(server.port))
  peer.sendPdu(associateRq())
  const ac = yield* promise(() => peer.next())
  assert.strictEqual(ac !== "closed" && ac._tag, "AAssociateAc")
  return { peer, warnings }
})

const echo = (peer: RawPeer, messageId: number) =>
  Effect.gen(function* () {
    peer.send(
      pData(true, Result.getOrThrow(Dimse.encode({ _tag: "CEchoRq", messageId, affectedSopClassUid: VERIFICATION })))
    )
    const rsp = yield* nextCommand(peer)
    assert.deepStrictEqual([rsp.commandField, rsp.messageIdBeingRespondedTo, rsp.status], [0x8030, messageId, 0])
  })

describe("DIMSE-N requests to our SCP", () => {
  it.live("an N-ACTION-RQ with a data set gets N-ACTION-RSP 0x0211; the association goes on", () =>
    Effect.gen(function* () {
      const { peer, warnings } = yield* start
      const command = Result.getOrThrow(
        CommandSet.encode({
          commandField: 0x0130,
          messageId: 7,
          requestedSopClassUid: VERIFICATION,
          requestedSopInstanceUid: "1.2.3.4",
          actionTypeId: 1,
          commandDataSetType: CommandSet.DATA_SET_PRESENT
        })
      )
      peer.send(pData(true, command))
      // The data set, in two PDVs: read and dropped.
      peer.send(pData(false, new Uint8Array(1000), false))
      peer.send(pData(false, new Uint8Array(1000)))
      const rsp = yield* nextCommand(peer)
      assert.deepStrictEqual(
        {
          field: rsp.commandField,
          id: rsp.messageIdBeingRespondedTo,
          status: rsp.status,
          dataSet: rsp.commandDataSetType,
          sopClass: rsp.affectedSopClassUid,
          sopInstance: rsp.affectedSopInstanceUid
        },
        {
          field: 0x8130,
          id: 7,
          status: Status.UNRECOGNIZED_OPERATION,
          dataSet: CommandSet.NO_DATA_SET,
          sopClass: VERIFICATION,
          sopInstance: "1.2.3.4"
        }
      )
      yield* echo(peer, 8)
      assert.deepStrictEqual(
        warnings.filter((w) => w.includes("refused")),
        [
          "N-ACTION-RQ 7 for 1.2.840.10008.1.1 on presentation context 1 (1.2.840.10008.1.1) refused: 0x0211 " +
            "(N-ACTION is not served for this SOP class)"
        ]
      )
      peer.sendPdu({ _tag: "AReleaseRq" })
      assert.deepStrictEqual(yield* promise(() => peer.next()), { _tag: "AReleaseRp" })
      peer.end()
      yield* promise(() => peer.closed)
    })
  )

  it.live("an N-GET-RQ without a data set gets N-GET-RSP 0x0211", () =>
    Effect.gen(function* () {
      const { peer } = yield* start
      peer.send(
        pData(
          true,
          Result.getOrThrow(
            CommandSet.encode({
              commandField: 0x0110,
              messageId: 3,
              requestedSopClassUid: VERIFICATION,
              requestedSopInstanceUid: "1.2.3.4",
              commandDataSetType: CommandSet.NO_DATA_SET
            })
          )
        )
      )
      const rsp = yield* nextCommand(peer)
      assert.deepStrictEqual(
        [rsp.commandField, rsp.messageIdBeingRespondedTo, rsp.status],
        [0x8110, 3, Status.UNRECOGNIZED_OPERATION]
      )
      yield* echo(peer, 4)
    })
  )

  it.live("a command field that is no DIMSE message at all still aborts the association", () =>
    Effect.gen(function* () {
      const { peer } = yield* start
      peer.send(
        pData(
          true,
          Result.getOrThrow(
            CommandSet.encode({ commandField: 0x0042, messageId: 3, commandDataSetType: CommandSet.NO_DATA_SET })
          )
        )
      )
      const next = yield* promise(() => peer.next())
      assert.strictEqual(next !== "closed" && next._tag, "AAbort")
    })
  )
})
