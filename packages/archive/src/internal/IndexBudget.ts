/**
 * What of an instance's header the archive index keeps (internal): values up to `INDEX_VALUE_LIMIT` characters of
 * JSON (sequences up to `INDEX_SEQUENCE_LIMIT`), and at most `INDEX_ATTRIBUTES_LIMIT` of them in one row's `attrs`,
 * merged across the instances of a level. Longer values stay in the files only.
 */
import type { Dataset } from "../Header.ts"
import * as Dcmjs from "./Dcmjs.ts"

/**
 * The longest attribute value the index keeps, in characters of its JSON: a longer one (a report's text, a long
 * description, a peer's padding) stays in the file only, out of the columns and of `attrs`, and a C-FIND answers
 * the attribute as one the instance does not have. A sequence may be longer (`INDEX_SEQUENCE_LIMIT`), and one row's
 * `attrs` holds at most `INDEX_ATTRIBUTES_LIMIT` (attributes past it, in tag order, are left out: private and
 * unknown ones before those the dictionary names).
 */
export const INDEX_VALUE_LIMIT = 8 * 1024
/** The longest sequence (characters of its JSON) the index keeps. */
export const INDEX_SEQUENCE_LIMIT = 64 * 1024
/** The most `attrs` one row of the index holds (characters of JSON). */
export const INDEX_ATTRIBUTES_LIMIT = 256 * 1024

// The keys the index is built on: always kept (Header bounds them to BULK_VALUE_BYTES).
const IDENTITY = new Set(["PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"])

/**
 * The length of each attribute's JSON and its limit, by keyword, as last computed for a value: an instance's four
 * rows (instance, series, study, patient) hold mostly the same values, measured once.
 */
export type Sizes = Map<string, { readonly value: unknown; readonly length: number; readonly limit: number }>

// A private or unknown attribute's key: its tag (dcmjs names the attributes its dictionary knows by keyword).
const TAG_KEY = /^[0-9A-F]{8}$/

// The limits of the keywords the dictionary names, as looked up: a few thousand at most. An attribute keyed by its tag
// (private or unknown) is looked up each time, not kept: a peer sending instances of distinct private tags (30,000
// in one instance of 300 KB) grew this map for as long as the server ran.
const limits = new Map<string, number>()
/** The longest JSON the index keeps of an attribute: `INDEX_SEQUENCE_LIMIT` for a sequence, else `INDEX_VALUE_LIMIT`.
 */
const limitOf = (keyword: string): number => {
  let limit = limits.get(keyword)
  if (limit === undefined) {
    limit = Dcmjs.lookup(keyword)?.vr === "SQ" ? INDEX_SEQUENCE_LIMIT : INDEX_VALUE_LIMIT
    if (!TAG_KEY.test(keyword)) limits.set(keyword, limit)
  }
  return limit
}

/** How many attributes' limits are kept (for the tests: it must not grow with the private tags a peer sends). */
export const limitsKept = (): number => limits.size

/**
 * An upper bound of the length of a value's JSON, without writing it, for the values that have a quick one (text,
 * numbers, null): a character is at most 6 in JSON (`\u001f`), a number at most 25 characters.
 */
const jsonBound = (value: unknown): number | undefined => {
  switch (typeof value) {
    case "string":
      return value.length * 6 + 2
    case "number":
      return 25
    case "boolean":
      return 5
    case "undefined":
      return 0
  }
  return value === null ? 4 : undefined
}

/**
 * The attributes of a data set the index keeps (see `INDEX_VALUE_LIMIT`), in their order. Most values are far
 * below the limits: a bound on their JSON's length tells, and only the others are written out to be measured. When
 * the bounds add up past `INDEX_ATTRIBUTES_LIMIT` (where exact lengths may still fit), every length is measured.
 */
export const indexable = (dataset: Dataset, sizes: Sizes = new Map()): Dataset => {
  const out: Record<string, unknown> = {}
  let total = 0
  for (const keyword in dataset) {
    if (!Object.hasOwn(dataset, keyword)) continue
    const value = dataset[keyword]
    if (IDENTITY.has(keyword)) {
      out[keyword] = value
      continue
    }
    let length = jsonBound(value)
    if (length === undefined || length > INDEX_VALUE_LIMIT) {
      length = JSON.stringify(value)?.length ?? 0
      if (length > limitOf(keyword)) continue
    }
    total += length + keyword.length
    if (total > INDEX_ATTRIBUTES_LIMIT) return measured(dataset, sizes)
    out[keyword] = value
  }
  return out
}

/**
 * `indexable` with every length measured (the JSON of each value written). The attributes the dictionary names
 * take the room first, private and unknown ones (keyed by tag) what they leave: a peer's private elements (group
 * 0009, say) cannot push the Patient's Name out of the index. Kept attributes stay in their order.
 */
const measured = (dataset: Dataset, sizes: Sizes): Dataset => {
  const entries = Object.entries(dataset)
  const kept = new Set<string>()
  let total = 0
  for (const byTag of [false, true]) {
    for (const [keyword, value] of entries) {
      if (TAG_KEY.test(keyword) !== byTag) continue
      if (IDENTITY.has(keyword)) {
        kept.add(keyword)
        continue
      }
      let size = sizes.get(keyword)
      if (size === undefined || size.value !== value) {
        const limit = size?.limit ?? limitOf(keyword)
        size = { value, length: JSON.stringify(value)?.length ?? 0, limit }
        sizes.set(keyword, size)
      }
      const { length, limit } = size
      if (length > limit || total + length > INDEX_ATTRIBUTES_LIMIT) continue
      total += length + keyword.length
      kept.add(keyword)
    }
  }
  const out: Record<string, unknown> = {}
  for (const [keyword, value] of entries) if (kept.has(keyword)) out[keyword] = value
  return out
}

const isEmpty = (value: unknown): boolean =>
  value === undefined || value === null || value === "" || (Array.isArray(value) && value.length === 0)

/**
 * A level's attributes: the new instance's, and the old ones it leaves empty. `length` is the length of the
 * instance's attributes in JSON: when the old JSON is within `INDEX_VALUE_LIMIT` (so is each of its values) and both
 * together within `INDEX_ATTRIBUTES_LIMIT` (the merge's JSON is no longer than the two), `indexable` would keep
 * every attribute of the merge, and is not run.
 */
const mergeAttributes = (old: string | undefined, dataset: Dataset, length: number, sizes: Sizes): Dataset => {
  const merged: Record<string, unknown> = old === undefined ? {} : (JSON.parse(old) as Record<string, unknown>)
  for (const keyword in dataset) {
    if (!Object.hasOwn(dataset, keyword)) continue
    const value = dataset[keyword]
    if (!isEmpty(value) || !(keyword in merged)) merged[keyword] = value
  }
  const oldLength = old?.length ?? 0
  const within = oldLength <= INDEX_VALUE_LIMIT && oldLength + length <= INDEX_ATTRIBUTES_LIMIT
  return within ? merged : indexable(merged, sizes)
}

/**
 * The `attrs` one instance gives a level's row, from the row's stored ones. The patient's, study's and series's rows,
 * written by the same instances, mostly hold the same text: it is parsed, merged and written again once, not once
 * per level.
 */
export const merger = (dataset: Dataset, length: number, sizes: Sizes): ((old: unknown) => string) => {
  let last: { readonly old: string | undefined; readonly attrs: string } | undefined
  return (stored) => {
    const old = typeof stored === "string" ? stored : undefined
    if (last === undefined || last.old !== old) {
      last = { old, attrs: JSON.stringify(mergeAttributes(old, dataset, length, sizes)) }
    }
    return last.attrs
  }
}
