/**
 * The archive index: patient / study / series / instance tables in SQLite (node:sqlite), the C-FIND query engine
 * on them (PS3.4 C.4.1.3.1 hierarchical search, matching per C.2.2.2 in `Matching`) and the instance lists a
 * C-GET or C-MOVE SCP sends (C.4.2.3, C.4.3.3).
 *
 * Each level's table keeps the usual attributes of the level in columns (see `Levels.COLUMNS`); the counts,
 * ModalitiesInStudy and SOPClassesInStudy are computed when asked for; any other attribute (sequences too) is
 * read from a JSON copy of the entity's headers (each new instance's values win, but an empty value never
 * replaces a stored one; values of removed instances are not taken back out). Values longer than
 * `INDEX_VALUE_LIMIT` are kept out of both: the file has them. SQL narrows the candidates on the
 * unique keys and on date columns; every key is then matched in JavaScript, so SQL never decides a match.
 *
 * Re-storing a SOP Instance UID replaces its row. Patient, study and series attributes are updated from each new
 * instance, keeping old values where the new instance has none. A patient is identified by its Patient ID; instances
 * without one are not all one patient: each study without a Patient ID has a patient of its own. An instance whose
 * series is indexed under another study, or whose study under another patient, is refused (`UidConflict`) unless it
 * is the only instance there: a reused UID never moves others' instances (`uidConflicts: "move"` allows it).
 *
 * @since 0.1.0
 */
import * as Path from "node:path"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as Scope from "effect/Scope"
import { IndexFailed, UidConflict } from "./ArchiveError.ts"
import type { InvalidInstance, QueryError, StoreFailed } from "./ArchiveError.ts"
import * as Header from "./Header.ts"
import type { Dataset, InstanceRecord } from "./Header.ts"
import { INDEX_VALUE_LIMIT, indexable, merger, type Sizes } from "./internal/IndexBudget.ts"
import * as Levels from "./Levels.ts"
import type { Column, FindPlan, InformationModel, Level, PlannedKey } from "./Levels.ts"
import * as Matching from "./Matching.ts"
import * as Sqlite from "./Sqlite.ts"
import type { Database, Row, SqlValue } from "./Sqlite.ts"

/** A stored instance as C-GET/C-MOVE needs it. */
export interface RetrieveItem {
  readonly filePath: string
  readonly fileSize: number
  /** The file's modification time when indexed; none for an entry of schema version 2 (see `IndexedFile`). */
  readonly fileModifiedMs?: number | undefined
  /** Where the bare data set starts in the file (after the File Meta Information). */
  readonly dataSetOffset: number
  readonly sopClassUid: string
  readonly sopInstanceUid: string
  readonly transferSyntaxUid: string
  readonly seriesInstanceUid: string
  readonly studyInstanceUid: string
  readonly patientId: string
}

/** An instance's file as the index recorded it (see `ArchiveIndex.files`). */
export interface IndexedFile {
  readonly sopInstanceUid: string
  readonly filePath: string
  readonly fileSize: number
  /** The modification time recorded; none for an entry made by an index of schema version 2, or without one. */
  readonly fileModifiedMs: number | undefined
}

/**
 * A file of the store left out of the index (not an instance, refused, or another file holds its SOP Instance UID):
 * `Archive.reconcile` does not read it again while its size and modification time stay the same.
 */
export interface LeftOutFile {
  readonly filePath: string
  readonly fileSize: number
  readonly fileModifiedMs: number
  /** For a file left out because another holds its SOP Instance UID: that UID (it is read again once none does). */
  readonly sopInstanceUid: string | undefined
  readonly reason: string
}

/** Options of `find` and `retrieve`. */
export interface QueryOptions {
  /** The information model of the SOP class the query came on (default "StudyRoot"). */
  readonly model?: InformationModel
  /** Overrides the index's Person Name case sensitivity for this query. */
  readonly caseInsensitivePersonName?: boolean
  /** Returned for RetrieveAETitle when an identifier asks for it. */
  readonly retrieveAETitle?: string
}

/** Entity counts. */
export interface IndexStats {
  readonly patients: number
  readonly studies: number
  readonly series: number
  readonly instances: number
}

/** Options of the index. */
export interface ArchiveIndexOptions {
  /** SQLite file name, or ":memory:". */
  readonly filename: string
  /** Person Name matching ignores case (default true). */
  readonly caseInsensitivePersonName?: boolean
  /** Rows fetched per step of a C-FIND stream (default 256). */
  readonly pageSize?: number
  /**
   * An instance whose series is indexed under another study (study under another patient): "refuse" it
   * (`UidConflict`, the default), or "move" the series (study) under the instance's parent, as a plain storage SCP
   * that keeps no archive may.
   */
  readonly uidConflicts?: "refuse" | "move"
  /** Whether each change waits for the disk before it is reported done (default true; see `Sqlite.OpenOptions`). */
  readonly sync?: boolean
}

/** The archive index service. */
export class ArchiveIndex extends Context.Service<
  ArchiveIndex,
  {
    /**
     * Adds or replaces an instance; gives the entry it replaced, if any. Refuses one that would move a series or a
     * study holding other instances under another parent (`UidConflict`, see `ArchiveIndexOptions.uidConflicts`).
     */
    readonly upsert: (record: InstanceRecord) => Effect.Effect<Option.Option<RetrieveItem>, IndexFailed | UidConflict>
    /** The `UidConflict` `upsert` would refuse an instance with, asked before its file is written. */
    readonly admit: (header: Header.Header) => Effect.Effect<void, IndexFailed | UidConflict>
    /** Reads a Part 10 file's header and indexes it under its own path. */
    readonly indexFile: (
      path: string
    ) => Effect.Effect<InstanceRecord, InvalidInstance | StoreFailed | IndexFailed | UidConflict>
    /** C-FIND: the matching identifiers, each with only the requested keys plus QueryRetrieveLevel. */
    readonly find: (query: Dataset, options?: QueryOptions) => Stream.Stream<Dataset, QueryError | IndexFailed>
    /** C-GET/C-MOVE: the stored instances under the unique keys of the identifier. */
    readonly retrieve: (
      query: Dataset,
      options?: QueryOptions
    ) => Effect.Effect<ReadonlyArray<RetrieveItem>, QueryError | IndexFailed>
    /** One instance by SOP Instance UID. */
    readonly get: (sopInstanceUid: string) => Effect.Effect<Option.Option<RetrieveItem>, IndexFailed>
    /** Removes an instance (and parents left empty); gives what was removed. */
    readonly remove: (sopInstanceUid: string) => Effect.Effect<Option.Option<RetrieveItem>, IndexFailed>
    /** Entity counts. */
    readonly stats: Effect.Effect<IndexStats, IndexFailed>
    /** Every instance's file as recorded (one scan of the instance table), for `Archive.reconcile`. */
    readonly files: Effect.Effect<ReadonlyArray<IndexedFile>, IndexFailed>
    /** The store's files `Archive.reconcile` left out of the index, as it recorded them (`recordLeftOut`). */
    readonly leftOut: Effect.Effect<ReadonlyArray<LeftOutFile>, IndexFailed>
    /** Records files left out (replacing what was recorded for their paths) and forgets the paths in `forget`. */
    readonly recordLeftOut: (
      files: ReadonlyArray<LeftOutFile>,
      forget: ReadonlyArray<string>
    ) => Effect.Effect<void, IndexFailed>
    /**
     * The older schema version found on opening, whose tables were dropped and made anew (empty): the index is
     * derived from the stored files, so `Archive.rebuild` re-indexes them. Undefined when none was replaced; still
     * given on later openings until `reindexed` (which `Archive.rebuild` runs once it has been through the files).
     */
    readonly replacedSchema: number | undefined
    /**
     * Whether the store's files are owed an indexing: the index was created on this or an earlier opening, or its
     * schema replaced (`replacedSchema`), and `reindexed` has not been run since. A server that adopts the files
     * already in its store (`Archive.rebuild`) and is stopped before the end is told again at its next start.
     */
    readonly indexingOwed: boolean
    /** Records that the store's files were indexed (`Archive.rebuild` runs it once it has been through them). */
    readonly reindexed: Effect.Effect<void, IndexFailed>
  }
>()("@netdicom/archive/ArchiveIndex") {
  /** An index in `options.filename`, open for the lifetime of the layer. */
  static readonly layer = (options: ArchiveIndexOptions): Layer.Layer<ArchiveIndex, IndexFailed> =>
    Layer.effect(ArchiveIndex, make(options))
}

const SCHEMA_VERSION = 3
/** Older schemas this version replaces on opening (their rows dropped: the store's files are re-indexed). */
const REPLACEABLE_VERSIONS = [1]
/**
 * Older schemas this version upgrades in place, rows kept, with the statements that do it. Version 2 recorded no
 * modification time: its entries have none (NULL), and the next `Archive.reconcile` reads their files once.
 */
const UPGRADES: ReadonlyMap<number, string> = new Map([[2, "ALTER TABLE instance ADD COLUMN file_mtime REAL;"]])

const TABLE: Readonly<Record<Level, { readonly table: string; readonly alias: string; readonly parent?: string }>> = {
  PATIENT: { table: "patient", alias: "p" },
  STUDY: { table: "study", alias: "st", parent: "patient_pk" },
  SERIES: { table: "series", alias: "se", parent: "study_pk" },
  IMAGE: { table: "instance", alias: "i", parent: "series_pk" }
}

/** The patient table's identity column: the Patient ID, or for an empty one the study's own (see `patientKey`). */
const PATIENT_KEY = "patient_key"
/** The column an upsert of `level` conflicts on: the level's unique key, the patient key at PATIENT level. */
const conflictKey = (level: Level): string => (level === "PATIENT" ? PATIENT_KEY : uniqueColumn(level).name)
/**
 * Who a patient is: its Patient ID; without one (anonymized data, Type 2 left empty), nothing says two studies
 * belong to one person, so each study's instances are a patient of their own (a study-level C-FIND then answers
 * each study's own Patient Name, not the last one stored for any ID-less study).
 */
const patientKey = (patientId: string, studyInstanceUid: string): string =>
  patientId !== "" ? `id:${patientId}` : `study:${studyInstanceUid}`

const columnsOf = (level: Level): ReadonlyArray<Column> => Levels.COLUMNS.filter((c) => c.level === level)
const uniqueColumn = (level: Level): Column => columnsOf(level).find((c) => c.keyword === Levels.UNIQUE_KEY[level])!

const schema = (): string => {
  const parents: Readonly<Record<Level, string>> = {
    PATIENT: "",
    STUDY: "patient_pk INTEGER NOT NULL REFERENCES patient(pk),",
    SERIES: "study_pk INTEGER NOT NULL REFERENCES study(pk),",
    IMAGE: "series_pk INTEGER NOT NULL REFERENCES series(pk),"
  }
  const extra = `, specific_character_set TEXT NOT NULL, file_path TEXT NOT NULL, file_size INTEGER NOT NULL,
    data_set_offset INTEGER NOT NULL, stored_at TEXT NOT NULL, file_mtime REAL`
  const tables = Levels.LEVELS.map((level) => {
    const cols = columnsOf(level).map((c) =>
      c.keyword !== Levels.UNIQUE_KEY[level]
        ? `${c.name} TEXT`
        : `${c.name} TEXT NOT NULL${conflictKey(level) === c.name ? " UNIQUE" : ""}`
    )
    const key = level === "PATIENT" ? `${PATIENT_KEY} TEXT NOT NULL UNIQUE, ` : ""
    return `CREATE TABLE IF NOT EXISTS ${TABLE[level].table} (pk INTEGER PRIMARY KEY, ${parents[level]}
      ${key}${cols.join(", ")}${level === "IMAGE" ? extra : ""}, attrs TEXT NOT NULL);`
  })
  return `${tables.join("\n")}
    CREATE INDEX IF NOT EXISTS patient_by_id ON patient(patient_id);
    CREATE INDEX IF NOT EXISTS study_patient ON study(patient_pk);
    CREATE INDEX IF NOT EXISTS study_date ON study(study_date);
    CREATE INDEX IF NOT EXISTS series_study ON series(study_pk);
    CREATE INDEX IF NOT EXISTS instance_series ON instance(series_pk);
    CREATE TABLE IF NOT EXISTS reindex (from_version INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS left_out (file_path TEXT PRIMARY KEY, file_size INTEGER NOT NULL,
      file_mtime REAL NOT NULL, sop_instance_uid TEXT, reason TEXT NOT NULL);
    PRAGMA user_version = ${SCHEMA_VERSION};`
}

/** A naturalized value as a column text: values joined by backslash, dates normalized; null when empty. */
const columnText = (vr: string, value: unknown): string | null => {
  const values = Matching.strings(vr, value).map((v) => (vr === "DA" ? Matching.normalizeDate(v) : v))
  return values.length === 0 ? null : values.join("\\")
}

/** A column text back in dcmjs's naturalized form. */
const fromColumn = (vr: string, text: unknown): unknown => {
  if (typeof text !== "string" || text === "") return undefined
  const parts = text.split("\\")
  if (vr === "PN") return parts.map(Matching.personNameValue)
  const values = vr === "IS" || vr === "DS" ? parts.map(Number) : parts
  return values.length === 1 ? values[0] : values
}

const DERIVED_SQL: Readonly<Record<string, string>> = {
  NumberOfPatientRelatedStudies: "(SELECT COUNT(*) FROM study x WHERE x.patient_pk = p.pk)",
  NumberOfPatientRelatedSeries:
    "(SELECT COUNT(*) FROM series x JOIN study y ON x.study_pk = y.pk WHERE y.patient_pk = p.pk)",
  NumberOfPatientRelatedInstances:
    "(SELECT COUNT(*) FROM instance x JOIN series y ON x.series_pk = y.pk" +
    " JOIN study z ON y.study_pk = z.pk WHERE z.patient_pk = p.pk)",
  ModalitiesInStudy: "(SELECT group_concat(DISTINCT x.modality) FROM series x WHERE x.study_pk = st.pk)",
  SOPClassesInStudy:
    "(SELECT group_concat(DISTINCT x.sop_class_uid) FROM instance x" +
    " JOIN series y ON x.series_pk = y.pk WHERE y.study_pk = st.pk)",
  NumberOfStudyRelatedSeries: "(SELECT COUNT(*) FROM series x WHERE x.study_pk = st.pk)",
  NumberOfStudyRelatedInstances:
    "(SELECT COUNT(*) FROM instance x JOIN series y ON x.series_pk = y.pk WHERE y.study_pk = st.pk)",
  NumberOfSeriesRelatedInstances: "(SELECT COUNT(*) FROM instance x WHERE x.series_pk = se.pk)"
}

const fromDerived = (text: unknown): unknown => {
  if (typeof text === "number" || typeof text === "bigint") return Number(text)
  if (typeof text !== "string" || text === "") return undefined
  const values = [...new Set(text.split(/[,\\]/))].sort()
  return values.length === 1 ? values[0] : values
}

const FROM: Readonly<Record<Level, string>> = {
  PATIENT: "patient p",
  STUDY: "study st JOIN patient p ON st.patient_pk = p.pk",
  SERIES: "series se JOIN study st ON se.study_pk = st.pk JOIN patient p ON st.patient_pk = p.pk",
  IMAGE:
    "instance i JOIN series se ON i.series_pk = se.pk" +
    " JOIN study st ON se.study_pk = st.pk JOIN patient p ON st.patient_pk = p.pk"
}

const RETRIEVE_SELECT = `SELECT i.file_path, i.file_size, i.file_mtime, i.data_set_offset, i.sop_class_uid,
  i.sop_instance_uid, i.transfer_syntax_uid, se.series_instance_uid, st.study_instance_uid, p.patient_id
  FROM ${FROM.IMAGE}`

/** An instance's row by SOP Instance UID, with its entry's fields when its parents are there (they always are). */
const PREVIOUS_SELECT = `SELECT i.pk AS instance_pk, i.series_pk AS instance_series_pk, i.file_path, i.file_size,
  i.file_mtime, i.data_set_offset, i.sop_class_uid, i.sop_instance_uid, i.transfer_syntax_uid, se.series_instance_uid,
  st.study_instance_uid, p.patient_id
  FROM instance i LEFT JOIN series se ON i.series_pk = se.pk LEFT JOIN study st ON se.study_pk = st.pk
  LEFT JOIN patient p ON st.patient_pk = p.pk WHERE i.sop_instance_uid = ?`

const toRetrieveItem = (row: Row): RetrieveItem => ({
  filePath: String(row["file_path"]),
  fileSize: Number(row["file_size"]),
  fileModifiedMs: typeof row["file_mtime"] === "number" ? row["file_mtime"] : undefined,
  dataSetOffset: Number(row["data_set_offset"]),
  sopClassUid: String(row["sop_class_uid"] ?? ""),
  sopInstanceUid: String(row["sop_instance_uid"]),
  transferSyntaxUid: String(row["transfer_syntax_uid"] ?? ""),
  seriesInstanceUid: String(row["series_instance_uid"]),
  studyInstanceUid: String(row["study_instance_uid"]),
  patientId: String(row["patient_id"])
})

const MAX_IN_LIST = 500

/** The SQL of one page of a C-FIND and how to read a row back into key values. */
const compileFind = (plan: FindPlan, pageSize: number) => {
  const { alias } = TABLE[plan.level]
  const select: Array<string> = [`${alias}.pk AS __pk`]
  const where: Array<string> = [`${alias}.pk > ?`]
  const params: Array<SqlValue> = []
  const readers: Array<(row: Row, attrs: () => Dataset) => unknown> = []
  for (const ancestor of plan.ancestors) {
    where.push(`${TABLE[ancestor.level].alias}.${uniqueColumn(ancestor.level).name} = ?`)
    params.push(ancestor.value)
  }
  plan.keys.forEach(({ key, source }: PlannedKey, i) => {
    switch (source._tag) {
      case "Column": {
        const expr = `${TABLE[source.column.level].alias}.${source.column.name}`
        select.push(`${expr} AS c${i}`)
        readers.push((row) => fromColumn(source.column.vr, row[`c${i}`]))
        const singles = Matching.singleValues(key)
        if (key.vr === "UI" && singles !== undefined && singles.length <= MAX_IN_LIST) {
          where.push(`${expr} IN (${singles.map(() => "?").join(", ")})`)
          params.push(...singles)
        } else if (key.vr === "DA" && key.match._tag === "Values" && key.match.values.length === 1) {
          const only = key.match.values[0]!
          if (only._tag === "Single") {
            where.push(`${expr} = ?`)
            params.push(Matching.normalizeDate(only.value))
          } else if (only._tag === "Range") {
            if (only.lower !== undefined) {
              where.push(`${expr} >= ?`)
              params.push(only.lower)
            }
            if (only.upper !== undefined) {
              where.push(`${expr} <= ?`)
              params.push(only.upper)
            }
          }
        }
        return
      }
      case "Derived":
        select.push(`${DERIVED_SQL[source.keyword]} AS c${i}`)
        readers.push((row) => fromDerived(row[`c${i}`]))
        return
      case "Attributes":
        readers.push((_, attrs) => attrs()[key.keyword])
        return
      case "Constant":
        readers.push(() => source.value)
        return
      case "Empty":
        readers.push(() => undefined)
        return
    }
  })
  const needsAttrs = plan.keys.some((k) => k.source._tag === "Attributes")
  if (needsAttrs) select.push(`${alias}.attrs AS __attrs`)
  const sql = `SELECT ${select.join(", ")} FROM ${FROM[plan.level]} WHERE ${where.join(" AND ")}
    ORDER BY ${alias}.pk LIMIT ${pageSize}`
  return { sql, params, readers }
}

const isAsciiString = (value: string): boolean => {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) >= 0x80) return false
  return true
}

const isAscii = (value: unknown): boolean => {
  if (typeof value === "string") return isAsciiString(value)
  if (Array.isArray(value)) return value.every(isAscii)
  if (typeof value === "object" && value !== null) return Object.values(value).every(isAscii)
  return true
}

// A key naming an element by its tag, not a keyword (a private element's, one the dictionary lacks).
const HEX_KEY = /^[0-9A-Fa-f]{8}$/

/** One row of a C-FIND page as a response identifier, or undefined when a key does not match. */
const respond = (
  plan: FindPlan,
  readers: ReadonlyArray<(row: Row, attrs: () => Dataset) => unknown>,
  row: Row
): Dataset | undefined => {
  let parsed: Dataset | undefined
  const attrs = (): Dataset => {
    if (parsed === undefined) {
      const text = row["__attrs"]
      parsed = typeof text === "string" ? (JSON.parse(text) as Dataset) : {}
    }
    return parsed
  }
  // built in place (the plan has no control key), not spread into another object: an identifier may ask for thousands
  const out: Record<string, unknown> = { QueryRetrieveLevel: plan.level }
  let vrMap: Record<string, string> | undefined
  for (let i = 0; i < plan.keys.length; i++) {
    const { key } = plan.keys[i]!
    const stored = readers[i]!(row, attrs)
    if (!key.test(stored)) return undefined
    out[key.keyword] = key.respond(stored)
    // a private element's key is written in the VR the request gave it (the index does not keep that VR)
    if (key.vr !== "UN" && HEX_KEY.test(key.keyword)) (vrMap ??= {})[key.keyword] = key.vr
  }
  if (vrMap !== undefined) out["_vrMap"] = vrMap
  return isAscii(out) ? out : { SpecificCharacterSet: "ISO_IR 192", ...out }
}

/** Builds the index on an open database (creating the schema when missing). */
export const make = (options: ArchiveIndexOptions): Effect.Effect<ArchiveIndex["Service"], IndexFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const db = yield* Sqlite.open({
      filename: options.filename,
      ...(options.sync === undefined ? {} : { sync: options.sync })
    })
    const version = yield* Sqlite.use("read schema version", () =>
      Number(db.get("PRAGMA user_version")?.["user_version"])
    )
    const replaced = REPLACEABLE_VERSIONS.includes(version) ? version : undefined
    const upgrade = UPGRADES.get(version)
    if (version !== 0 && version !== SCHEMA_VERSION && replaced === undefined && upgrade === undefined) {
      return yield* new IndexFailed({ operation: "open", cause: `unknown schema version ${version}` })
    }
    // the indexing a new index (from_version 0) or a replaced schema needs is recorded until `reindexed` says it was
    // done: a server stopped while it ran finds it still to do on its next start, not a current but partial index
    const pending = yield* Sqlite.use("create schema", () =>
      db.transaction(() => {
        if (replaced !== undefined) {
          db.exec(["instance", "series", "study", "patient"].map((t) => `DROP TABLE IF EXISTS ${t};`).join(" "))
        }
        if (upgrade !== undefined) db.exec(upgrade)
        db.exec(schema())
        if (version === 0 || replaced !== undefined) {
          db.run("DELETE FROM reindex", [])
          db.run("INSERT INTO reindex (from_version) VALUES (?)", [replaced ?? 0])
        }
        const row = db.get("SELECT from_version FROM reindex LIMIT 1")
        return row === undefined ? undefined : Number(row["from_version"])
      })
    )
    const caseInsensitive = options.caseInsensitivePersonName ?? true
    const pageSize = Math.max(1, options.pageSize ?? 256)
    const matchOptions = (o: QueryOptions | undefined) => ({
      caseInsensitivePersonName: o?.caseInsensitivePersonName ?? caseInsensitive,
      ...(o?.retrieveAETitle === undefined ? {} : { retrieveAETitle: o.retrieveAETitle })
    })

    const refuse = options.uidConflicts !== "move"
    const upsert = (record: InstanceRecord) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Sqlite.use("index instance", () =>
          db.transaction(() => {
            const conflict = refuse ? conflictSync(db, record) : undefined
            return conflict ?? upsertSync(db, record, new Date(now).toISOString())
          })
        )
      ).pipe(
        Effect.flatMap((done) => {
          if (done instanceof UidConflict) return Effect.fail(done)
          if (done.patientChanges.length === 0) return Effect.succeed(done.previous)
          return Effect.as(Effect.logWarning(patientChangeLine(record, done.patientChanges)), done.previous)
        })
      )
    const admit = (header: Header.Header) =>
      refuse
        ? Sqlite.use("check instance", () => conflictSync(db, header)).pipe(
            Effect.flatMap((conflict) => (conflict === undefined ? Effect.void : Effect.fail(conflict)))
          )
        : Effect.void

    const find = (query: Dataset, o?: QueryOptions): Stream.Stream<Dataset, QueryError | IndexFailed> =>
      Stream.unwrap(
        Effect.gen(function* () {
          const plan = yield* Effect.fromResult(Levels.planFind(query, o?.model ?? "StudyRoot", matchOptions(o)))
          const { sql, params, readers } = compileFind(plan, pageSize)
          return Stream.paginate(0, (after: number) =>
            Sqlite.use("find", () => {
              const rows = db.all(sql, [after, ...params])
              const matches = rows.flatMap((row): ReadonlyArray<Dataset> => {
                const identifier = respond(plan, readers, row)
                return identifier === undefined ? [] : [identifier]
              })
              const last = rows.at(-1)
              const next =
                rows.length < pageSize || last === undefined ? Option.none() : Option.some(Number(last["__pk"]))
              return [matches, next] as const
            })
          )
        })
      )

    const retrieve = (query: Dataset, o?: QueryOptions) =>
      Effect.gen(function* () {
        const plan = yield* Effect.fromResult(Levels.planRetrieve(query, o?.model ?? "StudyRoot", matchOptions(o)))
        // a long list of UIDs goes as one JSON array: SQLite takes at most 32,766 parameters in a statement
        const where = plan.uids.map(({ level, values }) => {
          const column = `${TABLE[level].alias}.${uniqueColumn(level).name}`
          return values.length <= MAX_IN_LIST
            ? `${column} IN (${values.map(() => "?").join(", ")})`
            : `${column} IN (SELECT value FROM json_each(?))`
        })
        const params = plan.uids.flatMap(({ values }) =>
          values.length <= MAX_IN_LIST ? values : [JSON.stringify(values)]
        )
        return yield* Sqlite.use("retrieve", () =>
          db
            .all(`${RETRIEVE_SELECT} WHERE ${where.join(" AND ")} ORDER BY st.pk, se.pk, i.pk`, params)
            .map(toRetrieveItem)
        )
      })

    const get = (sopInstanceUid: string) =>
      Sqlite.use("get instance", () => Option.fromNullishOr(getSync(db, sopInstanceUid)))

    return ArchiveIndex.of({
      replacedSchema: pending === undefined || pending === 0 ? undefined : pending,
      indexingOwed: pending !== undefined,
      reindexed: Sqlite.use("record the re-index", () => {
        db.run("DELETE FROM reindex", [])
      }),
      upsert,
      admit,
      indexFile: (path) =>
        Effect.flatMap(Header.fromFile(Path.resolve(path)), (record) => Effect.as(upsert(record), record)),
      find,
      retrieve,
      get,
      remove: (sopInstanceUid) =>
        Sqlite.use("remove instance", () =>
          db.transaction(() => {
            const old = db.get("SELECT pk, series_pk FROM instance WHERE sop_instance_uid = ?", [sopInstanceUid])
            if (old === undefined) return Option.none()
            const item = getSync(db, sopInstanceUid)
            db.run("DELETE FROM instance WHERE pk = ?", [Number(old["pk"])])
            pruneSeries(db, Number(old["series_pk"]))
            return Option.fromNullishOr(item)
          })
        ),
      files: Sqlite.use("list files", () =>
        db
          .allArrays("SELECT sop_instance_uid, file_path, file_size, file_mtime FROM instance")
          .map(([uid, path, size, mtime]): IndexedFile => ({
            sopInstanceUid: String(uid),
            filePath: String(path),
            fileSize: Number(size),
            fileModifiedMs: typeof mtime === "number" ? mtime : undefined
          }))
      ),
      leftOut: Sqlite.use("list files left out", () =>
        db
          .all("SELECT file_path, file_size, file_mtime, sop_instance_uid, reason FROM left_out")
          .map((row): LeftOutFile => ({
            filePath: String(row["file_path"]),
            fileSize: Number(row["file_size"]),
            fileModifiedMs: Number(row["file_mtime"]),
            sopInstanceUid: typeof row["sop_instance_uid"] === "string" ? row["sop_instance_uid"] : undefined,
            reason: String(row["reason"])
          }))
      ),
      recordLeftOut: (files, forget) =>
        Sqlite.use("record files left out", () =>
          db.transaction(() => {
            for (const path of forget) db.run("DELETE FROM left_out WHERE file_path = ?", [path])
            for (const f of files) {
              db.run(
                `INSERT OR REPLACE INTO left_out (file_path, file_size, file_mtime, sop_instance_uid, reason)
                 VALUES (?, ?, ?, ?, ?)`,
                [f.filePath, f.fileSize, f.fileModifiedMs, f.sopInstanceUid ?? null, f.reason]
              )
            }
          })
        ),
      stats: Sqlite.use("stats", () => {
        const row = db.get(`SELECT (SELECT COUNT(*) FROM patient) AS patients, (SELECT COUNT(*) FROM study) AS studies,
          (SELECT COUNT(*) FROM series) AS series, (SELECT COUNT(*) FROM instance) AS instances`)
        return {
          patients: Number(row?.["patients"]),
          studies: Number(row?.["studies"]),
          series: Number(row?.["series"]),
          instances: Number(row?.["instances"])
        }
      })
    })
  })

const getSync = (db: Database, sopInstanceUid: string): RetrieveItem | undefined => {
  const row = db.get(`${RETRIEVE_SELECT} WHERE i.sop_instance_uid = ?`, [sopInstanceUid])
  return row === undefined ? undefined : toRetrieveItem(row)
}

const pruneSeries = (db: Database, pk: number): void => {
  const row = db.get("SELECT study_pk FROM series WHERE pk = ?", [pk])
  if (row === undefined || db.get("SELECT 1 AS x FROM instance WHERE series_pk = ? LIMIT 1", [pk]) !== undefined) return
  db.run("DELETE FROM series WHERE pk = ?", [pk])
  pruneStudy(db, Number(row["study_pk"]))
}

const pruneStudy = (db: Database, pk: number): void => {
  const row = db.get("SELECT patient_pk FROM study WHERE pk = ?", [pk])
  if (row === undefined || db.get("SELECT 1 AS x FROM series WHERE study_pk = ? LIMIT 1", [pk]) !== undefined) return
  db.run("DELETE FROM study WHERE pk = ?", [pk])
  prunePatient(db, Number(row["patient_pk"]))
}

const prunePatient = (db: Database, pk: number): void => {
  if (db.get("SELECT 1 AS x FROM study WHERE patient_pk = ? LIMIT 1", [pk]) !== undefined) return
  db.run("DELETE FROM patient WHERE pk = ?", [pk])
}

export { INDEX_ATTRIBUTES_LIMIT, INDEX_SEQUENCE_LIMIT, INDEX_VALUE_LIMIT } from "./internal/IndexBudget.ts"

/** What writing one level's row takes, worked out once: its columns and its two statements. */
interface LevelWrite {
  readonly columns: ReadonlyArray<Column>
  readonly unique: Column
  readonly parent: string | undefined
  /** The row by its key: pk, attrs, parent and columns. */
  readonly select: string
  readonly upsert: string
  readonly updateAttrs: string
}

const levelWrite = (level: Exclude<Level, "IMAGE">): LevelWrite => {
  const columns = columnsOf(level)
  const parent = TABLE[level].parent
  const key = conflictKey(level)
  const names = [
    ...(parent === undefined ? [] : [parent]),
    ...(level === "PATIENT" ? [PATIENT_KEY] : []),
    ...columns.map((c) => c.name),
    "attrs"
  ]
  const updates = names
    .filter((n) => n !== key)
    .map((n) => (n === parent || n === "attrs" ? `${n} = excluded.${n}` : `${n} = COALESCE(excluded.${n}, ${n})`))
  const read = ["pk", "attrs", ...(parent === undefined ? [] : [parent]), ...columns.map((c) => c.name)]
  return {
    columns,
    unique: uniqueColumn(level),
    parent,
    select: `SELECT ${read.join(", ")} FROM ${TABLE[level].table} WHERE ${key} = ?`,
    upsert: `INSERT INTO ${TABLE[level].table} (${names.join(", ")}) VALUES (${names.map(() => "?").join(", ")})
     ON CONFLICT(${key}) DO UPDATE SET ${updates.join(", ")} RETURNING pk`,
    updateAttrs: `UPDATE ${TABLE[level].table} SET attrs = ? WHERE pk = ?`
  }
}

const LEVEL_WRITES = { PATIENT: levelWrite("PATIENT"), STUDY: levelWrite("STUDY"), SERIES: levelWrite("SERIES") }

/**
 * Inserts or updates one level's row (values kept where the new instance has none); returns its pk and the parent it
 * had (undefined for a new row, or at PATIENT level). A row whose parent and columns the instance leaves as they are
 * (the usual case: the next instance of a series) has only its `attrs` written, and not even that when they are the
 * same: the level's indexes are not touched, so a commit writes fewer pages.
 */
const upsertLevel = (
  db: Database,
  level: Exclude<Level, "IMAGE">,
  record: InstanceRecord,
  parentPk: number | undefined,
  merge: (old: unknown) => string
): { readonly pk: number; readonly oldParent: number | undefined; readonly changed?: ReadonlyArray<Change> } => {
  const { columns, unique, parent, select, upsert, updateAttrs } = LEVEL_WRITES[level]
  const values: Array<SqlValue> = []
  if (level !== "PATIENT") values.push(parentPk ?? null)
  let key: SqlValue = ""
  for (const c of columns) {
    const text = columnText(c.vr, record.dataset[c.keyword])
    if (c === unique) key = text ?? ""
    values.push(c === unique ? (text ?? "") : text)
  }
  if (level === "PATIENT") {
    key = patientKey(String(key), record.studyInstanceUid)
    values.unshift(key)
  }
  const old = db.get(select, [key])
  const oldParent = old === undefined || parent === undefined ? undefined : Number(old[parent])
  const attrs = merge(old?.["attrs"])
  if (old !== undefined && unchanged(old, parent, parentPk, columns, values)) {
    if (attrs !== old["attrs"]) db.run(updateAttrs, [attrs, Number(old["pk"])])
    return { pk: Number(old["pk"]), oldParent }
  }
  values.push(attrs)
  const pk = Number(db.get(upsert, values)?.["pk"])
  return old === undefined ? { pk, oldParent } : { pk, oldParent, changed: changes(old, columns, values) }
}

/** A column value an instance replaced in its patient's (study's, series's) row. */
interface Change {
  readonly keyword: string
  readonly was: SqlValue
  readonly now: SqlValue
}

// The columns whose stored value the upsert's `values` (the parent or patient key first) replace.
const changes = (row: Row, columns: ReadonlyArray<Column>, values: ReadonlyArray<SqlValue>): ReadonlyArray<Change> => {
  const out: Array<Change> = []
  for (let i = 0; i < columns.length; i++) {
    const now = values[i + 1] ?? null
    const was = row[columns[i]!.name] ?? null
    if (now !== null && now !== was) out.push({ keyword: columns[i]!.keyword, was: was as SqlValue, now })
  }
  return out
}

/**
 * Whether the upsert would leave a row's parent and columns as they are: each new column value is null (COALESCE
 * keeps the stored one) or the stored one. `values` are the upsert's, the parent or the patient key first.
 */
const unchanged = (
  row: Row,
  parent: string | undefined,
  parentPk: number | undefined,
  columns: ReadonlyArray<Column>,
  values: ReadonlyArray<SqlValue>
): boolean => {
  if (parent !== undefined && Number(row[parent]) !== parentPk) return false
  for (let i = 0; i < columns.length; i++) {
    const value = values[i + 1]
    if (value !== null && value !== row[columns[i]!.name]) return false
  }
  return true
}

const patientIdOf = (header: Header.Header): string => {
  const column = uniqueColumn("PATIENT")
  return columnText(column.vr, header.dataset[column.keyword]) ?? ""
}

/**
 * The series (study) the instance would move under another parent, when other instances are in it: a series of
 * another study, a study of another patient (`patientKey`). The instance alone in it may move it (a re-store
 * correcting its own attributes).
 */
const conflictSync = (db: Database, header: Header.Header): UidConflict | undefined => {
  const sop = header.sopInstanceUid
  const series = db.get(
    `SELECT se.pk, st.study_instance_uid FROM series se JOIN study st ON se.study_pk = st.pk
     WHERE se.series_instance_uid = ?`,
    [header.seriesInstanceUid]
  )
  if (
    series !== undefined &&
    series["study_instance_uid"] !== header.studyInstanceUid &&
    db.get("SELECT 1 AS x FROM instance WHERE series_pk = ? AND sop_instance_uid <> ? LIMIT 1", [
      Number(series["pk"]),
      sop
    ]) !== undefined
  ) {
    return new UidConflict({
      level: "Series",
      uid: header.seriesInstanceUid,
      indexedUnder: String(series["study_instance_uid"]),
      instanceSays: header.studyInstanceUid
    })
  }
  const study = db.get(
    `SELECT st.pk, p.patient_key, p.patient_id FROM study st JOIN patient p ON st.patient_pk = p.pk
     WHERE st.study_instance_uid = ?`,
    [header.studyInstanceUid]
  )
  const patientId = patientIdOf(header)
  if (
    study !== undefined &&
    study["patient_key"] !== patientKey(patientId, header.studyInstanceUid) &&
    db.get(
      `SELECT 1 AS x FROM instance i JOIN series se ON i.series_pk = se.pk
       WHERE se.study_pk = ? AND i.sop_instance_uid <> ? LIMIT 1`,
      [Number(study["pk"]), sop]
    ) !== undefined
  ) {
    return new UidConflict({
      level: "Study",
      uid: header.studyInstanceUid,
      indexedUnder: String(study["patient_id"] ?? ""),
      instanceSays: patientId
    })
  }
  return undefined
}

const INSTANCE_COLUMNS = columnsOf("IMAGE")
const INSERT_INSTANCE = (() => {
  const names = [
    "series_pk",
    ...INSTANCE_COLUMNS.map((c) => c.name),
    "specific_character_set",
    "file_path",
    "file_size",
    "data_set_offset",
    "file_mtime",
    "stored_at",
    "attrs"
  ]
  return `INSERT INTO instance (${names.join(", ")}) VALUES (${names.map(() => "?").join(", ")})`
})()

/** What an upsert replaced: the instance's former entry, and the patient's attributes it changed. */
interface Upserted {
  readonly previous: Option.Option<RetrieveItem>
  readonly patientChanges: ReadonlyArray<Change>
}

const upsertSync = (db: Database, full: InstanceRecord, storedAt: string): Upserted => {
  const sizes: Sizes = new Map()
  // a data set whose JSON is within INDEX_VALUE_LIMIT has every value (and all of them) within the limits
  const whole = JSON.stringify(full.dataset)
  const small = whole.length <= INDEX_VALUE_LIMIT
  const record: InstanceRecord = small ? full : { ...full, dataset: indexable(full.dataset, sizes) }
  const attrs = small ? whole : JSON.stringify(record.dataset)
  // the entry replaced, if any, with where it was
  const oldInstance = db.get(PREVIOUS_SELECT, [record.sopInstanceUid])
  const previous =
    oldInstance === undefined || oldInstance["patient_id"] === null ? undefined : toRetrieveItem(oldInstance)

  // each level's row as it was, read before it is written: the study and series's parents before this instance
  const merge = merger(record.dataset, attrs.length, sizes)
  const patient = upsertLevel(db, "PATIENT", record, undefined, merge)
  const study = upsertLevel(db, "STUDY", record, patient.pk, merge)
  const series = upsertLevel(db, "SERIES", record, study.pk, merge)
  const [patientPk, studyPk, seriesPk] = [patient.pk, study.pk, series.pk]

  if (oldInstance !== undefined) db.run("DELETE FROM instance WHERE pk = ?", [Number(oldInstance["instance_pk"])])
  const values: Array<SqlValue> = [seriesPk]
  for (const c of INSTANCE_COLUMNS) {
    values.push(
      c.keyword === "AvailableTransferSyntaxUID"
        ? record.transferSyntaxUid
        : columnText(c.vr, record.dataset[c.keyword])
    )
  }
  values.push(
    record.specificCharacterSet,
    record.filePath,
    record.fileSize,
    record.dataSetOffset,
    record.fileModifiedMs ?? null,
    storedAt,
    attrs
  )
  db.run(INSERT_INSTANCE, values)

  // entities the instance, its series or its study left behind
  if (oldInstance !== undefined && Number(oldInstance["instance_series_pk"]) !== seriesPk) {
    pruneSeries(db, Number(oldInstance["instance_series_pk"]))
  }
  if (series.oldParent !== undefined && series.oldParent !== studyPk) pruneStudy(db, series.oldParent)
  if (study.oldParent !== undefined && study.oldParent !== patientPk) prunePatient(db, study.oldParent)
  return { previous: Option.fromNullishOr(previous), patientChanges: patient.changed ?? [] }
}

// The log line of an instance that changed its patient's attributes (a patient is its Patient ID; the last wins).
const patientChangeLine = (record: InstanceRecord, changes: ReadonlyArray<Change>): string => {
  const shown = (v: SqlValue) => (v === null || v === undefined ? "(none)" : JSON.stringify(v))
  const what = changes.map((c) => `${c.keyword} ${shown(c.was)} -> ${shown(c.now)}`).join(", ")
  const id = columnText(uniqueColumn("PATIENT").vr, record.dataset["PatientID"]) ?? ""
  const subject = `instance ${record.sopInstanceUid} changes patient ${JSON.stringify(id)}`
  return `${subject}: ${what} (a patient's attributes are its latest instance's)`
}
