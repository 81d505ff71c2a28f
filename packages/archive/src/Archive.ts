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
import * as Zlib from "node:zlib"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Semaphore from "effect/Semaphore"
import type * as Stream from "effect/Stream"
import { ElementWalker, Uids } from "@netdicom/wire"
import { InvalidInstance, StoreFailed } from "./ArchiveError.ts"
import { LinkInStore } from "./ArchiveError.ts"
import type { IndexFailed, QueryError, UidConflict } from "./ArchiveError.ts"
import { ArchiveIndex } from "./ArchiveIndex.ts"
import type { ArchiveIndexOptions, QueryOptions, RetrieveItem } from "./ArchiveIndex.ts"
import * as Header from "./Header.ts"
import type { Dataset, InstanceRecord } from "./Header.ts"
import { InstanceStore, linkBelow } from "./InstanceStore.ts"
import type { Aside, InstanceBytes } from "./InstanceStore.ts"
import * as Reconcile from "./Reconcile.ts"
import type { ReconcileOptions, ReconcileReport } from "./Reconcile.ts"

/** Options of one store operation. */
export interface StoreOptions {
  /** Refuse the instance unless its SOP Instance UID is this (the C-STORE request's Affected SOP Instance UID). */
  readonly sopInstanceUid?: string
  /** Refuse the instance unless its SOP Class UID is this (the request's Affected SOP Class UID). */
  readonly sopClassUid?: string
  /** Data set bytes after which the header ends at the next top-level element (default 4 MiB, see `Header`). */
  readonly maxHeaderBytes?: number
  /**
   * Called with each chunk of a chunked source once it is in the file and walked, when nothing of the archive holds
   * it or a view of it any more (a C-STORE's lent fragments are given back here: `ReceivedBytes.release`). A chunk
   * not written (the store failed or was interrupted before, or while, writing it) is never passed.
   */
  readonly release?: (chunk: Uint8Array) => void
}

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

  /** An archive with files under `root` and the index in `index.filename`. */
  static readonly layerFrom = (options: {
    readonly root: string
    readonly index: ArchiveIndexOptions
  }): Layer.Layer<Archive | InstanceStore | ArchiveIndex, StoreFailed | IndexFailed> =>
    Layer.provideMerge(
      Archive.layer,
      Layer.merge(InstanceStore.layer({ root: options.root }), ArchiveIndex.layer(options.index))
    )
}

const isUnder = (root: string, path: string): boolean => path.startsWith(root + Path.sep)

const expectations = (
  header: Header.Header,
  options: StoreOptions | undefined
): Result.Result<void, InvalidInstance> => {
  const want = options?.sopInstanceUid
  if (want !== undefined && want !== header.sopInstanceUid) {
    return Result.fail(
      new InvalidInstance({ reason: `SOP Instance UID is ${header.sopInstanceUid}, the request said ${want}` })
    )
  }
  const cls = options?.sopClassUid
  if (cls !== undefined && cls !== header.sopClassUid) {
    return Result.fail(
      new InvalidInstance({ reason: `SOP Class UID is ${header.sopClassUid}, the request said ${cls}` })
    )
  }
  return Result.void
}

/** How far a deflated data set (PS3.5 A.5) is inflated to be walked; past it, it is refused. */
export const INFLATED_LIMIT = 1 << 30

// The structural check of one data set: its element headers walked as the bytes come, a deflated one inflated on
// the way (node:zlib, at most INFLATED_LIMIT bytes). `problem` is what made it fail, once it has.
interface DataSetCheck {
  readonly push: (chunk: Uint8Array) => void | Promise<void>
  readonly end: () => void | Promise<void>
  readonly problem: (final: boolean) => string | undefined
}

const checkOf = (transferSyntaxUid: string): DataSetCheck => {
  if (Uids.transferSyntaxInfo(transferSyntaxUid)?.deflated !== true) {
    const walker = ElementWalker.make(transferSyntaxUid)
    return { push: walker.push, end: () => {}, problem: (final) => (final ? walker.finish() : walker.seen())?.detail }
  }
  const walker = ElementWalker.make(Uids.TransferSyntax.ExplicitVRLittleEndian)
  const inflater = Zlib.createInflateRaw()
  let inflated = 0
  let failed: string | undefined
  const done = new Promise<void>((resolve) => {
    inflater.once("end", resolve)
    inflater.once("close", resolve)
    inflater.once("error", (e) => {
      failed ??= `the deflated data set does not inflate (${e.message})`
      resolve()
    })
  })
  inflater.on("data", (piece: Buffer) => {
    inflated += piece.length
    if (inflated > INFLATED_LIMIT) {
      failed ??= `the deflated data set inflates past ${INFLATED_LIMIT} bytes`
      inflater.destroy()
    } else walker.push(piece)
  })
  return {
    push: (chunk) =>
      failed !== undefined || inflater.destroyed
        ? undefined
        : new Promise<void>((resolve) => void inflater.write(chunk, () => resolve())),
    end: () => {
      if (!inflater.destroyed) inflater.end()
      return done
    },
    problem: (final) => failed ?? (final ? walker.finish() : walker.seen())?.detail
  }
}

// The bytes of a Part 10 file as they are, with every byte from `offset` (the data set's first) also checked.
// `release` gets each chunk once the writer asks for the next one: it has written it, and the check is done with it
// (the walker copies the element headers it needs; the inflater's write callback comes once zlib has read it; the
// header reader only copied from it). Never from a `finally`: a write interrupted mid-way may still be reading it.
const walked = (
  bytes: InstanceBytes,
  offset: number,
  check: DataSetCheck,
  release: ((chunk: Uint8Array) => void) | undefined
): InstanceBytes => {
  const source: Iterable<Uint8Array> | AsyncIterable<Uint8Array> = bytes instanceof Uint8Array ? [bytes] : bytes
  return (async function* () {
    let at = 0
    for await (const chunk of source) {
      if (at + chunk.length > offset) await check.push(at >= offset ? chunk : chunk.subarray(offset - at))
      at += chunk.length
      yield chunk
      release?.(chunk)
    }
    await check.end()
  })()
}

/**
 * Runs effects one at a time per key. Storing an instance renames its file into place, indexes it and removes the
 * file it replaced: two stores of one SOP Instance UID interleaving those steps left the index on the other's
 * attributes, or on a file the other had just removed.
 */
const keyedLock = () => {
  const locks = new Map<string, { readonly semaphore: Semaphore.Semaphore; users: number }>()
  return <A, E, R>(key: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.suspend(() => {
      let entry = locks.get(key)
      if (entry === undefined) {
        entry = { semaphore: Semaphore.makeUnsafe(1), users: 0 }
        locks.set(key, entry)
      }
      const held = entry
      held.users++
      return held.semaphore
        .withPermits(1)(effect)
        .pipe(
          Effect.ensuring(
            Effect.sync(() => {
              if (--held.users === 0) locks.delete(key)
            })
          )
        )
    })
}

/**
 * Whether the file of an entry is still what the index recorded: same size and (when recorded) modification time, or
 * gone. A file changed in place since (another instance copied over it while the archive ran) is not the entry's.
 */
const asIndexed = (entry: RetrieveItem): Effect.Effect<boolean> =>
  Effect.promise(() =>
    Fs.lstat(entry.filePath).then(
      (s) =>
        s.isFile() &&
        s.size === entry.fileSize &&
        (entry.fileModifiedMs === undefined || s.mtimeMs === entry.fileModifiedMs),
      (cause: NodeJS.ErrnoException) => cause.code === "ENOENT"
    )
  )

/** The archive on a given store and index. */
export const make = (store: InstanceStore["Service"], index: ArchiveIndex["Service"]): Archive["Service"] => {
  const exclusive = keyedLock()
  // The file of an entry removed (`remove`, or a store that replaced it from another path): removed while it is as
  // indexed; one changed since may hold another instance (the only copy of it), and is left where it is (the next
  // `reconcile` indexes it); one reached through a symbolic link below the root is not looked at, nor removed.
  const removeIfAsIndexed = (entry: RetrieveItem) => {
    const link = linkBelow(store.root, Path.dirname(entry.filePath))
    if (link !== undefined) {
      return Effect.logWarning(
        `${entry.filePath} is reached through the symbolic link ${link}, not followed: left in place, not removed`
      )
    }
    return Effect.flatMap(asIndexed(entry), (unchanged) =>
      unchanged
        ? store.remove(entry.filePath)
        : Effect.logWarning(
            `${entry.filePath} changed since it was indexed for ${entry.sopInstanceUid}: left in place, not removed`
          )
    )
  }
  const storeInstance = (bytes: InstanceBytes, options?: StoreOptions) =>
    Effect.gen(function* () {
      const peeked =
        bytes instanceof Uint8Array
          ? { header: yield* Effect.fromResult(Header.fromBytes(bytes, options?.maxHeaderBytes)), bytes }
          : yield* Header.peek(bytes, options?.maxHeaderBytes)
      yield* Effect.fromResult(expectations(peeked.header, options))
      // The data set is walked as it is written: a truncated or malformed one is refused, not archived.
      const check = checkOf(peeked.header.transferSyntaxUid)
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
          const written = Effect.gen(function* () {
            const file = yield* store.write(
              peeked.header,
              walked(peeked.bytes, peeked.header.dataSetOffset, check, options?.release),
              (final) => {
                const problem = check.problem(final)
                return problem === undefined
                  ? undefined
                  : new InvalidInstance({ reason: `truncated or malformed data set: ${problem}` })
              }
            )
            const record: InstanceRecord = {
              ...peeked.header,
              filePath: file.path,
              fileSize: file.size,
              fileModifiedMs: file.modifiedMs
            }
            const replaced = yield* index.upsert(record).pipe(
              // another instance's store claimed the series or study since `admit` (the lock is per SOP Instance
              // UID): the file goes again, or the one it replaced is put back when the index still points at it
              Effect.tapError((e) =>
                e._tag !== "UidConflict"
                  ? Effect.void
                  : index.get(record.sopInstanceUid).pipe(
                      Effect.flatMap((kept) =>
                        Option.isSome(kept) && kept.value.filePath === file.path
                          ? Option.match(aside, { onNone: () => Effect.void, onSome: (a) => a.restore })
                          : store.remove(file.path)
                      ),
                      Effect.ignore
                    )
              )
            )
            if (
              Option.isSome(replaced) &&
              replaced.value.filePath !== file.path &&
              isUnder(store.root, replaced.value.filePath)
            ) {
              yield* removeIfAsIndexed(replaced.value)
            }
            return { record, replaced }
          })
          return yield* Effect.ensuring(
            written,
            Option.match(aside, { onNone: () => Effect.void, onSome: (a) => a.drop })
          )
        })
      )
    })

  const remove = (sopInstanceUid: string) =>
    exclusive(
      sopInstanceUid,
      Effect.gen(function* () {
        const removed = yield* index.remove(sopInstanceUid)
        if (Option.isSome(removed) && isUnder(store.root, removed.value.filePath)) {
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
    find: index.find,
    retrieve: index.retrieve,
    remove,
    fileOf: (item) => {
      const link = isUnder(store.root, item.filePath) ? linkBelow(store.root, item.filePath) : undefined
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
