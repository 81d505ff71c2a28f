/** The DIMSE errors' messages, as a user reads them in a log line or on stderr. */
import { assert, describe, it } from "@effect/vitest"
import { NoAcceptedContext } from "../src/dimse/DimseError.ts"

describe("DimseError messages", () => {
  it("NoAcceptedContext names the SOP class and transfer syntax beside their UIDs", () => {
    const e = new NoAcceptedContext({
      sopClassUid: "1.2.840.10008.5.1.4.1.1.7",
      role: "SCU",
      transferSyntax: "1.2.840.10008.1.2.4.91"
    })
    assert.strictEqual(
      e.message,
      "no accepted presentation context for Secondary Capture Image Storage (1.2.840.10008.5.1.4.1.1.7) as SCU " +
        "with transfer syntax JPEG 2000 Image Compression (1.2.840.10008.1.2.4.91)"
    )
    const unknown = new NoAcceptedContext({ sopClassUid: "1.2.3.4", role: "SCP", transferSyntax: undefined })
    assert.strictEqual(unknown.message, "no accepted presentation context for 1.2.3.4 as SCP")
  })
})
