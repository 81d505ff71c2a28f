import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import * as Status from "../src/Status.ts"

// Status type per PS3.7 Annex C and the service tables of PS3.4.
const TABLE: ReadonlyArray<readonly [number, Status.Category]> = [
  [0x0000, "Success"],
  [0xff00, "Pending"],
  [0xff01, "Pending"],
  [0xfe00, "Cancel"],
  [0x0001, "Warning"],
  [0x0107, "Warning"],
  [0x0116, "Warning"],
  [0xb000, "Warning"],
  [0xb006, "Warning"],
  [0xb007, "Warning"],
  [0xbfff, "Warning"],
  [0x0105, "Failure"],
  [0x0106, "Failure"],
  [0x0110, "Failure"],
  [0x0111, "Failure"],
  [0x0112, "Failure"],
  [0x0117, "Failure"],
  [0x0122, "Failure"],
  [0x0124, "Failure"],
  [0x0210, "Failure"],
  [0x0211, "Failure"],
  [0x0212, "Failure"],
  [0x0213, "Failure"],
  [0xa700, "Failure"],
  [0xa7ff, "Failure"],
  [0xa701, "Failure"],
  [0xa702, "Failure"],
  [0xa801, "Failure"],
  [0xa900, "Failure"],
  [0xa9ff, "Failure"],
  [0xaa00, "Failure"],
  [0xc000, "Failure"],
  [0xc001, "Failure"],
  [0xcfff, "Failure"],
  [0xfe01, "Failure"],
  [0xff02, "Failure"]
]

describe("Status.classify", () => {
  it.each(TABLE)("0x%s", (status, category) => {
    assert.strictEqual(Status.classify(status), category, Status.format(status))
  })

  it("puts every 16-bit code in exactly one of the five types", () => {
    const counts: Record<Status.Category, number> = { Success: 0, Pending: 0, Cancel: 0, Warning: 0, Failure: 0 }
    for (let s = 0; s <= 0xffff; s++) counts[Status.classify(s)]++
    assert.deepStrictEqual(counts, {
      Success: 1,
      Pending: 2,
      Cancel: 1,
      Warning: 3 + 0x1000,
      Failure: 0x10000 - 7 - 0x1000
    })
  })

  it("predicates agree with the type", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), (s) => {
        const c = Status.classify(s)
        assert.strictEqual(Status.isSuccess(s), c === "Success")
        assert.strictEqual(Status.isPending(s), c === "Pending")
        assert.strictEqual(Status.isFinal(s), c !== "Pending")
        assert.strictEqual(Status.isProblem(s), c === "Warning" || c === "Failure")
      })
    )
  })
})

describe("Status.isPending and isFinal", () => {
  it("agree with classify on every 16-bit status", () => {
    for (let s = 0; s <= 0xffff; s++) {
      const pending = Status.classify(s) === "Pending"
      if (Status.isPending(s) !== pending || Status.isFinal(s) === pending) assert.fail(`status ${s.toString(16)}`)
    }
  })
})

describe("Status.describe", () => {
  it("gives the service-specific meaning from PS3.4", () => {
    assert.strictEqual(Status.describe(0xa801, "C-MOVE"), "Refused: Move Destination unknown")
    assert.strictEqual(Status.describe(0xa702, "C-GET"), "Refused: out of resources, unable to perform sub-operations")
    assert.strictEqual(Status.describe(0xb000, "C-STORE"), "Warning: coercion of data elements")
    assert.strictEqual(
      Status.describe(0xb000, "C-MOVE"),
      "Warning: sub-operations complete, one or more failures or warnings"
    )
    assert.strictEqual(
      Status.describe(0xff01, "C-FIND"),
      "Pending: matches are continuing, one or more optional keys were not supported"
    )
    assert.strictEqual(Status.describe(0xfe00, "C-FIND"), "Cancel: matching terminated due to Cancel request")
    assert.strictEqual(Status.describe(0x0000, "C-FIND"), "Success: matching is complete")
  })

  it("uses the service's ranges for implementation-specific codes", () => {
    assert.strictEqual(Status.describe(0xa7a5, "C-STORE"), "Refused: out of resources")
    assert.strictEqual(Status.describe(0xa912, "C-STORE"), "Error: data set does not match SOP Class")
    assert.strictEqual(Status.describe(0xa912, "C-FIND"), "Failed: identifier does not match SOP Class")
    assert.strictEqual(Status.describe(0xc123, "C-STORE"), "Error: cannot understand")
    assert.strictEqual(Status.describe(0xc123, "C-FIND"), "Failed: unable to process")
  })

  it("falls back to PS3.7 Annex C, then to the type", () => {
    assert.strictEqual(Status.describe(0x0122, "C-ECHO"), "Refused: SOP Class not supported")
    assert.strictEqual(Status.describe(0x0110), "Failure: processing failure")
    assert.strictEqual(Status.describe(0x0211), "Failure: unrecognized operation")
    assert.strictEqual(Status.describe(0x0000), "Success")
    assert.strictEqual(Status.describe(0x1234), "Failure: unknown status 0x1234")
  })

  it("describes every code without failing", () => {
    for (let s = 0; s <= 0xffff; s += 7) assert.isAbove(Status.describe(s, "C-MOVE").length, 0)
  })

  it("formats codes as four upper-case hex digits", () => {
    assert.strictEqual(Status.format(0xa7), "0x00A7")
    assert.strictEqual(Status.format(Status.MOVE_DESTINATION_UNKNOWN), "0xA801")
  })
})
