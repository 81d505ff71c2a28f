/**
 * The reader's `ReceivedBytes` tracker pinned every chunk the parser held once per non-P-DATA PDU decoded: a push
 * decoding K control PDUs while the parser held N chunks cost K x N steps, on the event loop. A peer sending one
 * large P-DATA-TF in 65-byte reads (each tracked), then a 64 KiB read finishing it and holding 6,553 A-ABORTs
 * (10 bytes each) stalled every association of the process: 62 ms under the default 256 KiB PDU limit, 1.7 s
 * under 4 MiB, 9 s under 16 MiB (and without bound with no limit), where feeding the reads took 8-500 ms. Before
 * any association: the parser reads whatever arrives while ARTIM runs. Pinning is once per push: linear.
 */
import { assert, describe, it } from "@effect/vitest"
import { ReceivedBytes } from "@netdicom/net"
import { PduParser } from "@netdicom/wire"

const CHUNK = 65

describe("ReceivedBytes tracker and a read of thousands of control PDUs", () => {
  it("pinning the chunks of a long P-DATA-TF costs about one step per chunk, not one per chunk per PDU", () => {
    const n = 64_000
    const body = n * CHUNK
    // A P-DATA-TF of one data PDV, `body` bytes after its header.
    const stream = new Uint8Array(6 + body)
    const view = new DataView(stream.buffer)
    stream[0] = 0x04
    view.setUint32(2, body)
    view.setUint32(6, body - 4)
    stream[10] = 1
    const parser = PduParser.make({ maxPduLength: 0, pdvViews: true })
    const tracker = ReceivedBytes.tracker()
    const push = (chunk: Uint8Array) => {
      const { pdus, error } = parser.push(chunk)
      assert.isUndefined(error)
      const started = performance.now()
      tracker.took(chunk, pdus, parser.buffered)
      return { pdus, ms: performance.now() - started }
    }
    let fed = 0
    let feeding = 0
    for (; fed + CHUNK < stream.length; fed += CHUNK) feeding += push(stream.slice(fed, fed + CHUNK)).ms
    // The last read: the rest of the P-DATA-TF, then A-ABORTs up to 64 KiB.
    const tail = stream.subarray(fed)
    const aborts = Math.floor((65536 - tail.length) / 10)
    const last = new Uint8Array(tail.length + aborts * 10)
    last.set(tail)
    for (let i = 0; i < aborts; i++) last.set([0x07, 0, 0, 0, 0, 4, 0, 0, 0, 0], tail.length + i * 10)
    const { pdus, ms } = push(last)
    assert.strictEqual(pdus.length, 1 + aborts)
    // Linear: about the cost of one pass over the chunks (~1 ms; up to ~170 ms on a loaded machine); quadratic took
    // ~1.7 s here, quiet.
    assert.isBelow(ms, Math.max(400, 4 * feeding), `${aborts} PDUs over ${n} held chunks: ${Math.round(ms)} ms`)
  }, 60_000)
})
