/**
 * A data set sent in tiny PDVs (1 byte each, 2,000 PDVs a P-DATA-TF). The SCP now starts a request's handler only
 * once its data set is complete or 128 KiB of it has arrived: counted in bytes alone, that is 131,072 fragments,
 * each held as a view (~100 bytes of heap), ~13 MB per association for ~0.9 MB on the wire. Four associations each
 * sending 120 KiB of such a data set (never its last fragment) made the heap grow by 53 MB; a fragment now also
 * counts what holding it costs, so the handler starts (and the inflow's limit is met) after about a thousand.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { PduCodec, Status as DimseStatus } from "@netdicom/wire"
import { associated, mb, type Peer, promise, startScp, storeRqPdata } from "./support.ts"

v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as () => void

const ASSOCIATIONS = 4
const DATA_BYTES = 120 * 1024
const PDVS_PER_PDU = 2000

const tinyFlood = (peer: Peer) => {
  peer.send(storeRqPdata())
  const one = Uint8Array.of(0)
  const pdvs = Array.from({ length: PDVS_PER_PDU }, () => ({
    presentationContextId: 3,
    isCommand: false,
    isLast: false,
    data: one
  }))
  const pdu = PduCodec.encodePDataTf(pdvs)
  for (let sent = 0; sent < DATA_BYTES; sent += PDVS_PER_PDU) peer.send(pdu)
}

describe("a data set in 1-byte PDVs", () => {
  for (const slow of [false, true]) {
    it.live(
      `${ASSOCIATIONS} associations, 120 KiB each in 1-byte PDVs, never ended: heap growth stays under 16 MB` +
        (slow ? " (handler that waits 5 s before reading)" : ""),
      () =>
        Effect.gen(function* () {
          const server = yield* startScp({
            timeouts: { dimse: "30 seconds" },
            storage: {
              store: (request) =>
                Effect.gen(function* () {
                  if (slow) yield* Effect.sleep("5 seconds")
                  yield* Stream.runDrain(request.dataSet).pipe(Effect.ignore)
                  return { status: DimseStatus.SUCCESS }
                })
            }
          })
          const peers: Array<Peer> = []
          gc()
          const before = process.memoryUsage().heapUsed
          for (let a = 0; a < ASSOCIATIONS; a++) {
            const peer = yield* promise(() => associated(server.port))
            peers.push(peer)
            tinyFlood(peer)
          }
          yield* Effect.sleep("2500 millis")
          gc()
          const growth = mb(process.memoryUsage().heapUsed - before)
          for (const peer of peers) peer.destroy()
          assert.isBelow(growth, 16, `heap grew ${growth} MB for ${mb(ASSOCIATIONS * DATA_BYTES)} MB of data`)
        }),
      30_000
    )
  }
})
