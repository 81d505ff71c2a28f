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
import type * as Scope from "effect/Scope"
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
  const tail = readTailOrSizeSync(path, seen, limit)
  return tail instanceof Uint8Array ? tail : undefined
}

/**
 * As `readTailSync`, but a tail over `limit` gives its size (bytes from the data set's offset to the file's end, as
 * the file is now), so that the caller can choose how to read it without opening the file again. Throws.
 */
export const readTailOrSizeSync = (path: string, seen: Seen, limit: number): Uint8Array | { readonly size: number } => {
  const { fd, stat } = openRegularSync(path)
  try {
    const changed = changedSince(stat, seen)
    if (changed !== undefined) throw new Error(changed)
    const offset = seen.dataSetOffset
    const size = Math.max(0, stat.size - offset)
    if (size > limit) return { size }
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

// The pieces that hold bytes, in order (a loop, not `filter`: no call per piece of each file written).
const nonEmpty = (pieces: ReadonlyArray<Uint8Array>): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (const piece of pieces) if (piece.length > 0) out.push(piece)
  return out
}

/** Writes every piece at the file's position, synchronously, however the kernel splits the writes. Throws. */
export const writeAllSync = (fd: number, pieces: ReadonlyArray<Uint8Array>): void => {
  let queue = nonEmpty(pieces)
  while (queue.length > 0) {
    const batch = queue.slice(0, MAX_PIECES)
    queue = unwritten(batch, Fs.writevSync(fd, batch), queue.slice(MAX_PIECES))
  }
}

/** As `writeAllSync`, asynchronously. */
export const writeAll = async (handle: FsPromises.FileHandle, pieces: ReadonlyArray<Uint8Array>): Promise<void> => {
  let queue = nonEmpty(pieces)
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
  // the bytes asked for
  readonly wanted: number
}

/**
 * What `ChunkReader.take` gives: a chunk (lent), the end of the file, or why the reads stopped. A chunk holds `data`
 * bytes of the file (framed: laid out as `Frame` says, in `bytes`, which has room for every gap); `last` when they
 * reach the end of the file as seen (whose check, `End` or `Failed`, comes next).
 */
export type Chunk<E> =
  | { readonly _tag: "Chunk"; readonly bytes: Uint8Array; readonly data: number; readonly last: boolean }
  | { readonly _tag: "End" }
  | { readonly _tag: "Failed"; readonly error: E }

/**
 * Reads laid out for a sender that puts a header before every `capacity` bytes of data: a buffer is read into as
 * `gap` bytes left free, `capacity` bytes of the file, `gap` free, and so on (one vectored read), so that the
 * buffer, its gaps filled, is what goes out, in one piece.
 */
export interface Frame {
  readonly gap: number
  readonly capacity: number
}

// Reads are framed only when this many frames fit one: at two per read (max PDU 131072) framing saved no CPU that could
// be measured and the bench's SCU peaked 2-3 MiB higher, for a cause not found (docs/performance.md Round 14, large).
const FRAMES_AT_LEAST = 4

/**
 * A file's chunks read one ahead into pooled buffers, driven by callbacks: what `lentReads` streams, for a sender that
 * takes them without an effect per chunk.
 */
export interface ChunkReader<E> {
  /**
   * The next chunk, the end or the failure, or `undefined` while the read (or the end's check) runs. Taking a chunk
   * starts the next read. A chunk is lent (`LentBytes`) as `lentReads`' are; the end and a failure are given again.
   */
  readonly take: () => Chunk<E> | undefined
  /** Calls `ready` once when `take` has something (at once if it has now); `undefined` forgets the one set. */
  readonly whenReady: (ready: (() => void) | undefined) => void
  /** Whether the chunks are framed (`Frame`): when asked for, the file's size is known, and four frames fit a read. */
  readonly framed: boolean
}

const END: Chunk<never> = { _tag: "End" }

/**
 * A chunk read synchronously that took longer than this (ms) came from the disk rather than the page cache: the
 * file's further reads run on the thread pool. From the page cache a 256 KiB read takes tens of microseconds, about
 * what the thread pool's round trip (a wake-up, a context switch, an eventfd and an epoll turn) costs on top of it,
 * and the event loop is blocked no longer than by `Part10.loadDataSet`'s synchronous read of a 256 KiB file; a file
 * read from the disk blocks it for `SLOW_READS` reads at most.
 */
export const SLOW_READ_MS = 2

/**
 * After this many slow reads in a row the rest are asynchronous. In a row: on a busy machine the scheduler stretches a
 * read from the cache now and then (the process preempted during it), which said nothing of the disk; counted
 * wherever they came, three such reads in a file of 128 chunks moved nearly every large send at load 6-9 onto the
 * thread pool (docs/performance.md, Round 20 (large)). A file read from the disk is slow read after read.
 */
export const SLOW_READS = 3

/**
 * Opens a file for `ChunkReader`'s reads from `offset`, in chunks of up to `size` bytes; the file is closed with the
 * scope, once a read still running has completed. With `seen`, the reads stop at its size, and a file that differs
 * from it (at the open, or at the end: cut short, grown, rewritten while it was read) ends the reads with a failure.
 */
export const openChunkReader = <E>(
  path: string,
  offset: number,
  size: number,
  onError: (cause: unknown) => E,
  seen?: Seen,
  frame?: Frame
): Effect.Effect<ChunkReader<E>, E, Scope.Scope> =>
  Effect.suspend(() => {
    let position = offset
    // where the reads stop: the size the file had when its meta was read, if known
    const end = seen?.fileSize
    const framed = frame !== undefined && end !== undefined && (frame.gap + frame.capacity) * FRAMES_AT_LEAST <= size
    const per = framed ? frame.gap + frame.capacity : 0
    const frames = framed ? Math.floor(size / per) : 0
    const changedOf = (stat: Fs.Stats): Error | undefined => {
      const changed = seen === undefined ? undefined : changedSince(stat, seen)
      return changed === undefined ? undefined : new Error(changed)
    }
    // the end or the failure, once known; `finishing` while the end's fstat runs
    let outcome: Chunk<E> | undefined
    let finishing = false
    let closing = false
    let inFlight: Read | undefined
    let waiter: (() => void) | undefined
    // called once nothing runs on the descriptor any more (a close waiting for a read or an fstat)
    let afterRead: (() => void) | undefined
    // Reads are synchronous until SLOW_READS in a row are slow (see SLOW_READ_MS), then asynchronous for the rest of
    // the file; `slowReads` counts the slow ones since the last fast one.
    let synchronous = true
    let slowReads = 0
    const wake = () => {
      const ready = waiter
      waiter = undefined
      ready?.()
    }
    // Opened synchronously, as the reads from the page cache are: the open and its fstat on the thread pool were two
    // round trips (a wake-up and a context switch each) between a C-STORE's response and the next data set's first
    // write (docs/performance.md, Round 20 (large)). The open does not wait on what is not a regular file.
    const open = Effect.suspend(() => {
      let opened: ReturnType<typeof openRegularSync>
      try {
        opened = openRegularSync(path)
      } catch (cause) {
        return Effect.fail(onError(cause))
      }
      const problem = changedOf(opened.stat)
      if (problem === undefined) return Effect.succeed(opened.fd)
      Fs.closeSync(opened.fd)
      return Effect.fail(onError(problem))
    })
    // Closes the file, but never under a read or an fstat still running (its descriptor could be reused meanwhile);
    // a buffer read and not taken goes back to the pool.
    const close = (fd: number) =>
      Effect.callback<void>((resume) => {
        closing = true
        waiter = undefined
        const done = () => Fs.close(fd, () => resume(Effect.void))
        const read = inFlight
        if ((read !== undefined && read.step === undefined) || (finishing && outcome === undefined)) {
          afterRead = done
          return
        }
        inFlight = undefined
        if (read?.step?._tag === "Read") giveBack(read.step.buffer)()
        done()
      })
    return Effect.map(Effect.acquireRelease(open, close), (fd): ChunkReader<E> => {
      // The views a framed read fills: `capacity` bytes after each gap, `length` in all.
      const framesOf = (buffer: Uint8Array, length: number): Array<Uint8Array> => {
        const views: Array<Uint8Array> = []
        for (let at = 0, i = 0; at < length; at += frame!.capacity, i++) {
          const from = i * per + frame!.gap
          views.push(buffer.subarray(from, from + Math.min(frame!.capacity, length - at)))
        }
        return views
      }
      const start = () => {
        const buffer = takeBuffer(framed ? frames * per : size)
        const wanted = framed
          ? Math.min(frames * frame!.capacity, end! - position)
          : end === undefined
            ? size
            : Math.min(size, end - position)
        const read: Read = { step: undefined, wanted }
        inFlight = read
        const views = framed ? framesOf(buffer, wanted) : undefined
        if (synchronous) {
          const startedAt = performance.now()
          try {
            const n =
              views === undefined ? Fs.readSync(fd, buffer, 0, wanted, position) : Fs.readvSync(fd, views, position)
            read.step = { _tag: "Read", buffer, n }
          } catch (cause) {
            read.step = { _tag: "Failed", cause }
          }
          if (performance.now() - startedAt <= SLOW_READ_MS) slowReads = 0
          else if (++slowReads >= SLOW_READS) synchronous = false
          return
        }
        const done = (error: NodeJS.ErrnoException | null, n: number) => {
          if (closing) {
            inFlight = undefined
            giveBack(buffer)()
            afterRead?.()
            return
          }
          read.step = error ? { _tag: "Failed", cause: error } : { _tag: "Read", buffer, n }
          wake()
        }
        if (views === undefined) Fs.read(fd, buffer, 0, wanted, position, done)
        else Fs.readv(fd, views, position, done)
      }
      const atEnd = () => end !== undefined && position >= end
      // The end of the file, or of the size seen: the file must still be as seen, and not cut short.
      const finish = (): Chunk<E> | undefined => {
        if (finishing) return outcome
        finishing = true
        Fs.fstat(fd, (error, stat) => {
          const problem =
            error ??
            changedOf(stat) ??
            (end !== undefined && position < end ? new Error(`cut short: ${position} of ${end} bytes`) : undefined)
          outcome = problem === undefined ? END : { _tag: "Failed", error: onError(problem) }
          if (closing) return afterRead?.()
          wake()
        })
        return undefined
      }
      const take = (): Chunk<E> | undefined => {
        if (outcome !== undefined || finishing) return outcome
        if (inFlight === undefined) {
          if (atEnd()) return finish()
          start()
        }
        const read = inFlight!
        const step = read.step
        if (step === undefined) return undefined
        inFlight = undefined
        if (step._tag === "Failed") return (outcome = { _tag: "Failed", error: onError(step.cause) })
        if (step.n === 0) {
          giveBack(step.buffer)()
          return finish()
        }
        // A framed read must fill its frames: a shorter one found the file shorter than seen.
        if (framed && step.n < read.wanted) {
          giveBack(step.buffer)()
          return (outcome = {
            _tag: "Failed",
            error: onError(new Error(`cut short: ${position + step.n} of ${end} bytes`))
          })
        }
        position += step.n
        const bytes = LentBytes.lend(framed ? step.buffer : step.buffer.subarray(0, step.n), giveBack(step.buffer))
        const last = atEnd()
        // The next read runs while this chunk is sent.
        if (!last) start()
        return { _tag: "Chunk", bytes, data: step.n, last }
      }
      const whenReady = (ready: (() => void) | undefined) => {
        waiter = ready
        // ready now: a read completed, or the end is known (a wait registered late must not miss its wake-up)
        if (ready !== undefined && (outcome !== undefined || (inFlight !== undefined && inFlight.step !== undefined))) {
          wake()
        }
      }
      return { take, whenReady, framed }
    })
  })

// The file behind a stream that `lentReads` made (or `mapLentReadsError` mapped): a sender may read it through a
// `ChunkReader` instead of running the stream.
const readers = new WeakMap<object, (frame?: Frame) => Effect.Effect<ChunkReader<unknown>, unknown, Scope.Scope>>()

/**
 * The `ChunkReader` that reads what `stream` would give, if `stream` is one of `lentReads`' (or mapped by
 * `mapLentReadsError`): the same chunks, without an effect per chunk. Opening it reads the file anew.
 */
export const chunkReaderOf = <E>(
  stream: Stream.Stream<Uint8Array, E>
): ((frame?: Frame) => Effect.Effect<ChunkReader<E>, E, Scope.Scope>) | undefined =>
  readers.get(stream) as ((frame?: Frame) => Effect.Effect<ChunkReader<E>, E, Scope.Scope>) | undefined

/** `Stream.mapError`, keeping what `chunkReaderOf` finds of a stream of `lentReads`. */
export const mapLentReadsError = <E, E2>(
  stream: Stream.Stream<Uint8Array, E>,
  f: (e: E) => E2
): Stream.Stream<Uint8Array, E2> => {
  const mapped = Stream.mapError(stream, f)
  const reader = chunkReaderOf(stream)
  if (reader !== undefined) {
    readers.set(mapped, (frame?: Frame) =>
      Effect.map(Effect.mapError(reader(frame), f), (r): ChunkReader<E2> => {
        let failed: Chunk<E2> | undefined
        return {
          take: () => {
            const next = r.take()
            if (next === undefined || next._tag !== "Failed") return next
            return (failed ??= { _tag: "Failed", error: f(next.error) })
          },
          whenReady: r.whenReady,
          framed: r.framed
        }
      })
    )
  }
  return mapped
}

/**
 * A file's bytes from `offset` to its end, as chunks of up to `size` bytes read into pooled buffers, the
 * next read running while a chunk is sent. Each chunk is lent (`LentBytes`): its buffer is refilled once
 * the sender has written it, so a consumer must not keep a chunk past sending it (copy it instead). The
 * file is closed when the stream ends or stops, once a read still running has completed.
 *
 * With the `fileSize`, `modifiedMs` and `changedMs` of `seen`, the reads stop at that size, and a file that differs
 * from it (at the open, or at the end: cut short, grown, rewritten while it was read) ends the stream with an error
 * instead of passing a shorter or longer data set off as the file's. `DimseChannel` sends such a stream through its
 * `ChunkReader` (`chunkReaderOf`): the same reads, without an effect per chunk.
 */
export const lentReads = <E>(
  path: string,
  offset: number,
  size: number,
  onError: (cause: unknown) => E,
  seen?: Seen
): Stream.Stream<Uint8Array, E> => {
  const opening = openChunkReader(path, offset, size, onError, seen)
  const stream = Stream.unwrap(
    Effect.map(opening, (reader) => {
      const ready = Effect.callback<void>((resume) => {
        reader.whenReady(() => resume(Effect.void))
        return Effect.sync(() => reader.whenReady(undefined))
      })
      const pull: Effect.Effect<readonly [Uint8Array], E | Cause.Done> = Effect.suspend(() => {
        const next = reader.take()
        if (next === undefined) return Effect.andThen(ready, pull)
        if (next._tag === "Chunk") return Effect.succeed([next.bytes] as const)
        return next._tag === "End" ? Cause.done() : Effect.fail(next.error)
      })
      return Stream.fromPull(Effect.succeed(pull))
    })
  )
  readers.set(stream, (frame?: Frame) => openChunkReader(path, offset, size, onError, seen, frame))
  return stream
}
