/**
 * `Dimse.fromCommandSet` checks a received message's values by hand and runs the message's Schema only when a
 * check fails. Attack: every message type, every command field, with hostile values (NaN, -0, Infinity, fractions,
 * negatives, huge numbers, empty and over-long strings, sparse arrays, arrays of strings, objects, null): whatever
 * the hand checks accept must be exactly what the message's Schema accepts, and give the same message.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import fc from "fast-check"
import { CommandSet as CS, Dimse } from "@netdicom/wire"

const COMMAND_FIELDS = [0x0001, 0x8001, 0x0010, 0x8010, 0x0020, 0x8020, 0x0021, 0x8021, 0x0030, 0x8030, 0x0fff]

// A sparse array: index 0 a hole, index 1 a valid tag.
const sparse = (): ReadonlyArray<number> => {
  const out: Array<number> = []
  out[1] = 0x00100010
  return out
}

const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: -2, max: 70000 }),
  fc.constantFrom(NaN, -0, Infinity, -Infinity, 0.5, 0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER + 2, 1e21),
  fc.string({ minLength: 0, maxLength: 70 }),
  fc.constantFrom("", "1.2.3", "A".repeat(16), "A".repeat(17), "1".repeat(64), "1".repeat(65), "\u{1F600}".repeat(32)),
  fc.array(fc.oneof(fc.integer({ min: -1, max: 2 ** 32 }), fc.constant(NaN), fc.constant(1.5)), { maxLength: 3 }),
  fc.constantFrom(sparse(), [undefined], ["1"], [null]),
  fc.boolean(),
  fc.constantFrom(null, {}, { length: 1 })
)

const FIELDS = CS.ELEMENTS.map((e) => e.field).filter((f) => f !== "commandField" && f !== "commandDataSetType")

const commandSets: fc.Arbitrary<CS.CommandSet> = fc
  .record({
    commandField: fc.constantFrom(...COMMAND_FIELDS),
    commandDataSetType: fc.constantFrom(0x0101, 0x0000),
    fields: fc.dictionary(fc.constantFrom(...FIELDS), hostile, { maxKeys: 8 })
  })
  .map(
    ({ commandField, commandDataSetType, fields }) => ({ ...fields, commandField, commandDataSetType }) as CS.CommandSet
  )

describe("fromCommandSet's hand checks against the message Schemas", () => {
  it("a command set is accepted only if its message's Schema accepts it, and gives what the Schema gives", () => {
    fc.assert(
      fc.property(commandSets, (cs) => {
        const decoded = Dimse.fromCommandSet(cs)
        if (Result.isFailure(decoded)) return
        const bySchema = Schema.decodeUnknownResult(Dimse.Message)(decoded.success)
        assert.isTrue(
          Result.isSuccess(bySchema),
          `accepted by the hand checks, rejected by the Schema: ${JSON.stringify(decoded.success)}`
        )
        if (Result.isSuccess(bySchema)) assert.deepStrictEqual({ ...decoded.success }, { ...bySchema.success })
      }),
      { numRuns: 20000 }
    )
  })

  it("a sparse Offending Element (a hole where a tag should be) is refused, as the Schema refuses it", () => {
    const cs: CS.CommandSet = {
      commandField: 0x8001,
      commandDataSetType: 0x0101,
      messageIdBeingRespondedTo: 1,
      status: 0xa700,
      offendingElement: sparse()
    }
    const decoded = Dimse.fromCommandSet(cs)
    assert.isTrue(Result.isFailure(decoded), "a hole is not a tag")
    if (Result.isFailure(decoded)) assert.strictEqual(decoded.failure.reason, "InvalidValue")
  })
})
