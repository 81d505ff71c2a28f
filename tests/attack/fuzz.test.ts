/**
 * Bounded fast-check fuzzing of the pure decoders (PDU codec and parser, command sets, reassembler, data sets,
 * Part 10 meta) and a short live fuzz of the acceptor. Every property: no throw escapes, results are typed.
 * Runs and sizes are fixed; each property has a time budget.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import fc from "fast-check"
import * as fs from "node:fs"
import { DataSet, Part10 } from "@netdicom/net"
import { CommandSet, Dimse, PduCodec, PduParser, Reassembler } from "@netdicom/wire"
import { corpusDir, corpusFile } from "../support/peers.ts"
import { associated, associateRq, command, echoStillWorks, encode, promise, startScp, VERIFICATION } from "./support.ts"

/** CT_small.dcm from the corpus (NETDICOM_CORPUS or ../shared/corpus); two cases skip, with a message, without it. */
const ctSmall = corpusFile("CT_small.dcm")
if (ctSmall === undefined) {
  console.warn(`fuzz.test.ts: CT_small.dcm not found in ${corpusDir()} (set NETDICOM_CORPUS): skipping its two cases`)
}

const seeds = {
  rq: encode(associateRq()),
  ac: encode({ ...associateRq(), _tag: "AAssociateAc", presentationContexts: [] }),
  pdata: PduCodec.encodePDataTf([
    {
      presentationContextId: 1,
      isCommand: true,
      isLast: true,
      data: command({ _tag: "CEchoRq", messageId: 1, affectedSopClassUid: VERIFICATION })
    }
  ]),
  echo: command({ _tag: "CEchoRq", messageId: 1, affectedSopClassUid: VERIFICATION })
}

/** A seed with a few bytes overwritten and possibly truncated or extended. */
const mutated = (seed: Uint8Array) =>
  fc
    .tuple(
      fc.array(fc.tuple(fc.nat(seed.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      fc.integer({ min: -16, max: 16 })
    )
    .map(([edits, delta]) => {
      const out = new Uint8Array(Math.max(0, seed.length + delta))
      out.set(seed.subarray(0, Math.min(seed.length, out.length)))
      for (const [at, v] of edits) if (at < out.length) out[at] = v
      return out
    })

/** Rewrites the PDU length field to match the body, so mutations reach the item decoders. */
const fixLength = (b: Uint8Array): Uint8Array => {
  if (b.length >= 6) new DataView(b.buffer, b.byteOffset).setUint32(2, b.length - 6, false)
  return b
}

const noThrow = <A>(f: () => A): A => {
  try {
    return f()
  } catch (e) {
    assert.fail(`threw: ${String(e)}`)
  }
}

describe("fuzzing the decoders (no throw, typed results)", () => {
  it("decodePdu on random bytes and on mutated RQ / AC / P-DATA", () => {
    const started = Date.now()
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 512 }),
          mutated(seeds.rq).map(fixLength),
          mutated(seeds.ac).map(fixLength),
          mutated(seeds.pdata).map(fixLength)
        ),
        (bytes) => {
          const r = noThrow(() => PduCodec.decodePdu(bytes))
          if (Result.isSuccess(r)) {
            // what decodes also encodes or fails typed
            const e = noThrow(() => PduCodec.encodePdu(r.success))
            assert.isTrue(Result.isSuccess(e) || e.failure._tag === "PduEncodeError")
          } else assert.strictEqual(r.failure._tag, "PduDecodeError")
        }
      ),
      { numRuns: 3000, seed: 1 }
    )
    assert.isBelow(Date.now() - started, 10_000)
  }, 20_000)

  it("PduParser: any chunking of a PDU stream yields the same PDUs as whole pushes, buffered stays bounded", () => {
    const stream = new Uint8Array([...seeds.rq, ...seeds.pdata, ...seeds.pdata, ...seeds.ac])
    const whole = PduParser.make({ maxPduLength: 16384 }).push(stream)
    assert.strictEqual(whole.pdus.length, 4)
    fc.assert(
      fc.property(fc.array(fc.nat(stream.length), { maxLength: 40 }), (cuts) => {
        const points = [...new Set([0, ...cuts, stream.length])].sort((a, b) => a - b)
        const parser = PduParser.make({ maxPduLength: 16384 })
        const pdus = []
        for (let i = 1; i < points.length; i++) {
          const r = noThrow(() => parser.push(stream.subarray(points[i - 1], points[i])))
          assert.isUndefined(r.error)
          pdus.push(...r.pdus)
          assert.isAtMost(parser.buffered, stream.length)
        }
        assert.strictEqual(parser.buffered, 0)
        assert.deepStrictEqual(
          pdus.map((p) => p._tag),
          whole.pdus.map((p) => p._tag)
        )
      }),
      { numRuns: 500, seed: 2 }
    )
  })

  it("PduParser on random streams: no throw, stays failed after an error, never buffers past 6 + limit", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (chunks) => {
        const parser = PduParser.make({ maxPduLength: 1024, maxControlPduLength: 1024 })
        let failed = false
        for (const c of chunks) {
          const r = noThrow(() => parser.push(c))
          if (failed) assert.isDefined(r.error)
          if (r.error) failed = true
          assert.isAtMost(parser.buffered, 6 + 1024 + 64)
        }
      }),
      { numRuns: 2000, seed: 3 }
    )
  })

  it("CommandSet.decode and Dimse.decode on random and mutated command sets", () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 256 }), mutated(seeds.echo)), (bytes) => {
        const c = noThrow(() => CommandSet.decode(bytes))
        if (Result.isFailure(c)) assert.strictEqual(c.failure._tag, "CommandSetError")
        noThrow(() => Dimse.decode(bytes))
      }),
      { numRuns: 3000, seed: 4 }
    )
  })

  it("Reassembler on random PDV sequences: no throw, command buffer bounded", () => {
    const pdv = fc.record({
      presentationContextId: fc.constantFrom(0, 1, 3, 255),
      isCommand: fc.boolean(),
      isLast: fc.boolean(),
      data: fc.oneof(fc.uint8Array({ maxLength: 64 }), mutated(seeds.echo), fc.constant(seeds.echo))
    })
    fc.assert(
      fc.property(fc.array(pdv, { maxLength: 30 }), (pdvs) => {
        const r = Reassembler.make({ maxCommandLength: 1024 })
        for (const p of pdvs) {
          const out = noThrow(() => r.push(p))
          if (Result.isFailure(out)) {
            assert.strictEqual(out.failure._tag, "ReassemblyError")
            break
          }
        }
      }),
      { numRuns: 2000, seed: 5 }
    )
  })

  it.skipIf(ctSmall === undefined)(
    "DataSet.decode on mutated real data sets (four transfer syntaxes): no throw, each within 200 ms",
    () => {
      const ct = fs.readFileSync(ctSmall!)
      const meta = Result.getOrThrow(Part10.readMeta(new Uint8Array(ct)))
      const bare = new Uint8Array(ct.subarray(meta.dataSetOffset, meta.dataSetOffset + 4096))
      const seed = bare.subarray(
        0,
        Result.getOrThrow(DataSet.scan(bare, meta.transferSyntaxUid, { until: 0x00200013 })).at(-1)!.end
      )
      const syntaxes = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"]
      let worst = 0
      fc.assert(
        fc.property(mutated(seed), fc.constantFrom(...syntaxes), (bytes, ts) => {
          const started = performance.now()
          const r = noThrow(() => DataSet.decode(bytes, ts))
          worst = Math.max(worst, performance.now() - started)
          if (Result.isFailure(r)) assert.strictEqual(r.failure._tag, "DataSetError")
        }),
        { numRuns: 600, seed: 6 }
      )
      assert.isBelow(worst, 200, `slowest decode ${Math.round(worst)} ms`)
    },
    30_000
  )

  it.skipIf(ctSmall === undefined)("Part10.readMeta on mutated files: no throw, typed errors", () => {
    const ct = new Uint8Array(fs.readFileSync(ctSmall!).subarray(0, 2048))
    fc.assert(
      fc.property(mutated(ct), fc.boolean(), (bytes, sniff) => {
        const r = noThrow(() => Part10.readMeta(bytes, { sniff }))
        if (Result.isFailure(r)) assert.isString(r.failure._tag)
      }),
      { numRuns: 2000, seed: 7 }
    )
  })
})

describe("live fuzzing of the acceptor", () => {
  it.live(
    "30 mutated PDUs after association, each on its own connection: no crash, no unhandled error, server serves on",
    () =>
      Effect.gen(function* () {
        const unhandled: Array<string> = []
        const onError = (e: unknown) => unhandled.push(String(e))
        process.on("uncaughtException", onError)
        process.on("unhandledRejection", onError)
        const server = yield* startScp({ timeouts: { acse: "300 millis" } })
        const samples = fc.sample(
          fc.oneof(mutated(seeds.pdata).map(fixLength), mutated(seeds.rq).map(fixLength), mutated(seeds.pdata)),
          { numRuns: 30, seed: 8 }
        )
        yield* promise(() =>
          Promise.all(
            samples.map(async (bytes) => {
              const peer = await associated(server.port)
              peer.send(bytes)
              await peer.next(200)
              peer.destroy()
            })
          )
        )
        process.off("uncaughtException", onError)
        process.off("unhandledRejection", onError)
        assert.deepStrictEqual(unhandled, [])
        assert.isTrue(yield* promise(() => echoStillWorks(server.port)))
        void associateRq
      }),
    20_000
  )
})
