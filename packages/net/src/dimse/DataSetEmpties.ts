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
 * identifier of thousands of return keys pays once per response; a zero-length element is its header only.
 */
export interface EmptyElement {
  readonly tag: number
  readonly vr: string
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
