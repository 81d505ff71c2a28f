import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import fc from "fast-check"
import { PduCodec, PduParser, type Pdu } from "../src/index.ts"
import { all, hex } from "./fixtures.ts"

const encoded = all.map((p) => Result.getOrThrow(PduCodec.encodePdu(p)))
const stream = (() => {
  const total = encoded.reduce((n, b) => n + b.length, 0)
  const out = new Uint8Array(total)
  let at = 0
  for (const b of encoded) {
    out.set(b, at)
    at += b.length
  }
  return out
})()

const feed = (chunks: ReadonlyArray<Uint8Array>, maxPduLength = 0) => {
  const parser = PduParser.make({ maxPduLength })
  const pdus: Array<Pdu.Pdu> = []
  for (const c of chunks) {
    const r = parser.push(c)
    pdus.push(...r.pdus)
    if (r.error) return { pdus, error: r.error, parser }
  }
  return { pdus, error: undefined, parser }
}

describe("PduParser", () => {
  it("parses many PDUs in one chunk", () => {
    const { pdus, parser } = feed([stream])
    assert.deepStrictEqual(pdus, all)
    assert.strictEqual(parser.buffered, 0)
  })

  it("parses the stream split at every byte", () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const { pdus, error } = feed([stream.subarray(0, cut), stream.subarray(cut)])
      assert.isUndefined(error)
      assert.deepStrictEqual(pdus, all, `split at ${cut}`)
    }
  })

  it("parses the stream byte at a time", () => {
    const chunks = Array.from(stream, (b) => Uint8Array.of(b))
    assert.deepStrictEqual(feed(chunks).pdus, all)
  })

  it("parses any random chunking", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: stream.length }), { maxLength: 20 }), (cuts) => {
        const points = [0, ...[...cuts].sort((a, b) => a - b), stream.length]
        const chunks = points.slice(1).map((end, i) => stream.subarray(points[i]!, end))
        assert.deepStrictEqual(feed(chunks).pdus, all)
      }),
      { numRuns: 300, seed: 3 }
    )
  })

  it("rejects a P-DATA-TF above the limit from its header alone", () => {
    const header = hex("04 00 00010000")
    const { error, parser } = feed([header], 16384)
    assert.strictEqual(error?._tag, "PduTooLarge")
    if (error?._tag === "PduTooLarge") assert.deepStrictEqual([error.length, error.limit], [65536, 16384])
    assert.strictEqual(parser.push(new Uint8Array(10)).error, error, "stays failed")
  })

  it("accepts a P-DATA-TF exactly at the limit, and 0 means no limit", () => {
    const body = new Uint8Array(16384 - 6)
    const pdu = PduCodec.encodePDataTf([{ presentationContextId: 1, isCommand: false, isLast: true, data: body }])
    assert.strictEqual(feed([pdu], 16384).pdus.length, 1)
    assert.strictEqual(feed([pdu], 0).pdus.length, 1)
  })

  it("does not allocate by a hostile length: 4 GiB announced, nothing buffered but what came", () => {
    const { error, parser } = feed([hex("04 00 ffffffff 0000")], 0)
    assert.isUndefined(error)
    assert.strictEqual(parser.buffered, 8)
    const control = feed([hex("01 00 ffffffff")], 0)
    assert.strictEqual(control.error?._tag, "PduTooLarge")
  })

  it("returns the PDUs decoded before an error", () => {
    const bad = hex("09 00 00000000")
    const { pdus, error } = feed([stream.subarray(0, encoded[0]!.length), bad])
    assert.deepStrictEqual(pdus, [all[0]])
    assert.strictEqual(error?._tag, "PduDecodeError")
    const joined = new Uint8Array(encoded[4]!.length + bad.length)
    joined.set(encoded[4]!)
    joined.set(bad, encoded[4]!.length)
    const one = feed([joined])
    assert.deepStrictEqual(one.pdus, [{ _tag: "AReleaseRq" }])
    assert.strictEqual(one.error?._tag, "PduDecodeError")
  })

  it("only yields PDUs or typed errors on random bytes", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }), (chunks) => {
        const { error } = feed(chunks, 4096)
        if (error) assert.include(["PduDecodeError", "PduTooLarge"], error._tag)
      }),
      { numRuns: 2000, seed: 4 }
    )
  })
})
