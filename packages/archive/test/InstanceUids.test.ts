/**
 * `InstanceUids` against `Header` (dcmjs): the same UIDs, transfer syntax and data set offset for built instances in
 * several transfer syntaxes and for every corpus file `Header` reads (the corpus of `Corpus.test.ts`, read in place;
 * skipped with a message when absent), from whole bytes and from chunks of any size; and refusals.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import * as Header from "../src/Header.ts"
import * as InstanceUids from "../src/InstanceUids.ts"
import * as Part10 from "../src/Part10.ts"
import { corpusDir, corpusFile } from "../../../tests/support/peers.ts"
import { writePart10 } from "../src/internal/Dcmjs.ts"
import { CT, EXPLICIT_LE, IMPLICIT_LE, instance, part10, patch } from "./fixtures.ts"

const CORPUS = corpusDir()
const present = corpusFile("CT_small.dcm") !== undefined
if (!present) {
  console.warn(`InstanceUids.test.ts: ${CORPUS} (with CT_small.dcm) is not there (set NETDICOM_CORPUS): skipping it`)
}

const minimal = {
  SOPClassUID: CT,
  SOPInstanceUID: "1.2.3.4.5",
  StudyInstanceUID: "1.2.3",
  SeriesInstanceUID: "1.2.3.4",
  PatientID: "P1"
}

const spec = { patientId: "P1", patientName: "Doe^Jane", study: "1.2.3", series: "1.2.3.4", sop: "1.2.3.4.5" }

const expected = (header: Header.Header): InstanceUids.InstanceUids => ({
  transferSyntaxUid: header.transferSyntaxUid,
  dataSetOffset: header.dataSetOffset,
  sopClassUid: header.sopClassUid,
  sopInstanceUid: header.sopInstanceUid,
  studyInstanceUid: header.studyInstanceUid,
  seriesInstanceUid: header.seriesInstanceUid
})

function* pieces(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.slice(at, at + size)
}

const collect = async (chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> => {
  const parts: Array<Uint8Array> = []
  for await (const c of chunks) parts.push(c)
  return Buffer.concat(parts)
}

/** Reads `bytes` whole and in chunks of each size: every reading gives the same UIDs and every byte back. */
const readEveryWay = (bytes: Uint8Array, sizes: ReadonlyArray<number> = [1, 7, 100, 4096, bytes.length]) =>
  Effect.gen(function* () {
    const whole = yield* Effect.fromResult(InstanceUids.fromBytes(bytes))
    for (const size of sizes) {
      const peeked = yield* InstanceUids.peek(pieces(bytes, size))
      assert.deepStrictEqual(peeked.uids, whole, `chunks of ${size}`)
      const again = yield* Effect.promise(() => collect(peeked.bytes))
      assert.isTrue(Buffer.from(again).equals(Buffer.from(bytes)), `chunks of ${size}: bytes given back`)
    }
    return whole
  })

const refusal = (bytes: Uint8Array) =>
  Effect.gen(function* () {
    const whole = InstanceUids.fromBytes(bytes)
    assert.isTrue(Result.isFailure(whole))
    const streamed = yield* Effect.flip(InstanceUids.peek(pieces(bytes, 64)))
    assert.strictEqual(streamed._tag, "InvalidInstance")
    return Result.isFailure(whole) ? whole.failure.reason : ""
  })

describe("InstanceUids", () => {
  it.effect("reads what Header reads, in Explicit and Implicit VR Little Endian, whole or in chunks", () =>
    Effect.gen(function* () {
      for (const bytes of [instance(spec), part10(minimal, IMPLICIT_LE)]) {
        const uids = yield* readEveryWay(bytes)
        const header = yield* Effect.fromResult(Header.fromBytes(bytes))
        assert.deepStrictEqual(uids, expected(header))
      }
    })
  )

  it.effect("takes the SOP UIDs from the data set when the meta has none, however the bytes are cut", () =>
    Effect.gen(function* () {
      const meta = { FileMetaInformationVersion: new Uint8Array([0, 1]).buffer, TransferSyntaxUID: EXPLICIT_LE }
      const bytes = writePart10(meta, { ...minimal, PixelData: new Uint8Array(8).buffer, _vrMap: { PixelData: "OW" } })
      const uids = yield* readEveryWay(bytes)
      assert.deepStrictEqual(uids, expected(yield* Effect.fromResult(Header.fromBytes(bytes))))
      assert.strictEqual(uids.sopInstanceUid, "1.2.3.4.5")
    })
  )

  it.effect("takes the first value of a UID, without its padding", () =>
    Effect.gen(function* () {
      // same lengths as the placeholders: "1.2.3.9\0" pads with a NUL, "7.7\\8.8  " is two values padded with spaces
      const study = patch(instance({ ...spec, study: "1.2.3.99" }), "1.2.3.99", "1.2.3.9\0")
      const bytes = patch(study, "1.2.3.4.5", "7.7\\8.8  ")
      const uids = yield* readEveryWay(bytes)
      assert.strictEqual(uids.studyInstanceUid, "1.2.3.9")
      assert.strictEqual(uids.sopInstanceUid, "7.7")
    })
  )

  it.effect("refuses an instance without Series Instance UID, a cut data set, bytes that are not Part 10", () =>
    Effect.gen(function* () {
      const { SeriesInstanceUID: _, ...noSeriesUid } = minimal
      const noSeries = part10(noSeriesUid)
      assert.strictEqual(yield* refusal(noSeries), "no Series Instance UID")
      const bytes = instance(spec)
      // cut inside the value of an element before (0020,000E)
      const cut = bytes.subarray(0, (Part10.dataSetOffset(bytes) ?? 0) + 40)
      assert.match(yield* refusal(cut), /truncated or malformed data set/)
      assert.strictEqual(yield* refusal(bytes.subarray(200)), "no File Meta Information Group Length")
    })
  )

  it.effect("gives a deflated data set to Header", () =>
    Effect.gen(function* () {
      const file = corpusFile("image_dfl.dcm")
      if (file === undefined) return
      const bytes = new Uint8Array(Fs.readFileSync(file))
      assert.strictEqual(InstanceUids.read(bytes, true)._tag, "Deflated")
      const uids = yield* readEveryWay(bytes, [1000, bytes.length])
      assert.deepStrictEqual(uids, expected(yield* Effect.fromResult(Header.fromBytes(bytes))))
    })
  )

  it.effect.skipIf(!present)("agrees with Header on every corpus file Header reads", () =>
    Effect.gen(function* () {
      const all = [CORPUS, Path.join(CORPUS, "charset")].flatMap((dir) =>
        Fs.readdirSync(dir)
          .filter((f) => f.endsWith(".dcm"))
          .map((f) => Path.join(dir, f))
      )
      let compared = 0
      for (const path of all) {
        const bytes = new Uint8Array(Fs.readFileSync(path))
        const header = Header.fromBytes(bytes)
        if (Result.isFailure(header)) continue
        const uids = InstanceUids.fromBytes(bytes)
        assert.isTrue(Result.isSuccess(uids), `${path}: ${Result.isFailure(uids) ? uids.failure.reason : ""}`)
        if (Result.isSuccess(uids)) assert.deepStrictEqual(uids.success, expected(header.success), path)
        const peeked = yield* InstanceUids.peek(pieces(bytes, 1000))
        if (Result.isSuccess(uids)) assert.deepStrictEqual(peeked.uids, uids.success, `${path} in chunks`)
        compared++
      }
      assert.isAbove(compared, 40)
    })
  )
})
