/**
 * A C-GET SCP built on DCMTK that puts a response's status detail into its command set: Orthanc 1.10 ends a C-GET
 * whose sub-operations failed with a final C-GET-RSP (0xC000) whose command set carries, after its group 0000
 * elements, the Failed SOP Instance UID List (0008,0058), and no data set. DCMTK's getscu reads that response; our
 * SCU aborted the association on it ("element (0008,0058) is not in command group 0000"), so `netdicom get` against
 * Orthanc ended in an A-ABORT without the final status or counts. The response is now read, the list taken from there.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { type Dimse, PduCodec } from "@netdicom/wire"
import { Scu } from "@netdicom/net"
import { command, IMPLICIT } from "./support.ts"
import { commandOf, scopedRawScp, scuAe } from "./hotpath-support.ts"
import { STUDY_GET } from "./archive-support.ts"

const FAILED_UID = "1.2.3.4"

// (0008,0058) UI "1.2.3.4" padded with a NUL, in Implicit VR Little Endian.
const failedListElement = (): Uint8Array => {
  const value = new TextEncoder().encode(`${FAILED_UID}\0`)
  const element = new Uint8Array(8 + value.length)
  const view = new DataView(element.buffer)
  view.setUint16(0, 0x0008, true)
  view.setUint16(2, 0x0058, true)
  view.setUint32(4, value.length, true)
  element.set(value, 8)
  return element
}

// The final C-GET-RSP as Orthanc 1.10 sends it: the command set, then (0008,0058) in the same command PDV.
const finalWithListInCommand = (pc: number, rq: Dimse.CGetRq): Uint8Array => {
  const cs = command({
    _tag: "CGetRsp",
    messageIdBeingRespondedTo: rq.messageId,
    affectedSopClassUid: rq.affectedSopClassUid,
    status: 0xc000,
    hasIdentifier: false,
    numberOfCompletedSuboperations: 2,
    numberOfFailedSuboperations: 1,
    numberOfWarningSuboperations: 0
  })
  const extra = failedListElement()
  const data = new Uint8Array(cs.length + extra.length)
  data.set(cs)
  data.set(extra, cs.length)
  return PduCodec.encodePDataTf([{ presentationContextId: pc, isCommand: true, isLast: true, data }])
}

describe("a final C-GET-RSP with its Failed SOP Instance UID List in the command set (Orthanc 1.10)", () => {
  it.live("is read as the final response, the list taken from it, and the association released", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const seen: Array<number> = []
        const scp = yield* scopedRawScp({
          onPdu: (socket, type, body) => {
            seen.push(type)
            const m = type === 0x04 ? commandOf(body) : undefined
            if (m?._tag === "CGetRq") socket.write(finalWithListInCommand(body[4]!, m))
          }
        })
        const responses = yield* Effect.scoped(
          Effect.gen(function* () {
            const channel = yield* Scu.connect(scuAe(), {
              host: "127.0.0.1",
              port: scp.port,
              calledAeTitle: "ORTHANC",
              contexts: [{ abstractSyntax: STUDY_GET, transferSyntaxes: [IMPLICIT] }]
            })
            return yield* Stream.runCollect(
              Scu.get(channel, {
                model: "study",
                identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" }
              })
            )
          })
        )
        const final = responses.at(-1)!
        assert.deepStrictEqual(
          [final.status, final.completed, final.failed, final.warning],
          [0xc000, 2, 1, 0],
          JSON.stringify(final)
        )
        assert.deepStrictEqual(final.failedSopInstanceUids, [FAILED_UID])
        assert.include(seen, 0x05, "the association was released (A-RELEASE-RQ), not aborted")
        assert.notInclude(seen, 0x07, "an A-ABORT was sent")
      })
    )
  )
})
