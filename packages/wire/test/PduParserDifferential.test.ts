/**
 * Differential fuzz of the PduParser class (ac0e0d3) against the closure-based parser it replaced (kept verbatim in
 * support/PduParserBefore.ts): the refactor was meant to change nothing. Random and hostile byte streams (valid PDUs
 * of every type, P-DATA-TF with many, empty and large PDVs, hostile PDV item lengths, hostile PDU lengths, truncated
 * headers, unknown PDU types, random bytes), under random limits and `pdvViews`, cut into reads of 1 byte to 64 KiB
 * (and empty reads) at random places, and pushed on after an error: every push must give the same PDUs (compared
 * by bytes, and by which pushed chunk and offset a PDV's data is a view of), the same error and the same `buffered`.
 * The class has since gained a one-pass decode of a P-DATA-TF whole in one chunk (no `Reader`, no `Result`); the
 * same comparison covers it, with PDV item lengths a few bytes off their end.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import fc from "fast-check"
import { PduCodec, PduParser, type Pdu } from "../src/index.ts"
import { all } from "./fixtures.ts"
import * as Before from "./support/PduParserBefore.ts"

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

const header = (type: number, length: number): Uint8Array => {
  const h = new Uint8Array(6)
  h[0] = type
  new DataView(h.buffer).setUint32(2, length >>> 0)
  return h
}

const encodedFixtures = all.map((p) => Result.getOrThrow(PduCodec.encodePdu(p)))

const pdvSize = fc.oneof(
  { weight: 15, arbitrary: fc.constant(0) },
  { weight: 50, arbitrary: fc.integer({ min: 1, max: 64 }) },
  { weight: 15, arbitrary: fc.integer({ min: 65, max: 4096 }) },
  { weight: 1, arbitrary: fc.integer({ min: 4097, max: 100_000 }) }
)

const pdv = fc.record({
  presentationContextId: fc.integer({ min: 0, max: 255 }),
  isCommand: fc.boolean(),
  isLast: fc.boolean(),
  size: pdvSize,
  fill: fc.integer({ min: 0, max: 255 })
})

const pData = (
  pdvArb: fc.Arbitrary<{
    presentationContextId: number
    isCommand: boolean
    isLast: boolean
    size: number
    fill: number
  }>
) =>
  fc.array(pdvArb, { minLength: 0, maxLength: 40 }).map((pdvs) =>
    PduCodec.encodePDataTf(
      pdvs.map((p) => ({
        presentationContextId: p.presentationContextId,
        isCommand: p.isCommand,
        isLast: p.isLast,
        data: new Uint8Array(p.size).map((_, i) => (p.fill + i) & 0xff)
      }))
    )
  )

const validPData = pData(pdv)
const smallPData = pData(pdv.map((p) => ({ ...p, size: p.size % 97 })))

// A P-DATA-TF whose PDV items carry hostile lengths (too short, past the PDU's end, zero), its own length consistent.
const hostilePData = fc
  .array(
    fc.record({
      itemLength: fc.oneof(
        fc.integer({ min: 0, max: 8 }),
        fc.integer({ min: 0, max: 300 }),
        fc.constantFrom(0xffffffff, 0x80000000, 0x7fffffff)
      ),
      bodyLength: fc.integer({ min: 0, max: 300 }),
      control: fc.integer({ min: 0, max: 255 })
    }),
    { minLength: 1, maxLength: 8 }
  )
  .chain((items) => fc.integer({ min: 0, max: 3 }).map((tail) => ({ items, tail })))
  .map(({ items, tail }) => {
    const body = concat([
      ...items.map((it) => {
        const b = new Uint8Array(6 + it.bodyLength)
        new DataView(b.buffer).setUint32(0, it.itemLength >>> 0)
        b[4] = 1
        b[5] = it.control
        return b
      }),
      new Uint8Array(tail)
    ])
    return concat([header(0x04, body.length), body])
  })

// Any type byte and a length that may be far from the body that follows.
const hostileHeader = fc
  .record({
    type: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 255 })),
    length: fc.oneof(
      fc.integer({ min: 0, max: 64 }),
      fc.integer({ min: 0, max: 70_000 }),
      fc.constantFrom(0xffffffff, 0x80000000, (1 << 20) + 1, 1 << 20, 16384, 16385)
    ),
    body: fc.integer({ min: 0, max: 512 })
  })
  .map(({ type, length, body }) => concat([header(type, length), new Uint8Array(Math.min(body, length))]))

const segment = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...encodedFixtures) },
  { weight: 6, arbitrary: validPData },
  { weight: 2, arbitrary: hostilePData },
  { weight: 1, arbitrary: hostileHeader },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 32 }) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom(...encodedFixtures), fc.nat()).map(([b, n]) => b.subarray(0, n % b.length))
  }
)

const readSize = fc.oneof(
  { weight: 2, arbitrary: fc.constant(0) },
  { weight: 10, arbitrary: fc.integer({ min: 1, max: 8 }) },
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 512 }) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 65536 }) }
)

const options = fc.record(
  {
    maxPduLength: fc.oneof(fc.constantFrom(0, 1024, 16384, 262144), fc.integer({ min: 0, max: 100_000 })),
    maxControlPduLength: fc.oneof(fc.constantFrom(0, 64, 1 << 20), fc.integer({ min: 0, max: 4096 })),
    pdvViews: fc.boolean()
  },
  { requiredKeys: ["maxPduLength"] }
)

// Cuts the stream into fresh buffers (so a view's origin is the pushed chunk it belongs to), then a few reads more.
const cut = (stream: Uint8Array, sizes: ReadonlyArray<number>, after: number): Array<Uint8Array> => {
  const chunks: Array<Uint8Array> = []
  let at = 0
  let i = 0
  while (at < stream.length) {
    const n = sizes.every((z) => z === 0) ? stream.length : sizes[i++ % sizes.length]!
    chunks.push(stream.slice(at, at + n))
    at += n
  }
  for (let k = 0; k < after; k++) chunks.push(new Uint8Array([0x04, 0, 0, 0, 0, 2, 1, 3].slice(0, k + 1)))
  return chunks
}

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64")

// An empty PDV's data is a view of nothing since it was seen to outlive its read (tests/attack/zero-byte-data-sets):
// compared by its bytes alone.
const describeData = (data: Uint8Array, chunks: ReadonlyArray<Uint8Array>) => {
  if (data.byteLength === 0) return { bytes: "", origin: "none", byteOffset: -1 }
  const origin = chunks.findIndex((c) => c.buffer === data.buffer)
  return { bytes: b64(data), origin, byteOffset: origin >= 0 ? data.byteOffset : -1 }
}

const normalizePdu = (pdu: Pdu.Pdu, chunks: ReadonlyArray<Uint8Array>): unknown =>
  pdu._tag === "PDataTf"
    ? {
        _tag: pdu._tag,
        pdvs: pdu.pdvs.map((p) => ({
          presentationContextId: p.presentationContextId,
          isCommand: p.isCommand,
          isLast: p.isLast,
          data: describeData(p.data, chunks)
        }))
      }
    : JSON.parse(JSON.stringify(pdu, (_, v: unknown) => (v instanceof Uint8Array ? b64(v) : v)))

const normalizeError = (e: unknown): unknown =>
  e === undefined ? undefined : { ...(e as object), message: (e as Error).message, tag: (e as { _tag: string })._tag }

type Outcome = ReadonlyArray<{ pdus: ReadonlyArray<unknown>; error: unknown; buffered: number }>

type Parser = Before.PduParser | PduParser.PduParser

const step = (parser: Parser, chunk: Uint8Array, chunks: ReadonlyArray<Uint8Array>): Outcome[number] => {
  const r = parser.push(chunk)
  return { pdus: r.pdus.map((p) => normalizePdu(p, chunks)), error: normalizeError(r.error), buffered: parser.buffered }
}

const run = (parser: Parser, chunks: ReadonlyArray<Uint8Array>): Outcome => chunks.map((c) => step(parser, c, chunks))

describe("PduParser (class) against the closure parser before ac0e0d3", () => {
  it("gives the same PDUs, errors and buffered counts for any stream, chunking and limits", () => {
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 12 }),
        fc.array(readSize, { minLength: 0, maxLength: 30 }),
        options,
        fc.integer({ min: 0, max: 3 }),
        (segments, sizes, opts, after) => {
          const chunks = cut(concat(segments), sizes, after)
          const before = run(Before.make(opts), chunks)
          const now = run(PduParser.make(opts), chunks)
          assert.deepStrictEqual(now, before)
        }
      ),
      { numRuns: 200 }
    )
  })

  it("agrees on P-DATA-TF trains dribbled across many chunks (views, joins past MAX_VIEW_CHUNKS, compaction)", () => {
    fc.assert(
      fc.property(
        fc.array(smallPData, { minLength: 10, maxLength: 60 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 20 }),
        fc.boolean(),
        (segments, sizes, pdvViews) => {
          const chunks = cut(concat(segments), sizes, 0)
          const opts = { maxPduLength: 0, pdvViews }
          assert.deepStrictEqual(run(PduParser.make(opts), chunks), run(Before.make(opts), chunks))
        }
      ),
      { numRuns: 30 }
    )
  })

  it("agrees on a P-DATA-TF cut into exactly k chunks, k around MAX_VIEW_CHUNKS", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: PduParser.MAX_VIEW_CHUNKS + 4 }),
        fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 0, max: 20 }),
        (k, sizes, extra) => {
          const pdu = PduCodec.encodePDataTf(
            sizes.map((n, i) => ({
              presentationContextId: 1 + 2 * i,
              isCommand: i === 0,
              isLast: true,
              data: new Uint8Array(n).fill(i)
            }))
          )
          const stream = concat([pdu, new Uint8Array(extra).fill(0x04)])
          const step = Math.ceil(pdu.length / k)
          const chunks = cut(stream, [step], 0)
          const opts = { maxPduLength: 0, pdvViews: true }
          assert.deepStrictEqual(run(PduParser.make(opts), chunks), run(Before.make(opts), chunks))
        }
      ),
      { numRuns: 300 }
    )
  })

  it("agrees on P-DATA-TF whose PDV item lengths miss their end by a few bytes, followed by more PDUs", () => {
    // The one-pass decode of a P-DATA-TF whole in one chunk checks every item against the PDU's end itself.
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 5 }),
        fc.nat(),
        fc.integer({ min: -3, max: 3 }),
        fc.integer({ min: -2, max: 2 }),
        fc.array(fc.constantFrom(...encodedFixtures), { maxLength: 2 }),
        fc.oneof(fc.constant([]), fc.array(readSize, { minLength: 1, maxLength: 4 })),
        fc.boolean(),
        (sizes, which, delta, lengthDelta, tail, reads, pdvViews) => {
          const pdu = PduCodec.encodePDataTf(
            sizes.map((n, i) => ({
              presentationContextId: 1,
              isCommand: i === 0,
              isLast: i === sizes.length - 1,
              data: new Uint8Array(n).fill(i + 1)
            }))
          )
          const view = new DataView(pdu.buffer, pdu.byteOffset, pdu.byteLength)
          let at = 6
          for (let i = 0; i < which % sizes.length; i++) at += 4 + view.getUint32(at)
          view.setUint32(at, Math.max(0, view.getUint32(at) + delta))
          view.setUint32(2, Math.max(0, pdu.length - 6 + lengthDelta))
          const chunks = cut(concat([pdu, ...tail]), reads, 0)
          const opts = { maxPduLength: 0, pdvViews }
          assert.deepStrictEqual(run(PduParser.make(opts), chunks), run(Before.make(opts), chunks))
        }
      ),
      { numRuns: 2000 }
    )
  })

  it("keeps each parser's state its own: two parsers pushed in turn agree with two before-parsers", () => {
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 8 }),
        fc.array(segment, { minLength: 1, maxLength: 8 }),
        fc.array(readSize, { minLength: 1, maxLength: 10 }),
        options,
        options,
        (sa, sb, sizes, oa, ob) => {
          const ca = cut(concat(sa), sizes, 1)
          const cb = cut(concat(sb), sizes.toReversed(), 1)
          const [na, nb, ba, bb] = [PduParser.make(oa), PduParser.make(ob), Before.make(oa), Before.make(ob)]
          const got: Array<unknown> = []
          const want: Array<unknown> = []
          for (let i = 0; i < Math.max(ca.length, cb.length); i++) {
            if (i < ca.length) got.push(step(na, ca[i]!, ca), step(ba, ca[i]!, ca))
            if (i < cb.length) want.push(step(nb, cb[i]!, cb), step(bb, cb[i]!, cb))
          }
          for (let i = 0; i < got.length; i += 2) assert.deepStrictEqual(got[i], got[i + 1])
          for (let i = 0; i < want.length; i += 2) assert.deepStrictEqual(want[i], want[i + 1])
        }
      ),
      { numRuns: 40 }
    )
  })
})
