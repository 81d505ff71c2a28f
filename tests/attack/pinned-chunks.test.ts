/**
 * Received fragments are views of the socket's read buffers. A peer can make each 1-byte data fragment the only
 * kept part of a whole read: a P-DATA-TF of one 1-byte data PDV and ~10,000 empty ones (no event each), ~60 KB.
 * An inflow counts the fragment as 1 byte plus its per-fragment cost, so a handler that does not read yet lets
 * about two thousand of them be kept, each holding its read buffer: the bound on an inflow's bytes did not bound
 * the memory held.
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
const PDUS = 3000
const EMPTY_PDVS = 10_000

const pinningFlood = (peer: Peer) => {
  peer.send(storeRqPdata())
  const empty = new Uint8Array(0)
  const pdvs = [
    { presentationContextId: 3, isCommand: false, isLast: false, data: Uint8Array.of(0) },
    ...Array.from({ length: EMPTY_PDVS }, () => ({
      presentationContextId: 3,
      isCommand: false,
      isLast: false,
      data: empty
    }))
  ]
  const pdu = PduCodec.encodePDataTf(pdvs)
  for (let i = 0; i < PDUS; i++) peer.send(pdu)
}

describe("1-byte fragments each alone in a read", () => {
  it.live(
    `${ASSOCIATIONS} associations, 1-byte fragments each with ~60 KB of empty PDVs, handler not reading yet:` +
      " memory held stays under 64 MB",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({
          maxPduLength: 0,
          timeouts: { dimse: "30 seconds" },
          storage: {
            store: (request) =>
              Effect.gen(function* () {
                yield* Effect.sleep("6 seconds")
                yield* Stream.runDrain(request.dataSet).pipe(Effect.ignore)
                return { status: DimseStatus.SUCCESS }
              })
          }
        })
        const peers: Array<Peer> = []
        gc()
        const before = process.memoryUsage()
        for (let a = 0; a < ASSOCIATIONS; a++) {
          const peer = yield* promise(() => associated(server.port))
          peers.push(peer)
          pinningFlood(peer)
        }
        yield* Effect.sleep("3500 millis")
        gc()
        const after = process.memoryUsage()
        const growth = mb(after.arrayBuffers - before.arrayBuffers + after.heapUsed - before.heapUsed)
        for (const peer of peers) peer.destroy()
        assert.isBelow(growth, 64, `ArrayBuffers and heap grew ${growth} MB`)
      }),
    30_000
  )
})
