/**
 * Zero-length elements (C-FIND return keys) are written and read by `DataSet` itself, not by dcmjs: the bytes are
 * those dcmjs writes, the values those it reads, and an identifier of thousands of return keys costs no dcmjs call
 * per key (counted here, not timed).
 */
import { createRequire } from "node:module"
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as DataSet from "../src/dimse/DataSet.ts"

const IMPLICIT = "1.2.840.10008.1.2"
const EXPLICIT = "1.2.840.10008.1.2.1"
const DEFLATED = "1.2.840.10008.1.2.1.99"
const BIG = "1.2.840.10008.1.2.2"

interface Dcmjs {
  readonly data: {
    readonly DicomMessage: {
      write(dict: object, stream: unknown, syntax: string, options: object): number
      _readTag(...args: Array<unknown>): unknown
    }
    readonly DicomMetaDictionary: { denaturalizeDataset(dataset: object): Record<string, unknown> }
    readonly WriteBufferStream: new (size: number, littleEndian: boolean) => { getBuffer(): ArrayBuffer }
    readonly Tag: { readonly prototype: { write(...args: Array<unknown>): number } }
  }
}
const dcmjs = createRequire(import.meta.url)("dcmjs") as Dcmjs

/** What dcmjs alone writes for a data set of dictionary keywords (`null` for an empty value). */
const dcmjsBytes = (dataset: Record<string, unknown>, syntax: string): Uint8Array => {
  const { DicomMessage, DicomMetaDictionary, WriteBufferStream } = dcmjs.data
  const stream = new WriteBufferStream(4096, syntax !== BIG)
  DicomMessage.write(DicomMetaDictionary.denaturalizeDataset(dataset), stream, syntax, { allowInvalidVRLength: false })
  return new Uint8Array(stream.getBuffer())
}

/** Counts dcmjs's element writes and reads while `f` runs. */
const counting = <A>(f: () => A): { readonly result: A; readonly writes: number; readonly reads: number } => {
  const tag = dcmjs.data.Tag.prototype
  const message = dcmjs.data.DicomMessage
  const write = tag.write
  const readTag = message._readTag
  let writes = 0
  let reads = 0
  tag.write = function (this: unknown, ...args) {
    writes++
    return write.apply(this, args)
  }
  message._readTag = function (this: unknown, ...args) {
    reads++
    return readTag.apply(this, args)
  }
  try {
    return { result: f(), writes, reads }
  } finally {
    tag.write = write
    message._readTag = readTag
  }
}

const hex = (tag: number) => tag.toString(16).toUpperCase().padStart(8, "0")

describe("zero-length elements", () => {
  const mixed = {
    PatientID: "12345",
    PatientName: "",
    StudyDate: null,
    StudyInstanceUID: "1.2.3.4",
    Modality: [""],
    AccessionNumber: [],
    ReferencedStudySequence: [],
    StudyDescription: "HEAD",
    SpecificCharacterSet: "",
    NumberOfStudyRelatedInstances: ""
  }
  const asDcmjs = Object.fromEntries(
    Object.entries(mixed).map(([k, v]) => [k, v === "" || (Array.isArray(v) && v[0] === "") ? null : v])
  )

  it("are written in tag order among the other elements, byte for byte as dcmjs writes them", () => {
    for (const syntax of [IMPLICIT, EXPLICIT, BIG]) {
      const ours = Result.getOrThrow(DataSet.encode(mixed, syntax))
      assert.deepStrictEqual(
        Buffer.from(ours).toString("hex"),
        Buffer.from(dcmjsBytes(asDcmjs, syntax)).toString("hex")
      )
      const tags = Result.getOrThrow(DataSet.scan(ours, syntax)).map((e) => e.tag)
      assert.deepStrictEqual(
        tags,
        [...tags].sort((a, b) => a - b)
      )
    }
  })

  it("decode as empty strings (a sequence as []), in every syntax", () => {
    for (const syntax of [IMPLICIT, EXPLICIT, BIG, DEFLATED]) {
      const decoded = Result.getOrThrow(DataSet.decode(Result.getOrThrow(DataSet.encode(mixed, syntax)), syntax))
      assert.deepStrictEqual(decoded, {
        SpecificCharacterSet: "",
        StudyDate: "",
        AccessionNumber: "",
        Modality: "",
        StudyDescription: "HEAD",
        ReferencedStudySequence: [],
        PatientName: "",
        PatientID: "12345",
        StudyInstanceUID: "1.2.3.4",
        NumberOfStudyRelatedInstances: ""
      })
    }
  })

  it("of private tags keep their VR: written, and UN or LO (a private creator) in Implicit VR", () => {
    const ds = { "00090010": "", "00091010": "", "00091011": "", _vrMap: { "00090010": "LO", "00091011": "SH" } }
    const explicit = Result.getOrThrow(DataSet.decode(Result.getOrThrow(DataSet.encode(ds, EXPLICIT)), EXPLICIT))
    assert.deepStrictEqual(explicit, {
      "00090010": "",
      "00091010": "",
      "00091011": "",
      _vrMap: { "00090010": "LO", "00091010": "UN", "00091011": "SH" }
    })
    const implicit = Result.getOrThrow(DataSet.decode(Result.getOrThrow(DataSet.encode(ds, IMPLICIT)), IMPLICIT))
    assert.deepStrictEqual(implicit, {
      "00090010": "",
      "00091010": "",
      "00091011": "",
      _vrMap: { "00090010": "LO", "00091010": "UN", "00091011": "UN" }
    })
  })

  it("two keys naming one tag are left to dcmjs, which writes one element", () => {
    for (const syntax of [IMPLICIT, EXPLICIT]) {
      const bytes = Result.getOrThrow(DataSet.encode({ PatientName: "", "00100010": "", PatientID: "" }, syntax))
      assert.deepStrictEqual(
        Result.getOrThrow(DataSet.scan(bytes, syntax)).map((e) => e.tag),
        [0x00100010, 0x00100020]
      )
    }
  })

  it("8,000 return keys cost dcmjs no element write or read", () => {
    const identifier: Record<string, unknown> = { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" }
    for (let e = 0; e < 8000; e++) identifier[hex(0x00091000 + e)] = ""
    for (const syntax of [IMPLICIT, EXPLICIT]) {
      const encoded = counting(() => Result.getOrThrow(DataSet.encode(identifier, syntax)))
      assert.strictEqual(encoded.writes, 2) // QueryRetrieveLevel, StudyInstanceUID
      assert.strictEqual(Result.getOrThrow(DataSet.scan(encoded.result, syntax)).length, 8002)
      const decoded = counting(() => Result.getOrThrow(DataSet.decode(encoded.result, syntax)))
      assert.strictEqual(decoded.reads, 2)
      assert.strictEqual(Object.keys(decoded.result).length, 8003) // and _vrMap
      assert.strictEqual(decoded.result["00092F3F"], "")
    }
  })
})

describe("dictionary look-ups", () => {
  it("dcmjs knows no odd group outside its repeating-group ranges (50xx, 60xx, 7Fxx), which DataSet never asks", () => {
    const dictionary = (
      createRequire(import.meta.url)("dcmjs") as {
        data: { DicomMetaDictionary: { dictionary: Record<string, unknown> } }
      }
    ).data.DicomMetaDictionary.dictionary
    const elements = [0x0000, 0x0005, 0x0010, 0x00ff, 0x0100, 0x1000, 0x1010, 0x3000, 0xffff]
    const known: Array<string> = []
    for (let group = 1; group < 0x10000; group += 2) {
      const ranged =
        (group >= 0x5000 && group <= 0x50ff) ||
        (group >= 0x6000 && group <= 0x60ff) ||
        (group >= 0x7f00 && group <= 0x7fff)
      if (ranged) continue
      for (const element of elements) {
        const key = `(${hex(group * 0x10000 + element).slice(0, 4)},${hex(element).slice(4)})`
        if (dictionary[key] !== undefined) known.push(key)
      }
    }
    assert.deepStrictEqual(known, [])
    // within a range an odd group is dcmjs's: (6001,3000) reads as Overlay Data (its "ox" read as OW by dcmjs)
    const bytes = Uint8Array.from([0x01, 0x60, 0x00, 0x30, 0, 0, 0, 0, 0x09, 0x00, 0x10, 0x10, 0, 0, 0, 0])
    assert.deepStrictEqual(Result.getOrThrow(DataSet.decode(bytes, IMPLICIT)), {
      OverlayData: "",
      "00091010": "",
      _vrMap: { OverlayData: "OW", "00091010": "UN" }
    })
  })
})
