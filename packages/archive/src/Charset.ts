/**
 * ISO 2022 code extensions of Specific Character Set (PS3.5 6.1.2.5, PS3.3 C.12.1.1.2 Tables C.12-3 and C.12-4),
 * which dcmjs 0.52 does not decode: given several character sets it decodes every byte with the first one and
 * leaves the escape sequences in the text. This module recovers the bytes of such strings (exact for the
 * single-byte decoders dcmjs uses for a first value) and decodes them again, switching G0/G1 on each escape
 * sequence and going back to the initial sets at the delimiters PS3.5 6.1.2.5.3 names.
 *
 * Supported escapes: ASCII (IR 6), JIS X 0201 Romaji (IR 14) and Katakana (IR 13), JIS X 0208 (IR 87),
 * JIS X 0212 (IR 159), KS X 1001 (IR 149), GB 2312 (IR 58), and the ISO 8859 G1 sets (IR 100, 101, 109, 110, 126,
 * 127, 138, 144, 148) and TIS 620 (IR 166). Other escapes, or text whose bytes cannot be recovered, stay as dcmjs
 * decoded them and are reported.
 *
 * @since 0.1.0
 */
import { TextDecoder } from "node:util"
import type { Dataset } from "./internal/Dcmjs.ts"

const ESC = 0x1b

/** A coded character set a G0 or G1 register can hold. */
type Charset =
  | { readonly _tag: "Ascii" }
  | { readonly _tag: "Romaji" }
  | { readonly _tag: "Katakana" }
  | { readonly _tag: "Single"; readonly label: string }
  | { readonly _tag: "Double"; readonly label: string; readonly prefix: ReadonlyArray<number>; readonly high: boolean }

const ASCII: Charset = { _tag: "Ascii" }
const ROMAJI: Charset = { _tag: "Romaji" }
const KATAKANA: Charset = { _tag: "Katakana" }
const JIS_X_0208: Charset = { _tag: "Double", label: "euc-jp", prefix: [], high: false }
const JIS_X_0212: Charset = { _tag: "Double", label: "euc-jp", prefix: [0x8f], high: false }
const KS_X_1001: Charset = { _tag: "Double", label: "euc-kr", prefix: [], high: true }
const GB_2312: Charset = { _tag: "Double", label: "gbk", prefix: [], high: true }

/** ISO 8859 and TIS 620 G1 sets by the final byte of `ESC - F` and by ISO-IR number. */
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

/** The decoder label dcmjs uses for a first Specific Character Set value (its `encodingMapping`). */
const dcmjsLabel = (term: string): string | undefined => {
  const ir = /^ISO[ _]2022[ _]IR[ _](\d+)$/.exec(term)?.[1]
  if (term === "" || ir === "6") return "iso-8859-1"
  if (ir === "13") return "shift-jis"
  if (ir === "100") return "latin1"
  const final = ir === undefined ? undefined : SINGLE_BY_IR[ir]
  return final === undefined ? undefined : SINGLE_BY_FINAL[final]
}

/** The initial G0 and G1 for a first Specific Character Set value. */
const initialState = (term: string): { readonly g0: Charset; readonly g1: Charset | undefined } => {
  const ir = /^ISO[ _]2022[ _]IR[ _](\d+)$/.exec(term)?.[1]
  if (ir === "13") return { g0: ROMAJI, g1: KATAKANA }
  if (ir === "149") return { g0: ASCII, g1: KS_X_1001 }
  if (ir === "58") return { g0: ASCII, g1: GB_2312 }
  const final = ir === undefined ? undefined : SINGLE_BY_IR[ir]
  const label = final === undefined ? undefined : SINGLE_BY_FINAL[final]
  return { g0: ASCII, g1: label === undefined ? undefined : { _tag: "Single", label } }
}

const decoders = new Map<string, TextDecoder>()
const decoder = (label: string): TextDecoder => {
  let d = decoders.get(label)
  if (d === undefined) {
    d = new TextDecoder(label)
    decoders.set(label, d)
  }
  return d
}

const inverses = new Map<string, ReadonlyMap<string, number>>()
/** Character to byte for the single bytes a decoder maps to one character. */
const inverse = (label: string): ReadonlyMap<string, number> => {
  let map = inverses.get(label)
  if (map === undefined) {
    const m = new Map<string, number>()
    for (let b = 0; b < 256; b++) {
      const s = decoder(label).decode(Uint8Array.of(b))
      if (s.length === 1 && s !== "\ufffd" && !m.has(s)) m.set(s, b)
    }
    inverses.set(label, m)
    map = m
  }
  return map
}

/** Recovers the bytes dcmjs decoded with `label`; undefined when a character has no single byte. */
const recoverBytes = (text: string, label: string): Uint8Array | undefined => {
  const map = inverse(label)
  const out = new Uint8Array(text.length)
  for (let i = 0; i < text.length; i++) {
    const b = map.get(text[i]!)
    if (b === undefined) return undefined
    out[i] = b
  }
  return out
}

/** The set an escape sequence designates, the register, and the sequence length; undefined when unknown. */
const escape = (bytes: Uint8Array, at: number): { set: Charset; g: 0 | 1; length: number } | undefined => {
  const s = String.fromCharCode(...bytes.subarray(at + 1, at + 4))
  if (s.startsWith("(B")) return { set: ASCII, g: 0, length: 3 }
  if (s.startsWith("(J")) return { set: ROMAJI, g: 0, length: 3 }
  if (s.startsWith(")I")) return { set: KATAKANA, g: 1, length: 3 }
  if (s.startsWith("$B") || s.startsWith("$@")) return { set: JIS_X_0208, g: 0, length: 3 }
  if (s === "$(D") return { set: JIS_X_0212, g: 0, length: 4 }
  if (s === "$)C") return { set: KS_X_1001, g: 1, length: 4 }
  if (s === "$)A") return { set: GB_2312, g: 1, length: 4 }
  const final = s[0] === "-" ? SINGLE_BY_FINAL[s[1] ?? ""] : undefined
  if (final !== undefined) return { set: { _tag: "Single", label: final }, g: 1, length: 3 }
  return undefined
}

const DELIMITERS = new Set([0x0a, 0x0c, 0x0d, 0x09, 0x5c, 0x5e, 0x3d])

/** Decodes ISO 2022 bytes; undefined on an unknown escape sequence. */
const decode2022 = (bytes: Uint8Array, term: string): string | undefined => {
  const initial = initialState(term)
  let { g0, g1 } = initial
  let out = ""
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
    if (set !== undefined && set._tag === "Double") {
      const pair = bytes.subarray(i, i + 2)
      const coded = set.high ? [...pair] : [...pair].map((x) => x | 0x80)
      out += decoder(set.label).decode(Uint8Array.from([...set.prefix, ...coded]))
      i += 2
      continue
    }
    if (set === undefined || set._tag === "Ascii") out += String.fromCharCode(b)
    else if (set._tag === "Romaji") out += b === 0x5c ? "\u00a5" : b === 0x7e ? "\u203e" : String.fromCharCode(b)
    else if (set._tag === "Katakana") out += String.fromCharCode(0xff61 + ((b | 0x80) - 0xa1))
    else out += decoder(set.label).decode(Uint8Array.of(b))
    // PS3.5 6.1.2.5.3: the initial sets are active again after these delimiters
    if (b < 0x80 && DELIMITERS.has(b)) ({ g0, g1 } = initial)
    i++
  }
  return out
}

/** Whether a data set needs `redecode`: several values, or an ISO 2022 first value. */
export const usesCodeExtensions = (terms: ReadonlyArray<string>): boolean =>
  terms.length > 1 || (terms[0] ?? "").startsWith("ISO 2022")

/**
 * Decodes again, per ISO 2022, every string dcmjs left with escape sequences in. `terms` are the values of
 * Specific Character Set as written in the file. Gives the new data set and the number of strings it could not fix.
 */
export const redecode = (dataset: Dataset, terms: ReadonlyArray<string>): { dataset: Dataset; unresolved: number } => {
  const first = (terms[0] ?? "").trim()
  const label = dcmjsLabel(first)
  let unresolved = 0
  const fix = (value: unknown): unknown => {
    if (typeof value === "string") {
      if (!value.includes("\u001b")) return value
      const bytes = label === undefined ? undefined : recoverBytes(value, label)
      const text = bytes === undefined ? undefined : decode2022(bytes, first)
      if (text === undefined) unresolved++
      return text ?? value
    }
    if (Array.isArray(value)) return value.map(fix)
    if (typeof value === "object" && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fix(v)] as const))
    }
    return value
  }
  return { dataset: fix(dataset) as Dataset, unresolved }
}
