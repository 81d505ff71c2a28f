/**
 * Elements with no value (C-FIND return keys), decoded and encoded by hand rather than by dcmjs, which spends several
 * microseconds on each (internal to `DataSet`).
 */
import { type DictionaryEntry } from "./Dcmjs.ts"
import { dictionaryVr, type Layout, LONG_VRS, type Node, readElements, type ScanContext, VRS } from "./DataSetScan.ts"

/**
 * The VR dcmjs would give a zero-length element that is no sequence, when that is plain: the VR written (UN only for
 * a tag the dictionary lacks, which dcmjs would otherwise read as the dictionary's VR); in Implicit VR the
 * dictionary's, else LO for a private creator and UN. Undefined otherwise (sequences, the dictionary's "ox"-like VRs,
 * OL/OV/SV, which dcmjs does not know): dcmjs reads those. Such an element decodes as `""` with no dcmjs call, which
 * costs several microseconds per element (C-FIND return keys: thousands of them in a hostile identifier).
 */
export const emptyVr = (node: Node, entry: DictionaryEntry | undefined, layout: Layout): string | undefined => {
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
 * A top-level element with no value (a C-FIND return key), written by `mergeEmpties` rather than by dcmjs: dcmjs
 * spends several microseconds on every element it writes (a stream of its own, copies, dictionary look-ups), which an
 * identifier of thousands of return keys pays once per response; a zero-length element is its header only. Also a
 * UI element of many values (`value`: its bytes, padded): dcmjs writes each value into a stream growing in pieces of
 * 256 bytes and looks for its place from the first piece, so 60,000 UIDs (a C-GET's Failed SOP Instance UID List)
 * took it ~4 s, time growing with the square of the values.
 */
export interface EmptyElement {
  readonly tag: number
  readonly vr: string
  readonly value?: Uint8Array
}

/** The values from which `DataSet.encode` writes a UI element itself (`EmptyElement.value`) rather than dcmjs. */
export const HAND_WRITTEN_UIDS = 16

/** The bytes of a UI element's values: joined by `\`, padded with a NUL to an even length (PS3.5 6.2). */
export const uidValueBytes = (values: ReadonlyArray<string>): Uint8Array => {
  const joined = values.join("\\")
  const out = new Uint8Array(joined.length + (joined.length % 2))
  for (let i = 0; i < joined.length; i++) out[i] = joined.charCodeAt(i)
  return out
}

// The header of an element `mergeEmpties` writes: its VR as written (UN for a value too long for the 16-bit length
// of its own VR in Explicit VR, PS3.5 6.2.2, as dcmjs writes it) and its size.
const headerOf = (e: EmptyElement, layout: Layout): { readonly vr: string; readonly size: number } => {
  if (!layout.explicitVr) return { vr: e.vr, size: 8 }
  const length = e.value?.length ?? 0
  const vr = !LONG_VRS.has(e.vr) && length > 0xffff ? "UN" : e.vr
  return { vr, size: LONG_VRS.has(vr) ? 12 : 8 }
}

/** The VRs dcmjs writes as given (it writes OL, OV and SV as UN; SQ has items): an empty one of these is ours. */
export const EMPTY_AS_GIVEN = new Set([...VRS].filter((vr) => !["OL", "OV", "SV", "SQ"].includes(vr)))

const PLAIN_TAG = /^\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)$/

/** A dictionary entry's tag `(gggg,eeee)` as a number; undefined for anything else. */
export const plainTag = (tag: string): number | undefined => {
  const plain = PLAIN_TAG.exec(tag)
  return plain === null ? undefined : (parseInt(plain[1]!, 16) * 0x10000 + parseInt(plain[2]!, 16)) >>> 0
}

/**
 * The elements dcmjs wrote with the zero-length `empties` (sorted here) put in among them in ascending tag order, or
 * undefined when two of them, or one of them and one dcmjs wrote, have one tag (two keys naming one tag: dcmjs then
 * writes one of them, so such a data set is left to it alone).
 */
export const mergeEmpties = (
  written: Uint8Array,
  empties: Array<EmptyElement>,
  layout: Layout
): Uint8Array | undefined => {
  empties.sort((a, b) => a.tag - b.tag)
  for (let i = 1; i < empties.length; i++) if (empties[i]!.tag === empties[i - 1]!.tag) return undefined
  const ctx: ScanContext = { bytes: written, until: undefined, deep: false, dictionaryVr }
  const nodes = readElements(ctx, 0, written.length, layout, 0, false).nodes
  let size = written.length
  for (const e of empties) size += headerOf(e, layout).size + (e.value?.length ?? 0)
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
    const length = e.value?.length ?? 0
    const header = headerOf(e, layout)
    view.setUint16(at, e.tag >>> 16, le)
    view.setUint16(at + 2, e.tag & 0xffff, le)
    if (!layout.explicitVr) view.setUint32(at + 4, length, le)
    else {
      out[at + 4] = header.vr.charCodeAt(0)
      out[at + 5] = header.vr.charCodeAt(1)
      // the reserved bytes of a long VR are zero: `out` is zero-filled
      if (header.size === 12) view.setUint32(at + 8, length, le)
      else view.setUint16(at + 6, length, le)
    }
    at += header.size
    if (e.value !== undefined) {
      out.set(e.value, at)
      at += length
    }
  }
  if (n < nodes.length) out.set(written.subarray(nodes[n]!.offset), at)
  return out
}
