/**
 * Data sets as DIMSE messages carry them: a bare data set (no preamble, no File Meta Information) encoded and
 * decoded in the four transfer syntaxes that are not encapsulated, on top of dcmjs, plus a bounds-checked scan of
 * the element structure that reads no values.
 *
 * Covers PS3.5 section 7 (data elements, 7.1 VR and length encoding, 7.5 sequences and items with defined and
 * undefined lengths), 6.2.2 (UN: an undefined-length UN, or a UN whose tag the dictionary says is SQ, holds an
 * Implicit VR Little Endian sequence), section 10 and Annex A (A.1 Implicit VR Little Endian, A.2 Explicit VR Little
 * Endian, A.3 Explicit VR Big Endian, A.5 Deflated Explicit VR Little Endian), and the character repertoires of
 * section 6.1 as `CharacterSet` decodes them: every single-valued Specific Character Set dcmjs maps
 * (ISO_IR 100 ... 166, ISO_IR 192, GB18030, GBK) and the ISO 2022 terms and code extensions (Japanese IR 13, 14,
 * 87, 159; Korean IR 149; Chinese IR 58; the ISO 8859 G1 sets).
 *
 * Decoding splits the work: the bounds-checked scan finds every element, sequence and item (an undefined length is
 * accepted only where 7.1 allows it: SQ, UN, encapsulated Pixel Data, and in Implicit VR a tag the dictionary says
 * is SQ or does not know); dcmjs reads only the values of the elements that are no sequence, one data set or item
 * at a time, so it never hunts for item delimiters in value bytes. Empty items are kept.
 *
 * The value form is dcmjs's naturalized data set, with these choices:
 * - keys are dcmjs keywords (`PatientName`); an element the dictionary lacks (private, repeating groups) is keyed by
 *   its 8 hex digit tag (`"00091001"`); `_vrMap` maps a key to its VR when that differs from the dictionary's (always
 *   present for hex keys after decoding). `_meta` is ignored. Implicit VR carries no VRs: an element the dictionary
 *   lacks decodes there as UN (an `ArrayBuffer`), a private creator as LO.
 * - one value is unwrapped, several are an array; numbers for IS, DS and the binary numeric VRs; a sequence is an
 *   array of data sets; OB/OW/UN... values are `ArrayBuffer`s.
 * - Person Name is a string `Alphabetic=Ideographic=Phonetic` (trailing empty groups dropped), as it is written in
 *   the element. Encoding also accepts dcmjs's `{ Alphabetic, Ideographic, Phonetic }` objects.
 * - a zero-length element decodes as `""` (a sequence as `[]`), whatever its VR; encoding writes `""`, `null`, `[]`
 *   and `[""]` as zero-length elements (C-FIND return keys). `undefined` means absent. Padding is removed on
 *   decoding (DA/TM/DT range values included) and added on encoding.
 * - text: decoding gives Unicode strings. Without (0008,0005) the standard says ISO 646, but peers send Latin-1
 *   undeclared, so non-ASCII bytes are read as windows-1252. After decoding, a declared (0008,0005) reads
 *   `"ISO_IR 192"` (dcmjs's convention: the strings are Unicode now, and that is how they would be re-encoded).
 *   Encoding always writes text as UTF-8: a data set with non-ASCII text and no (0008,0005) gets `"ISO_IR 192"`
 *   added; one that declares another character set is refused rather than mislabelled.
 *
 * Leaves out: encapsulated (compressed) transfer syntaxes for encode/decode, which only pixel data needs; writing
 * any character set but UTF-8; a character set `CharacterSet` cannot decode (an unknown defined term, an escape
 * sequence to a set it does not know) fails `decode` with a `CharacterSet` error, and is read as Latin-1 with a
 * warning by `decodeWithWarnings`; a zero-length (0008,0005) inside an item keeps the enclosing character set.
 *
 * @since 0.1.0
 */
import { createRequire } from "node:module"
import { deflateRawSync, inflateRawSync } from "node:zlib"
import { Text, Uids } from "@netdicom/wire"
import * as Data from "effect/Data"
import * as Result from "effect/Result"
import * as CharacterSet from "./CharacterSet.ts"

// ---------------------------------------------------------------------------------------------------------------
// Public types

/** A dcmjs naturalized data set: keywords (or 8 hex digit tags) to values; see the module header for the form. */
export type Naturalized = { readonly [keyword: string]: unknown }

/** What went wrong with a data set. */
export type DataSetErrorKind = "UnsupportedTransferSyntax" | "Truncated" | "Malformed" | "CharacterSet" | "InvalidValue"

/** A data set that could not be encoded or decoded in a transfer syntax. */
export class DataSetError extends Data.TaggedError("DataSetError")<{
  readonly transferSyntaxUid: string
  readonly kind: DataSetErrorKind
  readonly reason: string
  /** Byte offset in the data set where the problem is (scan and decode). */
  readonly offset?: number
  /** For `Truncated`: how many bytes from the start of the data set the element in question needs. */
  readonly needed?: number
  readonly cause?: unknown
}> {
  override get message(): string {
    const at = this.offset === undefined ? "" : ` at offset ${this.offset}`
    return `data set (${Uids.describeUid(this.transferSyntaxUid)}): ${this.kind}${at}: ${this.reason}`
  }
}

/** A data element's header as found by scanning (PS3.5 7.1). */
export interface ElementHeader {
  /** (gggg,eeee) as one number: `group * 0x10000 + element`. */
  readonly tag: number
  /** The VR as written; undefined in Implicit VR (and for item tags). */
  readonly vr: string | undefined
  /** Where the element starts. */
  readonly offset: number
  /** Where its value starts. */
  readonly valueOffset: number
  /** The value length; undefined for an undefined length (0xFFFFFFFF). */
  readonly length: number | undefined
  /** Where the next element starts (after the delimiter of an undefined-length value). */
  readonly end: number
}

/** Options of `decode`. */
export interface DecodeOptions {
  /** Largest inflated size accepted for Deflated Explicit VR Little Endian; default 64 MiB. */
  readonly maxInflatedLength?: number
}

// ---------------------------------------------------------------------------------------------------------------
// Transfer syntaxes

const TS = Uids.TransferSyntax

/** The transfer syntaxes `encode` and `decode` handle. */
export const SUPPORTED_TRANSFER_SYNTAXES: ReadonlyArray<string> = [
  TS.ImplicitVRLittleEndian,
  TS.ExplicitVRLittleEndian,
  TS.ExplicitVRBigEndian,
  TS.DeflatedExplicitVRLittleEndian
]

/** Whether `encode` and `decode` handle a transfer syntax. */
export const isSupported = (transferSyntaxUid: string): boolean =>
  SUPPORTED_TRANSFER_SYNTAXES.includes(unpad(transferSyntaxUid))

interface Layout {
  readonly explicitVr: boolean
  readonly littleEndian: boolean
}

const IMPLICIT_LE: Layout = { explicitVr: false, littleEndian: true }
const EXPLICIT_LE: Layout = { explicitVr: true, littleEndian: true }

const unpad = (uid: string): string => Text.trimEnd(uid, "\0 ")

/** The element layout of a transfer syntax's bytes as given (deflated ones must be inflated first). */
const layoutOf = (transferSyntaxUid: string): Layout | undefined => {
  const info = Uids.transferSyntaxInfo(transferSyntaxUid)
  if (info === undefined || info.deflated) return undefined
  return { explicitVr: info.explicitVr, littleEndian: info.littleEndian }
}

const DEFAULT_MAX_INFLATED = 64 * 1024 * 1024

// ---------------------------------------------------------------------------------------------------------------
// Scanning the element structure (PS3.5 7.1, 7.5)

const UNDEFINED_LENGTH = 0xffffffff
const ITEM = 0xfffee000
const ITEM_DELIMITATION = 0xfffee00d
const SEQUENCE_DELIMITATION = 0xfffee0dd
const PIXEL_DATA = 0x7fe00010
const SPECIFIC_CHARACTER_SET = 0x00080005
const MAX_DEPTH = 32

// prettier-ignore
const VRS = new Set([
  "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD", "OF", "OL", "OV", "OW", "PN",
  "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV"
])

/** Whether two characters are one of the VRs of PS3.5 Table 6.2-1. */
export const isKnownVr = (vr: string): boolean => VRS.has(vr)

/** VRs with a reserved 2 bytes and a 32-bit length in explicit VR (PS3.5 Table 7.1-1). */
const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"])

/** A scanned element with the items of a sequence (each item a list of elements) and their layout. */
interface Node extends ElementHeader {
  readonly items: ReadonlyArray<ReadonlyArray<Node>> | undefined
  /** How the items are encoded: the enclosing layout, or Implicit VR LE inside UN (PS3.5 6.2.2). */
  readonly itemLayout: Layout
}

/**
 * Thrown inside the scanner only (`readHeader`, `readElements`, `readItems`, `skipFragments`); caught by the `try`
 * in `scan` and in `decodeWith`, the scanner's only callers, and returned as a `DataSetError`.
 */
class ScanStop {
  readonly kind: "Truncated" | "Malformed"
  readonly reason: string
  readonly offset: number
  readonly needed: number | undefined
  constructor(kind: "Truncated" | "Malformed", reason: string, offset: number, needed?: number) {
    this.kind = kind
    this.reason = reason
    this.offset = offset
    this.needed = needed
  }
}

/** Formats a tag as (gggg,eeee). */
export const tagString = (tag: number): string => {
  const hex = tag.toString(16).toUpperCase().padStart(8, "0")
  return `(${hex.slice(0, 4)},${hex.slice(4)})`
}

const hex8 = (tag: number): string => tag.toString(16).toUpperCase().padStart(8, "0")

const u16 = (b: Uint8Array, at: number, le: boolean): number =>
  le ? b[at]! | (b[at + 1]! << 8) : (b[at]! << 8) | b[at + 1]!

const u32 = (b: Uint8Array, at: number, le: boolean): number =>
  (le
    ? b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)
    : (b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0

interface Header {
  readonly tag: number
  readonly vr: string | undefined
  readonly length: number
  readonly valueOffset: number
}

/** Reads one element header at `at`; `limit` is where the enclosing value ends. Throws `ScanStop`. */
const readHeader = (b: Uint8Array, at: number, limit: number, layout: Layout): Header => {
  const short = (needed: number, what: string): ScanStop =>
    limit === b.length
      ? new ScanStop("Truncated", `the bytes end inside ${what}`, at, needed)
      : new ScanStop("Malformed", `${what} overruns the enclosing item`, at)
  if (at + 8 > limit) throw short(at + 8, "an element header")
  const le = layout.littleEndian
  const tag = ((u16(b, at, le) << 16) | u16(b, at + 2, le)) >>> 0
  if (tag >>> 16 === 0xfffe || !layout.explicitVr) {
    return { tag, vr: undefined, length: u32(b, at + 4, le), valueOffset: at + 8 }
  }
  const vr = String.fromCharCode(b[at + 4]!, b[at + 5]!)
  if (!VRS.has(vr)) {
    const bytes = `${b[at + 4]!.toString(16).padStart(2, "0")} ${b[at + 5]!.toString(16).padStart(2, "0")}`
    throw new ScanStop("Malformed", `${tagString(tag)} has no valid VR (bytes ${bytes})`, at)
  }
  if (!LONG_VRS.has(vr)) return { tag, vr, length: u16(b, at + 6, le), valueOffset: at + 8 }
  if (at + 12 > limit) throw short(at + 12, "an element header")
  return { tag, vr, length: u32(b, at + 8, le), valueOffset: at + 12 }
}

interface ScanContext {
  readonly bytes: Uint8Array
  /** Stop after this top-level tag (or before the first greater one). */
  readonly until: number | undefined
  /** Walk into defined-length sequences too (decode); a scan only needs to cross undefined lengths. */
  readonly deep: boolean
  /** The dictionary VR of a tag, to find sequences in Implicit VR and UN (PS3.5 6.2.2). */
  readonly dictionaryVr: (tag: number) => string | undefined
}

/**
 * The layout of the items a defined-length element holds, or undefined when it is no sequence: SQ; in Implicit VR
 * a tag the dictionary says is SQ; UN of such a tag, whose value is Implicit VR Little Endian (PS3.5 6.2.2).
 */
const definedItemLayout = (ctx: ScanContext, h: Header, layout: Layout): Layout | undefined => {
  if (!layout.explicitVr) return ctx.dictionaryVr(h.tag) === "SQ" ? layout : undefined
  if (h.vr === "SQ") return layout
  return h.vr === "UN" && ctx.dictionaryVr(h.tag) === "SQ" ? IMPLICIT_LE : undefined
}

/**
 * The layout of the items an undefined-length element (not pixel data) holds, or undefined when its VR may not have
 * an undefined length (PS3.5 7.1): SQ; UN, an Implicit VR Little Endian sequence (6.2.2); in Implicit VR a tag the
 * dictionary says is SQ, or one it does not know (its VR is UN then).
 */
const undefinedItemLayout = (ctx: ScanContext, h: Header, layout: Layout): Layout | undefined => {
  if (h.vr === "SQ") return layout
  if (h.vr === "UN") return IMPLICIT_LE
  if (h.vr !== undefined) return undefined
  const known = ctx.dictionaryVr(h.tag)
  return known === undefined || known === "SQ" || known === "UN" ? layout : undefined
}

/**
 * Reads the elements of a data set or item from `start` to `limit`, or up to an item delimiter when `delimited`.
 * Throws `ScanStop` (caught in `scan` and `decodeWith`).
 */
const readElements = (
  ctx: ScanContext,
  start: number,
  limit: number,
  layout: Layout,
  depth: number,
  delimited: boolean
): { readonly nodes: ReadonlyArray<Node>; readonly next: number } => {
  const b = ctx.bytes
  const nodes: Array<Node> = []
  let at = start
  while (true) {
    if (at === limit && !delimited) return { nodes, next: at }
    const h = readHeader(b, at, limit, layout)
    if (h.tag === ITEM_DELIMITATION) {
      if (!delimited) throw new ScanStop("Malformed", "an item delimiter outside an undefined-length item", at)
      return { nodes, next: h.valueOffset }
    }
    if (h.tag === ITEM || h.tag === SEQUENCE_DELIMITATION) {
      throw new ScanStop("Malformed", `${tagString(h.tag)} where a data element was expected`, at)
    }
    if (depth === 0 && ctx.until !== undefined && h.tag > ctx.until) return { nodes, next: at }
    let items: ReadonlyArray<ReadonlyArray<Node>> | undefined
    let itemLayout = layout
    let end: number
    if (h.length === UNDEFINED_LENGTH) {
      const inner = undefinedItemLayout(ctx, h, layout)
      if (h.tag === PIXEL_DATA && (h.vr === undefined || h.vr === "OB" || h.vr === "OW")) {
        end = skipFragments(b, h.valueOffset, limit, layout)
      } else if (inner !== undefined) {
        const seq = readItems(ctx, h.valueOffset, limit, undefined, inner, depth + 1)
        items = seq.items
        itemLayout = inner
        end = seq.next
      } else {
        const vr = h.vr ?? `(${ctx.dictionaryVr(h.tag) ?? "?"} in the dictionary)`
        throw new ScanStop("Malformed", `${tagString(h.tag)} ${vr} may not have an undefined length`, at)
      }
    } else {
      end = h.valueOffset + h.length
      if (end > limit) {
        throw limit === b.length
          ? new ScanStop("Truncated", `the value of ${tagString(h.tag)} goes past the end`, at, end)
          : new ScanStop("Malformed", `the value of ${tagString(h.tag)} overruns the enclosing item`, at)
      }
      const inner = ctx.deep && h.length > 0 ? definedItemLayout(ctx, h, layout) : undefined
      if (inner !== undefined) {
        items = readItems(ctx, h.valueOffset, end, end, inner, depth + 1).items
        itemLayout = inner
      }
    }
    const length = nullable(h.length)
    nodes.push({ tag: h.tag, vr: h.vr, offset: at, valueOffset: h.valueOffset, length, end, items, itemLayout })
    at = end
    if (depth === 0 && ctx.until !== undefined && h.tag === ctx.until) return { nodes, next: at }
  }
}

const nullable = (length: number): number | undefined => (length === UNDEFINED_LENGTH ? undefined : length)

/**
 * Reads the items of a sequence: up to `definedEnd`, or up to a sequence delimiter when it is undefined. Throws
 * `ScanStop`.
 */
const readItems = (
  ctx: ScanContext,
  start: number,
  limit: number,
  definedEnd: number | undefined,
  layout: Layout,
  depth: number
): { readonly items: ReadonlyArray<ReadonlyArray<Node>>; readonly next: number } => {
  if (depth > MAX_DEPTH) throw new ScanStop("Malformed", `sequences nested deeper than ${MAX_DEPTH}`, start)
  const b = ctx.bytes
  const items: Array<ReadonlyArray<Node>> = []
  let at = start
  while (true) {
    if (definedEnd !== undefined && at === definedEnd) return { items, next: at }
    const h = readHeader(b, at, limit, layout)
    if (h.tag === SEQUENCE_DELIMITATION) {
      if (definedEnd !== undefined)
        throw new ScanStop("Malformed", "a sequence delimiter in a defined-length sequence", at)
      return { items, next: h.valueOffset }
    }
    if (h.tag !== ITEM) throw new ScanStop("Malformed", `${tagString(h.tag)} where an item was expected`, at)
    if (h.length === UNDEFINED_LENGTH) {
      const item = readElements(ctx, h.valueOffset, limit, layout, depth, true)
      items.push(item.nodes)
      at = item.next
    } else {
      const itemEnd = h.valueOffset + h.length
      if (itemEnd > limit) {
        throw limit === b.length
          ? new ScanStop("Truncated", "an item goes past the end", at, itemEnd)
          : new ScanStop("Malformed", "an item overruns its sequence", at)
      }
      items.push(readElements(ctx, h.valueOffset, itemEnd, layout, depth, false).nodes)
      at = itemEnd
    }
  }
}

/** Skips the fragments of encapsulated pixel data (PS3.5 A.4) up to the sequence delimiter. Throws `ScanStop`. */
const skipFragments = (b: Uint8Array, start: number, limit: number, layout: Layout): number => {
  let at = start
  while (true) {
    const h = readHeader(b, at, limit, layout)
    if (h.tag === SEQUENCE_DELIMITATION) return h.valueOffset
    if (h.tag !== ITEM || h.length === UNDEFINED_LENGTH) {
      throw new ScanStop("Malformed", `${tagString(h.tag)} in encapsulated pixel data`, at)
    }
    at = h.valueOffset + h.length
    if (at > limit) {
      throw limit === b.length
        ? new ScanStop("Truncated", "a pixel data fragment goes past the end", h.valueOffset, at)
        : new ScanStop("Malformed", "a pixel data fragment overruns its item", h.valueOffset)
    }
  }
}

const stopToError = (transferSyntaxUid: string, stop: ScanStop): DataSetError =>
  new DataSetError({
    transferSyntaxUid,
    kind: stop.kind,
    reason: stop.reason,
    offset: stop.offset,
    ...(stop.needed === undefined ? {} : { needed: stop.needed })
  })

/** A scanner stop as a `DataSetError`; anything else the scanner threw (a bug) as `Malformed`, never rethrown. */
const unexpected = (transferSyntaxUid: string, cause: unknown): DataSetError =>
  cause instanceof ScanStop
    ? stopToError(transferSyntaxUid, cause)
    : new DataSetError({ transferSyntaxUid, kind: "Malformed", reason: `unexpected error: ${String(cause)}`, cause })

const dictionaryVr = (tag: number): string | undefined => dictionaryEntry(tag)?.vr

/**
 * Scans the top-level elements of a bare data set without decoding values, crossing sequences and encapsulated
 * pixel data, with every length checked against the bytes. With `until`, stops after that tag (or before the first
 * greater one), so a prefix of the data set is enough. Any known transfer syntax but a deflated one (inflate first).
 */
export const scan = (
  bytes: Uint8Array,
  transferSyntaxUid: string,
  options?: { readonly until?: number }
): Result.Result<ReadonlyArray<ElementHeader>, DataSetError> => {
  const layout = layoutOf(transferSyntaxUid)
  if (layout === undefined) {
    return Result.fail(
      new DataSetError({
        transferSyntaxUid,
        kind: "UnsupportedTransferSyntax",
        reason: Uids.transferSyntaxInfo(transferSyntaxUid)?.deflated
          ? "a deflated data set must be inflated before scanning"
          : "unknown transfer syntax"
      })
    )
  }
  const ctx: ScanContext = { bytes, until: options?.until, deep: false, dictionaryVr }
  try {
    return Result.succeed(readElements(ctx, 0, bytes.length, layout, 0, false).nodes.map(headerOnly))
  } catch (cause) {
    return Result.fail(unexpected(transferSyntaxUid, cause))
  }
}

const headerOnly = (n: Node): ElementHeader => ({
  tag: n.tag,
  vr: n.vr,
  offset: n.offset,
  valueOffset: n.valueOffset,
  length: n.length,
  end: n.end
})

// ---------------------------------------------------------------------------------------------------------------
// dcmjs, typed (it ships no declarations; loaded with createRequire so no ambient module is declared)

interface DictElement {
  vr: string
  Value?: Array<unknown> | null
  _rawValue?: unknown
}

type Dict = Record<string, DictElement>

interface DictionaryEntry {
  readonly tag: string
  readonly vr: string
  readonly name: string
}

interface TextDecoderLike {
  decode(input: DataView): string
}

interface DcmjsReadStream {
  decoder: TextDecoderLike
  offset: number
  more(length: number): DcmjsReadStream
  setDecoder(decoder: TextDecoderLike): void
}

interface DcmjsWriteStream {
  getBuffer(): ArrayBuffer
}

interface DcmjsVr {
  readonly maxLength?: number | null
  readonly rangeMatchingMaxLength?: number
  isBinary(): boolean
}

interface Dcmjs {
  readonly data: {
    readonly DicomMessage: {
      _read(stream: DcmjsReadStream, syntax: string, options: { readonly ignoreErrors: boolean }): Dict
      write(
        dict: Dict,
        stream: DcmjsWriteStream,
        syntax: string,
        options: { readonly allowInvalidVRLength: boolean }
      ): number
    }
    readonly DicomMetaDictionary: {
      denaturalizeDataset(dataset: object, nameMap: Readonly<Record<string, DictionaryEntry | undefined>>): Dict
      readonly nameMap: Readonly<Record<string, DictionaryEntry | undefined>>
      readonly dictionary: Readonly<Record<string, DictionaryEntry | undefined>>
    }
    readonly ReadBufferStream: new (buffer: ArrayBuffer) => DcmjsReadStream
    readonly WriteBufferStream: new (defaultSize: number, littleEndian: boolean) => DcmjsWriteStream
    readonly ValueRepresentation: { createByTypeString(vr: string): DcmjsVr }
  }
}

let loaded: Dcmjs | undefined
const dcmjs = (): Dcmjs => (loaded ??= createRequire(import.meta.url)("dcmjs") as Dcmjs)
const dictionary = () => dcmjs().data.DicomMetaDictionary.dictionary

/** Tags looked up already (hits and misses), up to `ENTRY_CACHE_LIMIT` of them, then forgotten all at once. */
const entryCache = new Map<number, DictionaryEntry | null>()
const ENTRY_CACHE_LIMIT = 65536

/**
 * Whether dcmjs's dictionary may know a tag: it has no odd group but within its repeating-group ranges (50xx, 60xx
 * and 7Fxx, which it spans odd groups and all); every private tag is outside (checked against dcmjs in the tests).
 */
const mayBeInDictionary = (tag: number): boolean => {
  const group = tag >>> 16
  if (group % 2 === 0) return true
  return (
    (group >= 0x5000 && group <= 0x50ff) || (group >= 0x6000 && group <= 0x60ff) || (group >= 0x7f00 && group <= 0x7fff)
  )
}

/**
 * dcmjs's dictionary entry of a tag. dcmjs looks a tag it does not know (every private one) up in its packed table
 * and then in a list of repeating-group ranges, at each look-up; decoding and encoding look each element up, so
 * private tags are not asked and the other answers are kept.
 */
const dictionaryEntry = (tag: number): DictionaryEntry | undefined => {
  if (!mayBeInDictionary(tag)) return undefined
  const cached = entryCache.get(tag)
  if (cached !== undefined) return cached ?? undefined
  const entry = dictionary()[tagString(tag)]
  if (entryCache.size >= ENTRY_CACHE_LIMIT) entryCache.clear()
  entryCache.set(tag, entry ?? null)
  return entry
}

// ---------------------------------------------------------------------------------------------------------------
// Character sets (PS3.5 6.1, PS3.3 C.12.1.1.2)

const LATIN1 = new TextDecoder("latin1")

/** How a level's text is decoded, and what decoding could not honour. */
interface Charsets {
  /** Fall back to Latin-1 where a character set cannot be decoded, instead of failing. */
  readonly lenient: boolean
  readonly warnings: Array<string>
  /** Warnings beyond `MAX_WARNINGS`, counted only. */
  dropped: number
}

/** At most this many warnings per data set (a hostile one could have a bad value in every item), then a count. */
const MAX_WARNINGS = 100

const warn = (charsets: Charsets, warning: string): void => {
  if (charsets.warnings.length < MAX_WARNINGS) charsets.warnings.push(warning)
  else charsets.dropped++
}

/** A dcmjs text decoder over a `CharacterSet.Decode`: a value it cannot decode is read as Latin-1 and noted. */
const textDecoderOf = (decode: CharacterSet.Decode, failed: Array<string>, charset: string): TextDecoderLike => ({
  decode: (view) => {
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength)
    const text = decode(bytes)
    if (text !== undefined) return text
    const latin1 = LATIN1.decode(bytes)
    failed.push(`${CharacterSet.quote(latin1)} has an escape sequence ${CharacterSet.quote(charset)} does not name`)
    return latin1
  }
})

const charsetValues = (bytes: Uint8Array, node: Node): ReadonlyArray<string> =>
  Text.trimEnd(LATIN1.decode(bytes.subarray(node.valueOffset, node.end)), "\0")
    .split("\\")
    .map((v) => v.trim())

/**
 * A dcmjs read stream that decodes text with `decoder` only, its sub-streams included: dcmjs's own switch on
 * (0008,0005) (which refuses multi-valued character sets) is turned off, the character set being ours to choose.
 */
const readStream = (buffer: ArrayBuffer, decoder: TextDecoderLike): DcmjsReadStream => {
  const wire = (stream: DcmjsReadStream): DcmjsReadStream => {
    const more = stream.more.bind(stream)
    stream.setDecoder(decoder)
    stream.setDecoder = () => {}
    stream.more = (length) => wire(more(length))
    return stream
  }
  return wire(new (dcmjs().data.ReadBufferStream)(buffer))
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

const fail = (transferSyntaxUid: string, kind: DataSetErrorKind, reason: string, cause?: unknown) =>
  Result.fail(new DataSetError({ transferSyntaxUid, kind, reason, ...(cause === undefined ? {} : { cause }) }))

const unsupported = (transferSyntaxUid: string) =>
  fail(
    transferSyntaxUid,
    "UnsupportedTransferSyntax",
    Uids.transferSyntaxInfo(transferSyntaxUid)?.encapsulated
      ? "encapsulated transfer syntaxes are for pixel data; these data sets use an uncompressed one"
      : "not one of Implicit VR LE, Explicit VR LE, Explicit VR BE, Deflated Explicit VR LE"
  )

/** The dcmjs syntax string and the layout of the (inflated) bytes. */
const syntaxOf = (transferSyntaxUid: string): { readonly syntax: string; readonly layout: Layout } | undefined => {
  switch (unpad(transferSyntaxUid)) {
    case TS.ImplicitVRLittleEndian:
      return { syntax: TS.ImplicitVRLittleEndian, layout: IMPLICIT_LE }
    case TS.ExplicitVRLittleEndian:
    case TS.DeflatedExplicitVRLittleEndian:
      return { syntax: TS.ExplicitVRLittleEndian, layout: EXPLICIT_LE }
    case TS.ExplicitVRBigEndian:
      return { syntax: TS.ExplicitVRBigEndian, layout: { explicitVr: true, littleEndian: false } }
    default:
      return undefined
  }
}

/** A dcmjs Person Name value as `Alphabetic=Ideographic=Phonetic`. */
const personName = (value: unknown): unknown => {
  if (typeof value !== "object" || value === null) return value
  const pn = value as { readonly Alphabetic?: unknown; readonly Ideographic?: unknown; readonly Phonetic?: unknown }
  return Text.trimEnd(
    [pn.Alphabetic, pn.Ideographic, pn.Phonetic].map((g) => (typeof g === "string" ? g : "")).join("="),
    "="
  )
}

/** VRs whose trailing padding dcmjs leaves on some values (DA, DT and TM ranges) and which never mean it. */
const ASCII_PADDED_VRS = new Set(["AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI"])

const unpadded = (vr: string, value: unknown): unknown =>
  typeof value === "string" && ASCII_PADDED_VRS.has(vr) ? Text.trimEnd(value, " \0") : value

/**
 * Why decoding a scanned data set stopped: thrown by `decodeLevel` only, caught by the `try` in `decodeWith` (its
 * only caller) and returned as a `DataSetError`.
 */
class DecodeStop {
  readonly kind: DataSetErrorKind
  readonly reason: string
  readonly cause: unknown
  constructor(kind: DataSetErrorKind, reason: string, cause?: unknown) {
    this.kind = kind
    this.reason = reason
    this.cause = cause
  }
}

const isCharset = (node: Node): boolean =>
  node.tag === SPECIFIC_CHARACTER_SET && node.items === undefined && node.length !== undefined && node.length > 0

const dcmjsSyntax = (layout: Layout): string =>
  !layout.explicitVr
    ? TS.ImplicitVRLittleEndian
    : layout.littleEndian
      ? TS.ExplicitVRLittleEndian
      : TS.ExplicitVRBigEndian

/**
 * The VR dcmjs would give a zero-length element that is no sequence, when that is plain: the VR written (UN only for
 * a tag the dictionary lacks, which dcmjs would otherwise read as the dictionary's VR); in Implicit VR the
 * dictionary's, else LO for a private creator and UN. Undefined otherwise (sequences, the dictionary's "ox"-like VRs,
 * OL/OV/SV, which dcmjs does not know): dcmjs reads those. Such an element decodes as `""` with no dcmjs call, which
 * costs several microseconds per element (C-FIND return keys: thousands of them in a hostile identifier).
 */
const emptyVr = (node: Node, entry: DictionaryEntry | undefined, layout: Layout): string | undefined => {
  if (node.items !== undefined || node.length !== 0) return undefined
  if (layout.explicitVr) {
    const vr = node.vr
    if (vr === "UN") return entry === undefined ? "UN" : undefined
    return vr !== undefined && EMPTY_AS_GIVEN.has(vr) ? vr : undefined
  }
  if (entry !== undefined) return EMPTY_AS_GIVEN.has(entry.vr) ? entry.vr : undefined
  const group = node.tag >>> 16
  const element = node.tag & 0xffff
  return group % 2 === 1 && element < 0x100 && element > 0 ? "LO" : "UN"
}

/**
 * Decodes the elements of a data set or of one item, as scanned: dcmjs reads the values of the elements that are no
 * sequence (copied out side by side, so it never looks for item boundaries itself), and each item of a sequence is
 * decoded the same way, in the layout the scan found for it. Empty items stay, as `{}`. The (0008,0005) of the
 * level, if it has a value, picks the text decoder for it and the items inside; otherwise `inherited` applies.
 * Throws `DecodeStop` (caught in `decodeWith`).
 */
const decodeLevel = (
  bytes: Uint8Array,
  nodes: ReadonlyArray<Node>,
  layout: Layout,
  inherited: TextDecoderLike,
  charsets: Charsets
): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  if (nodes.length === 0) return out
  const charset = nodes.find(isCharset)
  let decoder = inherited
  const failed: Array<string> = []
  if (charset !== undefined) {
    const values = charsetValues(bytes, charset)
    const chosen = CharacterSet.decoderFor(values)
    if (Result.isSuccess(chosen)) decoder = textDecoderOf(chosen.success, failed, values.join("\\"))
    else if (!charsets.lenient) throw new DecodeStop("CharacterSet", chosen.failure)
    else {
      warn(charsets, `${chosen.failure}: text read as ISO-IR 6 / Latin-1`)
      decoder = LATIN1
    }
  }

  // the plain elements side by side (but those of no value, read here); every (0008,0005) value blanked so dcmjs does
  // not judge it
  const entries = nodes.map((n) => dictionaryEntry(n.tag))
  const emptyVrs = nodes.map((n, i) => emptyVr(n, entries[i], layout))
  const plain = nodes.filter((n, i) => n.items === undefined && emptyVrs[i] === undefined)
  const flat = new Uint8Array(plain.reduce((n, node) => n + node.end - node.offset, 0))
  let at = 0
  for (const node of plain) {
    flat.set(bytes.subarray(node.offset, node.end), at)
    if (isCharset(node)) flat.fill(0x20, at + node.valueOffset - node.offset, at + node.end - node.offset)
    at += node.end - node.offset
  }
  let dict: Dict = {}
  if (flat.length > 0) {
    try {
      dict = dcmjs().data.DicomMessage._read(readStream(flat.buffer, decoder), dcmjsSyntax(layout), {
        ignoreErrors: false
      })
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause)
      throw new DecodeStop("Malformed", `dcmjs cannot read the data set: ${reason}`, cause)
    }
  }
  if (failed.length > 0) {
    if (!charsets.lenient) throw new DecodeStop("CharacterSet", failed[0]!)
    for (const f of failed) warn(charsets, `${f}: read as Latin-1`)
  }

  const vrMap: Record<string, string> = {}
  let vrMapped = false
  const mapVr = (name: string, vr: string): void => {
    vrMap[name] = vr
    vrMapped = true
  }
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i]!
    const tag = hex8(node.tag)
    const entry = entries[i]
    const name = entry?.name ?? tag
    const empty = emptyVrs[i]
    if (empty !== undefined) {
      if (entry === undefined || entry.vr !== empty) mapVr(name, empty)
      out[name] = ""
      continue
    }
    if (node.items !== undefined) {
      if (entry?.vr !== "SQ") mapVr(name, "SQ")
      out[name] = node.items.map((item) => decodeLevel(bytes, item, node.itemLayout, decoder, charsets))
      continue
    }
    const element = dict[tag]
    if (element === undefined) throw new DecodeStop("Malformed", `dcmjs did not read ${tagString(node.tag)}`)
    if (entry === undefined || entry.vr !== element.vr) mapVr(name, element.vr)
    const values = element.Value ?? []
    if (element.vr === "SQ") {
      // the scan takes every sequence with items; dcmjs only gets empty ones
      if (values.length > 0) throw new DecodeStop("Malformed", `dcmjs found items in ${tagString(node.tag)}`)
      out[name] = []
    } else if (node.length === 0 || values.length === 0) {
      out[name] = ""
    } else {
      const plainValues = element.vr === "PN" ? values.map(personName) : values.map((v) => unpadded(element.vr, v))
      out[name] = plainValues.length === 1 ? plainValues[0] : plainValues
    }
  }
  if (vrMapped) out["_vrMap"] = vrMap
  return out
}

/** A decoded data set and what of its character sets could not be honoured. */
export interface Decoded {
  readonly dataset: Naturalized
  /** One line per character set or value read as Latin-1 instead (empty when every text was decoded). */
  readonly warnings: ReadonlyArray<string>
}

const decodeWith = (
  bytes: Uint8Array,
  transferSyntaxUid: string,
  options: DecodeOptions | undefined,
  lenient: boolean
): Result.Result<Decoded, DataSetError> => {
  try {
    const how = syntaxOf(transferSyntaxUid)
    if (how === undefined) return unsupported(transferSyntaxUid)
    let plain = bytes
    if (unpad(transferSyntaxUid) === TS.DeflatedExplicitVRLittleEndian) {
      const maxOutputLength = options?.maxInflatedLength ?? DEFAULT_MAX_INFLATED
      try {
        plain = inflateRawSync(bytes, { maxOutputLength }) // a Buffer is a Uint8Array: no copy
      } catch (cause) {
        return fail(transferSyntaxUid, "Malformed", `cannot inflate the data set: ${String(cause)}`, cause)
      }
    }
    const ctx: ScanContext = { bytes: plain, until: undefined, deep: true, dictionaryVr }
    const nodes = readElements(ctx, 0, plain.length, how.layout, 0, false).nodes
    const charsets: Charsets = { lenient, warnings: [], dropped: 0 }
    const dataset = decodeLevel(plain, nodes, how.layout, LATIN1, charsets)
    if (charsets.dropped > 0) charsets.warnings.push(`${charsets.dropped} more warnings like these`)
    return Result.succeed({ dataset, warnings: charsets.warnings })
  } catch (cause) {
    if (cause instanceof DecodeStop) return fail(transferSyntaxUid, cause.kind, cause.reason, cause.cause)
    return Result.fail(unexpected(transferSyntaxUid, cause))
  }
}

/**
 * Decodes a bare data set (no preamble, no File Meta) in one of the supported transfer syntaxes. A Specific
 * Character Set that cannot be decoded (an unknown term, an escape sequence to an unknown set) is a `CharacterSet`
 * error; `decodeWithWarnings` reads such text as Latin-1 instead.
 */
export const decode = (
  bytes: Uint8Array,
  transferSyntaxUid: string,
  options?: DecodeOptions
): Result.Result<Naturalized, DataSetError> =>
  Result.map(decodeWith(bytes, transferSyntaxUid, options, false), (d) => d.dataset)

/**
 * Decodes like `decode`, but text in a character set that cannot be decoded is read as ISO-IR 6 / Latin-1 (bytes
 * to the code points of the same value, escape sequences kept) and listed in `warnings`, as DCMTK and pynetdicom
 * keep such a C-FIND match. Malformed and truncated data sets still fail.
 */
export const decodeWithWarnings = (
  bytes: Uint8Array,
  transferSyntaxUid: string,
  options?: DecodeOptions
): Result.Result<Decoded, DataSetError> => decodeWith(bytes, transferSyntaxUid, options, true)

// ---------------------------------------------------------------------------------------------------------------
// Encoding

/** VRs whose text may use a Specific Character Set (PS3.5 6.1.2.3); other strings must be ASCII. */
const EXTENDED_TEXT_VRS = new Set(["SH", "LO", "UC", "ST", "LT", "UT", "PN"])
const HEX_TAG = /^[0-9A-Fa-f]{8}$/
const NON_ASCII = /[\u0080-\uffff]/

/** Why `prepare` refuses a data set: thrown by `prepare` only, caught by the first `try` in `encode`. */
class Refused {
  readonly kind: DataSetErrorKind
  readonly reason: string
  constructor(kind: DataSetErrorKind, reason: string) {
    this.kind = kind
    this.reason = reason
  }
}

const isEmpty = (v: unknown): boolean =>
  v === null ||
  v === "" ||
  (Array.isArray(v) && (v.length === 0 || (v.length === 1 && (v[0] === "" || v[0] === null || v[0] === undefined))))

const isItem = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof ArrayBuffer) && !ArrayBuffer.isView(v)

const toArrayBuffer = (v: unknown): unknown =>
  ArrayBuffer.isView(v) ? v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) : v

/** The strings in a value, PN groups included. */
const textsOf = (v: unknown): ReadonlyArray<string> => {
  const items: ReadonlyArray<unknown> = Array.isArray(v) ? v : [v]
  const out: Array<string> = []
  for (const item of items) {
    if (typeof item === "string") out.push(item)
    else if (isItem(item)) for (const g of Object.values(item)) if (typeof g === "string") out.push(g)
  }
  return out
}

interface Prepared {
  readonly dataset: Record<string, unknown>
  /** Non-ASCII text in this scope not covered by an item's own character set. */
  readonly needsUtf8: boolean
}

const charsetOf = (v: unknown): string | undefined => {
  if (v === undefined) return undefined
  return textsOf(v)
    .map((s) => s.trim())
    .join("\\")
}

/**
 * Checks and normalizes a naturalized data set for dcmjs: known keys, VRs for hex keys, empties as null, views as
 * ArrayBuffers, ASCII where the VR demands it, lengths dcmjs would otherwise truncate. Throws `Refused` (caught in
 * `encode`).
 */
const prepare = (
  dataset: Naturalized,
  hexEntries: Map<string, DictionaryEntry>,
  path: string,
  empties?: Array<EmptyElement>
): Prepared => {
  const { nameMap } = dcmjs().data.DicomMetaDictionary
  const vrMap: Record<string, unknown> = isItem(dataset["_vrMap"]) ? dataset["_vrMap"] : {}
  const out: Record<string, unknown> = {}
  let needsUtf8 = false
  // keys, not entries: an identifier of thousands of keys is a dictionary-mode object, whose entries cost far more
  for (const key of Object.keys(dataset)) {
    const value = dataset[key]
    if (key === "_vrMap" || key === "_meta" || value === undefined) continue
    let entry = nameMap[key]
    if (entry === undefined && HEX_TAG.test(key)) {
      const known = dictionaryEntry(parseInt(key, 16))
      const vr =
        typeof vrMap[key] === "string"
          ? vrMap[key]
          : (known?.vr ?? (Array.isArray(value) && value.length > 0 && value.every(isItem) ? "SQ" : "UN"))
      if (empties !== undefined && EMPTY_AS_GIVEN.has(vr) && isEmpty(value)) {
        empties.push({ tag: parseInt(key, 16), vr })
        continue
      }
      const tag = key.toUpperCase()
      entry = known ?? { tag: `(${tag.slice(0, 4)},${tag.slice(4)})`, vr, name: key }
      hexEntries.set(key, entry)
    }
    if (entry === undefined) throw new Refused("InvalidValue", `unknown attribute keyword "${path}${key}"`)
    const vr = typeof vrMap[key] === "string" ? vrMap[key] : entry.vr
    if (empties !== undefined && key !== "SpecificCharacterSet" && EMPTY_AS_GIVEN.has(vr) && isEmpty(value)) {
      const tag = plainTag(entry.tag)
      if (tag !== undefined) {
        empties.push({ tag, vr })
        continue
      }
    }
    if (vr === "SQ") {
      if (isEmpty(value)) {
        out[key] = []
        continue
      }
      const items: ReadonlyArray<unknown> = Array.isArray(value) ? value : [value]
      out[key] = items.map((item, i) => {
        if (!isItem(item)) throw new Refused("InvalidValue", `${path}${key}[${i}] is not a data set`)
        const inner = prepare(item as Naturalized, hexEntries, `${path}${key}[${i}].`)
        needsUtf8 ||= inner.needsUtf8
        return inner.dataset
      })
      continue
    }
    if (isEmpty(value)) {
      out[key] = null
      continue
    }
    const texts = textsOf(value)
    if (EXTENDED_TEXT_VRS.has(vr)) {
      needsUtf8 ||= texts.some((t) => NON_ASCII.test(t))
    } else if (texts.some((t) => NON_ASCII.test(t))) {
      throw new Refused("InvalidValue", `${path}${key} (${vr}) must be ASCII`)
    }
    const rep = dcmjs().data.ValueRepresentation.createByTypeString(vr)
    const max = rep.rangeMatchingMaxLength ?? rep.maxLength
    if (!rep.isBinary() && typeof max === "number" && max > 0) {
      const long = texts.flatMap((t) => t.split("\\")).find((t) => t.length > max)
      if (long !== undefined) throw new Refused("InvalidValue", `${path}${key} (${vr}) "${long}" is longer than ${max}`)
    }
    out[key] = Array.isArray(value) ? value.map(toArrayBuffer) : toArrayBuffer(value)
  }
  if (Object.keys(vrMap).length > 0) out["_vrMap"] = vrMap
  const own = charsetOf(out["SpecificCharacterSet"])
  if (own === undefined || !needsUtf8) return { dataset: out, needsUtf8 }
  if (own === "") out["SpecificCharacterSet"] = "ISO_IR 192"
  else if (own !== "ISO_IR 192") {
    throw new Refused(
      "CharacterSet",
      `${path}SpecificCharacterSet is "${own}" but text is written as UTF-8: use "ISO_IR 192" or omit it`
    )
  }
  return { dataset: out, needsUtf8: false }
}

/** `prepare` of a whole data set, with the (0008,0005) that UTF-8 text needs added. Throws `Refused`. */
const prepareTop = (
  dataset: Naturalized,
  hexEntries: Map<string, DictionaryEntry>,
  empties: Array<EmptyElement> | undefined
): Record<string, unknown> => {
  const top = prepare(dataset, hexEntries, "", empties)
  return top.needsUtf8 ? { SpecificCharacterSet: "ISO_IR 192", ...top.dataset } : top.dataset
}

/** Writes a prepared data set with dcmjs. Throws whatever dcmjs throws (caught in `encode`). */
const writeDcmjs = (
  prepared: Record<string, unknown>,
  nameMap: Readonly<Record<string, DictionaryEntry | undefined>>,
  how: { readonly syntax: string; readonly layout: Layout }
): Uint8Array => {
  if (Object.keys(prepared).every((k) => k === "_vrMap")) return new Uint8Array(0)
  const { DicomMessage, DicomMetaDictionary, WriteBufferStream } = dcmjs().data
  const dict = DicomMetaDictionary.denaturalizeDataset(prepared, nameMap)
  const stream = new WriteBufferStream(4096, how.layout.littleEndian)
  DicomMessage.write(dict, stream, how.syntax, { allowInvalidVRLength: false })
  return new Uint8Array(stream.getBuffer())
}

/**
 * A top-level element with no value (a C-FIND return key), written by `mergeEmpties` rather than by dcmjs: dcmjs
 * spends several microseconds on every element it writes (a stream of its own, copies, dictionary look-ups), which an
 * identifier of thousands of return keys pays once per response; a zero-length element is its header only.
 */
interface EmptyElement {
  readonly tag: number
  readonly vr: string
}

/** The VRs dcmjs writes as given (it writes OL, OV and SV as UN; SQ has items): an empty one of these is ours. */
const EMPTY_AS_GIVEN = new Set([...VRS].filter((vr) => !["OL", "OV", "SV", "SQ"].includes(vr)))

const PLAIN_TAG = /^\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)$/

/** A dictionary entry's tag `(gggg,eeee)` as a number; undefined for anything else. */
const plainTag = (tag: string): number | undefined => {
  const plain = PLAIN_TAG.exec(tag)
  return plain === null ? undefined : (parseInt(plain[1]!, 16) * 0x10000 + parseInt(plain[2]!, 16)) >>> 0
}

/**
 * The elements dcmjs wrote with the zero-length `empties` (sorted here) put in among them in ascending tag order, or
 * undefined when two of them, or one of them and one dcmjs wrote, have one tag (two keys naming one tag: dcmjs then
 * writes one of them, so such a data set is left to it alone).
 */
const mergeEmpties = (written: Uint8Array, empties: Array<EmptyElement>, layout: Layout): Uint8Array | undefined => {
  empties.sort((a, b) => a.tag - b.tag)
  for (let i = 1; i < empties.length; i++) if (empties[i]!.tag === empties[i - 1]!.tag) return undefined
  const ctx: ScanContext = { bytes: written, until: undefined, deep: false, dictionaryVr }
  const nodes = readElements(ctx, 0, written.length, layout, 0, false).nodes
  let size = written.length
  for (const e of empties) size += !layout.explicitVr ? 8 : LONG_VRS.has(e.vr) ? 12 : 8
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  const le = layout.littleEndian
  let at = 0
  let n = 0
  for (const e of empties) {
    while (n < nodes.length && nodes[n]!.tag < e.tag) {
      out.set(written.subarray(nodes[n]!.offset, nodes[n]!.end), at)
      at += nodes[n]!.end - nodes[n]!.offset
      n++
    }
    if (n < nodes.length && nodes[n]!.tag === e.tag) return undefined
    view.setUint16(at, e.tag >>> 16, le)
    view.setUint16(at + 2, e.tag & 0xffff, le)
    if (!layout.explicitVr) {
      view.setUint32(at + 4, 0, le)
      at += 8
    } else {
      out[at + 4] = e.vr.charCodeAt(0)
      out[at + 5] = e.vr.charCodeAt(1)
      // the length (and the reserved bytes of a long VR) are zero: `out` is zero-filled
      at += LONG_VRS.has(e.vr) ? 12 : 8
    }
  }
  if (n < nodes.length) out.set(written.subarray(nodes[n]!.offset), at)
  return out
}

/**
 * Encodes a naturalized data set as a bare data set (no preamble, no File Meta) in one of the supported transfer
 * syntaxes: elements in ascending tag order, even lengths with the VR's padding, sequences and items of undefined
 * length, empty values as zero-length elements; deflated as raw deflate of the Explicit VR Little Endian bytes,
 * padded to an even length.
 */
export const encode = (dataset: Naturalized, transferSyntaxUid: string): Result.Result<Uint8Array, DataSetError> => {
  const how = syntaxOf(transferSyntaxUid)
  if (how === undefined) return unsupported(transferSyntaxUid)
  const hexEntries = new Map<string, DictionaryEntry>()
  const empties: Array<EmptyElement> = []
  let prepared: Record<string, unknown>
  try {
    prepared = prepareTop(dataset, hexEntries, empties)
  } catch (cause) {
    if (cause instanceof Refused) return fail(transferSyntaxUid, cause.kind, cause.reason)
    return fail(transferSyntaxUid, "InvalidValue", `cannot read the data set given: ${String(cause)}`, cause)
  }
  let bytes: Uint8Array
  try {
    const { DicomMetaDictionary } = dcmjs().data
    const nameMap = new Proxy(DicomMetaDictionary.nameMap, {
      get: (target, key) => (typeof key === "string" ? (target[key] ?? hexEntries.get(key)) : undefined)
    })
    const merged =
      empties.length === 0 ? undefined : mergeEmpties(writeDcmjs(prepared, nameMap, how), empties, how.layout)
    if (merged !== undefined) bytes = merged
    else if (empties.length === 0) bytes = writeDcmjs(prepared, nameMap, how)
    else bytes = writeDcmjs(prepareTop(dataset, hexEntries, undefined), nameMap, how)
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    return fail(transferSyntaxUid, "InvalidValue", `dcmjs cannot write the data set: ${reason}`, cause)
  }
  if (unpad(transferSyntaxUid) !== TS.DeflatedExplicitVRLittleEndian) return Result.succeed(bytes)
  try {
    const deflated = deflateRawSync(bytes)
    const out = new Uint8Array(deflated.length + (deflated.length % 2))
    out.set(deflated)
    return Result.succeed(out)
  } catch (cause) {
    return fail(transferSyntaxUid, "InvalidValue", `cannot deflate the data set: ${String(cause)}`, cause)
  }
}
