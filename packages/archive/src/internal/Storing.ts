/**
 * What storing an instance takes, whatever records it (`Archive` with its index, `PlainStore` without): the check of
 * the request's UIDs, the structural walk of the data set as it is written, one store at a time per SOP Instance
 * UID, and the removal of a file an instance left when it came again elsewhere.
 */
import * as FsSync from "node:fs"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Semaphore from "effect/Semaphore"
import { Transcode } from "@netdicom/net"
import { ElementWalker, Uids } from "@netdicom/wire"
import { InvalidInstance } from "../ArchiveError.ts"
import type { LinkInStore, StoreFailed } from "../ArchiveError.ts"
import type { InstanceBytes, InstanceStore } from "../InstanceStore.ts"
import { linkBelow } from "../InstanceStore.ts"
import { zlib } from "./Zlib.ts"

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

/** A file as it was written or indexed. */
export interface FileEntry {
  readonly sopInstanceUid: string
  readonly filePath: string
  readonly fileSize: number
  readonly fileModifiedMs?: number | undefined
}

/**
 * Refuses an instance whose SOP Class or Instance UID is not the one the request named, or, for a request (a
 * C-STORE), whose data set has none of its own: the File Meta Information written for it from the request would
 * stand in, and the index would hold an instance its data set does not name (DCMTK's storescp and Orthanc refuse it).
 */
export const expectations = (
  header: {
    readonly sopClassUid: string
    readonly sopInstanceUid: string
    readonly sopUidsFromMeta?: ReadonlyArray<string> | undefined
  },
  options: StoreOptions | undefined
): Result.Result<void, InvalidInstance> => {
  const fromMeta = header.sopUidsFromMeta
  if ((options?.sopInstanceUid !== undefined || options?.sopClassUid !== undefined) && fromMeta !== undefined) {
    return Result.fail(new InvalidInstance({ reason: `no ${fromMeta.join(" and ")} in the data set` }))
  }
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
export interface DataSetCheck {
  readonly push: (chunk: Uint8Array) => void | Promise<void>
  readonly end: () => void | Promise<void>
  readonly problem: (final: boolean) => string | undefined
}

/** The check of a data set in `transferSyntaxUid`. */
export const checkOf = (transferSyntaxUid: string): DataSetCheck => {
  if (Uids.transferSyntaxInfo(transferSyntaxUid)?.deflated !== true) {
    const walker = ElementWalker.make(transferSyntaxUid, { vrOf: Transcode.vrOf })
    return { push: walker.push, end: () => {}, problem: (final) => (final ? walker.finish() : walker.seen())?.detail }
  }
  const walker = ElementWalker.make(Uids.TransferSyntax.ExplicitVRLittleEndian)
  const inflater = zlib().createInflateRaw()
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
export const walked = (
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
export const keyedLock = () => {
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
 * Whether the file of an entry is still what was recorded: same size and (when recorded) modification time, or
 * gone. A file changed in place since (another instance copied over it while the archive ran) is not the entry's.
 */
export const asIndexed = (entry: FileEntry): Effect.Effect<boolean> =>
  Effect.promise(() =>
    Fs.lstat(entry.filePath).then(
      (s) =>
        s.isFile() &&
        s.size === entry.fileSize &&
        (entry.fileModifiedMs === undefined || s.mtimeMs === entry.fileModifiedMs),
      (cause: NodeJS.ErrnoException) => cause.code === "ENOENT"
    )
  )

/** The inode at `path` (the entry itself, not what a link points to), or undefined when there is none. */
export const inodeOf = (path: string): bigint | undefined => {
  try {
    return FsSync.lstatSync(path, { bigint: true, throwIfNoEntry: false })?.ino
  } catch {
    return undefined
  }
}

/** Whether `path` is below `root`. */
export const isUnder = (root: string, path: string): boolean => path.startsWith(root + Path.sep)

/**
 * Removes the file of an entry that is gone (removed, or its instance stored again at another path) while it is as
 * recorded; one changed since may hold another instance (the only copy of it), and is left where it is; one reached
 * through a symbolic link below the root is not looked at, nor removed.
 */
export const removeIfAsRecorded = (
  store: InstanceStore["Service"],
  entry: FileEntry,
  recorded: "indexed" | "stored"
): Effect.Effect<void, StoreFailed | LinkInStore> => {
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
          `${entry.filePath} changed since it was ${recorded} for ${entry.sopInstanceUid}: left in place, not removed`
        )
  )
}

/** What `Archive.store` and `PlainStore.store` refuse with, once the bytes are walked, as the store's `verify`. */
export const verifyOf =
  (check: DataSetCheck) =>
  (final: boolean): InvalidInstance | undefined => {
    const problem = check.problem(final)
    return problem === undefined
      ? undefined
      : new InvalidInstance({ reason: `truncated or malformed data set: ${problem}` })
  }

/** An iterator over a source of chunks, sync or async, and how to release the source early (its own cleanup). */
export const opened = (
  source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>
): {
  readonly iterator: AsyncIterator<Uint8Array> | Iterator<Uint8Array>
  readonly release: () => Promise<void>
} => {
  const iterator: AsyncIterator<Uint8Array> | Iterator<Uint8Array> =
    Symbol.asyncIterator in source
      ? (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
      : (source as Iterable<Uint8Array>)[Symbol.iterator]()
  const release = async (): Promise<void> => {
    try {
      await iterator.return?.()
    } catch {
      // the source's own cleanup failed; nothing more to do
    }
  }
  return { iterator, release }
}

/** The buffered chunks, then the rest of the source; stopping early releases the source. */
export async function* resume(
  chunks: ReadonlyArray<Uint8Array>,
  rest: AsyncIterator<Uint8Array> | Iterator<Uint8Array> | undefined
): AsyncGenerator<Uint8Array> {
  yield* chunks
  if (rest === undefined) return
  let finished = false
  try {
    while (true) {
      const next = await rest.next()
      if (next.done === true) {
        finished = true
        return
      }
      yield next.value
    }
  } finally {
    if (!finished) await rest.return?.()
  }
}
