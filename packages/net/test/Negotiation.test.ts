import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { Pdu, PduCodec } from "@netdicom/wire"
import * as AcceptorPolicy from "../src/association/AcceptorPolicy.ts"
import * as ApplicationEntity from "../src/association/ApplicationEntity.ts"
import * as Negotiation from "../src/association/Negotiation.ts"
import type { Negotiated } from "../src/association/Negotiated.ts"

const VERIFICATION = "1.2.840.10008.1.1"
const CT = "1.2.840.10008.5.1.4.1.1.2"
const MR = "1.2.840.10008.5.1.4.1.1.4"
const FIND = "1.2.840.10008.5.1.4.1.2.1.1"
const PRIVATE_CT = "1.2.826.0.1.3680043.10.1478.99.1"
const IMPLICIT = ApplicationEntity.IMPLICIT_VR_LITTLE_ENDIAN
const EXPLICIT = ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN
const BIG = ApplicationEntity.EXPLICIT_VR_BIG_ENDIAN
const JPEG = "1.2.840.10008.1.2.4.50"

const makeAe = (options: ApplicationEntity.ApplicationEntityOptions): ApplicationEntity.ApplicationEntity =>
  Result.getOrThrow(ApplicationEntity.make(options))

const scu = makeAe({ aeTitle: "SCU", maxPduLength: 16384 })
const scp = makeAe({
  aeTitle: "STORESCP",
  maxPduLength: 32768,
  implementationVersionName: "SCP_1",
  contexts: [
    { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
    { abstractSyntax: CT, transferSyntaxes: [EXPLICIT, IMPLICIT] },
    { abstractSyntax: MR, transferSyntaxes: [EXPLICIT, IMPLICIT] }
  ]
})

const okRequest = (request: Negotiation.AssociateRequest, ae = scu): Pdu.AAssociateRq =>
  Result.getOrThrow(Negotiation.buildRequest(ae, request))

const failure = <A, E>(r: Result.Result<A, E>): E => {
  if (Result.isSuccess(r)) assert.fail(`expected a failure, got ${JSON.stringify(r.success)}`)
  return r.failure
}

const accept = (decision: Negotiation.AcceptorDecision): { ac: Pdu.AAssociateAc; negotiated: Negotiated } => {
  if (decision._tag === "Reject") assert.fail(`expected an accept, got a reject: ${decision.why}`)
  return decision
}

const rejected = (decision: Negotiation.AcceptorDecision): { result: number; source: number; reason: number } => {
  if (decision._tag === "Accept") assert.fail("expected a reject, got an accept")
  assert.isString(decision.why)
  return { result: decision.rj.result, source: decision.rj.source, reason: decision.rj.reason }
}

// A hand-made A-ASSOCIATE-RQ, for requests buildRequest would refuse to make.
const rawRq = (overrides: Partial<Pdu.AAssociateRq> = {}): Pdu.AAssociateRq => ({
  _tag: "AAssociateRq",
  protocolVersion: 1,
  calledAeTitle: "STORESCP        ",
  callingAeTitle: "SCU             ",
  applicationContextName: Pdu.DICOM_APPLICATION_CONTEXT,
  presentationContexts: [
    { _tag: "PresentationContextRq", id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] }
  ],
  userInformation: [{ _tag: "MaximumLength", maximumLength: 16384 }],
  unknownItems: [],
  ...overrides
})

const userItems = <T extends Pdu.UserItem["_tag"]>(
  items: ReadonlyArray<Pdu.UserItem>,
  tag: T
): Array<Extract<Pdu.UserItem, { _tag: T }>> =>
  items.filter((i): i is Extract<Pdu.UserItem, { _tag: T }> => i._tag === tag)

const policy = AcceptorPolicy.defaultPolicy(scp)

describe("buildRequest", () => {
  it("gives the A-ASSOCIATE-RQ with its bytes, encoded once, as evaluateRequest gives the AC", () => {
    const built = Result.getOrThrow(
      Negotiation.buildRequestEncoded(scu, {
        calledAeTitle: "STORESCP",
        contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT, IMPLICIT] }]
      })
    )
    assert.deepStrictEqual(built.encoded, Result.getOrThrow(PduCodec.encodePdu(built.rq)))
    const decision = Negotiation.evaluateRequest(scp, built.rq, AcceptorPolicy.defaultPolicy(scp))
    if (decision._tag !== "Accept") return assert.fail(decision.why)
    assert.deepStrictEqual(decision.encoded, Result.getOrThrow(PduCodec.encodePdu(decision.ac)))
  })

  it("numbers contexts 1, 3, 5, pads AE titles and fills the user information", () => {
    const rq = okRequest({
      calledAeTitle: "STORESCP",
      contexts: [
        { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
        { abstractSyntax: CT, transferSyntaxes: [EXPLICIT, IMPLICIT] },
        { abstractSyntax: MR, transferSyntaxes: [JPEG] }
      ]
    })
    assert.strictEqual(rq.protocolVersion, 1)
    assert.strictEqual(rq.applicationContextName, "1.2.840.10008.3.1.1.1")
    assert.strictEqual(rq.calledAeTitle, "STORESCP        ")
    assert.strictEqual(rq.callingAeTitle, "SCU             ")
    assert.deepStrictEqual(
      rq.presentationContexts.map((pc) => [pc.id, pc.abstractSyntax, pc.transferSyntaxes]),
      [
        [1, VERIFICATION, [IMPLICIT]],
        [3, CT, [EXPLICIT, IMPLICIT]],
        [5, MR, [JPEG]]
      ]
    )
    assert.deepStrictEqual(rq.userInformation, [
      { _tag: "MaximumLength", maximumLength: 16384 },
      { _tag: "ImplementationClassUid", uid: ApplicationEntity.IMPLEMENTATION_CLASS_UID },
      { _tag: "ImplementationVersionName", name: ApplicationEntity.IMPLEMENTATION_VERSION_NAME }
    ])
  })

  it("adds window, roles, extended negotiation and user identity in item type order", () => {
    const identity = {
      _tag: "UserIdentityRq" as const,
      identityType: 2 as const,
      positiveResponseRequested: true,
      primaryField: new TextEncoder().encode("alice"),
      secondaryField: new TextEncoder().encode("secret")
    }
    const ext = {
      _tag: "SopClassExtendedNegotiation" as const,
      sopClassUid: FIND,
      applicationInformation: Uint8Array.of(1, 1)
    }
    const common = {
      _tag: "SopClassCommonExtendedNegotiation" as const,
      sopClassUid: PRIVATE_CT,
      serviceClassUid: "1.2.840.10008.4.2",
      relatedGeneralSopClassUids: [CT]
    }
    const rq = okRequest({
      calledAeTitle: "STORESCP",
      contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT] }],
      roles: [{ sopClassUid: CT, scu: false, scp: true }],
      extendedNegotiation: [ext],
      commonExtendedNegotiation: [common],
      userIdentity: identity,
      maxOperationsInvoked: 4,
      maxOperationsPerformed: 0
    })
    assert.deepStrictEqual(
      rq.userInformation.map((i) => i._tag),
      [
        "MaximumLength",
        "ImplementationClassUid",
        "AsynchronousOperationsWindow",
        "ScpScuRoleSelection",
        "ImplementationVersionName",
        "SopClassExtendedNegotiation",
        "SopClassCommonExtendedNegotiation",
        "UserIdentityRq"
      ]
    )
    assert.deepStrictEqual(userItems(rq.userInformation, "AsynchronousOperationsWindow"), [
      { _tag: "AsynchronousOperationsWindow", maxOperationsInvoked: 4, maxOperationsPerformed: 0 }
    ])
    assert.deepStrictEqual(userItems(rq.userInformation, "ScpScuRoleSelection"), [
      { _tag: "ScpScuRoleSelection", sopClassUid: CT, scuRole: 0, scpRole: 1 }
    ])
  })

  it("takes the window from the AE and sends no item for 1/1", () => {
    const asyncAe = makeAe({ aeTitle: "SCU", maxOperationsInvoked: 3, maxOperationsPerformed: 1 })
    const withWindow = okRequest(
      { calledAeTitle: "X", contexts: [{ abstractSyntax: CT, transferSyntaxes: [IMPLICIT] }] },
      asyncAe
    )
    assert.deepStrictEqual(userItems(withWindow.userInformation, "AsynchronousOperationsWindow"), [
      { _tag: "AsynchronousOperationsWindow", maxOperationsInvoked: 3, maxOperationsPerformed: 1 }
    ])
    const overridden = okRequest(
      {
        calledAeTitle: "X",
        contexts: [{ abstractSyntax: CT, transferSyntaxes: [IMPLICIT] }],
        maxOperationsInvoked: 1,
        maxOperationsPerformed: 1
      },
      asyncAe
    )
    assert.lengthOf(userItems(overridden.userInformation, "AsynchronousOperationsWindow"), 0)
  })

  it("is wire-valid: encodes and decodes back to the same RQ", () => {
    const rq = okRequest({
      calledAeTitle: "ORTHANC",
      contexts: [
        { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
        { abstractSyntax: CT, transferSyntaxes: [JPEG, EXPLICIT, IMPLICIT] }
      ],
      roles: [{ sopClassUid: CT, scu: true, scp: true }],
      maxOperationsInvoked: 2,
      userIdentity: {
        _tag: "UserIdentityRq",
        identityType: 1,
        positiveResponseRequested: false,
        primaryField: new TextEncoder().encode("bob"),
        secondaryField: new Uint8Array(0)
      }
    })
    const bytes = Result.getOrThrow(PduCodec.encodePdu(rq))
    assert.strictEqual(bytes[0], 0x01)
    assert.deepStrictEqual(Result.getOrThrow(PduCodec.decodePdu(bytes)), rq)
  })

  it("allows 128 contexts and refuses 129 with TooManyPresentationContexts", () => {
    const contexts = (n: number) =>
      Array.from({ length: n }, () => ({ abstractSyntax: CT, transferSyntaxes: [IMPLICIT] }))
    const rq = okRequest({ calledAeTitle: "X", contexts: contexts(128) })
    assert.strictEqual(rq.presentationContexts.at(-1)?.id, 255)
    const error = failure(Negotiation.buildRequest(scu, { calledAeTitle: "X", contexts: contexts(129) }))
    assert.instanceOf(error, Negotiation.TooManyPresentationContexts)
    assert.strictEqual(error._tag, "TooManyPresentationContexts")
    assert.strictEqual((error as Negotiation.TooManyPresentationContexts).count, 129)
    assert.include(error.message, "129")
    assert.include(error.message, "128")
  })

  it("refuses bad AE titles, UIDs and empty lists with InvalidAssociateRequest", () => {
    const one = [{ abstractSyntax: CT, transferSyntaxes: [IMPLICIT] }]
    const cases: Array<Negotiation.AssociateRequest> = [
      { calledAeTitle: "A_TITLE_LONGER_THAN_16", contexts: one },
      { calledAeTitle: "                ", contexts: one },
      { calledAeTitle: "BACK\\SLASH", contexts: one },
      { calledAeTitle: "X", contexts: [] },
      { calledAeTitle: "X", contexts: [{ abstractSyntax: CT, transferSyntaxes: [] }] },
      { calledAeTitle: "X", contexts: [{ abstractSyntax: "1.2.03", transferSyntaxes: [IMPLICIT] }] },
      { calledAeTitle: "X", contexts: [{ abstractSyntax: CT, transferSyntaxes: ["not a uid"] }] },
      { calledAeTitle: "X", contexts: one, roles: [{ sopClassUid: "", scu: true, scp: false }] },
      { calledAeTitle: "X", contexts: one, maxOperationsInvoked: 70000 },
      {
        calledAeTitle: "X",
        contexts: one,
        extendedNegotiation: [
          { _tag: "SopClassExtendedNegotiation", sopClassUid: "1.2.é", applicationInformation: Uint8Array.of(1) }
        ]
      },
      {
        calledAeTitle: "X",
        contexts: one,
        userIdentity: {
          _tag: "UserIdentityRq",
          identityType: 1,
          positiveResponseRequested: false,
          primaryField: new Uint8Array(70000),
          secondaryField: new Uint8Array(0)
        }
      }
    ]
    for (const request of cases) {
      const error = failure(Negotiation.buildRequest(scu, request))
      assert.strictEqual(error._tag, "InvalidAssociateRequest", JSON.stringify(request))
    }
  })
})

// An A-ASSOCIATE-AC answering `rq` with these contexts and user information items.
const acFor = (
  rq: Pdu.AAssociateRq,
  contexts: ReadonlyArray<Pdu.PresentationContextAc>,
  userInformation: ReadonlyArray<Pdu.UserItem> = [{ _tag: "MaximumLength", maximumLength: 32768 }]
): Pdu.AAssociateAc => ({
  _tag: "AAssociateAc",
  protocolVersion: 1,
  calledAeTitle: rq.calledAeTitle,
  callingAeTitle: rq.callingAeTitle,
  applicationContextName: Pdu.DICOM_APPLICATION_CONTEXT,
  presentationContexts: contexts,
  userInformation,
  unknownItems: []
})

const pcAc = (id: number, result: Pdu.PresentationContextResult, transferSyntax: string | undefined) => ({
  _tag: "PresentationContextAc" as const,
  id,
  result,
  transferSyntax
})

describe("evaluateAccept", () => {
  const rq = okRequest({
    calledAeTitle: "STORESCP",
    contexts: [
      { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
      { abstractSyntax: CT, transferSyntaxes: [EXPLICIT, IMPLICIT] },
      { abstractSyntax: MR, transferSyntaxes: [JPEG] },
      { abstractSyntax: FIND, transferSyntaxes: [IMPLICIT] }
    ]
  })

  it("maps the AC contexts back to the proposed ones by id, whatever their order", () => {
    const ac = acFor(
      rq,
      [pcAc(5, 4, IMPLICIT), pcAc(3, 0, IMPLICIT), pcAc(7, 3, IMPLICIT), pcAc(1, 0, IMPLICIT)],
      [
        { _tag: "MaximumLength", maximumLength: 32768 },
        { _tag: "ImplementationClassUid", uid: "1.2.276.0.7230010.3.0.3.6.7" },
        { _tag: "AsynchronousOperationsWindow", maxOperationsInvoked: 3, maxOperationsPerformed: 0 },
        { _tag: "ImplementationVersionName", name: "OFFIS_DCMTK_367" },
        { _tag: "SopClassExtendedNegotiation", sopClassUid: FIND, applicationInformation: Uint8Array.of(1) },
        { _tag: "UserIdentityAc", serverResponse: Uint8Array.of(9, 8) }
      ]
    )
    const negotiated = Result.getOrThrow(Negotiation.evaluateAccept(scu, rq, ac))
    assert.deepStrictEqual(negotiated.accepted, [
      { id: 1, abstractSyntax: VERIFICATION, transferSyntax: IMPLICIT, weAreScu: true, weAreScp: false },
      { id: 3, abstractSyntax: CT, transferSyntax: IMPLICIT, weAreScu: true, weAreScp: false }
    ])
    assert.deepStrictEqual(negotiated.rejected, [
      { id: 5, abstractSyntax: MR, result: 4 },
      { id: 7, abstractSyntax: FIND, result: 3 }
    ])
    assert.strictEqual(negotiated.localAeTitle, "SCU")
    assert.strictEqual(negotiated.peerAeTitle, "STORESCP")
    assert.strictEqual(negotiated.peerMaxPduLength, 32768)
    assert.strictEqual(negotiated.peerImplementationClassUid, "1.2.276.0.7230010.3.0.3.6.7")
    assert.strictEqual(negotiated.peerImplementationVersionName, "OFFIS_DCMTK_367")
    assert.strictEqual(negotiated.maxOperationsInvoked, 3)
    assert.strictEqual(negotiated.maxOperationsPerformed, 0)
    assert.deepStrictEqual(negotiated.extendedNegotiation, [
      { _tag: "SopClassExtendedNegotiation", sopClassUid: FIND, applicationInformation: Uint8Array.of(1) }
    ])
    assert.deepStrictEqual(negotiated.userIdentityResponse, Uint8Array.of(9, 8))
  })

  it("defaults: window 1/1, Maximum Length absent or 0 means unlimited, no identity response", () => {
    const contexts = [pcAc(1, 0, IMPLICIT), pcAc(3, 3, IMPLICIT), pcAc(5, 3, IMPLICIT), pcAc(7, 3, IMPLICIT)]
    const absent = Result.getOrThrow(Negotiation.evaluateAccept(scu, rq, acFor(rq, contexts, [])))
    assert.strictEqual(absent.peerMaxPduLength, 0)
    assert.strictEqual(absent.maxOperationsInvoked, 1)
    assert.strictEqual(absent.maxOperationsPerformed, 1)
    assert.isUndefined(absent.userIdentityResponse)
    assert.isUndefined(absent.peerImplementationClassUid)
    const zero = acFor(rq, contexts, [{ _tag: "MaximumLength", maximumLength: 0 }])
    assert.strictEqual(Result.getOrThrow(Negotiation.evaluateAccept(scu, rq, zero)).peerMaxPduLength, 0)
  })

  it("counts a proposed context the AC does not answer as rejected with result 2", () => {
    const negotiated = Result.getOrThrow(Negotiation.evaluateAccept(scu, rq, acFor(rq, [pcAc(1, 0, IMPLICIT)])))
    assert.deepStrictEqual(
      negotiated.rejected.map((c) => [c.id, c.result]),
      [
        [3, 2],
        [5, 2],
        [7, 2]
      ]
    )
  })

  it("fails with InvalidAssociateAc on a context id that was not proposed", () => {
    const error = failure(Negotiation.evaluateAccept(scu, rq, acFor(rq, [pcAc(1, 0, IMPLICIT), pcAc(9, 0, IMPLICIT)])))
    assert.instanceOf(error, Negotiation.InvalidAssociateAc)
    assert.include((error as Negotiation.InvalidAssociateAc).reason, "9")
  })

  it("fails with InvalidAssociateAc on a transfer syntax not proposed for that context", () => {
    // JPEG was proposed, but for context 5, not 3.
    const error = failure(Negotiation.evaluateAccept(scu, rq, acFor(rq, [pcAc(3, 0, JPEG)])))
    assert.strictEqual(error._tag, "InvalidAssociateAc")
    const missing = failure(Negotiation.evaluateAccept(scu, rq, acFor(rq, [pcAc(3, 0, undefined)])))
    assert.strictEqual(missing._tag, "InvalidAssociateAc")
  })

  it("fails with InvalidAssociateAc on a protocol version without bit 0 (PS3.8 9.3.3), takes one with more bits", () => {
    // found by tests/attack/differential-scu.test.ts: an AC of version 0x0002 was taken, DIMSE then sent over it
    const ac = acFor(rq, [pcAc(1, 0, IMPLICIT)])
    const error = failure(Negotiation.evaluateAccept(scu, rq, { ...ac, protocolVersion: 2 }))
    assert.strictEqual(error._tag, "InvalidAssociateAc")
    assert.include((error as Negotiation.InvalidAssociateAc).reason, "protocol version 0x2")
    assert.isTrue(Result.isSuccess(Negotiation.evaluateAccept(scu, rq, { ...ac, protocolVersion: 3 })))
  })

  it("fails with InvalidAssociateAc on a context answered twice", () => {
    const error = failure(Negotiation.evaluateAccept(scu, rq, acFor(rq, [pcAc(1, 0, IMPLICIT), pcAc(1, 3, IMPLICIT)])))
    assert.strictEqual(error._tag, "InvalidAssociateAc")
  })

  it("tolerates any transfer syntax (or none) on a rejected context", () => {
    const negotiated = Result.getOrThrow(
      Negotiation.evaluateAccept(scu, rq, acFor(rq, [pcAc(1, 0, IMPLICIT), pcAc(3, 4, BIG), pcAc(5, 3, undefined)]))
    )
    assert.deepStrictEqual(
      negotiated.rejected.map((c) => [c.id, c.result]),
      [
        [3, 4],
        [5, 3],
        [7, 2]
      ]
    )
  })

  it("fails with NoAcceptableContext carrying every context's result when nothing is accepted", () => {
    const error = failure(
      Negotiation.evaluateAccept(scu, rq, acFor(rq, [pcAc(1, 3, IMPLICIT), pcAc(3, 4, IMPLICIT), pcAc(5, 1, JPEG)]))
    )
    assert.instanceOf(error, Negotiation.NoAcceptableContext)
    assert.deepStrictEqual((error as Negotiation.NoAcceptableContext).rejected, [
      { id: 1, abstractSyntax: VERIFICATION, result: 3 },
      { id: 3, abstractSyntax: CT, result: 4 },
      { id: 5, abstractSyntax: MR, result: 1 },
      { id: 7, abstractSyntax: FIND, result: 2 }
    ])
  })

  describe("roles (PS3.7 D.3.3.4), requestor side", () => {
    const withRole = (scuRole: boolean, scpRole: boolean) =>
      okRequest({
        calledAeTitle: "STORESCP",
        contexts: [{ abstractSyntax: CT, transferSyntaxes: [IMPLICIT] }],
        roles: [{ sopClassUid: CT, scu: scuRole, scp: scpRole }]
      })
    const roleAnswer = (scuRole: 0 | 1, scpRole: 0 | 1): Pdu.UserItem => ({
      _tag: "ScpScuRoleSelection",
      sopClassUid: CT,
      scuRole,
      scpRole
    })
    const rolesOf = (req: Pdu.AAssociateRq, items: ReadonlyArray<Pdu.UserItem>) => {
      const negotiated = Result.getOrThrow(
        Negotiation.evaluateAccept(scu, req, acFor(req, [pcAc(1, 0, IMPLICIT)], items))
      )
      const { weAreScu, weAreScp } = negotiated.accepted[0]!
      return { weAreScu, weAreScp }
    }

    it("proposed SCU+SCP, all four acceptor answers", () => {
      const rq11 = withRole(true, true)
      assert.deepStrictEqual(rolesOf(rq11, [roleAnswer(1, 1)]), { weAreScu: true, weAreScp: true })
      assert.deepStrictEqual(rolesOf(rq11, [roleAnswer(1, 0)]), { weAreScu: true, weAreScp: false })
      assert.deepStrictEqual(rolesOf(rq11, [roleAnswer(0, 1)]), { weAreScu: false, weAreScp: true })
      assert.deepStrictEqual(rolesOf(rq11, [roleAnswer(0, 0)]), { weAreScu: false, weAreScp: false })
    })

    it("a role is taken only when both sides set it", () => {
      assert.deepStrictEqual(rolesOf(withRole(false, true), [roleAnswer(1, 1)]), { weAreScu: false, weAreScp: true })
      assert.deepStrictEqual(rolesOf(withRole(true, false), [roleAnswer(1, 1)]), { weAreScu: true, weAreScp: false })
    })

    it("no role item: requestor SCU only; proposed but not answered: defaults", () => {
      const none = okRequest({
        calledAeTitle: "STORESCP",
        contexts: [{ abstractSyntax: CT, transferSyntaxes: [IMPLICIT] }]
      })
      assert.deepStrictEqual(rolesOf(none, []), { weAreScu: true, weAreScp: false })
      // An answer to a role item we never proposed changes nothing.
      assert.deepStrictEqual(rolesOf(none, [roleAnswer(0, 1)]), { weAreScu: true, weAreScp: false })
      assert.deepStrictEqual(rolesOf(withRole(false, true), []), { weAreScu: true, weAreScp: false })
    })
  })
})

describe("evaluateRequest", () => {
  it("accepts: echoes the AE titles, sends our limits and identifiers, answers every context", () => {
    const rq = rawRq({
      presentationContexts: [
        { _tag: "PresentationContextRq", id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
        { _tag: "PresentationContextRq", id: 3, abstractSyntax: CT, transferSyntaxes: [IMPLICIT, EXPLICIT] }
      ],
      userInformation: [
        { _tag: "MaximumLength", maximumLength: 16384 },
        { _tag: "ImplementationClassUid", uid: "1.2.3.4" },
        { _tag: "ImplementationVersionName", name: "PEER_1" }
      ]
    })
    const { ac, negotiated } = accept(Negotiation.evaluateRequest(scp, rq, policy))
    assert.strictEqual(ac.protocolVersion, 1)
    assert.strictEqual(ac.calledAeTitle, "STORESCP        ")
    assert.strictEqual(ac.callingAeTitle, "SCU             ")
    assert.strictEqual(ac.applicationContextName, Pdu.DICOM_APPLICATION_CONTEXT)
    assert.deepStrictEqual(ac.presentationContexts, [pcAc(1, 0, IMPLICIT), pcAc(3, 0, EXPLICIT)])
    assert.deepStrictEqual(ac.userInformation, [
      { _tag: "MaximumLength", maximumLength: 32768 },
      { _tag: "ImplementationClassUid", uid: ApplicationEntity.IMPLEMENTATION_CLASS_UID },
      { _tag: "ImplementationVersionName", name: "SCP_1" }
    ])
    assert.deepStrictEqual(negotiated, {
      localAeTitle: "STORESCP",
      peerAeTitle: "SCU",
      accepted: [
        { id: 1, abstractSyntax: VERIFICATION, transferSyntax: IMPLICIT, weAreScu: false, weAreScp: true },
        { id: 3, abstractSyntax: CT, transferSyntax: EXPLICIT, weAreScu: false, weAreScp: true }
      ],
      rejected: [],
      peerMaxPduLength: 16384,
      peerImplementationClassUid: "1.2.3.4",
      peerImplementationVersionName: "PEER_1",
      maxOperationsInvoked: 1,
      maxOperationsPerformed: 1,
      extendedNegotiation: [],
      userIdentityResponse: undefined
    })
    const bytes = Result.getOrThrow(PduCodec.encodePdu(ac))
    assert.deepStrictEqual(Result.getOrThrow(PduCodec.decodePdu(bytes)), ac)
  })

  it("rejects an unknown application context: permanent, source 1, reason 2", () => {
    const decision = Negotiation.evaluateRequest(scp, rawRq({ applicationContextName: "1.2.3.4" }), policy)
    assert.deepStrictEqual(rejected(decision), { result: 1, source: 1, reason: 2 })
  })

  it("rejects a peer Maximum Length below 1024 (a data set would take a million PDUs); 0 and 1024 are fine", () => {
    const withMax = (maximumLength: number) => rawRq({ userInformation: [{ _tag: "MaximumLength", maximumLength }] })
    for (const tiny of [1, 7, 1023]) {
      assert.deepStrictEqual(rejected(Negotiation.evaluateRequest(scp, withMax(tiny), policy)), {
        result: 1,
        source: 1,
        reason: 1
      })
    }
    accept(Negotiation.evaluateRequest(scp, withMax(0), policy))
    accept(Negotiation.evaluateRequest(scp, withMax(Negotiation.MIN_PEER_MAX_PDU_LENGTH), policy))
  })

  it("rejects a protocol version without bit 0: permanent, source 2, reason 2", () => {
    assert.deepStrictEqual(rejected(Negotiation.evaluateRequest(scp, rawRq({ protocolVersion: 2 }), policy)), {
      result: 1,
      source: 2,
      reason: 2
    })
    // Other bits set next to bit 0 are fine.
    accept(Negotiation.evaluateRequest(scp, rawRq({ protocolVersion: 3 }), policy))
  })

  describe("called AE title", () => {
    it("rejects one that is not ours: permanent, source 1, reason 7", () => {
      const decision = Negotiation.evaluateRequest(scp, rawRq({ calledAeTitle: "OTHER           " }), policy)
      assert.deepStrictEqual(rejected(decision), { result: 1, source: 1, reason: 7 })
    })

    it("accepts ours padded with NULs or leading spaces", () => {
      accept(Negotiation.evaluateRequest(scp, rawRq({ calledAeTitle: "STORESCP\0\0\0\0\0\0\0\0" }), policy))
      const { ac } = accept(Negotiation.evaluateRequest(scp, rawRq({ calledAeTitle: "  STORESCP      " }), policy))
      assert.strictEqual(ac.calledAeTitle, "STORESCP        ")
    })

    it("accepts any when the policy lists none, or per its list or predicate", () => {
      accept(Negotiation.evaluateRequest(scp, rawRq({ calledAeTitle: "ANYTHING        " }), {}))
      const listed: AcceptorPolicy.AcceptorPolicy = { calledAeTitles: ["STORESCP", "ARCHIVE"] }
      const { negotiated } = accept(Negotiation.evaluateRequest(scp, rawRq({ calledAeTitle: "ARCHIVE" }), listed))
      assert.strictEqual(negotiated.localAeTitle, "ARCHIVE")
      const predicate: AcceptorPolicy.AcceptorPolicy = { calledAeTitles: (t) => t.startsWith("PACS") }
      accept(Negotiation.evaluateRequest(scp, rawRq({ calledAeTitle: "PACS2" }), predicate))
      assert.strictEqual(
        rejected(Negotiation.evaluateRequest(scp, rawRq({ calledAeTitle: "RIS" }), predicate)).reason,
        7
      )
    })
  })

  describe("calling AE title", () => {
    it("rejects 16 spaces (or NULs) even when any calling AE is accepted: source 1, reason 3", () => {
      for (const callingAeTitle of ["                ", "\0".repeat(16)]) {
        const decision = Negotiation.evaluateRequest(scp, rawRq({ callingAeTitle }), {})
        assert.deepStrictEqual(rejected(decision), { result: 1, source: 1, reason: 3 })
      }
    })

    it("rejects one the policy does not list or whose predicate says no: reason 3", () => {
      const listed = { ...policy, callingAeTitles: ["MODALITY"] }
      assert.deepStrictEqual(rejected(Negotiation.evaluateRequest(scp, rawRq(), listed)), {
        result: 1,
        source: 1,
        reason: 3
      })
      accept(Negotiation.evaluateRequest(scp, rawRq({ callingAeTitle: "MODALITY\0\0\0\0\0\0\0\0" }), listed))
      const predicate = { ...policy, callingAeTitles: (t: string) => t === "SCU" }
      accept(Negotiation.evaluateRequest(scp, rawRq(), predicate))
      assert.strictEqual(
        rejected(Negotiation.evaluateRequest(scp, rawRq({ callingAeTitle: "X" }), predicate)).reason,
        3
      )
    })
  })

  describe("presentation context ids", () => {
    const pc = (id: number): Pdu.PresentationContextRq => ({
      _tag: "PresentationContextRq",
      id,
      abstractSyntax: VERIFICATION,
      transferSyntaxes: [IMPLICIT]
    })
    it("rejects an even id: permanent, source 1, reason 1", () => {
      const decision = Negotiation.evaluateRequest(scp, rawRq({ presentationContexts: [pc(1), pc(2)] }), policy)
      assert.deepStrictEqual(rejected(decision), { result: 1, source: 1, reason: 1 })
    })
    it("rejects a duplicate id, an id out of 1-255, and no context at all: reason 1", () => {
      for (const presentationContexts of [[pc(3), pc(3)], [pc(0)], [pc(257)], []]) {
        const decision = Negotiation.evaluateRequest(scp, rawRq({ presentationContexts }), policy)
        assert.deepStrictEqual(rejected(decision), { result: 1, source: 1, reason: 1 })
      }
    })
  })

  describe("presentation contexts", () => {
    it("answers 3 for an unsupported abstract syntax and 4 for no common transfer syntax, with the first proposed", () => {
      const rq = rawRq({
        presentationContexts: [
          { _tag: "PresentationContextRq", id: 1, abstractSyntax: FIND, transferSyntaxes: [EXPLICIT, IMPLICIT] },
          { _tag: "PresentationContextRq", id: 3, abstractSyntax: CT, transferSyntaxes: [JPEG, BIG] },
          { _tag: "PresentationContextRq", id: 5, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] }
        ]
      })
      const { ac, negotiated } = accept(Negotiation.evaluateRequest(scp, rq, policy))
      assert.deepStrictEqual(ac.presentationContexts, [pcAc(1, 3, EXPLICIT), pcAc(3, 4, JPEG), pcAc(5, 0, IMPLICIT)])
      assert.deepStrictEqual(negotiated.rejected, [
        { id: 1, abstractSyntax: FIND, result: 3 },
        { id: 3, abstractSyntax: CT, result: 4 }
      ])
      // Rejected contexts with their Transfer Syntax sub-items still encode.
      Result.getOrThrow(PduCodec.encodePdu(ac))
    })

    it("picks the first of OUR transfer syntaxes the requestor proposed, or of theirs on request", () => {
      const rq = rawRq({
        presentationContexts: [
          { _tag: "PresentationContextRq", id: 1, abstractSyntax: CT, transferSyntaxes: [JPEG, IMPLICIT, EXPLICIT] }
        ]
      })
      const ours = accept(Negotiation.evaluateRequest(scp, rq, policy))
      assert.strictEqual(ours.ac.presentationContexts[0]?.transferSyntax, EXPLICIT)
      assert.strictEqual(ours.negotiated.accepted[0]?.transferSyntax, EXPLICIT)
      const theirs = accept(Negotiation.evaluateRequest(scp, rq, { ...policy, preferRequestorOrder: true }))
      assert.strictEqual(theirs.ac.presentationContexts[0]?.transferSyntax, IMPLICIT)
      assert.strictEqual(theirs.negotiated.accepted[0]?.transferSyntax, IMPLICIT)
    })

    it("accepts nothing yet still answers with an AC, unless rejectWhenNoneAccepted", () => {
      const rq = rawRq({
        presentationContexts: [
          { _tag: "PresentationContextRq", id: 1, abstractSyntax: FIND, transferSyntaxes: [IMPLICIT] }
        ]
      })
      const { negotiated } = accept(Negotiation.evaluateRequest(scp, rq, policy))
      assert.lengthOf(negotiated.accepted, 0)
      const strict = Negotiation.evaluateRequest(scp, rq, { ...policy, rejectWhenNoneAccepted: true })
      assert.deepStrictEqual(rejected(strict), { result: 1, source: 1, reason: 1 })
    })

    it("supports extra contexts the common extended negotiation policy returns", () => {
      const rq = rawRq({
        presentationContexts: [
          { _tag: "PresentationContextRq", id: 1, abstractSyntax: PRIVATE_CT, transferSyntaxes: [EXPLICIT] }
        ],
        userInformation: [
          {
            _tag: "SopClassCommonExtendedNegotiation",
            sopClassUid: PRIVATE_CT,
            serviceClassUid: "1.2.840.10008.4.2",
            relatedGeneralSopClassUids: [CT]
          }
        ]
      })
      assert.deepStrictEqual(accept(Negotiation.evaluateRequest(scp, rq, policy)).ac.presentationContexts, [
        pcAc(1, 3, EXPLICIT)
      ])
      let seen: ReadonlyArray<AcceptorPolicy.SopClassCommonExtendedNegotiation> = []
      const specialised: AcceptorPolicy.AcceptorPolicy = {
        ...policy,
        commonExtendedNegotiation: (items) => {
          seen = items
          return items
            .filter((i) => i.relatedGeneralSopClassUids.includes(CT))
            .map((i) => ({ abstractSyntax: i.sopClassUid, transferSyntaxes: [EXPLICIT] }))
        }
      }
      const { ac } = accept(Negotiation.evaluateRequest(scp, rq, specialised))
      assert.deepStrictEqual(ac.presentationContexts, [pcAc(1, 0, EXPLICIT)])
      assert.lengthOf(seen, 1)
    })
  })

  describe("roles (PS3.7 D.3.3.4), acceptor side", () => {
    const roleAe = (ourScu: boolean, ourScp: boolean) =>
      makeAe({
        aeTitle: "STORESCP",
        contexts: [{ abstractSyntax: CT, transferSyntaxes: [IMPLICIT], scu: ourScu, scp: ourScp }]
      })
    const roleRq = (scuRole: 0 | 1, scpRole: 0 | 1) =>
      rawRq({
        presentationContexts: [
          { _tag: "PresentationContextRq", id: 1, abstractSyntax: CT, transferSyntaxes: [IMPLICIT] }
        ],
        userInformation: [{ _tag: "ScpScuRoleSelection", sopClassUid: CT, scuRole, scpRole }]
      })
    const outcome = (ae: ApplicationEntity.ApplicationEntity, rq: Pdu.AAssociateRq) => {
      const { ac, negotiated } = accept(Negotiation.evaluateRequest(ae, rq, AcceptorPolicy.defaultPolicy(ae)))
      const answer = userItems(ac.userInformation, "ScpScuRoleSelection")
      return {
        answer: answer.map((r) => [r.scuRole, r.scpRole]),
        result: ac.presentationContexts[0]?.result,
        roles: negotiated.accepted.map((c) => [c.weAreScu, c.weAreScp])
      }
    }

    it("requestor proposes SCU+SCP; our four SCU/SCP combinations", () => {
      const rq = roleRq(1, 1)
      assert.deepStrictEqual(outcome(roleAe(true, true), rq), { answer: [[1, 1]], result: 0, roles: [[true, true]] })
      assert.deepStrictEqual(outcome(roleAe(true, false), rq), { answer: [[0, 1]], result: 0, roles: [[true, false]] })
      assert.deepStrictEqual(outcome(roleAe(false, true), rq), { answer: [[1, 0]], result: 0, roles: [[false, true]] })
      assert.deepStrictEqual(outcome(roleAe(false, false), rq), { answer: [[0, 0]], result: 1, roles: [] })
    })

    it("never grants a role the requestor did not propose", () => {
      assert.deepStrictEqual(outcome(roleAe(true, true), roleRq(0, 1)), {
        answer: [[0, 1]],
        result: 0,
        roles: [[true, false]]
      })
      assert.deepStrictEqual(outcome(roleAe(true, true), roleRq(1, 0)), {
        answer: [[1, 0]],
        result: 0,
        roles: [[false, true]]
      })
    })

    it("without a role item: requestor SCU, we SCP, no answer item; refused if we are not SCP", () => {
      const plain = rawRq({
        presentationContexts: [
          { _tag: "PresentationContextRq", id: 1, abstractSyntax: CT, transferSyntaxes: [IMPLICIT] }
        ]
      })
      assert.deepStrictEqual(outcome(roleAe(true, true), plain), { answer: [], result: 0, roles: [[false, true]] })
      assert.deepStrictEqual(outcome(roleAe(true, false), plain), { answer: [], result: 1, roles: [] })
    })

    it("answers a role item for a SOP class we do not support with 0/0", () => {
      const rq = rawRq({ userInformation: [{ _tag: "ScpScuRoleSelection", sopClassUid: MR, scuRole: 1, scpRole: 1 }] })
      const { ac } = accept(Negotiation.evaluateRequest(roleAe(true, true), rq, {}))
      assert.deepStrictEqual(userItems(ac.userInformation, "ScpScuRoleSelection"), [
        { _tag: "ScpScuRoleSelection", sopClassUid: MR, scuRole: 0, scpRole: 0 }
      ])
    })
  })

  describe("asynchronous operations window", () => {
    const windowRq = (invoked: number, performed: number) =>
      rawRq({
        userInformation: [
          { _tag: "AsynchronousOperationsWindow", maxOperationsInvoked: invoked, maxOperationsPerformed: performed }
        ]
      })
    const windowOf = (ac: Pdu.AAssociateAc) =>
      userItems(ac.userInformation, "AsynchronousOperationsWindow").map((w) => [
        w.maxOperationsInvoked,
        w.maxOperationsPerformed
      ])

    it("answers the min of proposed and ours, 0 meaning unlimited", () => {
      // We perform up to 3 of the requestor's operations and invoke up to 2 of ours.
      const asyncScp = makeAe({ ...scp, maxOperationsInvoked: 2, maxOperationsPerformed: 3 })
      const { ac, negotiated } = accept(Negotiation.evaluateRequest(asyncScp, windowRq(5, 0), policy))
      assert.deepStrictEqual(windowOf(ac), [[3, 2]])
      assert.strictEqual(negotiated.maxOperationsInvoked, 2)
      assert.strictEqual(negotiated.maxOperationsPerformed, 3)

      const unlimited = makeAe({ ...scp, maxOperationsInvoked: 0, maxOperationsPerformed: 0 })
      assert.deepStrictEqual(windowOf(accept(Negotiation.evaluateRequest(unlimited, windowRq(0, 0), policy)).ac), [
        [0, 0]
      ])
      assert.deepStrictEqual(windowOf(accept(Negotiation.evaluateRequest(unlimited, windowRq(4, 1), policy)).ac), [
        [4, 1]
      ])
      assert.deepStrictEqual(windowOf(accept(Negotiation.evaluateRequest(scp, windowRq(4, 0), policy)).ac), [[1, 1]])
    })

    it("sends no window item when none was proposed", () => {
      const asyncScp = makeAe({ ...scp, maxOperationsInvoked: 2, maxOperationsPerformed: 3 })
      const { ac, negotiated } = accept(Negotiation.evaluateRequest(asyncScp, rawRq(), policy))
      assert.deepStrictEqual(windowOf(ac), [])
      assert.strictEqual(negotiated.maxOperationsInvoked, 1)
      assert.strictEqual(negotiated.maxOperationsPerformed, 1)
    })
  })

  describe("extended negotiation", () => {
    const ext = {
      _tag: "SopClassExtendedNegotiation" as const,
      sopClassUid: CT,
      applicationInformation: Uint8Array.of(1, 0, 1)
    }
    const rq = rawRq({ userInformation: [{ _tag: "MaximumLength", maximumLength: 0 }, ext] })

    it("answers none by default", () => {
      const { ac, negotiated } = accept(Negotiation.evaluateRequest(scp, rq, policy))
      assert.lengthOf(userItems(ac.userInformation, "SopClassExtendedNegotiation"), 0)
      assert.lengthOf(negotiated.extendedNegotiation, 0)
      assert.strictEqual(negotiated.peerMaxPduLength, 0)
    })

    it("passes the items to the policy and sends its answer", () => {
      const answer = { ...ext, applicationInformation: Uint8Array.of(1) }
      let seen: ReadonlyArray<AcceptorPolicy.SopClassExtendedNegotiation> = []
      const { ac, negotiated } = accept(
        Negotiation.evaluateRequest(scp, rq, {
          ...policy,
          extendedNegotiation: (items) => {
            seen = items
            return [answer]
          }
        })
      )
      assert.deepStrictEqual(seen, [ext])
      assert.deepStrictEqual(userItems(ac.userInformation, "SopClassExtendedNegotiation"), [answer])
      assert.deepStrictEqual(negotiated.extendedNegotiation, [answer])
    })
  })

  describe("user identity (PS3.7 D.3.3.7)", () => {
    const identityRq = (positiveResponseRequested: boolean, identityType: 1 | 2 | 3 | 4 | 5 = 2) =>
      rawRq({
        userInformation: [
          {
            _tag: "UserIdentityRq",
            identityType,
            positiveResponseRequested,
            primaryField: new TextEncoder().encode("alice"),
            secondaryField: new TextEncoder().encode("secret")
          }
        ]
      })
    const identityAc = (ac: Pdu.AAssociateAc) => userItems(ac.userInformation, "UserIdentityAc")

    it("accepted with a response, positive response requested: a User Identity AC item", () => {
      let seen: AcceptorPolicy.UserIdentityRq | undefined
      const withResponse: AcceptorPolicy.AcceptorPolicy = {
        ...policy,
        userIdentity: (item) => {
          seen = item
          return { _tag: "Accept", response: Uint8Array.of(7, 7) }
        }
      }
      const { ac, negotiated } = accept(Negotiation.evaluateRequest(scp, identityRq(true, 3), withResponse))
      assert.strictEqual(seen?.identityType, 3)
      assert.deepStrictEqual(identityAc(ac), [{ _tag: "UserIdentityAc", serverResponse: Uint8Array.of(7, 7) }])
      assert.deepStrictEqual(negotiated.userIdentityResponse, Uint8Array.of(7, 7))
      Result.getOrThrow(PduCodec.encodePdu(ac))
    })

    it("accepted without a response: an empty positive response; none when not requested", () => {
      const plain: AcceptorPolicy.AcceptorPolicy = { ...policy, userIdentity: () => ({ _tag: "Accept" }) }
      const requested = accept(Negotiation.evaluateRequest(scp, identityRq(true), plain))
      assert.deepStrictEqual(identityAc(requested.ac), [{ _tag: "UserIdentityAc", serverResponse: new Uint8Array(0) }])
      const notRequested = accept(Negotiation.evaluateRequest(scp, identityRq(false), plain))
      assert.lengthOf(identityAc(notRequested.ac), 0)
      assert.isUndefined(notRequested.negotiated.userIdentityResponse)
    })

    it("rejected: A-ASSOCIATE-RJ permanent, source 1, reason 1", () => {
      const refuse: AcceptorPolicy.AcceptorPolicy = { ...policy, userIdentity: () => ({ _tag: "Reject" }) }
      assert.deepStrictEqual(rejected(Negotiation.evaluateRequest(scp, identityRq(true), refuse)), {
        result: 1,
        source: 1,
        reason: 1
      })
    })

    it("ignored without a policy function; required and missing is a reject (1, 1, 1)", () => {
      const { ac } = accept(Negotiation.evaluateRequest(scp, identityRq(true), policy))
      assert.lengthOf(identityAc(ac), 0)
      const required = { ...policy, requireUserIdentity: true, userIdentity: () => ({ _tag: "Accept" as const }) }
      assert.deepStrictEqual(rejected(Negotiation.evaluateRequest(scp, rawRq(), required)), {
        result: 1,
        source: 1,
        reason: 1
      })
      accept(Negotiation.evaluateRequest(scp, identityRq(false), required))
    })
  })
})

describe("requestor and acceptor together", () => {
  it("RQ bytes → acceptor → AC bytes → requestor: both sides agree", () => {
    const getScu = makeAe({ aeTitle: "GETSCU", maxPduLength: 65536, maxOperationsInvoked: 4 })
    const archive = makeAe({
      aeTitle: "ARCHIVE",
      maxOperationsPerformed: 2,
      contexts: [
        { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
        { abstractSyntax: CT, transferSyntaxes: [EXPLICIT, IMPLICIT], scu: true, scp: true }
      ]
    })
    const rq = okRequest(
      {
        calledAeTitle: "ARCHIVE",
        contexts: [
          { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
          { abstractSyntax: CT, transferSyntaxes: [IMPLICIT, EXPLICIT] },
          { abstractSyntax: MR, transferSyntaxes: [IMPLICIT] }
        ],
        roles: [{ sopClassUid: CT, scu: false, scp: true }]
      },
      getScu
    )
    const received = Result.getOrThrow(PduCodec.decodePdu(Result.getOrThrow(PduCodec.encodePdu(rq))))
    assert.strictEqual(received._tag, "AAssociateRq")
    const decision = accept(
      Negotiation.evaluateRequest(archive, received as Pdu.AAssociateRq, AcceptorPolicy.defaultPolicy(archive))
    )
    const acReceived = Result.getOrThrow(PduCodec.decodePdu(Result.getOrThrow(PduCodec.encodePdu(decision.ac))))
    assert.strictEqual(acReceived._tag, "AAssociateAc")
    const ours = Result.getOrThrow(Negotiation.evaluateAccept(getScu, rq, acReceived as Pdu.AAssociateAc))

    assert.deepStrictEqual(
      ours.accepted.map((c) => [c.id, c.transferSyntax, c.weAreScu, c.weAreScp]),
      [
        [1, IMPLICIT, true, false],
        [3, EXPLICIT, false, true]
      ]
    )
    assert.deepStrictEqual(
      decision.negotiated.accepted.map((c) => [c.id, c.transferSyntax, c.weAreScu, c.weAreScp]),
      [
        [1, IMPLICIT, false, true],
        [3, EXPLICIT, true, false]
      ]
    )
    assert.deepStrictEqual(ours.rejected, [{ id: 5, abstractSyntax: MR, result: 3 }])
    assert.strictEqual(ours.peerMaxPduLength, archive.maxPduLength)
    assert.strictEqual(decision.negotiated.peerMaxPduLength, 65536)
    // GETSCU invokes up to 4, ARCHIVE performs up to 2: 2 outstanding from GETSCU, 1 the other way.
    assert.deepStrictEqual([ours.maxOperationsInvoked, ours.maxOperationsPerformed], [2, 1])
    assert.deepStrictEqual(
      [decision.negotiated.maxOperationsInvoked, decision.negotiated.maxOperationsPerformed],
      [1, 2]
    )
    assert.strictEqual(ours.peerImplementationClassUid, ApplicationEntity.IMPLEMENTATION_CLASS_UID)
    assert.strictEqual(decision.negotiated.peerAeTitle, "GETSCU")
    assert.strictEqual(ours.peerAeTitle, "ARCHIVE")
  })
})

describe("AcceptorPolicy", () => {
  it("defaultPolicy answers to the AE's own title only", () => {
    assert.deepStrictEqual(AcceptorPolicy.defaultPolicy(scp), { calledAeTitles: ["STORESCP"] })
  })

  it.effect("layer provides the policy as AcceptorPolicyService", () =>
    Effect.gen(function* () {
      const custom: AcceptorPolicy.AcceptorPolicy = { callingAeTitles: ["MODALITY"], preferRequestorOrder: true }
      const read = Effect.gen(function* () {
        return yield* AcceptorPolicy.AcceptorPolicyService
      })
      const provided = yield* Effect.provide(read, AcceptorPolicy.layer(custom))
      assert.strictEqual(provided, custom)
      const decision = Negotiation.evaluateRequest(scp, rawRq(), provided)
      assert.strictEqual(rejected(decision).reason, 3)
    })
  )
})
