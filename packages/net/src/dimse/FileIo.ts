/**
 * The file reads and writes under `Part10`'s loading and writing of data sets: synchronous ones for
 * small files, callback chains for the rest, vectored writes that survive partial writes.
 *
 * On Linux an asynchronous open, read and close of a 40 KB file costs about ten times the CPU of a
 * synchronous one (four libuv thread-pool round trips), so small files are read and written
 * synchronously. Every open refuses what is not a regular file without blocking (a FIFO given as a
 * path opens at once with O_NONBLOCK and is refused), so no read or write can stop the event loop
 * waiting for another process. Failures are thrown (synchronous helpers) or passed to `onError`; the
 * callers turn them into `Part10` errors. The module is internal (not exported by the package): the throwing
 * helpers are called only inside a `try` in `Part10` (`readFileMeta`, `loadDataSet`, `readAhead`: `FileReadFailed`;
 * `writeFile`, through an `Effect.try`: `FileWriteFailed`).
 *
 * @since 0.2.0
 */
import * as Fs from "node:fs"
import type * as FsPromises from "node:fs/promises"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as LentBytes from "../upper/LentBytes.ts"

/** What a file looked like when its meta was read; a file that differs now has changed since. */
export interface Seen {
  readonly dataSetOffset: number
  readonly fileSize?: number
  readonly modifiedMs?: number
  readonly changedMs?: number
}

/** Why a file is not the one whose meta was read, if it is not. */
export const changedSince = (stat: Fs.Stats, seen: Seen): string | undefined => {
  if (seen.fileSize !== undefined && stat.size !== seen.fileSize) {
    return `changed since its meta header was read (${seen.fileSize} bytes then, ${stat.size} now)`
  }
  if (seen.modifiedMs !== undefined && stat.mtimeMs !== seen.modifiedMs) {
    return "changed since its meta header was read (modified since)"
  }
  // rewritten or replaced with its modification time set back (`cp -p`, `touch -r`): the status change time moved
  if (seen.changedMs !== undefined && stat.ctimeMs !== seen.changedMs) {
    return "changed since its meta header was read (its status changed since)"
  }
  return undefined
}

// A read that ends before the size `fstat` gave: the file was cut short while it was read (its shorter bytes are not
// the data set).
const cutShort = (read: number, size: number): string =>
  `changed while it was read (cut short: ${read} of ${size} bytes of its data set)`

/**
 * Opens a regular file for reading without blocking, with its status; anything else is refused. Throws (see the
 * module's description for where it is caught).
 */
export const openRegularSync = (path: string): { readonly fd: number; readonly stat: Fs.Stats } => {
  const fd = Fs.openSync(path, Fs.constants.O_RDONLY | Fs.constants.O_NONBLOCK)
  let stat: Fs.Stats
  try {
    stat = Fs.fstatSync(fd)
  } catch (cause) {
    Fs.closeSync(fd)
    throw cause
  }
  if (stat.isFile()) return { fd, stat }
  Fs.closeSync(fd)
  throw new Error("not a regular file")
}

/** The first `length` bytes of a file (fewer if it is shorter), its size and its modification time. Throws. */
export const readHeadSync = (
  path: string,
  length: number
): {
  readonly bytes: Uint8Array
  readonly size: number
  readonly modifiedMs: number
  readonly changedMs: number
} => {
  // One fstat: the one that checked the file is regular.
  const { fd, stat } = openRegularSync(path)
  try {
    const bytes = new Uint8Array(Math.min(stat.size, length))
    let at = 0
    while (at < bytes.length) {
      const n = Fs.readSync(fd, bytes, at, bytes.length - at, at)
      if (n === 0) break
      at += n
    }
    return { bytes: bytes.subarray(0, at), size: stat.size, modifiedMs: stat.mtimeMs, changedMs: stat.ctimeMs }
  } finally {
    Fs.closeSync(fd)
  }
}

/**
 * A file's bytes from the data set's offset to its end, synchronously, when at most `limit` (else `undefined`).
 * Throws, also when the file changed since `seen` or is cut short while it is read.
 */
export const readTailSync = (path: string, seen: Seen, limit: number): Uint8Array | undefined => {
  const { fd, stat } = openRegularSync(path)
  try {
    const changed = changedSince(stat, seen)
    if (changed !== undefined) throw new Error(changed)
    const offset = seen.dataSetOffset
    const size = Math.max(0, stat.size - offset)
    if (size > limit) return undefined
    const bytes = new Uint8Array(size)
    let at = 0
    while (at < size) {
      const n = Fs.readSync(fd, bytes, at, size - at, offset + at)
      if (n === 0) throw new Error(cutShort(at, size))
      at += n
    }
    return bytes
  } finally {
    Fs.closeSync(fd)
  }
}

/** As `readTailSync`, asynchronously: open, fstat, read and close chained as callbacks, one effect in all. */
export const readTail = <E>(
  path: string,
  seen: Seen,
  limit: number,
  onError: (cause: unknown) => E
): Effect.Effect<Uint8Array | undefined, E> =>
  Effect.callback<Uint8Array | undefined, E>((resume) => {
    Fs.open(path, Fs.constants.O_RDONLY | Fs.constants.O_NONBLOCK, (error, fd) => {
      if (error) return resume(Effect.fail(onError(error)))
      const finish = (outcome: Effect.Effect<Uint8Array | undefined, E>) => Fs.close(fd, () => resume(outcome))
      Fs.fstat(fd, (error, stat) => {
        if (error) return finish(Effect.fail(onError(error)))
        if (!stat.isFile()) return finish(Effect.fail(onError(new Error("not a regular file"))))
        const changed = changedSince(stat, seen)
        if (changed !== undefined) return finish(Effect.fail(onError(changed)))
        const offset = seen.dataSetOffset
        const size = Math.max(0, stat.size - offset)
        if (size > limit) return finish(Effect.succeed(undefined))
        const bytes = new Uint8Array(size)
        const readFrom = (at: number): void => {
          if (at >= size) return finish(Effect.succeed(bytes))
          Fs.read(fd, bytes, at, size - at, offset + at, (error, n) => {
            if (error) return finish(Effect.fail(onError(error)))
            if (n === 0) return finish(Effect.fail(onError(new Error(cutShort(at, size)))))
            readFrom(at + n)
          })
        }
        readFrom(0)
      })
    })
  })

/** Create or truncate for writing, without blocking on a FIFO (which `isFile` then refuses). */
export const WRITE_FLAGS = Fs.constants.O_WRONLY | Fs.constants.O_CREAT | Fs.constants.O_TRUNC | Fs.constants.O_NONBLOCK

// Vectored writes take at most this many pieces at once (IOV_MAX on Linux).
const MAX_PIECES = 1024

// The pieces still to write after `written` bytes of `batch` went, followed by `rest`.
const unwritten = (
  batch: ReadonlyArray<Uint8Array>,
  written: number,
  rest: ReadonlyArray<Uint8Array>
): Array<Uint8Array> => {
  let i = 0
  while (i < batch.length && written >= batch[i]!.length) written -= batch[i++]!.length
  return i < batch.length ? [batch[i]!.subarray(written), ...batch.slice(i + 1), ...rest] : [...rest]
}

/** Writes every piece at the file's position, synchronously, however the kernel splits the writes. Throws. */
export const writeAllSync = (fd: number, pieces: ReadonlyArray<Uint8Array>): void => {
  let queue = pieces.filter((p) => p.length > 0)
  while (queue.length > 0) {
    const batch = queue.slice(0, MAX_PIECES)
    queue = unwritten(batch, Fs.writevSync(fd, batch), queue.slice(MAX_PIECES))
  }
}

/** As `writeAllSync`, asynchronously. */
export const writeAll = async (handle: FsPromises.FileHandle, pieces: ReadonlyArray<Uint8Array>): Promise<void> => {
  let queue = pieces.filter((p) => p.length > 0)
  while (queue.length > 0) {
    const batch = queue.slice(0, MAX_PIECES)
    queue = unwritten(batch, (await handle.writev(batch)).bytesWritten, queue.slice(MAX_PIECES))
  }
}

// Read buffers given back by the sender, kept for the next reads (of any file), up to POOL_MAX of each size and
// POOL_MAX_BYTES in all (eight of the 256 KiB the library streams in): a stream read once with a large chunk size
// (up to 64 MiB) must not leave its buffers pinned for the life of the process.
const POOL_MAX = 8
const POOL_MAX_BYTES = 8 * (256 << 10)
const pools = new Map<number, Array<Uint8Array>>()
let pooledBytes = 0

const takeBuffer = (size: number): Uint8Array => {
  const buffer = pools.get(size)?.pop()
  if (buffer === undefined) return new Uint8Array(size)
  pooledBytes -= buffer.length
  return buffer
}

const giveBack = (buffer: Uint8Array) => () => {
  if (pooledBytes + buffer.length > POOL_MAX_BYTES) return
  let pool = pools.get(buffer.length)
  if (pool === undefined) pools.set(buffer.length, (pool = []))
  if (pool.length >= POOL_MAX) return
  pool.push(buffer)
  pooledBytes += buffer.length
}

/** Read buffers held by the pool, for tests. */
export const pooledBuffers = (size: number): number => pools.get(size)?.length ?? 0

type Step =
  | { readonly _tag: "Read"; readonly buffer: Uint8Array; readonly n: number }
  | { readonly _tag: "Failed"; readonly cause: unknown }

interface Read {
  step: Step | undefined
  waiter: ((step: Step) => void) | undefined
}

/**
 * A file's bytes from `offset` to its end, as chunks of up to `size` bytes read into pooled buffers, the
 * next read running while a chunk is sent. Each chunk is lent (`LentBytes`): its buffer is refilled once
 * the sender has written it, so a consumer must not keep a chunk past sending it (copy it instead). The
 * file is closed when the stream ends or stops, once a read still running has completed.
 *
 * With the `fileSize`, `modifiedMs` and `changedMs` of `seen`, the reads stop at that size, and a file that differs
 * from it (at the open, or at the end: cut short, grown, rewritten while it was read) ends the stream with an error
 * instead of passing a shorter or longer data set off as the file's.
 */
export const lentReads = <E>(
  path: string,
  offset: number,
  size: number,
  onError: (cause: unknown) => E,
  seen?: Seen
): Stream.Stream<Uint8Array, E> =>
  Stream.unwrap(
    Effect.gen(function* () {
      let position = offset
      // where the reads stop: the size the file had when its meta was read, if known
      const end = seen?.fileSize
      const changedOf = (stat: Fs.Stats): Error | undefined => {
        const changed = seen === undefined ? undefined : changedSince(stat, seen)
        return changed === undefined ? undefined : new Error(changed)
      }
      let ended = false
      let closing = false
      let inFlight: Read | undefined
      let afterRead: (() => void) | undefined
      const open = Effect.callback<number, E>((resume) => {
        Fs.open(path, Fs.constants.O_RDONLY | Fs.constants.O_NONBLOCK, (error, fd) => {
          if (error) return resume(Effect.fail(onError(error)))
          Fs.fstat(fd, (error, stat) => {
            const problem = error ?? (stat.isFile() ? changedOf(stat) : new Error("not a regular file"))
            if (problem === undefined) return resume(Effect.succeed(fd))
            Fs.close(fd, () => resume(Effect.fail(onError(problem))))
          })
        })
      })
      // Closes the file, but never under a read still running (its descriptor could be reused meanwhile);
      // a buffer read and not taken goes back to the pool.
      const close = (fd: number) =>
        Effect.callback<void>((resume) => {
          closing = true
          const done = () => Fs.close(fd, () => resume(Effect.void))
          const read = inFlight
          if (read !== undefined && read.step === undefined) {
            afterRead = done
            return
          }
          inFlight = undefined
          if (read?.step?._tag === "Read") giveBack(read.step.buffer)()
          done()
        })
      const fd = yield* Effect.acquireRelease(open, close)
      const start = () => {
        const buffer = takeBuffer(size)
        const read: Read = { step: undefined, waiter: undefined }
        inFlight = read
        Fs.read(fd, buffer, 0, end === undefined ? size : Math.min(size, end - position), position, (error, n) => {
          const step: Step = error ? { _tag: "Failed", cause: error } : { _tag: "Read", buffer, n }
          if (closing) {
            inFlight = undefined
            giveBack(buffer)()
            afterRead?.()
            return
          }
          read.step = step
          const waiter = read.waiter
          read.waiter = undefined
          waiter?.(step)
        })
      }
      const next = (read: Read): Effect.Effect<Step> =>
        read.step !== undefined
          ? Effect.succeed(read.step)
          : Effect.callback<Step>((resume) => {
              read.waiter = (step) => resume(Effect.succeed(step))
              return Effect.sync(() => {
                read.waiter = undefined
              })
            })
      const atEnd = () => end !== undefined && position >= end
      // The end of the file, or of the size seen: the file must still be as seen, and not cut short.
      const finish = Effect.callback<never, E | Cause.Done>((resume) => {
        ended = true
        Fs.fstat(fd, (error, stat) => {
          const problem =
            error ??
            changedOf(stat) ??
            (end !== undefined && position < end ? new Error(`cut short: ${position} of ${end} bytes`) : undefined)
          resume(problem === undefined ? Cause.done() : Effect.fail(onError(problem)))
        })
      })
      const pull: Effect.Effect<readonly [Uint8Array], E | Cause.Done> = Effect.suspend(() => {
        if (ended) return Cause.done()
        if (inFlight === undefined) {
          if (atEnd()) return finish
          start()
        }
        return Effect.flatMap(next(inFlight!), (step): Effect.Effect<readonly [Uint8Array], E | Cause.Done> => {
          inFlight = undefined
          if (step._tag === "Failed") {
            ended = true
            return Effect.fail(onError(step.cause))
          }
          if (step.n === 0) {
            giveBack(step.buffer)()
            return finish
          }
          position += step.n
          const chunk = LentBytes.lend(step.buffer.subarray(0, step.n), giveBack(step.buffer))
          // The next read runs while this chunk is sent.
          if (!atEnd()) start()
          return Effect.succeed([chunk] as const)
        })
      })
      return Stream.fromPull(Effect.succeed(pull))
    })
  )
