/**
 * The Modality Performed Procedure Step SOP class (PS3.4 Annex F.7): its UID, the states of a step, and the rules an
 * SCP applies to an N-CREATE's Attribute List and an N-SET's Modification List (F.7.2, Table F.7.2-1), as pure checks
 * giving the status to answer with.
 *
 * Checked (N-CREATE): Performed Procedure Step Status is "IN PROGRESS" (else 0x0106 with the value, F.7.2.1.3); the
 * Type 1 attributes of the N-CREATE column are there (0x0120) with a value (0x0121): Scheduled Step Attributes
 * Sequence (an item, each with a Study Instance UID), Performed Procedure Step ID, Performed Station AE Title, Start
 * Date and Time, Modality. Checked (N-SET): the status is one of the three states (0x0106); an attribute Table F.7.2-1
 * does not allow N-SET to change (the patient's, the scheduled step's, the start's, the station's) keeps its value
 * (0x0106 naming it; the same value sent again is accepted); a step set COMPLETED or DISCONTINUED has its End Date and
 * End Time (0x0121). A step already COMPLETED or DISCONTINUED is not set at all (0x0110, Error ID A710, F.7.2.2.4):
 * `MppsScp` says so, since it needs the stored step.
 *
 * Not checked: the Type 2 attributes (modalities leave many out; what is sent is kept), the Final State's other
 * Type 1 attributes (Performed Series Sequence and its items), and the values' VRs beyond dcmjs's encoding.
 *
 * @since 0.2.0
 */
import { randomBytes } from "node:crypto"
import type * as DataSet from "../dimse/DataSet.ts"

/** Modality Performed Procedure Step SOP Class UID. */
export const SOP_CLASS = "1.2.840.10008.3.1.2.3.3"

/** The states of Performed Procedure Step Status (0040,0252). */
export const IN_PROGRESS = "IN PROGRESS"
export const COMPLETED = "COMPLETED"
export const DISCONTINUED = "DISCONTINUED"

/** A Performed Procedure Step Status. */
export type StepStatus = typeof IN_PROGRESS | typeof COMPLETED | typeof DISCONTINUED

/** The states after which a step may no longer be updated. */
export const FINAL_STATES: ReadonlySet<string> = new Set([COMPLETED, DISCONTINUED])

/** N-SET of a step COMPLETED or DISCONTINUED: status 0x0110 with this Error ID and Comment (PS3.4 Table F.7.2-2). */
export const NO_LONGER_UPDATED_ID = 0xa710
export const NO_LONGER_UPDATED_COMMENT = "Performed Procedure Step Object may no longer be updated"

/** N-CREATE of an instance that exists: 0x0111, duplicate SOP instance. */
export const DUPLICATE_SOP_INSTANCE = 0x0111
/** A value an attribute may not have: 0x0106, invalid attribute value. */
export const INVALID_ATTRIBUTE_VALUE = 0x0106
/** A required attribute left out: 0x0120, missing attribute. */
export const MISSING_ATTRIBUTE = 0x0120
/** A required attribute without a value: 0x0121, missing attribute value. */
export const MISSING_ATTRIBUTE_VALUE = 0x0121

/** Why a request is refused: the status, an Error Comment, and what the response names. */
export interface Refusal {
  readonly status: number
  /** Short enough for an Error Comment (64 characters): the attributes by tag. */
  readonly errorComment: string
  /** The same for a log line, the attributes by keyword and tag. */
  readonly detail: string
  /** The attributes at fault (0x0120, 0x0121), each as `group << 16 | element`. */
  readonly attributeIdentifierList?: ReadonlyArray<number>
  /** The invalid values (0x0106, PS3.7 C.4.3). */
  readonly dataSet?: DataSet.Naturalized
}

// The attributes the rules name: keyword and tag.
const A = {
  PerformedProcedureStepStatus: 0x00400252,
  ScheduledStepAttributesSequence: 0x00400270,
  StudyInstanceUID: 0x0020000d,
  PerformedProcedureStepID: 0x00400253,
  PerformedStationAETitle: 0x00400241,
  PerformedProcedureStepStartDate: 0x00400244,
  PerformedProcedureStepStartTime: 0x00400245,
  PerformedProcedureStepEndDate: 0x00400250,
  PerformedProcedureStepEndTime: 0x00400251,
  Modality: 0x00080060,
  PatientName: 0x00100010,
  PatientID: 0x00100020,
  PatientBirthDate: 0x00100030,
  PatientSex: 0x00100040,
  ReferencedPatientSequence: 0x00081120,
  PerformedStationName: 0x00400242,
  PerformedLocation: 0x00400243,
  StudyID: 0x00200010,
  SOPClassUID: 0x00080016,
  SOPInstanceUID: 0x00080018
} as const
type Keyword = keyof typeof A

const tagText = (tag: number): string => {
  const hex = tag.toString(16).toUpperCase().padStart(8, "0")
  return `(${hex.slice(0, 4)},${hex.slice(4)})`
}
const named = (k: Keyword): string => `${k} ${tagText(A[k])}`
const tags = (ks: ReadonlyArray<Keyword>): string => ks.map((k) => tagText(A[k])).join(", ")
const names = (ks: ReadonlyArray<Keyword>): string => ks.map(named).join(", ")

// N-CREATE Type 1 attributes (Table F.7.2-1) checked here, the sequence apart.
const CREATE_TYPE_1: ReadonlyArray<Keyword> = [
  "PerformedProcedureStepID",
  "PerformedStationAETitle",
  "PerformedProcedureStepStartDate",
  "PerformedProcedureStepStartTime",
  "Modality"
]

/** Attributes Table F.7.2-1 gives as "Not allowed" for N-SET: set once, by the N-CREATE. */
export const NOT_SET: ReadonlyArray<Keyword> = [
  "ScheduledStepAttributesSequence",
  "PatientName",
  "PatientID",
  "PatientBirthDate",
  "PatientSex",
  "ReferencedPatientSequence",
  "PerformedProcedureStepID",
  "PerformedStationAETitle",
  "PerformedStationName",
  "PerformedLocation",
  "PerformedProcedureStepStartDate",
  "PerformedProcedureStepStartTime",
  "Modality",
  "StudyID",
  "SOPClassUID",
  "SOPInstanceUID"
]

/** Whether a naturalized value is empty: none, "", null, or a list of those. */
export const isEmpty = (value: unknown): boolean =>
  value === undefined ||
  value === null ||
  value === "" ||
  (Array.isArray(value) && value.every((v) => v === null || v === "" || v === undefined))

/** A value as text: several values joined by a backslash, trimmed (CS values are padded with a space). */
export const text = (value: unknown): string =>
  isEmpty(value) ? "" : (Array.isArray(value) ? value.map(String).join("\\") : String(value)).trim()

/** The items of a sequence value (dcmjs gives one item bare at times). */
export const itemsOf = (value: unknown): ReadonlyArray<DataSet.Naturalized> =>
  Array.isArray(value)
    ? value.filter((v): v is DataSet.Naturalized => typeof v === "object" && v !== null)
    : typeof value === "object" && value !== null && !ArrayBuffer.isView(value)
      ? [value as DataSet.Naturalized]
      : []

/** A step's Performed Procedure Step Status, as written (trimmed), or undefined. */
export const statusOf = (attributes: DataSet.Naturalized): string | undefined => {
  const v = attributes["PerformedProcedureStepStatus"]
  return isEmpty(v) ? undefined : text(v)
}

const missing = (keywords: ReadonlyArray<Keyword>, absent: boolean): Refusal => ({
  status: absent ? MISSING_ATTRIBUTE : MISSING_ATTRIBUTE_VALUE,
  errorComment: `${absent ? "missing" : "no value for"} ${tags(keywords)}`,
  detail: `${absent ? "missing" : "no value for"} ${names(keywords)}`,
  attributeIdentifierList: keywords.map((k) => A[k])
})

/** Why an N-CREATE's Attribute List may not create a step (PS3.4 F.7.2.1), or undefined. */
export const checkCreate = (attributes: DataSet.Naturalized): Refusal | undefined => {
  const status = attributes["PerformedProcedureStepStatus"]
  if (status === undefined) return missing(["PerformedProcedureStepStatus"], true)
  if (text(status) !== IN_PROGRESS) {
    return {
      status: INVALID_ATTRIBUTE_VALUE,
      errorComment: `(0040,0252) is "${text(status).slice(0, 16)}", not IN PROGRESS`,
      detail: `${named("PerformedProcedureStepStatus")} is "${text(status)}": an N-CREATE must be IN PROGRESS`,
      dataSet: { PerformedProcedureStepStatus: status }
    }
  }
  const absent = CREATE_TYPE_1.filter((k) => attributes[k] === undefined)
  if (attributes["ScheduledStepAttributesSequence"] === undefined) absent.unshift("ScheduledStepAttributesSequence")
  if (absent.length > 0) return missing(absent, true)
  const empty = CREATE_TYPE_1.filter((k) => isEmpty(attributes[k]))
  const items = itemsOf(attributes["ScheduledStepAttributesSequence"])
  if (items.length === 0) empty.unshift("ScheduledStepAttributesSequence")
  if (empty.length > 0) return missing(empty, false)
  if (items.some((item) => isEmpty(item["StudyInstanceUID"]))) {
    return {
      status: MISSING_ATTRIBUTE_VALUE,
      errorComment: "no Study Instance UID (0020,000D) in (0040,0270)",
      detail: `an item of ${named("ScheduledStepAttributesSequence")} has no ${named("StudyInstanceUID")}`,
      attributeIdentifierList: [A.StudyInstanceUID]
    }
  }
  return undefined
}

// Values compared as written: sequences item by item, texts trimmed (CS and DA padding), binary byte by byte.
const sameValue = (a: unknown, b: unknown): boolean => {
  if (isEmpty(a) && isEmpty(b)) return true
  if (Array.isArray(a) && a.some((v) => typeof v === "object" && v !== null)) {
    const x = itemsOf(a)
    const y = itemsOf(b)
    return (
      x.length === y.length &&
      x.every((item, i) => {
        const other = y[i]!
        const keys = new Set([...Object.keys(item), ...Object.keys(other)].filter((k) => k !== "_vrMap"))
        return [...keys].every((k) => sameValue(item[k], other[k]))
      })
    )
  }
  if (typeof a === "object" && a !== null && !Array.isArray(a) && !ArrayBuffer.isView(a)) {
    return sameValue([a], b)
  }
  return JSON.stringify(text(a)) === JSON.stringify(text(b))
}

/**
 * Why an N-SET's Modification List may not be applied to a step holding `current` (PS3.4 F.7.2.2), or undefined.
 * The step's own state (no longer updated once COMPLETED or DISCONTINUED) is checked by the caller first.
 */
export const checkSet = (current: DataSet.Naturalized, modification: DataSet.Naturalized): Refusal | undefined => {
  const status = modification["PerformedProcedureStepStatus"]
  if (status !== undefined && ![IN_PROGRESS, COMPLETED, DISCONTINUED].includes(text(status))) {
    return {
      status: INVALID_ATTRIBUTE_VALUE,
      errorComment: `(0040,0252) "${text(status).slice(0, 16)}" is no step status`,
      detail:
        `${named("PerformedProcedureStepStatus")} is "${text(status)}": ` +
        `not ${IN_PROGRESS}, ${COMPLETED} or ${DISCONTINUED}`,
      dataSet: { PerformedProcedureStepStatus: status }
    }
  }
  const changed = NOT_SET.filter((k) => k in modification && !sameValue(modification[k], current[k]))
  if (changed.length > 0) {
    return {
      status: INVALID_ATTRIBUTE_VALUE,
      errorComment: `N-SET may not change ${tags(changed)}`,
      detail: `N-SET may not change ${names(changed)} (PS3.4 Table F.7.2-1)`,
      dataSet: Object.fromEntries(changed.map((k) => [k, modification[k]]))
    }
  }
  const next = applySet(current, modification)
  if (FINAL_STATES.has(statusOf(next) ?? "")) {
    const ends: ReadonlyArray<Keyword> = ["PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime"]
    const empty = ends.filter((k) => isEmpty(next[k]))
    if (empty.length > 0) {
      return {
        ...missing(empty, false),
        errorComment: `a step ${statusOf(next)} needs ${tags(empty)}`,
        detail: `a step ${statusOf(next)} needs ${names(empty)}`
      }
    }
  }
  return undefined
}

/** A step's attributes once `modification` is applied: each attribute it names replaced whole (sequences too). */
export const applySet = (current: DataSet.Naturalized, modification: DataSet.Naturalized): DataSet.Naturalized => {
  const vrMap = {
    ...((current["_vrMap"] ?? {}) as Record<string, unknown>),
    ...((modification["_vrMap"] ?? {}) as Record<string, unknown>)
  }
  const { _vrMap: _a, ...rest } = current
  const { _vrMap: _b, ...changes } = modification
  return { ...rest, ...changes, ...(Object.keys(vrMap).length > 0 ? { _vrMap: vrMap } : {}) }
}

/** A one-line description of a step for a log: its status, ID, patient, station and series. */
export const describe = (attributes: DataSet.Naturalized): string => {
  const series = itemsOf(attributes["PerformedSeriesSequence"])
  const images = series.reduce(
    (n, s) =>
      n +
      itemsOf(s["ReferencedImageSequence"]).length +
      itemsOf(s["ReferencedNonImageCompositeSOPInstanceSequence"]).length,
    0
  )
  const field = (name: string, k: string) => (isEmpty(attributes[k]) ? [] : [`${name} ${text(attributes[k])}`])
  return [
    statusOf(attributes) ?? "(no status)",
    ...field("step", "PerformedProcedureStepID"),
    ...field("patient", "PatientID"),
    ...field("station", "PerformedStationAETitle"),
    ...field("modality", "Modality"),
    ...(series.length > 0 ? [`${series.length} series, ${images} instance(s)`] : [])
  ].join(", ")
}

/** A new UID: `2.25.` and 128 random bits as a decimal number (PS3.5 B.2), for a step the N-CREATE does not name. */
export const newUid = (): string => `2.25.${BigInt(`0x${randomBytes(16).toString("hex")}`).toString()}`
