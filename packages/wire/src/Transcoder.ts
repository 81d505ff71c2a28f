/**
 * A streaming re-encoder of a data set between the native (uncompressed, not deflated) transfer syntaxes: Implicit VR
 * Little Endian, Explicit VR Little Endian and Explicit VR Big Endian (PS3.5 section 7, 7.1.2/7.1.3 element headers,
 * 7.3 byte order, 6.2.2 UN, 7.5 sequences and items, A.1-A.3).
 *
 * It is fed the data set's bytes in order, in chunks of any size, and returns the re-encoded bytes as it goes, in
 * constant memory: element headers are rewritten, values are copied as bytes (views of the chunks fed, when the byte
 * order stays; byte-swapped per their VR's word size when it changes), nothing is decoded. Headers and values under
 * 1 KiB go out copied into shared 16 KiB blocks, so many small elements make few pieces. Every sequence and item is
 * written with undefined length and delimiters, since re-encoding changes the length of what they hold and a
 * defined length would need the whole item first. Group lengths (gggg,0000) are dropped, as their values would no
 * longer be true. A value of undefined length held by UN (or, in an implicit data set, by a tag the dictionary does
 * not know) is implicit VR little endian in every syntax (PS3.5 6.2.2), and is copied unchanged.
 *
 * Going from implicit to explicit needs each tag's VR: the caller gives the data dictionary's (`vrOf`), with
 * dcmjs's ambiguous codes (`ox`, `xs`, `lt`, `up`) resolved here: OW, US (SS when the item's Pixel
 * Representation is 1), OW, UL. Private creators are LO, other private and unknown tags UN. A value longer than
 * 65,535 bytes whose VR has a 2-byte length in explicit syntaxes is written as UN, its bytes as they were (little
 * endian, as UN values are in every syntax). An explicit VR not in PS3.5 is a problem. Encapsulated pixel data (a
 * compressed syntax) and deflated data sets are not converted: `make` says none for them.
 *
 * @since 0.1.0
 */
import * as Uids from "./Uids.ts"

/** Why a data set could not be re-encoded, at a byte offset of the input. */
export interface TranscodeProblem {
  readonly detail: string
}

/** A re-encoder of one data set: `push` its bytes in order, collecting what it returns, then `finish`. */
export interface Transcoder {
  /** The re-encoded bytes that `chunk` completes (views of it where it can); empty once a problem was seen. */
  readonly push: (chunk: Uint8Array) => ReadonlyArray<Uint8Array>
  /** A problem seen so far. */
  readonly problem: () => TranscodeProblem | undefined
  /** The last bytes (closing delimiters), or the problem when the data set was not whole or not well formed. */
  readonly finish: () => { readonly bytes: ReadonlyArray<Uint8Array> } | TranscodeProblem
}

/** A tag's VR per the data dictionary, as dcmjs writes it (ambiguous ones as `ox`, `xs`...), or none. */
export type VrLookup = (tag: number) => string | undefined

const IMPLICIT_LE = Uids.TransferSyntax.ImplicitVRLittleEndian
const EXPLICIT_LE = Uids.TransferSyntax.ExplicitVRLittleEndian
const EXPLICIT_BE = Uids.TransferSyntax.ExplicitVRBigEndian

/** The transfer syntaxes this module converts between. */
export const NATIVE_TRANSFER_SYNTAXES: ReadonlyArray<string> = [EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE]

/** Whether a data set in `uid` can be re-encoded here (one of `NATIVE_TRANSFER_SYNTAXES`, padding aside). */
export const isNative = (uid: string): boolean => NATIVE_TRANSFER_SYNTAXES.includes(uid.replace(/[\0 ]+$/, ""))

const UNDEFINED = 0xffffffff
const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"])
// The VRs of PS3.5 table 6.2-1: another one's header size is not known, so its data set is not read on.
const VRS = new Set([
  ...LONG_VRS,
  "AE",
  "AS",
  "AT",
  "CS",
  "DA",
  "DS",
  "DT",
  "FD",
  "FL",
  "IS",
  "LO",
  "LT",
  "PN",
  "SH",
  "SL",
  "SS",
  "ST",
  "TM",
  "UI",
  "UL",
  "US"
])
const MAX_DEPTH = 64
// Headers and values shorter than VIEW_MIN go out copied into shared blocks of BLOCK bytes (one small array per
// header cost ~60x the input in memory on a data set of empty elements); longer values as views of the chunk.
const BLOCK = 16384
const VIEW_MIN = 1024
const PIXEL_REPRESENTATION = 0x00280103

// The word size a value's bytes are swapped by when the byte order changes (PS3.5 7.3); others are bytes or text.
const SWAP: Readonly<Record<string, number>> = {
  US: 2,
  SS: 2,
  OW: 2,
  AT: 2,
  UL: 4,
  SL: 4,
  FL: 4,
  OL: 4,
  OF: 4,
  FD: 8,
  OD: 8,
  OV: 8,
  SV: 8,
  UV: 8
}

const bswap32 = (x: number): number =>
  ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | ((x >>> 24) & 0xff)

// Reverses the bytes of each `width`-byte word of `b` (a fresh array, so aligned; its length a multiple of `width`),
// in place, a word at a time.
const swapWords = (b: Uint8Array, width: number) => {
  if (width === 2) {
    const u = new Uint16Array(b.buffer, b.byteOffset, b.length >>> 1)
    for (let i = 0; i < u.length; i++) {
      const x = u[i]!
      u[i] = ((x & 0xff) << 8) | (x >>> 8)
    }
    return
  }
  const u = new Uint32Array(b.buffer, b.byteOffset, b.length >>> 2)
  if (width === 4) {
    for (let i = 0; i < u.length; i++) u[i] = bswap32(u[i]!)
    return
  }
  for (let i = 0; i + 1 < u.length; i += 2) {
    const lo = u[i]!
    u[i] = bswap32(u[i + 1]!)
    u[i + 1] = bswap32(lo)
  }
}

interface Syntax {
  readonly explicit: boolean
  readonly little: boolean
}

const syntaxOf = (uid: string): Syntax | undefined => {
  if (!isNative(uid)) return undefined
  const info = Uids.transferSyntaxInfo(uid)!
  return { explicit: info.explicitVr, little: info.littleEndian }
}

const VERBATIM_SYNTAX: Syntax = { explicit: false, little: true }

// The elements of the top level or of an item, or the items of a sequence. `end` is where (in input bytes) a
// defined-length item or sequence ends; `verbatim` frames (inside a UN of undefined length) are copied unchanged.
interface Frame {
  readonly kind: "elements" | "items"
  readonly end: number | undefined
  readonly verbatim: boolean
  readonly depth: number
  pixelRepresentation: number
}

const tagText = (tag: number): string => {
  const hex = tag.toString(16).padStart(8, "0")
  return `(${hex.slice(0, 4)},${hex.slice(4)})`
}

/** The explicit VR for a tag read from an implicit data set, with `length` its value's. */
const explicitVr = (tag: number, length: number, vrOf: VrLookup, pixelRepresentation: number): string => {
  const group = tag >>> 16
  const element = tag & 0xffff
  if (group % 2 === 1) return element >= 0x10 && element <= 0xff ? "LO" : "UN"
  const vr = vrOf(tag)
  switch (vr) {
    case undefined:
    case "na":
      return "UN"
    case "ox":
    case "lt":
      return "OW"
    case "xs":
      return pixelRepresentation === 1 ? "SS" : "US"
    case "up":
      return "UL"
    default:
      // Only SQ holds an undefined length (besides UN, which the caller handles).
      return length === UNDEFINED && vr !== "SQ" ? "UN" : vr
  }
}

/**
 * A re-encoder from `from` to `to`, or undefined when either is not one of the native syntaxes (or they are the
 * same). `vrOf` gives the dictionary's VR of a tag (needed only from Implicit VR Little Endian).
 */
export const make = (from: string, to: string, vrOf: VrLookup): Transcoder | undefined => {
  const input = syntaxOf(from)
  const output = syntaxOf(to)
  if (input === undefined || output === undefined) return undefined
  if (input.explicit === output.explicit && input.little === output.little) return undefined

  const stack: Array<Frame> = [{ kind: "elements", end: undefined, verbatim: false, depth: 0, pixelRepresentation: 0 }]
  const header = new Uint8Array(12)
  const view = new DataView(header.buffer)
  let have = 0
  let pos = 0
  let problem: TranscodeProblem | undefined
  let out: Array<Uint8Array> = []
  // The block being filled: [start, used) written since its last piece went out; what went out is never written again.
  let block = new Uint8Array(BLOCK)
  let blockView = new DataView(block.buffer)
  let start = 0
  let used = 0

  // The value being copied: bytes left, the word size they are swapped by (0: as they are), bytes of a word split
  // between two chunks, and whether it is dropped (a group length) or read (Pixel Representation).
  let copy = 0
  let swap = 0
  const carry = new Uint8Array(8)
  let carried = 0
  let drop = false
  let capture: Frame | undefined
  const captureBytes = new Uint8Array(2)
  let captured = 0
  let captureLittle = true

  const fail = (detail: string) => {
    problem ??= { detail }
  }

  const frameSyntax = (frame: Frame): Syntax => (frame.verbatim ? VERBATIM_SYNTAX : input)

  const wanted = (): number => {
    const frame = stack[stack.length - 1]!
    const syntax = frameSyntax(frame)
    if (frame.kind === "items" || !syntax.explicit || have < 8) return 8
    if (view.getUint16(0, syntax.little) === 0xfffe) return 8
    return LONG_VRS.has(String.fromCharCode(header[4]!, header[5]!)) ? 12 : 8
  }

  // The bytes written to the block since its last piece, as one piece.
  const flushBlock = () => {
    if (used > start) out.push(block.subarray(start, used))
    start = used
  }

  // Room for `n` bytes in the block (a new block when it is full): their offset there.
  const reserve = (n: number): number => {
    if (used + n > block.length) {
      flushBlock()
      block = new Uint8Array(Math.max(BLOCK, n))
      blockView = new DataView(block.buffer)
      start = 0
      used = 0
    }
    used += n
    return used - n
  }

  // Bytes out: copied into the block when short, else as they are (a view, or a fresh array of ours).
  const emitBytes = (bytes: Uint8Array) => {
    if (bytes.length >= VIEW_MIN) {
      flushBlock()
      out.push(bytes)
      return
    }
    block.set(bytes, reserve(bytes.length))
  }

  const emitTag = (at: number, tag: number) => {
    blockView.setUint16(at, tag >>> 16, output.little)
    blockView.setUint16(at + 2, tag & 0xffff, output.little)
  }

  // An item or delimiter header in the output syntax.
  const emitMarker = (tag: number, length: number) => {
    const at = reserve(8)
    emitTag(at, tag)
    blockView.setUint32(at + 4, length, output.little)
  }

  const emitElement = (tag: number, vr: string, length: number) => {
    if (!output.explicit) return emitMarker(tag, length)
    const long = LONG_VRS.has(vr)
    const at = reserve(long ? 12 : 8)
    emitTag(at, tag)
    block[at + 4] = vr.charCodeAt(0)
    block[at + 5] = vr.charCodeAt(1)
    if (long) {
      block[at + 6] = 0
      block[at + 7] = 0
      blockView.setUint32(at + 8, length, output.little)
    } else blockView.setUint16(at + 6, length, output.little)
  }

  const startValue = (length: number, width: number) => {
    copy = length
    swap = length > 0 ? width : 0
    carried = 0
  }

  // One whole header in `header` (`size` bytes, just read): write it anew and set up its value.
  const step = (size: number) => {
    const frame = stack[stack.length - 1]!
    const syntax = frameSyntax(frame)
    const little = syntax.little
    const tag = ((view.getUint16(0, little) << 16) | view.getUint16(2, little)) >>> 0
    const at = pos - size
    if (frame.verbatim) {
      emitBytes(header.subarray(0, size))
      return verbatimStep(frame, tag, view.getUint32(4, little), at)
    }
    if (frame.kind === "items") {
      const length = view.getUint32(4, little)
      if (tag === 0xfffee0dd && frame.end === undefined) {
        emitMarker(0xfffee0dd, 0)
        stack.pop()
        return
      }
      if (tag !== 0xfffee000) return fail(`${tagText(tag)} at byte ${at} where an item was expected`)
      if (frame.depth + 1 > MAX_DEPTH) return fail("sequences nested too deep")
      if (length === 0) return emitMarker(0xfffee000, 0)
      emitMarker(0xfffee000, UNDEFINED)
      stack.push({
        kind: "elements",
        end: length === UNDEFINED ? undefined : pos + length,
        verbatim: false,
        depth: frame.depth + 1,
        pixelRepresentation: 0
      })
      return
    }
    if (tag >>> 16 === 0xfffe) {
      if (tag === 0xfffee00d && stack.length > 1 && frame.end === undefined) {
        emitMarker(0xfffee00d, 0)
        stack.pop()
        return
      }
      return fail(`unexpected ${tagText(tag)} at byte ${at}`)
    }
    let vr: string
    let length: number
    if (syntax.explicit) {
      vr = String.fromCharCode(header[4]!, header[5]!)
      if (!VRS.has(vr)) return fail(`${tagText(tag)} at byte ${at} has no valid VR`)
      length = size === 12 ? view.getUint32(8, little) : view.getUint16(6, little)
    } else {
      length = view.getUint32(4, little)
      vr = explicitVr(tag, length, vrOf, frame.pixelRepresentation)
    }
    if ((tag & 0xffff) === 0) {
      // A group length: not written, its value would be wrong.
      if (length === UNDEFINED) return fail(`group length ${tagText(tag)} of undefined length at byte ${at}`)
      drop = true
      return startValue(length, 0)
    }
    if (vr === "SQ" || (vr === "UN" && length === UNDEFINED)) {
      if (frame.depth + 1 > MAX_DEPTH) return fail("sequences nested too deep")
      const verbatim = vr === "UN"
      if (length === 0) return emitElement(tag, vr, 0)
      emitElement(tag, vr, UNDEFINED)
      stack.push({
        kind: "items",
        end: length === UNDEFINED ? undefined : pos + length,
        verbatim,
        depth: frame.depth + 1,
        pixelRepresentation: 0
      })
      return
    }
    if (length === UNDEFINED) return fail(`${tagText(tag)} (${vr}) of undefined length at byte ${at}: not native`)
    // Explicit syntaxes hold a 2-byte length for most VRs: a longer value is UN there (PS3.5 6.2.2).
    const written = output.explicit && !LONG_VRS.has(vr) && length > 0xffff ? "UN" : vr
    emitElement(tag, written, length)
    if (tag === PIXEL_REPRESENTATION && length === 2) {
      capture = frame
      captured = 0
      captureLittle = little
    }
    // A value written as UN is little endian in every syntax (PS3.5 6.2.2 note): not swapped.
    startValue(length, input.little === output.little ? 0 : (SWAP[written] ?? 0))
  }

  // A header inside a UN of undefined length, already copied: only its structure is followed.
  const verbatimStep = (frame: Frame, tag: number, length: number, at: number) => {
    if (frame.kind === "items") {
      if (tag === 0xfffee0dd) {
        stack.pop()
        return
      }
      if (tag !== 0xfffee000) return fail(`${tagText(tag)} at byte ${at} where an item was expected`)
      if (length !== UNDEFINED) return startValue(length, 0)
      if (frame.depth + 1 > MAX_DEPTH) return fail("sequences nested too deep")
      stack.push({ kind: "elements", end: undefined, verbatim: true, depth: frame.depth + 1, pixelRepresentation: 0 })
      return
    }
    if (tag === 0xfffee00d) {
      stack.pop()
      return
    }
    if (tag >>> 16 === 0xfffe) return fail(`unexpected ${tagText(tag)} at byte ${at}`)
    if (length !== UNDEFINED) return startValue(length, 0)
    if (frame.depth + 1 > MAX_DEPTH) return fail("sequences nested too deep")
    stack.push({ kind: "items", end: undefined, verbatim: true, depth: frame.depth + 1, pixelRepresentation: 0 })
  }

  // Closes the defined-length items and sequences that end here.
  const closeEnded = () => {
    for (;;) {
      const frame = stack[stack.length - 1]!
      if (frame.end === undefined || frame.verbatim) return
      if (pos > frame.end) return fail(`an element runs past the end of its item or sequence at byte ${frame.end}`)
      if (pos < frame.end) return
      emitMarker(frame.kind === "elements" ? 0xfffee00d : 0xfffee0dd, 0)
      stack.pop()
    }
  }

  // Value bytes chunk[i, i + n): copied (a view), swapped, dropped or read.
  const passValue = (chunk: Uint8Array, i: number, n: number) => {
    if (capture !== undefined) for (let k = 0; k < n && captured < 2; k++) captureBytes[captured++] = chunk[i + k]!
    if (drop) return
    if (swap === 0) {
      emitBytes(chunk.subarray(i, i + n))
      return
    }
    const total = carried + n
    const whole = total - (total % swap)
    if (whole === 0) {
      carry.set(chunk.subarray(i, i + n), carried)
      carried = total
      return
    }
    if (whole < VIEW_MIN) {
      // Short: swapped byte by byte into the block (its offset there may not be aligned for a word view).
      const at = reserve(whole)
      for (let k = 0; k < whole; k++) {
        const word = k - (k % swap)
        const from = word + swap - 1 - (k % swap)
        block[at + k] = from < carried ? carry[from]! : chunk[i + from - carried]!
      }
    } else {
      const swapped = new Uint8Array(whole)
      swapped.set(carry.subarray(0, carried), 0)
      swapped.set(chunk.subarray(i, i + whole - carried), carried)
      swapWords(swapped, swap)
      emitBytes(swapped)
    }
    // The bytes of a word not yet whole wait for the next chunk.
    carried = total - whole
    carry.set(chunk.subarray(i + n - carried, i + n), 0)
  }

  const endValue = () => {
    // A value whose length is not a whole number of words keeps its last bytes as they were.
    if (carried > 0 && !drop) emitBytes(carry.subarray(0, carried))
    carried = 0
    drop = false
    if (capture !== undefined) {
      capture.pixelRepresentation = captureLittle
        ? captureBytes[0]! | (captureBytes[1]! << 8)
        : (captureBytes[0]! << 8) | captureBytes[1]!
      capture = undefined
    }
  }

  const push = (chunk: Uint8Array): ReadonlyArray<Uint8Array> => {
    out = []
    let i = 0
    while (i < chunk.length && problem === undefined) {
      if (copy > 0) {
        const n = Math.min(copy, chunk.length - i)
        passValue(chunk, i, n)
        copy -= n
        i += n
        pos += n
        if (copy === 0) {
          endValue()
          closeEnded()
        }
        continue
      }
      let want = wanted()
      while (have < want && i < chunk.length) {
        header[have++] = chunk[i++]!
        pos++
        if (have === 8) want = wanted()
      }
      if (have < want) break
      have = 0
      step(want)
      if (copy === 0) {
        endValue()
        closeEnded()
      }
    }
    flushBlock()
    return problem === undefined ? out : []
  }

  const finish = (): { readonly bytes: ReadonlyArray<Uint8Array> } | TranscodeProblem => {
    if (problem !== undefined) return problem
    if (copy > 0) return { detail: `a value needs ${copy} more bytes than the data set's ${pos}` }
    if (have > 0) return { detail: `element header at byte ${pos - have} cut short` }
    if (stack.length > 1) return { detail: "a sequence or item has no end" }
    return { bytes: [] }
  }

  return { push, problem: () => problem, finish }
}
