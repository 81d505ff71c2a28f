/** The association and DIMSE errors' messages, as a user reads them in a log line or on stderr. */
import { assert, describe, it } from "@effect/vitest"
import { AssociationAborted, AssociationRejected } from "../src/association/AssociationError.ts"
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

describe("AssociationError messages", () => {
  it("name the source of a rejection or an abort beside its number (PS3.8 Tables 9-21, 9-26)", () => {
    assert.strictEqual(
      new AssociationRejected({ result: 1, source: 1, reason: 7 }).message,
      "association rejected (permanent, source 1: service user): called AE title not recognized"
    )
    assert.strictEqual(
      new AssociationRejected({ result: 2, source: 3, reason: 1 }).message,
      "association rejected (transient, source 3: service provider, presentation): temporary congestion"
    )
    assert.strictEqual(
      new AssociationAborted({ by: "peer", source: 2, reason: 2, detail: "A-ABORT received" }).message,
      "association aborted by peer (source 2: service provider): unexpected PDU — A-ABORT received"
    )
  })
})
