import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import fc from "fast-check"
import { Pdu, PduCodec } from "../src/index.ts"
import { ac, all, hex, pdata, rq } from "./fixtures.ts"

const encode = (pdu: Pdu.Pdu): Uint8Array => Result.getOrThrow(PduCodec.encodePdu(pdu))
const decode = (bytes: Uint8Array): Pdu.Pdu => Result.getOrThrow(PduCodec.decodePdu(bytes))

const failure = (bytes: Uint8Array) => {
  const r = PduCodec.decodePdu(bytes)
  assert.isTrue(Result.isFailure(r), "expected a decode error")
  return (r as Result.Failure<Pdu.Pdu, import("../src/PduError.ts").PduDecodeError>).failure
}

const KNOWN_ITEMS = new Set<number>(Object.values(Pdu.ITEM_TYPE))
const unknownOnly = <T extends { readonly _tag: string; readonly itemType?: number }>(items: ReadonlyArray<T>) =>
  items.filter((i) => i.itemType === undefined || !KNOWN_ITEMS.has(i.itemType))

// What a value looks like after a trip over the wire: AE titles padded to 16, RQ ids odd,
// "unknown" items of a known type left out (they would decode as the known item).
const normalize = (pdu: Pdu.Pdu): Pdu.Pdu => {
  if (pdu._tag === "AAssociateRq" || pdu._tag === "AAssociateAc") {
    pdu = { ...pdu, unknownItems: unknownOnly(pdu.unknownItems), userInformation: unknownOnly(pdu.userInformation) }
  }
  if (pdu._tag === "AAssociateRq") {
    return {
      ...pdu,
      calledAeTitle: pdu.calledAeTitle.padEnd(16, " "),
      callingAeTitle: pdu.callingAeTitle.padEnd(16, " "),
      presentationContexts: pdu.presentationContexts.map((pc) => ({ ...pc, id: pc.id | 1 }))
    }
  }
  if (pdu._tag === "AAssociateAc") {
    return {
      ...pdu,
      calledAeTitle: pdu.calledAeTitle.padEnd(16, " "),
      callingAeTitle: pdu.callingAeTitle.padEnd(16, " "),
      presentationContexts: pdu.presentationContexts.map((pc) =>
        pc.result === 0 && pc.transferSyntax === undefined ? { ...pc, result: 2 as const } : pc
      )
    }
  }
  if (pdu._tag === "PDataTf" && pdu.pdvs.length === 0) {
    return {
      _tag: "PDataTf",
      pdvs: [{ presentationContextId: 1, isCommand: true, isLast: true, data: new Uint8Array() }]
    }
  }
  return pdu
}

describe("PduCodec", () => {
  it("round-trips every PDU built by hand", () => {
    for (const pdu of all) assert.deepStrictEqual(decode(encode(pdu)), pdu)
  })

  it.prop(
    "round-trips every PDU from Schema arbitraries",
    { pdu: Pdu.Pdu },
    ({ pdu }) => {
      const value = normalize(pdu)
      assert.deepStrictEqual(decode(encode(value)), value)
    },
    { arbitrary: { runs: 300, seed: 7 } }
  )

  it("writes the A-RELEASE-RQ, A-RELEASE-RP, A-ABORT and A-ASSOCIATE-RJ bytes of PS3.8", () => {
    assert.deepStrictEqual(encode({ _tag: "AReleaseRq" }), hex("05 00 00000004 00000000"))
    assert.deepStrictEqual(encode({ _tag: "AReleaseRp" }), hex("06 00 00000004 00000000"))
    assert.deepStrictEqual(encode({ _tag: "AAbort", source: 2, reason: 1 }), hex("07 00 00000004 0000 02 01"))
    assert.deepStrictEqual(
      encode({ _tag: "AAssociateRj", result: 2, source: 3, reason: 2 }),
      hex("03 00 00000004 00 02 03 02")
    )
  })

  it("writes a P-DATA-TF with PDV headers and control bits", () => {
    assert.deepStrictEqual(
      PduCodec.encodePDataTf(pdata.pdvs),
      hex("04 00 00000012 00000006 01 03 01020304 00000004 01 00 0506")
    )
  })

  it("decodes PDV data as views into the received buffer", () => {
    const bytes = encode(pdata)
    const pdu = decode(bytes)
    assert.strictEqual(pdu._tag, "PDataTf")
    if (pdu._tag === "PDataTf") assert.strictEqual(pdu.pdvs[0]!.data.buffer, bytes.buffer)
  })

  it("decodes Maximum Length 0 as no limit and round-trips 16384", () => {
    const user = (decode(encode(ac)) as Pdu.AAssociateAc).userInformation
    assert.deepStrictEqual(user[0], { _tag: "MaximumLength", maximumLength: 0 })
    const back = decode(encode(rq)) as Pdu.AAssociateRq
    assert.deepStrictEqual(back.userInformation[0], { _tag: "MaximumLength", maximumLength: 16384 })
  })

  it("does not test reserved fields: an AC with all-zero AE fields decodes", () => {
    const bytes = encode(ac)
    bytes.fill(0, 10, 42)
    bytes[7] = 0xff // reserved after protocol version
    const pdu = decode(bytes) as Pdu.AAssociateAc
    assert.strictEqual(pdu.calledAeTitle, "\0".repeat(16))
    assert.strictEqual(pdu.presentationContexts.length, 2)
  })

  it("decodes a rejected Presentation Context AC that has no Transfer Syntax sub-item", () => {
    const pc = (decode(encode(ac)) as Pdu.AAssociateAc).presentationContexts[1]
    assert.deepStrictEqual(pc, { _tag: "PresentationContextAc", id: 3, result: 3, transferSyntax: undefined })
  })

  it("keeps AE title bytes, NUL padding included", () => {
    const pdu = decode(encode({ ...rq, calledAeTitle: "STORESCP\0\0\0\0\0\0\0\0" })) as Pdu.AAssociateRq
    assert.strictEqual(pdu.calledAeTitle, "STORESCP\0\0\0\0\0\0\0\0")
  })

  it("strips NUL padding from UIDs", () => {
    const bytes = encode({ ...rq, applicationContextName: "1.2.840.10008.3.1.1.1\0" })
    assert.strictEqual((decode(bytes) as Pdu.AAssociateRq).applicationContextName, "1.2.840.10008.3.1.1.1")
  })

  it("keeps unknown items and sub-items as raw bytes", () => {
    const back = decode(encode(rq)) as Pdu.AAssociateRq
    assert.deepStrictEqual(back.unknownItems, rq.unknownItems)
    assert.deepStrictEqual(back.userInformation.at(-1), {
      _tag: "UnknownUserItem",
      itemType: 0x5f,
      data: new Uint8Array([9, 9])
    })
  })

  it("keeps an Implementation Version Name not 1-16 characters and a Class UID not a UID as unknown sub-items", () => {
    // PS3.7 D.3.3.2 says 1-16 characters and a UID, but peers send other lengths and DCMTK takes them: refusing the
    // PDU failed the association with such a PACS (tests/attack/differential-scu.test.ts)
    const name17 = { _tag: "UnknownUserItem" as const, itemType: 0x55, data: new TextEncoder().encode("A".repeat(17)) }
    const emptyName = { _tag: "UnknownUserItem" as const, itemType: 0x55, data: new Uint8Array() }
    const emptyUid = { _tag: "UnknownUserItem" as const, itemType: 0x52, data: new Uint8Array() }
    const longUid = {
      _tag: "UnknownUserItem" as const,
      itemType: 0x52,
      data: new TextEncoder().encode("1.".repeat(40))
    }
    for (const item of [name17, emptyName, emptyUid, longUid]) {
      const bytes = encode({ ...ac, userInformation: [{ _tag: "MaximumLength", maximumLength: 16384 }, item] })
      const back = decode(bytes) as Pdu.AAssociateAc
      assert.deepStrictEqual(back.userInformation, [{ _tag: "MaximumLength", maximumLength: 16384 }, item])
    }
  })

  it("rejects a PDU length that disagrees with the bytes", () => {
    const bytes = encode({ _tag: "AReleaseRq" })
    const e = failure(bytes.subarray(0, 9))
    assert.strictEqual(e.offset, 2)
    assert.match(e.rule, /length field 4 but 3/)
  })

  it("rejects an item length that runs past the PDU, naming the offset", () => {
    const bytes = encode(rq).slice()
    bytes[74 + 2] = 0xff // application context item length high byte
    const e = failure(bytes)
    assert.strictEqual(e.pdu, "A-ASSOCIATE-RQ")
    assert.strictEqual(e.offset, 74)
    assert.match(e.rule, /exceeds/)
  })

  // The reader checks its bounds inline and reads item headers in place (Round 12): a sub-item header cut short
  // fails at the offset, and for the bytes, of the field that runs past its item, as the field-by-field reads did.
  it("rejects a sub-item header cut short, naming the field that runs past the item", () => {
    const appContext = Array.from("1.2.840.10008.3.1.1.1", (c) => c.charCodeAt(0))
    for (const [left, offset, wanted] of [
      [1, 1, 1],
      [2, 2, 2],
      [3, 2, 2]
    ] as const) {
      const userInfo = [0x50, 0, 0, left, ...[0x51, 0, 0].slice(0, left)]
      const body = [
        0,
        1,
        0,
        0,
        ...Array.from({ length: 64 }, () => 0x20),
        0,
        0,
        0,
        0,
        ...Array.from({ length: 28 }, () => 0)
      ]
      const items = [0x10, 0, 0, appContext.length, ...appContext, ...userInfo]
      const length = body.length + items.length
      const bytes = Uint8Array.from([1, 0, 0, 0, 0, length, ...body, ...items])
      const e = failure(bytes)
      const subItemAt = 6 + body.length + 4 + appContext.length + 4
      assert.strictEqual(e.offset, subItemAt + offset, `${left} byte(s) left`)
      assert.match(e.rule, new RegExp(`needs ${wanted} more bytes`))
    }
  })

  it("reads 32-bit fields with the top bit set as unsigned", () => {
    const big = {
      ...rq,
      userInformation: rq.userInformation.map((i) =>
        i._tag === "MaximumLength" ? { ...i, maximumLength: 0xfffffff0 } : i
      )
    }
    const back = decode(encode(big)) as Pdu.AAssociateRq
    const max = back.userInformation.find((i) => i._tag === "MaximumLength")
    assert.deepStrictEqual(max, { _tag: "MaximumLength", maximumLength: 0xfffffff0 })
  })

  it("rejects an unknown PDU type with reason 1 (unrecognized PDU)", () => {
    const e = failure(hex("09 00 00000000"))
    assert.strictEqual(e.abortReason, 1)
  })

  it("rejects a P-DATA-TF with a PDV length below 2 or none at all", () => {
    assert.match(failure(hex("04 00 00000005 00000001 01")).rule, /less than 2/)
    assert.match(failure(hex("04 00 00000000")).rule, /no PDV/)
  })

  it("rejects an A-ASSOCIATE-RQ without Application Context or with a context lacking syntaxes", () => {
    const noContext = hex("01 00 00000044 0001 0000" + "41".repeat(32) + "00".repeat(32))
    assert.match(failure(noContext).rule, /no Application Context/)
    const bytes = encode({ ...rq, presentationContexts: [] })
    const pcItem = hex("20 00 0008 01 000000 30 00 0000")
    const merged = new Uint8Array(bytes.length + pcItem.length)
    merged.set(bytes)
    merged.set(pcItem, bytes.length)
    new DataView(merged.buffer).setUint32(2, merged.length - 6)
    assert.match(failure(merged).rule, /empty UID|no Abstract/)
  })

  it("refuses to encode invalid values with a typed error", () => {
    const long = PduCodec.encodePdu({ ...rq, calledAeTitle: "A".repeat(17) })
    assert.isTrue(Result.isFailure(long))
    const even = PduCodec.encodePdu({
      ...rq,
      presentationContexts: [{ _tag: "PresentationContextRq", id: 2, abstractSyntax: "1.2", transferSyntaxes: ["1.2"] }]
    })
    assert.isTrue(Result.isFailure(even) && even.failure._tag === "PduEncodeError")
  })

  // A-ASSOCIATE PDUs are written into one writer kept between encodes (Round 18): each result is its own copy, and
  // what an earlier encode left in the writer (a longer PDU, a failed one, a grown buffer) never shows in a later one.
  it("an A-ASSOCIATE PDU's bytes do not depend on what was encoded before, nor change after", () => {
    const alone = encode(rq)
    const small = encode({ ...rq, userInformation: [], presentationContexts: rq.presentationContexts.slice(0, 1) })
    const first = encode(ac)
    const firstCopy = new Uint8Array(first)
    // Grown well past the writer's 1 KiB and past what it keeps, and a failure half-way through.
    const many = Array.from({ length: 127 }, (_, i) => ({ ...rq.presentationContexts[1]!, id: 2 * i + 1 }))
    assert.isAbove(encode({ ...rq, presentationContexts: many }).length, 1024)
    const filler = { _tag: "UnknownItem" as const, itemType: 0x7f, data: new Uint8Array(40000).fill(0xab) }
    const big = encode({ ...rq, unknownItems: [filler, filler] })
    assert.isAbove(big.length, 65536)
    assert.isTrue(Result.isFailure(PduCodec.encodePdu({ ...rq, calledAeTitle: "A".repeat(17) })))
    assert.deepStrictEqual(encode(rq), alone)
    assert.deepStrictEqual(
      encode({ ...rq, userInformation: [], presentationContexts: rq.presentationContexts.slice(0, 1) }),
      small
    )
    assert.deepStrictEqual(first, firstCopy)
    assert.deepStrictEqual(decode(alone), rq)
  })

  it("is a Schema transformation from Uint8Array", () => {
    const bytes = encode(rq)
    const value = Schema.decodeUnknownSync(PduCodec.PduFromBytes)(bytes)
    assert.deepStrictEqual(value, rq)
    assert.deepStrictEqual(Schema.encodeSync(PduCodec.PduFromBytes)(rq), bytes)
    assert.throws(() => Schema.decodeUnknownSync(PduCodec.PduFromBytes)(hex("05 00 00000003 000000")))
  })

  it("never throws on random bytes: a PDU or a typed error", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 7 }), (body, type) => {
        const bytes = new Uint8Array(body.length + 6)
        bytes[0] = type
        new DataView(bytes.buffer).setUint32(2, body.length)
        bytes.set(body, 6)
        const r = PduCodec.decodePdu(bytes)
        if (Result.isFailure(r)) assert.strictEqual(r.failure._tag, "PduDecodeError")
      }),
      { numRuns: 3000, seed: 1 }
    )
  })

  it("never throws on mutated valid PDUs", () => {
    const seeds = all.map(encode)
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: seeds.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        (which, edits, truncate) => {
          const bytes = seeds[which]!.slice()
          for (const [at, value] of edits) bytes[at % bytes.length] = value
          const cut = truncate ? bytes.subarray(0, Math.max(0, bytes.length - 3)) : bytes
          const r = PduCodec.decodePdu(cut)
          if (Result.isFailure(r)) assert.strictEqual(r.failure._tag, "PduDecodeError")
          else
            assert.include(
              ["AAssociateRq", "AAssociateAc", "AAssociateRj", "PDataTf", "AReleaseRq", "AReleaseRp", "AAbort"],
              r.success._tag
            )
        }
      ),
      { numRuns: 5000, seed: 2 }
    )
  })
})
