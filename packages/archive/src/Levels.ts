/**
 * The Query/Retrieve information models (PS3.4 C.6.1 Patient Root, C.6.2 Study Root): their levels, the unique
 * key of each level, the attributes the index keeps per level, and the checks on an identifier before matching.
 *
 * Hierarchical search only (C.4.1.3.1): an identifier must give a single value for the unique key of every level
 * above the Query/Retrieve Level, and may not match on any other key of another level. Relational queries
 * (C.4.1.2.2, an extended negotiation option) are refused with `UnableToProcess`. Keys of higher levels asked for
 * with an empty value are returned (the archive has them); keys of lower levels come back empty.
 *
 * In the Study Root model patient attributes are attributes of the STUDY level (Table C.6-5).
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import { IdentifierDoesNotMatchSopClass, UnableToProcess } from "./ArchiveError.ts"
import type { QueryError } from "./ArchiveError.ts"
import type { Dataset } from "./internal/Dcmjs.ts"
import * as Matching from "./Matching.ts"
import type { CompiledKey, MatchOptions } from "./Matching.ts"

/** A Query/Retrieve Level (0008,0052). */
export type Level = "PATIENT" | "STUDY" | "SERIES" | "IMAGE"

/** A Query/Retrieve information model. */
export type InformationModel = "PatientRoot" | "StudyRoot"

/** All levels, top down. */
export const LEVELS: ReadonlyArray<Level> = ["PATIENT", "STUDY", "SERIES", "IMAGE"]

/** The levels of a model, top down. */
export const levelsOf = (model: InformationModel): ReadonlyArray<Level> =>
  model === "PatientRoot" ? LEVELS : LEVELS.slice(1)

/** Depth of a level (PATIENT 0 ... IMAGE 3). */
export const rank = (level: Level): number => LEVELS.indexOf(level)

/** The unique key of each level. */
export const UNIQUE_KEY: Readonly<Record<Level, string>> = {
  PATIENT: "PatientID",
  STUDY: "StudyInstanceUID",
  SERIES: "SeriesInstanceUID",
  IMAGE: "SOPInstanceUID"
}

/** An attribute kept in a column of a level's table. */
export interface Column {
  readonly keyword: string
  readonly level: Level
  /** Column name in the level's table. */
  readonly name: string
  readonly vr: string
}

const column = (level: Level, keyword: string, name: string, vr: string): Column => ({ keyword, level, name, vr })

/** The attributes kept in columns, per level. */
export const COLUMNS: ReadonlyArray<Column> = [
  column("PATIENT", "PatientID", "patient_id", "LO"),
  column("PATIENT", "IssuerOfPatientID", "issuer_of_patient_id", "LO"),
  column("PATIENT", "PatientName", "patient_name", "PN"),
  column("PATIENT", "PatientBirthDate", "patient_birth_date", "DA"),
  column("PATIENT", "PatientBirthTime", "patient_birth_time", "TM"),
  column("PATIENT", "PatientSex", "patient_sex", "CS"),
  column("PATIENT", "EthnicGroup", "ethnic_group", "SH"),
  column("PATIENT", "PatientComments", "patient_comments", "LT"),
  column("STUDY", "StudyInstanceUID", "study_instance_uid", "UI"),
  column("STUDY", "StudyDate", "study_date", "DA"),
  column("STUDY", "StudyTime", "study_time", "TM"),
  column("STUDY", "AccessionNumber", "accession_number", "SH"),
  column("STUDY", "StudyID", "study_id", "SH"),
  column("STUDY", "StudyDescription", "study_description", "LO"),
  column("STUDY", "ReferringPhysicianName", "referring_physician_name", "PN"),
  column("STUDY", "PatientAge", "patient_age", "AS"),
  column("STUDY", "PatientSize", "patient_size", "DS"),
  column("STUDY", "PatientWeight", "patient_weight", "DS"),
  column("SERIES", "SeriesInstanceUID", "series_instance_uid", "UI"),
  column("SERIES", "Modality", "modality", "CS"),
  column("SERIES", "SeriesNumber", "series_number", "IS"),
  column("SERIES", "SeriesDescription", "series_description", "LO"),
  column("SERIES", "SeriesDate", "series_date", "DA"),
  column("SERIES", "SeriesTime", "series_time", "TM"),
  column("SERIES", "BodyPartExamined", "body_part_examined", "CS"),
  column("SERIES", "ProtocolName", "protocol_name", "LO"),
  column("IMAGE", "SOPInstanceUID", "sop_instance_uid", "UI"),
  column("IMAGE", "SOPClassUID", "sop_class_uid", "UI"),
  column("IMAGE", "InstanceNumber", "instance_number", "IS"),
  column("IMAGE", "ContentDate", "content_date", "DA"),
  column("IMAGE", "ContentTime", "content_time", "TM"),
  column("IMAGE", "NumberOfFrames", "number_of_frames", "IS"),
  column("IMAGE", "AvailableTransferSyntaxUID", "transfer_syntax_uid", "UI")
]

/** Attributes computed from the hierarchy when asked for (counts, modalities), per level. */
export const DERIVED: ReadonlyArray<{ readonly keyword: string; readonly level: Level; readonly vr: string }> = [
  { keyword: "NumberOfPatientRelatedStudies", level: "PATIENT", vr: "IS" },
  { keyword: "NumberOfPatientRelatedSeries", level: "PATIENT", vr: "IS" },
  { keyword: "NumberOfPatientRelatedInstances", level: "PATIENT", vr: "IS" },
  { keyword: "ModalitiesInStudy", level: "STUDY", vr: "CS" },
  { keyword: "SOPClassesInStudy", level: "STUDY", vr: "UI" },
  { keyword: "NumberOfStudyRelatedSeries", level: "STUDY", vr: "IS" },
  { keyword: "NumberOfStudyRelatedInstances", level: "STUDY", vr: "IS" },
  { keyword: "NumberOfSeriesRelatedInstances", level: "SERIES", vr: "IS" }
]

/** Keys that are never matched: the level itself, the character set, dcmjs bookkeeping (`_vrMap`, `_meta`). */
const isControlKey = (keyword: string): boolean =>
  keyword === "QueryRetrieveLevel" || keyword === "SpecificCharacterSet" || keyword.startsWith("_")

/** Where the value of a key comes from. */
export type Source =
  | { readonly _tag: "Column"; readonly column: Column }
  | { readonly _tag: "Derived"; readonly keyword: string; readonly level: Level }
  /** The level's latest instance, for attributes without a column (including sequences). */
  | { readonly _tag: "Attributes" }
  /** Same value for every entity: InstanceAvailability, RetrieveAETitle. */
  | { readonly _tag: "Constant"; readonly value: unknown }
  /** A key of a lower level: returned empty. */
  | { readonly _tag: "Empty" }

/** A key of a validated identifier. */
export interface PlannedKey {
  readonly key: CompiledKey
  readonly source: Source
}

/** A validated C-FIND identifier. */
export interface FindPlan {
  readonly model: InformationModel
  readonly level: Level
  /** Requested keys in identifier order (control keys excluded). */
  readonly keys: ReadonlyArray<PlannedKey>
  /** Single values of the unique keys of the levels above `level`. */
  readonly ancestors: ReadonlyArray<{ readonly level: Level; readonly value: string }>
}

/** A validated C-MOVE/C-GET identifier: unique key values from the top level down to `level`. */
export interface RetrievePlan {
  readonly model: InformationModel
  readonly level: Level
  readonly uids: ReadonlyArray<{ readonly level: Level; readonly values: ReadonlyArray<string> }>
}

/** Options a plan needs besides matching. */
export interface PlanOptions extends MatchOptions {
  /** Returned for RetrieveAETitle (0008,0054) when asked for; empty otherwise. */
  readonly retrieveAETitle?: string
}

const isColumn = (attribute: { readonly keyword: string }): attribute is Column => "name" in attribute

const COLUMN_BY_KEYWORD = new Map(COLUMNS.map((c) => [c.keyword, c] as const))
const DERIVED_BY_KEYWORD = new Map(DERIVED.map((d) => [d.keyword, d] as const))

/** The level an attribute belongs to in a model (patient attributes are STUDY attributes in Study Root). */
const levelIn = (model: InformationModel, level: Level): Level =>
  model === "StudyRoot" && level === "PATIENT" ? "STUDY" : level

/** A refusal; its reason becomes the response's Error Comment, a LO: keep it within 64 characters. */
const mismatch = (reason: string, keyword?: string) =>
  Result.fail(new IdentifierDoesNotMatchSopClass(keyword === undefined ? { reason } : { reason, keyword }))

/** The Query/Retrieve Level of an identifier, checked against the model. */
export const levelOf = (query: Dataset, model: InformationModel): Result.Result<Level, QueryError> => {
  const raw = query["QueryRetrieveLevel"]
  const value = (Array.isArray(raw) ? raw[0] : raw) as unknown
  const level = typeof value === "string" ? value.trim() : ""
  if (level === "") return mismatch("QueryRetrieveLevel (0008,0052) is missing", "QueryRetrieveLevel")
  if (!(levelsOf(model) as ReadonlyArray<string>).includes(level)) {
    return mismatch(`QueryRetrieveLevel "${level}" is not a ${model} level`, "QueryRetrieveLevel")
  }
  return Result.succeed(level as Level)
}

/** Single values of the unique keys of every level above `level`, each required. */
const ancestorsOf = (
  query: Dataset,
  model: InformationModel,
  level: Level,
  options: MatchOptions
): Result.Result<ReadonlyArray<{ readonly level: Level; readonly value: string }>, QueryError> => {
  const out: Array<{ readonly level: Level; readonly value: string }> = []
  for (const above of levelsOf(model)) {
    if (rank(above) >= rank(level)) break
    const keyword = UNIQUE_KEY[above]
    const compiled = Matching.compileKey(keyword, query[keyword], options)
    if (Result.isFailure(compiled)) return Result.fail(compiled.failure)
    const values = Matching.singleValues(compiled.success)
    if (values === undefined || values.length !== 1 || values[0] === undefined) {
      return mismatch(`${keyword}: a single value needed at ${level} level`, keyword)
    }
    out.push({ level: above, value: values[0] })
  }
  return Result.succeed(out)
}

/**
 * The most keys (attributes besides QueryRetrieveLevel and SpecificCharacterSet, with the sub-keys of a sequence
 * key's item, which `Matching.compileKey` compiles and every matching stored item is cut to) a C-FIND identifier may
 * have; one with more is refused with `UnableToProcess` (0xC000) before any matching. Real queries ask for tens of
 * keys; each key asked for costs the SCP a key test and an element in every response, so an identifier of 30,000
 * keys (240 KB) held the event loop for tens of milliseconds per match and made every response as large as itself
 * (in a sequence's item: once per stored item, each written by dcmjs). PS3.4 C.4.1.1.3.2 lets an SCP leave out
 * optional keys it does not support; this archive returns every key asked for, up to this many.
 */
export const MAX_FIND_KEYS = 1000

/**
 * The keys of an identifier (`top`) or of a sequence key's item: its attributes (control keys aside) and the
 * sub-keys of the item each sequence key is matched with (its first, as `Matching.compileKey` takes it).
 */
const keysIn = (dataset: Dataset, top: boolean): number => {
  let count = 0
  for (const keyword of Object.keys(dataset)) {
    if (top ? isControlKey(keyword) : keyword.startsWith("_")) continue
    count++
    const value = dataset[keyword]
    // only an object or an array of them can be a sequence (a Person Name value is one too: its VR tells)
    if (typeof value !== "object" || value === null) continue
    if (Matching.vrOf(keyword, dataset["_vrMap"]) !== "SQ") continue
    const item = Matching.itemsOf(value)[0]
    if (item !== undefined) count += keysIn(item, false)
  }
  return count
}

/** Validates a C-FIND identifier against a model and says where each key's value comes from. */
export const planFind = (
  query: Dataset,
  model: InformationModel,
  options: PlanOptions
): Result.Result<FindPlan, QueryError> => {
  const count = keysIn(query, true)
  if (count > MAX_FIND_KEYS) {
    return Result.fail(new UnableToProcess({ reason: `${count} keys in the identifier, at most ${MAX_FIND_KEYS}` }))
  }
  const level = levelOf(query, model)
  if (Result.isFailure(level)) return Result.fail(level.failure)
  const queryLevel = level.success
  const ancestors = ancestorsOf(query, model, queryLevel, options)
  if (Result.isFailure(ancestors)) return Result.fail(ancestors.failure)
  const keys: Array<PlannedKey> = []
  for (const [keyword, value] of Object.entries(query)) {
    if (isControlKey(keyword)) continue
    const known = COLUMN_BY_KEYWORD.get(keyword) ?? DERIVED_BY_KEYWORD.get(keyword)
    const compiled = Matching.compileKey(keyword, value, options, known?.vr ?? Matching.vrOf(keyword, query["_vrMap"]))
    if (Result.isFailure(compiled)) return Result.fail(compiled.failure)
    const key = compiled.success
    const universal = key.match._tag === "Universal"
    if (keyword === "InstanceAvailability") {
      keys.push({ key, source: { _tag: "Constant", value: "ONLINE" } })
      continue
    }
    if (keyword === "RetrieveAETitle") {
      keys.push({ key, source: { _tag: "Constant", value: options.retrieveAETitle ?? "" } })
      continue
    }
    if (known === undefined) {
      keys.push({ key, source: { _tag: "Attributes" } })
      continue
    }
    const at = levelIn(model, known.level)
    const isAncestorUniqueKey = rank(at) < rank(queryLevel) && UNIQUE_KEY[at] === keyword
    if (rank(at) < rank(queryLevel) && !isAncestorUniqueKey && !universal) {
      const mixed = `${keyword} is a ${at} level key in a ${queryLevel} level query`
      return Result.fail(new UnableToProcess({ reason: `relational queries are not supported: ${mixed}`, keyword }))
    }
    if (rank(at) > rank(queryLevel)) {
      if (!universal) {
        return Result.fail(
          new UnableToProcess({
            reason: `${keyword} is a ${at} level key, not a key of a ${queryLevel} query`,
            keyword
          })
        )
      }
      keys.push({ key, source: { _tag: "Empty" } })
      continue
    }
    const source: Source = isColumn(known)
      ? { _tag: "Column", column: known }
      : { _tag: "Derived", keyword, level: known.level }
    keys.push({ key, source })
  }
  return Result.succeed({ model, level: queryLevel, keys, ancestors: ancestors.success })
}

/**
 * Validates a C-MOVE/C-GET identifier (PS3.4 C.4.2.2.1, C.4.3.2.1): a single value for the unique key of each
 * level above, one or more values (list of UID) for the unique key of the level itself. Other keys are ignored.
 */
export const planRetrieve = (
  query: Dataset,
  model: InformationModel,
  options: MatchOptions
): Result.Result<RetrievePlan, QueryError> => {
  const level = levelOf(query, model)
  if (Result.isFailure(level)) return Result.fail(level.failure)
  const uids: Array<{ readonly level: Level; readonly values: ReadonlyArray<string> }> = []
  for (const at of levelsOf(model)) {
    if (rank(at) > rank(level.success)) break
    const keyword = UNIQUE_KEY[at]
    const compiled = Matching.compileKey(keyword, query[keyword], options)
    if (Result.isFailure(compiled)) return Result.fail(compiled.failure)
    const values = Matching.singleValues(compiled.success)
    const own = at === level.success
    if (values === undefined || values.length === 0 || (!own && values.length !== 1)) {
      const wanted = own ? "one or more values" : "a single value"
      return mismatch(`${keyword}: ${wanted} needed at ${level.success} level`, keyword)
    }
    uids.push({ level: at, values })
  }
  return Result.succeed({ model, level: level.success, uids })
}
