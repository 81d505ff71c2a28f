/**
 * Writing Part 10 files (internal: `Part10` re-exports it): a File Meta Information, then a received data set's bytes
 * as they come, never decoded.
 */
import * as FsCallback from "node:fs"
import * as Fs from "node:fs/promises"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as FileIo from "./FileIo.ts"
import { FileWriteFailed } from "./Part10Error.ts"
import { type MetaInput, writeMeta } from "./Part10Meta.ts"
import * as ReceivedBytes from "../upper/ReceivedBytes.ts"

// Writes a small file in one synchronous vectored write. A path that is not a regular file is refused (and left);
// a regular file whose write fails is removed. Throws: called only where `FileWriteFailed` is made of what it throws.
const writeWholeSync = (path: string, pieces: ReadonlyArray<Uint8Array>): void => {
  const fd = FsCallback.openSync(path, FileIo.WRITE_FLAGS, 0o644)
  let regular = false
  try {
    if (!FsCallback.fstatSync(fd).isFile()) throw new Error("not a regular file")
    regular = true
    FileIo.writeAllSync(fd, pieces)
  } catch (cause) {
    FsCallback.closeSync(fd)
    if (regular) FsCallback.rmSync(path, { force: true })
    throw cause
  }
  FsCallback.closeSync(fd)
}

// Writes `pieces` synchronously with `write`, the lent ones among them borrowed meanwhile (`ReceivedBytes.borrow`):
// refused when one was freed already (its bytes are gone: a lent data set read by two consumers); given back after,
// and released with `releasing`. Throws: called only where `FileWriteFailed` is made of what it throws.
const writeBorrowed = (pieces: ReadonlyArray<Uint8Array>, releasing: boolean, write: () => void): void => {
  if (!ReceivedBytes.borrow(pieces)) throw new Error(FREED_BEFORE_WRITTEN)
  try {
    write()
  } catch (cause) {
    ReceivedBytes.giveBack(pieces, false)
    throw cause
  }
  ReceivedBytes.giveBack(pieces, releasing)
}

const FREED_BEFORE_WRITTEN =
  "a fragment of the data set was freed before it was written (a lent data set, dataSetLent, read by two consumers?)"

// Chunks `writeFile` holds before writing them, whatever their bytes: a data set received in 1-byte PDVs would
// otherwise be held as a million views (~100 MB of heap) before its first write.
const MAX_PENDING_PIECES = 8192

/** Received data sets up to this size are gathered and written by `writeFile` in one synchronous write. */
export const SYNC_WRITE_LIMIT = 1 << 20

/**
 * `writeFile` of a data set given whole (its fragments in order, `StoreRequest.dataSetReceived`), done as this is
 * called: with one synchronous vectored write when it is at most `SYNC_WRITE_LIMIT` bytes, giving the data set's length
 * or why it failed (the file removed), as `writeFile` would; `undefined`, and nothing written, when it is larger (write
 * it with `writeFile`). For a storage handler that does its work as it is called (`StoreHandler.StorageHandler`): its
 * outcome then needs no fiber. The fragments stay the caller's (never released).
 */
export const writeFileNow = (
  path: string,
  meta: MetaInput,
  dataSet: ReadonlyArray<Uint8Array>
): Result.Result<number, FileWriteFailed> | undefined => {
  let total = 0
  for (const fragment of dataSet) total += fragment.length
  if (total > SYNC_WRITE_LIMIT) return undefined
  const pieces = [writeMeta(meta), ...dataSet]
  try {
    writeBorrowed(pieces, false, () => writeWholeSync(path, pieces))
  } catch (cause) {
    return Result.fail(new FileWriteFailed({ path, cause }))
  }
  return Result.succeed(total)
}

/**
 * Writes a Part 10 file: `writeMeta(meta)`, then the data set's bytes as they come, never decoded (a
 * C-STORE SCP's data set stream, say). A data set of up to `SYNC_WRITE_LIMIT` bytes (most instances) is
 * gathered, then written with one synchronous vectored write: an asynchronous open, write and close costs
 * several times the CPU on Linux, in thread-pool round trips. A larger one goes to the file as it
 * arrives, in vectored writes of at least `SYNC_WRITE_LIMIT` bytes (or 8192 chunks), so it is never held whole. On
 * failure or interruption the partial file is removed (interrupted during a write, once that write has settled:
 * the interruption does not wait for it). No fsync: see the archive's store for durable writes.
 * The data set may also be given whole, as its fragments in order (`StoreRequest.dataSetReceived`).
 * Fragments of a stream are released once written (`ReceivedBytes.release`: a request's `dataSetLent` frees its
 * socket reads as it goes); an array's stay the caller's and are never released. A lent fragment found freed before
 * it is written (a lent data set read by two consumers) fails the write rather than leave its bytes out.
 * Returns the data set's length.
 */
export const writeFile = <E = never>(
  path: string,
  meta: MetaInput,
  dataSet: Stream.Stream<Uint8Array, E> | ReadonlyArray<Uint8Array>
): Effect.Effect<number, E | FileWriteFailed> =>
  Effect.suspend(() => {
    if (Array.isArray(dataSet)) {
      const done = writeFileNow(path, meta, dataSet as ReadonlyArray<Uint8Array>)
      if (done !== undefined) return Result.isSuccess(done) ? Effect.succeed(done.success) : Effect.fail(done.failure)
    }
    let pending: Array<Uint8Array> = [writeMeta(meta)]
    let pendingBytes = pending[0]!.length
    let total = 0
    // Fragments pulled from a stream are ours once pulled, and given back once written; an array stays its caller's
    // (who may write it again, or read it): none of it is released.
    const released = !Array.isArray(dataSet)
    const chunks: Stream.Stream<Uint8Array, E> = Array.isArray(dataSet)
      ? Stream.fromIterable(dataSet as ReadonlyArray<Uint8Array>)
      : (dataSet as Stream.Stream<Uint8Array, E>)
    let handle: Fs.FileHandle | undefined
    // Only a regular file this call opened is removed on failure (never a device or a FIFO given as path).
    let created = false
    const failed = (cause: unknown) => new FileWriteFailed({ path, cause })
    // The flush under way, if any. An interruption does not wait for it (a slow disk must not hold up a timeout), and
    // abandons its promise: the cleanup below then runs once that has settled, for the promise may still open the
    // file and write to it (cleaned up at once, it found nothing to remove, and the file was left with its first MiB).
    let flushing: Promise<void> | undefined
    const flush = Effect.suspend(() => {
      const pieces = pending
      pending = []
      pendingBytes = 0
      return Effect.tryPromise({
        try: () => {
          // Lent fragments are borrowed while the thread pool writes them (none is freed under it), refused if one
          // was freed already; once written they are given back and released, which may free their socket reads.
          if (!ReceivedBytes.borrow(pieces)) return Promise.reject(new Error(FREED_BEFORE_WRITTEN))
          const writing = (async () => {
            if (handle === undefined) {
              handle = await Fs.open(path, FileIo.WRITE_FLAGS, 0o644)
              if (!(await handle.stat()).isFile()) throw new Error("not a regular file")
              created = true
            }
            await FileIo.writeAll(handle, pieces)
          })().then(
            () => ReceivedBytes.giveBack(pieces, released),
            (cause: unknown) => {
              ReceivedBytes.giveBack(pieces, false)
              throw cause // a rejection of this Effect.tryPromise: FileWriteFailed
            }
          )
          flushing = writing
          return writing.finally(() => {
            if (flushing === writing) flushing = undefined
          })
        },
        catch: failed
      })
    })
    const body = Effect.andThen(
      Stream.runForEach(chunks, (chunk) => {
        pending.push(chunk)
        pendingBytes += chunk.length
        total += chunk.length
        return pendingBytes < SYNC_WRITE_LIMIT && pending.length < MAX_PENDING_PIECES ? Effect.void : flush
      }),
      Effect.suspend(() => {
        if (handle !== undefined)
          return Effect.andThen(
            flush,
            Effect.promise(() => handle!.close())
          )
        return Effect.try({
          try: () => writeBorrowed(pending, released, () => writeWholeSync(path, pending)),
          catch: failed
        })
      })
    )
    return body.pipe(
      Effect.map(() => total),
      Effect.onError(() => {
        const cleanup = async () => {
          await handle?.close().catch(() => undefined)
          if (created) await Fs.unlink(path).catch(() => undefined)
        }
        const abandoned = flushing
        return abandoned === undefined
          ? Effect.promise(cleanup)
          : Effect.sync(() => void abandoned.then(cleanup, cleanup))
      })
    )
  })
