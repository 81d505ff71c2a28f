/**
 * `netdicom find` looks every key of every match up in the dictionary (`DicomJson.fromNaturalized`): the answers are
 * kept, so a response of thousands of private keys asks dcmjs once per tag, not once per tag per match (counted).
 */
import { createRequire } from "node:module"
import { assert, describe, it } from "@effect/vitest"
import * as DicomJson from "../src/DicomJson.ts"

interface Dcmjs {
  readonly data: { readonly DicomMetaDictionary: { dictionary: Record<string, unknown> } }
}
const dictionaries = (createRequire(import.meta.url)("dcmjs") as Dcmjs).data.DicomMetaDictionary

describe("Dictionary look-ups of DICOM JSON", () => {
  it("ask dcmjs once per tag however many matches carry it, with the same answers", () => {
    const original = dictionaries.dictionary
    let asked = 0
    dictionaries.dictionary = new Proxy(original, {
      get: (target, key) => {
        asked++
        return Reflect.get(target, key)
      }
    })
    try {
      const match: Record<string, unknown> = { "00100010": "DOE^JOHN", "60013000": "" }
      for (let e = 0; e < 2000; e++) match[`0019${(0x1000 + e).toString(16).toUpperCase()}`] = ""
      const first = DicomJson.fromNaturalized(match)
      const once = asked
      assert.isAtMost(once, 2002)
      for (let i = 0; i < 10; i++) assert.deepStrictEqual(DicomJson.fromNaturalized(match), first)
      assert.strictEqual(asked, once)
      assert.deepStrictEqual(first["00100010"], { vr: "PN", Value: [{ Alphabetic: "DOE^JOHN" }] })
      assert.deepStrictEqual(first["60013000"], { vr: "OB" }) // OverlayData's range in dcmjs's dictionary
      assert.deepStrictEqual(first["00191000"], { vr: "UN" })
    } finally {
      dictionaries.dictionary = original
    }
  })
})
