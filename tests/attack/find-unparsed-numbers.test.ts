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
import { element, item, part10File, text } from "../support/elements.ts"

const SC = "1.2.840.10008.5.1.4.1.1.7"
const EXPLICIT = "1.2.840.10008.1.2.1"

const instance = (sop: string): Uint8Array =>
  part10File(SC, sop, [
    text(8, 0x16, "UI", SC),
    text(8, 0x18, "UI", sop),
    // an item whose DS has a value that does not parse: answered whole for a sequence key without sub-keys
    element(
      8,
      0x1032,
      "SQ",
      item(Buffer.concat([text(8, 0x100, "SH", "X1"), text(0x18, 0x50, "DS", "NaN\\2"), text(0x20, 0x13, "IS", "--1")]))
    ),
    text(0x10, 0x10, "PN", "Numbers^Bad"),
    text(0x10, 0x20, "LO", "NUM1"),
    text(0x18, 0x50, "DS", "1e999\\NaN\\--1\\10"),
    text(0x20, 0x0d, "UI", "9.8"),
    text(0x20, 0x0e, "UI", "9.8.1"),
    text(0x20, 0x13, "IS", "--1"),
    text(0x28, 0x30, "DS", "\\")
  ])

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
