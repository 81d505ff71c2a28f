import * as Fs from "node:fs"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import * as Dcmjs from "../src/internal/Dcmjs.ts"
import { stripBinary } from "../src/internal/StripBinary.ts"
import { CT, part10 } from "./fixtures.ts"

// The copy Header made before the loops: filter/map/Object.entries, kept here as the reference
const isBinary = (value: unknown): boolean => value instanceof ArrayBuffer || ArrayBuffer.isView(value)
const reference = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.filter((v) => !isBinary(v)).map(reference)
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) {
      if (isBinary(v) || (Array.isArray(v) && v.length > 0 && v.every(isBinary))) continue
      out[k] = reference(v)
    }
    return out
  }
  return value
}

// naturalized-like values: text, numbers, null, binary, sparse arrays, arrays carrying a toJSON as dcmjs's PN do
const leaf = fc.oneof(
  fc.string(),
  fc.double(),
  fc.integer(),
  fc.constant(null),
  fc.constant(undefined),
  fc.uint8Array({ maxLength: 4 }),
  fc.uint8Array({ maxLength: 4 }).map((a) => a.buffer),
  fc.float32Array({ maxLength: 2 })
)
const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("array"), tie("object"), tie("withToJson")),
  array: fc.sparseArray(tie("value"), { maxLength: 5 }),
  object: fc.dictionary(fc.string({ maxLength: 6 }), tie("value"), { maxKeys: 5 }),
  withToJson: fc.array(tie("value"), { maxLength: 3 }).map((a) => {
    Object.defineProperty(a, "toJSON", { value: () => "dcmjs", enumerable: false })
    return a
  })
}))

describe("stripBinary", () => {
  it("copies as the filter/map/entries version did, on random naturalized-like values", () => {
    fc.assert(
      fc.property(value, (v) => {
        const out = stripBinary(v)
        assert.deepStrictEqual(out, reference(v))
        assert.strictEqual(JSON.stringify(out), JSON.stringify(reference(v)))
      }),
      { numRuns: 2000 }
    )
  })

  it("leaves no binary value and no dcmjs toJSON in a naturalized data set", () => {
    const bytes = part10({
      SOPClassUID: CT,
      SOPInstanceUID: "4.1.1.1",
      StudyInstanceUID: "4.1",
      SeriesInstanceUID: "4.1.1",
      PatientID: "P4",
      PatientName: "DOE^JANE",
      ReferencedImageSequence: [{ ReferencedSOPClassUID: CT, ReferencedSOPInstanceUID: "4.1.1.9" }],
      ImageType: ["ORIGINAL", "PRIMARY"]
    })
    const file = Dcmjs.readFile(new Uint8Array(bytes).buffer, { ignoreErrors: false })
    const natural = Dcmjs.naturalize(file.dict)
    const out = stripBinary(natural) as Record<string, unknown>
    assert.deepStrictEqual(out, reference(natural))
    assert.isFalse("PixelData" in out)
    assert.isFalse(Object.hasOwn(out["PatientName"] as object, "toJSON"))
  })

  it("matches the reference on the shared corpus's headers, where present", () => {
    const corpus = "/work/shared/corpus"
    if (!Fs.existsSync(corpus)) return
    const files = Fs.readdirSync(corpus, { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".dcm"))
      .slice(0, 200)
    for (const f of files) {
      const path = Path.join(corpus, f)
      if (Fs.statSync(path).size > 4 * 1024 * 1024) continue
      let natural: Record<string, unknown>
      try {
        const buffer = new Uint8Array(Fs.readFileSync(path)).buffer
        natural = Dcmjs.naturalize(Dcmjs.readFile(buffer, { ignoreErrors: true, untilTag: "7FE00010" }).dict)
      } catch {
        continue // dcmjs refuses it: the Corpus tests cover what Header does then
      }
      assert.deepStrictEqual(stripBinary(natural), reference(natural), f)
    }
  })
})
