/**
 * `ReceivedBytes` under random fragmentation: a stream of P-DATA-TF PDUs (many PDVs each, tiny to large, command and
 * data kinds, now and then an A-RELEASE-RQ or A-ABORT among them) cut into socket reads at random points, fed to the
 * parser and the tracker as the upper layer's reader does. Each PDV view is then lent and released late (as
 * `Part10.writeFile` does after its write), kept and never lent (a handler reading `dataSet`), or passed through an
 * `Inflow` (which copies small fragments) and read from its lent stream. Every view must read its own bytes when
 * it is consumed, every kept view must still read them at the end, and nothing may be freed that anything reads.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import fc from "fast-check"
import { PduCodec, PduParser } from "@netdicom/wire"
import * as Inflow from "../src/dimse/Inflow.ts"
import * as ReceivedBytes from "../src/upper/ReceivedBytes.ts"

type Route = "lent" | "kept" | "inflow"

interface Plan {
  readonly pdus: ReadonlyArray<
    | { readonly _tag: "PData"; readonly pdvs: ReadonlyArray<{ readonly length: number; readonly command: boolean }> }
    | { readonly _tag: "Release" }
    | { readonly _tag: "Abort" }
  >
  readonly cuts: ReadonlyArray<number>
  readonly routes: ReadonlyArray<Route>
  readonly releaseLag: ReadonlyArray<number>
  readonly seed: number
}

const pdvLength = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 8 }) },
  { weight: 3, arbitrary: fc.integer({ min: 9, max: 300 }) },
  { weight: 3, arbitrary: fc.integer({ min: 301, max: 5000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 5001, max: 70_000 }) }
)

const plan: fc.Arbitrary<Plan> = fc.record({
  pdus: fc.array(
    fc.oneof(
      {
        weight: 12,
        arbitrary: fc.record({
          _tag: fc.constant("PData" as const),
          pdvs: fc.array(fc.record({ length: pdvLength, command: fc.boolean() }), {
            minLength: 1,
            maxLength: 12
          })
        })
      },
      { weight: 1, arbitrary: fc.constant({ _tag: "Release" as const }) },
      { weight: 1, arbitrary: fc.constant({ _tag: "Abort" as const }) }
    ),
    { minLength: 1, maxLength: 20 }
  ),
  cuts: fc.array(
    fc.oneof(
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 13, max: 200 }),
      fc.integer({ min: 201, max: 9000 }),
      fc.integer({ min: 9001, max: 65536 })
    ),
    { minLength: 1, maxLength: 60 }
  ),
  routes: fc.array(fc.constantFrom<Route>("lent", "kept", "inflow"), { minLength: 1, maxLength: 16 }),
  releaseLag: fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 16 }),
  seed: fc.integer({ min: 0, max: 255 })
})

const bytesOf = (length: number, seed: number): Uint8Array => {
  const out = new Uint8Array(length)
  let x = (seed * 2654435761) >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

const run = (p: Plan): void => {
  // The wire bytes, and every PDV's data in order (what the views must read, in order).
  const wire: Array<Uint8Array> = []
  const expected: Array<Uint8Array> = []
  let n = 0
  for (const pdu of p.pdus) {
    if (pdu._tag === "Release") wire.push(Uint8Array.of(0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0))
    else if (pdu._tag === "Abort") wire.push(Uint8Array.of(0x07, 0, 0, 0, 0, 4, 0, 0, 2, 0))
    else {
      const pdvs = pdu.pdvs.map((pdv) => {
        const data = bytesOf(pdv.length, p.seed + n++)
        expected.push(data)
        return { presentationContextId: 1, isCommand: pdv.command, isLast: false, data }
      })
      wire.push(PduCodec.encodePDataTf(pdvs))
    }
  }
  const stream = concat(wire)
  const all = concat(expected)
  // Socket reads: each the whole of its own buffer.
  const reads: Array<Uint8Array> = []
  for (let at = 0, i = 0; at < stream.length; i++) {
    const size = p.cuts[i % p.cuts.length]!
    reads.push(stream.slice(at, at + size))
    at += size
  }

  const parser = PduParser.make({ maxPduLength: 0, pdvViews: true })
  const tracker = ReceivedBytes.tracker()
  // Bytes of the data stream each consumer saw, by offset.
  const seen = new Uint8Array(all.length)
  const seenCount = new Uint8Array(all.length)
  const record = (bytes: Uint8Array, at: number, what: string): void => {
    assert.deepStrictEqual(bytes, all.subarray(at, at + bytes.length), `${what} at ${at} reads other bytes`)
    seen.set(bytes, at)
    seenCount.fill(1, at, at + bytes.length)
  }
  const pending: Array<{ readonly view: Uint8Array; readonly at: number; readonly length: number; due: number }> = []
  const kept: Array<{ readonly view: Uint8Array; readonly at: number; readonly length: number }> = []
  let at = 0
  let step = 0
  let viewIndex = 0
  const consume = (force: boolean) => {
    while (pending.length > 0 && (force || pending[0]!.due <= step)) {
      const { view, at: where, length } = pending.shift()!
      assert.strictEqual(view.length, length, `a lent view at ${where} was freed before it was written`)
      record(view, where, "a lent view")
      ReceivedBytes.release(view)
    }
  }
  for (const read of reads) {
    const { pdus, error } = parser.push(read)
    assert.isUndefined(error)
    tracker.took(read, pdus, parser.buffered)
    const inflow = Inflow.make(1 << 30)
    const inflowAt: Array<number> = []
    for (const pdu of pdus) {
      if (pdu._tag !== "PDataTf") continue
      for (const pdv of pdu.pdvs) {
        const view = pdv.data
        const where = at
        at += view.length
        if (view.length === 0) continue
        const route = p.routes[viewIndex % p.routes.length]!
        const lag = p.releaseLag[viewIndex % p.releaseLag.length]!
        viewIndex++
        if (route === "kept") kept.push({ view, at: where, length: view.length })
        else if (route === "lent")
          pending.push({ view: ReceivedBytes.lend(view), at: where, length: view.length, due: step + lag })
        else {
          inflow.push(view)
          inflowAt.push(where)
        }
      }
    }
    inflow.end()
    const fragments = Effect.runSync(Stream.runCollect(inflow.lentStream))
    assert.strictEqual(fragments.length, inflowAt.length)
    fragments.forEach((fragment, i) =>
      pending.push({ view: fragment, at: inflowAt[i]!, length: fragment.length, due: step + 1 })
    )
    step++
    consume(false)
  }
  consume(true)
  assert.strictEqual(parser.buffered, 0)
  assert.strictEqual(at, all.length, "every PDV byte came out")
  for (const { view, at: where, length } of kept) {
    assert.strictEqual(view.length, length, `a kept view at ${where} was freed`)
    record(view, where, "a kept view")
  }
  assert.strictEqual(seenCount.indexOf(0), -1, "every byte was consumed once")
  assert.deepStrictEqual(seen, all)
}

describe("ReceivedBytes under random fragmentation", () => {
  it("every view reads its own bytes when consumed, kept views stay whole", () => {
    const before = ReceivedBytes.freed()
    fc.assert(
      fc.property(plan, (p) => run(p)),
      { numRuns: 400 }
    )
    assert.isAbove(ReceivedBytes.freed() - before, 1000, "reads were freed along the way")
  }, 120_000)
})
