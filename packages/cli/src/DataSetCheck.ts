/**
 * A structural check of the data set in a Part 10 file before it is sent (PS3.5 section 7: data
 * elements, 7.5 nesting of sequences and items, A.4 encapsulated pixel data; PS3.10 7.1 the file
 * meta information it follows).
 *
 * It walks element headers only (tag, VR, length), skipping values, and fails when a value or a
 * sequence runs past the end of the file: a truncated file is reported as such instead of being
 * sent and failing on the peer. Nothing is decoded. Deflated data sets (PS3.5 A.5) are not walked.
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs/promises"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { Uids } from "@netdicom/wire"

/** The data set is not whole: an element or a sequence ends past the end of the file. */
export class DataSetTruncated extends Data.TaggedError("DataSetTruncated")<{ readonly detail: string }> {
  override get message(): string {
    return `truncated or malformed data set: ${this.detail}`
  }
}

const UNDEFINED = 0xffffffff
const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"])
const BLOCK = 64 * 1024

const tagText = (group: number, element: number): string =>
  `(${group.toString(16).padStart(4, "0")},${element.toString(16).padStart(4, "0")})`

// A buffered, positioned reader: headers are read through a block buffer, values are skipped.
class Reader {
  pos: number
  private block = new Uint8Array(0)
  private blockStart = 0
  readonly handle: Fs.FileHandle
  readonly size: number
  constructor(handle: Fs.FileHandle, size: number, pos: number) {
    this.handle = handle
    this.size = size
    this.pos = pos
  }
  async view(n: number): Promise<DataView> {
    if (this.pos + n > this.size) throw new DataSetTruncated({ detail: `element header at byte ${this.pos} cut short` })
    if (this.pos < this.blockStart || this.pos + n > this.blockStart + this.block.length) {
      const length = Math.min(BLOCK, this.size - this.pos)
      const buffer = new Uint8Array(length)
      let filled = 0
      while (filled < length) {
        const { bytesRead } = await this.handle.read(buffer, filled, length - filled, this.pos + filled)
        if (bytesRead === 0) break
        filled += bytesRead
      }
      this.block = buffer.subarray(0, filled)
      this.blockStart = this.pos
      if (filled < n) throw new DataSetTruncated({ detail: `element header at byte ${this.pos} cut short` })
    }
    const at = this.pos - this.blockStart
    return new DataView(this.block.buffer, this.block.byteOffset + at, n)
  }
  skip(n: number, what: string): void {
    if (this.pos + n > this.size) {
      throw new DataSetTruncated({
        detail: `${what} needs ${n} bytes at byte ${this.pos}, the file has ${this.size - this.pos}`
      })
    }
    this.pos += n
  }
}

interface Syntax {
  readonly explicit: boolean
  readonly little: boolean
}

const MAX_DEPTH = 64

/** The SOP identifiers found at the top level of a data set, when they are there. */
export interface Found {
  sopClassUid?: string
  sopInstanceUid?: string
}

const SOP_CLASS_UID = 0x00080016
const SOP_INSTANCE_UID = 0x00080018

const uidText = (view: DataView): string =>
  String.fromCharCode(...new Uint8Array(view.buffer, view.byteOffset, view.byteLength))
    .replace(/[\0 ]+$/, "")
    .trim()

// Elements until `end` (a defined length) or, when `end` is undefined, an Item Delimitation Item.
const walkDataSet = async (
  r: Reader,
  syntax: Syntax,
  end: number | undefined,
  depth: number,
  found?: Found
): Promise<void> => {
  if (depth > MAX_DEPTH) throw new DataSetTruncated({ detail: "sequences nested too deep" })
  while (true) {
    if (end !== undefined && r.pos >= end) {
      if (r.pos > end) throw new DataSetTruncated({ detail: `an element runs past the end of its item at byte ${end}` })
      return
    }
    if (end === undefined && r.pos >= r.size) throw new DataSetTruncated({ detail: "an item has no delimiter" })
    const head = await r.view(8)
    const group = head.getUint16(0, syntax.little)
    const element = head.getUint16(2, syntax.little)
    if (group === 0xfffe) {
      r.skip(8, "a delimiter")
      if (element === 0xe00d && end === undefined && depth > 0) return
      throw new DataSetTruncated({ detail: `unexpected ${tagText(group, element)} at byte ${r.pos - 8}` })
    }
    let vr = ""
    let length: number
    let headerSize = 8
    if (syntax.explicit) {
      vr = String.fromCharCode(head.getUint8(4), head.getUint8(5))
      if (LONG_VRS.has(vr)) {
        const long = await r.view(12)
        length = long.getUint32(8, syntax.little)
        headerSize = 12
      } else length = head.getUint16(6, syntax.little)
    } else length = head.getUint32(4, syntax.little)
    const tag = tagText(group, element)
    r.skip(headerSize, tag)
    if (length === UNDEFINED) {
      // A sequence, encapsulated pixel data, or UN holding an implicit VR sequence (PS3.5 6.2.2).
      const inner = vr === "UN" ? { explicit: false, little: true } : syntax
      await walkItems(r, inner, undefined, depth + 1, tag)
    } else {
      const tagNumber = group * 0x10000 + element
      if (found !== undefined && (tagNumber === SOP_CLASS_UID || tagNumber === SOP_INSTANCE_UID) && length <= 256) {
        if (r.pos + length > r.size) r.skip(length, tag)
        const value = uidText(await r.view(length))
        if (tagNumber === SOP_CLASS_UID) found.sopClassUid = value
        else found.sopInstanceUid = value
      }
      r.skip(length, tag)
    }
  }
}

// Items until `end`, or until a Sequence Delimitation Item when the length is undefined.
const walkItems = async (r: Reader, syntax: Syntax, end: number | undefined, depth: number, owner: string) => {
  while (true) {
    if (end !== undefined && r.pos >= end) return
    if (r.pos >= r.size) throw new DataSetTruncated({ detail: `${owner} has no sequence delimiter` })
    const head = await r.view(8)
    const group = head.getUint16(0, syntax.little)
    const element = head.getUint16(2, syntax.little)
    const length = head.getUint32(4, syntax.little)
    r.skip(8, `an item of ${owner}`)
    if (group === 0xfffe && element === 0xe0dd) return
    if (group !== 0xfffe || element !== 0xe000) {
      throw new DataSetTruncated({ detail: `${tagText(group, element)} where an item of ${owner} was expected` })
    }
    if (length === UNDEFINED) await walkDataSet(r, syntax, undefined, depth + 1)
    else r.skip(length, `an item of ${owner}`)
  }
}

/**
 * Checks that the data set starting at `offset` in `path`, in `transferSyntax`, is whole, and gives the SOP Class
 * and Instance UIDs at its top level (not looked for in a deflated data set, which is not walked).
 */
export const check = (path: string, offset: number, transferSyntax: string): Effect.Effect<Found, DataSetTruncated> => {
  const info = Uids.transferSyntaxInfo(transferSyntax)
  if (info?.deflated === true) return Effect.succeed({})
  const syntax: Syntax = { explicit: info?.explicitVr ?? true, little: info?.littleEndian ?? true }
  return Effect.tryPromise({
    try: async () => {
      const handle = await Fs.open(path, "r")
      try {
        const { size } = await handle.stat()
        const found: Found = {}
        await walkDataSet(new Reader(handle, size, offset), syntax, size, 0, found)
        return found
      } finally {
        await handle.close()
      }
    },
    catch: (cause) =>
      cause instanceof DataSetTruncated ? cause : new DataSetTruncated({ detail: `cannot read: ${String(cause)}` })
  })
}
