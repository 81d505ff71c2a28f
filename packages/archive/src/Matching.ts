/**
 * Attribute matching for C-FIND (PS3.4 C.2.2.2): single value, universal, wildcard (`*`, `?`), list of UID, range
 * (DA, TM, DT) and sequence matching, on naturalized (dcmjs) values.
 *
 * - Single value matching is exact after trimming leading and trailing spaces (C.2.2.2.1); Person Name is
 *   compared case-insensitively when asked (the common practice the standard allows for PN), and a PN key
 *   without `=` is tried against each component group (alphabetic, ideographic, phonetic).
 * - A key with several values (backslash-separated or an array) matches when any of them matches any stored
 *   value: list of UID matching (C.2.2.2.2) for UI, and the same rule for other VRs (what PS3.4 C.2.2.2.8
 *   "multiple value matching" describes).
 * - `*` alone is universal matching (C.2.2.2.3); wildcards are honoured for AE, CS, LO, LT, PN, SH, ST, UC, UR, UT
 *   (C.2.2.2.4) and refused for UI (`IdentifierDoesNotMatchSopClass`, 0xA900, naming the key).
 * - Ranges are inclusive; a missing bound is open (C.2.2.2.5). Bounds and stored values are padded to full
 *   precision (a lower bound with zeros, an upper bound with the largest value), so `1300` as an upper time bound
 *   includes 13:00:59.999999. Combined date-time matching of a DA/TM pair (an extended negotiation option) is not
 *   supported; the time zone of a DT is ignored.
 * - Sequence matching (C.2.2.2.6): the first item of the key holds the sub-keys; a stored sequence matches when
 *   any of its items matches every sub-key, and only matching items, cut to the sub-keys, are returned.
 *
 * Not covered: empty value matching (`""`, C.2.2.2.7), fuzzy semantic PN matching, time zone adjustment.
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import { Text } from "@netdicom/wire"
import { IdentifierDoesNotMatchSopClass, type QueryError, UnableToProcess } from "./ArchiveError.ts"
import * as Dcmjs from "./internal/Dcmjs.ts"
import type { Dataset } from "./internal/Dcmjs.ts"

/** Options of matching. */
export interface MatchOptions {
  /** Compare Person Name values case-insensitively (default in `ArchiveIndex`: true). */
  readonly caseInsensitivePersonName: boolean
}

/** One value of a key, with its test on one stored value (a trimmed string). */
export type ValueMatch = (
  | { readonly _tag: "Single"; readonly value: string }
  | { readonly _tag: "Wildcard"; readonly value: string }
  | { readonly _tag: "Range"; readonly lower: string | undefined; readonly upper: string | undefined }
) & { readonly test: (stored: string) => boolean }

/** How a key matches. */
export type KeyMatch =
  | { readonly _tag: "Universal" }
  | { readonly _tag: "Values"; readonly values: ReadonlyArray<ValueMatch> }
  | { readonly _tag: "Sequence"; readonly keys: ReadonlyArray<CompiledKey> }

/** A key of an identifier, ready to test stored values and build the response value. */
export interface CompiledKey {
  readonly keyword: string
  readonly vr: string
  readonly match: KeyMatch
  /** Whether a stored (naturalized) value matches. */
  readonly test: (stored: unknown) => boolean
  /** The value to return for a matching entity: the stored value, or for a sequence the matching items cut down. */
  readonly respond: (stored: unknown) => unknown
}

const NUMERIC = new Set(["IS", "DS", "US", "SS", "UL", "SL", "FL", "FD", "SV", "UV", "AT"])
const WILDCARD = new Set(["AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT", "UN"])
const SINGLE_VALUED_TEXT = new Set(["LT", "ST", "UT", "UR"])

/** The VR of a keyword (or 8 hex digit tag) per the dcmjs dictionary; ambiguous VRs resolve to their first. */
export const vrOf = (keyword: string, vrMap?: unknown): string => {
  const mapped = typeof vrMap === "object" && vrMap !== null ? (vrMap as Record<string, unknown>)[keyword] : undefined
  const vr = typeof mapped === "string" ? mapped : (Dcmjs.lookup(keyword)?.vr ?? "UN")
  if (vr === "xs") return "US"
  if (vr === "ox") return "OB"
  const first = /^[A-Z]{2}/.exec(vr)
  return first === null ? "UN" : first[0]
}

/** A Person Name value (string or dcmjs `{ Alphabetic, Ideographic, Phonetic }`) as `A=I=P`. */
export const personNameString = (value: unknown): string => {
  if (typeof value === "string") return value
  if (typeof value !== "object" || value === null) return ""
  const pn = value as { readonly Alphabetic?: unknown; readonly Ideographic?: unknown; readonly Phonetic?: unknown }
  const groups = [pn.Alphabetic, pn.Ideographic, pn.Phonetic].map((g) => (typeof g === "string" ? g : ""))
  return Text.trimEnd(groups.join("="), "=")
}

/** A Person Name string `A=I=P` as dcmjs naturalizes it. */
export const personNameValue = (value: string): Record<string, string> => {
  const [alphabetic = "", ideographic = "", phonetic = ""] = value.split("=")
  const out: Record<string, string> = { Alphabetic: alphabetic }
  if (ideographic !== "") out["Ideographic"] = ideographic
  if (phonetic !== "") out["Phonetic"] = phonetic
  return out
}

/** The values of a naturalized (or query) value as trimmed strings; empty values are dropped. */
export const strings = (vr: string, value: unknown): ReadonlyArray<string> => {
  if (value === undefined || value === null) return []
  const items: ReadonlyArray<unknown> = Array.isArray(value) ? value : [value]
  const out: Array<string> = []
  for (const item of items) {
    const text =
      vr === "PN" ? personNameString(item) : typeof item === "string" || typeof item === "number" ? String(item) : ""
    const parts = SINGLE_VALUED_TEXT.has(vr) ? [text] : text.split("\\")
    for (const part of parts) {
      const trimmed = Text.trimEnd(part, "\0").trim()
      if (trimmed !== "") out.push(trimmed)
    }
  }
  return out
}

const fold = (s: string, caseInsensitive: boolean): string => {
  const n = s.normalize("NFC")
  return caseInsensitive ? n.toLowerCase() : n
}

/** Person Name normal form: no trailing `^` in a group, no trailing empty groups. */
const personName = (s: string, caseInsensitive: boolean): string =>
  fold(
    Text.trimEnd(
      s
        .split("=")
        .map((g) => Text.trimEnd(g.trim(), "^"))
        .join("="),
      "="
    ),
    caseInsensitive
  )

/**
 * Whether `text` matches a pattern of `*` (any run, possibly empty) and `?` (one character), both lists of code
 * points. Greedy, resuming only after the latest `*`: O(pattern × text) at worst. A regular expression built from
 * the pattern backtracked exponentially (`*A*A*A*A*A*A*A*A*B` against 64 `A`s: minutes).
 */
export const wildcardMatch = (pattern: ReadonlyArray<string>, text: ReadonlyArray<string>): boolean => {
  let p = 0
  let t = 0
  let star = -1
  let resume = 0
  while (t < text.length) {
    const c = pattern[p]
    if (c !== undefined && c !== "*" && (c === "?" || c === text[t])) {
      p++
      t++
    } else if (c === "*") {
      star = p++
      resume = t
    } else if (star >= 0) {
      p = star + 1
      t = ++resume
    } else return false
  }
  while (pattern[p] === "*") p++
  return p === pattern.length
}

const hasWildcard = (value: string): boolean => /[*?]/.test(value)

/** A test of a text against a single value or a wildcard pattern. */
const textTest = (query: string): ((stored: string) => boolean) => {
  if (!hasWildcard(query)) return (stored) => stored === query
  const pattern = Array.from(query)
  return (stored) => wildcardMatch(pattern, Array.from(stored))
}

/** A stored Person Name in normal form, whole and by component group. */
interface PersonNameForms {
  readonly whole: string
  readonly groups: ReadonlyArray<string>
}

/**
 * The normal forms of stored Person Names, remembered for the last one asked: each stored value is tested against
 * every value of a key in turn, and normalizing it once per value of a key of 150,000 values took 40 ms per row.
 */
const personNameForms = (caseInsensitive: boolean): ((stored: string) => PersonNameForms) => {
  let last: string | undefined
  let forms: PersonNameForms = { whole: "", groups: [] }
  return (stored) => {
    if (stored !== last) {
      const whole = personName(stored, caseInsensitive)
      forms = { whole, groups: whole.split("=") }
      last = stored
    }
    return forms
  }
}

/**
 * PN: a key without `=` may match the whole name or any one component group; a key with `=` matches group by
 * group, an empty group of the key matching anything.
 */
const personNameTest = (
  query: string,
  options: MatchOptions,
  formsOf: (stored: string) => PersonNameForms = personNameForms(options.caseInsensitivePersonName)
): ((stored: string) => boolean) => {
  const q = personName(query, options.caseInsensitivePersonName)
  if (!q.includes("=")) {
    const test = textTest(q)
    return (stored) => {
      const s = formsOf(stored)
      return test(s.whole) || s.groups.some((group) => group !== "" && test(group))
    }
  }
  const groups = q.split("=").map((group) => (group === "" ? undefined : textTest(group)))
  return (stored) => {
    const s = formsOf(stored).groups
    return groups.every((test, i) => test === undefined || test(s[i] ?? ""))
  }
}

const DA = /^\d{8}$/
const TM = /^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$/
const DT = /^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?$/
const DT_WITH_OFFSET = /^([\d.]+)(?:[+-](\d{2})(\d{2}))?$/

/** Date normal form: old `YYYY.MM.DD` becomes `YYYYMMDD`. */
export const normalizeDate = (s: string): string => s.replace(/[.\s]/g, "")

/** Digits padded component by component from `fill`, then a 6 digit fraction. */
const pad = (digits: string, fraction: string | undefined, fill: ReadonlyArray<string>, upper: boolean): string => {
  let out = digits
  let width = 0
  for (const f of fill) {
    width += f.length
    if (out.length < width) out += f
  }
  return `${out}.${((fraction ?? "") + (upper ? "999999" : "000000")).slice(0, 6)}`
}

/** A TM value or bound at full precision `HHMMSS.FFFFFF`; undefined when malformed. */
export const fullTime = (value: string, upper: boolean): string | undefined => {
  const s = value.replace(/:/g, "").trim()
  if (!TM.test(s)) return undefined
  const [digits = "", fraction] = s.split(".")
  return pad(digits, fraction, upper ? ["23", "59", "59"] : ["00", "00", "00"], upper)
}

/** The date-time part of a DT with an optional `&ZZXX` offset (hours up to 14); undefined when malformed. */
const dateTimePart = (value: string): string | undefined => {
  const m = DT_WITH_OFFSET.exec(value.trim())
  if (m === null || !DT.test(m[1] ?? "")) return undefined
  if (m[2] !== undefined && (Number(m[2]) > 14 || Number(m[3]) > 59)) return undefined
  return m[1]
}

/** A DT value or bound at full precision `YYYYMMDDHHMMSS.FFFFFF` (time zone dropped); undefined when malformed. */
export const fullDateTime = (value: string, upper: boolean): string | undefined => {
  const part = dateTimePart(value)
  if (part === undefined) return undefined
  const [digits = "", fraction] = part.split(".")
  const fill = upper ? ["9999", "12", "31", "23", "59", "59"] : ["0000", "01", "01", "00", "00", "00"]
  return pad(digits, fraction, fill, upper)
}

/** Full precision form of a stored or queried DA/TM/DT value, for comparison. */
const comparable = (vr: string, value: string, upper: boolean): string | undefined => {
  if (vr === "DA") {
    const d = normalizeDate(value)
    return DA.test(d) ? d : undefined
  }
  return vr === "TM" ? fullTime(value, upper) : fullDateTime(value, upper)
}

/** The longest DT value: `YYYYMMDDHHMMSS.FFFFFF&ZZXX` (PS3.5 Table 6.2-1). */
const DT_MAX_LENGTH = 26

/** The two bounds of a range, or undefined for a single value. A DT's `-ZZXX` offset is not a separator. */
const splitRange = (vr: string, value: string): readonly [string, string] | undefined => {
  if (!value.includes("-")) return undefined
  // Each `-` is tried as the separator only where two DT values could surround it: over a peer's long value (digits
  // then dashes) the tries took time quadratic in its length, 20,000 of each ~1 s.
  if (vr === "DT" && value.length <= 2 * DT_MAX_LENGTH + 1) {
    if (dateTimePart(value) !== undefined) return undefined
    for (let at = value.indexOf("-"); at >= 0; at = value.indexOf("-", at + 1)) {
      const lo = value.slice(0, at)
      const hi = value.slice(at + 1)
      if ((lo === "" || dateTimePart(lo) !== undefined) && (hi === "" || dateTimePart(hi) !== undefined)) {
        return [lo, hi]
      }
    }
  }
  const at = value.indexOf("-")
  return [value.slice(0, at), value.slice(at + 1)]
}

const compileValue = (
  keyword: string,
  vr: string,
  value: string,
  options: MatchOptions,
  formsOf?: (stored: string) => PersonNameForms
): Result.Result<ValueMatch, QueryError> => {
  const refuse = (reason: string) => Result.fail(new UnableToProcess({ reason: `${keyword}: ${reason}`, keyword }))
  if (vr === "DA" || vr === "TM" || vr === "DT") {
    const range = splitRange(vr, value)
    if (range === undefined) {
      const single = comparable(vr, value, false)
      if (single === undefined) return refuse(`malformed ${vr} value "${value}"`)
      return Result.succeed({ _tag: "Single", value, test: (stored) => comparable(vr, stored, false) === single })
    }
    const [lo, hi] = range
    const lower = lo === "" ? undefined : comparable(vr, lo, false)
    const upper = hi === "" ? undefined : comparable(vr, hi, true)
    if ((lo !== "" && lower === undefined) || (hi !== "" && upper === undefined)) {
      return refuse(`malformed ${vr} range "${value}"`)
    }
    return Result.succeed({
      _tag: "Range",
      lower,
      upper,
      test: (stored) => {
        const s = comparable(vr, stored, false)
        return s !== undefined && (lower === undefined || s >= lower) && (upper === undefined || s <= upper)
      }
    })
  }
  // PS3.4 C.2.2.2: a UI key allows single value and list of UID matching only (C.2.2.2.4 leaves UI out of wild card
  // matching); DCMTK's dcmqrscp matches "1.2*" literally and finds nothing, which hides the mistake: refused 0xA900
  if (vr === "UI" && hasWildcard(value)) {
    const reason = `${keyword}: wildcards are not allowed in a UID key`
    return Result.fail(new IdentifierDoesNotMatchSopClass({ reason, keyword }))
  }
  const wildcard = hasWildcard(value) && WILDCARD.has(vr)
  if (vr === "PN") {
    return Result.succeed({
      _tag: wildcard ? "Wildcard" : "Single",
      value,
      test: personNameTest(value, options, formsOf)
    })
  }
  if (wildcard) return Result.succeed({ _tag: "Wildcard", value, test: textTest(value) })
  if (NUMERIC.has(vr) && Number.isFinite(Number(value))) {
    const n = Number(value)
    return Result.succeed({ _tag: "Single", value, test: (stored) => Number(stored) === n })
  }
  return Result.succeed({ _tag: "Single", value, test: (stored) => stored === value })
}

const isItem = (value: unknown): value is Dataset =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** The items of a sequence value (dcmjs gives an array of data sets; a lone data set is one item). */
export const itemsOf = (value: unknown): ReadonlyArray<Dataset> =>
  Array.isArray(value) ? value.filter(isItem) : isItem(value) ? [value] : []

/** An empty value of a VR, in dcmjs's naturalized form. */
export const emptyValue = (vr: string): unknown => (vr === "PN" || vr === "SQ" ? [] : "")

const isIgnored = (keyword: string): boolean => keyword.startsWith("_")

/** Compiles one key of an identifier; `vr` defaults to the dictionary's. */
export const compileKey = (
  keyword: string,
  value: unknown,
  options: MatchOptions,
  vr: string = vrOf(keyword)
): Result.Result<CompiledKey, QueryError> => {
  if (vr === "SQ") {
    const item = itemsOf(value)[0]
    const keys: Array<CompiledKey> = []
    if (item !== undefined) {
      for (const [sub, subValue] of Object.entries(item)) {
        if (isIgnored(sub)) continue
        const compiled = compileKey(sub, subValue, options, vrOf(sub, item["_vrMap"]))
        if (Result.isFailure(compiled)) return compiled
        keys.push(compiled.success)
      }
    }
    const active = keys.filter((k) => k.match._tag !== "Universal")
    const matches = (stored: Dataset): boolean => active.every((k) => k.test(stored[k.keyword]))
    const cut = (stored: Dataset): Dataset =>
      Object.fromEntries(keys.map((k) => [k.keyword, k.respond(stored[k.keyword])] as const))
    return Result.succeed({
      keyword,
      vr,
      match: active.length === 0 && item === undefined ? { _tag: "Universal" } : { _tag: "Sequence", keys },
      test: (stored) => active.length === 0 || itemsOf(stored).some(matches),
      respond: (stored) =>
        item === undefined || keys.length === 0 ? answerable(itemsOf(stored)) : itemsOf(stored).filter(matches).map(cut)
    })
  }
  const values: Array<ValueMatch> = []
  const formsOf = vr === "PN" ? personNameForms(options.caseInsensitivePersonName) : undefined
  for (const v of strings(vr, value)) {
    if (v === "*") return Result.succeed(universal(keyword, vr))
    const compiled = compileValue(keyword, vr, v, options, formsOf)
    if (Result.isFailure(compiled)) return Result.fail(compiled.failure)
    values.push(compiled.success)
  }
  if (values.length === 0) return Result.succeed(universal(keyword, vr))
  return Result.succeed({
    keyword,
    vr,
    match: { _tag: "Values", values },
    test: (stored) => {
      // each stored value against every value of the key (any of them matching any), one stored value at a time
      const have = strings(vr, stored)
      return have.some((s) => values.some((m) => m.test(s)))
    },
    respond: respondValue(vr)
  })
}

const respondValue =
  (vr: string) =>
  (stored: unknown): unknown =>
    stored === undefined || stored === null ? emptyValue(vr) : answerable(stored)

/**
 * A stored value as a response can carry it: dcmjs reads a number that does not parse (DS "NaN", IS "--1") as
 * null, which its writer cannot take among several values (it threw, and the SCP dropped the match); such a value
 * goes back empty in its place, in the items of a sequence too. The value itself when it holds no such null.
 */
const answerable = (value: unknown): unknown => {
  if (!Array.isArray(value)) return value
  let out: Array<unknown> | undefined
  for (let i = 0; i < value.length; i++) {
    const v: unknown = value[i]
    const fixed = v === null ? "" : isItem(v) ? answerableItem(v) : v
    if (fixed !== v) (out ??= [...value])[i] = fixed
  }
  return out ?? value
}

const answerableItem = (item: Record<string, unknown>): Record<string, unknown> => {
  let out: Record<string, unknown> | undefined
  for (const [keyword, v] of Object.entries(item)) {
    const fixed = isIgnored(keyword) ? v : answerable(v)
    if (fixed !== v) (out ??= { ...item })[keyword] = fixed
  }
  return out ?? item
}

const universal = (keyword: string, vr: string): CompiledKey => ({
  keyword,
  vr,
  match: { _tag: "Universal" },
  test: () => true,
  respond: respondValue(vr)
})

/** The values of a key when it is single value (or list of UID) matching only; undefined otherwise. */
export const singleValues = (key: CompiledKey): ReadonlyArray<string> | undefined => {
  if (key.match._tag !== "Values") return undefined
  const out: Array<string> = []
  for (const v of key.match.values) {
    if (v._tag !== "Single") return undefined
    out.push(v.value)
  }
  return out
}
