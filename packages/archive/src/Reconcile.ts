/**
 * The start-up check of the store's files against the index (`Archive.reconcile`): after a crash (an instance renamed
 * into the store but not indexed yet), files copied in or deleted by hand while the server was down, or a file
 * changed in place, the index again lists exactly the store's instances.
 *
 * One walk of the store (a `stat` per file, `InstanceStore.scan`) and one scan of the index (`ArchiveIndex.files`);
 * a file whose size and modification time are what the index recorded is not read. Then:
 * - a file the index does not have is read and indexed;
 * - a file whose size or modification time differs is read and indexed again (an entry of another SOP Instance UID
 *   at that path is removed: the file no longer holds it; a file no longer readable as an instance loses its entry);
 * - an entry whose file is gone is removed, not kept and marked: the index is derived from the files, and an entry
 *   C-FIND answers but C-GET cannot send is worse than none (the file's return, at a later start, indexes it again);
 * - two files claiming one SOP Instance UID: the one at the store's own path for its UIDs (`InstanceStore.pathFor`)
 *   is indexed, not a copy under another name or outside the store; between two such (a re-store into another
 *   study cut short: both are at their own study's path), or two copies, the one modified last (as a later C-STORE
 *   replaces an earlier one), the indexed one on a tie; the other stays on disk, out of the index, and is logged;
 * - the temporary files a process killed mid-write left are removed (`InstanceStore.removeLeftovers`).
 * A file left out (not an instance, refused, a duplicate) is recorded with its size and modification time
 * (`ArchiveIndex.recordLeftOut`) and not read again while they stay the same (a duplicate: while the file kept for
 * its SOP Instance UID is there and as indexed; files already indexed are read before new ones, so a kept file
 * changed into another instance is known as such before its duplicates are weighed); its warning is logged the
 * first time, an info line at later starts.
 * A folder or file that cannot be read is logged and skipped, and the entries under it are left as they are; a file
 * that is not an instance (or is refused, `UidConflict`) is logged and left out. A symbolic link below the store root
 * (a study folder replaced by one, a file) is logged and never followed: nothing is read through it, and an entry
 * whose file is reached only through one is removed, as if its file were gone (it is no longer in the store; a real
 * folder put back is indexed again at the next start). Only a regular file is read (`Header.fromFile`: a FIFO swapped
 * in after the walk is refused, not waited on). Only a failing index fails it.
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { StoreFailed, type IndexFailed } from "./ArchiveError.ts"
import type { ArchiveIndex, IndexedFile, LeftOutFile } from "./ArchiveIndex.ts"
import * as Header from "./Header.ts"
import { linkBelow } from "./InstanceStore.ts"
import type { FileState, InstanceStore } from "./InstanceStore.ts"

/** A progress line at info every this many files read. */
const PROGRESS_EVERY = 1000

/** Options of `Archive.reconcile`. */
export interface ReconcileOptions {
  /**
   * Temporary files modified before this (milliseconds since the epoch) whose owner is gone are removed; default
   * this process's start (`TempFiles.processStart`).
   */
  readonly startedAt?: number
}

/** What `Archive.reconcile` did. */
export interface ReconcileReport {
  /** Instance files (`.dcm`) found in the store. */
  readonly files: number
  /** Files indexed that the index did not have. */
  readonly added: ReadonlyArray<string>
  /** Files read and indexed again: their size or modification time was not what the index recorded. */
  readonly updated: ReadonlyArray<string>
  /** Entries removed: their file is gone (or no longer holds them, or is reached only through a symbolic link). */
  readonly removed: ReadonlyArray<{ readonly sopInstanceUid: string; readonly path: string }>
  /** Files left out because another file holds their SOP Instance UID (`kept`). */
  readonly duplicates: ReadonlyArray<{ readonly path: string; readonly sopInstanceUid: string; readonly kept: string }>
  /** Files that could not be looked at, read or indexed, and symbolic links not followed, with why. */
  readonly failed: ReadonlyArray<{ readonly path: string; readonly reason: string }>
  /** Temporary files of interrupted writes removed. */
  readonly leftovers: ReadonlyArray<string>
  /** Files not read because an earlier reconcile left them out and they have not changed since (`leftOut`). */
  readonly stillLeftOut: number
}

/** Runs an effect holding the lock of one SOP Instance UID (`Archive`'s, so that a store never interleaves). */
export type Exclusive = <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

const isUnder = (root: string, path: string): boolean => path.startsWith(root + Path.sep)

/** Why a symbolic link is skipped. */
const LINK_SKIPPED = "a symbolic link below the store root: not followed"

/**
 * A file the store's walk did not list: none when it is gone, a failure when that is not known. Below the store root
 * it is looked at with `lstat` (a link is not a file); elsewhere (indexed from outside) links are followed.
 */
const stateOf = (path: string, inStore: boolean): Effect.Effect<Option.Option<FileState>, StoreFailed> =>
  Effect.tryPromise({
    try: () => (inStore ? Fs.lstat(path) : Fs.stat(path)),
    catch: (cause) => new StoreFailed({ operation: "stat", path, cause })
  }).pipe(
    Effect.map((s) => (s.isFile() ? Option.some({ path, size: s.size, modifiedMs: s.mtimeMs }) : Option.none())),
    Effect.catchTag("StoreFailed", (e) =>
      (e.cause as NodeJS.ErrnoException).code === "ENOENT" ? Effect.succeed(Option.none<FileState>()) : Effect.fail(e)
    )
  )

/** The check itself (see the module's description). */
export const reconcile = (
  store: InstanceStore["Service"],
  index: ArchiveIndex["Service"],
  exclusive: Exclusive,
  options?: ReconcileOptions
): Effect.Effect<ReconcileReport, IndexFailed> =>
  Effect.gen(function* () {
    const scan = yield* store.scan
    const failed: Array<{ readonly path: string; readonly reason: string }> = []
    for (const u of scan.unreadable) failed.push({ path: u.path, reason: u.message })
    const sweep = yield* store.removeLeftovers({ scan, ...options })
    for (const f of sweep.failed) failed.push({ path: f.path, reason: f.message })
    for (const link of scan.links) failed.push({ path: link, reason: LINK_SKIPPED })

    const blind = scan.unreadable.map((u) => u.path)
    const unknown = (path: string) => blind.some((b) => path === b || path.startsWith(b + Path.sep))
    // what is on disk: the walk of the store, and the files of entries it did not list (looked at one by one)
    const onDisk = new Map<string, FileState>()
    for (const f of scan.files) onDisk.set(f.path, f)
    const byPath = new Map<string, IndexedFile>()
    const gone: Array<IndexedFile> = []
    const unlisted: Array<FileState> = []
    // entries whose file is reached through a symbolic link below the root (the walk did not go through it)
    const linked: Array<{ readonly row: IndexedFile; readonly link: string }> = []
    for (const row of yield* index.files) {
      byPath.set(row.filePath, row)
      if (onDisk.has(row.filePath)) continue
      const inStore = isUnder(store.root, row.filePath)
      const link = inStore ? linkBelow(store.root, row.filePath) : undefined
      if (link !== undefined) {
        linked.push({ row, link })
        continue
      }
      if (unknown(row.filePath)) continue
      // not in the walk: outside the store (indexed from elsewhere), a name the walk does not take (`indexFile` of a
      // file not named .dcm), or gone; only a `stat` saying it is not there removes the entry
      const state = yield* Effect.result(stateOf(row.filePath, inStore))
      if (Result.isFailure(state)) failed.push({ path: row.filePath, reason: state.failure.message })
      else if (Option.isNone(state.success)) gone.push(row)
      else {
        onDisk.set(row.filePath, state.success.value)
        unlisted.push(state.success.value)
      }
    }

    // files an earlier reconcile left out: not read again while unchanged, and (for a duplicate) while the file
    // holding their SOP Instance UID is there, unchanged
    const memo = new Map((yield* index.leftOut).map((f) => [f.filePath, f] as const))
    const stillOut = new Set<string>()
    const removed: Array<{ readonly sopInstanceUid: string; readonly path: string }> = []
    // removes the entry of `sopInstanceUid` when it is still at `path`
    const removeEntry = (sopInstanceUid: string, path: string) =>
      exclusive(
        sopInstanceUid,
        Effect.gen(function* () {
          const current = yield* index.get(sopInstanceUid)
          if (Option.isNone(current) || current.value.filePath !== path) return
          yield* index.remove(sopInstanceUid)
          removed.push({ sopInstanceUid, path })
          yield* Effect.logDebug(`reconcile: ${path} is gone: ${sopInstanceUid} removed from the index`)
        })
      )
    for (const row of gone) yield* removeEntry(row.sopInstanceUid, row.filePath)
    for (const { link, row } of linked) {
      yield* Effect.logWarning(
        `reconcile: ${row.filePath} is reached through the symbolic link ${link}, not followed: ` +
          `${row.sopInstanceUid} removed from the index`
      )
      yield* removeEntry(row.sopInstanceUid, row.filePath)
    }

    const added: Array<string> = []
    const updated: Array<string> = []
    // files left out for another of their SOP Instance UID: which one is kept is known once all were seen
    const losers: Array<{ readonly path: string; readonly sopInstanceUid: string }> = []
    // the files to read: not indexed, or not as indexed (in path order, indexed ones first: which of two equal files
    // is kept is stable)
    const changed: Array<FileState> = []
    for (const file of [...scan.files, ...unlisted]) {
      const row = byPath.get(file.path)
      if (row !== undefined && row.fileSize === file.size && row.fileModifiedMs === file.modifiedMs) continue
      const out = row === undefined ? memo.get(file.path) : undefined
      if (out !== undefined && out.fileSize === file.size && out.fileModifiedMs === file.modifiedMs) {
        const holder = out.sopInstanceUid === undefined ? Option.none() : yield* index.get(out.sopInstanceUid)
        // the holder's file as the index recorded it (one changed since may no longer hold the UID: read again)
        const held = Option.isSome(holder) ? onDisk.get(holder.value.filePath) : undefined
        const holds =
          Option.isSome(holder) &&
          held !== undefined &&
          held.size === holder.value.fileSize &&
          (holder.value.fileModifiedMs === undefined || held.modifiedMs === holder.value.fileModifiedMs)
        if (out.sopInstanceUid === undefined || holds) {
          stillOut.add(file.path)
          continue
        }
      }
      changed.push(file)
    }
    // indexed files first: what a changed one holds now is known before a file claiming its UID is weighed against it
    const indexedFirst = (f: FileState) => (byPath.has(f.path) ? 0 : 1)
    changed.sort((a, b) =>
      indexedFirst(a) !== indexedFirst(b)
        ? indexedFirst(a) - indexedFirst(b)
        : a.path < b.path
          ? -1
          : a.path > b.path
            ? 1
            : 0
    )
    // the files read and left out, recorded so that the next reconcile does not read them while they are unchanged
    const leftOut: Array<LeftOutFile> = []
    const leave = (file: FileState, reason: string, sopInstanceUid?: string) =>
      leftOut.push({
        filePath: file.path,
        fileSize: file.size,
        fileModifiedMs: file.modifiedMs,
        sopInstanceUid,
        reason
      })
    // reading is what takes time (a store copied without its times: every file): said before it starts, and as it goes
    if (changed.length > 0) yield* Effect.logInfo(`reading ${changed.length} new or changed file(s) in ${store.root}`)
    let done = 0
    for (const file of changed) {
      if (++done % PROGRESS_EVERY === 0) yield* Effect.logInfo(`read ${done} of ${changed.length} file(s)`)
      const row = byPath.get(file.path)
      // a folder on the way swapped for a link since the walk: not read through (the next start drops its entry)
      const inStore = isUnder(store.root, file.path)
      const link = inStore ? linkBelow(store.root, Path.dirname(file.path)) : undefined
      if (link !== undefined) {
        failed.push({ path: link, reason: LINK_SKIPPED })
        continue
      }
      const read = yield* Effect.result(Header.fromFile(file.path, undefined, { noFollow: inStore }))
      if (Result.isFailure(read)) {
        failed.push({ path: file.path, reason: read.failure.message })
        // not an instance: left out until it changes (a read that failed is tried again at the next reconcile)
        if (read.failure._tag === "InvalidInstance") leave(file, read.failure.message)
        // a file that no longer reads as an instance loses its entry; one that cannot be read at all keeps it
        if (row !== undefined && read.failure._tag === "InvalidInstance") {
          yield* removeEntry(row.sopInstanceUid, row.filePath)
        }
        continue
      }
      const record = read.success
      const uid = record.sopInstanceUid
      const outcome = yield* exclusive(
        uid,
        Effect.gen(function* () {
          const current = yield* index.get(uid)
          if (Option.isSome(current) && current.value.filePath !== file.path) {
            // an entry whose file cannot be looked at (an unreadable folder) is kept
            if (unknown(current.value.filePath)) return { kept: current.value.filePath }
            const other = onDisk.get(current.value.filePath)
            if (other !== undefined) {
              // the file at the store's own path for its UIDs first (not a copy under another name, nor a file
              // outside the store: a store copied elsewhere with its index), then the one modified last
              const mine = file.path === store.pathFor(record)
              const theirs = other.path === store.pathFor(current.value)
              if (mine !== theirs ? theirs : !(file.modifiedMs > other.modifiedMs)) return { kept: other.path }
              // a file outside the store is not the store's duplicate: its entry just moves to the store's file
              if (isUnder(store.root, other.path)) losers.push({ path: other.path, sopInstanceUid: uid })
            }
          }
          return yield* Effect.as(index.upsert(record), { kept: file.path })
        })
      ).pipe(Effect.catchTag("UidConflict", (e) => Effect.succeed({ refused: e.message })))
      if ("refused" in outcome) {
        failed.push({ path: file.path, reason: outcome.refused })
        leave(file, outcome.refused)
      } else if (outcome.kept !== file.path) {
        losers.push({ path: file.path, sopInstanceUid: uid })
      } else {
        ;(row === undefined ? added : updated).push(file.path)
        yield* Effect.logDebug(`reconcile: ${row === undefined ? "indexed" : "indexed again"} ${file.path}`)
      }
      // the entry that named this file for another instance: the file no longer holds it
      if (row !== undefined && row.sopInstanceUid !== uid) yield* removeEntry(row.sopInstanceUid, row.filePath)
    }
    if (index.indexingOwed) yield* index.reindexed
    const duplicates: Array<{ readonly path: string; readonly sopInstanceUid: string; readonly kept: string }> = []
    for (const loser of losers) {
      const kept = yield* index.get(loser.sopInstanceUid)
      const file = onDisk.get(loser.path)
      if (Option.isSome(kept) && kept.value.filePath !== loser.path && file !== undefined) {
        duplicates.push({ ...loser, kept: kept.value.filePath })
        leave(file, `SOP Instance UID ${loser.sopInstanceUid} is also in ${kept.value.filePath}`, loser.sopInstanceUid)
      }
    }
    const recorded = new Set(leftOut.map((f) => f.filePath))
    yield* index.recordLeftOut(
      leftOut,
      [...memo.keys()].filter((path) => !stillOut.has(path) && !recorded.has(path))
    )

    for (const d of duplicates) {
      yield* Effect.logWarning(
        `not indexed: ${d.path}: SOP Instance UID ${d.sopInstanceUid} is also in ${d.kept}, modified later or ` +
          "indexed already, which is kept"
      )
    }
    for (const f of failed) yield* Effect.logWarning(`not indexed: ${f.path}: ${f.reason}`)
    const report: ReconcileReport = {
      files: scan.files.length,
      added,
      updated,
      removed,
      duplicates,
      failed,
      leftovers: sweep.removed,
      stillLeftOut: stillOut.size
    }
    const changes = added.length + updated.length + removed.length + sweep.removed.length
    const summary =
      `${store.root}: ${scan.files.length} file(s); ${added.length} indexed, ${updated.length} indexed again ` +
      `(changed), ${removed.length} entr${removed.length === 1 ? "y" : "ies"} removed (file gone), ` +
      `${sweep.removed.length} temporary file(s) of interrupted writes removed`
    yield* changes > 0 ? Effect.logInfo(`reconciled ${summary}`) : Effect.logDebug(`in sync: ${summary}`)
    if (stillOut.size > 0) {
      yield* Effect.logInfo(
        `${stillOut.size} file(s) in ${store.root} stay out of the index, unchanged since a start that logged why`
      )
    }
    return report
  })
