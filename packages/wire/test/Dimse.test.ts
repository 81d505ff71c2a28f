import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import fc from "fast-check"
import * as CS from "../src/CommandSet.ts"
import * as Dimse from "../src/Dimse.ts"

const ok = <A, E>(r: Result.Result<A, E>): A => {
  if (Result.isFailure(r)) assert.fail(`expected success, got ${String(r.failure)}`)
  return r.success
}
const err = <A, E>(r: Result.Result<A, E>): E => {
  if (Result.isSuccess(r)) assert.fail("expected failure")
  return r.failure
}

const CT = "1.2.840.10008.5.1.4.1.1.2"
const STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
const STUDY_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
const STUDY_GET = "1.2.840.10008.5.1.4.1.2.2.3"

const SAMPLES: ReadonlyArray<Dimse.Message> = [
  { _tag: "CEchoRq", messageId: 1, affectedSopClassUid: "1.2.840.10008.1.1" },
  { _tag: "CEchoRsp", messageIdBeingRespondedTo: 1, status: 0, affectedSopClassUid: "1.2.840.10008.1.1" },
  { _tag: "CEchoRsp", messageIdBeingRespondedTo: 1, status: 0x0122 },
  { _tag: "CStoreRq", messageId: 3, affectedSopClassUid: CT, affectedSopInstanceUid: "1.2.3.4", priority: 0 },
  {
    _tag: "CStoreRq",
    messageId: 4,
    affectedSopClassUid: CT,
    affectedSopInstanceUid: "1.2.3.5",
    priority: 2,
    moveOriginatorApplicationEntityTitle: "MOVESCU",
    moveOriginatorMessageId: 9
  },
  {
    _tag: "CStoreRsp",
    messageIdBeingRespondedTo: 3,
    status: 0,
    affectedSopClassUid: CT,
    affectedSopInstanceUid: "1.2.3.4"
  },
  {
    _tag: "CStoreRsp",
    messageIdBeingRespondedTo: 3,
    status: 0xa900,
    offendingElement: [0x00080016],
    errorComment: "SOP Class mismatch",
    errorId: 7
  },
  { _tag: "CFindRq", messageId: 5, affectedSopClassUid: STUDY_FIND, priority: 1 },
  {
    _tag: "CFindRsp",
    messageIdBeingRespondedTo: 5,
    status: 0xff00,
    affectedSopClassUid: STUDY_FIND,
    hasIdentifier: true
  },
  { _tag: "CFindRsp", messageIdBeingRespondedTo: 5, status: 0, hasIdentifier: false },
  { _tag: "CGetRq", messageId: 6, affectedSopClassUid: STUDY_GET, priority: 0 },
  {
    _tag: "CGetRsp",
    messageIdBeingRespondedTo: 6,
    status: 0xff00,
    numberOfRemainingSuboperations: 3,
    numberOfCompletedSuboperations: 1,
    numberOfFailedSuboperations: 0,
    numberOfWarningSuboperations: 0,
    hasIdentifier: false
  },
  {
    _tag: "CGetRsp",
    messageIdBeingRespondedTo: 6,
    status: 0xb000,
    numberOfFailedSuboperations: 2,
    hasIdentifier: true
  },
  { _tag: "CMoveRq", messageId: 7, affectedSopClassUid: STUDY_MOVE, priority: 0, moveDestination: "STORESCP" },
  { _tag: "CMoveRsp", messageIdBeingRespondedTo: 7, status: 0xa801, hasIdentifier: false },
  { _tag: "CCancelRq", messageIdBeingRespondedTo: 5 }
]

describe("Dimse round trips", () => {
  it.each(SAMPLES.map((m) => [Dimse.summarize(m), m] as const))("%s", (_, msg) => {
    assert.isTrue(Schema.is(Dimse.Message)(msg))
    const cs = Dimse.toCommandSet(msg)
    const bytes = ok(CS.encode(cs))
    assert.deepStrictEqual(ok(CS.decode(bytes)), cs)
    assert.deepStrictEqual(ok(Dimse.fromCommandSet(cs)), msg)
    assert.deepStrictEqual(ok(Dimse.decode(ok(Dimse.encode(msg)))), msg)
  })

  it("writes the command field and data set type of each message", () => {
    const fields = SAMPLES.map((m) => [
      m._tag,
      Dimse.toCommandSet(m).commandField,
      Dimse.toCommandSet(m).commandDataSetType
    ])
    assert.deepStrictEqual(fields, [
      ["CEchoRq", 0x0030, 0x0101],
      ["CEchoRsp", 0x8030, 0x0101],
      ["CEchoRsp", 0x8030, 0x0101],
      ["CStoreRq", 0x0001, 0x0001],
      ["CStoreRq", 0x0001, 0x0001],
      ["CStoreRsp", 0x8001, 0x0101],
      ["CStoreRsp", 0x8001, 0x0101],
      ["CFindRq", 0x0020, 0x0001],
      ["CFindRsp", 0x8020, 0x0001],
      ["CFindRsp", 0x8020, 0x0101],
      ["CGetRq", 0x0010, 0x0001],
      ["CGetRsp", 0x8010, 0x0101],
      ["CGetRsp", 0x8010, 0x0001],
      ["CMoveRq", 0x0021, 0x0001],
      ["CMoveRsp", 0x8021, 0x0101],
      ["CCancelRq", 0x0fff, 0x0101]
    ])
  })

  it("hasDataSet follows PS3.7: requests with identifiers, pending C-FIND-RSP, nothing on C-ECHO", () => {
    assert.deepStrictEqual(SAMPLES.map(Dimse.hasDataSet), [
      false,
      false,
      false,
      true,
      true,
      false,
      false,
      true,
      true,
      false,
      true,
      false,
      true,
      true,
      false,
      false
    ])
  })

  it("accepts any CommandDataSetType other than 0x0101 as a data set", () => {
    const cs = { ...Dimse.toCommandSet(SAMPLES[3]!), commandDataSetType: 0x0000 }
    assert.strictEqual(ok(Dimse.fromCommandSet(cs))._tag, "CStoreRq")
    const rsp = { ...Dimse.toCommandSet(SAMPLES[8]!), commandDataSetType: 0x0102 }
    assert.isTrue(Dimse.hasDataSet(ok(Dimse.fromCommandSet(rsp))))
  })

  it("ignores unknown and retired elements", () => {
    const cs = { ...Dimse.toCommandSet(SAMPLES[0]!), unknown: [{ tag: 0x0850, value: new Uint8Array(2) }] }
    assert.deepStrictEqual(ok(Dimse.fromCommandSet(cs)), SAMPLES[0])
  })
})

describe("Dimse required and forbidden fields", () => {
  const echo = Dimse.toCommandSet(SAMPLES[0]!)
  const store = Dimse.toCommandSet(SAMPLES[3]!)
  const without = (cs: CS.CommandSet, field: CS.Field): CS.CommandSet =>
    Object.fromEntries(Object.entries(cs).filter(([k]) => k !== field))

  it.each([
    ["messageId", "MessageID"],
    ["affectedSopClassUid", "AffectedSOPClassUID"],
    ["affectedSopInstanceUid", "AffectedSOPInstanceUID"],
    ["priority", "Priority"],
    ["commandDataSetType", "CommandDataSetType"]
  ] as const)("C-STORE-RQ without %s", (field, keyword) => {
    const e = err(Dimse.fromCommandSet(without(store, field)))
    assert.strictEqual(e._tag, "DimseError")
    assert.strictEqual(e.reason, "MissingField")
    assert.strictEqual(e.command, "C-STORE-RQ")
    assert.strictEqual(e.field, keyword)
  })

  it("C-ECHO-RQ with a Priority", () => {
    const e = err(Dimse.fromCommandSet({ ...echo, priority: 0 }))
    assert.deepStrictEqual([e.reason, e.command, e.field], ["ForbiddenField", "C-ECHO-RQ", "Priority"])
  })

  it("a request with MessageIDBeingRespondedTo, a response with MessageID", () => {
    assert.strictEqual(
      err(Dimse.fromCommandSet({ ...store, messageIdBeingRespondedTo: 1 })).field,
      "MessageIDBeingRespondedTo"
    )
    const rsp = Dimse.toCommandSet(SAMPLES[5]!)
    assert.strictEqual(err(Dimse.fromCommandSet({ ...rsp, messageId: 1 })).field, "MessageID")
    assert.strictEqual(err(Dimse.fromCommandSet({ ...rsp, priority: 0 })).field, "Priority")
  })

  it("C-FIND-RQ with a MoveDestination, C-MOVE-RQ without one", () => {
    const find = Dimse.toCommandSet(SAMPLES[7]!)
    assert.strictEqual(err(Dimse.fromCommandSet({ ...find, moveDestination: "X" })).reason, "ForbiddenField")
    const move = Dimse.toCommandSet(SAMPLES[13]!)
    assert.strictEqual(err(Dimse.fromCommandSet(without(move, "moveDestination"))).field, "MoveDestination")
  })

  it("sub-operation counts only on C-GET-RSP and C-MOVE-RSP", () => {
    const find = Dimse.toCommandSet(SAMPLES[8]!)
    assert.strictEqual(
      err(Dimse.fromCommandSet({ ...find, numberOfRemainingSuboperations: 1 })).reason,
      "ForbiddenField"
    )
  })

  it("a data set where none may follow", () => {
    const e = err(Dimse.fromCommandSet({ ...echo, commandDataSetType: 0x0001 }))
    assert.deepStrictEqual([e.reason, e.field], ["ForbiddenField", "CommandDataSetType"])
    const cancel = Dimse.toCommandSet(SAMPLES[15]!)
    assert.strictEqual(err(Dimse.fromCommandSet({ ...cancel, commandDataSetType: 0 })).reason, "ForbiddenField")
  })

  it("no data set where one must follow", () => {
    const e = err(Dimse.fromCommandSet({ ...store, commandDataSetType: 0x0101 }))
    assert.deepStrictEqual([e.reason, e.field], ["MissingField", "CommandDataSetType"])
  })

  it("a final Success C-FIND-RSP with an identifier", () => {
    const final = Dimse.toCommandSet(SAMPLES[9]!)
    const e = err(Dimse.fromCommandSet({ ...final, commandDataSetType: 0x0001 }))
    assert.deepStrictEqual([e.reason, e.command], ["ForbiddenField", "C-FIND-RSP"])
  })

  it("an unknown or missing command field", () => {
    const e = err(Dimse.fromCommandSet({ ...echo, commandField: 0x0042 }))
    assert.deepStrictEqual([e.reason, e.command], ["UnknownCommand", "0x0042"])
    assert.strictEqual(err(Dimse.fromCommandSet(without(echo, "commandField"))).field, "CommandField")
  })

  it("an out-of-range priority", () => {
    const e = err(Dimse.fromCommandSet({ ...store, priority: 3 }))
    assert.deepStrictEqual([e.reason, e.command], ["InvalidValue", "C-STORE-RQ"])
  })

  // An empty string is written as no element at all: a C-STORE-RQ with an empty Affected SOP Instance UID, or a
  // C-MOVE-RQ with an empty Move Destination, went out without the element, and the peer aborted the association.
  it("encode refuses a required field given empty, which it would leave out", () => {
    const storeRq = SAMPLES[3]! as Dimse.CStoreRq
    assert.include(err(Dimse.encode({ ...storeRq, affectedSopInstanceUid: "" })).rule, "AffectedSOPInstanceUID")
    const moveRq = SAMPLES[13]! as Dimse.CMoveRq
    assert.include(err(Dimse.encode({ ...moveRq, moveDestination: "" })).rule, "MoveDestination is required")
    // an optional one given empty is still left out
    const storeRsp = SAMPLES[5]! as Dimse.CStoreRsp
    const rsp = ok(Dimse.encode({ ...storeRsp, affectedSopInstanceUid: "" }))
    assert.isUndefined((ok(Dimse.fromCommandSet(ok(CS.decode(rsp)))) as Dimse.CStoreRsp).affectedSopInstanceUid)
  })
})

describe("Dimse.summarize", () => {
  it("reads like a DICOM engineer's log line", () => {
    assert.deepStrictEqual(SAMPLES.map(Dimse.summarize), [
      "C-ECHO-RQ id=1 Verification",
      "C-ECHO-RSP id=1 status=0x0000 Success Verification",
      "C-ECHO-RSP id=1 status=0x0122 Refused: SOP Class not supported",
      "C-STORE-RQ id=3 CT Image Storage 1.2.3.4 prio=MEDIUM dataset",
      "C-STORE-RQ id=4 CT Image Storage 1.2.3.5 prio=LOW move-originator=MOVESCU/9 dataset",
      "C-STORE-RSP id=3 status=0x0000 Success CT Image Storage 1.2.3.4",
      'C-STORE-RSP id=3 status=0xA900 Error: data set does not match SOP Class offending=(0008,0016) error-id=7 comment="SOP Class mismatch"',
      "C-FIND-RQ id=5 Study Root Q/R FIND prio=HIGH identifier",
      "C-FIND-RSP id=5 status=0xFF00 Pending: matches are continuing Study Root Q/R FIND identifier",
      "C-FIND-RSP id=5 status=0x0000 Success: matching is complete",
      "C-GET-RQ id=6 Study Root Q/R GET prio=MEDIUM identifier",
      "C-GET-RSP id=6 status=0xFF00 Pending: sub-operations are continuing remaining=3 completed=1 failed=0 warning=0",
      "C-GET-RSP id=6 status=0xB000 Warning: sub-operations complete, one or more failures or warnings failed=2 identifier",
      "C-MOVE-RQ id=7 Study Root Q/R MOVE dest=STORESCP prio=MEDIUM identifier",
      "C-MOVE-RSP id=7 status=0xA801 Refused: Move Destination unknown",
      "C-CANCEL-RQ id=5"
    ])
  })

  it("prints unknown SOP classes as their UID", () => {
    assert.strictEqual(
      Dimse.summarize({ _tag: "CEchoRq", messageId: 2, affectedSopClassUid: "1.2.3.999" }),
      "C-ECHO-RQ id=2 1.2.3.999"
    )
    assert.strictEqual(Dimse.sopClassName("1.2.840.10008.5.1.4.31"), "Modality Worklist FIND")
    assert.strictEqual(Dimse.commandFieldName(0x8021), "C-MOVE-RSP")
    assert.strictEqual(Dimse.commandFieldName(0x0042), "0x0042")
  })
})

const uid = fc.string({ unit: fc.constantFrom(..."0123456789."), minLength: 1, maxLength: 64 })
const ae = fc
  .string({ unit: fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789 "), minLength: 1, maxLength: 16 })
  .filter((s) => s.trim() === s)
const us = fc.integer({ min: 0, max: 0xffff })
const priority = fc.constantFrom<Dimse.Priority>(0, 1, 2)
const detail = { errorComment: ae, errorId: us, offendingElement: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }) }
const counts = {
  numberOfRemainingSuboperations: us,
  numberOfCompletedSuboperations: us,
  numberOfFailedSuboperations: us,
  numberOfWarningSuboperations: us
}
const rsp = <T extends string>(tag: T, extra: Record<string, fc.Arbitrary<unknown>>, hasIdentifier: boolean) =>
  fc.record(
    {
      _tag: fc.constant(tag),
      messageIdBeingRespondedTo: us,
      status: us,
      affectedSopClassUid: uid,
      ...detail,
      ...extra,
      ...(hasIdentifier ? { hasIdentifier: fc.boolean() } : {})
    },
    {
      requiredKeys: [
        "_tag",
        "messageIdBeingRespondedTo",
        "status",
        ...(hasIdentifier ? ["hasIdentifier" as const] : [])
      ]
    }
  )

const arbitraryMessage = fc.oneof(
  fc.record({ _tag: fc.constant("CEchoRq"), messageId: us, affectedSopClassUid: uid }),
  rsp("CEchoRsp", {}, false),
  fc.record(
    {
      _tag: fc.constant("CStoreRq"),
      messageId: us,
      affectedSopClassUid: uid,
      affectedSopInstanceUid: uid,
      priority,
      moveOriginatorApplicationEntityTitle: ae,
      moveOriginatorMessageId: us
    },
    { requiredKeys: ["_tag", "messageId", "affectedSopClassUid", "affectedSopInstanceUid", "priority"] }
  ),
  rsp("CStoreRsp", { affectedSopInstanceUid: uid }, false),
  fc.record({ _tag: fc.constantFrom("CFindRq", "CGetRq"), messageId: us, affectedSopClassUid: uid, priority }),
  rsp("CFindRsp", {}, true).filter((m) => !(m.status === 0 && m.hasIdentifier)),
  rsp("CGetRsp", counts, true),
  fc.record({ _tag: fc.constant("CMoveRq"), messageId: us, affectedSopClassUid: uid, priority, moveDestination: ae }),
  rsp("CMoveRsp", counts, true),
  fc.record({ _tag: fc.constant("CCancelRq"), messageIdBeingRespondedTo: us })
) as fc.Arbitrary<Dimse.Message>

describe("Dimse properties", () => {
  it("every valid message survives encode and decode", () => {
    fc.assert(
      fc.property(arbitraryMessage, (msg) => {
        assert.isTrue(Schema.is(Dimse.Message)(msg))
        assert.deepStrictEqual(ok(Dimse.decode(ok(Dimse.encode(msg)))), msg)
        assert.isString(Dimse.summarize(msg))
      }),
      { numRuns: 1000 }
    )
  })

  it("fromCommandSet never throws on arbitrary command sets", () => {
    const cs = fc.record(
      {
        commandField: fc.constantFrom(...Object.values(Dimse.CommandField), 0x0042, 0x0160),
        commandDataSetType: fc.constantFrom(0x0101, 0x0001),
        messageId: us,
        messageIdBeingRespondedTo: us,
        status: us,
        priority: fc.integer({ min: 0, max: 4 }),
        affectedSopClassUid: uid,
        affectedSopInstanceUid: uid,
        moveDestination: ae
      },
      { requiredKeys: [] }
    )
    fc.assert(
      fc.property(cs, (c) => {
        const r = Dimse.fromCommandSet(c)
        if (Result.isSuccess(r)) assert.isTrue(Schema.is(Dimse.Message)(r.success))
        else assert.strictEqual(r.failure._tag, "DimseError")
      }),
      { numRuns: 2000 }
    )
  })
})

describe("fitErrorComment", () => {
  it("keeps a short text, cuts a long one at a word with '...', never past 64 characters", () => {
    assert.strictEqual(Dimse.fitErrorComment("no accepted context"), "no accepted context")
    const long = "PatientID must be given as one or more values for a PATIENT level query"
    const fitted = Dimse.fitErrorComment(long)
    assert.strictEqual(fitted, "PatientID must be given as one or more values for a PATIENT...")
    assert.isAtMost(fitted.length, 64)
    // our messages' punctuation in ASCII, anything else outside it as "?"
    assert.strictEqual(
      Dimse.fitErrorComment("aborted \u2014 reason \u201cnone\u201d\u2026 \u00e9"),
      'aborted - reason "none"... ?'
    )
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        const out = Dimse.fitErrorComment(text)
        assert.isAtMost(out.length, 64)
        for (const ch of out) assert.isTrue(ch !== "\\" && ch.charCodeAt(0) >= 0x20, JSON.stringify(out))
      })
    )
  })
})
