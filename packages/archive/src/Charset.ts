/**
 * ISO 2022 code extensions of Specific Character Set (PS3.5 6.1.2.5), which dcmjs 0.52 does not decode: given
 * several character sets it decodes every byte with the first one and leaves the escape sequences in the text. This
 * module recovers the bytes of such strings (exact for the single-byte decoders dcmjs uses for a first value) and
 * decodes them again with `CharacterSet` of `@netdicom/net`, the decoder the DIMSE data sets use too. Text with an
 * escape sequence to a set it does not handle, or whose bytes cannot be recovered, stays as dcmjs decoded it and is
 * reported.
 *
 * @since 0.1.0
 */
import { TextDecoder } from "node:util"
import * as Result from "effect/Result"
import { CharacterSet } from "@netdicom/net"
import type { Dataset } from "./internal/Dcmjs.ts"

/** ISO 8859 and TIS 620 decoder labels by ISO-IR number, as dcmjs names them for a first value. */
const SINGLE_BY_IR: Readonly<Record<string, string>> = {
  "100": "latin1",
  "101": "iso-8859-2",
  "109": "iso-8859-3",
  "110": "iso-8859-4",
  "126": "iso-8859-7",
  "127": "iso-8859-6",
  "138": "iso-8859-8",
  "144": "iso-8859-5",
  "148": "iso-8859-9",
  "166": "tis-620"
}

/** The decoder label dcmjs uses for a first Specific Character Set value (its `encodingMapping`). */
const dcmjsLabel = (term: string): string | undefined => {
  const ir = /^ISO[ _]2022[ _]IR[ _](\d+)$/.exec(term)?.[1]
  if (term === "" || ir === "6") return "iso-8859-1"
  if (ir === "13") return "shift-jis"
  return ir === undefined ? undefined : SINGLE_BY_IR[ir]
}

const decoders = new Map<string, TextDecoder>()
/** A `TextDecoder` for `label`, made once. @internal */
export const decoder = (label: string): TextDecoder => {
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

/** Whether a data set needs `redecode`: several values, or an ISO 2022 first value. */
export const usesCodeExtensions = (terms: ReadonlyArray<string>): boolean => CharacterSet.usesCodeExtensions(terms)

/**
 * Decodes again, per ISO 2022, every string dcmjs left with escape sequences in. `terms` are the values of
 * Specific Character Set as written in the file. Gives the new data set and the number of strings it could not fix.
 */
export const redecode = (dataset: Dataset, terms: ReadonlyArray<string>): { dataset: Dataset; unresolved: number } => {
  const first = (terms[0] ?? "").trim()
  const label = dcmjsLabel(first)
  const decode = CharacterSet.decoderFor(terms)
  let unresolved = 0
  const fix = (value: unknown): unknown => {
    if (typeof value === "string") {
      if (!value.includes("\u001b")) return value
      const bytes = label === undefined ? undefined : recoverBytes(value, label)
      const text = bytes === undefined || Result.isFailure(decode) ? undefined : decode.success(bytes)
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

/**
 * The data set with the text inside its sequences' items decoded with its Specific Character Set. dcmjs 0.52 reads
 * each item with a decoder of its own, windows-1252 whatever the data set's character set (an ISO_IR 192 "Schädel"
 * in an item came out "SchÃ¤del"), while the top level is right: each string in an item is taken back to its bytes
 * (exact: that decoder maps every byte to a character of its own) and decoded with `terms`. A string that is not
 * windows-1252 text stays as it is. Nothing changes without a Specific Character Set or with code extensions (ISO
 * 2022: `redecode`), nor where the set's decoder is windows-1252 itself.
 */
export const redecodeItems = (dataset: Dataset, terms: ReadonlyArray<string>): Dataset => {
  if (terms.length === 0 || usesCodeExtensions(terms)) return dataset
  const decode = CharacterSet.decoderFor(terms)
  if (Result.isFailure(decode)) return dataset
  const fix = (value: unknown): unknown => {
    if (typeof value === "string") {
      if (isAscii(value)) return value
      const bytes = recoverBytes(value, ITEM_LABEL)
      return bytes === undefined ? value : decode.success(bytes)
    }
    if (Array.isArray(value)) return value.map(fix)
    if (typeof value === "object" && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fix(v)] as const))
    }
    return value
  }
  let changed: Record<string, unknown> | undefined
  for (const [keyword, value] of Object.entries(dataset)) {
    // a sequence's items, whatever its tag (a private one, a VR that is not its dictionary's): the naturalized
    // items; a person name is an array of objects too, and text read at the top level is decoded right already
    if (!Array.isArray(value) || !value.some(isItem)) continue
    changed ??= { ...dataset }
    changed[keyword] = value.map((v: unknown) => (isItem(v) ? fix(v) : v))
  }
  return changed ?? dataset
}

// An item as dcmjs naturalizes it: an object with its own `_vrMap` (a person name's object has none).
const isItem = (value: unknown): boolean =>
  typeof value === "object" && value !== null && !Array.isArray(value) && Object.hasOwn(value, "_vrMap")

// The decoder dcmjs reads an item's text with ("latin1": windows-1252, as TextDecoder labels it).
const ITEM_LABEL = "latin1"

const isAscii = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false
  return true
}
