/**
 * DIMSE command sets (PS3.7 section 6.3 and Annex E; value encoding from PS3.5 sections 6.2 and 7.1.2).
 *
 * A command set is the group 0000 elements of a DIMSE message, always in Implicit VR Little Endian:
 * per element a 2-byte group, a 2-byte element number, a 4-byte value length, then the value. The
 * encoder always writes CommandGroupLength (0000,0000) first, computed over the elements that follow,
 * and writes the others in ascending tag order, in one allocation of the exact size. UIDs are padded
 * to even length with NUL, AE and LO strings with a space; the decoder strips that padding.
 *
 * Tolerances on receipt: a zero-length value counts as absent; the value of CommandGroupLength is
 * not checked against the bytes (peers get it wrong, and nothing depends on it); elements out of
 * order are accepted; retired and unknown group 0000 elements are kept as raw bytes; elements of
 * other groups after the group 0000 ones, which DCMTK-based peers append as a response's status
 * detail (Orthanc 1.10's final C-GET-RSP carries its Failed SOP Instance UID List there), are kept
 * apart as their bytes (`appended`). Refused: an element outside group 0000 first or followed by a
 * group 0000 one, an undefined length, a value length beyond the buffer (no allocation is ever made
 * from a length field), a fixed-size value of the wrong size, a duplicate tag.
 *
 * Not covered: which elements a given message needs (see `Dimse`), and N-service messages beyond
 * the element definitions.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"

/** A command set that cannot be decoded or encoded. `offset` is -1 for encode errors. */
export class CommandSetError extends Data.TaggedError("CommandSetError")<{
  readonly offset: number
  readonly rule: string
}> {
  override get message(): string {
    return this.offset < 0 ? `command set: ${this.rule}` : `command set at byte ${this.offset}: ${this.rule}`
  }
}

/** A group 0000 element this module does not interpret (retired or unknown), kept as its value bytes. */
export interface RawElement {
  readonly tag: number
  readonly value: Uint8Array
}

/** The decoded elements of a command set; field names are the PS3.7 Annex E keywords in camelCase. */
export interface CommandSet {
  /** (0000,0002) UI */
  readonly affectedSopClassUid?: string
  /** (0000,0003) UI */
  readonly requestedSopClassUid?: string
  /** (0000,0100) US */
  readonly commandField?: number
  /** (0000,0110) US */
  readonly messageId?: number
  /** (0000,0120) US */
  readonly messageIdBeingRespondedTo?: number
  /** (0000,0600) AE */
  readonly moveDestination?: string
  /** (0000,0700) US: 0 MEDIUM, 1 HIGH, 2 LOW */
  readonly priority?: number
  /** (0000,0800) US: 0x0101 means no data set follows, anything else that one does */
  readonly commandDataSetType?: number
  /** (0000,0900) US */
  readonly status?: number
  /** (0000,0901) AT, each tag as `group << 16 | element` */
  readonly offendingElement?: ReadonlyArray<number>
  /** (0000,0902) LO */
  readonly errorComment?: string
  /** (0000,0903) US */
  readonly errorId?: number
  /** (0000,1000) UI */
  readonly affectedSopInstanceUid?: string
  /** (0000,1001) UI */
  readonly requestedSopInstanceUid?: string
  /** (0000,1002) US */
  readonly eventTypeId?: number
  /** (0000,1005) AT */
  readonly attributeIdentifierList?: ReadonlyArray<number>
  /** (0000,1008) US */
  readonly actionTypeId?: number
  /** (0000,1020) US */
  readonly numberOfRemainingSuboperations?: number
  /** (0000,1021) US */
  readonly numberOfCompletedSuboperations?: number
  /** (0000,1022) US */
  readonly numberOfFailedSuboperations?: number
  /** (0000,1023) US */
  readonly numberOfWarningSuboperations?: number
  /** (0000,1030) AE */
  readonly moveOriginatorApplicationEntityTitle?: string
  /** (0000,1031) US */
  readonly moveOriginatorMessageId?: number
  /** Retired or unknown group 0000 elements, in the order received. */
  readonly unknown?: ReadonlyArray<RawElement>
  /**
   * Elements of other groups a peer put after the group 0000 ones (a DCMTK-based peer's status detail), as received:
   * Implicit VR Little Endian, each element whole. Never written by `encode`.
   */
  readonly appended?: Uint8Array
}

/** The interpreted fields of a command set. */
export type Field = Exclude<keyof CommandSet, "unknown">

/** The value representations that occur in command sets. */
export type Vr = "UL" | "US" | "UI" | "AE" | "LO" | "AT"

/** One element of PS3.7 Table E.1-1. */
export interface ElementDef {
  readonly tag: number
  readonly keyword: string
  readonly field: Field
  readonly vr: Vr
}

/** CommandDataSetType (0000,0800) value meaning that no data set follows. */
export const NO_DATA_SET = 0x0101

/** The CommandDataSetType this encoder writes when a data set follows (any value but 0x0101 means that). */
export const DATA_SET_PRESENT = 0x0001

/** Tag of CommandGroupLength (0000,0000), always written first. */
export const COMMAND_GROUP_LENGTH = 0x00000000

/** The elements this module interprets (PS3.7 Table E.1-1), in tag order. */
export const ELEMENTS: ReadonlyArray<ElementDef> = [
  { tag: 0x0002, keyword: "AffectedSOPClassUID", field: "affectedSopClassUid", vr: "UI" },
  { tag: 0x0003, keyword: "RequestedSOPClassUID", field: "requestedSopClassUid", vr: "UI" },
  { tag: 0x0100, keyword: "CommandField", field: "commandField", vr: "US" },
  { tag: 0x0110, keyword: "MessageID", field: "messageId", vr: "US" },
  { tag: 0x0120, keyword: "MessageIDBeingRespondedTo", field: "messageIdBeingRespondedTo", vr: "US" },
  { tag: 0x0600, keyword: "MoveDestination", field: "moveDestination", vr: "AE" },
  { tag: 0x0700, keyword: "Priority", field: "priority", vr: "US" },
  { tag: 0x0800, keyword: "CommandDataSetType", field: "commandDataSetType", vr: "US" },
  { tag: 0x0900, keyword: "Status", field: "status", vr: "US" },
  { tag: 0x0901, keyword: "OffendingElement", field: "offendingElement", vr: "AT" },
  { tag: 0x0902, keyword: "ErrorComment", field: "errorComment", vr: "LO" },
  { tag: 0x0903, keyword: "ErrorID", field: "errorId", vr: "US" },
  { tag: 0x1000, keyword: "AffectedSOPInstanceUID", field: "affectedSopInstanceUid", vr: "UI" },
  { tag: 0x1001, keyword: "RequestedSOPInstanceUID", field: "requestedSopInstanceUid", vr: "UI" },
  { tag: 0x1002, keyword: "EventTypeID", field: "eventTypeId", vr: "US" },
  { tag: 0x1005, keyword: "AttributeIdentifierList", field: "attributeIdentifierList", vr: "AT" },
  { tag: 0x1008, keyword: "ActionTypeID", field: "actionTypeId", vr: "US" },
  { tag: 0x1020, keyword: "NumberOfRemainingSuboperations", field: "numberOfRemainingSuboperations", vr: "US" },
  { tag: 0x1021, keyword: "NumberOfCompletedSuboperations", field: "numberOfCompletedSuboperations", vr: "US" },
  { tag: 0x1022, keyword: "NumberOfFailedSuboperations", field: "numberOfFailedSuboperations", vr: "US" },
  { tag: 0x1023, keyword: "NumberOfWarningSuboperations", field: "numberOfWarningSuboperations", vr: "US" },
  {
    tag: 0x1030,
    keyword: "MoveOriginatorApplicationEntityTitle",
    field: "moveOriginatorApplicationEntityTitle",
    vr: "AE"
  },
  { tag: 0x1031, keyword: "MoveOriginatorMessageID", field: "moveOriginatorMessageId", vr: "US" }
]

const BY_TAG: ReadonlyMap<number, ElementDef> = new Map(ELEMENTS.map((d) => [d.tag, d]))

const BY_FIELD: ReadonlyMap<Field, ElementDef> = new Map(ELEMENTS.map((d) => [d.field, d]))

/** The definition of a field (its tag, keyword and VR). */
export const elementOf = (field: Field): ElementDef => BY_FIELD.get(field)!

/** The PS3.7 keyword of a group 0000 tag, or `(0000,xxxx)`. */
export const keywordOf = (tag: number): string =>
  tag === COMMAND_GROUP_LENGTH ? "CommandGroupLength" : (BY_TAG.get(tag)?.keyword ?? formatTag(tag))

/** A tag as `(gggg,eeee)` in upper-case hex. */
export const formatTag = (tag: number): string => {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, "0")
  return `(${hex(tag >>> 16)},${hex(tag & 0xffff)})`
}

/** True when the command set announces a data set (CommandDataSetType present and not 0x0101). */
export const announcesDataSet = (cs: CommandSet): boolean =>
  cs.commandDataSetType !== undefined && cs.commandDataSetType !== NO_DATA_SET

const MAX_STRING: Record<"UI" | "AE" | "LO", number> = { UI: 64, AE: 16, LO: 64 }

type Value = number | string | ReadonlyArray<number>

interface Entry {
  readonly tag: number
  readonly vr: Vr | "raw"
  readonly value: Value | Uint8Array
  readonly length: number
}

const isUint = (v: unknown, max: number): v is number =>
  typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max

// Checks one interpreted value and returns its entry (undefined when absent), or the rule it breaks.
const entryOf = (def: ElementDef, value: unknown): Entry | undefined | string => {
  if (value === undefined) return undefined
  switch (def.vr) {
    case "US":
      return isUint(value, 0xffff) ? { tag: def.tag, vr: "US", value, length: 2 } : "not an integer in 0..65535"
    case "UL":
      return isUint(value, 0xffffffff) ? { tag: def.tag, vr: "UL", value, length: 4 } : "not an integer in 0..2^32-1"
    case "AT": {
      if (!Array.isArray(value) || !value.every((t) => isUint(t, 0xffffffff))) return "not a list of 32-bit tags"
      return value.length === 0 ? undefined : { tag: def.tag, vr: "AT", value, length: value.length * 4 }
    }
    default: {
      if (typeof value !== "string") return "not a string"
      if (value.length === 0) return undefined
      if (value.length > MAX_STRING[def.vr]) return `${value.length} characters exceed ${MAX_STRING[def.vr]}`
      for (let i = 0; i < value.length; i++) {
        const c = value.charCodeAt(i)
        if (c < 0x20 || c > 0x7e || c === 0x5c) return `character 0x${c.toString(16)} at ${i} is not allowed`
      }
      return { tag: def.tag, vr: def.vr, value, length: value.length + (value.length & 1) }
    }
  }
}

const encodeError = (rule: string) => Result.fail(new CommandSetError({ offset: -1, rule }))

/** Encodes a command set, CommandGroupLength first, in one allocation of the exact size. */
export const encode = (cs: CommandSet): Result.Result<Uint8Array, CommandSetError> => {
  const entries: Array<Entry> = []
  const fields = cs as Readonly<Record<string, unknown>>
  for (const def of ELEMENTS) {
    const entry = entryOf(def, fields[def.field])
    if (typeof entry === "string") return encodeError(`${def.keyword}: ${entry}`)
    if (entry !== undefined) entries.push(entry)
  }
  for (const raw of cs.unknown ?? []) {
    if (!isUint(raw.tag, 0xffff) || raw.tag === COMMAND_GROUP_LENGTH) {
      return encodeError(`unknown element tag ${raw.tag} is not a group 0000 element after (0000,0000)`)
    }
    if (BY_TAG.has(raw.tag) || entries.some((e) => e.tag === raw.tag)) {
      return encodeError(`unknown element ${formatTag(raw.tag)} duplicates another element`)
    }
    entries.push({ tag: raw.tag, vr: "raw", value: raw.value, length: raw.value.length + (raw.value.length & 1) })
  }
  entries.sort((a, b) => a.tag - b.tag)

  let groupLength = 0
  for (const e of entries) groupLength += 8 + e.length
  const out = new Uint8Array(12 + groupLength)
  const view = new DataView(out.buffer)
  view.setUint32(4, 4, true)
  view.setUint32(8, groupLength, true)

  let at = 12
  for (const e of entries) {
    view.setUint16(at + 2, e.tag, true)
    view.setUint32(at + 4, e.length, true)
    at += 8
    writeValue(out, view, at, e)
    at += e.length
  }
  return Result.succeed(out)
}

const writeValue = (out: Uint8Array, view: DataView, at: number, e: Entry): void => {
  switch (e.vr) {
    case "US":
      view.setUint16(at, e.value as number, true)
      return
    case "UL":
      view.setUint32(at, e.value as number, true)
      return
    case "AT":
      ;(e.value as ReadonlyArray<number>).forEach((tag, i) => {
        view.setUint16(at + i * 4, tag >>> 16, true)
        view.setUint16(at + i * 4 + 2, tag & 0xffff, true)
      })
      return
    case "raw":
      out.set(e.value as Uint8Array, at)
      return
    default: {
      const s = e.value as string
      for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i)
      if (s.length & 1) out[at + s.length] = e.vr === "UI" ? 0x00 : 0x20
    }
  }
}

// Strips leading spaces and trailing spaces/NULs: the padding of UI, AE and LO values.
const readText = (bytes: Uint8Array, start: number, end: number): string => {
  while (end > start && (bytes[end - 1] === 0x00 || bytes[end - 1] === 0x20)) end--
  while (start < end && bytes[start] === 0x20) start++
  let s = ""
  for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]!)
  return s
}

interface Broken {
  readonly broken: string
}

// Reads one interpreted value, or returns the rule its length breaks.
const readValue = (def: ElementDef, bytes: Uint8Array, view: DataView, at: number, length: number): Value | Broken => {
  const wrongLength = (expected: string): Broken => ({
    broken: `${def.keyword} (${def.vr}) has length ${length}, not ${expected}`
  })
  switch (def.vr) {
    case "US":
      return length === 2 ? view.getUint16(at, true) : wrongLength("2")
    case "UL":
      return length === 4 ? view.getUint32(at, true) : wrongLength("4")
    case "AT": {
      if (length % 4 !== 0) return wrongLength("a multiple of 4")
      const tags: Array<number> = []
      for (let i = at; i < at + length; i += 4) {
        tags.push(((view.getUint16(i, true) << 16) | view.getUint16(i + 2, true)) >>> 0)
      }
      return tags
    }
    default:
      return readText(bytes, at, at + length)
  }
}

// The end of the elements from `at` on, all outside group 0000 and of defined lengths within the bytes, or why not.
const appendedEnd = (view: DataView, at: number): number | { readonly at: number; readonly rule: string } => {
  while (at < view.byteLength) {
    if (view.byteLength - at < 8) return { at, rule: `element header needs 8 bytes, ${view.byteLength - at} left` }
    const tag = ((view.getUint16(at, true) << 16) | view.getUint16(at + 2, true)) >>> 0
    const length = view.getUint32(at + 4, true)
    if (tag >>> 16 === 0x0000) return { at, rule: `command element ${formatTag(tag)} after elements of other groups` }
    if (length === 0xffffffff) return { at, rule: `element ${formatTag(tag)} has undefined length` }
    if (length > view.byteLength - at - 8) {
      return {
        at,
        rule: `element ${formatTag(tag)} length ${length} exceeds the ${view.byteLength - at - 8} bytes left`
      }
    }
    at += 8 + length
  }
  return at
}

/** Decodes a command set in Implicit VR Little Endian; `bytes` must hold exactly the command set. */
export const decode = (bytes: Uint8Array): Result.Result<CommandSet, CommandSetError> => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const fail = (offset: number, rule: string) => Result.fail(new CommandSetError({ offset, rule }))
  const out: Record<string, Value> = {}
  const unknown: Array<RawElement> = []
  const seen = new Set<number>()
  let at = 0

  while (at < bytes.length) {
    if (bytes.length - at < 8) return fail(at, `element header needs 8 bytes, ${bytes.length - at} left`)
    const group = view.getUint16(at, true)
    const element = view.getUint16(at + 2, true)
    const length = view.getUint32(at + 4, true)
    const tag = ((group << 16) | element) >>> 0
    if (group !== 0x0000) {
      if (seen.size === 0) return fail(at, `element ${formatTag(tag)} is not in command group 0000`)
      const end = appendedEnd(view, at)
      if (typeof end === "object") return fail(end.at, end.rule)
      const appended = bytes.slice(at, end)
      return Result.succeed(
        unknown.length > 0 ? { ...(out as CommandSet), unknown, appended } : { ...(out as CommandSet), appended }
      )
    }
    if (length === 0xffffffff) return fail(at, `element ${formatTag(tag)} has undefined length`)
    if (length > bytes.length - at - 8) {
      return fail(at, `element ${formatTag(tag)} length ${length} exceeds the ${bytes.length - at - 8} bytes left`)
    }
    if (seen.has(tag)) return fail(at, `element ${formatTag(tag)} occurs twice`)
    seen.add(tag)

    const valueAt = at + 8
    const def = BY_TAG.get(tag)
    if (tag === COMMAND_GROUP_LENGTH) {
      if (length !== 4) return fail(at, `CommandGroupLength (UL) has length ${length}, not 4`)
    } else if (def === undefined) {
      unknown.push({ tag, value: bytes.slice(valueAt, valueAt + length) })
    } else if (length > 0) {
      const value = readValue(def, bytes, view, valueAt, length)
      if (typeof value === "object" && "broken" in value) return fail(at, value.broken)
      if (value !== "") out[def.field] = value
    }
    at = valueAt + length
  }

  if (unknown.length > 0) return Result.succeed({ ...(out as CommandSet), unknown })
  return Result.succeed(out as CommandSet)
}
