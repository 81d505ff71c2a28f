/**
 * The header of a Part 10 file in dcmjs's naturalized form, read without dcmjs for the elements whose decoding is
 * plain: a bounds-checked walk of the File Meta Information and of the top-level elements of a little endian data
 * set (PS3.5 7.1), decoding each string, person name and number value as dcmjs 0.52 decodes and naturalizes it
 * (`Header` keeps what dcmjs gives, so the index holds the same values whichever reads them). Binary values
 * (OB, OW, OD, OF) are left out as `stripBinary` leaves them out.
 *
 * What it does not decode itself it hands back: a sequence, an attribute tag (AT) or an unknown (UN) value, and in
 * Implicit VR any element the dictionary gives no plain VR, are "pending": their bytes are put after the File Meta
 * Information in a small Part 10 buffer that dcmjs reads, and their values are taken from it (a sequence costs dcmjs
 * its own bytes only). Anything else it gives up on, returning undefined so that `Header` reads the whole with
 * dcmjs: big endian or deflated data sets, a Specific Character Set other than none, ISO_IR 6, ISO_IR 100 or
 * ISO_IR 192 (several values, ISO 2022), a VR dcmjs reads with another length form (OL, OV, SV), a numeric value
 * whose length is not a multiple of its size, an element cut short, a repeated tag, a stray item tag, a Specific
 * Character Set not written as CS, a person name's tag written with another VR, an undefined length in Implicit VR
 * on a tag the dictionary gives a VR other than SQ.
 *
 * @internal
 */
import { Buffer } from "node:buffer"
import type { TextDecoder } from "node:util"
import * as Charset from "../Charset.ts"
import * as Dcmjs from "./Dcmjs.ts"
import type { Dataset, Dict } from "./Dcmjs.ts"
import { stripBinary } from "./StripBinary.ts"

/** What `scan` read: the naturalized meta and data set, and the Specific Character Set values as written. */
export interface Scanned {
  readonly meta: Dataset
  readonly dataset: Dataset
  readonly terms: ReadonlyArray<string>
}

const IMPLICIT_LE = "1.2.840.10008.1.2"
const EXPLICIT_BE = "1.2.840.10008.1.2.2"
const DEFLATED = "1.2.840.10008.1.2.1.99"
const SPECIFIC_CHARACTER_SET = 0x00080005
const PIXEL_DATA = 0x7fe00010
const UNDEFINED = 0xffffffff
const META_START = 132
const MAX_DEPTH = 64

/** VRs dcmjs reads with a 32-bit length in Explicit VR (its own list: OL, OV, SV are not in it). */
const LONG_VRS = new Set(["OB", "OW", "OF", "SQ", "UC", "UR", "UT", "UN", "OD", "UV"])
/** VRs whose defined-length value dcmjs reads as one ArrayBuffer, which `stripBinary` leaves out. */
const BINARY_VRS = new Set(["OB", "OW", "OD", "OF"])
/** VRs whose value dcmjs decodes and this module decodes the same way. */
const PLAIN_VRS = new Set([
  "AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT",
  "US", "SS", "UL", "SL", "FL", "FD"
]) // prettier-ignore
/** VRs dcmjs reads and this module hands to it (`pending`). */
const PENDING_VRS = new Set(["SQ", "AT", "UN"])

/** The TextDecoder dcmjs uses for a Specific Character Set term, for the terms this module takes. */
const DECODER_LABEL: ReadonlyMap<string, string> = new Map([
  ["", "latin1"],
  ["ISO_IR 6", "latin1"],
  ["ISO_IR 100", "latin1"],
  ["ISO_IR 192", "utf-8"]
])

/** One byte, one character (dcmjs's `readAsciiString`; a TextDecoder's "latin1" is windows-1252). */
const ascii = (bytes: Uint8Array, start: number, end: number): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString("latin1")

/**
 * dcmjs's drop of a padding space left on the last of several values of odd length (for the VRs with a maximum
 * length and a space as padding: those it is called for).
 */
const dropPad = (values: Array<string>): Array<string> => {
  if (values.length > 1) {
    const last = values[values.length - 1]!
    if (last.length % 2 !== 0 && last.endsWith(" ")) values[values.length - 1] = last.slice(0, -1)
  }
  return values
}

const split = (text: string): Array<string> => text.split("\\")

const decimal = (text: string): number | null => {
  const cleaned = text.trim().replace(/[^0-9.\\\-+e]/gi, "")
  if (cleaned === "") return null
  const n = Number(cleaned)
  return Number.isFinite(n) ? n : null
}

const integer = (text: string): number | null => {
  const trimmed = text.trim()
  if (trimmed === "" || !/^[+-]?\d+$/.test(trimmed)) return null
  const n = Number(trimmed)
  return Number.isFinite(n) ? n : null
}

const personNames = (text: string): Array<Record<string, string>> => {
  const unpadded = text.length === 0 || text.endsWith(" ") ? text.slice(0, -1) : text
  const out: Array<Record<string, string>> = []
  for (const value of unpadded.split("\\")) {
    if (value === "") continue
    const groups = value.split("=")
    const name: Record<string, string> = {}
    if (groups[0]) name["Alphabetic"] = groups[0]
    if (groups[1]) name["Ideographic"] = groups[1]
    if (groups[2]) name["Phonetic"] = groups[2]
    out.push(name)
  }
  return out
}

const NUMBER_SIZE: Readonly<Record<string, number>> = { US: 2, SS: 2, UL: 4, SL: 4, FL: 4, FD: 8 }

/** The values of a plain VR as dcmjs gives them in its dict; undefined when dcmjs would read them otherwise. */
const decode = (
  vr: string,
  bytes: Uint8Array,
  view: DataView,
  start: number,
  end: number,
  decoder: TextDecoder
): Array<unknown> | undefined => {
  const text = () => decoder.decode(bytes.subarray(start, end))
  switch (vr) {
    case "AE":
      return dropPad(split(ascii(bytes, start, end).trim()))
    case "AS":
      return dropPad(split(ascii(bytes, start, end)))
    case "CS":
      return dropPad(split(ascii(bytes, start, end))).map((v) => v.trim())
    case "DA":
      return dropPad(split(ascii(bytes, start, end)))
    case "DS":
      return dropPad(split(ascii(bytes, start, end))).map(decimal)
    case "DT":
      return dropPad(split(ascii(bytes, start, end)))
    case "IS":
      return dropPad(split(ascii(bytes, start, end))).map(integer)
    case "LO":
      return dropPad(split(text().trim()))
    case "LT":
      return [text().trimEnd()]
    case "PN":
      return personNames(text())
    case "SH":
      return dropPad(split(text().trim()))
    case "ST":
      return dropPad(split(text().trimEnd()))
    case "TM":
      return dropPad(split(ascii(bytes, start, end).trimEnd()))
    case "UC":
    case "UT":
      return split(text().trimEnd())
    case "UR":
      return split(ascii(bytes, start, end))
    case "UI": {
      const padded = end > start && bytes[end - 1] === 0
      return split(ascii(bytes, start, padded ? end - 1 : end)).map((v) => v.replace(/[^0-9.]/g, ""))
    }
  }
  const size = NUMBER_SIZE[vr]
  if (size === undefined) return undefined
  const length = end - start
  // an empty value is dcmjs's default, 0; a length that is not a multiple makes dcmjs read past the element
  if (length === 0) return [0]
  if (length % size !== 0) return undefined
  const out: Array<number> = []
  for (let at = start; at < end; at += size) {
    switch (vr) {
      case "US":
        out.push(view.getUint16(at, true))
        break
      case "SS":
        out.push(view.getInt16(at, true))
        break
      case "UL":
        out.push(view.getUint32(at, true))
        break
      case "SL":
        out.push(view.getInt32(at, true))
        break
      case "FL":
        out.push(view.getFloat32(at, true))
        break
      case "FD":
        out.push(view.getFloat64(at, true))
        break
    }
  }
  return out
}

/** Where an undefined-length sequence (its items, to the sequence delimiter) ends; undefined when it does not. */
const sequenceEnd = (view: DataView, at: number, end: number, explicit: boolean, depth: number): number | undefined => {
  if (depth > MAX_DEPTH) return undefined
  while (at + 8 <= end) {
    const group = view.getUint16(at, true)
    const element = view.getUint16(at + 2, true)
    const length = view.getUint32(at + 4, true)
    at += 8
    if (group !== 0xfffe) return undefined
    if (element === 0xe0dd) return at
    if (element !== 0xe000) return undefined
    if (length !== UNDEFINED) {
      at += length
      continue
    }
    // an item of undefined length: its elements up to the item delimiter
    while (true) {
      if (at + 8 > end) return undefined
      const g = view.getUint16(at, true)
      const e = view.getUint16(at + 2, true)
      if (g === 0xfffe) {
        if (e !== 0xe00d) return undefined
        at += 8
        break
      }
      const head = elementHeader(view, at, explicit)
      if (head === undefined) return undefined
      at += head.size
      if (head.length === UNDEFINED) {
        const inner = sequenceEnd(view, at, end, explicit && head.vr !== "UN", depth + 1)
        if (inner === undefined) return undefined
        at = inner
      } else at += head.length
    }
  }
  return undefined
}

const elementHeader = (
  view: DataView,
  at: number,
  explicit: boolean
): { readonly vr: string; readonly length: number; readonly size: number } | undefined => {
  if (!explicit)
    return at + 8 <= view.byteLength ? { vr: "", length: view.getUint32(at + 4, true), size: 8 } : undefined
  if (at + 8 > view.byteLength) return undefined
  const vr = String.fromCharCode(view.getUint8(at + 4), view.getUint8(at + 5))
  if (!LONG_VRS.has(vr)) return { vr, length: view.getUint16(at + 6, true), size: 8 }
  return at + 12 <= view.byteLength ? { vr, length: view.getUint32(at + 8, true), size: 12 } : undefined
}

/** An element of the dict being built, in file order: its values, or where its bytes are for dcmjs. */
interface Entry {
  readonly tag: number
  readonly vr: string
  readonly values: Array<unknown> | undefined
  readonly start: number
  readonly end: number
}

const hexTag = (tag: number): string => tag.toString(16).toUpperCase().padStart(8, "0")

/**
 * The elements of `[start, end)` of `bytes`, up to the tag `untilTag`; undefined when one of them is beyond this
 * module (see the module's header).
 */
const walk = (
  bytes: Uint8Array,
  view: DataView,
  start: number,
  end: number,
  explicit: boolean,
  untilTag: number,
  charset: { decoder: TextDecoder; terms: ReadonlyArray<string> | undefined }
): Array<Entry> | undefined => {
  const entries: Array<Entry> = []
  let last = -1
  let seen: Set<number> | undefined
  let at = start
  while (at < end) {
    // the element that ends the header may be only its tag (4 bytes)
    if (at + 4 > end) return undefined
    const tag = view.getUint16(at, true) * 0x10000 + view.getUint16(at + 2, true)
    if (tag === untilTag) break
    if (at + 8 > end) return undefined
    if (tag >>> 16 === 0xfffe) return undefined
    const head = elementHeader(view, at, explicit)
    if (head === undefined || at + head.size > end) return undefined
    const entry = explicit ? undefined : Dcmjs.entryOfTag(tag)
    const vr = explicit ? head.vr : (entry?.vr ?? "")
    const valueStart = at + head.size
    let valueEnd: number
    if (head.length === UNDEFINED) {
      // a sequence (dcmjs takes an undefined length in Implicit VR for one where its dictionary has no VR: a tag it
      // knows keeps its VR, and a text read so runs to the end of the bytes); encapsulated values are beyond us
      if (tag === PIXEL_DATA || vr !== (explicit || entry !== undefined ? "SQ" : "")) return undefined
      const sequence = sequenceEnd(view, valueStart, end, explicit, 1)
      if (sequence === undefined) return undefined
      valueEnd = sequence
    } else {
      valueEnd = valueStart + head.length
      if (valueEnd > end) return undefined
    }
    const elementStart = at
    at = valueEnd
    if (tag === PIXEL_DATA) continue // read by dcmjs, then deleted from its dict
    // a tag again: dcmjs keeps its first place and last value (rare: left to it); only a tag not above all before it
    // can be one, and the tags seen are gathered in a set the first time one comes
    if (tag <= last) {
      seen ??= new Set(entries.map((e) => e.tag))
      if (seen.has(tag)) return undefined
    }
    seen?.add(tag)
    last = Math.max(last, tag)
    // dcmjs decodes the text after Specific Character Set by it whatever VR it was written with (UN: its
    // dictionary's CS); the scan's decoder follows only a CS value
    if (tag === SPECIFIC_CHARACTER_SET && vr !== "CS") return undefined
    if (head.length === UNDEFINED || !PLAIN_VRS.has(vr)) {
      if (explicit && BINARY_VRS.has(vr)) {
        entries.push({ tag, vr, values: [], start: elementStart, end: valueEnd })
        continue
      }
      if (explicit && !PENDING_VRS.has(vr)) return undefined
      entries.push({ tag, vr, values: undefined, start: elementStart, end: valueEnd })
      continue
    }
    const values = decode(vr, bytes, view, valueStart, valueEnd, charset.decoder)
    if (values === undefined) return undefined
    if (tag === SPECIFIC_CHARACTER_SET) {
      if (vr !== "CS") return undefined
      const terms = dropPad(split(ascii(bytes, valueStart, valueEnd))).map((v) => v.trim())
      const label = terms.length === 1 ? DECODER_LABEL.get(terms[0]!) : undefined
      if (label === undefined) return undefined
      charset.decoder = Charset.decoder(label)
      charset.terms = terms
      // dcmjs decodes to Unicode and says so
      entries.push({ tag, vr, values: ["ISO_IR 192"], start: elementStart, end: valueEnd })
      continue
    }
    entries.push({ tag, vr, values, start: elementStart, end: valueEnd })
  }
  return entries
}

/**
 * Whether a tag's text (8 hex digits) is one JavaScript takes for an array index: all decimal digits, not a leading 0.
 */
const isIndexKey = (tag: number): boolean => {
  if (tag >>> 28 === 0) return false
  for (let shift = 0; shift < 32; shift += 4) if (((tag >>> shift) & 0xf) > 9) return false
  return true
}

/**
 * dcmjs's naturalized data set of the entries: keyword (or tag text) keys in its dict's key order, single values
 * unwrapped, `_vrMap` where the VR read is not the dictionary's; pending values from `pending` (already stripped).
 * Its dict is keyed by tag text: a tag whose text is all decimal digits (not starting with 0) is an array index to
 * JavaScript, listed before the others in numeric order, which is the tags' order.
 */
const naturalize = (entries: ReadonlyArray<Entry>, pending: Dataset | undefined): Dataset | undefined => {
  let ordered = entries
  if (entries.some((e) => isIndexKey(e.tag))) {
    const first = entries.filter((e) => isIndexKey(e.tag)).sort((a, b) => a.tag - b.tag)
    ordered = [...first, ...entries.filter((e) => !isIndexKey(e.tag))]
  }
  const vrMap: Record<string, string> = {}
  const out: Record<string, unknown> = { _vrMap: vrMap }
  for (const { tag, vr, values } of ordered) {
    const entry = Dcmjs.entryOfTag(tag)
    const name = entry?.name ?? hexTag(tag)
    if (values === undefined) {
      if (pending === undefined) return undefined
      const vrs = pending["_vrMap"] as Record<string, string> | undefined
      if (vrs !== undefined && name in vrs) vrMap[name] = vrs[name]!
      if (name in pending) out[name] = pending[name]
      continue
    }
    if (entry !== undefined && (entry.vr === "ox" || entry.vr !== vr)) vrMap[name] = vr
    // dcmjs's naturalized data set turns whatever its dictionary's person name keywords are given into person name
    // objects (a string is a String object then): another VR on such a tag is left to it
    if (entry?.vr === "PN" && vr !== "PN") return undefined
    if (BINARY_VRS.has(vr) && values.length === 0) continue // an ArrayBuffer: left out
    const first = values[0]
    out[name] = values.length === 1 && (typeof first !== "object" || first === null) ? first : values
  }
  return out
}

/** The pending elements read by dcmjs: their bytes after the File Meta Information, naturalized and stripped. */
const readPending = (bytes: Uint8Array, dataSetOffset: number, entries: ReadonlyArray<Entry>): Dataset | undefined => {
  // Specific Character Set goes too, where it was: dcmjs decodes a text VR it gives an element after it by it
  const given = entries.filter((e) => e.values === undefined || e.tag === SPECIFIC_CHARACTER_SET)
  let length = dataSetOffset
  for (const e of given) length += e.end - e.start
  const mini = new Uint8Array(length)
  mini.set(bytes.subarray(0, dataSetOffset))
  let at = dataSetOffset
  for (const e of given) {
    mini.set(bytes.subarray(e.start, e.end), at)
    at += e.end - e.start
  }
  let dict: Dict
  try {
    dict = Dcmjs.readFile(mini.buffer, { ignoreErrors: false, untilTag: null }).dict
  } catch {
    return undefined
  }
  for (const e of entries) if (e.values === undefined && !(hexTag(e.tag) in dict)) return undefined
  try {
    return stripBinary(Dcmjs.naturalize(dict)) as Dataset
  } catch {
    // dcmjs's naturalized data set throws on some values it read: left to the whole read, which says why
    return undefined
  }
}

/**
 * Reads the header of Part 10 bytes up to the top-level element `untilTag` (not included) as dcmjs reads and
 * naturalizes it, binary values left out; undefined when dcmjs must read it (see the module's header).
 * `beforeDcmjs` is asked before any bytes are handed to dcmjs (a structure check): false ends the scan, undefined.
 */
export const scan = (
  bytes: Uint8Array,
  untilTag: number,
  beforeDcmjs: () => boolean = () => true
): Scanned | undefined => {
  if (bytes.length < META_START + 12 || ascii(bytes, 128, META_START) !== "DICM") return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(META_START, true) !== 0x00000002 || ascii(bytes, META_START + 4, META_START + 6) !== "UL") {
    return undefined
  }
  const metaEnd = META_START + 12 + view.getUint32(META_START + 8, true)
  if (metaEnd > bytes.length) return undefined
  const metaCharset = { decoder: Charset.decoder("latin1"), terms: undefined }
  const metaEntries = walk(bytes, view, META_START + 12, metaEnd, true, -1, metaCharset)
  if (metaEntries === undefined || metaEntries.some((e) => e.values === undefined)) return undefined
  const meta = naturalize(metaEntries, undefined)
  const syntax = meta?.["TransferSyntaxUID"]
  if (meta === undefined || typeof syntax !== "string" || syntax === EXPLICIT_BE || syntax === DEFLATED) {
    return undefined
  }
  const charset: { decoder: TextDecoder; terms: ReadonlyArray<string> | undefined } = {
    decoder: Charset.decoder("latin1"),
    terms: undefined
  }
  const entries = walk(bytes, view, metaEnd, bytes.length, syntax !== IMPLICIT_LE, untilTag, charset)
  if (entries === undefined) return undefined
  let pending: Dataset | undefined
  if (entries.some((e) => e.values === undefined)) {
    if (!beforeDcmjs()) return undefined
    pending = readPending(bytes, metaEnd, entries)
  }
  const dataset = naturalize(entries, pending)
  return dataset === undefined ? undefined : { meta, dataset, terms: charset.terms ?? [] }
}
