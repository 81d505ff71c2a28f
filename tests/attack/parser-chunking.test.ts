/**
 * The incremental PDU parser with tiny chunks (PS3.8 9.3.1: TCP may deliver a PDU in any chunking).
 *
 * `PduParser.take` joins a PDU spanning chunks by `chunks.shift()` once per chunk; on an array of tens of
 * thousands of 1-byte chunks each shift is a memmove of the whole array, so the join is quadratic: 32 KiB in
 * 1-byte pushes took ~80 ms, 64 KiB ~4.5 s, 256 KiB ~125 s (measured). It all runs synchronously on the event
 * loop, so every association of the server freezes. Over loopback TCP a peer writing one byte per
 * setImmediate really does make the server read 1-byte chunks: a 96 KiB P-DATA-TF froze the event loop 3.7 s.
 * Before association the control PDU limit is 1 MiB, so an unauthenticated A-ASSOCIATE-RQ can do it too.
 *
 * Expected: linear work per byte (an offset into the first chunk, or a ring, instead of shift()).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { PduCodec, PduParser } from "@netdicom/wire"
import { associateRq, connectPeer, encode, promise, startScp } from "./support.ts"

describe("PduParser with 1-byte chunks", () => {
  it("1-byte pushes cost the same per byte for a 128 KiB PDU as for a 16 KiB one (linear, not quadratic)", () => {
    const time = (n: number): number => {
      const pdu = PduCodec.encodePDataTf([
        { presentationContextId: 1, isCommand: false, isLast: false, data: new Uint8Array(n) }
      ])
      const parser = PduParser.make({ maxPduLength: 0 })
      const started = performance.now()
      let pdus = 0
      for (let i = 0; i < pdu.length; i++) pdus += parser.push(pdu.subarray(i, i + 1)).pdus.length
      assert.strictEqual(pdus, 1)
      return performance.now() - started
    }
    time(16 * 1024) // warm up the JIT
    const small = time(16 * 1024)
    const large = time(128 * 1024)
    // 8 times the bytes: linear work gives a ratio near 8; measured 28 (vitest) to >100 (plain node)
    assert.isBelow(large / small, 16, `16 KiB: ${Math.round(small)} ms, 128 KiB: ${Math.round(large)} ms`)
  }, 30_000)

  it.live(
    "an A-ASSOCIATE-RQ of 64 KiB dribbled 1 byte per tick over TCP does not freeze the server's event loop",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ timeouts: { acse: "10 seconds" } })
        const peer = yield* promise(() => connectPeer(server.port))
        const filler = new Uint8Array(32 * 1024)
        const bytes = encode(
          associateRq({
            unknownItems: [
              { _tag: "UnknownItem", itemType: 0x55, data: filler },
              { _tag: "UnknownItem", itemType: 0x56, data: filler }
            ]
          })
        )
        let maxLag = 0
        let last = performance.now()
        const lag = setInterval(() => {
          const now = performance.now()
          maxLag = Math.max(maxLag, now - last - 10)
          last = now
        }, 10)
        yield* promise(
          () =>
            new Promise<void>((resolve) => {
              let i = 0
              const step = () => {
                if (i < bytes.length) peer.send(bytes.subarray(i, ++i))
                if (i < bytes.length) setImmediate(step)
                else resolve()
              }
              step()
            })
        )
        const answer = yield* promise(() => peer.next(8000))
        clearInterval(lag)
        peer.destroy()
        assert.isTrue(typeof answer !== "string", `an answer to the A-ASSOCIATE-RQ, got ${String(answer)}`)
        assert.isBelow(Math.round(maxLag), 500, `event loop blocked ${Math.round(maxLag)} ms`)
      }),
    20_000
  )
})
