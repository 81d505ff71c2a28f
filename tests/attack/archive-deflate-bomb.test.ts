/**
 * A deflated data set whose few deflated megabytes inflate to a gigabyte (a long OB value of zeros after the UIDs):
 * the archive's header reader gave dcmjs prefixes of the deflated bytes, which it inflated whole, so one C-STORE of
 * 1 MiB took ~6 s of CPU and ~3 GiB of memory in the header alone (4 MiB of it, the header limit, ~4 GiB: the
 * process dies). Now dcmjs is given at most what inflates to 4 x the header limit, cut at the bulk value.
 */
import * as Zlib from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Header from "../../packages/archive/src/Header.ts"

const element = (group: number, elem: number, vr: string, value: string | Uint8Array, length?: number): Buffer => {
  let bytes = typeof value === "string" ? Buffer.from(value, "latin1") : Buffer.from(value)
  if (bytes.length % 2 === 1) bytes = Buffer.concat([bytes, Buffer.from([0])])
  const long = vr === "OB"
  const head = Buffer.alloc(long ? 12 : 8)
  head.writeUInt16LE(group, 0)
  head.writeUInt16LE(elem, 2)
  head.write(vr, 4, "latin1")
  if (long) head.writeUInt32LE(length ?? bytes.length, 8)
  else head.writeUInt16LE(bytes.length, 6)
  return Buffer.concat([head, bytes])
}

const bomb = async (mib: number): Promise<Array<Uint8Array>> => {
  const body = Buffer.concat([
    element(2, 1, "OB", new Uint8Array([0, 1])),
    element(2, 2, "UI", "1.2.840.10008.5.1.4.1.1.7"),
    element(2, 3, "UI", "4.1.1.1"),
    element(2, 0x10, "UI", "1.2.840.10008.1.2.1.99")
  ])
  const preamble = Buffer.alloc(132)
  preamble.write("DICM", 128, "latin1")
  const length = Buffer.alloc(4)
  length.writeUInt32LE(body.length)
  const meta = Buffer.concat([preamble, element(2, 0, "UL", length), body])
  const deflater = Zlib.createDeflateRaw({ level: 9 })
  const parts: Array<Buffer> = []
  deflater.on("data", (d: Buffer) => parts.push(d))
  deflater.write(
    Buffer.concat([
      element(8, 0x16, "UI", "1.2.840.10008.5.1.4.1.1.7"),
      element(8, 0x18, "UI", "4.1.1.1"),
      element(0x20, 0x0d, "UI", "4.1"),
      element(0x20, 0x0e, "UI", "4.1.1"),
      element(0x42, 0x11, "OB", new Uint8Array(0), mib << 20)
    ])
  )
  const zeros = Buffer.alloc(1 << 20)
  for (let i = 0; i < mib; i++) deflater.write(zeros)
  await new Promise<void>((resolve) => deflater.end(() => resolve()))
  const deflated = Buffer.concat(parts)
  const chunks: Array<Uint8Array> = [meta]
  for (let at = 0; at < deflated.length; at += 65536) chunks.push(deflated.subarray(at, at + 65536))
  return chunks
}

describe("archive header of a deflate bomb", () => {
  it.live("512 MiB of zeros deflated: the header is read in bounded memory and time", () =>
    Effect.gen(function* () {
      const chunks = yield* Effect.promise(() => bomb(512))
      const before = process.memoryUsage()
      let peak = before.rss
      const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2)
      const started = performance.now()
      const peeked = yield* Header.peek(chunks).pipe(Effect.ensuring(Effect.sync(() => clearInterval(timer))))
      const ms = performance.now() - started
      peak = Math.max(peak, process.memoryUsage().rss)
      assert.strictEqual(peeked.header.sopInstanceUid, "4.1.1.1")
      assert.strictEqual(peeked.header.studyInstanceUid, "4.1")
      assert.isBelow((peak - before.rss) / (1 << 20), 256, "MiB of RSS grown")
      assert.isBelow(ms, 2500)
    })
  )
})
