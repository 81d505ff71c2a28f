/**
 * A response's data set (a C-FIND identifier) sent to our SCU in tiny PDVs: 1 byte each, 2,000 PDVs a P-DATA-TF.
 * A response data set is gathered whole (up to 2 MiB) before it is handed on; gathered as one view per fragment,
 * 1.9 MiB of 1-byte fragments (13 MB on the wire) is ~2 million views: the SCU's heap grew by hundreds of MB.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Stream } from "effect"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { Scu } from "@netdicom/net"
import { Dimse, PduCodec } from "@netdicom/wire"
import { commandOf, connectScu, scopedRawScp, scuAe, within } from "./hotpath-support.ts"
import { mb, STUDY_FIND } from "./support.ts"

v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as () => void

const DATA_BYTES = 1900 * 1024
const PDVS_PER_PDU = 2000

describe("a response data set in 1-byte PDVs", () => {
  it.live(
    "1.9 MiB of a C-FIND identifier in 1-byte PDVs, never ended: the SCU's heap grows by less than 32 MB",
    () =>
      Effect.gen(function* () {
        let sent = false
        const scp = yield* scopedRawScp({
          onPdu: (socket, type, body) => {
            const m = type === 0x04 ? commandOf(body) : undefined
            if (m === undefined || m._tag !== "CFindRq" || sent) return
            sent = true
            const pc = body[4]!
            const rsp = Result.getOrThrow(
              Dimse.encode({
                _tag: "CFindRsp",
                messageIdBeingRespondedTo: m.messageId,
                affectedSopClassUid: STUDY_FIND,
                status: 0xff00,
                hasIdentifier: true
              })
            )
            socket.write(
              PduCodec.encodePDataTf([{ presentationContextId: pc, isCommand: true, isLast: true, data: rsp }])
            )
            const one = Uint8Array.of(0)
            const pdu = PduCodec.encodePDataTf(
              Array.from({ length: PDVS_PER_PDU }, () => ({
                presentationContextId: pc,
                isCommand: false,
                isLast: false,
                data: one
              }))
            )
            for (let at = 0; at < DATA_BYTES; at += PDVS_PER_PDU) socket.write(pdu)
          }
        })
        gc()
        const before = process.memoryUsage().heapUsed
        let growth = 0
        yield* Effect.scoped(
          Effect.gen(function* () {
            const channel = yield* connectScu(scp.port, scuAe({ dimse: "20 seconds" }))
            yield* Scu.find(channel, { model: "study", identifier: { PatientName: "*" } }).pipe(
              Stream.runDrain,
              Effect.forkScoped
            )
            // Until all of it has been read (or 8 s).
            yield* within(
              8000,
              Effect.gen(function* () {
                while (scp.sockets[0] === undefined || scp.sockets[0].writableLength > 0 || !sent) {
                  yield* Effect.sleep("100 millis")
                }
              })
            )
            yield* Effect.sleep("500 millis")
            gc()
            growth = mb(process.memoryUsage().heapUsed - before)
            // The SCP goes: the C-FIND fails at once rather than waiting for a final response after its C-CANCEL.
            for (const socket of scp.sockets) socket.destroy()
          })
        )
        assert.isBelow(growth, 32, `heap grew ${growth} MB for ${mb(DATA_BYTES)} MB of identifier`)
      }),
    30_000
  )
})
