/**
 * `Dimse.fromCommandSet` checks a received message's values by hand and goes through the message's Schema only
 * when a check fails: whatever the command set, it must give what the Schema alone gives.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import fc from "fast-check"
import * as CS from "../src/CommandSet.ts"
import * as Dimse from "../src/Dimse.ts"

const CT = "1.2.840.10008.5.1.4.1.1.2"

// What the message Schema alone makes of a command set that passed fromCommandSet's structural checks.
const bySchema = (m: Dimse.Message) => Schema.decodeUnknownResult(Dimse.Message)(m)

const VALID: ReadonlyArray<Dimse.Message> = [
  { _tag: "CEchoRq", messageId: 1, affectedSopClassUid: "1.2.840.10008.1.1" },
  { _tag: "CStoreRq", messageId: 65535, affectedSopClassUid: CT, affectedSopInstanceUid: "1.2.3", priority: 2 },
  {
    _tag: "CStoreRq",
    messageId: 7,
    affectedSopClassUid: CT,
    affectedSopInstanceUid: "1".repeat(64),
    priority: 0,
    moveOriginatorApplicationEntityTitle: "A".repeat(16),
    moveOriginatorMessageId: 3
  },
  {
    _tag: "CStoreRsp",
    messageIdBeingRespondedTo: 7,
    status: 0xa700,
    affectedSopClassUid: CT,
    affectedSopInstanceUid: "1.2.3",
    errorComment: "x".repeat(64),
    offendingElement: [0x00100010, 0xffffffff],
    errorId: 5
  },
  {
    _tag: "CMoveRsp",
    messageIdBeingRespondedTo: 2,
    status: 0xff00,
    hasIdentifier: false,
    numberOfRemainingSuboperations: 4
  },
  {
    _tag: "NGetRq",
    messageId: 3,
    requestedSopClassUid: "1.2.840.10008.5.1.1.2",
    requestedSopInstanceUid: "1.2.3",
    attributeIdentifierList: [0x20100010, 0xffffffff]
  },
  {
    _tag: "NActionRsp",
    messageIdBeingRespondedTo: 3,
    status: 0x0123,
    actionTypeId: 65535,
    attributeIdentifierList: [0],
    hasDataSet: false
  }
]

describe("fromCommandSet's checks agree with the message Schemas", () => {
  it("valid messages decode to what their Schema gives", () => {
    for (const m of VALID) {
      const decoded = Dimse.fromCommandSet(Dimse.toCommandSet(m))
      assert.isTrue(Result.isSuccess(decoded))
      const expected = bySchema(m)
      assert.isTrue(Result.isSuccess(expected))
      if (Result.isSuccess(decoded) && Result.isSuccess(expected))
        assert.deepStrictEqual(decoded.success, expected.success)
    }
  })

  it("values out of range fail as InvalidValue, with the Schema's detail", () => {
    const store = Dimse.toCommandSet(VALID[1]!)
    const cases: ReadonlyArray<CS.CommandSet> = [
      { ...store, priority: 3 },
      { ...store, affectedSopInstanceUid: "1".repeat(65) },
      { ...store, moveOriginatorApplicationEntityTitle: "A".repeat(17) },
      { ...store, messageId: 65536 },
      { ...store, messageId: 1.5 },
      { ...Dimse.toCommandSet(VALID[3]!), errorComment: "x".repeat(65) },
      { ...Dimse.toCommandSet(VALID[3]!), offendingElement: [-1] },
      { ...Dimse.toCommandSet(VALID[5]!), attributeIdentifierList: [0x1_0000_0000] },
      { ...Dimse.toCommandSet(VALID[5]!), requestedSopClassUid: "1".repeat(65) },
      { ...Dimse.toCommandSet(VALID[6]!), actionTypeId: -1 }
    ]
    for (const cs of cases) {
      const decoded = Dimse.fromCommandSet(cs)
      assert.isTrue(Result.isFailure(decoded))
      if (Result.isFailure(decoded)) {
        assert.strictEqual(decoded.failure.reason, "InvalidValue")
        assert.match(decoded.failure.detail, /^invalid value: /)
      }
    }
  })

  it("random C-STORE-RQ values: accepted exactly when the Schema accepts them, with the same message", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -2, max: 70000 }),
        fc.string({ minLength: 0, maxLength: 70 }),
        fc.integer({ min: -1, max: 4 }),
        fc.option(fc.string({ minLength: 0, maxLength: 20 }), { nil: undefined }),
        (messageId, uid, priority, origin) => {
          const cs: CS.CommandSet = {
            commandField: 0x0001,
            commandDataSetType: 0x0000,
            messageId,
            affectedSopClassUid: CT,
            affectedSopInstanceUid: uid,
            priority,
            ...(origin === undefined ? {} : { moveOriginatorApplicationEntityTitle: origin })
          }
          const decoded = Dimse.fromCommandSet(cs)
          if (uid === "" || origin === "") return // absent values are the structural checks' business
          const expected = bySchema({
            _tag: "CStoreRq",
            messageId,
            affectedSopClassUid: CT,
            affectedSopInstanceUid: uid,
            priority,
            ...(origin === undefined ? {} : { moveOriginatorApplicationEntityTitle: origin })
          } as unknown as Dimse.Message)
          assert.strictEqual(Result.isSuccess(decoded), Result.isSuccess(expected))
          if (Result.isSuccess(decoded) && Result.isSuccess(expected)) {
            assert.deepStrictEqual(decoded.success, expected.success)
          }
        }
      )
    )
  })
})
