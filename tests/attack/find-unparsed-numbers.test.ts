/**
 * An instance whose numbers do not parse (DS "1e999", "NaN", IS "--1": dcmjs reads each as null) answered by the
 * archive's C-FIND: the identifier must still be one the SCP can encode. A multi-valued DS holding such a value (an
 * array with a null) made dcmjs's writer throw, and the SCP dropped the match with only a warning in its log, so
 * the instance vanished from every C-FIND that asked for that attribute.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { DataSet } from "@netdicom/net"
import { Archive } from "../../packages/archive/src/Archive.ts"
import { find, tempDir, withArchive } from "../../packages/archive/test/fixtures.ts"

const SC = "1.2.840.10008.5.1.4.1.1.7"
const EXPLICIT = "1.2.840.10008.1.2.1"

const element = (group: number, elem: number, vr: string, bytes: Uint8Array): Uint8Array => {
  const padded = bytes.length % 2 === 1 ? Uint8Array.from([...bytes, vr === "UI" || vr === "OB" ? 0 : 0x20]) : bytes
  const long = vr === "OB" || vr === "SQ"
  const head = new Uint8Array(long ? 12 : 8)
  const view = new DataView(head.buffer)
  view.setUint16(0, group, true)
  view.setUint16(2, elem, true)
  head[4] = vr.charCodeAt(0)
  head[5] = vr.charCodeAt(1)
  if (long) view.setUint32(8, padded.length, true)
  else view.setUint16(6, padded.length, true)
  return Uint8Array.from([...head, ...padded])
}
const text = (group: number, elem: number, vr: string, value: string) =>
  element(group, elem, vr, new TextEncoder().encode(value))

const join = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

const item = (body: Uint8Array) => {
  const head = new Uint8Array(8)
  const view = new DataView(head.buffer)
  view.setUint16(0, 0xfffe, true)
  view.setUint16(2, 0xe000, true)
  view.setUint32(4, body.length, true)
  return join([head, body])
}

const instance = (sop: string): Uint8Array => {
  const body = join([
    element(2, 1, "OB", Uint8Array.of(0, 1)),
    text(2, 2, "UI", SC),
    text(2, 3, "UI", sop),
    text(2, 0x10, "UI", EXPLICIT)
  ])
  const length = new Uint8Array(4)
  new DataView(length.buffer).setUint32(0, body.length, true)
  const preamble = new Uint8Array(132)
  preamble.set(new TextEncoder().encode("DICM"), 128)
  return join([
    preamble,
    element(2, 0, "UL", length),
    body,
    text(8, 0x16, "UI", SC),
    text(8, 0x18, "UI", sop),
    // an item whose DS has a value that does not parse: answered whole for a sequence key without sub-keys
    element(
      8,
      0x1032,
      "SQ",
      item(join([text(8, 0x100, "SH", "X1"), text(0x18, 0x50, "DS", "NaN\\2"), text(0x20, 0x13, "IS", "--1")]))
    ),
    text(0x10, 0x10, "PN", "Numbers^Bad"),
    text(0x10, 0x20, "LO", "NUM1"),
    text(0x18, 0x50, "DS", "1e999\\NaN\\--1\\10"),
    text(0x20, 0x0d, "UI", "9.8"),
    text(0x20, 0x0e, "UI", "9.8.1"),
    text(0x20, 0x13, "IS", "--1"),
    text(0x28, 0x30, "DS", "\\")
  ])
}

describe("C-FIND of an instance whose numbers do not parse", () => {
  it.effect("is answered with an identifier the SCP can encode", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* withArchive(
        dir,
        Effect.gen(function* () {
          yield* (yield* Archive).store(instance("9.8.1.1"))
          const images = yield* find({
            QueryRetrieveLevel: "IMAGE",
            StudyInstanceUID: "9.8",
            SeriesInstanceUID: "9.8.1",
            SOPInstanceUID: "",
            SliceThickness: "",
            InstanceNumber: "",
            PixelSpacing: "",
            ProcedureCodeSequence: []
          })
          assert.strictEqual(images.length, 1)
          for (const syntax of [EXPLICIT, "1.2.840.10008.1.2"]) {
            const encoded = DataSet.encode(images[0]!, syntax)
            assert.isTrue(Result.isSuccess(encoded), Result.isFailure(encoded) ? encoded.failure.message : "")
            if (Result.isFailure(encoded)) continue
            const back = DataSet.decode(encoded.success, syntax)
            assert.isTrue(Result.isSuccess(back))
            if (Result.isFailure(back)) continue
            // the numbers that parsed are answered, the others as empty values in their place
            assert.deepStrictEqual(back.success["SliceThickness"], [null, null, null, 10])
            assert.strictEqual(back.success["SOPInstanceUID"], "9.8.1.1")
            const items = back.success["ProcedureCodeSequence"] as ReadonlyArray<Record<string, unknown>>
            assert.deepStrictEqual(items[0]?.["SliceThickness"], [null, 2])
            assert.strictEqual(items[0]?.["CodeValue"], "X1")
          }
        })
      )
    })
  )
})
