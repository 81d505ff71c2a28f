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
import { Text, Uids } from "@netdicom/wire"
import * as Result from "effect/Result"
import * as CharacterSet from "./CharacterSet.ts"
import { DataSetError, type DataSetErrorKind } from "./DataSetError.ts"
import { zlib } from "./Zlib.ts"
import {
  type EmptyElement,
  EMPTY_AS_GIVEN,
  emptyVr,
  HAND_WRITTEN_UIDS,
  mergeEmpties,
  plainTag,
  uidValueBytes
} from "./DataSetEmpties.ts"
import {
  dictionaryVr,
  EXPLICIT_LE,
  hex8,
  IMPLICIT_LE,
  type Layout,
  type Node,
  readElements,
  type ScanContext,
  SPECIFIC_CHARACTER_SET,
  unexpected
} from "./DataSetScan.ts"
import {
  type DcmjsReadStream,
  type Dict,
  type DictionaryEntry,
  dcmjs,
  dictionaryEntry,
  tagString,
  type TextDecoderLike
} from "./Dcmjs.ts"

export { DataSetError, type DataSetErrorKind } from "./DataSetError.ts"
export { type ElementHeader, isKnownVr, scan } from "./DataSetScan.ts"
export { tagString } from "./Dcmjs.ts"
/**
 * dcmjs's dictionary entry of a tag (group << 16 | element), or undefined: private tags are not asked (dcmjs knows
 * none, and looks each one up through a list of ranges), other answers kept up to 65,536 tags.
 */
export { type DictionaryEntry, dictionaryEntry } from "./Dcmjs.ts"
/**
 * dcmjs, loaded on first use (with the console level `setDcmjsLogLevel` set): the one loader the workspace's packages
 * share, so that the level holds whichever loads it first. Typed `unknown`: dcmjs ships no declarations, and each
 * user casts it to the part it reads.
 */
export { module as dcmjsModule, setLogLevel as setDcmjsLogLevel } from "./Dcmjs.ts"

// ---------------------------------------------------------------------------------------------------------------
// Public types

/** A dcmjs naturalized data set: keywords (or 8 hex digit tags) to values; see the module header for the form. */
export type Naturalized = { readonly [keyword: string]: unknown }

/**
 * An identifier on one line for a Debug log, as findscu's `-k` keys read: `Keyword=value`, a return key (no value) as
 * `Keyword`, several values joined by backslashes, a sequence's items in brackets; past `maxKeys` keys, how many more.
 */
export const summary = (identifier: Naturalized, maxKeys = 40): string => {
  const keys = Object.keys(identifier).filter((k) => !k.startsWith("_"))
  const shown = keys.slice(0, maxKeys).map((k) => {
    const v = identifier[k]
    if (Array.isArray(v) && v.length > 0 && v.every((i) => typeof i === "object" && i !== null && !Array.isArray(i)))
      return `${k}[${v.map((i: Naturalized) => summary(i, maxKeys)).join("; ")}]`
    const text = Array.isArray(v) ? v.map(valueText).join("\\") : valueText(v)
    return text === "" ? k : `${k}=${text}`
  })
  const more = keys.length - shown.length
  return more > 0 ? `${shown.join(" ")} (and ${more} more keys)` : shown.join(" ")
}

const valueText = (v: unknown): string => {
  if (v === undefined || v === null) return ""
  if (typeof v === "string" || typeof v === "number" || typeof v === "bigint" || typeof v === "boolean")
    return String(v)
  if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return `(${v.byteLength} bytes)`
  // a Person Name as its component groups
  if (typeof v === "object" && "Alphabetic" in v) {
    const pn = v as { Alphabetic?: unknown; Ideographic?: unknown; Phonetic?: unknown }
    return [pn.Alphabetic, pn.Ideographic, pn.Phonetic]
      .map((g) => (typeof g === "string" ? g : ""))
      .join("=")
      .replace(/=+$/, "")
  }
  return JSON.stringify(v)
}

/** Options of `decode`. */
export interface DecodeOptions {
  /** Largest inflated size accepted for Deflated Explicit VR Little Endian; default 64 MiB. */
  readonly maxInflatedLength?: number
  /**
   * Most data elements and sequence items read, every level counted (a DIMSE-N data set of 100,000 tiny items costs
   * ~1 s of dcmjs): past it the data set is `Malformed`. Default: no bound.
   */
  readonly maxElements?: number
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

const unpad = (uid: string): string => Text.trimEnd(uid, "\0 ")

const DEFAULT_MAX_INFLATED = 64 * 1024 * 1024

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

const UTF8_STRICT = new TextDecoder("utf-8", { fatal: true })

/**
 * The decoder of text under no declared character set (the default repertoire, ISO-IR 6), reading any byte over 7FH
 * as Latin-1 (see the module's doc) and noting the first value that had one: a peer left out (0008,0005) for text
 * that needs one (DCMTK's wlmscpfs does so by default, for worklist files in UTF-8 as in any other).
 */
const undeclaredDecoder = (): TextDecoderLike & { readonly found: () => string | undefined } => {
  let found: string | undefined
  return {
    decode: (view) => {
      const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength)
      const text = LATIN1.decode(bytes)
      if (found === undefined && bytes.some((b) => b > 0x7f)) {
        let utf8: string | undefined
        try {
          utf8 = UTF8_STRICT.decode(bytes)
        } catch {
          utf8 = undefined
        }
        found =
          `${CharacterSet.quote(Text.trimEnd(text, " \0"))} has bytes over 7FH but no Specific Character Set ` +
          `(0008,0005) declares them: read as Latin-1` +
          (utf8 === undefined
            ? ""
            : ` (as UTF-8, undeclared, it would read ${CharacterSet.quote(Text.trimEnd(utf8, " \0"))})`)
      }
      return text
    },
    found: () => found
  }
}

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

// The characters of a UI value once its padding is off.
const UID_TEXT = /^[0-9.]*$/

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
    } else if (element.vr === "UI") {
      // from the bytes: dcmjs drops every character but digits and dots, so "1.2*" (a wildcard no UID key allows)
      // read as "1.2", a query for another study
      const uids = LATIN1.decode(bytes.subarray(node.valueOffset, node.end))
        .split("\\")
        .map((v) => Text.trimEnd(v, " \0"))
      out[name] = uids.length === 1 ? uids[0] : uids
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
        plain = zlib().inflateRawSync(bytes, { maxOutputLength }) // a Buffer is a Uint8Array: no copy
      } catch (cause) {
        return fail(transferSyntaxUid, "Malformed", `cannot inflate the data set: ${String(cause)}`, cause)
      }
    }
    const ctx: ScanContext = {
      bytes: plain,
      until: undefined,
      deep: true,
      dictionaryVr,
      maxNodes: options?.maxElements
    }
    const nodes = readElements(ctx, 0, plain.length, how.layout, 0, false).nodes
    const charsets: Charsets = { lenient, warnings: [], dropped: 0 }
    // only a lenient decoding has warnings to give: the strict one reads undeclared text as Latin-1 unchecked
    const undeclared = lenient ? undeclaredDecoder() : undefined
    const dataset = decodeLevel(plain, nodes, how.layout, undeclared ?? LATIN1, charsets)
    const found = undeclared?.found()
    if (found !== undefined) warn(charsets, found)
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
 * keep such a C-FIND match; so is (once) text with bytes over 7FH where no (0008,0005) declares a character set,
 * read as Latin-1 by both functions. Malformed and truncated data sets still fail.
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

/** Text VRs of one value, whose backslash is a character, not a delimiter (PS3.5 6.2). */
const SINGLE_VALUE_TEXT_VRS = new Set(["LT", "ST", "UT", "UR"])

/**
 * A text value given as one string of several values (`"CT\\MR"`, one `-k` argument), as the values dcmjs takes:
 * given whole, dcmjs cuts the string to the VR's maximum length, dropping the values past it with only a warning.
 */
const splitValues = (value: unknown): unknown =>
  typeof value === "string"
    ? value.includes("\\")
      ? value.split("\\")
      : value
    : Array.isArray(value) && value.some((v) => typeof v === "string" && v.includes("\\"))
      ? value.flatMap((v: unknown) => (typeof v === "string" ? v.split("\\") : [v]))
      : value
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

// A value as dcmjs gets it: binary as an ArrayBuffer of its own, a Person Name object as a copy (dcmjs marks and
// rewrites the objects it writes, which would change, or fail on, a caller's frozen value).
const toArrayBuffer = (v: unknown): unknown =>
  ArrayBuffer.isView(v)
    ? v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength)
    : typeof v === "object" && v !== null && !(v instanceof ArrayBuffer)
      ? { ...v }
      : v

// The VRs whose value is bytes, not text or numbers (PS3.5 6.2).
const BYTE_VRS: ReadonlySet<string> = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "UN"])

const isBytes = (v: unknown): boolean =>
  v instanceof ArrayBuffer ||
  ArrayBuffer.isView(v) ||
  (Array.isArray(v) && v.every((x) => x instanceof ArrayBuffer || ArrayBuffer.isView(x)))

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

// The integer VRs with a binary value, and their bounds (PS3.5 6.2); IS holds a 32-bit signed integer too.
const INTEGER_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  US: [0, 0xffff],
  SS: [-0x8000, 0x7fff],
  UL: [0, 0xffffffff],
  SL: [-0x80000000, 0x7fffffff],
  IS: [-0x80000000, 0x7fffffff]
}

// The first number of a value that its VR cannot hold as given, or undefined. Numbers, and the text dcmjs reads as a
// number for a binary VR ("70000" as US); text of IS and DS is checked for its length as text (a C-FIND key may be a
// range or a wildcard).
const unwritableNumber = (vr: string, value: unknown): string | undefined => {
  const range = INTEGER_RANGES[vr]
  if (range === undefined && vr !== "DS") return undefined
  const binary = vr !== "IS" && vr !== "DS"
  const items: ReadonlyArray<unknown> = Array.isArray(value) ? value : [value]
  for (const item of items) {
    const n =
      typeof item === "number"
        ? item
        : binary && typeof item === "string" && item.trim() !== "" && !item.includes("\\")
          ? Number(item)
          : undefined
    if (n === undefined) continue
    if (range !== undefined) {
      if (!Number.isInteger(n) || n < range[0] || n > range[1]) return typeof item === "string" ? `"${item}"` : `${n}`
      continue
    }
    // DS: dcmjs cuts the text of a number to 16 characters, which only loses precision when the point is within them
    const text = String(n)
    const point = text.indexOf(".")
    if (text.length > 16 && (text.includes("e") || point < 0 || point > 16)) return text
  }
  return undefined
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
    // Bytes only: dcmjs fails on anything else with "First argument to DataView constructor must be an ArrayBuffer".
    if (BYTE_VRS.has(vr) && !isBytes(value)) {
      const unknownPrivate = entry.vr === "UN" && typeof vrMap[key] !== "string" && HEX_TAG.test(key)
      throw new Refused(
        "InvalidValue",
        unknownPrivate
          ? `${path}${key}: no VR known for this tag, so its value must be bytes: give its VR in _vrMap ` +
              `(as a request's identifier carries it) to write it as text`
          : `${path}${key} (${vr}) takes bytes (a Uint8Array or ArrayBuffer, or an array of them), not ${typeof value}`
      )
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
    // A UID is digits and dots (PS3.5 9.1): dcmjs would drop anything else as it writes, "1.2*" becoming "1.2", a
    // value other than the one given (a query for another study, a response naming an instance that is not there).
    if (vr === "UI") {
      const uids = texts.flatMap((t) => t.split("\\")).map((t) => Text.trimEnd(t, " \0"))
      const bad = uids.find((t) => !UID_TEXT.test(t))
      if (bad !== undefined) {
        throw new Refused("InvalidValue", `${path}${key} (UI) "${bad}" holds characters other than digits and dots`)
      }
      // many values at the top level: written here (dcmjs takes time growing with their square)
      const tag = uids.length > HAND_WRITTEN_UIDS ? plainTag(entry.tag) : undefined
      if (empties !== undefined && tag !== undefined) {
        empties.push({ tag, vr, value: uidValueBytes(uids) })
        continue
      }
    }
    // A number dcmjs cannot write as given is written as another (70000 as US 4464, -1 as 65535, an IS of 14 digits
    // cut to its first 12, a DS of 20 digits to its first 16): a query for something else, without a word.
    const unwritable = unwritableNumber(vr, value)
    if (unwritable !== undefined) {
      throw new Refused("InvalidValue", `${path}${key} (${vr}) ${unwritable} cannot be written as ${vr}`)
    }
    const values = rep.isBinary() || SINGLE_VALUE_TEXT_VRS.has(vr) ? value : splitValues(value)
    out[key] = Array.isArray(values) ? values.map(toArrayBuffer) : toArrayBuffer(values)
  }
  if (Object.keys(vrMap).length > 0) out["_vrMap"] = { ...vrMap }
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
    const deflated = zlib().deflateRawSync(bytes)
    const out = new Uint8Array(deflated.length + (deflated.length % 2))
    out.set(deflated)
    return Result.succeed(out)
  } catch (cause) {
    return fail(transferSyntaxUid, "InvalidValue", `cannot deflate the data set: ${String(cause)}`, cause)
  }
}
