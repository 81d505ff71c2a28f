/**
 * A structural check of a data set fed as consecutive chunks, in the order they arrive (PS3.5 section 7: data
 * elements; 7.5 nesting of sequences and items; A.4 encapsulated pixel data; 6.2.2 UN holding an implicit VR
 * sequence).
 *
 * It reads element headers only (tag, VR, length) and counts the value bytes past, so a data set of any size is
 * checked in constant memory, with no copy of what it is fed beyond a 12-byte header that spans two chunks. At the
 * end it says whether the data set was whole: a value, an item or a sequence that runs past the last byte, a
 * header cut short or a delimiter out of place is a `WalkProblem`. Nothing is decoded. Sequences and items are walked
 * into, whatever their length, to a depth of 64 (a stack, not recursion): one of defined length must hold whole
 * elements and items that end where it does, with no delimiter of its own and no item of undefined length left open
 * at its end. In Explicit VR a sequence is told by its VR (SQ); in Implicit VR by the data dictionary's (`vrOf`, the
 * caller's: wire holds no dictionary), so a private or unknown tag of defined length, or any tag without `vrOf`, is
 * an opaque value there. A UN of defined length is opaque in every syntax. A deflated data set (PS3.5 A.5) is not
 * walked here: inflate it and walk the result as Explicit VR Little Endian (the archive does).
 *
 * A storage SCP runs it over each data set it receives, so a truncated instance is refused instead of archived;
 * `netdicom store` over each file before sending it, seeking over the values (`skippable`, `pass`).
 *
 * @since 0.1.0
 */
import type { VrLookup } from "./Transcoder.ts"
import * as Uids from "./Uids.ts"

/** Why a data set is not whole, with the byte offset (from the data set's first byte) where it shows. */
export interface WalkProblem {
  readonly detail: string
}

/** A walker over one data set: `push` its bytes in order, then ask `finish` whether it was whole. */
export interface ElementWalker {
  readonly push: (chunk: Uint8Array) => void
  /** A problem seen in what was pushed so far (a delimiter out of place, nesting too deep...), without waiting. */
  readonly seen: () => WalkProblem | undefined
  /** Value bytes the walk passes over next without looking at them: a file reader may seek over them. */
  readonly skippable: () => number
  /** `n` (at most `skippable()`) value bytes were passed over without being pushed. */
  readonly pass: (n: number) => void
  /** The first problem seen, once everything was pushed; `undefined` when the data set is whole. */
  readonly finish: () => WalkProblem | undefined
  /**
   * Where (from the data set's first byte) the first top-level element starts that is Pixel Data (7FE0,0010) or
   * holds, at any depth, a value (or item of defined length) longer than `bulkValue`; undefined until one is seen.
   */
  readonly bulkAt: () => number | undefined
  /** Where the top-level element being walked starts (the next one's start between two elements). */
  readonly topStart: () => number
}

/** Options of a walker. */
export interface WalkerOptions {
  /** A value longer than this makes its top-level element `bulkAt` (default: none). */
  readonly bulkValue?: number
  /**
   * The data dictionary's VR of a tag, to tell a sequence of defined length in Implicit VR (`SQ`) from a value; without
   * it such a sequence is passed over as a value (`net/dimse/Transcode.vrOf` gives dcmjs's).
   */
  readonly vrOf?: VrLookup
}

const UNDEFINED = 0xffffffff
const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"])
const MAX_DEPTH = 64

const tagText = (group: number, element: number): string =>
  `(${group.toString(16).padStart(4, "0")},${element.toString(16).padStart(4, "0")})`

interface Syntax {
  readonly explicit: boolean
  readonly little: boolean
}

// Where the walk is: the elements of the top level or of an item, or the items of a sequence (or encapsulated pixel
// data). `end` is where (from the data set's first byte) an item or sequence of defined length ends, and the walk
// leaves it; `limit` the nearest such end at or above it (Infinity when none), which nothing inside may pass.
interface Bounds {
  readonly syntax: Syntax
  readonly depth: number
  readonly end: number | undefined
  readonly limit: number
}
type Frame =
  | (Bounds & { readonly kind: "elements"; readonly top: boolean })
  | (Bounds & {
      readonly kind: "items"
      readonly owner: string
      // Encapsulated pixel data: its items are fragments, each of defined length (PS3.5 A.4).
      readonly fragments: boolean
    })

/** A walker for a data set in `transferSyntaxUid` (an unknown syntax is walked as Explicit VR Little Endian). */
export const make = (transferSyntaxUid: string, options?: WalkerOptions): ElementWalker => {
  const info = Uids.transferSyntaxInfo(transferSyntaxUid)
  if (info?.deflated === true) {
    return {
      push: () => {},
      seen: () => undefined,
      skippable: () => 0,
      pass: () => {},
      finish: () => undefined,
      bulkAt: () => undefined,
      topStart: () => 0
    }
  }
  const bulkValue = options?.bulkValue ?? Infinity
  const vrOf = options?.vrOf
  const top: Syntax = { explicit: info?.explicitVr ?? true, little: info?.littleEndian ?? true }

  const stack: Array<Frame> = [{ kind: "elements", syntax: top, depth: 0, top: true, end: undefined, limit: Infinity }]
  const header = new Uint8Array(12)
  const view = new DataView(header.buffer)
  let have = 0
  let pos = 0
  // Value bytes still to pass, and what they belong to (for the message when they never come): an element's tag as
  // one number (formatted only for that message), or the text naming an item.
  let skip = 0
  let skipping: number | string = ""
  let skipStart = 0
  let problem: WalkProblem | undefined
  // Start of the top-level element being walked, and of the first bulk one.
  let topAt = 0
  let bulk: number | undefined

  const fail = (detail: string) => {
    problem ??= { detail }
  }

  // How many header bytes the current frame needs: 8, or 12 for an explicit VR element with a 32-bit length.
  const wanted = (): number => {
    const frame = stack[stack.length - 1]!
    if (frame.kind === "items" || !frame.syntax.explicit || have < 8) return 8
    if (view.getUint16(0, frame.syntax.little) === 0xfffe) return 8
    const vr = String.fromCharCode(header[4]!, header[5]!)
    return LONG_VRS.has(vr) ? 12 : 8
  }

  // The value of the header just read (at `at`): past the end of the item or sequence holding it, it is a problem.
  const passValue = (length: number, what: number | string, at: number, limit: number) => {
    if (pos + length > limit) {
      const name = typeof what === "number" ? tagText(what >>> 16, what & 0xffff) : what
      return fail(`${name} at byte ${at} (${length} bytes) runs past the end of its item or sequence at byte ${limit}`)
    }
    if (length > bulkValue) bulk ??= topAt
    skip = length
    skipping = what
    skipStart = pos
  }

  // Into a sequence or item: of undefined length up to its delimiter, of defined `length` up to its end.
  const enter = (frame: Frame, length: number, at: number, inner: Frame) => {
    if (frame.depth + 1 > MAX_DEPTH) return fail("sequences nested too deep")
    if (length !== UNDEFINED) {
      if (pos + length > frame.limit) {
        return fail(
          `${what(inner)} at byte ${at} (${length} bytes) runs past the end of its enclosing one at byte ${frame.limit}`
        )
      }
      if (length > bulkValue) bulk ??= topAt
    }
    stack.push(inner)
  }

  const what = (frame: Frame): string => (frame.kind === "items" ? frame.owner : "an item")

  // One whole header in `header`: act on it.
  const step = (size: number) => {
    const frame = stack[stack.length - 1]!
    const little = frame.syntax.little
    const group = view.getUint16(0, little)
    const element = view.getUint16(2, little)
    const at = pos - size
    if (pos > frame.limit) {
      return fail(`the element header at byte ${at} runs past the end of its item or sequence at byte ${frame.limit}`)
    }
    const depth = frame.depth + 1
    if (frame.kind === "items") {
      const length = view.getUint32(4, little)
      if (group === 0xfffe && element === 0xe0dd) {
        if (frame.end !== undefined)
          return fail(`a sequence delimiter at byte ${at} in ${frame.owner} of defined length`)
        stack.pop()
        return
      }
      if (group !== 0xfffe || element !== 0xe000) {
        return fail(`${tagText(group, element)} at byte ${at} where an item of ${frame.owner} was expected`)
      }
      if (frame.fragments) {
        if (length === UNDEFINED) return fail(`a fragment of undefined length in ${frame.owner} at byte ${at}`)
        return passValue(length, `an item of ${frame.owner}`, at, frame.limit)
      }
      if (length === 0) return
      const end = length === UNDEFINED ? undefined : pos + length
      const limit = end ?? frame.limit
      return enter(frame, length, at, { kind: "elements", syntax: frame.syntax, depth, top: false, end, limit })
    }
    if (group === 0xfffe) {
      if (element === 0xe00d && !frame.top) {
        if (frame.end !== undefined) return fail(`an item delimiter at byte ${at} in an item of defined length`)
        stack.pop()
        return
      }
      return fail(`unexpected ${tagText(group, element)} at byte ${at}`)
    }
    if (frame.top) {
      topAt = at
      if (group === 0x7fe0 && element === 0x0010) bulk ??= at
    }
    let vr = ""
    let length: number
    if (frame.syntax.explicit) {
      vr = String.fromCharCode(header[4]!, header[5]!)
      length = size === 12 ? view.getUint32(8, little) : view.getUint16(6, little)
    } else length = view.getUint32(4, little)
    if (length !== UNDEFINED) {
      if (length === 0 || !isSequence(frame.syntax, vr, group, element)) {
        return passValue(length, group * 0x10000 + element, at, frame.limit)
      }
      const end = pos + length
      const owner = tagText(group, element)
      const inner: Frame = { kind: "items", syntax: frame.syntax, depth, owner, fragments: false, end, limit: end }
      return enter(frame, length, at, inner)
    }
    // A sequence, encapsulated pixel data, or UN holding an implicit VR sequence (PS3.5 6.2.2).
    const syntax = vr === "UN" ? { explicit: false, little: true } : frame.syntax
    const fragments = frame.syntax.explicit ? vr !== "SQ" && vr !== "UN" : group === 0x7fe0 && element === 0x0010
    const owner = tagText(group, element)
    enter(frame, length, at, { kind: "items", syntax, depth, owner, fragments, end: undefined, limit: frame.limit })
  }

  // Whether an element of defined length is a sequence: its VR says so, or in Implicit VR the dictionary's does (a
  // private tag never: its VR is not known).
  const isSequence = (syntax: Syntax, vr: string, group: number, element: number): boolean => {
    if (syntax.explicit) return vr === "SQ"
    return vrOf !== undefined && group % 2 === 0 && vrOf(((group << 16) | element) >>> 0) === "SQ"
  }

  // Leaves the items and sequences of defined length that end here; an item or sequence of undefined length still
  // open at the end of the one of defined length holding it is never delimited in it.
  const closeEnded = () => {
    for (;;) {
      const frame = stack[stack.length - 1]!
      if (pos < frame.limit) return
      if (frame.end === undefined) {
        return fail(
          `${what(frame)} of undefined length is not delimited before the end of the one holding it, ` +
            `at byte ${frame.limit}`
        )
      }
      stack.pop()
    }
  }

  const push = (chunk: Uint8Array) => {
    let i = 0
    while (i < chunk.length && problem === undefined) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - i)
        skip -= n
        i += n
        pos += n
        if (skip === 0) closeEnded()
        continue
      }
      // Header bytes: the first 8, then 4 more if they show a long explicit VR.
      let want = wanted()
      while (have < want && i < chunk.length) {
        header[have++] = chunk[i++]!
        pos++
        if (have === 8) want = wanted()
      }
      if (have < want) return
      have = 0
      step(want)
      if (skip === 0 && problem === undefined) closeEnded()
    }
  }

  const finish = (): WalkProblem | undefined => {
    if (problem !== undefined) return problem
    if (skip > 0) {
      const length = pos - skipStart + skip
      const what = typeof skipping === "number" ? tagText(skipping >>> 16, skipping & 0xffff) : skipping
      return { detail: `${what} needs ${length} bytes at byte ${skipStart}, the data set has ${pos - skipStart}` }
    }
    if (have > 0) return { detail: `element header at byte ${pos - have} cut short` }
    const frame = stack[stack.length - 1]!
    if (frame.end !== undefined) return { detail: `${what(frame)} ends at byte ${frame.end}, the data set at ${pos}` }
    if (frame.kind === "items") return { detail: `${frame.owner} has no sequence delimiter` }
    if (!frame.top) return { detail: "an item has no delimiter" }
    return undefined
  }

  const pass = (n: number) => {
    const passed = Math.min(Math.max(n, 0), skip)
    skip -= passed
    pos += passed
    if (passed > 0 && skip === 0) closeEnded()
  }

  const topStart = (): number => (stack.length === 1 && skip === 0 ? pos - have : topAt)

  return {
    push,
    seen: () => problem,
    skippable: () => (problem === undefined ? skip : 0),
    pass,
    finish,
    bulkAt: () => bulk,
    topStart
  }
}
