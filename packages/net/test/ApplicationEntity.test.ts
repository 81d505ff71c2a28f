import { assert, describe, it } from "@effect/vitest"
import { Duration, Result } from "effect"
import * as ApplicationEntity from "../src/association/ApplicationEntity.ts"

describe("ApplicationEntity.make", () => {
  it("fills defaults and validates the AE title", () => {
    const ae = Result.getOrThrow(ApplicationEntity.make({ aeTitle: " PACS " }))
    assert.strictEqual(ae.aeTitle, "PACS")
    assert.strictEqual(ae.maxPduLength, 262144)
    assert.isTrue(Duration.equals(ae.timeouts.acse, Duration.seconds(30)))
    for (const aeTitle of ["", "A".repeat(17), "   ", "A\\B"]) {
      assert.isTrue(Result.isFailure(ApplicationEntity.make({ aeTitle })), aeTitle)
    }
  })

  it("takes durations as text and refuses malformed ones with a typed error", () => {
    const ae = Result.getOrThrow(ApplicationEntity.make({ aeTitle: "X", timeouts: { dimse: "5 seconds" } }))
    assert.isTrue(Duration.equals(ae.timeouts.dimse, Duration.seconds(5)))
    const bad = ApplicationEntity.make({ aeTitle: "X", timeouts: { dimse: "soon" as Duration.Input } })
    assert.isTrue(Result.isFailure(bad) && bad.failure._tag === "InvalidApplicationEntity")
  })

  it("refuses a maximum PDU length below 1024 (0 is no limit) and bad UIDs", () => {
    assert.isTrue(Result.isSuccess(ApplicationEntity.make({ aeTitle: "X", maxPduLength: 0 })))
    assert.isTrue(Result.isFailure(ApplicationEntity.make({ aeTitle: "X", maxPduLength: 100 })))
    const negative = ApplicationEntity.make({ aeTitle: "X", maxPduLength: -5 })
    assert.isTrue(Result.isFailure(negative) && negative.failure.message.includes("must be 0 (no limit) or 1024-"))
    const contexts = [{ abstractSyntax: "1.2.x", transferSyntaxes: ["1.2.840.10008.1.2"] }]
    assert.isTrue(Result.isFailure(ApplicationEntity.make({ aeTitle: "X", contexts })))
  })
})
