/**
 * The native re-encoder (`wire/Transcoder`) on values a sender may really hold: a value too long for its VR's 2-byte
 * length goes out as UN, whose value is little endian in every syntax (PS3.5 6.2.2 note), so it must not be byte
 * swapped into Explicit VR Big Endian (DCMTK `dcmdump +uc` read Graphic Data as 8.8e-44... instead of 0.5, 1.5...,
 * and Implicit -> Big Endian -> Implicit did not give the same bytes back); and a VR that is not one of PS3.5's
 * (a corrupted "CS" read as "CP") is refused as the data set decoder refuses it, not passed on with a guessed header.
 */
import { assert, describe, it } from "@effect/vitest"
import { Transcoder } from "@netdicom/wire"
import { vrOf } from "../../packages/net/src/dimse/Transcode.ts"

const IMPLICIT_LE = "1.2.840.10008.1.2"
const EXPLICIT_LE = "1.2.840.10008.1.2.1"
const EXPLICIT_BE = "1.2.840.10008.1.2.2"

const run = (from: string, to: string, bytes: Uint8Array): Uint8Array | string => {
  const t = Transcoder.make(from, to, vrOf)!
  const out = [...t.push(bytes)]
  const end = t.finish()
  if (!("bytes" in end)) return end.detail
  return new Uint8Array(Buffer.concat([...out, ...end.bytes]))
}

// Graphic Data (0070,0022), FL, 17,500 floats 0.5, 1.5...: 70,000 bytes, past an explicit FL's 2-byte length.
const graphicData = (): Uint8Array => {
  const value = new Uint8Array(70_000)
  const v = new DataView(value.buffer)
  for (let i = 0; i < value.length / 4; i++) v.setFloat32(i * 4, i + 0.5, true)
  return value
}

describe("Transcoder values", () => {
  it("a long FL written as UN into Explicit VR Big Endian keeps its little-endian bytes, and comes back the same", () => {
    const value = graphicData()
    const head = new Uint8Array(8)
    const h = new DataView(head.buffer)
    h.setUint16(0, 0x0070, true)
    h.setUint16(2, 0x0022, true)
    h.setUint32(4, value.length, true)
    const implicit = new Uint8Array(Buffer.concat([head, value]))

    const big = run(IMPLICIT_LE, EXPLICIT_BE, implicit)
    assert.instanceOf(big, Uint8Array)
    const out = big as Uint8Array
    assert.strictEqual(Buffer.from(out.subarray(0, 12)).toString("hex"), "00700022554e000000011170")
    assert.strictEqual(new DataView(out.buffer, out.byteOffset + 12).getFloat32(4, true), 1.5)
    assert.isTrue(Buffer.from(out.subarray(12)).equals(Buffer.from(value)))

    const back = run(EXPLICIT_BE, IMPLICIT_LE, out)
    assert.isTrue(Buffer.from(back as Uint8Array).equals(Buffer.from(implicit)))
  })

  it("an explicit VR that is not one of PS3.5's is refused, whatever the output syntax", () => {
    // (0028,0004) "CP" length 12 "MONOCHROME2 " in Explicit VR Little Endian
    const bytes = new Uint8Array(
      Buffer.concat([Buffer.from([0x28, 0, 4, 0, 0x43, 0x50, 12, 0]), Buffer.from("MONOCHROME2 ")])
    )
    for (const to of [IMPLICIT_LE, EXPLICIT_BE]) assert.match(run(EXPLICIT_LE, to, bytes) as string, /no valid VR/, to)
    // the same with a VR of PS3.5 goes through
    bytes[5] = 0x53
    for (const to of [IMPLICIT_LE, EXPLICIT_BE]) assert.instanceOf(run(EXPLICIT_LE, to, bytes), Uint8Array, to)
  })
})
