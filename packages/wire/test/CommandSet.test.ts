import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import fc from "fast-check"
import * as CS from "../src/CommandSet.ts"

const hex = (s: string): Uint8Array => Uint8Array.from(s.replace(/\s+/g, "").match(/../g) ?? [], (b) => parseInt(b, 16))
const ascii = (s: string): string => Array.from(s, (c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("")

const ok = <A, E>(r: Result.Result<A, E>): A => {
  if (Result.isFailure(r)) assert.fail(`expected success, got ${String(r.failure)}`)
  return r.success
}
const err = <A, E>(r: Result.Result<A, E>): E => {
  if (Result.isSuccess(r)) assert.fail("expected failure")
  return r.failure
}

// C-ECHO-RQ built by hand from PS3.7 Table 9.3-12 and Annex E: Implicit VR Little Endian, each
// element = group (2) element (2) length (4) value. Group length = 26 + 10 + 10 + 10 = 56 = 0x38.
const ECHO_RQ = hex(
  "0000 0000 04000000 38000000" + // (0000,0000) UL CommandGroupLength = 56
    "0000 0200 12000000" +
    ascii("1.2.840.10008.1.1") +
    "00" + // (0000,0002) UI AffectedSOPClassUID, 17 chars + NUL pad
    "0000 0001 02000000 3000" + // (0000,0100) US CommandField = 0x0030
    "0000 1001 02000000 0100" + // (0000,0110) US MessageID = 1
    "0000 0008 02000000 0101" // (0000,0800) US CommandDataSetType = 0x0101
)

const ECHO_CS: CS.CommandSet = {
  affectedSopClassUid: "1.2.840.10008.1.1",
  commandField: 0x0030,
  messageId: 1,
  commandDataSetType: 0x0101
}

describe("CommandSet golden bytes", () => {
  it("encodes a C-ECHO-RQ exactly as PS3.7 lays it out", () => {
    const bytes = ok(CS.encode(ECHO_CS))
    assert.deepStrictEqual(Array.from(bytes), Array.from(ECHO_RQ))
    assert.strictEqual(bytes.buffer.byteLength, 68, "one allocation of the exact size")
  })

  it("decodes the hand-built C-ECHO-RQ", () => {
    assert.deepStrictEqual(ok(CS.decode(ECHO_RQ)), ECHO_CS)
  })

  it("writes elements in ascending tag order whatever the field order", () => {
    const bytes = ok(
      CS.encode({
        commandDataSetType: 0x0101,
        messageId: 1,
        commandField: 0x30,
        affectedSopClassUid: "1.2.840.10008.1.1"
      })
    )
    assert.deepStrictEqual(Array.from(bytes), Array.from(ECHO_RQ))
  })
})

describe("CommandSet padding", () => {
  it("pads an odd UID with NUL and an odd AE and LO with a space", () => {
    const bytes = ok(CS.encode({ affectedSopInstanceUid: "1.2.3", moveDestination: "ABC", errorComment: "bad" }))
    const text = new TextDecoder("latin1").decode(bytes)
    assert.include(text, "1.2.3\0")
    assert.include(text, "ABC ")
    assert.include(text, "bad ")
    assert.strictEqual(bytes.length % 2, 0)
  })

  it("strips NUL and space padding, and leading spaces, on decode", () => {
    const bytes = hex(
      "0000 0200 06000000" +
        ascii("1.2.3 ") +
        "0000 0006 06000000" +
        ascii(" AB\0\0 ") +
        "0000 0209 04000000" +
        ascii("x   ")
    )
    assert.deepStrictEqual(ok(CS.decode(bytes)), {
      affectedSopClassUid: "1.2.3",
      moveDestination: "AB",
      errorComment: "x"
    })
  })

  it("treats zero-length values as absent", () => {
    const bytes = hex("0000 0200 00000000 0000 0009 00000000")
    assert.deepStrictEqual(ok(CS.decode(bytes)), {})
  })

  it("omits empty strings and empty tag lists on encode", () => {
    assert.strictEqual(ok(CS.encode({ errorComment: "", offendingElement: [] })).length, 12)
  })
})

describe("CommandSet values", () => {
  it("encodes AT values as group then element, little endian", () => {
    const bytes = ok(CS.encode({ offendingElement: [0x00100010, 0x7fe00010] }))
    assert.deepStrictEqual(Array.from(bytes.subarray(12)), Array.from(hex("0000 0109 08000000 1000 1000 e07f 1000")))
    assert.deepStrictEqual(ok(CS.decode(bytes)).offendingElement, [0x00100010, 0x7fe00010])
  })

  it("keeps unknown and retired group 0000 elements as raw bytes, and writes them back", () => {
    const bytes = hex("0000 0100 04000000 10000000" + "0000 1000 02000000 4142" + "0000 0001 02000000 0100")
    const cs = ok(CS.decode(bytes))
    assert.deepStrictEqual(cs.commandField, 0x0001)
    assert.deepStrictEqual(
      cs.unknown?.map((u) => [u.tag, Array.from(u.value)]),
      [
        [0x0001, [0x10, 0, 0, 0]],
        [0x0010, [0x41, 0x42]]
      ]
    )
    const again = ok(CS.decode(ok(CS.encode(cs))))
    assert.deepStrictEqual(again, cs)
  })

  it("ignores a wrong CommandGroupLength value", () => {
    const bytes = ECHO_RQ.slice()
    bytes[8] = 0x99
    assert.deepStrictEqual(ok(CS.decode(bytes)), ECHO_CS)
  })

  it("names keywords and formats tags", () => {
    assert.strictEqual(CS.keywordOf(0x0800), "CommandDataSetType")
    assert.strictEqual(CS.keywordOf(0x0000), "CommandGroupLength")
    assert.strictEqual(CS.keywordOf(0x4000), "(0000,4000)")
    assert.strictEqual(CS.formatTag(0x7fe00010), "(7FE0,0010)")
    assert.isTrue(CS.announcesDataSet({ commandDataSetType: 0x0001 }))
    assert.isTrue(CS.announcesDataSet({ commandDataSetType: 0x0000 }))
    assert.isFalse(CS.announcesDataSet({ commandDataSetType: 0x0101 }))
    assert.isFalse(CS.announcesDataSet({}))
  })
})

describe("CommandSet decode errors", () => {
  it("refuses a hostile value length beyond the buffer without allocating it", () => {
    const e = err(CS.decode(hex("0000 0000 04000000 0c000000 0000 0009 f0ffffff 0000")))
    assert.strictEqual(e._tag, "CommandSetError")
    assert.strictEqual(e.offset, 12)
    assert.include(e.rule, "exceeds")
  })

  it("refuses an undefined length", () => {
    const e = err(CS.decode(hex("0000 0009 ffffffff")))
    assert.strictEqual(e.offset, 0)
    assert.include(e.rule, "undefined length")
  })

  it("refuses a truncated element header", () => {
    const e = err(CS.decode(hex("0000 0009 02000000 0000 0000 01")))
    assert.strictEqual(e.offset, 10)
    assert.include(e.rule, "8 bytes")
  })

  it("refuses an element outside group 0000", () => {
    const e = err(CS.decode(hex("0800 1600 02000000 3100")))
    assert.include(e.rule, "(0008,0016)")
  })

  it("keeps elements of other groups after the command's apart (a DCMTK-based peer's status detail)", () => {
    // a final C-GET-RSP as Orthanc 1.10 sends it: Status C000, then (0008,0058) "1.2.3.4" in the command set
    const detail = "0800 5800 08000000 312e322e332e3400"
    const cs = ok(CS.decode(hex("0000 0001 02000000 1080" + "0000 0009 02000000 00c0" + detail)))
    assert.deepStrictEqual([cs.commandField, cs.status], [0x8010, 0xc000])
    assert.deepStrictEqual(Array.from(cs.appended!), Array.from(hex(detail)))
    // never written back
    assert.isUndefined(ok(CS.decode(ok(CS.encode(cs)))).appended)
  })

  it("refuses a command element after appended ones, and appended ones that do not fit", () => {
    const head = "0000 0009 02000000 00c0"
    assert.include(err(CS.decode(hex(head + "0800 5800 02000000 3100" + "0000 0001 02000000 1080"))).rule, "after")
    assert.include(err(CS.decode(hex(head + "0800 5800 10000000 3100"))).rule, "exceeds")
    assert.include(err(CS.decode(hex(head + "0800 5800 ffffffff"))).rule, "undefined length")
    assert.include(err(CS.decode(hex(head + "0800 58"))).rule, "8 bytes")
  })

  it("refuses a duplicate element", () => {
    const e = err(CS.decode(hex("0000 1001 02000000 0100 0000 1001 02000000 0200")))
    assert.strictEqual(e.offset, 10)
    assert.include(e.rule, "twice")
  })

  it("refuses fixed-size values of the wrong size", () => {
    assert.include(err(CS.decode(hex("0000 0009 04000000 00000000"))).rule, "Status (US) has length 4")
    assert.include(err(CS.decode(hex("0000 0000 02000000 0000"))).rule, "CommandGroupLength")
    assert.include(err(CS.decode(hex("0000 0109 02000000 0000"))).rule, "multiple of 4")
  })

  it("never throws on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const r = CS.decode(bytes)
        return Result.isSuccess(r) || r.failure._tag === "CommandSetError"
      }),
      { numRuns: 2000 }
    )
  })
})

describe("CommandSet encode errors", () => {
  it("refuses out-of-range numbers", () => {
    assert.include(err(CS.encode({ messageId: 70000 })).rule, "MessageID")
    assert.include(err(CS.encode({ status: -1 })).rule, "Status")
    assert.include(err(CS.encode({ priority: 1.5 })).rule, "Priority")
    assert.strictEqual(err(CS.encode({ messageId: 70000 })).offset, -1)
  })

  it("refuses strings too long or with forbidden characters", () => {
    assert.include(err(CS.encode({ affectedSopClassUid: "1".repeat(65) })).rule, "65 characters")
    assert.include(err(CS.encode({ moveDestination: "A".repeat(17) })).rule, "MoveDestination")
    assert.include(err(CS.encode({ moveDestination: "A\\B" })).rule, "not allowed")
    assert.include(err(CS.encode({ errorComment: "caf\u00e9" })).rule, "not allowed")
  })

  it("refuses unknown elements that clash with known ones", () => {
    assert.include(err(CS.encode({ unknown: [{ tag: 0x0100, value: new Uint8Array(2) }] })).rule, "duplicates")
    assert.include(err(CS.encode({ unknown: [{ tag: 0x0000, value: new Uint8Array(4) }] })).rule, "group 0000")
    assert.include(err(CS.encode({ unknown: [{ tag: 0x00080016, value: new Uint8Array(2) }] })).rule, "group 0000")
  })
})

const PRINTABLE = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).filter((c) => c !== "\\")
const text = (max: number) =>
  fc
    .string({ unit: fc.constantFrom(...PRINTABLE), minLength: 1, maxLength: max })
    .filter((s) => s.trim() === s && s.length > 0)
const uid = fc.string({ unit: fc.constantFrom(..."0123456789."), minLength: 1, maxLength: 64 })
const us = fc.integer({ min: 0, max: 0xffff })
const tags = fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 4 })

/** Any command set this module can encode (empty values excluded: they decode as absent). */
const arbitraryCommandSet: fc.Arbitrary<CS.CommandSet> = fc.record(
  {
    affectedSopClassUid: uid,
    requestedSopClassUid: uid,
    commandField: us,
    messageId: us,
    messageIdBeingRespondedTo: us,
    moveDestination: text(16),
    priority: us,
    commandDataSetType: us,
    status: us,
    offendingElement: tags,
    errorComment: text(64),
    errorId: us,
    affectedSopInstanceUid: uid,
    requestedSopInstanceUid: uid,
    eventTypeId: us,
    attributeIdentifierList: tags,
    actionTypeId: us,
    numberOfRemainingSuboperations: us,
    numberOfCompletedSuboperations: us,
    numberOfFailedSuboperations: us,
    numberOfWarningSuboperations: us,
    moveOriginatorApplicationEntityTitle: text(16),
    moveOriginatorMessageId: us
  },
  { requiredKeys: [] }
)

describe("CommandSet properties", () => {
  it("decode(encode(cs)) = cs for every command set", () => {
    fc.assert(
      fc.property(arbitraryCommandSet, (cs) => {
        const bytes = ok(CS.encode(cs))
        assert.strictEqual(bytes.length % 2, 0)
        const groupLength = new DataView(bytes.buffer).getUint32(8, true)
        assert.strictEqual(groupLength, bytes.length - 12)
        assert.deepStrictEqual(ok(CS.decode(bytes)), cs)
      }),
      { numRuns: 500 }
    )
  })

  it("a truncated encoding is an error, never a wrong success", () => {
    fc.assert(
      fc.property(arbitraryCommandSet, fc.nat(), (cs, cut) => {
        const bytes = ok(CS.encode(cs))
        const at = cut % bytes.length
        const r = CS.decode(bytes.subarray(0, at))
        // Cutting exactly between elements yields a shorter but valid command set.
        if (Result.isSuccess(r)) assert.isTrue(at === 0 || at >= 12)
        else assert.strictEqual(r.failure._tag, "CommandSetError")
      }),
      { numRuns: 300 }
    )
  })
})
