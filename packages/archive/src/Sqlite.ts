/**
 * A small Effect wrapper around Node's built-in `node:sqlite` (`DatabaseSync`, Node >= 22.13 without a flag; Node 22
 * prints an ExperimentalWarning, Node 26 no longer does). node:sqlite is synchronous, so every call here runs to
 * completion on the calling fiber and a transaction is one synchronous block: no other fiber can interleave with it.
 *
 * Nothing of the DICOM standard lives here; the archive schema is in `ArchiveIndex`.
 *
 * @since 0.1.0
 */
import { DatabaseSync } from "node:sqlite"
import type { SQLInputValue, StatementSync } from "node:sqlite"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { IndexFailed } from "./ArchiveError.ts"

/** A value bound to a statement parameter. */
export type SqlValue = SQLInputValue

/** A row as node:sqlite returns it. */
export type Row = Record<string, unknown>

/**
 * An open database with a statement cache. Its methods are synchronous and throw what node:sqlite throws: call
 * them inside `use`, which turns a throw into `IndexFailed`.
 */
export interface Database {
  /** The file name given to `open` (":memory:" for an in-memory database). */
  readonly filename: string
  /** Runs a statement that returns no rows; gives the number of changed rows. */
  readonly run: (sql: string, params?: ReadonlyArray<SqlValue>) => number
  /** All rows of a query. */
  readonly all: (sql: string, params?: ReadonlyArray<SqlValue>) => ReadonlyArray<Row>
  /**
   * All rows of a query as arrays of column values, in the query's order: about half the memory and CPU of `all`'s
   * objects on a large result (node:sqlite builds each object key by key).
   */
  readonly allArrays: (sql: string, params?: ReadonlyArray<SqlValue>) => ReadonlyArray<ReadonlyArray<unknown>>
  /** The first row of a query, if any. */
  readonly get: (sql: string, params?: ReadonlyArray<SqlValue>) => Row | undefined
  /** Executes several statements without parameters. */
  readonly exec: (sql: string) => void
  /** Runs `f` inside BEGIN IMMEDIATE / COMMIT; rolls back and rethrows when it throws. */
  readonly transaction: <A>(f: () => A) => A
}

/** Options of `open`. */
export interface OpenOptions {
  /** A file name, or ":memory:". */
  readonly filename: string
  /** Milliseconds to wait for a lock held by another connection (default 5000). */
  readonly busyTimeoutMs?: number
  /**
   * Whether each commit waits for the disk (default true: `synchronous = FULL`). false: `NORMAL`, which in WAL mode
   * keeps the database whole but may lose the last commits to a power cut or a crash of the system.
   */
  readonly sync?: boolean
}

const STATEMENT_CACHE_SIZE = 128

const wrap = (db: DatabaseSync, filename: string): Database => {
  // queries differ in shape (the length of a UID list...), so the cache keeps the most recently used ones
  const cache = new Map<string, StatementSync>()
  // `key` tells a statement set to return arrays from one of the same SQL returning objects
  const prepare = (sql: string, key: string = sql): StatementSync => {
    let statement = cache.get(key)
    if (statement === undefined) {
      statement = db.prepare(sql)
      if (key !== sql) statement.setReturnArrays(true)
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!)
    } else {
      cache.delete(key)
    }
    cache.set(key, statement)
    return statement
  }
  let depth = 0
  return {
    filename,
    run: (sql, params = []) => Number(prepare(sql).run(...params).changes),
    all: (sql, params = []) => prepare(sql).all(...params),
    allArrays: (sql, params = []) =>
      prepare(sql, `arrays\0${sql}`).all(...params) as unknown as ReadonlyArray<ReadonlyArray<unknown>>,
    get: (sql, params = []) => prepare(sql).get(...params),
    exec: (sql) => db.exec(sql),
    transaction: <A>(f: () => A): A => {
      // nested calls join the outer transaction
      if (depth > 0) return f()
      db.exec("BEGIN IMMEDIATE")
      depth++
      try {
        const result = f()
        db.exec("COMMIT")
        return result
      } catch (cause) {
        if (db.isTransaction) db.exec("ROLLBACK")
        // rethrown to the caller, running inside `use`: IndexFailed there
        throw cause
      } finally {
        depth--
      }
    }
  }
}

/** Opens (creating when missing) a database for the lifetime of the scope; WAL mode for files. */
export const open = (options: OpenOptions): Effect.Effect<Database, IndexFailed, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const db = new DatabaseSync(options.filename, { timeout: options.busyTimeoutMs ?? 5000 })
        try {
          if (options.filename !== ":memory:" && options.filename !== "") db.exec("PRAGMA journal_mode = WAL")
          db.exec(options.sync === false ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL")
          db.exec("PRAGMA foreign_keys = ON")
        } catch (cause) {
          db.close()
          // caught by the enclosing Effect.try: IndexFailed
          throw cause
        }
        return { db, database: wrap(db, options.filename) }
      },
      catch: (cause) => new IndexFailed({ operation: `open ${options.filename}`, cause })
    }),
    ({ db }) =>
      Effect.sync(() => {
        if (db.isOpen) db.close()
      })
  ).pipe(Effect.map(({ database }) => database))

/** Runs a synchronous database operation, turning a thrown error into `IndexFailed`. */
export const use = <A>(operation: string, f: () => A): Effect.Effect<A, IndexFailed> =>
  Effect.try({ try: f, catch: (cause) => new IndexFailed({ operation, cause }) })
