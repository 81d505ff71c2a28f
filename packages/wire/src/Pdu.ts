/**
 * The upper-layer PDUs and their items as Schemas (PS3.8 section 9.3 and Annex D).
 *
 * Each PDU and item is a tagged struct named as PS3.8 names it. The Schemas validate plain values
 * and give arbitraries for property tests; the byte work lives in `PduCodec`. Items of a type this
 * module does not know are kept as `UnknownItem` / `UnknownUserItem` with their raw bytes.
 *
 * Byte layout of the PDU header, common to all seven PDUs:
 *
 * | offset | length | field |
 * |---|---|---|
 * | 0 | 1 | PDU type (0x01-0x07) |
 * | 1 | 1 | reserved |
 * | 2 | 4 | PDU length, big endian, bytes that follow |
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/** A UID as PS3.5 section 9 writes it: digits and dots, at most 64 characters. */
export const Uid = Schema.String.check(
  Schema.isPattern(/^(0|[1-9][0-9]{0,20})(\.(0|[1-9][0-9]{0,20}))*$/),
  Schema.isMaxLength(64)
)

/** An AE title field as carried on the wire: up to 16 ISO 646 characters, padding kept. */
export const AeTitleField = Schema.String.check(Schema.isPattern(/^[\x20-\x7e]{1,16}$/))

/** Text of ISO 646 characters, for the implementation version name (1-16 characters). */
export const VersionName = Schema.String.check(Schema.isPattern(/^[\x20-\x7e]{1,16}$/))

const U8 = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 255 }))
const U16 = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0xffff }))
const U32 = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0xffffffff }))

/** A presentation context id: odd, 1-255 (PS3.8 section 9.3.2.2). */
export const PresentationContextId = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 255 }))

/** Application Context item, type 0x10 (PS3.8 section 9.3.2.1). */
export const ApplicationContextItem = Schema.TaggedStruct("ApplicationContextItem", { name: Uid })
export type ApplicationContextItem = typeof ApplicationContextItem.Type

/** Presentation Context item of an A-ASSOCIATE-RQ, type 0x20, with its Abstract and Transfer Syntax sub-items. */
export const PresentationContextRq = Schema.TaggedStruct("PresentationContextRq", {
  id: PresentationContextId,
  abstractSyntax: Uid,
  transferSyntaxes: Schema.NonEmptyArray(Uid)
})
export type PresentationContextRq = typeof PresentationContextRq.Type

/** Presentation context results (PS3.8 Table 9-18). */
export const PresentationContextResult = Schema.Literals([0, 1, 2, 3, 4])
export type PresentationContextResult = typeof PresentationContextResult.Type

/** The result codes by name. */
export const PRESENTATION_CONTEXT_RESULT = {
  acceptance: 0,
  userRejection: 1,
  noReason: 2,
  abstractSyntaxNotSupported: 3,
  transferSyntaxesNotSupported: 4
} as const

/**
 * Presentation Context item of an A-ASSOCIATE-AC, type 0x21. The transfer syntax is undefined when
 * a non-zero result came without a Transfer Syntax sub-item (tolerated on receipt).
 */
export const PresentationContextAc = Schema.TaggedStruct("PresentationContextAc", {
  id: PresentationContextId,
  result: PresentationContextResult,
  transferSyntax: Schema.UndefinedOr(Uid)
})
export type PresentationContextAc = typeof PresentationContextAc.Type

/** Maximum Length sub-item, type 0x51 (PS3.8 D.1): 0 means no limit. */
export const MaximumLength = Schema.TaggedStruct("MaximumLength", { maximumLength: U32 })

/** Implementation Class UID sub-item, type 0x52 (PS3.7 D.3.3.2). */
export const ImplementationClassUid = Schema.TaggedStruct("ImplementationClassUid", { uid: Uid })

/** Asynchronous Operations Window sub-item, type 0x53 (PS3.7 D.3.3.3); 0 means unlimited. */
export const AsynchronousOperationsWindow = Schema.TaggedStruct("AsynchronousOperationsWindow", {
  maxOperationsInvoked: U16,
  maxOperationsPerformed: U16
})

/** SCP/SCU Role Selection sub-item, type 0x54 (PS3.7 D.3.3.4). */
export const ScpScuRoleSelection = Schema.TaggedStruct("ScpScuRoleSelection", {
  sopClassUid: Uid,
  scuRole: Schema.Literals([0, 1]),
  scpRole: Schema.Literals([0, 1])
})

/** Implementation Version Name sub-item, type 0x55 (PS3.7 D.3.3.2). */
export const ImplementationVersionName = Schema.TaggedStruct("ImplementationVersionName", { name: VersionName })

/** SOP Class Extended Negotiation sub-item, type 0x56 (PS3.7 D.3.3.5): service-class-specific bytes. */
export const SopClassExtendedNegotiation = Schema.TaggedStruct("SopClassExtendedNegotiation", {
  sopClassUid: Uid,
  applicationInformation: Schema.Uint8Array
})

/** SOP Class Common Extended Negotiation sub-item, type 0x57 (PS3.7 D.3.3.6). */
export const SopClassCommonExtendedNegotiation = Schema.TaggedStruct("SopClassCommonExtendedNegotiation", {
  sopClassUid: Uid,
  serviceClassUid: Uid,
  relatedGeneralSopClassUids: Schema.Array(Uid)
})

/** User identity types (PS3.7 Table D.3-14). */
export const UserIdentityType = Schema.Literals([1, 2, 3, 4, 5])

/** User Identity sub-item of an A-ASSOCIATE-RQ, type 0x58 (PS3.7 D.3.3.7.1). */
export const UserIdentityRq = Schema.TaggedStruct("UserIdentityRq", {
  identityType: UserIdentityType,
  positiveResponseRequested: Schema.Boolean,
  primaryField: Schema.Uint8Array,
  secondaryField: Schema.Uint8Array
})

/** User Identity sub-item of an A-ASSOCIATE-AC, type 0x59 (PS3.7 D.3.3.7.2). */
export const UserIdentityAc = Schema.TaggedStruct("UserIdentityAc", { serverResponse: Schema.Uint8Array })

/** A User Information sub-item of a type this codec does not know, kept as raw bytes. */
export const UnknownUserItem = Schema.TaggedStruct("UnknownUserItem", { itemType: U8, data: Schema.Uint8Array })

/** Any sub-item of the User Information item (type 0x50). */
export const UserItem = Schema.Union([
  MaximumLength,
  ImplementationClassUid,
  AsynchronousOperationsWindow,
  ScpScuRoleSelection,
  ImplementationVersionName,
  SopClassExtendedNegotiation,
  SopClassCommonExtendedNegotiation,
  UserIdentityRq,
  UserIdentityAc,
  UnknownUserItem
])
export type UserItem = typeof UserItem.Type

/** A variable item of an A-ASSOCIATE PDU of a type this codec does not know, kept as raw bytes. */
export const UnknownItem = Schema.TaggedStruct("UnknownItem", { itemType: U8, data: Schema.Uint8Array })
export type UnknownItem = typeof UnknownItem.Type

const associateFields = {
  protocolVersion: U16,
  calledAeTitle: AeTitleField,
  callingAeTitle: AeTitleField,
  applicationContextName: Uid,
  userInformation: Schema.Array(UserItem),
  unknownItems: Schema.Array(UnknownItem)
}

/** A-ASSOCIATE-RQ, PDU type 0x01 (PS3.8 section 9.3.2). */
export const AAssociateRq = Schema.TaggedStruct("AAssociateRq", {
  ...associateFields,
  presentationContexts: Schema.Array(PresentationContextRq)
})
export type AAssociateRq = typeof AAssociateRq.Type

/**
 * A-ASSOCIATE-AC, PDU type 0x02 (PS3.8 section 9.3.3). The AE title fields are reserved: they
 * should echo the request's and are not tested on receipt.
 */
export const AAssociateAc = Schema.TaggedStruct("AAssociateAc", {
  ...associateFields,
  presentationContexts: Schema.Array(PresentationContextAc)
})
export type AAssociateAc = typeof AAssociateAc.Type

/** A-ASSOCIATE-RJ results: 1 rejected-permanent, 2 rejected-transient (PS3.8 Table 9-21). */
export const RejectResult = Schema.Literals([1, 2])

/** A-ASSOCIATE-RJ sources: 1 service user, 2 provider (ACSE), 3 provider (presentation). */
export const RejectSource = Schema.Literals([1, 2, 3])

/**
 * A-ASSOCIATE-RJ, PDU type 0x03 (PS3.8 section 9.3.4). Reasons by source: 1 — 1 no reason, 2
 * application context not supported, 3 calling AE not recognized, 7 called AE not recognized;
 * 2 — 1 no reason, 2 protocol version not supported; 3 — 1 temporary congestion, 2 local limit exceeded.
 */
export const AAssociateRj = Schema.TaggedStruct("AAssociateRj", {
  result: RejectResult,
  source: RejectSource,
  reason: U8
})
export type AAssociateRj = typeof AAssociateRj.Type

/** One PDV inside a P-DATA-TF (PS3.8 section 9.3.5.1). */
export const PdvSchema = Schema.Struct({
  presentationContextId: PresentationContextId,
  isCommand: Schema.Boolean,
  isLast: Schema.Boolean,
  data: Schema.Uint8Array
})

/** P-DATA-TF, PDU type 0x04 (PS3.8 section 9.3.5): one or more PDVs. */
export const PDataTf = Schema.TaggedStruct("PDataTf", { pdvs: Schema.NonEmptyArray(PdvSchema) })
export type PDataTf = typeof PDataTf.Type

/** A-RELEASE-RQ, PDU type 0x05 (PS3.8 section 9.3.6). */
export const AReleaseRq = Schema.TaggedStruct("AReleaseRq", {})
export type AReleaseRq = typeof AReleaseRq.Type

/** A-RELEASE-RP, PDU type 0x06 (PS3.8 section 9.3.7). */
export const AReleaseRp = Schema.TaggedStruct("AReleaseRp", {})
export type AReleaseRp = typeof AReleaseRp.Type

/** A-ABORT sources: 0 service user, 2 service provider (1 is reserved; PS3.8 Table 9-26). */
export const AbortSource = Schema.Literals([0, 1, 2])

/**
 * A-ABORT, PDU type 0x07 (PS3.8 section 9.3.8). Provider reasons: 0 not specified, 1 unrecognized
 * PDU, 2 unexpected PDU, 4 unrecognized PDU parameter, 5 unexpected PDU parameter, 6 invalid
 * PDU parameter value. The reason is not significant when the source is the service user.
 */
export const AAbort = Schema.TaggedStruct("AAbort", { source: AbortSource, reason: U8 })
export type AAbort = typeof AAbort.Type

/** Any of the seven PDUs. */
export const Pdu = Schema.Union([AAssociateRq, AAssociateAc, AAssociateRj, PDataTf, AReleaseRq, AReleaseRp, AAbort])
export type Pdu = typeof Pdu.Type

/** PDU type codes as written on the wire. */
export const PDU_TYPE = {
  AAssociateRq: 0x01,
  AAssociateAc: 0x02,
  AAssociateRj: 0x03,
  PDataTf: 0x04,
  AReleaseRq: 0x05,
  AReleaseRp: 0x06,
  AAbort: 0x07
} as const

/** Item type codes of the variable items and User Information sub-items. */
export const ITEM_TYPE = {
  ApplicationContextItem: 0x10,
  PresentationContextRq: 0x20,
  PresentationContextAc: 0x21,
  AbstractSyntax: 0x30,
  TransferSyntax: 0x40,
  UserInformation: 0x50,
  MaximumLength: 0x51,
  ImplementationClassUid: 0x52,
  AsynchronousOperationsWindow: 0x53,
  ScpScuRoleSelection: 0x54,
  ImplementationVersionName: 0x55,
  SopClassExtendedNegotiation: 0x56,
  SopClassCommonExtendedNegotiation: 0x57,
  UserIdentityRq: 0x58,
  UserIdentityAc: 0x59
} as const

/** The DICOM Application Context Name (PS3.7 Annex A.2.1). */
export const DICOM_APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
