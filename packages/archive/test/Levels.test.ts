/**
 * The reasons `Levels` gives for an identifier it refuses become the Error Comment (0000,0902) of the SCP's
 * response, a LO of at most 64 characters: a longer one reaches the peer cut short ("... for a..."), so each must
 * fit, whatever the level and unique key.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as Levels from "../src/Levels.ts"

const options = { caseInsensitivePersonName: true }

const wildcards = (keyword: string) => `${keyword}: wildcards are not allowed in a UID key`

const reasonOf = (result: Result.Result<unknown, { readonly reason: string }>): string => {
  assert.isTrue(Result.isFailure(result), "expected a refusal")
  return Result.isFailure(result) ? result.failure.reason : ""
}

describe("Levels: refusal reasons fit an Error Comment (64 characters)", () => {
  it("retrieve: the level's own unique key, and a key of a level above", () => {
    const cases: Array<[Levels.InformationModel, Record<string, unknown>, string]> = [
      ["StudyRoot", { QueryRetrieveLevel: "STUDY" }, "StudyInstanceUID: one or more values needed at STUDY level"],
      [
        "StudyRoot",
        { QueryRetrieveLevel: "SERIES", StudyInstanceUID: "1.2" },
        "SeriesInstanceUID: one or more values needed at SERIES level"
      ],
      [
        "StudyRoot",
        { QueryRetrieveLevel: "SERIES", SeriesInstanceUID: "1.2.3" },
        "StudyInstanceUID: a single value needed at SERIES level"
      ],
      [
        "PatientRoot",
        { QueryRetrieveLevel: "IMAGE", PatientID: "P", StudyInstanceUID: "1.2", SOPInstanceUID: "1.2.3.4" },
        "SeriesInstanceUID: a single value needed at IMAGE level"
      ],
      // wildcards (PS3.4 C.4.2.2.1: single value or UID list matching only)
      ["StudyRoot", { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2*" }, wildcards("StudyInstanceUID")],
      [
        "StudyRoot",
        { QueryRetrieveLevel: "STUDY", StudyInstanceUID: ["1.2.3", "1.2.?"] },
        wildcards("StudyInstanceUID")
      ]
    ]
    for (const [model, query, expected] of cases) {
      const planned = Levels.planRetrieve(query, model, options)
      const reason = reasonOf(planned)
      assert.strictEqual(reason, expected)
      // every one of these is the identifier's fault: 0xA900 (a wildcard in a UID key was 0xC000)
      if (Result.isFailure(planned)) assert.strictEqual(planned.failure._tag, "IdentifierDoesNotMatchSopClass", reason)
      assert.isAtMost(reason.length, 64, reason)
    }
  })

  it("find: a key of a level above; an unknown level of the longest a CS holds", () => {
    const above = reasonOf(
      Levels.planFind(
        { QueryRetrieveLevel: "IMAGE", StudyInstanceUID: "1.2", SOPInstanceUID: "" },
        "PatientRoot",
        options
      )
    )
    assert.isAtMost(above.length, 64, above)
    const level = reasonOf(Levels.planFind({ QueryRetrieveLevel: "ABCDEFGHIJKLMNOP" }, "PatientRoot", options))
    assert.isAtMost(level.length, 64, level)
    assert.include(level, "ABCDEFGHIJKLMNOP")
  })
})
