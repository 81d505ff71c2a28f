/** PDUs built by hand for the codec tests. */
import type { Pdu } from "../src/index.ts"

export const CT = "1.2.840.10008.5.1.4.1.1.2"
export const VERIFICATION = "1.2.840.10008.1.1"
export const IMPLICIT = "1.2.840.10008.1.2"
export const EXPLICIT = "1.2.840.10008.1.2.1"

export const rq: Pdu.AAssociateRq = {
  _tag: "AAssociateRq",
  protocolVersion: 1,
  calledAeTitle: "ANY-SCP         ",
  callingAeTitle: "NETDICOM        ",
  applicationContextName: "1.2.840.10008.3.1.1.1",
  presentationContexts: [
    { _tag: "PresentationContextRq", id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
    { _tag: "PresentationContextRq", id: 3, abstractSyntax: CT, transferSyntaxes: [EXPLICIT, IMPLICIT] }
  ],
  userInformation: [
    { _tag: "MaximumLength", maximumLength: 16384 },
    { _tag: "ImplementationClassUid", uid: "1.2.826.0.1.3680043.10.1" },
    { _tag: "AsynchronousOperationsWindow", maxOperationsInvoked: 4, maxOperationsPerformed: 1 },
    { _tag: "ScpScuRoleSelection", sopClassUid: CT, scuRole: 0, scpRole: 1 },
    { _tag: "ImplementationVersionName", name: "NETDICOM_010" },
    { _tag: "SopClassExtendedNegotiation", sopClassUid: CT, applicationInformation: new Uint8Array([1, 0, 1]) },
    {
      _tag: "SopClassCommonExtendedNegotiation",
      sopClassUid: CT,
      serviceClassUid: "1.2.840.10008.4.2",
      relatedGeneralSopClassUids: ["1.2.840.10008.5.1.4.1.1.2.1"]
    },
    {
      _tag: "UserIdentityRq",
      identityType: 2,
      positiveResponseRequested: true,
      primaryField: new TextEncoder().encode("alice"),
      secondaryField: new TextEncoder().encode("secret")
    },
    { _tag: "UnknownUserItem", itemType: 0x5f, data: new Uint8Array([9, 9]) }
  ],
  unknownItems: [{ _tag: "UnknownItem", itemType: 0x60, data: new Uint8Array([1, 2, 3]) }]
}

export const ac: Pdu.AAssociateAc = {
  _tag: "AAssociateAc",
  protocolVersion: 1,
  calledAeTitle: "ANY-SCP         ",
  callingAeTitle: "NETDICOM        ",
  applicationContextName: "1.2.840.10008.3.1.1.1",
  presentationContexts: [
    { _tag: "PresentationContextAc", id: 1, result: 0, transferSyntax: IMPLICIT },
    { _tag: "PresentationContextAc", id: 3, result: 3, transferSyntax: undefined }
  ],
  userInformation: [
    { _tag: "MaximumLength", maximumLength: 0 },
    { _tag: "ImplementationClassUid", uid: "1.2.3.4" },
    { _tag: "UserIdentityAc", serverResponse: new Uint8Array([0xaa]) }
  ],
  unknownItems: []
}

export const pdata: Pdu.PDataTf = {
  _tag: "PDataTf",
  pdvs: [
    { presentationContextId: 1, isCommand: true, isLast: true, data: new Uint8Array([1, 2, 3, 4]) },
    { presentationContextId: 1, isCommand: false, isLast: false, data: new Uint8Array([5, 6]) }
  ]
}

export const all: ReadonlyArray<Pdu.Pdu> = [
  rq,
  ac,
  { _tag: "AAssociateRj", result: 1, source: 1, reason: 7 },
  pdata,
  { _tag: "AReleaseRq" },
  { _tag: "AReleaseRp" },
  { _tag: "AAbort", source: 2, reason: 6 }
]

/** Parses a hex string (whitespace ignored). */
export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"))
