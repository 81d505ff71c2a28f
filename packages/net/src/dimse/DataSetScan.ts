/**
 * The bounds-checked scan of a bare data set's element structure (PS3.5 7.1, 7.5), which reads no values (internal:
 * `DataSet` re-exports `scan`, `isKnownVr` and `ElementHeader`; decoding and the empty-element codec walk its nodes).
 */
import { Uids } from "@netdicom/wire"
import * as Result from "effect/Result"
import { DataSetError } from "./DataSetError.ts"
import { dictionaryEntry, tagString } from "./Dcmjs.ts"

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

export interface Layout {
  readonly explicitVr: boolean
  readonly littleEndian: boolean
}

export const IMPLICIT_LE: Layout = { explicitVr: false, littleEndian: true }
export const EXPLICIT_LE: Layout = { explicitVr: true, littleEndian: true }

/** The element layout of a transfer syntax's bytes as given (deflated ones must be inflated first). */
const layoutOf = (transferSyntaxUid: string): Layout | undefined => {
  const info = Uids.transferSyntaxInfo(transferSyntaxUid)
  if (info === undefined || info.deflated) return undefined
  return { explicitVr: info.explicitVr, littleEndian: info.littleEndian }
}

const UNDEFINED_LENGTH = 0xffffffff
const ITEM = 0xfffee000
const ITEM_DELIMITATION = 0xfffee00d
const SEQUENCE_DELIMITATION = 0xfffee0dd
const PIXEL_DATA = 0x7fe00010
export const SPECIFIC_CHARACTER_SET = 0x00080005
const MAX_DEPTH = 32

// prettier-ignore
export const VRS = new Set([
  "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD", "OF", "OL", "OV", "OW", "PN",
  "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV"
])

/** Whether two characters are one of the VRs of PS3.5 Table 6.2-1. */
export const isKnownVr = (vr: string): boolean => VRS.has(vr)

/** VRs with a reserved 2 bytes and a 32-bit length in explicit VR (PS3.5 Table 7.1-1). */
export const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"])

/** A scanned element with the items of a sequence (each item a list of elements) and their layout. */
export interface Node extends ElementHeader {
  readonly items: ReadonlyArray<ReadonlyArray<Node>> | undefined
  /** How the items are encoded: the enclosing layout, or Implicit VR LE inside UN (PS3.5 6.2.2). */
  readonly itemLayout: Layout
}

/**
 * Thrown inside the scanner only (`readHeader`, `readElements`, `readItems`, `skipFragments`); caught by the `try`
 * in `scan` and in `decodeWith`, the scanner's only callers, and returned as a `DataSetError`.
 */
class ScanStop {
  readonly kind: "Truncated" | "Malformed" | "TooLarge"
  readonly reason: string
  readonly offset: number
  readonly needed: number | undefined
  constructor(kind: "Truncated" | "Malformed" | "TooLarge", reason: string, offset: number, needed?: number) {
    this.kind = kind
    this.reason = reason
    this.offset = offset
    this.needed = needed
  }
}

export const hex8 = (tag: number): string => tag.toString(16).toUpperCase().padStart(8, "0")

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

export interface ScanContext {
  readonly bytes: Uint8Array
  /** Stop after this top-level tag (or before the first greater one). */
  readonly until: number | undefined
  /** Walk into defined-length sequences too (decode); a scan only needs to cross undefined lengths. */
  readonly deep: boolean
  /** The dictionary VR of a tag, to find sequences in Implicit VR and UN (PS3.5 6.2.2). */
  readonly dictionaryVr: (tag: number) => string | undefined
  /**
   * Most elements and items read, all levels together (decode of a peer's whole data set: each item costs a dcmjs
   * call); undefined: no bound. `nodes` counts them.
   */
  readonly maxNodes?: number | undefined
  nodes?: number
}

// Counts one element or item against `ctx.maxNodes`. Throws `ScanStop` past it.
const countNode = (ctx: ScanContext, at: number): void => {
  if (ctx.maxNodes === undefined) return
  const n = (ctx.nodes ?? 0) + 1
  ctx.nodes = n
  if (n > ctx.maxNodes) throw new ScanStop("TooLarge", `more than ${ctx.maxNodes} elements and items`, at)
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
export const readElements = (
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
    countNode(ctx, at)
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
    countNode(ctx, at)
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
export const unexpected = (transferSyntaxUid: string, cause: unknown): DataSetError =>
  cause instanceof ScanStop
    ? stopToError(transferSyntaxUid, cause)
    : new DataSetError({ transferSyntaxUid, kind: "Malformed", reason: `unexpected error: ${String(cause)}`, cause })

export const dictionaryVr = (tag: number): string | undefined => dictionaryEntry(tag)?.vr

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
