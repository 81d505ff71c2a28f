/**
 * A PDU dribbled one byte per read (PS3.8 9.3.1 lets TCP deliver it in any chunking). The parser kept every read
 * until the PDU was whole, so each byte held a Buffer of its own: ~120 bytes of memory per byte sent. Measured on
 * `netdicom storescp`: an A-ASSOCIATE-RQ announcing 1,000,000 bytes, sent one byte per write from another process,
 * took the server from 140 to 260 MB RSS in 5 s, before any negotiation (ARTIM 30 s, 256 such connections allowed at
 * once by default), and a P-DATA-TF of an association likewise (bounded by `maxPduLength` and the idle timeout).
 * Small reads of an unfinished PDU are now copied into a buffer of the parser's own.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { PduCodec, PduParser } from "@netdicom/wire"
import { associated, connectPeer, mb, type Peer, promise, startScp } from "./support.ts"

v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as () => void

/** Heap and array buffers after a full collection. */
const held = (): number => {
  gc()
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

/** Sends `bytes` one byte per tick (the server then reads them one at a time); resolves once all are written. */
const dribble = (peer: Peer, bytes: Uint8Array) =>
  new Promise<void>((resolve) => {
    let i = 0
    const step = () => {
      peer.send(bytes.subarray(i, ++i))
      if (i < bytes.length && !peer.socket.destroyed) setImmediate(step)
      else resolve()
    }
    step()
  })

const DRIBBLED = 96 * 1024

describe("a PDU dribbled one byte per read", () => {
  it("PduParser: 200,000 one-byte pushes of an unfinished PDU hold about their own size, not a Buffer each", () => {
    const parser = PduParser.make({ maxPduLength: 0 })
    const header = Uint8Array.of(0x01, 0, 0, 0x10, 0, 0) // an A-ASSOCIATE-RQ of 1 MiB
    parser.push(header)
    const before = held()
    for (let i = 0; i < 200_000; i++) parser.push(Uint8Array.of(i & 0xff))
    const growth = held() - before
    assert.strictEqual(parser.buffered, 6 + 200_000)
    assert.isBelow(growth, 2_000_000, `held ${mb(growth)} MB for 200,000 bytes`)
  })

  it("the bytes still come out as they went in, with a large read in the middle", () => {
    const data = new Uint8Array(70_000).map((_, i) => (i * 7) & 0xff)
    const pdu = PduCodec.encodePDataTf([{ presentationContextId: 1, isCommand: false, isLast: true, data }])
    const parser = PduParser.make({ maxPduLength: 0 })
    const out: Array<number> = []
    let at = 0
    const take = (n: number) => {
      const r = parser.push(pdu.subarray(at, (at += n)))
      assert.isUndefined(r.error)
      for (const p of r.pdus) if (p._tag === "PDataTf") for (const v of p.pdvs) out.push(...v.data)
    }
    for (let i = 0; i < 10_000; i++) take(1)
    take(30_000)
    while (at < pdu.length) take(Math.min(1000, pdu.length - at))
    assert.strictEqual(parser.buffered, 0)
    assert.deepStrictEqual(out, Array.from(data))
  })

  it.live(
    `an A-ASSOCIATE-RQ's first ${DRIBBLED / 1024} KiB dribbled over TCP: the server holds under 1.5 MB for them`,
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ timeouts: { acse: "20 seconds" } })
        const peer = yield* promise(() => connectPeer(server.port))
        peer.send(Uint8Array.of(0x01, 0, 0, 0x03, 0xff, 0xff)) // announces 256 KiB - 1, the acceptor's limit
        yield* Effect.sleep("50 millis")
        const before = held()
        yield* promise(() => dribble(peer, new Uint8Array(DRIBBLED).fill(0x41)))
        yield* Effect.sleep("200 millis")
        const growth = held() - before
        const pending = yield* server.pending
        peer.destroy()
        assert.strictEqual(pending, 1, "the connection is still waiting for the rest")
        assert.isBelow(growth, 1_500_000, `held ${mb(growth)} MB for ${DRIBBLED} bytes`)
      }),
    30_000
  )

  it.live(
    `a P-DATA-TF's first ${DRIBBLED / 1024} KiB dribbled over TCP on an association: under 1.5 MB held`,
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ maxPduLength: 1 << 20, timeouts: { idle: "20 seconds" } })
        const peer = yield* promise(() => associated(server.port))
        peer.send(Uint8Array.of(0x04, 0, 0, 0x0f, 0xff, 0xff))
        yield* Effect.sleep("50 millis")
        const before = held()
        yield* promise(() => dribble(peer, new Uint8Array(DRIBBLED)))
        yield* Effect.sleep("200 millis")
        const growth = held() - before
        const active = yield* server.active
        peer.destroy()
        assert.strictEqual(active, 1, "the association is still open")
        assert.isBelow(growth, 1_500_000, `held ${mb(growth)} MB for ${DRIBBLED} bytes`)
      }),
    30_000
  )
})
