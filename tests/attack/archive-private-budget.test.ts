/**
 * The archive's index keeps at most `ArchiveIndex.INDEX_ATTRIBUTES_LIMIT` of JSON per row: a peer's instance whose
 * private elements (group 0009, before the patient's and the study's groups) fill that budget must not push the
 * standard attributes out of it, which would make the instance unfindable by Patient's Name and answer it without one.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Archive } from "../../packages/archive/src/Archive.ts"
import { find, tempDir, withArchive } from "../../packages/archive/test/fixtures.ts"

const SC = "1.2.840.10008.5.1.4.1.1.7"

const element = (group: number, elem: number, vr: string, text: string): Uint8Array => {
  let bytes = new TextEncoder().encode(text)
  if (bytes.length % 2 === 1) bytes = Uint8Array.from([...bytes, vr === "UI" || vr === "OB" ? 0 : 0x20])
  const long = vr === "OB" || vr === "UT"
  const head = new Uint8Array(long ? 12 : 8)
  const view = new DataView(head.buffer)
  view.setUint16(0, group, true)
  view.setUint16(2, elem, true)
  head[4] = vr.charCodeAt(0)
  head[5] = vr.charCodeAt(1)
  if (long) view.setUint32(8, bytes.length, true)
  else view.setUint16(6, bytes.length, true)
  return Uint8Array.from([...head, ...bytes])
}

const join = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

const instance = (sop: string, privates: number): Uint8Array => {
  const body = join([
    element(2, 1, "OB", "\0\u0001"),
    element(2, 2, "UI", SC),
    element(2, 3, "UI", sop),
    element(2, 0x10, "UI", "1.2.840.10008.1.2.1")
  ])
  const length = new Uint8Array(4)
  new DataView(length.buffer).setUint32(0, body.length, true)
  const preamble = new Uint8Array(132)
  preamble.set(new TextEncoder().encode("DICM"), 128)
  return join([
    preamble,
    element(2, 0, "UL", String.fromCharCode(...length)),
    body,
    element(8, 0x16, "UI", SC),
    element(8, 0x18, "UI", sop),
    // 30,000 private LO values "AB": ~360,000 of JSON with their keys, over the 262,144 a row keeps
    ...Array.from({ length: privates }, (_, i) => element(9, 0x1000 + i, "LO", "AB")),
    element(0x10, 0x10, "PN", "Budget^Pat"),
    element(0x10, 0x20, "LO", "BUDGET1"),
    element(0x20, 0x0d, "UI", "9.7"),
    element(0x20, 0x0e, "UI", "9.7.1"),
    element(0x20, 0x13, "IS", "5")
  ])
}

describe("the index's budget of attributes per row", () => {
  it.effect("private elements filling it leave the standard attributes in: matched and answered", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* withArchive(
        dir,
        Effect.gen(function* () {
          yield* (yield* Archive).store(instance("9.7.1.1", 30_000))
          const images = yield* find({
            QueryRetrieveLevel: "IMAGE",
            StudyInstanceUID: "9.7",
            SeriesInstanceUID: "9.7.1",
            InstanceNumber: "5"
          })
          assert.strictEqual(images.length, 1)
          assert.strictEqual(images[0]?.["InstanceNumber"], 5)
          const studies = yield* find({ QueryRetrieveLevel: "STUDY", PatientName: "Budget*", PatientID: "" })
          assert.strictEqual(studies[0]?.["PatientName"] !== undefined, true)
          assert.strictEqual(studies.length, 1)
          assert.strictEqual(studies[0]?.["PatientID"], "BUDGET1")
        })
      )
    })
  )
})
