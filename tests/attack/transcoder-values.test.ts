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

describe("Transcoder output pieces", () => {
  it("a data set of many empty elements comes out in few pieces, not one small array per header", () => {
    // 200,000 zero-length private elements in Implicit VR LE (1.6 MB): each was its own 8- or 12-byte Uint8Array
    // (15 MiB of such in memory took 922 MiB RSS and 2 s), now headers and small values share blocks.
    const n = 200_000
    const bytes = new Uint8Array(n * 8)
    const v = new DataView(bytes.buffer)
    for (let i = 0; i < n; i++) {
      v.setUint16(i * 8, 0x0011, true)
      v.setUint16(i * 8 + 2, 0x1000 + (i % 0xe000), true)
    }
    for (const to of [EXPLICIT_LE, EXPLICIT_BE]) {
      const t = Transcoder.make(IMPLICIT_LE, to, vrOf)!
      const pieces = t.push(bytes)
      assert.isBelow(pieces.length, 1_000, to)
      const whole = Buffer.concat([...pieces])
      assert.strictEqual(whole.length, n * 12, to)
      // the last element's header, as the output syntax writes it: (0011,xxxx) UN, reserved, length 0
      const last = 0x1000 + ((n - 1) % 0xe000)
      const tail = whole.subarray(whole.length - 12)
      const little = to === EXPLICIT_LE
      assert.strictEqual(little ? tail.readUInt16LE(2) : tail.readUInt16BE(2), last, to)
      assert.strictEqual(tail.subarray(4, 6).toString("latin1"), "UN", to)
    }
  })

  it("short swapped values and odd trailing bytes, fed a byte at a time, come out as fed whole", () => {
    // (0028,0010) US 2, (0028,0011) US 2, (0018,1310) US 8, (0028,1052) DS, (0018,0088) DS odd, Pixel Data OW 6
    const el = (g: number, e: number, value: Uint8Array) => {
      const h = Buffer.alloc(8)
      h.writeUInt16LE(g, 0)
      h.writeUInt16LE(e, 2)
      h.writeUInt32LE(value.length, 4)
      return Buffer.concat([h, value])
    }
    const input = new Uint8Array(
      Buffer.concat([
        el(0x0018, 0x1310, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)),
        el(0x0028, 0x0010, Uint8Array.of(0x00, 0x02)),
        el(0x0028, 0x0011, Uint8Array.of(0x01, 0x02, 0x03)),
        el(0x0028, 0x1052, Buffer.from("-1024 ")),
        el(0x7fe0, 0x0010, Uint8Array.of(1, 2, 3, 4, 5, 6))
      ])
    )
    for (const to of [EXPLICIT_LE, EXPLICIT_BE]) {
      const whole = run(IMPLICIT_LE, to, input) as Uint8Array
      const t = Transcoder.make(IMPLICIT_LE, to, vrOf)!
      const pieces: Array<Uint8Array> = []
      for (let i = 0; i < input.length; i++) pieces.push(...t.push(input.subarray(i, i + 1)).map((p) => p.slice()))
      const end = t.finish()
      assert.isTrue("bytes" in end)
      assert.strictEqual(Buffer.concat(pieces).toString("hex"), Buffer.from(whole).toString("hex"), to)
    }
    const big = run(IMPLICIT_LE, EXPLICIT_BE, input) as Uint8Array
    // US 0x0200 little endian becomes 02 00 big endian; the 3-byte US keeps its odd last byte; OW words swapped
    assert.include(Buffer.from(big).toString("hex"), "00280010555300020200")
    assert.include(Buffer.from(big).toString("hex"), "00280011555300030201" + "03")
    assert.isTrue(Buffer.from(big).toString("hex").endsWith("020104030605"))
  })
})
