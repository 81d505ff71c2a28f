import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import fc from "fast-check"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as Dimse from "../src/Dimse.ts"
import * as F from "../src/Fragmenter.ts"
import * as PduCodec from "../src/PduCodec.ts"
import type { Pdv } from "../src/Pdv.ts"

// An independent reading of a P-DATA-TF PDU (PS3.8 section 9.3.5), checking every length field.
const parse = (pdu: Uint8Array): Array<Pdv> => {
  const view = new DataView(pdu.buffer, pdu.byteOffset, pdu.byteLength)
  assert.strictEqual(pdu[0], 0x04, "PDU type")
  assert.strictEqual(pdu[1], 0x00, "reserved")
  assert.strictEqual(view.getUint32(2, false), pdu.length - 6, "PDU length")
  const pdvs: Array<Pdv> = []
  for (let at = 6; at < pdu.length;) {
    const length = view.getUint32(at, false)
    const control = pdu[at + 5]!
    assert.strictEqual(control & 0xfc, 0, "reserved control bits")
    pdvs.push({
      presentationContextId: pdu[at + 4]!,
      isCommand: (control & 1) !== 0,
      isLast: (control & 2) !== 0,
      data: pdu.subarray(at + 6, at + 4 + length)
    })
    at += 4 + length
  }
  return pdvs
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

const bytes = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff)

const isExactAllocation = (pdu: Uint8Array): boolean => pdu.byteOffset === 0 && pdu.buffer.byteLength === pdu.length

// Splits `data` into chunks at the given cut points (duplicates give empty chunks).
const chunked = (data: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...cuts.map((c) => c % (data.length + 1)), data.length].sort((a, b) => a - b)
  let from = 0
  return points.map((to) => {
    const chunk = data.slice(from, to)
    from = to
    return chunk
  })
}

// Checks the PDUs of one fragment sequence and returns its bytes.
const checkSequence = (pdus: ReadonlyArray<Uint8Array>, pc: number, isCommand: boolean, maxPdu: number): Uint8Array => {
  const pdvs = pdus.map((pdu) => {
    assert.isTrue(isExactAllocation(pdu), "one exact allocation per PDU")
    if (maxPdu >= 8 || maxPdu === 0) assert.isAtMost(pdu.length - 6, F.effectiveMaxPduLength(maxPdu), "within the max")
    const inner = parse(pdu)
    assert.strictEqual(inner.length, 1)
    return inner[0]!
  })
  pdvs.forEach((pdv, i) => {
    assert.strictEqual(pdv.presentationContextId, pc)
    assert.strictEqual(pdv.isCommand, isCommand)
    assert.strictEqual(pdv.isLast, i === pdvs.length - 1, "only the final PDV is last")
    if (!pdv.isLast) {
      assert.isAbove(pdv.data.length, 0, "no empty non-last PDV")
      if (F.fragmentCapacity(maxPdu) >= 2) assert.strictEqual(pdv.data.length % 2, 0, "even fragments")
    }
  })
  return concat(pdvs.map((p) => p.data))
}

describe("Fragmenter sizes", () => {
  it("fragments for the peer's maximum, or 64 KiB when the peer says 0", () => {
    assert.strictEqual(F.effectiveMaxPduLength(0), 65536)
    assert.strictEqual(F.effectiveMaxPduLength(16384), 16384)
    assert.strictEqual(F.effectiveMaxPduLength(0xffffffff), F.MAX_SEND_PDU_LENGTH)
    assert.strictEqual(F.fragmentCapacity(0), 65530)
    assert.strictEqual(F.fragmentCapacity(16384), 16378)
    assert.strictEqual(F.fragmentCapacity(17), 10)
    assert.strictEqual(F.fragmentCapacity(8), 2)
    assert.strictEqual(F.fragmentCapacity(7), 1)
    assert.strictEqual(F.fragmentCapacity(3), 1)
  })
})

describe("Fragmenter bytes", () => {
  it("lays out a one-PDV P-DATA-TF PDU as PS3.8 says", () => {
    const [pdu, ...rest] = F.fragmentCommand(3, 16384, Uint8Array.of(0xaa, 0xbb, 0xcc, 0xdd))
    assert.strictEqual(rest.length, 0)
    assert.deepStrictEqual(Array.from(pdu!), [0x04, 0x00, 0, 0, 0, 10, 0, 0, 0, 6, 0x03, 0x03, 0xaa, 0xbb, 0xcc, 0xdd])
    assert.isTrue(isExactAllocation(pdu!))
  })

  it("marks data PDVs without the command bit", () => {
    const pdus = F.fragmentDataSet(1, 10, bytes(10))
    assert.deepStrictEqual(
      pdus.map((p) => [p[11], p.length]),
      [
        [0x00, 16],
        [0x00, 16],
        [0x02, 14]
      ]
    )
  })

  it("sends an empty data set as one empty last PDV", () => {
    const [pdu] = F.fragmentDataSet(5, 0, new Uint8Array(0))
    assert.deepStrictEqual(Array.from(pdu!), [0x04, 0, 0, 0, 0, 6, 0, 0, 0, 2, 5, 0x02])
    const streamed = F.makeDataFragmenter(5, 0)
    assert.deepStrictEqual(streamed.push(new Uint8Array(0)), [])
    assert.deepStrictEqual(
      streamed.end().map((p) => Array.from(p)),
      [Array.from(pdu!)]
    )
  })

  it("keeps command and data set in separate PDUs", () => {
    const pdus = F.fragmentMessage(1, 0, bytes(40), bytes(30))
    assert.strictEqual(pdus.length, 2)
    assert.deepStrictEqual(checkSequence(pdus.slice(0, 1), 1, true, 0), bytes(40))
    assert.deepStrictEqual(checkSequence(pdus.slice(1), 1, false, 0), bytes(30))
    assert.strictEqual(F.fragmentMessage(1, 0, bytes(40)).length, 1)
  })

  it("produces PDUs the PDU codec decodes", () => {
    for (const pdu of F.fragmentMessage(7, 100, bytes(250), bytes(333))) {
      const decoded = PduCodec.decodePdu(pdu)
      assert.isTrue(Result.isSuccess(decoded))
      if (Result.isSuccess(decoded) && decoded.success._tag === "PDataTf") {
        assert.deepStrictEqual([...decoded.success.pdvs], parse(pdu))
      } else assert.fail("not a P-DATA-TF")
    }
  })
})

describe("Fragmenter against DCMTK", () => {
  // echoscu 3.6.7's C-ECHO-RQ P-DATA-TF, captured on loopback (tests/fixtures/dcmtk/README.md).
  const golden = (name: string): Uint8Array => {
    const path = fileURLToPath(new URL(`../../../tests/fixtures/dcmtk/${name}.hex`, import.meta.url))
    return Uint8Array.from(Buffer.from(readFileSync(path, "utf8").replace(/\s+/g, ""), "hex"))
  }

  it("builds echoscu's C-ECHO-RQ PDU byte for byte", () => {
    const echo: Dimse.Message = { _tag: "CEchoRq", messageId: 1, affectedSopClassUid: "1.2.840.10008.1.1" }
    const command = Result.getOrThrow(Dimse.encode(echo))
    const pdus = F.fragmentCommand(1, 16384, command)
    assert.deepStrictEqual(
      pdus.map((p) => Buffer.from(p).toString("hex")),
      [Buffer.from(golden("echoscu-cecho-rq")).toString("hex")]
    )
    assert.deepStrictEqual(Result.getOrThrow(Dimse.decode(parse(pdus[0]!)[0]!.data)), echo)
  })
})

describe("Fragmenter properties", () => {
  it("whole-buffer fragmentation covers the bytes within the maximum PDU length", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 600 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.boolean(),
        (maxPdu, n, cmd) => {
          const data = bytes(n, maxPdu)
          const pdus = cmd ? F.fragmentCommand(9, maxPdu, data) : F.fragmentDataSet(9, maxPdu, data)
          assert.deepStrictEqual(checkSequence(pdus, 9, cmd, maxPdu), data)
          assert.strictEqual(pdus.length, Math.max(1, Math.ceil(n / F.fragmentCapacity(maxPdu))))
        }
      ),
      { numRuns: 300 }
    )
  })

  it("streaming any chunking gives the same PDUs as fragmenting the whole data set", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 0, max: 2000 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (maxPdu, n, cuts) => {
          const data = bytes(n, n)
          const whole = F.fragmentDataSet(1, maxPdu, data)
          const f = F.makeDataFragmenter(1, maxPdu)
          const streamed = chunked(data, cuts).flatMap((c) => f.push(c))
          assert.strictEqual(f.bytesPushed(), n)
          streamed.push(...f.end())
          assert.deepStrictEqual(
            streamed.map((p) => Array.from(p)),
            whole.map((p) => Array.from(p))
          )
          streamed.forEach((p) => assert.isTrue(isExactAllocation(p)))
        }
      ),
      { numRuns: 300 }
    )
  })

  const join = (parts: ReadonlyArray<Uint8Array>): Array<number> => parts.flatMap((p) => Array.from(p))

  it("fragmentMessageParts (and messagePartsWithin its capacity), concatenated, are fragmentMessage's PDUs, and share the data set's bytes", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 0, max: 200 }),
        fc.option(fc.integer({ min: 0, max: 2000 })),
        (maxPdu, c, n) => {
          const command = bytes(c, 7)
          const data = n === null ? undefined : bytes(n, n)
          const parts = F.fragmentMessageParts(3, maxPdu, command, data)
          assert.deepStrictEqual(join(parts), join(F.fragmentMessage(3, maxPdu, command, data)))
          const within = F.messagePartsWithin(3, F.fragmentCapacity(maxPdu), command, data)
          assert.deepStrictEqual(join(within), join(parts))
          // A command set of one PDU and up to COMMAND_COPY_MAX bytes is copied behind its header (the first piece).
          const copied = command.length <= F.fragmentCapacity(maxPdu) && command.length <= 1024
          parts.forEach((part, i) => {
            const shared = part.buffer === command.buffer || (data !== undefined && part.buffer === data.buffer)
            if (i === 0 && copied) assert.strictEqual(part.length, 12 + command.length, "the command's whole PDU")
            else assert.isTrue(shared || part.length === 12, "a piece is a view of the input or a 12-byte header")
          })
        }
      ),
      { numRuns: 300 }
    )
  })

  it("a command set of one PDU is one piece: a C-STORE-RSP is one write, a C-STORE-RQ's command PDU one piece", () => {
    assert.strictEqual(F.COMMAND_COPY_MAX, 1024)
    const capacity = F.fragmentCapacity(16384)
    const response = bytes(120, 3)
    const parts = F.messagePartsWithin(1, capacity, response)
    assert.strictEqual(parts.length, 1)
    assert.deepStrictEqual(Array.from(parts[0]!), Array.from(F.fragmentMessage(1, 16384, response)[0]!))
    const request = F.messagePartsWithin(1, capacity, bytes(160, 5), bytes(40000, 9))
    // the command's PDU, then three data PDUs of a header and a view each
    assert.strictEqual(request.length, 7)
    assert.strictEqual(request[0]!.length, 12 + 160)
    // a command set over 1 KiB stays a view behind its own header
    assert.strictEqual(F.messagePartsWithin(1, capacity, bytes(1026, 1)).length, 2)
  })

  it("messagePartsWithin writes every PDU header of a message into one allocation of 12 bytes a PDU, a one-PDU command set behind its header", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 0, max: 1100 }),
        fc.option(fc.integer({ min: 0, max: 2000 })),
        (maxPdu, c, n) => {
          const command = bytes(c, 7)
          const data = n === null ? undefined : bytes(n, n)
          const capacity = F.fragmentCapacity(maxPdu)
          const parts = F.messagePartsWithin(3, capacity, command, data)
          const headers = parts.filter((p) => p.buffer !== command.buffer && p.buffer !== data?.buffer)
          assert.strictEqual(headers.length, F.fragmentMessage(3, maxPdu, command, data).length)
          const copied = command.length <= capacity && command.length <= 1024 ? command.length : 0
          const buffer = headers[0]!.buffer
          assert.strictEqual(buffer.byteLength, 12 * headers.length + copied)
          headers.forEach((h, i) => {
            assert.strictEqual(h.buffer, buffer)
            assert.strictEqual(h.byteOffset, i === 0 ? 0 : 12 * i + copied)
            assert.strictEqual(h.length, i === 0 ? 12 + copied : 12)
          })
          // Copied, the command's PDU is one piece: the message is a write of the socket fewer.
          if (copied > 0) {
            const first = F.fragmentMessage(3, maxPdu, command, data)[0]!
            assert.deepStrictEqual(Array.from(parts[0]!), Array.from(first))
          }
        }
      ),
      { numRuns: 300 }
    )
  })

  it("the part fragmenter, under any chunking, gives the copying fragmenter's PDUs", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 0, max: 12000 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (maxPdu, n, cuts) => {
          const data = bytes(n, n)
          const whole = F.fragmentDataSet(1, maxPdu, data)
          const f = F.makeDataPartFragmenter(1, maxPdu)
          const chunks = chunked(data, cuts).map((c) => new Uint8Array(c))
          const streamed = chunks.flatMap((c) => f.push(c))
          assert.strictEqual(f.bytesPushed(), n)
          streamed.push(...f.end())
          assert.deepStrictEqual(join(streamed), join(whole))
        }
      ),
      { numRuns: 300 }
    )
  })

  it("the part fragmenter references large chunks and coalesces tiny ones", () => {
    const f = F.makeDataPartFragmenter(1, 16384)
    const big = bytes(40000, 1)
    const pieces = [...f.push(big), ...f.end()]
    // 3 PDUs: each a header and one view of `big`
    assert.strictEqual(pieces.length, 6)
    assert.isTrue(pieces.filter((p) => p.length > 12).every((p) => p.buffer === big.buffer))
    const g = F.makeDataPartFragmenter(1, 16384)
    const tiny: Array<Uint8Array> = []
    for (let i = 0; i < 10000; i++) tiny.push(...g.push(Uint8Array.of(i & 0xff)))
    tiny.push(...g.end())
    assert.isBelow(tiny.length, 10, "10,000 one-byte chunks make a handful of pieces")
    assert.deepStrictEqual(
      join(tiny),
      join(
        F.fragmentDataSet(
          1,
          16384,
          Uint8Array.from({ length: 10000 }, (_, i) => i & 0xff)
        )
      )
    )
  })

  it("a fragmenter is reusable after end", () => {
    const f = F.makeDataFragmenter(1, 20)
    const first = [...f.push(bytes(30)), ...f.end()]
    const second = [...f.push(bytes(30)), ...f.end()]
    assert.deepStrictEqual(
      second.map((p) => Array.from(p)),
      first.map((p) => Array.from(p))
    )
  })
})

describe("Fragmenter streams", () => {
  it("fragmentStream yields command then data PDUs lazily", () => {
    let read = 0
    function* chunks() {
      for (let i = 0; i < 4; i++) {
        read++
        yield bytes(100, i)
      }
    }
    const it = F.fragmentStream(1, 106, bytes(10), chunks())
    const first = it.next()
    assert.isFalse(first.done)
    assert.strictEqual(read, 0, "the command PDU comes before any chunk is read")
    const rest = [...it]
    assert.strictEqual(read, 4)
    assert.strictEqual(rest.length, 4)
    const expected = concat([bytes(100, 0), bytes(100, 1), bytes(100, 2), bytes(100, 3)])
    assert.deepStrictEqual(checkSequence(rest, 1, false, 106), expected)
  })

  it("fragmentAsyncStream does the same for async chunks", async () => {
    async function* chunks() {
      yield bytes(7)
      yield bytes(0)
      yield bytes(501)
    }
    const out: Array<Uint8Array> = []
    for await (const pdu of F.fragmentAsyncStream(3, 64, bytes(20), chunks())) out.push(pdu)
    assert.deepStrictEqual(checkSequence(out.slice(0, 1), 3, true, 64), bytes(20))
    assert.deepStrictEqual(checkSequence(out.slice(1), 3, false, 64), concat([bytes(7), bytes(501)]))
  })

  it("streams 64 MiB in 1 MiB chunks holding at most one PDU", () => {
    const f = F.makeDataFragmenter(1, 0)
    const chunk = bytes(1 << 20)
    let total = 0
    let pdus = 0
    for (let i = 0; i < 64; i++) {
      for (const pdu of f.push(chunk)) {
        total += pdu.length - 12
        pdus++
        assert.isAtMost(pdu.length, 65536 + 6)
      }
    }
    for (const pdu of f.end()) {
      total += pdu.length - 12
      pdus++
      assert.strictEqual(pdu[11], 0x02)
    }
    assert.strictEqual(total, 64 << 20)
    assert.strictEqual(pdus, Math.ceil((64 << 20) / 65530))
  })
})

describe("frameInPlace", () => {
  const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
    let at = 0
    for (const p of parts) {
      out.set(p, at)
      at += p.length
    }
    return out
  }

  it("frames a data set laid out with header gaps into fragmentDataSet's PDUs, read by read", () =>
    fc.assert(
      fc.property(
        fc.integer({ min: 1024, max: 4096 }),
        fc.integer({ min: 1, max: 4 }),
        fc.uint8Array({ minLength: 1, maxLength: 20_000 }),
        (maxPdu, framesPerRead, data) => {
          const capacity = F.fragmentCapacity(maxPdu)
          const per = F.HEADER_LENGTH + capacity
          const pieces: Array<Uint8Array> = []
          // Each read holds `framesPerRead` frames of data (the last read fewer), laid out as FileIo reads them.
          for (let from = 0; from < data.length; from += framesPerRead * capacity) {
            const chunk = data.subarray(from, Math.min(from + framesPerRead * capacity, data.length))
            const bytes = new Uint8Array(per * framesPerRead)
            for (let i = 0; i * capacity < chunk.length; i++) {
              bytes.set(chunk.subarray(i * capacity, (i + 1) * capacity), i * per + F.HEADER_LENGTH)
            }
            const isLast = from + chunk.length === data.length
            pieces.push(F.frameInPlace(bytes, chunk.length, capacity, 7, isLast))
          }
          const padded = data.length % 2 === 1 ? concat([data, new Uint8Array(1)]) : data
          const expected = concat(F.fragmentDataSet(7, maxPdu, padded))
          assert.deepStrictEqual(concat(pieces), expected)
        }
      ),
      { numRuns: 200 }
    ))
})
