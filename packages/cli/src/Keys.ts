/**
 * Query keys from the command line (`-k Keyword=Value`, `-k gggg,eeee=Value`) as the identifier of
 * a C-FIND, C-GET or C-MOVE (PS3.4 C.2.2 attribute matching, C.4.1.2.1 the Query/Retrieve Level,
 * K.6.1.2 worklist keys inside Scheduled Procedure Step Sequence).
 *
 * A key names an attribute by keyword or tag (`PatientName`, `0010,0010`, `(0010,0010)`,
 * `00100010`); a dotted path reaches into a sequence item (`ScheduledProcedureStepSequence.Modality=MR`), the first
 * unless an index says which, as DCMTK's findscu writes it (`(0040,0100)[0].(0008,0060)=MR`, items from 0 to 99).
 * No `=` or an empty value asks for the attribute back (universal matching). Values are passed as
 * written, with numbers for numeric VRs; a backslash separates several values.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"
import type { DataSet, QueryRetrieve } from "@netdicom/net"
import * as Dictionary from "./internal/Dictionary.ts"

/** A key that cannot be understood. */
export class BadKey extends Data.TaggedError("BadKey")<{ readonly key: string; readonly reason: string }> {
  override get message(): string {
    return `bad key "${this.key}": ${this.reason}`
  }
}

/** The Query/Retrieve levels (PS3.4 C.3). */
export const LEVELS = ["PATIENT", "STUDY", "SERIES", "IMAGE"] as const

/** A Query/Retrieve level. */
export type Level = (typeof LEVELS)[number]

/** The unique key of each level (PS3.4 C.3). */
export const UNIQUE_KEY: Readonly<Record<Level, string>> = {
  PATIENT: "PatientID",
  STUDY: "StudyInstanceUID",
  SERIES: "SeriesInstanceUID",
  IMAGE: "SOPInstanceUID"
}

// Return keys asked for when the command line gives none.
const DEFAULT_RETURN_KEYS: Readonly<Record<Level | "WORKLIST", ReadonlyArray<string>>> = {
  PATIENT: ["PatientName", "PatientID", "PatientBirthDate", "PatientSex"],
  STUDY: [
    "PatientName",
    "PatientID",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "StudyDescription",
    "ModalitiesInStudy"
  ],
  SERIES: ["SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription"],
  IMAGE: ["SOPInstanceUID", "SOPClassUID", "InstanceNumber"],
  WORKLIST: ["PatientName", "PatientID", "AccessionNumber", "StudyInstanceUID", "ScheduledProcedureStepSequence"]
}

const HEX8 = /^[0-9A-Fa-f]{8}$/
// A path segment's item index, as findscu takes it: `Sequence[2]`.
const ITEM_INDEX = /^(.*?)\s*\[(\d{1,2})\]\s*$/
const NUMERIC_VRS = new Set(["FL", "FD", "SL", "SS", "UL", "US", "SV", "UV", "IS", "DS"])

/** The dictionary keyword of a key name, or its 8 hex digit tag when the dictionary does not know it. */
export const resolveName = (name: string): Result.Result<{ readonly key: string; readonly vr: string }, string> => {
  const trimmed = name.trim()
  const keyword = Dictionary.byKeyword(trimmed)
  if (keyword !== undefined) return Result.succeed({ key: keyword.name, vr: keyword.vr })
  const hex = trimmed.replace(/^\(|\)$/g, "").replace(",", "")
  if (!HEX8.test(hex)) return Result.fail(`"${trimmed}" is neither a keyword nor a tag gggg,eeee`)
  const entry = Dictionary.byTag(hex)
  return Result.succeed(entry !== undefined ? { key: entry.name, vr: entry.vr } : { key: hex.toUpperCase(), vr: "UN" })
}

const valueFor = (vr: string, text: string | undefined): unknown => {
  if (vr === "SQ") return []
  if (text === undefined || text === "") return ""
  if (!NUMERIC_VRS.has(vr)) return text
  const parts = text.split("\\")
  // a range or wildcard is no number: pass it as written
  if (!parts.every((p) => p.trim() !== "" && Number.isFinite(Number(p)))) return text
  const numbers = parts.map(Number)
  return numbers.length === 1 ? numbers[0] : numbers
}

// Empty (a return key), or UIDs separated by backslashes, each of digits and dots.
const UID_LIST = /^$|^[0-9.]+(\\[0-9.]+)*$/

type Mutable = { [key: string]: unknown }

/**
 * Adds one `-k` key to an identifier under construction. `given` holds the value each attribute path was given so
 * far: a second value for the same attribute is refused (`-k PatientName=DOE* -k PatientName` would otherwise ask for
 * every patient), the same value again is not.
 */
const addKey = (target: Mutable, spec: string, given: Map<string, string>): Result.Result<void, BadKey> => {
  const eq = spec.indexOf("=")
  const path = (eq < 0 ? spec : spec.slice(0, eq)).split(".")
  const text = eq < 0 ? undefined : spec.slice(eq + 1)
  let scope = target
  const keys: Array<string> = []
  for (const [i, written] of path.entries()) {
    const indexed = ITEM_INDEX.exec(written)
    const segment = indexed === null ? written : indexed[1]!
    const index = indexed === null ? 0 : Number(indexed[2])
    const resolved = resolveName(segment)
    if (Result.isFailure(resolved)) return Result.fail(new BadKey({ key: spec, reason: resolved.failure }))
    const { key, vr } = resolved.success
    const last = i === path.length - 1
    keys.push(last ? key : `${key}[${index}]`)
    if (last && indexed !== null) {
      return Result.fail(
        new BadKey({
          key: spec,
          reason: `${key}[${index}] is an item: give a key inside it (${key}[${index}].Keyword=...)`
        })
      )
    }
    if (last) {
      const before = given.get(keys.join("."))
      if (before !== undefined && before !== (text ?? "")) {
        const shown = (v: string) => (v === "" ? "no value" : `"${v}"`)
        return Result.fail(
          new BadKey({
            key: spec,
            reason: `${key} given twice (${shown(before)}, then ${shown(text ?? "")}): give each key once`
          })
        )
      }
      given.set(keys.join("."), text ?? "")
      if (vr === "SQ" && text !== undefined && text !== "") {
        return Result.fail(
          new BadKey({ key: spec, reason: `${key} is a sequence: give a key inside it (${key}.Keyword=...)` })
        )
      }
      // A UID matches as written (single value or a list, PS3.4 C.2.2.2.1 and C.2.2.2.2): no wildcards, and anything
      // but digits and dots would be dropped when the identifier is written, matching something else without a word.
      if (vr === "UI" && text !== undefined && !UID_LIST.test(text)) {
        const reason = /[*?]/.test(text)
          ? `${key} is a UID: wildcards do not apply to UIDs (give whole UIDs, several as uid1\\uid2)`
          : `${key} is a UID: digits and dots only (several as uid1\\uid2)`
        return Result.fail(new BadKey({ key: spec, reason }))
      }
      if (vr === "SQ" && Array.isArray(scope[key]) && (scope[key] as Array<unknown>).length > 0) return Result.void
      scope[key] = valueFor(vr, text)
      return Result.void
    }
    if (vr !== "SQ") return Result.fail(new BadKey({ key: spec, reason: `${key} is not a sequence` }))
    const existing = scope[key]
    const items: Array<Mutable> = Array.isArray(existing) ? (existing as Array<Mutable>) : []
    scope[key] = items
    while (items.length <= index) items.push({})
    scope = items[index]!
  }
  return Result.void
}

/** What a query asks: the model, the level and the keys. */
export interface QuerySpec {
  readonly model: QueryRetrieve.Model
  readonly level: Level | undefined
  readonly keys: ReadonlyArray<string>
  /** A C-FIND: add the level's usual return keys when no key is given, and the level's unique key. */
  readonly find: boolean
}

/** The levels a model has. */
export const levelsOf = (model: QueryRetrieve.Model): ReadonlyArray<Level> =>
  model === "patient" ? LEVELS : model === "study" ? LEVELS.slice(1) : []

/** Parses a level given on the command line (any case). */
export const parseLevel = (model: QueryRetrieve.Model, text: string): Result.Result<Level, BadKey> => {
  const level = text.trim().toUpperCase()
  const allowed = levelsOf(model)
  return (allowed as ReadonlyArray<string>).includes(level)
    ? Result.succeed(level as Level)
    : Result.fail(
        new BadKey({
          key: `--level ${text}`,
          reason:
            allowed.length === 0
              ? "the worklist model has no levels"
              : `the ${model} root model has the levels ${allowed.join(", ")}`
        })
      )
}

// The level a `-k QueryRetrieveLevel=X` key gives, as findscu takes it: the level as `--level` gives it, so that the
// level's unique key and usual return keys follow it; a key naming another level than `--level` (or than another
// such key) is refused rather than sent with keys for another level.
const levelFromKeys = (spec: QuerySpec): Result.Result<{ level: Level | undefined; keys: number }, BadKey> => {
  let found: Level | undefined
  let keys = 0
  for (const key of spec.keys) {
    const eq = key.indexOf("=")
    if (eq < 0 || key.slice(eq + 1).trim() === "") continue
    const name = resolveName(key.slice(0, eq))
    if (Result.isFailure(name) || name.success.key !== "QueryRetrieveLevel") continue
    const parsed = parseLevel(spec.model, key.slice(eq + 1))
    if (Result.isFailure(parsed)) return Result.fail(new BadKey({ key, reason: parsed.failure.reason }))
    const before = spec.level ?? found
    if (before !== undefined && before !== parsed.success) {
      const by = spec.level !== undefined ? `--level ${spec.level}` : `QueryRetrieveLevel=${before}`
      return Result.fail(new BadKey({ key, reason: `the level is already ${by}` }))
    }
    found = parsed.success
    keys++
  }
  return Result.succeed({ level: found, keys })
}

/**
 * The identifier for a query: Query/Retrieve Level (the model's top level unless given; none for the
 * worklist), the keys, and for a C-FIND the level's unique key as a return key when it is missing.
 */
export const identifier = (spec: QuerySpec): Result.Result<DataSet.Naturalized, BadKey> => {
  const out: Mutable = {}
  const fromKeys = levelFromKeys(spec)
  if (Result.isFailure(fromKeys)) return Result.fail(fromKeys.failure)
  const level =
    spec.model === "worklist" ? spec.level : (spec.level ?? fromKeys.success.level ?? levelsOf(spec.model)[0])
  if (level !== undefined) out["QueryRetrieveLevel"] = level
  // the level's usual return keys when none is asked for (a QueryRetrieveLevel key asks for none)
  const keys =
    spec.keys.length === fromKeys.success.keys && spec.find
      ? [...DEFAULT_RETURN_KEYS[spec.model === "worklist" ? "WORKLIST" : level!], ...spec.keys]
      : spec.keys
  const given = new Map<string, string>()
  for (const key of keys) {
    const added = addKey(out, key, given)
    if (Result.isFailure(added)) return Result.fail(added.failure)
  }
  // as parsed (`-k QueryRetrieveLevel=series` is sent SERIES), where it stands: first
  if (level !== undefined) out["QueryRetrieveLevel"] = level
  if (spec.find && level !== undefined && spec.model !== "worklist" && !(UNIQUE_KEY[level] in out)) {
    out[UNIQUE_KEY[level]] = ""
  }
  return Result.succeed(out)
}

// A copy of a data set's objects and arrays (dcmjs's naturalized values include proxies `structuredClone` refuses);
// binary values are shared.
const copied = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(copied)
  if (typeof value !== "object" || value === null || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    return value
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copied(v)]))
}

/**
 * `base` with `-k Keyword=Value` keys set as attributes to send (an N-CREATE's or N-SET's): each as written, no value
 * an empty attribute, a dotted path an attribute in the first item of its sequence (`base`'s, when it has one).
 */
export const attributes = (
  keys: ReadonlyArray<string>,
  base: DataSet.Naturalized = {}
): Result.Result<DataSet.Naturalized, BadKey> => {
  const out = copied(base) as Mutable
  const given = new Map<string, string>()
  for (const key of keys) {
    const added = addKey(out, key, given)
    if (Result.isFailure(added)) return Result.fail(added.failure)
  }
  return Result.succeed(out)
}
