/**
 * The debug log's PDU summaries as a DICOM engineer reads them: UIDs named (as `Dimse.summarize` names them),
 * A-ASSOCIATE-RJ and A-ABORT sources and reasons spelled out (PS3.8 Tables 9-21 and 9-26).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Pdu from "../src/Pdu.ts"
import * as PduSummary from "../src/PduSummary.ts"

describe("PduSummary", () => {
  it("names the abstract and transfer syntaxes it knows, and keeps the UID of one it does not", () => {
    const rq: Pdu.AAssociateRq = {
      _tag: "AAssociateRq",
      protocolVersion: 1,
      calledAeTitle: "STORESCP",
      callingAeTitle: "NETDICOM",
      applicationContextName: Pdu.DICOM_APPLICATION_CONTEXT,
      presentationContexts: [
        {
          _tag: "PresentationContextRq",
          id: 1,
          abstractSyntax: "1.2.840.10008.5.1.4.1.1.2",
          transferSyntaxes: ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]
        },
        { _tag: "PresentationContextRq", id: 3, abstractSyntax: "1.2.3.4.5", transferSyntaxes: ["1.2.840.10008.1.2"] }
      ],
      userInformation: [{ _tag: "MaximumLength", maximumLength: 16384 }],
      unknownItems: []
    }
    assert.strictEqual(
      PduSummary.summarize(rq),
      "A-ASSOCIATE-RQ NETDICOM -> STORESCP 2 context(s): #1 CT Image Storage [Explicit VR Little Endian, " +
        "Implicit VR Little Endian]; #3 1.2.3.4.5 [Implicit VR Little Endian] | max-length=16384"
    )
    // a caller's own describe still wins
    assert.include(
      PduSummary.summarize(rq, (uid) => uid),
      "#1 1.2.840.10008.5.1.4.1.1.2 [1.2.840.10008.1.2.1, "
    )
  })

  it("spells out the source and reason of an A-ASSOCIATE-RJ and an A-ABORT", () => {
    assert.strictEqual(
      PduSummary.summarize({ _tag: "AAssociateRj", result: 1, source: 1, reason: 7 }),
      "A-ASSOCIATE-RJ result=permanent source=1 (service-user) reason=7 (called-AE-title-not-recognized)"
    )
    assert.strictEqual(
      PduSummary.summarize({ _tag: "AAssociateRj", result: 2, source: 3, reason: 1 }),
      "A-ASSOCIATE-RJ result=transient source=3 (service-provider (presentation)) reason=1 (temporary-congestion)"
    )
    assert.strictEqual(
      PduSummary.summarize({ _tag: "AAssociateRj", result: 1, source: 1, reason: 5 }),
      "A-ASSOCIATE-RJ result=permanent source=1 (service-user) reason=5"
    )
    assert.strictEqual(
      PduSummary.summarize({ _tag: "AAbort", source: 2, reason: 2 }),
      "A-ABORT source=2 (service-provider) reason=2 (unexpected-PDU)"
    )
    assert.strictEqual(
      PduSummary.summarize({ _tag: "AAbort", source: 0, reason: 0 }),
      "A-ABORT source=0 (service-user) reason=0"
    )
  })
})
