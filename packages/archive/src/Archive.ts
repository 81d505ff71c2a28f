/**
 * The archive as a C-STORE / C-FIND / C-GET / C-MOVE SCP uses it: store an instance (file + index), query,
 * list instances to send, remove. It joins `InstanceStore` and `ArchiveIndex` and holds no network code.
 *
 * Storing reads the header from the first bytes of the instance (PS3.10 file meta and data set up to Pixel
 * Data), writes the bytes unchanged and atomically, then indexes them (PS3.4 B.4.1, Level 2 storage: every
 * attribute is kept). If indexing fails after the write, the file stays and `rebuild` picks it up later. An instance
 * whose Series (Study) Instance UID is indexed under another study (patient) is refused before anything is written
 * (`UidConflict`, see `ArchiveIndex.admit`), unless it is the only instance there.
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Stream from "effect/Stream"
import { LinkInStore, StoreFailed } from "./ArchiveError.ts"
import type { IndexFailed, InvalidInstance, QueryError, UidConflict } from "./ArchiveError.ts"
import { ArchiveIndex } from "./ArchiveIndex.ts"
import type { ArchiveIndexOptions, QueryOptions, RetrieveItem } from "./ArchiveIndex.ts"
import * as Header from "./Header.ts"
import type { Dataset, InstanceRecord } from "./Header.ts"
import { InstanceStore, linkBelow } from "./InstanceStore.ts"
import type { Aside, InstanceBytes } from "./InstanceStore.ts"
import * as Storing from "./internal/Storing.ts"
import type { StoreOptions } from "./internal/Storing.ts"
import * as Reconcile from "./Reconcile.ts"
import type { ReconcileOptions, ReconcileReport } from "./Reconcile.ts"

export type { StoreOptions } from "./internal/Storing.ts"
export { INFLATED_LIMIT } from "./internal/Storing.ts"

/** What a store operation did. */
export interface StoredInstance {
  /** The indexed record of the new file. */
  readonly record: InstanceRecord
  /** The entry the new file replaced (same SOP Instance UID), if any. */
  readonly replaced: Option.Option<RetrieveItem>
}

/** What `rebuild` did. */
export interface RebuildReport {
  readonly indexed: number
  readonly failed: ReadonlyArray<{ readonly path: string; readonly reason: string }>
}

/** The archive service. */
export class Archive extends Context.Service<
  Archive,
  {
    /** Stores Part 10 bytes (whole, or chunked) and indexes them; same SOP Instance UID replaces. */
    readonly store: (
      bytes: InstanceBytes,
      options?: StoreOptions
    ) => Effect.Effect<StoredInstance, StoreFailed | LinkInStore | InvalidInstance | IndexFailed | UidConflict>
    /** The indexed entry of an instance, if any (what a Storage Commitment SCP checks). */
    readonly get: (sopInstanceUid: string) => Effect.Effect<Option.Option<RetrieveItem>, IndexFailed>
    /** C-FIND (see `ArchiveIndex.find`). */
    readonly find: (query: Dataset, options?: QueryOptions) => Stream.Stream<Dataset, QueryError | IndexFailed>
    /** C-GET/C-MOVE instance list (see `ArchiveIndex.retrieve`). */
    readonly retrieve: (
      query: Dataset,
      options?: QueryOptions
    ) => Effect.Effect<ReadonlyArray<RetrieveItem>, QueryError | IndexFailed>
    /**
     * Removes an instance from the index and, when it lives under the store root and is still as indexed (same size
     * and modification time), its file. A file changed since it was indexed (another instance copied over it) is
     * left in place, with a warning: it may be the only copy of what it holds now, and the next `reconcile` indexes
     * it. So is a file reached through a symbolic link below the root (not followed). The entry goes either way.
     */
    readonly remove: (
      sopInstanceUid: string
    ) => Effect.Effect<Option.Option<RetrieveItem>, StoreFailed | LinkInStore | IndexFailed>
    /**
     * The file of a listed instance, to be opened now: refused (`LinkInStore`, logged) when, below the store root, it
     * is reached through a symbolic link (a study folder replaced by one since it was indexed). Paths outside the root
     * (indexed from elsewhere) are given as they are.
     */
    readonly fileOf: (item: RetrieveItem) => Effect.Effect<string, LinkInStore>
    /** Indexes every `.dcm` file under the store root (reading each; `reconcile` reads only what changed). */
    readonly rebuild: Effect.Effect<RebuildReport, StoreFailed | IndexFailed>
    /**
     * Checks the store's files against the index and makes the index agree (`Reconcile`: files not indexed are
     * indexed, changed ones indexed again, entries whose file is gone removed, temporary files of interrupted writes
     * removed), reading only the files that changed. Run it at start-up, before serving; only a failing index fails it.
     */
    readonly reconcile: (options?: ReconcileOptions) => Effect.Effect<ReconcileReport, IndexFailed>
  }
>()("@netdicom/archive/Archive") {
  /** The archive on the store and index in context. */
  static readonly layer: Layer.Layer<Archive, never, InstanceStore | ArchiveIndex> = Layer.effect(
    Archive,
    Effect.gen(function* () {
      return make(yield* InstanceStore, yield* ArchiveIndex)
    })
  )

  /**
   * An archive with files under `root` and the index in `index.filename`. `sync` (default true): whether files and
   * index changes are synced to disk before a store is reported done (`InstanceStoreOptions.sync`; the index's own
   * `sync`, if given, wins for the index).
   */
  static readonly layerFrom = (options: {
    readonly root: string
    readonly index: ArchiveIndexOptions
    readonly sync?: boolean
  }): Layer.Layer<Archive | InstanceStore | ArchiveIndex, StoreFailed | IndexFailed> => {
    const sync = options.sync ?? true
    return Layer.provideMerge(
      Archive.layer,
      Layer.merge(InstanceStore.layer({ root: options.root, sync }), ArchiveIndex.layer({ sync, ...options.index }))
    )
  }
}

/** The archive on a given store and index. */
export const make = (store: InstanceStore["Service"], index: ArchiveIndex["Service"]): Archive["Service"] => {
  const exclusive = Storing.keyedLock()
  const removeIfAsIndexed = (entry: RetrieveItem) => Storing.removeIfAsRecorded(store, entry, "indexed")
  const storeInstance = (bytes: InstanceBytes, options?: StoreOptions) =>
    Effect.gen(function* () {
      const peeked =
        bytes instanceof Uint8Array
          ? { header: yield* Effect.fromResult(Header.fromBytes(bytes, options?.maxHeaderBytes)), bytes }
          : yield* Header.peek(bytes, options?.maxHeaderBytes)
      yield* Effect.fromResult(Storing.expectations(peeked.header, options))
      // The data set is walked as it is written: a truncated or malformed one is refused, not archived.
      const check = Storing.checkOf(peeked.header.transferSyntaxUid)
      // one store (write, index, removal of the file replaced) at a time per SOP Instance UID
      return yield* exclusive(
        peeked.header.sopInstanceUid,
        Effect.gen(function* () {
          // an instance that would move others' series or study is refused before its file is written
          yield* index.admit(peeked.header)
          // the file this store renames over, kept until the index takes the new one: a refusal in the indexing
          // transaction (another store claimed the series or study since `admit`) puts it back
          const target = store.pathFor(peeked.header)
          const indexed = yield* index.get(peeked.header.sopInstanceUid)
          const aside =
            Option.isSome(indexed) && indexed.value.filePath === target
              ? yield* store.setAside(target)
              : Option.none<Aside>()
          // what the target is now (its inode), to tell after a failure whether the new file took its place
          const before = Storing.inodeOf(target)
          let taken = false
          const written = Effect.gen(function* () {
            const file = yield* store.write(
              peeked.header,
              Storing.walked(peeked.bytes, peeked.header.dataSetOffset, check, options?.release),
              Storing.verifyOf(check)
            )
            const record: InstanceRecord = {
              ...peeked.header,
              filePath: file.path,
              fileSize: file.size,
              fileModifiedMs: file.modifiedMs
            }
            const replaced = yield* index.upsert(record)
            taken = true
            if (
              Option.isSome(replaced) &&
              replaced.value.filePath !== file.path &&
              Storing.isUnder(store.root, replaced.value.filePath)
            ) {
              yield* removeIfAsIndexed(replaced.value)
            }
            return { record, replaced }
          })
          // A store that fails once its file was renamed into place, before the index took it (refused in the
          // indexing transaction, another store having claimed the series or study since `admit`; the index failing:
          // a full disk; the study folder's fsync failing; the handler interrupted meanwhile) leaves things as they
          // were: the copy it replaced put back, or the new file removed (it was refused, or never answered).
          const undo = Effect.suspend(() =>
            taken || Storing.inodeOf(target) === before
              ? Effect.void
              : Option.isSome(aside)
                ? aside.value.restore
                : before === undefined
                  ? store.remove(target)
                  : Effect.void
          ).pipe(Effect.ignore)
          return yield* written.pipe(
            Effect.onError(() => undo),
            Effect.ensuring(Option.match(aside, { onNone: () => Effect.void, onSome: (a) => a.drop }))
          )
        })
      )
    })

  const remove = (sopInstanceUid: string) =>
    exclusive(
      sopInstanceUid,
      Effect.gen(function* () {
        const removed = yield* index.remove(sopInstanceUid)
        if (Option.isSome(removed) && Storing.isUnder(store.root, removed.value.filePath)) {
          yield* removeIfAsIndexed(removed.value)
        }
        return removed
      })
    )

  const rebuild = Effect.gen(function* () {
    const entries = yield* Effect.tryPromise({
      try: () => Fs.readdir(store.root, { recursive: true, withFileTypes: true }),
      catch: (cause) => new StoreFailed({ operation: "readdir", path: store.root, cause })
    })
    const files = entries
      .filter((e) => e.isFile() && e.name.endsWith(".dcm") && !e.name.startsWith("."))
      .map((e) => Path.join(e.parentPath, e.name))
      .sort()
    let indexed = 0
    const failed: Array<{ readonly path: string; readonly reason: string }> = []
    for (const path of files) {
      const outcome = yield* Effect.result(index.indexFile(path))
      if (Result.isSuccess(outcome)) indexed++
      else if (outcome.failure._tag === "IndexFailed") return yield* Effect.fail(outcome.failure)
      else failed.push({ path, reason: outcome.failure.message })
    }
    yield* index.reindexed
    return { indexed, failed }
  })

  return Archive.of({
    store: storeInstance,
    get: index.get,
    find: index.find,
    retrieve: index.retrieve,
    remove,
    fileOf: (item) => {
      const link = Storing.isUnder(store.root, item.filePath) ? linkBelow(store.root, item.filePath) : undefined
      return link === undefined
        ? Effect.succeed(item.filePath)
        : Effect.logWarning(`${item.filePath} not read: ${link} is a symbolic link below the store root`).pipe(
            Effect.andThen(Effect.fail(new LinkInStore({ operation: "read", path: link })))
          )
    },
    rebuild,
    reconcile: (options) => Reconcile.reconcile(store, index, exclusive, options)
  })
}
