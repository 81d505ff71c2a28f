/**
 * `netdicom find -k Rows=70000` asked for Rows 4464: dcmjs writes a number its VR cannot hold as another number (US
 * 70000 as 4464, -1 as 65535, 1.5 as 1; an IS of 14 digits cut to its first 12; a DS of 20 digits cut to its first 16,
 * ten thousand times smaller; the text "70000" given for a US, as 4464 too), so a query, or any data set
 * `DataSet.encode` wrote, said something else than it was
 * given, without a word. Such a value is now refused (`InvalidValue`), as a UID with other characters than digits and
 * dots is; numbers that fit, and text (a key's range or wildcard), are written as before.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { DataSet } from "@netdicom/net"
import { identifier } from "../../packages/cli/src/Keys.ts"

const EXPLICIT = "1.2.840.10008.1.2.1"
const IMPLICIT = "1.2.840.10008.1.2"

const roundTrip = (
  value: DataSet.Naturalized,
  syntax = EXPLICIT
): Result.Result<DataSet.Naturalized, DataSet.DataSetError> =>
  Result.flatMap(DataSet.encode(value, syntax), (bytes) => DataSet.decode(bytes, syntax))

describe("numbers a VR cannot hold as given", () => {
  const refused: ReadonlyArray<DataSet.Naturalized> = [
    { Rows: 70000 },
    { Rows: -1 },
    { Rows: 1.5 },
    { Rows: [1, 70000] },
    { Rows: "70000" },
    { Rows: ["1", "-1"] },
    { PixelPaddingValue: 40000, _vrMap: { PixelPaddingValue: "SS" } },
    { InstanceNumber: 12345678901234 },
    { InstanceNumber: 1.5 },
    { InstanceNumber: 2 ** 31 },
    { LossyImageCompressionRatio: 12345678901234567000 },
    { LossyImageCompressionRatio: -1234567890123456 },
    { LossyImageCompressionRatio: 1.2345678901234e25 }
  ]
  for (const value of refused) {
    it(`${JSON.stringify(value)} is refused, not written as another number`, () => {
      for (const syntax of [EXPLICIT, IMPLICIT]) {
        const out = roundTrip(value, syntax)
        assert.isTrue(
          Result.isFailure(out),
          `written and read back as ${Result.isSuccess(out) ? JSON.stringify(out.success) : ""}`
        )
        if (Result.isFailure(out)) assert.strictEqual(out.failure.kind, "InvalidValue", out.failure.message)
      }
    })
  }

  const kept: ReadonlyArray<DataSet.Naturalized> = [
    { Rows: 65535 },
    { Rows: 0 },
    { Rows: [1, 512] },
    { PixelPaddingValue: -32768, _vrMap: { PixelPaddingValue: "SS" } },
    { InstanceNumber: -2147483648 },
    { InstanceNumber: 2147483647 },
    { SliceThickness: 1e300 },
    { SliceThickness: 2.5 },
    { SliceThickness: -123456789012345 }
  ]
  for (const value of kept) {
    it(`${JSON.stringify(value)} is written as given`, () => {
      const out = roundTrip(value)
      assert.isTrue(Result.isSuccess(out), Result.isFailure(out) ? out.failure.message : "")
      if (Result.isSuccess(out)) {
        const key = Object.keys(value).find((k) => k !== "_vrMap")!
        assert.deepStrictEqual(out.success[key], value[key])
      }
    })
  }

  it("a US given as text that fits is written as its number", () => {
    const out = roundTrip({ Columns: "512" })
    assert.isTrue(Result.isSuccess(out))
    if (Result.isSuccess(out)) assert.strictEqual(out.success["Columns"], 512)
  })

  it("a DS of more digits after the point than fit loses precision only, as before", () => {
    const out = roundTrip({ WindowCenter: 1 / 3 })
    assert.isTrue(Result.isSuccess(out))
    if (Result.isSuccess(out)) assert.closeTo(out.success["WindowCenter"] as number, 1 / 3, 1e-13)
  })

  it("netdicom find -k Rows=70000: the identifier is not written", () => {
    const id = Result.getOrThrow(identifier({ model: "study", level: "IMAGE", keys: ["Rows=70000"], find: true }))
    assert.isTrue(Result.isFailure(DataSet.encode(id, EXPLICIT)))
    const range = Result.getOrThrow(
      identifier({ model: "study", level: "SERIES", keys: ["SeriesNumber=1-4"], find: true })
    )
    assert.isTrue(Result.isSuccess(DataSet.encode(range, EXPLICIT)), "a range is text, written as given")
  })
})
