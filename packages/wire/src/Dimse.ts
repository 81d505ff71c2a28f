/**
 * DIMSE-C and DIMSE-N messages (PS3.7 sections 9.3 and 10.3) as Schemas, and their mapping to command sets.
 *
 * One `Schema.TaggedStruct` per message: C-ECHO, C-STORE, C-FIND, C-GET and C-MOVE requests and
 * responses, C-CANCEL-RQ, and N-EVENT-REPORT, N-GET, N-SET, N-ACTION, N-CREATE and N-DELETE requests
 * and responses. Fields carry the PS3.7 Annex E keywords in camelCase, as in
 * `CommandSet`. The CommandField and CommandDataSetType elements are not fields: the first is the
 * tag, the second follows from the message (requests with an identifier or data set always have
 * one; C-FIND/C-GET/C-MOVE responses say so in `hasIdentifier`, the DIMSE-N messages whose data set
 * PS3.7 10.3 makes optional or conditional in `hasDataSet`; the others never have one).
 *
 * `fromCommandSet` checks what PS3.7 tables 9.3-1 to 9.3-12 and 10.3-1 to 10.3-12 require: a missing
 * mandatory element or an element the message does not allow is a `DimseError` naming it, as is a data
 * set where none may follow (a C-ECHO with a data set, a Success C-FIND-RSP with an identifier, an
 * N-GET-RQ with one) or none where one must (an N-SET-RQ without its Modification List). Retired and
 * unknown elements are ignored here (they stay in the `CommandSet`). Status detail elements
 * (OffendingElement, ErrorComment, ErrorID; PS3.7 Annex C) are allowed on every response, and a DIMSE-N
 * response may also carry the Attribute Identifier List of a 0x0105/0x0107 status.
 *
 * Not covered: what a status means (see `Status`), and what the data sets of the DIMSE-N messages hold
 * (the SOP classes of PS3.4 define them).
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
import * as CS from "./CommandSet.ts"
import * as CommonCommands from "./internal/CommonCommands.ts"
import * as Status from "./Status.ts"

/** CommandField (0000,0100) values of the DIMSE-C and DIMSE-N messages (PS3.7 sections 9.3 and 10.3). */
export const CommandField = {
  C_STORE_RQ: 0x0001,
  C_STORE_RSP: 0x8001,
  C_GET_RQ: 0x0010,
  C_GET_RSP: 0x8010,
  C_FIND_RQ: 0x0020,
  C_FIND_RSP: 0x8020,
  C_MOVE_RQ: 0x0021,
  C_MOVE_RSP: 0x8021,
  C_ECHO_RQ: 0x0030,
  C_ECHO_RSP: 0x8030,
  C_CANCEL_RQ: 0x0fff,
  N_EVENT_REPORT_RQ: 0x0100,
  N_EVENT_REPORT_RSP: 0x8100,
  N_GET_RQ: 0x0110,
  N_GET_RSP: 0x8110,
  N_SET_RQ: 0x0120,
  N_SET_RSP: 0x8120,
  N_ACTION_RQ: 0x0130,
  N_ACTION_RSP: 0x8130,
  N_CREATE_RQ: 0x0140,
  N_CREATE_RSP: 0x8140,
  N_DELETE_RQ: 0x0150,
  N_DELETE_RSP: 0x8150
} as const

/** Priority (0000,0700): 0 MEDIUM, 1 HIGH, 2 LOW. */
export const Priority = Schema.Literals([0, 1, 2])
/** Priority (0000,0700): 0 MEDIUM, 1 HIGH, 2 LOW. */
export type Priority = typeof Priority.Type

/** Priority MEDIUM (0000). */
export const PRIORITY_MEDIUM: Priority = 0
/** Priority HIGH (0001). */
export const PRIORITY_HIGH: Priority = 1
/** Priority LOW (0002). */
export const PRIORITY_LOW: Priority = 2

const PRIORITY_NAMES = ["MEDIUM", "HIGH", "LOW"] as const

const US = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0xffff }))
const Tag = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0xffffffff }))
const Uid = Schema.String.check(Schema.isBetweenLength(1, 64))
const Ae = Schema.String.check(Schema.isBetweenLength(1, 16))
const Lo = Schema.String.check(Schema.isBetweenLength(1, 64))

// Punctuation our own messages use, in ASCII (a dash read "?" where it separated a reason from its detail).
const TYPOGRAPHIC: Readonly<Record<string, string>> = {
  "\u2014": "-",
  "\u2013": "-",
  "\u2018": "'",
  "\u2019": "'",
  "\u201c": '"',
  "\u201d": '"',
  "\u2026": "...",
  "\u00a0": " "
}

/**
 * A text made fit for Error Comment (0000,0902), a LO in the default repertoire (PS3.5 6.2, 6.1.2: at most 64
 * characters, no backslash, no control characters, nothing outside ASCII; a command set has no Specific Character
 * Set): a longer text is cut at the last word that fits, and ends with "...". Dashes, quotes and ellipses become
 * their ASCII forms; any other character outside ASCII (a peer's UID in Latin-1) becomes `?`: the encoder refuses
 * it, and the response carrying it was never sent.
 */
export const fitErrorComment = (text: string): string => {
  let clean = ""
  for (const ch of text) {
    const c = ch.charCodeAt(0)
    clean += ch === "\\" || c < 0x20 ? " " : c > 0x7e ? (TYPOGRAPHIC[ch] ?? "?") : ch
  }
  clean = clean.trim()
  if (clean.length <= 64) return clean
  const room = clean.slice(0, 61)
  const space = room.lastIndexOf(" ")
  return `${(space >= 40 ? room.slice(0, space) : room).trimEnd()}...`
}

const statusDetail = {
  offendingElement: Schema.optionalKey(Schema.Array(Tag)),
  errorComment: Schema.optionalKey(Lo),
  errorId: Schema.optionalKey(US)
}

const suboperations = {
  numberOfRemainingSuboperations: Schema.optionalKey(US),
  numberOfCompletedSuboperations: Schema.optionalKey(US),
  numberOfFailedSuboperations: Schema.optionalKey(US),
  numberOfWarningSuboperations: Schema.optionalKey(US)
}

const response = {
  messageIdBeingRespondedTo: US,
  status: US,
  affectedSopClassUid: Schema.optionalKey(Uid),
  ...statusDetail
}

/** C-ECHO-RQ (PS3.7 Table 9.3-12). */
export const CEchoRq = Schema.TaggedStruct("CEchoRq", { messageId: US, affectedSopClassUid: Uid })
/** C-ECHO-RQ (PS3.7 Table 9.3-12). */
export type CEchoRq = typeof CEchoRq.Type

/** C-ECHO-RSP (PS3.7 Table 9.3-13). */
export const CEchoRsp = Schema.TaggedStruct("CEchoRsp", response)
/** C-ECHO-RSP (PS3.7 Table 9.3-13). */
export type CEchoRsp = typeof CEchoRsp.Type

/** C-STORE-RQ (PS3.7 Table 9.3-1); a data set always follows. */
export const CStoreRq = Schema.TaggedStruct("CStoreRq", {
  messageId: US,
  affectedSopClassUid: Uid,
  affectedSopInstanceUid: Uid,
  priority: Priority,
  moveOriginatorApplicationEntityTitle: Schema.optionalKey(Ae),
  moveOriginatorMessageId: Schema.optionalKey(US)
})
/** C-STORE-RQ (PS3.7 Table 9.3-1); a data set always follows. */
export type CStoreRq = typeof CStoreRq.Type

/** C-STORE-RSP (PS3.7 Table 9.3-2). */
export const CStoreRsp = Schema.TaggedStruct("CStoreRsp", {
  ...response,
  affectedSopInstanceUid: Schema.optionalKey(Uid)
})
/** C-STORE-RSP (PS3.7 Table 9.3-2). */
export type CStoreRsp = typeof CStoreRsp.Type

/** C-FIND-RQ (PS3.7 Table 9.3-3); an identifier always follows. */
export const CFindRq = Schema.TaggedStruct("CFindRq", { messageId: US, affectedSopClassUid: Uid, priority: Priority })
/** C-FIND-RQ (PS3.7 Table 9.3-3); an identifier always follows. */
export type CFindRq = typeof CFindRq.Type

/** C-FIND-RSP (PS3.7 Table 9.3-4); an identifier follows pending responses, never a Success one. */
export const CFindRsp = Schema.TaggedStruct("CFindRsp", { ...response, hasIdentifier: Schema.Boolean })
/** C-FIND-RSP (PS3.7 Table 9.3-4); an identifier follows pending responses, never a Success one. */
export type CFindRsp = typeof CFindRsp.Type

/** C-GET-RQ (PS3.7 Table 9.3-5); an identifier always follows. */
export const CGetRq = Schema.TaggedStruct("CGetRq", { messageId: US, affectedSopClassUid: Uid, priority: Priority })
/** C-GET-RQ (PS3.7 Table 9.3-5); an identifier always follows. */
export type CGetRq = typeof CGetRq.Type

/** C-GET-RSP (PS3.7 Table 9.3-6); an identifier (Failed SOP Instance UID List) may follow. */
export const CGetRsp = Schema.TaggedStruct("CGetRsp", { ...response, ...suboperations, hasIdentifier: Schema.Boolean })
/** C-GET-RSP (PS3.7 Table 9.3-6); an identifier (Failed SOP Instance UID List) may follow. */
export type CGetRsp = typeof CGetRsp.Type

/** C-MOVE-RQ (PS3.7 Table 9.3-7); an identifier always follows. */
export const CMoveRq = Schema.TaggedStruct("CMoveRq", {
  messageId: US,
  affectedSopClassUid: Uid,
  priority: Priority,
  moveDestination: Ae
})
/** C-MOVE-RQ (PS3.7 Table 9.3-7); an identifier always follows. */
export type CMoveRq = typeof CMoveRq.Type

/** C-MOVE-RSP (PS3.7 Table 9.3-8); an identifier (Failed SOP Instance UID List) may follow. */
export const CMoveRsp = Schema.TaggedStruct("CMoveRsp", {
  ...response,
  ...suboperations,
  hasIdentifier: Schema.Boolean
})
/** C-MOVE-RSP (PS3.7 Table 9.3-8); an identifier (Failed SOP Instance UID List) may follow. */
export type CMoveRsp = typeof CMoveRsp.Type

/** C-CANCEL-RQ (PS3.7 Tables 9.3-9 to 9.3-11), for a C-FIND, C-GET or C-MOVE in progress. */
export const CCancelRq = Schema.TaggedStruct("CCancelRq", { messageIdBeingRespondedTo: US })
/** C-CANCEL-RQ (PS3.7 Tables 9.3-9 to 9.3-11), for a C-FIND, C-GET or C-MOVE in progress. */
export type CCancelRq = typeof CCancelRq.Type

// The elements every DIMSE-N response may carry (PS3.7 10.3: Affected SOP Class and Instance UID are U(=); Annex C:
// the status detail, with the Attribute Identifier List of 0x0105 no such attribute and 0x0107 attribute list error).
const nResponse = {
  ...response,
  affectedSopInstanceUid: Schema.optionalKey(Uid),
  attributeIdentifierList: Schema.optionalKey(Schema.Array(Tag))
}

/** N-EVENT-REPORT-RQ (PS3.7 Table 10.3-1); an Event Information data set may follow (`hasDataSet`). */
export const NEventReportRq = Schema.TaggedStruct("NEventReportRq", {
  messageId: US,
  affectedSopClassUid: Uid,
  affectedSopInstanceUid: Uid,
  eventTypeId: US,
  hasDataSet: Schema.Boolean
})
/** N-EVENT-REPORT-RQ (PS3.7 Table 10.3-1); an Event Information data set may follow (`hasDataSet`). */
export type NEventReportRq = typeof NEventReportRq.Type

/** N-EVENT-REPORT-RSP (PS3.7 Table 10.3-2); an Event Reply data set may follow (`hasDataSet`). */
export const NEventReportRsp = Schema.TaggedStruct("NEventReportRsp", {
  ...nResponse,
  eventTypeId: Schema.optionalKey(US),
  hasDataSet: Schema.Boolean
})
/** N-EVENT-REPORT-RSP (PS3.7 Table 10.3-2); an Event Reply data set may follow (`hasDataSet`). */
export type NEventReportRsp = typeof NEventReportRsp.Type

/** N-GET-RQ (PS3.7 Table 10.3-3); no data set. Without an Attribute Identifier List, all attributes are asked for. */
export const NGetRq = Schema.TaggedStruct("NGetRq", {
  messageId: US,
  requestedSopClassUid: Uid,
  requestedSopInstanceUid: Uid,
  attributeIdentifierList: Schema.optionalKey(Schema.Array(Tag))
})
/** N-GET-RQ (PS3.7 Table 10.3-3); no data set. Without an Attribute Identifier List, all attributes are asked for. */
export type NGetRq = typeof NGetRq.Type

/** N-GET-RSP (PS3.7 Table 10.3-4); the Attribute List data set follows a success (`hasDataSet`). */
export const NGetRsp = Schema.TaggedStruct("NGetRsp", { ...nResponse, hasDataSet: Schema.Boolean })
/** N-GET-RSP (PS3.7 Table 10.3-4); the Attribute List data set follows a success (`hasDataSet`). */
export type NGetRsp = typeof NGetRsp.Type

/** N-SET-RQ (PS3.7 Table 10.3-5); the Modification List data set always follows. */
export const NSetRq = Schema.TaggedStruct("NSetRq", {
  messageId: US,
  requestedSopClassUid: Uid,
  requestedSopInstanceUid: Uid
})
/** N-SET-RQ (PS3.7 Table 10.3-5); the Modification List data set always follows. */
export type NSetRq = typeof NSetRq.Type

/** N-SET-RSP (PS3.7 Table 10.3-6); an Attribute List data set may follow (`hasDataSet`). */
export const NSetRsp = Schema.TaggedStruct("NSetRsp", { ...nResponse, hasDataSet: Schema.Boolean })
/** N-SET-RSP (PS3.7 Table 10.3-6); an Attribute List data set may follow (`hasDataSet`). */
export type NSetRsp = typeof NSetRsp.Type

/** N-ACTION-RQ (PS3.7 Table 10.3-7); an Action Information data set may follow (`hasDataSet`). */
export const NActionRq = Schema.TaggedStruct("NActionRq", {
  messageId: US,
  requestedSopClassUid: Uid,
  requestedSopInstanceUid: Uid,
  actionTypeId: US,
  hasDataSet: Schema.Boolean
})
/** N-ACTION-RQ (PS3.7 Table 10.3-7); an Action Information data set may follow (`hasDataSet`). */
export type NActionRq = typeof NActionRq.Type

/** N-ACTION-RSP (PS3.7 Table 10.3-8); an Action Reply data set may follow (`hasDataSet`). */
export const NActionRsp = Schema.TaggedStruct("NActionRsp", {
  ...nResponse,
  actionTypeId: Schema.optionalKey(US),
  hasDataSet: Schema.Boolean
})
/** N-ACTION-RSP (PS3.7 Table 10.3-8); an Action Reply data set may follow (`hasDataSet`). */
export type NActionRsp = typeof NActionRsp.Type

/**
 * N-CREATE-RQ (PS3.7 Table 10.3-9); an Attribute List data set may follow (`hasDataSet`). Without an Affected SOP
 * Instance UID the performer assigns one and returns it in the response.
 */
export const NCreateRq = Schema.TaggedStruct("NCreateRq", {
  messageId: US,
  affectedSopClassUid: Uid,
  affectedSopInstanceUid: Schema.optionalKey(Uid),
  hasDataSet: Schema.Boolean
})
/** N-CREATE-RQ (PS3.7 Table 10.3-9); an Attribute List data set may follow (`hasDataSet`). */
export type NCreateRq = typeof NCreateRq.Type

/** N-CREATE-RSP (PS3.7 Table 10.3-10); an Attribute List data set may follow (`hasDataSet`). */
export const NCreateRsp = Schema.TaggedStruct("NCreateRsp", { ...nResponse, hasDataSet: Schema.Boolean })
/** N-CREATE-RSP (PS3.7 Table 10.3-10); an Attribute List data set may follow (`hasDataSet`). */
export type NCreateRsp = typeof NCreateRsp.Type

/** N-DELETE-RQ (PS3.7 Table 10.3-11); no data set. */
export const NDeleteRq = Schema.TaggedStruct("NDeleteRq", {
  messageId: US,
  requestedSopClassUid: Uid,
  requestedSopInstanceUid: Uid
})
/** N-DELETE-RQ (PS3.7 Table 10.3-11); no data set. */
export type NDeleteRq = typeof NDeleteRq.Type

/** N-DELETE-RSP (PS3.7 Table 10.3-12); no data set. */
export const NDeleteRsp = Schema.TaggedStruct("NDeleteRsp", nResponse)
/** N-DELETE-RSP (PS3.7 Table 10.3-12); no data set. */
export type NDeleteRsp = typeof NDeleteRsp.Type

/** Any DIMSE message, C or N. */
export const Message = Schema.Union([
  CEchoRq,
  CEchoRsp,
  CStoreRq,
  CStoreRsp,
  CFindRq,
  CFindRsp,
  CGetRq,
  CGetRsp,
  CMoveRq,
  CMoveRsp,
  CCancelRq,
  NEventReportRq,
  NEventReportRsp,
  NGetRq,
  NGetRsp,
  NSetRq,
  NSetRsp,
  NActionRq,
  NActionRsp,
  NCreateRq,
  NCreateRsp,
  NDeleteRq,
  NDeleteRsp
])

/** A DIMSE-N request. */
export type NRequest = NEventReportRq | NGetRq | NSetRq | NActionRq | NCreateRq | NDeleteRq

/** A DIMSE-N response. */
export type NResponse = NEventReportRsp | NGetRsp | NSetRsp | NActionRsp | NCreateRsp | NDeleteRsp

/** Whether a message is a DIMSE-N request. */
export const isNRequest = (m: { readonly _tag: string }): m is NRequest =>
  m._tag === "NEventReportRq" ||
  m._tag === "NGetRq" ||
  m._tag === "NSetRq" ||
  m._tag === "NActionRq" ||
  m._tag === "NCreateRq" ||
  m._tag === "NDeleteRq"

/** The SOP class a DIMSE-N request names: its Affected (N-EVENT-REPORT, N-CREATE) or Requested SOP Class UID. */
export const nSopClassOf = (m: NRequest): string =>
  m._tag === "NEventReportRq" || m._tag === "NCreateRq" ? m.affectedSopClassUid : m.requestedSopClassUid

/** The SOP instance a DIMSE-N request names, if any (an N-CREATE-RQ may leave it to the performer). */
export const nSopInstanceOf = (m: NRequest): string | undefined =>
  m._tag === "NEventReportRq" || m._tag === "NCreateRq" ? m.affectedSopInstanceUid : m.requestedSopInstanceUid

// One decoder per message type, made once: the hot path decodes a received command with its own Schema.
const MEMBER_DECODERS: Readonly<Record<MessageTagOf, (u: unknown) => Result.Result<Message, Schema.SchemaError>>> = {
  CEchoRq: Schema.decodeUnknownResult(CEchoRq),
  CEchoRsp: Schema.decodeUnknownResult(CEchoRsp),
  CStoreRq: Schema.decodeUnknownResult(CStoreRq),
  CStoreRsp: Schema.decodeUnknownResult(CStoreRsp),
  CFindRq: Schema.decodeUnknownResult(CFindRq),
  CFindRsp: Schema.decodeUnknownResult(CFindRsp),
  CGetRq: Schema.decodeUnknownResult(CGetRq),
  CGetRsp: Schema.decodeUnknownResult(CGetRsp),
  CMoveRq: Schema.decodeUnknownResult(CMoveRq),
  CMoveRsp: Schema.decodeUnknownResult(CMoveRsp),
  CCancelRq: Schema.decodeUnknownResult(CCancelRq),
  NEventReportRq: Schema.decodeUnknownResult(NEventReportRq),
  NEventReportRsp: Schema.decodeUnknownResult(NEventReportRsp),
  NGetRq: Schema.decodeUnknownResult(NGetRq),
  NGetRsp: Schema.decodeUnknownResult(NGetRsp),
  NSetRq: Schema.decodeUnknownResult(NSetRq),
  NSetRsp: Schema.decodeUnknownResult(NSetRsp),
  NActionRq: Schema.decodeUnknownResult(NActionRq),
  NActionRsp: Schema.decodeUnknownResult(NActionRsp),
  NCreateRq: Schema.decodeUnknownResult(NCreateRq),
  NCreateRsp: Schema.decodeUnknownResult(NCreateRsp),
  NDeleteRq: Schema.decodeUnknownResult(NDeleteRq),
  NDeleteRsp: Schema.decodeUnknownResult(NDeleteRsp)
}
type MessageTagOf = (typeof Message.Type)["_tag"]

// The checks of the message Schemas above, per field, made without the Schema machinery: a received command set
// that passes them all is what its Schema would give back; one that does not is decoded by its Schema, for the
// same error as ever.
type Kind = "US" | "Tags" | "Uid" | "Ae" | "Lo" | "Priority" | "Boolean"
const FIELD_KINDS: Readonly<Record<string, Kind>> = {
  messageId: "US",
  messageIdBeingRespondedTo: "US",
  status: "US",
  errorId: "US",
  moveOriginatorMessageId: "US",
  numberOfRemainingSuboperations: "US",
  numberOfCompletedSuboperations: "US",
  numberOfFailedSuboperations: "US",
  numberOfWarningSuboperations: "US",
  offendingElement: "Tags",
  affectedSopClassUid: "Uid",
  affectedSopInstanceUid: "Uid",
  requestedSopClassUid: "Uid",
  requestedSopInstanceUid: "Uid",
  eventTypeId: "US",
  actionTypeId: "US",
  attributeIdentifierList: "Tags",
  hasDataSet: "Boolean",
  errorComment: "Lo",
  moveOriginatorApplicationEntityTitle: "Ae",
  moveDestination: "Ae",
  priority: "Priority",
  hasIdentifier: "Boolean"
}
const isUintUpTo = (v: unknown, max: number): boolean =>
  Number.isInteger(v) && (v as number) >= 0 && (v as number) <= max
// Every index, holes included (`every` skips the holes of a sparse array, which the Schema refuses).
const everyTag = (tags: ReadonlyArray<unknown>): boolean => {
  for (let i = 0; i < tags.length; i++) if (!isUintUpTo(tags[i], 0xffffffff)) return false
  return true
}
const stringUpTo = (v: unknown, max: number): boolean => typeof v === "string" && v.length >= 1 && v.length <= max
const passes = (kind: Kind, v: unknown): boolean => {
  switch (kind) {
    case "US":
      return isUintUpTo(v, 0xffff)
    case "Tags":
      return Array.isArray(v) && everyTag(v)
    case "Uid":
    case "Lo":
      return stringUpTo(v, 64)
    case "Ae":
      return stringUpTo(v, 16)
    case "Priority":
      return v === 0 || v === 1 || v === 2
    case "Boolean":
      return typeof v === "boolean"
  }
}
interface MemberFields {
  readonly all: ReadonlySet<string>
  readonly required: ReadonlyArray<string>
}
const fieldsOf = (schema: { readonly fields: Readonly<Record<string, { readonly ast: SchemaAST.AST }>> }) => {
  const keys = Object.keys(schema.fields).filter((k) => k !== "_tag")
  return {
    all: new Set(keys),
    required: keys.filter((k) => !SchemaAST.isOptional(schema.fields[k]!.ast))
  } satisfies MemberFields
}
const MEMBER_FIELDS: Readonly<Record<MessageTagOf, MemberFields>> = {
  CEchoRq: fieldsOf(CEchoRq),
  CEchoRsp: fieldsOf(CEchoRsp),
  CStoreRq: fieldsOf(CStoreRq),
  CStoreRsp: fieldsOf(CStoreRsp),
  CFindRq: fieldsOf(CFindRq),
  CFindRsp: fieldsOf(CFindRsp),
  CGetRq: fieldsOf(CGetRq),
  CGetRsp: fieldsOf(CGetRsp),
  CMoveRq: fieldsOf(CMoveRq),
  CMoveRsp: fieldsOf(CMoveRsp),
  CCancelRq: fieldsOf(CCancelRq),
  NEventReportRq: fieldsOf(NEventReportRq),
  NEventReportRsp: fieldsOf(NEventReportRsp),
  NGetRq: fieldsOf(NGetRq),
  NGetRsp: fieldsOf(NGetRsp),
  NSetRq: fieldsOf(NSetRq),
  NSetRsp: fieldsOf(NSetRsp),
  NActionRq: fieldsOf(NActionRq),
  NActionRsp: fieldsOf(NActionRsp),
  NCreateRq: fieldsOf(NCreateRq),
  NCreateRsp: fieldsOf(NCreateRsp),
  NDeleteRq: fieldsOf(NDeleteRq),
  NDeleteRsp: fieldsOf(NDeleteRsp)
}
// True when every field of `out` (a message of `tag`, from a command set) is one its Schema has and passes its check.
const passesSchemaChecks = (tag: MessageTagOf, out: Readonly<Record<string, unknown>>): boolean => {
  const fields = MEMBER_FIELDS[tag]
  for (const key of fields.required) if (!(key in out)) return false
  for (const key in out) {
    if (key === "_tag") continue
    const kind = FIELD_KINDS[key]
    if (kind === undefined || !fields.all.has(key) || !passes(kind, out[key])) return false
  }
  return true
}
/** Any DIMSE message, C or N. */
export type Message = typeof Message.Type

/** The tag of a message type. */
export type MessageTag = Message["_tag"]

/** A command set that is not a valid DIMSE message. */
export class DimseError extends Data.TaggedError("DimseError")<{
  readonly reason: "UnknownCommand" | "MissingField" | "ForbiddenField" | "InvalidValue"
  /** The message name (`C-STORE-RQ`), or the command field in hex when unknown. */
  readonly command: string
  /** The PS3.7 keyword of the element at fault, when there is one. */
  readonly field: string | undefined
  readonly detail: string
}> {
  override get message(): string {
    return `${this.command}: ${this.detail}`
  }
}

interface Spec {
  readonly name: string
  readonly commandField: number
  readonly required: ReadonlyArray<CS.Field>
  readonly optional: ReadonlyArray<CS.Field>
  readonly dataSet: "always" | "never" | "optional"
  readonly service: Status.Service
}

const DETAIL: ReadonlyArray<CS.Field> = ["offendingElement", "errorComment", "errorId"]
const SUBOPS: ReadonlyArray<CS.Field> = [
  "numberOfRemainingSuboperations",
  "numberOfCompletedSuboperations",
  "numberOfFailedSuboperations",
  "numberOfWarningSuboperations"
]
const RSP_REQUIRED: ReadonlyArray<CS.Field> = ["messageIdBeingRespondedTo", "status"]
const RSP_OPTIONAL: ReadonlyArray<CS.Field> = ["affectedSopClassUid", ...DETAIL]
const QUERY_REQUIRED: ReadonlyArray<CS.Field> = ["messageId", "affectedSopClassUid", "priority"]
const N_RSP_OPTIONAL: ReadonlyArray<CS.Field> = [...RSP_OPTIONAL, "affectedSopInstanceUid", "attributeIdentifierList"]
const N_REQUESTED: ReadonlyArray<CS.Field> = ["messageId", "requestedSopClassUid", "requestedSopInstanceUid"]

const SPECS: { readonly [K in MessageTag]: Spec } = {
  CEchoRq: {
    name: "C-ECHO-RQ",
    commandField: CommandField.C_ECHO_RQ,
    required: ["messageId", "affectedSopClassUid"],
    optional: [],
    dataSet: "never",
    service: "C-ECHO"
  },
  CEchoRsp: {
    name: "C-ECHO-RSP",
    commandField: CommandField.C_ECHO_RSP,
    required: RSP_REQUIRED,
    optional: RSP_OPTIONAL,
    dataSet: "never",
    service: "C-ECHO"
  },
  CStoreRq: {
    name: "C-STORE-RQ",
    commandField: CommandField.C_STORE_RQ,
    required: ["messageId", "affectedSopClassUid", "affectedSopInstanceUid", "priority"],
    optional: ["moveOriginatorApplicationEntityTitle", "moveOriginatorMessageId"],
    dataSet: "always",
    service: "C-STORE"
  },
  CStoreRsp: {
    name: "C-STORE-RSP",
    commandField: CommandField.C_STORE_RSP,
    required: RSP_REQUIRED,
    optional: [...RSP_OPTIONAL, "affectedSopInstanceUid"],
    dataSet: "never",
    service: "C-STORE"
  },
  CFindRq: {
    name: "C-FIND-RQ",
    commandField: CommandField.C_FIND_RQ,
    required: QUERY_REQUIRED,
    optional: [],
    dataSet: "always",
    service: "C-FIND"
  },
  CFindRsp: {
    name: "C-FIND-RSP",
    commandField: CommandField.C_FIND_RSP,
    required: RSP_REQUIRED,
    optional: RSP_OPTIONAL,
    dataSet: "optional",
    service: "C-FIND"
  },
  CGetRq: {
    name: "C-GET-RQ",
    commandField: CommandField.C_GET_RQ,
    required: QUERY_REQUIRED,
    optional: [],
    dataSet: "always",
    service: "C-GET"
  },
  CGetRsp: {
    name: "C-GET-RSP",
    commandField: CommandField.C_GET_RSP,
    required: RSP_REQUIRED,
    optional: [...RSP_OPTIONAL, ...SUBOPS],
    dataSet: "optional",
    service: "C-GET"
  },
  CMoveRq: {
    name: "C-MOVE-RQ",
    commandField: CommandField.C_MOVE_RQ,
    required: [...QUERY_REQUIRED, "moveDestination"],
    optional: [],
    dataSet: "always",
    service: "C-MOVE"
  },
  CMoveRsp: {
    name: "C-MOVE-RSP",
    commandField: CommandField.C_MOVE_RSP,
    required: RSP_REQUIRED,
    optional: [...RSP_OPTIONAL, ...SUBOPS],
    dataSet: "optional",
    service: "C-MOVE"
  },
  CCancelRq: {
    name: "C-CANCEL-RQ",
    commandField: CommandField.C_CANCEL_RQ,
    required: ["messageIdBeingRespondedTo"],
    optional: [],
    dataSet: "never",
    service: "C-FIND"
  },
  NEventReportRq: {
    name: "N-EVENT-REPORT-RQ",
    commandField: CommandField.N_EVENT_REPORT_RQ,
    required: ["messageId", "affectedSopClassUid", "affectedSopInstanceUid", "eventTypeId"],
    optional: [],
    dataSet: "optional",
    service: "N-EVENT-REPORT"
  },
  NEventReportRsp: {
    name: "N-EVENT-REPORT-RSP",
    commandField: CommandField.N_EVENT_REPORT_RSP,
    required: RSP_REQUIRED,
    optional: [...N_RSP_OPTIONAL, "eventTypeId"],
    dataSet: "optional",
    service: "N-EVENT-REPORT"
  },
  NGetRq: {
    name: "N-GET-RQ",
    commandField: CommandField.N_GET_RQ,
    required: N_REQUESTED,
    optional: ["attributeIdentifierList"],
    dataSet: "never",
    service: "N-GET"
  },
  NGetRsp: {
    name: "N-GET-RSP",
    commandField: CommandField.N_GET_RSP,
    required: RSP_REQUIRED,
    optional: N_RSP_OPTIONAL,
    dataSet: "optional",
    service: "N-GET"
  },
  NSetRq: {
    name: "N-SET-RQ",
    commandField: CommandField.N_SET_RQ,
    required: N_REQUESTED,
    optional: [],
    dataSet: "always",
    service: "N-SET"
  },
  NSetRsp: {
    name: "N-SET-RSP",
    commandField: CommandField.N_SET_RSP,
    required: RSP_REQUIRED,
    optional: N_RSP_OPTIONAL,
    dataSet: "optional",
    service: "N-SET"
  },
  NActionRq: {
    name: "N-ACTION-RQ",
    commandField: CommandField.N_ACTION_RQ,
    required: [...N_REQUESTED, "actionTypeId"],
    optional: [],
    dataSet: "optional",
    service: "N-ACTION"
  },
  NActionRsp: {
    name: "N-ACTION-RSP",
    commandField: CommandField.N_ACTION_RSP,
    required: RSP_REQUIRED,
    optional: [...N_RSP_OPTIONAL, "actionTypeId"],
    dataSet: "optional",
    service: "N-ACTION"
  },
  NCreateRq: {
    name: "N-CREATE-RQ",
    commandField: CommandField.N_CREATE_RQ,
    required: ["messageId", "affectedSopClassUid"],
    optional: ["affectedSopInstanceUid"],
    dataSet: "optional",
    service: "N-CREATE"
  },
  NCreateRsp: {
    name: "N-CREATE-RSP",
    commandField: CommandField.N_CREATE_RSP,
    required: RSP_REQUIRED,
    optional: N_RSP_OPTIONAL,
    dataSet: "optional",
    service: "N-CREATE"
  },
  NDeleteRq: {
    name: "N-DELETE-RQ",
    commandField: CommandField.N_DELETE_RQ,
    required: N_REQUESTED,
    optional: [],
    dataSet: "never",
    service: "N-DELETE"
  },
  NDeleteRsp: {
    name: "N-DELETE-RSP",
    commandField: CommandField.N_DELETE_RSP,
    required: RSP_REQUIRED,
    optional: N_RSP_OPTIONAL,
    dataSet: "never",
    service: "N-DELETE"
  }
}

const BY_COMMAND_FIELD: ReadonlyMap<number, MessageTag> = new Map(
  (Object.keys(SPECS) as Array<MessageTag>).map((tag) => [SPECS[tag].commandField, tag])
)

/** The standard's name of a message (`C-STORE-RQ`). */
export const commandName = (msg: Pick<Message, "_tag">): string => SPECS[msg._tag].name

/** The standard's name for a CommandField value, or `0xNNNN` when it is no DIMSE message. */
export const commandFieldName = (commandField: number): string => {
  const tag = BY_COMMAND_FIELD.get(commandField)
  return tag === undefined ? Status.format(commandField) : SPECS[tag].name
}

/** The service of a message, for `Status.describe` (C-CANCEL-RQ counts as C-FIND). */
export const serviceOf = (msg: Pick<Message, "_tag">): Status.Service => SPECS[msg._tag].service

/** True when a data set (or identifier) follows the message's command set. */
export const hasDataSet = (msg: Message): boolean => {
  const { dataSet } = SPECS[msg._tag]
  if (dataSet !== "optional") return dataSet === "always"
  return "hasIdentifier" in msg ? msg.hasIdentifier : "hasDataSet" in msg && msg.hasDataSet
}

/** The command set of a message, with CommandField and CommandDataSetType filled in. */
export const toCommandSet = (msg: Message): CS.CommandSet => {
  const spec = SPECS[msg._tag]
  const fields = msg as unknown as Readonly<Record<string, unknown>>
  const out: Record<string, unknown> = {
    commandField: spec.commandField,
    commandDataSetType: hasDataSet(msg) ? CS.DATA_SET_PRESENT : CS.NO_DATA_SET
  }
  for (const field of [...spec.required, ...spec.optional]) {
    if (fields[field] !== undefined) out[field] = fields[field]
  }
  return out as CS.CommandSet
}

/**
 * Encodes a message's command set (Implicit VR Little Endian). The common messages (C-STORE, C-ECHO) are written in
 * one pass, to the same bytes.
 */
export const encode = (msg: Message): Result.Result<Uint8Array, CS.CommandSetError> => {
  const common = CommonCommands.encode(msg)
  if (common !== undefined) return Result.succeed(common)
  // An empty string is written as no element: a required one given empty would go out missing (the fast path above
  // takes no empty value).
  const fields = msg as unknown as Readonly<Record<string, unknown>>
  for (const field of SPECS[msg._tag].required) {
    if (fields[field] === "") {
      return Result.fail(new CS.CommandSetError({ offset: -1, rule: `${CS.elementOf(field).keyword} is required` }))
    }
  }
  return CS.encode(toCommandSet(msg))
}

/**
 * `encode`'s one-pass path alone: the command set of a common message (C-STORE, C-ECHO and their responses, with
 * values the generic encoder writes as they are), byte for byte what `encode` gives; `undefined` for any other, which
 * `encode` then takes. For a sender's hot path: no `Result` made per message.
 */
export const encodeCommon: (msg: Message) => Uint8Array | undefined = CommonCommands.encode

/** The message a command set carries, checked against PS3.7 section 9.3. */
export const fromCommandSet = (cs: CS.CommandSet): Result.Result<Message, DimseError> => {
  if (cs.commandField === undefined) {
    return Result.fail(
      new DimseError({ reason: "MissingField", command: "?", field: "CommandField", detail: "no CommandField" })
    )
  }
  const tag = BY_COMMAND_FIELD.get(cs.commandField)
  if (tag === undefined) {
    const command = Status.format(cs.commandField)
    const detail = `CommandField ${command} is not a DIMSE message`
    return Result.fail(new DimseError({ reason: "UnknownCommand", command, field: "CommandField", detail }))
  }
  const spec = SPECS[tag]
  const fail = (reason: DimseError["reason"], field: CS.Field, detail: string) =>
    Result.fail(new DimseError({ reason, command: spec.name, field: CS.elementOf(field).keyword, detail }))
  const fields = cs as Readonly<Record<string, unknown>>
  const out: Record<string, unknown> = { _tag: tag }

  for (const field of spec.required) {
    if (fields[field] === undefined) return fail("MissingField", field, `${CS.elementOf(field).keyword} is required`)
    out[field] = fields[field]
  }
  for (const def of CS.ELEMENTS) {
    const field = def.field
    if (fields[field] === undefined || spec.required.includes(field)) continue
    if (spec.optional.includes(field)) out[field] = fields[field]
    else if (field !== "commandField" && field !== "commandDataSetType") {
      return fail("ForbiddenField", field, `${def.keyword} is not allowed`)
    }
  }

  if (cs.commandDataSetType === undefined) {
    return fail("MissingField", "commandDataSetType", "CommandDataSetType is required")
  }
  const withData = CS.announcesDataSet(cs)
  if (spec.dataSet === "always" && !withData) {
    return fail("MissingField", "commandDataSetType", "CommandDataSetType is 0x0101 but a data set must follow")
  }
  if (spec.dataSet === "never" && withData) {
    return fail("ForbiddenField", "commandDataSetType", "CommandDataSetType announces a data set, none may follow")
  }
  if (tag === "CFindRsp" && withData && cs.status === Status.SUCCESS) {
    return fail("ForbiddenField", "commandDataSetType", "a Success C-FIND-RSP carries no identifier")
  }
  if (spec.dataSet === "optional") out[tag.startsWith("N") ? "hasDataSet" : "hasIdentifier"] = withData

  // Values are checked as this message's own Schema checks them (lengths of UIDs, AE titles...), by hand; only a
  // message that fails a check goes through the Schema, which says what is wrong with it.
  if (passesSchemaChecks(tag, out)) return Result.succeed(out as unknown as Message)
  const decoded = MEMBER_DECODERS[tag](out)
  if (Result.isFailure(decoded)) {
    const detail = `invalid value: ${decoded.failure.message}`
    return Result.fail(new DimseError({ reason: "InvalidValue", command: spec.name, field: undefined, detail }))
  }
  return Result.succeed(decoded.success)
}

/**
 * Decodes a command set's bytes to the message it carries. The common messages (C-STORE, C-ECHO) are read in one
 * pass, to the same message.
 */
export const decode = (bytes: Uint8Array): Result.Result<Message, CS.CommandSetError | DimseError> => {
  const common = CommonCommands.decode(bytes)
  return common !== undefined ? Result.succeed(common.message) : Result.flatMap(CS.decode(bytes), fromCommandSet)
}

const SOP_CLASS_NAMES: ReadonlyMap<string, string> = new Map([
  ["1.2.840.10008.1.1", "Verification"],
  ["1.2.840.10008.1.20.1", "Storage Commitment Push Model"],
  ["1.2.840.10008.3.1.2.3.3", "Modality Performed Procedure Step"],
  ["1.2.840.10008.3.1.2.3.4", "Modality Performed Procedure Step Retrieve"],
  ["1.2.840.10008.3.1.2.3.5", "Modality Performed Procedure Step Notification"],
  ["1.2.840.10008.5.1.1.1", "Basic Film Session"],
  ["1.2.840.10008.5.1.1.2", "Basic Film Box"],
  ["1.2.840.10008.5.1.1.4", "Basic Grayscale Image Box"],
  ["1.2.840.10008.5.1.1.9", "Basic Grayscale Print Management Meta"],
  ["1.2.840.10008.5.1.1.16", "Printer"],
  ["1.2.840.10008.5.1.4.1.1.1", "CR Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.1.1", "Digital X-Ray Image Storage - For Presentation"],
  ["1.2.840.10008.5.1.4.1.1.1.1.1", "Digital X-Ray Image Storage - For Processing"],
  ["1.2.840.10008.5.1.4.1.1.1.2", "Digital Mammography X-Ray Image Storage - For Presentation"],
  ["1.2.840.10008.5.1.4.1.1.2", "CT Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.2.1", "Enhanced CT Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.3.1", "Ultrasound Multi-frame Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.4", "MR Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.4.1", "Enhanced MR Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.6.1", "Ultrasound Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.7", "Secondary Capture Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.11.1", "Grayscale Softcopy Presentation State Storage"],
  ["1.2.840.10008.5.1.4.1.1.12.1", "X-Ray Angiographic Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.20", "Nuclear Medicine Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.66", "Raw Data Storage"],
  ["1.2.840.10008.5.1.4.1.1.77.1.4", "VL Photographic Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.88.11", "Basic Text SR Storage"],
  ["1.2.840.10008.5.1.4.1.1.88.22", "Enhanced SR Storage"],
  ["1.2.840.10008.5.1.4.1.1.88.33", "Comprehensive SR Storage"],
  ["1.2.840.10008.5.1.4.1.1.104.1", "Encapsulated PDF Storage"],
  ["1.2.840.10008.5.1.4.1.1.128", "PET Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.481.1", "RT Image Storage"],
  ["1.2.840.10008.5.1.4.1.1.481.2", "RT Dose Storage"],
  ["1.2.840.10008.5.1.4.1.1.481.3", "RT Structure Set Storage"],
  ["1.2.840.10008.5.1.4.1.1.481.5", "RT Plan Storage"],
  ["1.2.840.10008.5.1.4.1.2.1.1", "Patient Root Q/R FIND"],
  ["1.2.840.10008.5.1.4.1.2.1.2", "Patient Root Q/R MOVE"],
  ["1.2.840.10008.5.1.4.1.2.1.3", "Patient Root Q/R GET"],
  ["1.2.840.10008.5.1.4.1.2.2.1", "Study Root Q/R FIND"],
  ["1.2.840.10008.5.1.4.1.2.2.2", "Study Root Q/R MOVE"],
  ["1.2.840.10008.5.1.4.1.2.2.3", "Study Root Q/R GET"],
  ["1.2.840.10008.5.1.4.1.2.3.1", "Patient/Study Only Q/R FIND"],
  ["1.2.840.10008.5.1.4.1.2.3.2", "Patient/Study Only Q/R MOVE"],
  ["1.2.840.10008.5.1.4.1.2.3.3", "Patient/Study Only Q/R GET"],
  ["1.2.840.10008.5.1.4.1.2.4.2", "Composite Instance Root Retrieve MOVE"],
  ["1.2.840.10008.5.1.4.1.2.4.3", "Composite Instance Root Retrieve GET"],
  ["1.2.840.10008.5.1.4.1.2.5.3", "Composite Instance Retrieve Without Bulk Data GET"],
  ["1.2.840.10008.5.1.4.31", "Modality Worklist FIND"]
])

/** A short name for a common SOP Class UID (PS3.6 Annex A), or undefined. */
export const sopClassName = (uid: string): string | undefined => SOP_CLASS_NAMES.get(uid)

const sopClass = (uid: string | undefined): string | undefined =>
  uid === undefined ? undefined : (SOP_CLASS_NAMES.get(uid) ?? uid)

/** A one-line summary for logs, e.g. `C-STORE-RQ id=3 CT Image Storage 1.2.3.4 prio=MEDIUM dataset`. */
export const summarize = (msg: Message): string => {
  const parts: Array<string | undefined> = [commandName(msg)]
  const fields = msg as unknown as Readonly<Record<string, unknown>>
  const field = <A>(name: CS.Field) => fields[name] as A | undefined

  parts.push(`id=${field<number>("messageId") ?? field<number>("messageIdBeingRespondedTo")}`)
  const status = field<number>("status")
  if (status !== undefined) parts.push(`status=${Status.format(status)} ${Status.describe(status, serviceOf(msg))}`)
  parts.push(sopClass(field<string>("affectedSopClassUid")), field<string>("affectedSopInstanceUid"))
  parts.push(sopClass(field<string>("requestedSopClassUid")), field<string>("requestedSopInstanceUid"))
  const eventType = field<number>("eventTypeId")
  if (eventType !== undefined) parts.push(`event=${eventType}`)
  const actionType = field<number>("actionTypeId")
  if (actionType !== undefined) parts.push(`action=${actionType}`)
  const attributes = field<ReadonlyArray<number>>("attributeIdentifierList")
  if (attributes !== undefined) parts.push(`attributes=${attributes.map(CS.formatTag).join(",")}`)

  const destination = field<string>("moveDestination")
  if (destination !== undefined) parts.push(`dest=${destination}`)
  const priority = field<Priority>("priority")
  if (priority !== undefined) parts.push(`prio=${PRIORITY_NAMES[priority]}`)
  const originator = field<string>("moveOriginatorApplicationEntityTitle")
  if (originator !== undefined) parts.push(`move-originator=${originator}/${field<number>("moveOriginatorMessageId")}`)

  const counts = (["Remaining", "Completed", "Failed", "Warning"] as const).flatMap((k) => {
    const n = field<number>(`numberOf${k}Suboperations`)
    return n === undefined ? [] : [`${k.toLowerCase()}=${n}`]
  })
  parts.push(...counts)

  const offending = field<ReadonlyArray<number>>("offendingElement")
  if (offending !== undefined) parts.push(`offending=${offending.map(CS.formatTag).join(",")}`)
  const errorId = field<number>("errorId")
  if (errorId !== undefined) parts.push(`error-id=${errorId}`)
  const comment = field<string>("errorComment")
  if (comment !== undefined) parts.push(`comment=${JSON.stringify(comment)}`)

  if (hasDataSet(msg)) parts.push(msg._tag.startsWith("C") && msg._tag !== "CStoreRq" ? "identifier" : "dataset")
  return parts.filter((p) => p !== undefined).join(" ")
}
