/**
 * Specific Character Set (0008,0005): from its values to a decoder of text bytes (PS3.5 6.1, PS3.3 C.12.1.1.2).
 *
 * A single value that is no ISO 2022 term is decoded by the `TextDecoder` dcmjs names for it (its
 * `encodingMapping`: ISO_IR 100 ... 166, ISO_IR 192, GB18030, GBK). ISO 2022 terms, and several values (code
 * extensions, PS3.5 6.1.2.5), are decoded by switching G0/G1 on each escape sequence and going back to the initial
 * sets at the delimiters PS3.5 6.1.2.5.3 names; every code element is decoded by a `TextDecoder`.
 *
 * Supported code elements: ASCII (IR 6), JIS X 0201 Romaji (IR 14, read as ASCII so that 5CH stays the value
 * delimiter) and Katakana (IR 13), JIS X 0208 (IR 87), JIS X 0212 (IR 159), KS X 1001 (IR 149), GB 2312 (IR 58),
 * and the ISO 8859 G1 sets (IR 100, 101, 109, 110, 126, 127, 138, 144, 148) and TIS 620 (IR 166). Shared by the
 * DIMSE data sets (`DataSet`) and the archive.
 *
 * @since 0.1.0
 */
import { TextDecoder } from "node:util"
import * as Result from "effect/Result"
import * as Dcmjs from "./Dcmjs.ts"

/** Decodes the bytes of one text value; undefined when they hold an escape sequence to an unknown set. */
export type Decode = (bytes: Uint8Array) => string | undefined

const ESC = 0x1b

/** A coded character set a G0 or G1 register can hold. */
type CodeElement =
  | { readonly _tag: "Ascii" }
  | { readonly _tag: "Katakana" }
  | { readonly _tag: "Single"; readonly label: string }
  | { readonly _tag: "Double"; readonly label: string; readonly prefix: ReadonlyArray<number>; readonly high: boolean }

const ASCII: CodeElement = { _tag: "Ascii" }
const KATAKANA: CodeElement = { _tag: "Katakana" }
const JIS_X_0208: CodeElement = { _tag: "Double", label: "euc-jp", prefix: [], high: false }
const JIS_X_0212: CodeElement = { _tag: "Double", label: "euc-jp", prefix: [0x8f], high: false }
const KS_X_1001: CodeElement = { _tag: "Double", label: "euc-kr", prefix: [], high: true }
const GB_2312: CodeElement = { _tag: "Double", label: "gbk", prefix: [], high: true }

/** ISO 8859 and TIS 620 G1 sets by the final byte of `ESC - F`, and by ISO-IR number. */
const SINGLE_BY_FINAL: Readonly<Record<string, string>> = {
  A: "iso-8859-1",
  B: "iso-8859-2",
  C: "iso-8859-3",
  D: "iso-8859-4",
  F: "iso-8859-7",
  G: "iso-8859-6",
  H: "iso-8859-8",
  L: "iso-8859-5",
  M: "iso-8859-9",
  T: "tis-620"
}
const SINGLE_BY_IR: Readonly<Record<string, string>> = {
  "100": "A",
  "101": "B",
  "109": "C",
  "110": "D",
  "126": "F",
  "127": "G",
  "138": "H",
  "144": "L",
  "148": "M",
  "166": "T"
}

const irOf = (term: string): string | undefined => /^ISO 2022 IR (\d+)$/.exec(term)?.[1]

interface Registers {
  readonly g0: CodeElement
  readonly g1: CodeElement | undefined
}

/** The initial G0 and G1 an ISO 2022 first value sets up; undefined for a term this module does not know. */
const initialState = (term: string): Registers | undefined => {
  if (term === "") return { g0: ASCII, g1: undefined }
  const ir = irOf(term)
  if (ir === "6" || ir === "14") return { g0: ASCII, g1: undefined }
  if (ir === "13") return { g0: ASCII, g1: KATAKANA }
  if (ir === "87") return { g0: JIS_X_0208, g1: undefined }
  if (ir === "159") return { g0: JIS_X_0212, g1: undefined }
  if (ir === "149") return { g0: ASCII, g1: KS_X_1001 }
  if (ir === "58") return { g0: ASCII, g1: GB_2312 }
  const label = SINGLE_BY_FINAL[SINGLE_BY_IR[ir ?? ""] ?? ""]
  return label === undefined ? undefined : { g0: ASCII, g1: { _tag: "Single", label } }
}

const decoders = new Map<string, TextDecoder>()
const textDecoder = (label: string): TextDecoder => {
  let d = decoders.get(label)
  if (d === undefined) {
    d = new TextDecoder(label)
    decoders.set(label, d)
  }
  return d
}

interface Designation {
  readonly set: CodeElement
  readonly g: 0 | 1
  readonly length: number
}
const TO_ASCII: Designation = { set: ASCII, g: 0, length: 3 }
const TO_KATAKANA: Designation = { set: KATAKANA, g: 1, length: 3 }
const TO_JIS_X_0208: Designation = { set: JIS_X_0208, g: 0, length: 3 }
const TO_JIS_X_0212: Designation = { set: JIS_X_0212, g: 0, length: 4 }
const TO_KS_X_1001: Designation = { set: KS_X_1001, g: 1, length: 4 }
const TO_GB_2312: Designation = { set: GB_2312, g: 1, length: 4 }
const TO_SINGLE = new Map<number, Designation>(
  Object.entries(SINGLE_BY_FINAL).map(([final, label]) => [
    final.charCodeAt(0),
    { set: { _tag: "Single", label }, g: 1, length: 3 }
  ])
)

/** The set an escape sequence designates, the register, and the sequence length; undefined when unknown. */
const escape = (bytes: Uint8Array, at: number): Designation | undefined => {
  const b1 = bytes[at + 1]
  const b2 = bytes[at + 2]
  if (b1 === 0x28) return b2 === 0x42 || b2 === 0x4a ? TO_ASCII : undefined // ( B, ( J
  if (b1 === 0x29) return b2 === 0x49 ? TO_KATAKANA : undefined // ) I
  if (b1 === 0x2d) return b2 === undefined ? undefined : TO_SINGLE.get(b2) // - F
  if (b1 !== 0x24) return undefined
  if (b2 === 0x42 || b2 === 0x40) return TO_JIS_X_0208 // $ B, $ @
  const b3 = bytes[at + 3]
  if (b2 === 0x28) return b3 === 0x44 ? TO_JIS_X_0212 : undefined // $ ( D
  if (b2 === 0x29) return b3 === 0x43 ? TO_KS_X_1001 : b3 === 0x41 ? TO_GB_2312 : undefined // $ ) C, $ ) A
  return undefined
}

/** Whether a byte is in 21H-7EH or A1H-FEH (GL or GR, the 94 graphic positions). */
const graphic = (b: number): boolean => (b & 0x7f) > 0x20 && (b & 0x7f) < 0x7f

const DELIMITERS = new Set([0x0a, 0x0c, 0x0d, 0x09, 0x5c, 0x5e, 0x3d])

/** The UTF-16 code unit of each byte in a single-byte decoder (a byte that decodes to more is U+FFFD). */
const singleTables = new Map<string, Uint16Array>()
const singleTable = (label: string): Uint16Array => {
  let table = singleTables.get(label)
  if (table === undefined) {
    const d = textDecoder(label)
    table = new Uint16Array(256)
    for (let b = 0; b < 256; b++) {
      const s = d.decode(Uint8Array.of(b))
      table[b] = s.length === 1 ? s.charCodeAt(0) : 0xfffd
    }
    singleTables.set(label, table)
  }
  return table
}

/** The text of each two-byte code met so far, per set (at most 65536 each). */
const pairTables = new Map<CodeElement, Map<number, string>>()
const pairText = (set: CodeElement & { readonly _tag: "Double" }, b1: number, b2: number): string => {
  let table = pairTables.get(set)
  if (table === undefined) pairTables.set(set, (table = new Map()))
  const key = (b1 << 8) | b2
  let text = table.get(key)
  if (text === undefined) {
    const high = set.high ? 0 : 0x80
    text = textDecoder(set.label).decode(Uint8Array.of(...set.prefix, b1 | high, b2 | high))
    table.set(key, text)
  }
  return text
}

/**
 * Decodes ISO 2022 bytes from the initial registers; undefined on an unknown escape sequence. Every character is
 * looked up (a table per single-byte set, a cache per two-byte set), so that the time stays a small constant per
 * byte however often the sets change.
 */
const decode2022 = (bytes: Uint8Array, initial: Registers): string | undefined => {
  let { g0, g1 } = initial
  // a two-byte code gives at most three code units (JIS X 0212's 8FH prefix, all three refused)
  const out = new Uint16Array(Math.ceil(bytes.length * 1.5) + 4)
  let n = 0
  let i = 0
  while (i < bytes.length) {
    const b = bytes[i]!
    if (b === ESC) {
      const e = escape(bytes, i)
      if (e === undefined) return undefined
      if (e.g === 0) g0 = e.set
      else g1 = e.set
      i += e.length
      continue
    }
    const set = b < 0x80 ? g0 : g1
    // a pair is two graphic bytes: C0 controls (ESC, CR, LF...) and SPACE are never part of a 94x94 set, so an odd
    // two-byte run swallows neither an escape sequence nor a delimiter
    if (set !== undefined && set._tag === "Double" && i + 1 < bytes.length && graphic(b) && graphic(bytes[i + 1]!)) {
      const text = pairText(set, b, bytes[i + 1]!)
      for (let k = 0; k < text.length; k++) out[n++] = text.charCodeAt(k)
      i += 2
      continue
    }
    if (set === undefined || set._tag === "Ascii" || set._tag === "Double") out[n++] = singleTable("latin1")[b]!
    else if (set._tag === "Katakana") out[n++] = singleTable("shift_jis")[b | 0x80]!
    else out[n++] = singleTable(set.label)[b]!
    // PS3.5 6.1.2.5.3: the initial sets are active again after these delimiters
    if (b < 0x80 && DELIMITERS.has(b)) ({ g0, g1 } = initial)
    i++
  }
  return textDecoder("utf-16le").decode(out.subarray(0, n))
}

interface DcmjsConstants {
  readonly constants: { readonly encodingMapping: Readonly<Record<string, string | undefined>> }
}
const dcmjs = (): DcmjsConstants => Dcmjs.module() as DcmjsConstants

const BASIC_G0 = new Set(["", "ISO 2022 IR 6"])

const SHOWN = 64

/**
 * Peer text for a message: JSON-quoted (control characters, CR and LF included, escaped) and cut to 64 characters
 * with its length, so that a hostile value can neither forge log lines nor make a message as large as itself.
 */
export const quote = (text: string): string =>
  text.length <= SHOWN ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, SHOWN))}... (${text.length} characters)`

/** Whether the values use ISO 2022 (several values, or an ISO 2022 first value). */
export const usesCodeExtensions = (values: ReadonlyArray<string>): boolean =>
  values.length > 1 || (values[0] ?? "").trim().startsWith("ISO 2022")

/**
 * The decoder for the (trimmed) values of a Specific Character Set, or why there is none: an unknown defined term,
 * or an ISO 2022 term this module does not handle.
 */
export const decoderFor = (values: ReadonlyArray<string>): Result.Result<Decode, string> => {
  const terms = values.map((v) => v.trim())
  const [first = "", ...rest] = terms
  if (!usesCodeExtensions(terms) || (rest.every((v) => BASIC_G0.has(v)) && !first.startsWith("ISO 2022"))) {
    const label = dcmjs().constants.encodingMapping[first.replace(/[_ ]/g, "-").toLowerCase()]
    if (label === undefined) return Result.fail(`unsupported Specific Character Set ${quote(terms.join("\\"))}`)
    try {
      const d = new TextDecoder(label)
      return Result.succeed((bytes) => d.decode(bytes))
    } catch {
      return Result.fail(`no decoder for Specific Character Set ${quote(terms.join("\\"))} (${label})`)
    }
  }
  const initial = initialState(first)
  const unknown = terms.filter((t, i) => (i === 0 ? initial === undefined : initialState(t) === undefined))
  if (initial === undefined || unknown.length > 0) {
    return Result.fail(
      `unsupported code extensions ${quote(unknown.join(", "))} in Specific Character Set ${quote(terms.join("\\"))}`
    )
  }
  return Result.succeed((bytes) => decode2022(bytes, initial))
}
