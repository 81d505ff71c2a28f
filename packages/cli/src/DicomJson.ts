/**
 * Naturalized data sets (the form `@netdicom/net`'s `DataSet` decodes to) as the DICOM JSON Model
 * (PS3.18 Annex F.2): attributes keyed by 8 hex digit tags in ascending order, each with its `vr`
 * and a `Value` array (absent when the value is empty), Person Names as `{ Alphabetic, Ideographic,
 * Phonetic }` objects (F.2.2), numbers for IS, DS and the binary numeric VRs, sequences as arrays of
 * data sets, and binary values as base64 `InlineBinary` (F.2.7).
 *
 * Leaves out BulkDataURI (F.2.6): everything is inline.
 *
 * @since 0.1.0
 */
import type { DataSet } from "@netdicom/net"
import * as Dictionary from "./internal/Dictionary.ts"

/** One attribute in the DICOM JSON Model. */
export interface JsonAttribute {
  readonly vr: string
  readonly Value?: ReadonlyArray<unknown>
  readonly InlineBinary?: string
}

/** A data set in the DICOM JSON Model. */
export type JsonDataSet = { readonly [tag: string]: JsonAttribute }

const HEX8 = /^[0-9A-Fa-f]{8}$/
const BINARY_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "UN"])
const NUMERIC_VRS = new Set(["DS", "IS", "FL", "FD", "SL", "SS", "UL", "US", "SV", "UV"])
// VRs whose single value may itself contain a backslash (PS3.5 6.2: LT, ST, UT, UR are single-valued).
const SINGLE_TEXT_VRS = new Set(["LT", "ST", "UT", "UR"])

/** A dictionary VR made concrete: dcmjs writes data-dependent VRs as `ox`, `xs`, `US or SS`. */
const concreteVr = (vr: string): string => {
  if (/^[A-Z]{2}$/.test(vr)) return vr
  if (vr === "ox") return "OB"
  if (vr === "xs") return "US"
  return /[A-Z]{2}/.exec(vr)?.[0] ?? "UN"
}

const isEmpty = (value: unknown): boolean =>
  value === null || value === "" || (Array.isArray(value) && value.every((v) => v === "" || v === null))

const toBytes = (value: unknown): Uint8Array | undefined => {
  if (value instanceof ArrayBuffer) return new Uint8Array(value)
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  return undefined
}

const personName = (value: unknown): unknown => {
  if (value === null || value === "") return null
  if (typeof value === "object") return value
  const [alphabetic = "", ideographic = "", phonetic = ""] = String(value).split("=")
  return {
    ...(alphabetic !== "" ? { Alphabetic: alphabetic } : {}),
    ...(ideographic !== "" ? { Ideographic: ideographic } : {}),
    ...(phonetic !== "" ? { Phonetic: phonetic } : {})
  }
}

const numeric = (value: unknown): unknown => {
  if (typeof value === "number") return value
  if (typeof value === "bigint") return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString()
  if (value === null || value === "") return null
  const n = Number(String(value).trim())
  return Number.isFinite(n) ? n : String(value)
}

const valuesOf = (value: unknown, vr: string): ReadonlyArray<unknown> => {
  const list: ReadonlyArray<unknown> = Array.isArray(value) ? value : [value]
  if (SINGLE_TEXT_VRS.has(vr) || vr === "PN") return list
  return list.flatMap((v) => (typeof v === "string" && v.includes("\\") ? v.split("\\") : [v]))
}

const attribute = (vr: string, value: unknown): JsonAttribute => {
  if (vr === "SQ") {
    const items: ReadonlyArray<unknown> = Array.isArray(value) ? value : value === null || value === "" ? [] : [value]
    return items.length === 0
      ? { vr }
      : { vr, Value: items.map((item) => fromNaturalized((item ?? {}) as DataSet.Naturalized)) }
  }
  if (isEmpty(value)) return { vr }
  if (BINARY_VRS.has(vr)) {
    const parts = (Array.isArray(value) ? value : [value]).map(toBytes).filter((b) => b !== undefined)
    if (parts.length > 0) return { vr, InlineBinary: Buffer.concat(parts).toString("base64") }
  }
  const values = valuesOf(value, vr)
  if (vr === "PN") return { vr, Value: values.map(personName) }
  if (NUMERIC_VRS.has(vr)) return { vr, Value: values.map(numeric) }
  if (vr === "AT")
    return { vr, Value: values.map((v) => (typeof v === "number" ? v.toString(16).padStart(8, "0") : v)) }
  return { vr, Value: values.map((v) => (v === "" ? null : typeof v === "string" ? v : String(v))) }
}

/**
 * A naturalized data set in the DICOM JSON Model; keys the dictionary does not know and that are no tag are left out.
 */
export const fromNaturalized = (dataSet: DataSet.Naturalized): JsonDataSet => {
  const vrMap = (dataSet["_vrMap"] ?? {}) as Readonly<Record<string, string | undefined>>
  const out: Array<readonly [string, JsonAttribute]> = []
  for (const [key, value] of Object.entries(dataSet)) {
    if (key === "_vrMap" || key === "_meta" || value === undefined) continue
    const entry = Dictionary.byKeyword(key) ?? (HEX8.test(key) ? Dictionary.byTag(key) : undefined)
    const tag = entry !== undefined ? Dictionary.hexOf(entry) : HEX8.test(key) ? key.toUpperCase() : undefined
    if (tag === undefined) continue
    const vr = concreteVr(vrMap[key] ?? entry?.vr ?? "UN")
    out.push([tag, attribute(vr, value)])
  }
  out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return Object.fromEntries(out)
}
