/**
 * Attack on sniffing a bare data set's transfer syntax (`Part10.readSendableMeta`, and the pure `readMeta` with
 * `sniff`): random and mutated file prefixes (empty to 3-byte files, a preamble with no "DICM", "DICM" then garbage,
 * odd first elements, lying lengths) give a meta or a typed Part10 error, never a throw or a defect; what sniffing
 * accepts names a transfer syntax it can read.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Result } from "effect"
import fc from "fast-check"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { DataSet, Part10 } from "@netdicom/net"
import { EXPLICIT, IMPLICIT } from "./support.ts"

const BIG = "1.2.840.10008.1.2.2"
const TAGS = new Set([
  "NoFileMeta",
  "MissingTransferSyntax",
  "MalformedFileMeta",
  "Truncated",
  "UnrecognizedDataSet",
  "MalformedDataSet",
  "MissingSopIdentifiers",
  "UnsupportedTransferSyntax"
])
const SYNTAXES = new Set([EXPLICIT, IMPLICIT, BIG])

const bare = (syntax: string): Uint8Array => {
  const encoded = DataSet.encode(
    {
      SpecificCharacterSet: "ISO_IR 100",
      SOPClassUID: "1.2.840.10008.5.1.4.1.1.7",
      SOPInstanceUID: "1.2.3.4.5",
      PatientName: "Doe^Jane",
      ReferencedSeriesSequence: [{ SeriesInstanceUID: "1.2.3" }]
    },
    syntax
  )
  if (Result.isFailure(encoded)) throw new Error("fixture")
  return encoded.success
}
const BARES = [bare(EXPLICIT), bare(IMPLICIT), bare(BIG)]
const PREAMBLE = new Uint8Array(128)
const DICM = new Uint8Array([0x44, 0x49, 0x43, 0x4d])
const cat = (...parts: ReadonlyArray<Uint8Array>) => new Uint8Array(Buffer.concat(parts))

// A file prefix: random bytes, or a bare data set (optionally behind a preamble with or without "DICM"), then
// overwritten in places and cut.
const prefix: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 3 }),
  fc.uint8Array({ maxLength: 300 }),
  fc
    .record({
      base: fc.constantFrom(...BARES),
      front: fc.constantFrom("none", "preamble", "dicm"),
      writes: fc.array(fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 4 })), { maxLength: 4 }),
      cut: fc.option(fc.nat())
    })
    .map(({ base, front, writes, cut }) => {
      const head = front === "none" ? new Uint8Array(0) : front === "preamble" ? PREAMBLE : cat(PREAMBLE, DICM)
      const out = cat(head, base)
      for (const [at, bytes] of writes) out.set(bytes.subarray(0, out.length - (at % out.length)), at % out.length)
      return cut === null ? out : out.subarray(0, cut % (out.length + 1))
    })
)

const checkResult = (result: Result.Result<Part10.FileMeta, { readonly _tag: string }>) => {
  if (Result.isFailure(result)) assert.isTrue(TAGS.has(result.failure._tag), result.failure._tag)
  else if (result.success.sniffed) assert.isTrue(SYNTAXES.has(result.success.transferSyntaxUid))
}

describe("sniff-prefix-fuzz", () => {
  it("readMeta with sniff gives a meta or a typed error on any prefix", () => {
    fc.assert(
      fc.property(prefix, (bytes) => {
        checkResult(Part10.readMeta(bytes, { sniff: true }))
        checkResult(Part10.readMeta(bytes))
      }),
      { numRuns: 3000 }
    )
  })

  it("an unmutated bare data set is sniffed as the syntax it was written in", () => {
    for (const [i, syntax] of [EXPLICIT, IMPLICIT, BIG].entries()) {
      const meta = Part10.readMeta(BARES[i]!, { sniff: true })
      assert.isTrue(Result.isSuccess(meta))
      if (Result.isSuccess(meta)) {
        assert.strictEqual(meta.success.transferSyntaxUid, syntax)
        assert.strictEqual(meta.success.sopInstanceUid, "1.2.3.4.5")
      }
    }
  })

  it.effect("readSendableMeta on random and tiny files fails typed, never with a defect", () =>
    Effect.gen(function* () {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "sniff-fuzz-"))
      try {
        const fixed = [
          new Uint8Array(0),
          new Uint8Array([0x08]),
          new Uint8Array([0x08, 0x00]),
          new Uint8Array([0x08, 0x00, 0x05]),
          PREAMBLE,
          cat(PREAMBLE, DICM),
          cat(PREAMBLE, DICM, new Uint8Array([2, 0])),
          cat(PREAMBLE, new Uint8Array([0x44, 0x49, 0x43])),
          ...BARES.map((b) => cat(PREAMBLE, b))
        ]
        const randoms = fc.sample(prefix, { numRuns: 150, seed: 20 })
        let i = 0
        for (const bytes of [...fixed, ...randoms]) {
          const file = Path.join(dir, `f${i++}`)
          Fs.writeFileSync(file, bytes)
          const exit = yield* Effect.exit(Part10.readSendableMeta(file))
          if (Exit.isFailure(exit)) {
            const error = Cause.findErrorOption(exit.cause)
            assert.isTrue(error._tag === "Some", `a defect for ${bytes.length} bytes: ${Cause.pretty(exit.cause)}`)
            if (error._tag === "Some") assert.isTrue(TAGS.has(error.value._tag), error.value._tag)
          } else if (exit.value.sniffed) assert.isTrue(SYNTAXES.has(exit.value.transferSyntaxUid))
        }
      } finally {
        Fs.rmSync(dir, { recursive: true, force: true })
      }
    })
  )
})
