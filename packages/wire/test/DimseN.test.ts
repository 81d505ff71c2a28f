/**
 * The DIMSE-N messages (PS3.7 10.3): round trips through command sets and bytes, the fields each table requires or
 * forbids, where a data set must, may or may not follow, and properties over arbitrary messages and command sets.
 */
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

const COMMITMENT = "1.2.840.10008.1.20.1"
const COMMITMENT_INSTANCE = "1.2.840.10008.1.20.1.1"
const MPPS = "1.2.840.10008.3.1.2.3.3"
const FILM_BOX = "1.2.840.10008.5.1.1.2"

const SAMPLES: ReadonlyArray<Dimse.Message> = [
  {
    _tag: "NActionRq",
    messageId: 1,
    requestedSopClassUid: COMMITMENT,
    requestedSopInstanceUid: COMMITMENT_INSTANCE,
    actionTypeId: 1,
    hasDataSet: true
  },
  {
    _tag: "NActionRsp",
    messageIdBeingRespondedTo: 1,
    status: 0,
    affectedSopClassUid: COMMITMENT,
    affectedSopInstanceUid: COMMITMENT_INSTANCE,
    actionTypeId: 1,
    hasDataSet: false
  },
  {
    _tag: "NEventReportRq",
    messageId: 9,
    affectedSopClassUid: COMMITMENT,
    affectedSopInstanceUid: COMMITMENT_INSTANCE,
    eventTypeId: 2,
    hasDataSet: true
  },
  { _tag: "NEventReportRsp", messageIdBeingRespondedTo: 9, status: 0, eventTypeId: 2, hasDataSet: false },
  { _tag: "NCreateRq", messageId: 2, affectedSopClassUid: MPPS, affectedSopInstanceUid: "1.2.3.9", hasDataSet: true },
  { _tag: "NCreateRq", messageId: 3, affectedSopClassUid: MPPS, hasDataSet: false },
  {
    _tag: "NCreateRsp",
    messageIdBeingRespondedTo: 3,
    status: 0,
    affectedSopClassUid: MPPS,
    affectedSopInstanceUid: "1.2.3.10",
    hasDataSet: true
  },
  { _tag: "NSetRq", messageId: 4, requestedSopClassUid: MPPS, requestedSopInstanceUid: "1.2.3.9" },
  {
    _tag: "NSetRsp",
    messageIdBeingRespondedTo: 4,
    status: 0x0110,
    errorComment: "may no longer be updated",
    errorId: 0xa710,
    hasDataSet: false
  },
  {
    _tag: "NGetRq",
    messageId: 5,
    requestedSopClassUid: FILM_BOX,
    requestedSopInstanceUid: "1.2.3.11",
    attributeIdentifierList: [0x20100010, 0x20100040]
  },
  { _tag: "NGetRq", messageId: 6, requestedSopClassUid: FILM_BOX, requestedSopInstanceUid: "1.2.3.11" },
  {
    _tag: "NGetRsp",
    messageIdBeingRespondedTo: 5,
    status: 0x0107,
    attributeIdentifierList: [0x20100040],
    hasDataSet: true
  },
  { _tag: "NDeleteRq", messageId: 7, requestedSopClassUid: FILM_BOX, requestedSopInstanceUid: "1.2.3.11" },
  { _tag: "NDeleteRsp", messageIdBeingRespondedTo: 7, status: 0x0112, affectedSopInstanceUid: "1.2.3.11" }
]

describe("DIMSE-N round trips", () => {
  it.each(SAMPLES.map((m) => [Dimse.summarize(m), m] as const))("%s", (_, msg) => {
    assert.isTrue(Schema.is(Dimse.Message)(msg))
    const cs = Dimse.toCommandSet(msg)
    assert.deepStrictEqual(ok(CS.decode(ok(CS.encode(cs)))), cs)
    assert.deepStrictEqual(ok(Dimse.fromCommandSet(cs)), msg)
    assert.deepStrictEqual(ok(Dimse.decode(ok(Dimse.encode(msg)))), msg)
  })

  it("writes each message's command field and data set type (PS3.7 E.1-1)", () => {
    assert.deepStrictEqual(
      SAMPLES.map((m) => [Dimse.commandName(m), Dimse.toCommandSet(m).commandField, Dimse.hasDataSet(m)]),
      [
        ["N-ACTION-RQ", 0x0130, true],
        ["N-ACTION-RSP", 0x8130, false],
        ["N-EVENT-REPORT-RQ", 0x0100, true],
        ["N-EVENT-REPORT-RSP", 0x8100, false],
        ["N-CREATE-RQ", 0x0140, true],
        ["N-CREATE-RQ", 0x0140, false],
        ["N-CREATE-RSP", 0x8140, true],
        ["N-SET-RQ", 0x0120, true],
        ["N-SET-RSP", 0x8120, false],
        ["N-GET-RQ", 0x0110, false],
        ["N-GET-RQ", 0x0110, false],
        ["N-GET-RSP", 0x8110, true],
        ["N-DELETE-RQ", 0x0150, false],
        ["N-DELETE-RSP", 0x8150, false]
      ]
    )
    assert.deepStrictEqual(
      SAMPLES.map((m) => Dimse.toCommandSet(m).commandDataSetType),
      SAMPLES.map((m) => (Dimse.hasDataSet(m) ? CS.DATA_SET_PRESENT : CS.NO_DATA_SET))
    )
  })

  it("names the SOP class and instance a request is about, Affected or Requested", () => {
    const requests = SAMPLES.filter(Dimse.isNRequest)
    assert.deepStrictEqual(
      requests.map((m) => [Dimse.nSopClassOf(m), Dimse.nSopInstanceOf(m)]),
      [
        [COMMITMENT, COMMITMENT_INSTANCE],
        [COMMITMENT, COMMITMENT_INSTANCE],
        [MPPS, "1.2.3.9"],
        [MPPS, undefined],
        [MPPS, "1.2.3.9"],
        [FILM_BOX, "1.2.3.11"],
        [FILM_BOX, "1.2.3.11"],
        [FILM_BOX, "1.2.3.11"]
      ]
    )
    assert.isFalse(Dimse.isNRequest(SAMPLES[1]!))
    const echo: Dimse.Message = { _tag: "CEchoRq", messageId: 1, affectedSopClassUid: "1.2.840.10008.1.1" }
    assert.isFalse(Dimse.isNRequest(echo))
  })
})

describe("DIMSE-N required and forbidden fields", () => {
  const without = (cs: CS.CommandSet, field: CS.Field): CS.CommandSet =>
    Object.fromEntries(Object.entries(cs).filter(([k]) => k !== field))
  const action = Dimse.toCommandSet(SAMPLES[0]!)
  const report = Dimse.toCommandSet(SAMPLES[2]!)
  const create = Dimse.toCommandSet(SAMPLES[4]!)
  const set = Dimse.toCommandSet(SAMPLES[7]!)
  const get = Dimse.toCommandSet(SAMPLES[9]!)
  const del = Dimse.toCommandSet(SAMPLES[12]!)

  it.each([
    ["N-ACTION-RQ", action, "requestedSopClassUid", "RequestedSOPClassUID"],
    ["N-ACTION-RQ", action, "requestedSopInstanceUid", "RequestedSOPInstanceUID"],
    ["N-ACTION-RQ", action, "actionTypeId", "ActionTypeID"],
    ["N-ACTION-RQ", action, "messageId", "MessageID"],
    ["N-EVENT-REPORT-RQ", report, "affectedSopClassUid", "AffectedSOPClassUID"],
    ["N-EVENT-REPORT-RQ", report, "affectedSopInstanceUid", "AffectedSOPInstanceUID"],
    ["N-EVENT-REPORT-RQ", report, "eventTypeId", "EventTypeID"],
    ["N-CREATE-RQ", create, "affectedSopClassUid", "AffectedSOPClassUID"],
    ["N-SET-RQ", set, "requestedSopInstanceUid", "RequestedSOPInstanceUID"],
    ["N-GET-RQ", get, "requestedSopClassUid", "RequestedSOPClassUID"],
    ["N-DELETE-RQ", del, "requestedSopInstanceUid", "RequestedSOPInstanceUID"],
    ["N-DELETE-RQ", del, "commandDataSetType", "CommandDataSetType"]
  ] as const)("%s without %s", (command, cs, field, keyword) => {
    const e = err(Dimse.fromCommandSet(without(cs, field)))
    assert.deepStrictEqual([e._tag, e.reason, e.command, e.field], ["DimseError", "MissingField", command, keyword])
  })

  it("a response without its Status or Message ID Being Responded To", () => {
    const rsp = Dimse.toCommandSet(SAMPLES[1]!)
    assert.strictEqual(err(Dimse.fromCommandSet(without(rsp, "status"))).field, "Status")
    assert.strictEqual(
      err(Dimse.fromCommandSet(without(rsp, "messageIdBeingRespondedTo"))).field,
      "MessageIDBeingRespondedTo"
    )
  })

  it("elements a message's table does not have", () => {
    const forbidden = (cs: CS.CommandSet) => {
      const e = err(Dimse.fromCommandSet(cs))
      return [e.reason, e.command, e.field]
    }
    // Affected where Requested belongs, and the other way round
    assert.deepStrictEqual(forbidden({ ...action, affectedSopClassUid: COMMITMENT }), [
      "ForbiddenField",
      "N-ACTION-RQ",
      "AffectedSOPClassUID"
    ])
    assert.deepStrictEqual(forbidden({ ...report, requestedSopInstanceUid: "1.2" }), [
      "ForbiddenField",
      "N-EVENT-REPORT-RQ",
      "RequestedSOPInstanceUID"
    ])
    // DIMSE-N has no Priority; an event type on an action, an action type on a report
    assert.deepStrictEqual(forbidden({ ...set, priority: 0 }), ["ForbiddenField", "N-SET-RQ", "Priority"])
    assert.deepStrictEqual(forbidden({ ...action, eventTypeId: 1 }), ["ForbiddenField", "N-ACTION-RQ", "EventTypeID"])
    assert.deepStrictEqual(forbidden({ ...Dimse.toCommandSet(SAMPLES[3]!), actionTypeId: 1 }), [
      "ForbiddenField",
      "N-EVENT-REPORT-RSP",
      "ActionTypeID"
    ])
    // the attribute list only on N-GET-RQ among requests
    assert.deepStrictEqual(forbidden({ ...set, attributeIdentifierList: [0x00100010] }), [
      "ForbiddenField",
      "N-SET-RQ",
      "AttributeIdentifierList"
    ])
    // sub-operation counts are DIMSE-C's
    assert.deepStrictEqual(forbidden({ ...Dimse.toCommandSet(SAMPLES[13]!), numberOfFailedSuboperations: 1 }), [
      "ForbiddenField",
      "N-DELETE-RSP",
      "NumberOfFailedSuboperations"
    ])
  })

  it("a data set where none may follow, none where one must", () => {
    const e1 = err(Dimse.fromCommandSet({ ...get, commandDataSetType: CS.DATA_SET_PRESENT }))
    assert.deepStrictEqual([e1.reason, e1.command, e1.field], ["ForbiddenField", "N-GET-RQ", "CommandDataSetType"])
    const e2 = err(Dimse.fromCommandSet({ ...del, commandDataSetType: 0 }))
    assert.deepStrictEqual([e2.reason, e2.command], ["ForbiddenField", "N-DELETE-RQ"])
    const e3 = err(Dimse.fromCommandSet({ ...set, commandDataSetType: CS.NO_DATA_SET }))
    assert.deepStrictEqual([e3.reason, e3.command, e3.field], ["MissingField", "N-SET-RQ", "CommandDataSetType"])
    // optional ones follow the command set's announcement
    assert.isFalse(Dimse.hasDataSet(ok(Dimse.fromCommandSet({ ...action, commandDataSetType: CS.NO_DATA_SET }))))
    assert.isTrue(Dimse.hasDataSet(ok(Dimse.fromCommandSet({ ...create, commandDataSetType: 0x0102 }))))
  })

  it("values out of range are InvalidValue", () => {
    const e = err(Dimse.fromCommandSet({ ...action, actionTypeId: 0x10000 }))
    assert.deepStrictEqual([e.reason, e.command], ["InvalidValue", "N-ACTION-RQ"])
    const e2 = err(Dimse.fromCommandSet({ ...get, requestedSopInstanceUid: "1".repeat(65) }))
    assert.deepStrictEqual([e2.reason, e2.command], ["InvalidValue", "N-GET-RQ"])
    const e3 = err(Dimse.fromCommandSet({ ...get, attributeIdentifierList: [0x1_0000_0000] }))
    assert.deepStrictEqual([e3.reason, e3.command], ["InvalidValue", "N-GET-RQ"])
  })

  it("an Attribute Identifier List of odd length is a command set error", () => {
    const bytes = ok(Dimse.encode(SAMPLES[9]!))
    // (0000,1005) holds 8 bytes; shorten its length field to 6 and drop two bytes of value
    const at = findTag(bytes, 0x1005)
    const view = new DataView(bytes.buffer, bytes.byteOffset)
    view.setUint32(at + 4, 6, true)
    const cut = new Uint8Array([...bytes.subarray(0, at + 14), ...bytes.subarray(at + 16)])
    const e = err(Dimse.decode(cut))
    assert.strictEqual(e._tag, "CommandSetError")
    assert.match(e.message, /AttributeIdentifierList \(AT\) has length 6, not a multiple of 4/)
  })
})

// The offset of a group 0000 element's header in an encoded command set.
const findTag = (bytes: Uint8Array, element: number): number => {
  const view = new DataView(bytes.buffer, bytes.byteOffset)
  let at = 0
  while (at < bytes.length) {
    if (view.getUint16(at + 2, true) === element) return at
    at += 8 + view.getUint32(at + 4, true)
  }
  return assert.fail(`no element (0000,${element.toString(16)})`)
}

describe("DIMSE-N summaries", () => {
  it("name the SOP class, instance, event or action type and attributes", () => {
    assert.deepStrictEqual(SAMPLES.slice(0, 4).map(Dimse.summarize), [
      "N-ACTION-RQ id=1 Storage Commitment Push Model 1.2.840.10008.1.20.1.1 action=1 dataset",
      "N-ACTION-RSP id=1 status=0x0000 Success Storage Commitment Push Model 1.2.840.10008.1.20.1.1 action=1",
      "N-EVENT-REPORT-RQ id=9 Storage Commitment Push Model 1.2.840.10008.1.20.1.1 event=2 dataset",
      "N-EVENT-REPORT-RSP id=9 status=0x0000 Success event=2"
    ])
    assert.strictEqual(
      Dimse.summarize(SAMPLES[11]!),
      "N-GET-RSP id=5 status=0x0107 Warning: attribute list error attributes=(2010,0040) dataset"
    )
    assert.strictEqual(Dimse.commandFieldName(0x8140), "N-CREATE-RSP")
    assert.strictEqual(Dimse.sopClassName(MPPS), "Modality Performed Procedure Step")
  })
})

const uid = fc.string({ unit: fc.constantFrom(..."0123456789."), minLength: 1, maxLength: 64 })
const us = fc.integer({ min: 0, max: 0xffff })
const tags = fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 4 })
const comment = fc
  .string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789 "), minLength: 1, maxLength: 64 })
  .filter((s) => s.trim() === s)

const nRsp = (tag: string, extra: Record<string, fc.Arbitrary<unknown>>, dataSet: boolean) =>
  fc.record(
    {
      _tag: fc.constant(tag),
      messageIdBeingRespondedTo: us,
      status: us,
      affectedSopClassUid: uid,
      affectedSopInstanceUid: uid,
      attributeIdentifierList: tags,
      errorComment: comment,
      errorId: us,
      offendingElement: tags,
      ...extra,
      ...(dataSet ? { hasDataSet: fc.boolean() } : {})
    },
    { requiredKeys: ["_tag", "messageIdBeingRespondedTo", "status", ...(dataSet ? ["hasDataSet" as const] : [])] }
  )

const arbitraryN = fc.oneof(
  fc.record({
    _tag: fc.constant("NEventReportRq"),
    messageId: us,
    affectedSopClassUid: uid,
    affectedSopInstanceUid: uid,
    eventTypeId: us,
    hasDataSet: fc.boolean()
  }),
  nRsp("NEventReportRsp", { eventTypeId: us }, true),
  fc.record(
    {
      _tag: fc.constant("NGetRq"),
      messageId: us,
      requestedSopClassUid: uid,
      requestedSopInstanceUid: uid,
      attributeIdentifierList: tags
    },
    { requiredKeys: ["_tag", "messageId", "requestedSopClassUid", "requestedSopInstanceUid"] }
  ),
  nRsp("NGetRsp", {}, true),
  fc.record({
    _tag: fc.constantFrom("NSetRq", "NDeleteRq"),
    messageId: us,
    requestedSopClassUid: uid,
    requestedSopInstanceUid: uid
  }),
  nRsp("NSetRsp", {}, true),
  fc.record({
    _tag: fc.constant("NActionRq"),
    messageId: us,
    requestedSopClassUid: uid,
    requestedSopInstanceUid: uid,
    actionTypeId: us,
    hasDataSet: fc.boolean()
  }),
  nRsp("NActionRsp", { actionTypeId: us }, true),
  fc.record(
    {
      _tag: fc.constant("NCreateRq"),
      messageId: us,
      affectedSopClassUid: uid,
      affectedSopInstanceUid: uid,
      hasDataSet: fc.boolean()
    },
    { requiredKeys: ["_tag", "messageId", "affectedSopClassUid", "hasDataSet"] }
  ),
  nRsp("NCreateRsp", {}, true),
  nRsp("NDeleteRsp", {}, false)
) as fc.Arbitrary<Dimse.Message>

describe("DIMSE-N properties", () => {
  it("every valid N message survives encode and decode", () => {
    fc.assert(
      fc.property(arbitraryN, (msg) => {
        assert.isTrue(Schema.is(Dimse.Message)(msg))
        assert.deepStrictEqual(ok(Dimse.decode(ok(Dimse.encode(msg)))), msg)
        assert.isString(Dimse.summarize(msg))
      }),
      { numRuns: 1000 }
    )
  })

  it("a valid N message's command set with one element dropped or added: a valid message or a DimseError", () => {
    const extra = fc.record(
      {
        messageId: us,
        messageIdBeingRespondedTo: us,
        status: us,
        priority: us,
        affectedSopClassUid: uid,
        affectedSopInstanceUid: uid,
        requestedSopClassUid: uid,
        requestedSopInstanceUid: uid,
        eventTypeId: us,
        actionTypeId: us,
        attributeIdentifierList: tags,
        commandDataSetType: fc.constantFrom(0x0101, 0x0001)
      },
      { requiredKeys: [], noNullPrototype: true }
    )
    const mutated = fc
      .tuple(arbitraryN, fc.nat(), fc.boolean(), extra)
      .map(([msg, pick, drop, added]): [Dimse.Message, CS.CommandSet] => {
        const cs: Record<string, unknown> = { ...Dimse.toCommandSet(msg) }
        const keys = Object.keys(cs)
        if (drop) delete cs[keys[pick % keys.length]!]
        else {
          const addKeys = Object.keys(added) as Array<keyof typeof added>
          if (addKeys.length > 0) {
            const key = addKeys[pick % addKeys.length]!
            cs[key] = added[key]
          }
        }
        return [msg, cs as CS.CommandSet]
      })
    let decoded = 0
    let refused = 0
    fc.assert(
      fc.property(mutated, ([, c]) => {
        const r = Dimse.fromCommandSet(c)
        if (Result.isSuccess(r)) {
          decoded++
          assert.isTrue(Schema.is(Dimse.Message)(r.success))
          assert.deepStrictEqual(ok(Dimse.decode(ok(Dimse.encode(r.success)))), r.success)
        } else {
          refused++
          assert.strictEqual(r.failure._tag, "DimseError")
          assert.include(["MissingField", "ForbiddenField", "InvalidValue", "UnknownCommand"], r.failure.reason)
        }
      }),
      { numRuns: 3000, seed: 7 }
    )
    assert.isAbove(decoded, 100)
    assert.isAbove(refused, 100)
  })
})
