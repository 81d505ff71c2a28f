/**
 * The archive's Modality Performed Procedure Steps (PS3.4 Annex F.7): a table `mpps` in SQLite, beside the index's
 * tables in the same file (its own connection; the index's schema version and re-indexing leave it alone), one row a
 * step:
 *
 *     sop_instance_uid TEXT PRIMARY KEY, status TEXT, calling_ae_title TEXT, created_ms INTEGER, updated_ms INTEGER,
 *     data_set BLOB   -- the step's attributes, Explicit VR Little Endian, text in UTF-8 (ISO_IR 192)
 *
 * `layer` opens it; `scpLayer` serves the MPPS SOP class from it (`@netdicom/net`'s `MppsScp`, which holds the
 * rules). A site reads the steps with `list`, or with any SQLite client (`status` and the times are columns).
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { DataSet, MppsScp } from "@netdicom/net"
import type { Normalized } from "@netdicom/net"
import type { IndexFailed } from "./ArchiveError.ts"
import * as Sqlite from "./Sqlite.ts"

const EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"

const SCHEMA = `CREATE TABLE IF NOT EXISTS mpps (
  sop_instance_uid TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  calling_ae_title TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  data_set BLOB NOT NULL
)`

/** A step as kept. */
export interface Step extends MppsScp.StepRecord {
  readonly sopInstanceUid: string
  readonly createdMs: number
  readonly updatedMs: number
}

/** Options of the table. */
export interface Options {
  /** The SQLite file (the index's), or ":memory:". */
  readonly filename: string
  /** Whether each change waits for the disk (default true; see `Sqlite.OpenOptions`). */
  readonly sync?: boolean
}

const decoded = (bytes: Uint8Array): Result.Result<DataSet.Naturalized, { readonly message: string }> =>
  DataSet.decode(bytes, EXPLICIT_VR_LITTLE_ENDIAN)

/** The steps, kept in SQLite. */
export class PerformedSteps extends Context.Service<
  PerformedSteps,
  MppsScp.Store & {
    /** Every step, the latest changed first (at most `limit`). */
    readonly list: (limit?: number) => Effect.Effect<ReadonlyArray<Step>, IndexFailed | { readonly message: string }>
  }
>()("@netdicom/archive/PerformedSteps") {
  /** The table in `options.filename`, made when missing, open for the lifetime of the layer. */
  static readonly layer = (options: Options): Layer.Layer<PerformedSteps, IndexFailed> =>
    Layer.effect(
      PerformedSteps,
      Effect.gen(function* () {
        const db = yield* Sqlite.open({
          filename: options.filename,
          ...(options.sync === undefined ? {} : { sync: options.sync })
        })
        yield* Sqlite.use("create the mpps table", () => db.exec(SCHEMA))
        // The text was decoded from the request's character set: kept as UTF-8, whatever set it came in (our encoder
        // writes no other, and refuses non-ASCII text under another Specific Character Set).
        const encode = (step: MppsScp.StepRecord) => {
          const bytes = DataSet.encode(
            { ...step.attributes, SpecificCharacterSet: "ISO_IR 192" },
            EXPLICIT_VR_LITTLE_ENDIAN
          )
          return Result.isSuccess(bytes) ? Effect.succeed(bytes.success) : Effect.fail(bytes.failure)
        }
        const write = (
          uid: string,
          step: MppsScp.StepRecord,
          sql: string,
          params: (bytes: Uint8Array) => ReadonlyArray<Sqlite.SqlValue>
        ) => Effect.flatMap(encode(step), (bytes) => Sqlite.use(`write MPPS ${uid}`, () => db.run(sql, params(bytes))))
        return PerformedSteps.of({
          get: (uid) =>
            Effect.flatMap(
              Sqlite.use(`read MPPS ${uid}`, () =>
                db.get("SELECT data_set FROM mpps WHERE sop_instance_uid = ?", [uid])
              ),
              (row) => {
                if (row === undefined) return Effect.succeed(Option.none())
                const read = decoded(row["data_set"] as Uint8Array)
                return Result.isSuccess(read) ? Effect.succeed(Option.some(read.success)) : Effect.fail(read.failure)
              }
            ),
          create: (uid, step) =>
            write(
              uid,
              step,
              "INSERT INTO mpps (sop_instance_uid, status, calling_ae_title, created_ms, updated_ms, data_set) " +
                "VALUES (?, ?, ?, ?, ?, ?)",
              (bytes) => [uid, step.status, step.callingAeTitle, Date.now(), Date.now(), bytes]
            ).pipe(Effect.asVoid),
          update: (uid, step) =>
            write(
              uid,
              step,
              "UPDATE mpps SET status = ?, calling_ae_title = ?, updated_ms = ?, data_set = ? " +
                "WHERE sop_instance_uid = ?",
              (bytes) => [step.status, step.callingAeTitle, Date.now(), bytes, uid]
            ).pipe(
              Effect.flatMap((changes) =>
                changes === 1 ? Effect.void : Effect.fail({ message: `no MPPS ${uid} to update` })
              )
            ),
          list: (limit = 1000) =>
            Effect.flatMap(
              Sqlite.use("list MPPS", () =>
                db.all("SELECT * FROM mpps ORDER BY updated_ms DESC, sop_instance_uid LIMIT ?", [limit])
              ),
              (rows) =>
                Effect.forEach(rows, (row) => {
                  const read = decoded(row["data_set"] as Uint8Array)
                  if (Result.isFailure(read)) return Effect.fail(read.failure)
                  return Effect.succeed({
                    sopInstanceUid: String(row["sop_instance_uid"]),
                    status: String(row["status"]),
                    callingAeTitle: String(row["calling_ae_title"]),
                    createdMs: Number(row["created_ms"]),
                    updatedMs: Number(row["updated_ms"]),
                    attributes: read.success
                  })
                })
            )
        })
      })
    )
}

/** The MPPS SCP on the steps in context (`MppsScp`'s rules), calling `onChange` for each step created or set. */
export const scpLayer = (
  options: Omit<MppsScp.Options, "store"> = {}
): Layer.Layer<Normalized.NormalizedService, never, PerformedSteps> =>
  Layer.unwrap(Effect.map(Effect.service(PerformedSteps), (store) => MppsScp.layer({ ...options, store })))
