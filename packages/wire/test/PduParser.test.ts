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

// The message as the Reassembler sees it: data bytes tagged by context and kind, and where each last fragment ends.
const flatten = (pdus: ReadonlyArray<Pdu.Pdu>): Array<string> => {
  const out: Array<string> = []
  for (const pdu of pdus) {
    if (pdu._tag !== "PDataTf") {
      out.push(pdu._tag)
      continue
    }
    for (const pdv of pdu.pdvs) {
      const tag = `${pdv.presentationContextId}${pdv.isCommand ? "c" : "d"}`
      for (const b of pdv.data) out.push(`${tag}:${b}`)
      if (pdv.isLast) out.push(`${tag}:last`)
    }
  }
  return out
}

const feedViews = (chunks: ReadonlyArray<Uint8Array>, maxPduLength = 0) => {
  const parser = PduParser.make({ maxPduLength, pdvViews: true })
  const pdus: Array<Pdu.Pdu> = []
  for (const c of chunks) {
    const r = parser.push(c)
    pdus.push(...r.pdus)
    if (r.error) return { pdus, error: r.error, parser }
  }
  return { pdus, error: undefined, parser }
}

const pdvArb = fc.record({
  presentationContextId: fc.constantFrom(1, 3, 255),
  isCommand: fc.boolean(),
  isLast: fc.boolean(),
  data: fc.uint8Array({ maxLength: 300 })
})
const pdataArb = fc.array(pdvArb, { minLength: 1, maxLength: 5 }).map((pdvs) => PduCodec.encodePDataTf(pdvs))

describe("PduParser with pdvViews", () => {
  it("yields the same message bytes and last-fragment bits as joining, for any chunking", () => {
    fc.assert(
      fc.property(
        fc.array(pdataArb, { minLength: 1, maxLength: 4 }),
        fc.array(fc.integer({ min: 0, max: 4000 }), { maxLength: 40 }),
        (pdus, cuts) => {
          const bytes = new Uint8Array(pdus.reduce((n, p) => n + p.length, 0))
          let at = 0
          for (const p of pdus) {
            bytes.set(p, at)
            at += p.length
          }
          const points = [0, ...cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b), bytes.length]
          const chunks = points.slice(1).map((end, i) => bytes.slice(points[i]!, end))
          const joined = feed(chunks)
          const viewed = feedViews(chunks)
          assert.isUndefined(viewed.error)
          assert.strictEqual(viewed.pdus.length, joined.pdus.length)
          assert.deepStrictEqual(flatten(viewed.pdus), flatten(joined.pdus))
          assert.strictEqual(viewed.parser.buffered, 0)
          // Every PDV's data is a view of a chunk pushed, never a fresh copy.
          const buffers = new Set<ArrayBufferLike>(chunks.map((c) => c.buffer))
          for (const pdu of viewed.pdus) {
            if (pdu._tag !== "PDataTf") continue
            for (const pdv of pdu.pdvs) if (pdv.data.length > 0) assert.isTrue(buffers.has(pdv.data.buffer))
          }
        }
      ),
      { numRuns: 500, seed: 11 }
    )
  })

  it("parses the fixture stream split at every byte, as joining does", () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const chunks = [stream.slice(0, cut), stream.slice(cut)]
      const { pdus, error } = feedViews(chunks)
      assert.isUndefined(error)
      assert.deepStrictEqual(flatten(pdus), flatten(all), `split at ${cut}`)
    }
  })

  it("reads as storescu's writes arrive (a PDU's 12 header bytes alone, then the rest and whole PDUs): views, none held", () => {
    // storescu writes a data set's P-DATA-TF header and PDV header (12 bytes), then its data: the header may come in a
    // read of its own, and the next read hold that PDU's data and the PDUs after it.
    const data = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i + seed) & 0xff)
    const pdvs = [data(300, 1), data(300, 2), data(101, 3)]
    const pdus = pdvs.map((d, i) =>
      PduCodec.encodePDataTf([{ presentationContextId: 3, isCommand: false, isLast: i === 2, data: d }])
    )
    const rest = new Uint8Array(pdus[0]!.length - 12 + pdus[1]!.length + pdus[2]!.length)
    rest.set(pdus[0]!.subarray(12))
    rest.set(pdus[1]!, pdus[0]!.length - 12)
    rest.set(pdus[2]!, pdus[0]!.length - 12 + pdus[1]!.length)
    const parser = PduParser.make({ maxPduLength: 16384, pdvViews: true })
    const first = parser.push(pdus[0]!.slice(0, 12))
    assert.deepStrictEqual([first.pdus.length, first.error, first.buffered], [0, undefined, 12])
    const second = parser.push(rest)
    assert.isUndefined(second.error)
    assert.strictEqual(second.buffered, 0)
    const got = second.pdus.flatMap((p) => (p._tag === "PDataTf" ? p.pdvs : []))
    assert.deepStrictEqual(
      got.map((p) => [p.isLast, [...p.data]]),
      pdvs.map((d, i) => [i === 2, [...d]])
    )
    // Every PDV's data is a view of the second read, none a copy.
    for (const p of got) assert.strictEqual(p.data.buffer, rest.buffer)
    // The same header alone for a P-DATA-TF over the limit is refused from it.
    const over = PduParser.make({ maxPduLength: 200, pdvViews: true }).push(pdus[0]!.slice(0, 12))
    assert.strictEqual(over.error?._tag, "PduTooLarge")
  })

  it("splits a PDV spanning two reads into two views, only the second marked last", () => {
    const data = Uint8Array.from({ length: 100 }, (_, i) => i)
    const pdu = PduCodec.encodePDataTf([{ presentationContextId: 5, isCommand: false, isLast: true, data }])
    const { pdus } = feedViews([pdu.slice(0, 60), pdu.slice(60)])
    assert.strictEqual(pdus.length, 1)
    const pdvs = pdus[0]!._tag === "PDataTf" ? pdus[0]!.pdvs : []
    assert.deepStrictEqual(
      pdvs.map((p) => [p.presentationContextId, p.isCommand, p.isLast, p.data.length]),
      [
        [5, false, false, 60 - 12],
        [5, false, true, 100 - 48]
      ]
    )
  })

  it("joins a P-DATA-TF that spans more than MAX_VIEW_CHUNKS chunks (PDVs exactly as sent)", () => {
    const data = new Uint8Array(PduParser.MAX_VIEW_CHUNKS * 2)
    const pdu = PduCodec.encodePDataTf([{ presentationContextId: 1, isCommand: false, isLast: false, data }])
    const { pdus } = feedViews(Array.from(pdu, (b) => Uint8Array.of(b)))
    assert.strictEqual(pdus.length, 1)
    assert.strictEqual(pdus[0]!._tag === "PDataTf" ? pdus[0]!.pdvs.length : 0, 1)
  })

  it("fails a malformed P-DATA-TF spanning chunks exactly as joining does", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 40 }), fc.integer({ min: 1, max: 45 }), (body, cut) => {
        const bytes = new Uint8Array(6 + body.length)
        bytes[0] = 0x04
        new DataView(bytes.buffer).setUint32(2, body.length)
        bytes.set(body, 6)
        const chunks = [bytes.slice(0, Math.min(cut, bytes.length)), bytes.slice(Math.min(cut, bytes.length))]
        const joined = feed(chunks)
        const viewed = feedViews(chunks)
        assert.deepStrictEqual(flatten(viewed.pdus), flatten(joined.pdus))
        assert.deepStrictEqual(viewed.error, joined.error)
      }),
      { numRuns: 3000, seed: 12 }
    )
  })
})
