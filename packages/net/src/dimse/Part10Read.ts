/**
 * Reading Part 10 files (internal: `Part10` re-exports it): a file's meta from its first bytes, its data set whole
 * or streamed in lent buffers, and the data sets of files to send read one ahead.
 */
import * as Fs from "node:fs/promises"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { DataSourceFailed } from "./DimseError.ts"
import * as FileIo from "./FileIo.ts"
import { FileReadFailed, NoFileMeta, type Part10Error, readFailed, Truncated } from "./Part10Error.ts"
import {
  type DataSetLocation,
  DEFAULT_MAX_READ,
  type FileInfo,
  INITIAL_READ,
  parse,
  type ReadFileMetaOptions
} from "./Part10Meta.ts"

const readAt = (handle: Fs.FileHandle, position: number, length: number): Promise<Uint8Array> =>
  (async () => {
    const buffer = new Uint8Array(length)
    let filled = 0
    while (filled < length) {
      const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled)
      if (bytesRead === 0) break
      filled += bytesRead
    }
    return buffer.subarray(0, filled)
  })()

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

/**
 * Reads the File Meta Information of a file on disk (and the SOP UIDs, by sniffing when asked), reading only the
 * first 64 KiB, or more when the meta group says so, up to `maxReadLength`. The data set can then be streamed with
 * `streamDataSet` or `loadDataSet`.
 */
export const readFileMeta = (path: string, options?: ReadFileMetaOptions): Effect.Effect<FileInfo, Part10Error> =>
  Effect.suspend(() => {
    // Most files: the first 64 KiB, read synchronously (see `loadDataSet` for why), hold the meta group.
    let head: ReturnType<typeof FileIo.readHeadSync>
    try {
      head = FileIo.readHeadSync(path, Math.min(INITIAL_READ, options?.maxReadLength ?? DEFAULT_MAX_READ))
    } catch (cause) {
      return Effect.fail(new FileReadFailed({ path, cause }))
    }
    const limit = Math.min(head.size, options?.maxReadLength ?? DEFAULT_MAX_READ)
    const meta = parse(head.bytes, options, head.bytes.length < limit && head.bytes.length < head.size)
    if (Result.isSuccess(meta)) {
      return Effect.succeed({
        ...meta.success,
        fileSize: head.size,
        modifiedMs: head.modifiedMs,
        changedMs: head.changedMs
      })
    }
    if (meta.failure._tag !== "Truncated" || head.bytes.length >= head.size) return Effect.fail(meta.failure)
    return readFileMetaAsync(path, options)
  })

/**
 * The meta of a file to send, as DCMTK's storescu reads one: its File Meta Information, or, for a bare data set
 * without one (as some exports and older tools write them), its transfer syntax guessed from its first element
 * (`sniff`: Implicit or Explicit VR, byte order) and `sniffed` set. A file that is no data set either fails with the
 * missing meta (`NoFileMeta`) as its reason, saying why it is not a bare data set (its first tag: a data set one stray
 * byte off reads as nonsense); a bare data set cut short fails with that. Used by `Scu.describeFile` and
 * `netdicom store`.
 */
export const readSendableMeta = (
  path: string,
  options?: Omit<ReadFileMetaOptions, "sniff">
): Effect.Effect<FileInfo, Part10Error> =>
  Effect.catchTag(readFileMeta(path, { ...options, sniff: false }), "NoFileMeta", (noMeta) =>
    readFileMeta(path, { ...options, sniff: true }).pipe(
      Effect.mapError((e) =>
        e._tag === "UnrecognizedDataSet"
          ? new NoFileMeta({ reason: `${noMeta.reason}, and it is not a bare data set either: ${e.reason}` })
          : e
      )
    )
  )

// Reads more than the first read held, asynchronously, growing the read until the meta group fits. The open does not
// wait on what is not a regular file (the path may name a FIFO by now), which is refused.
const readFileMetaAsync = (path: string, options?: ReadFileMetaOptions): Effect.Effect<FileInfo, Part10Error> =>
  Effect.acquireUseRelease(
    Effect.tryPromise({
      try: () => Fs.open(path, Fs.constants.O_RDONLY | Fs.constants.O_NONBLOCK),
      catch: (cause) => new FileReadFailed({ path, cause })
    }),
    (handle) =>
      Effect.gen(function* () {
        const io = <A>(f: () => Promise<A>) =>
          Effect.tryPromise({ try: f, catch: (cause) => new FileReadFailed({ path, cause }) })
        const stat = yield* io(() => handle.stat())
        if (!stat.isFile()) return yield* Effect.fail(new FileReadFailed({ path, cause: "not a regular file" }))
        const { size, mtimeMs, ctimeMs } = stat
        const limit = Math.min(size, options?.maxReadLength ?? DEFAULT_MAX_READ)
        let bytes = yield* io(() => readAt(handle, 0, Math.min(INITIAL_READ, limit)))
        while (true) {
          const meta = parse(bytes, options, bytes.length < limit && bytes.length < size)
          if (Result.isSuccess(meta)) {
            return { ...meta.success, fileSize: size, modifiedMs: mtimeMs, changedMs: ctimeMs }
          }
          const e = meta.failure
          if (e._tag !== "Truncated" || bytes.length >= size) return yield* Effect.fail(e)
          if (bytes.length >= limit) {
            const reason = `${e.reason}, and the first ${limit} bytes read (maxReadLength) do not hold it`
            return yield* Effect.fail(
              new Truncated({ part: e.part, reason, ...(e.needed === undefined ? {} : { needed: e.needed }) })
            )
          }
          const wanted = Math.min(limit, Math.max(e.needed ?? 0, bytes.length * 2))
          const more = yield* io(() => readAt(handle, bytes.length, wanted - bytes.length))
          if (more.length === 0) return yield* Effect.fail(e)
          bytes = concat(bytes, more)
        }
      }),
    (handle) => Effect.ignore(Effect.tryPromise(() => handle.close()))
  )

/** The largest chunk size `streamDataSet` reads in. */
export const MAX_CHUNK_SIZE = 64 << 20

// Streamed in pooled buffers, each lent to the sender (`LentBytes`) and refilled once written. A chunk size that is
// not a whole number of bytes from 1 to MAX_CHUNK_SIZE is refused: 0 (or NaN) read nothing, so the data set came out
// empty, and a negative one was a defect (RangeError).
const chunkedDataSet = (
  path: string,
  meta: DataSetLocation,
  chunkSize: number
): Stream.Stream<Uint8Array, FileReadFailed> =>
  Number.isInteger(chunkSize) && chunkSize >= 1 && chunkSize <= MAX_CHUNK_SIZE
    ? FileIo.lentReads(path, meta.dataSetOffset, chunkSize, readFailed(path), meta)
    : Stream.fail(new FileReadFailed({ path, cause: `chunk size ${chunkSize}: not a whole number from 1 to 64 MiB` }))

/**
 * The data set of a file, from `dataSetOffset` to its end (read whole up to `WHOLE_READ_LIMIT`
 * unless a chunk size is asked for), as a lazily read stream of chunks (a new read stream
 * per run; stopping early closes the file). The bytes are the file's, never decoded. Streamed
 * chunks are read into pooled buffers lent to the sender (`LentBytes`): once `DimseChannel` has
 * sent a chunk, its buffer is refilled, so copy a chunk you keep past sending it.
 */
export const streamDataSet = (
  path: string,
  meta: { readonly dataSetOffset: number },
  options?: { readonly chunkSize?: number }
): Stream.Stream<Uint8Array, FileReadFailed> => {
  // to the file's end, whatever its size now (`loadDataSet` holds a file to the size its meta was read at)
  const location = { dataSetOffset: meta.dataSetOffset }
  if (options?.chunkSize !== undefined) return chunkedDataSet(path, location, options.chunkSize)
  return Stream.unwrap(
    Effect.map(FileIo.readTail(path, location, WHOLE_READ_LIMIT, readFailed(path)), (bytes) =>
      bytes === undefined ? chunkedDataSet(path, location, STREAM_CHUNK) : Stream.make(bytes)
    )
  )
}

/**
 * The data set of a file ready to send, never decoded: its bytes when it is small, else a stream of
 * `STREAM_CHUNK`-byte reads into pooled buffers (lent to the sender, as in `streamDataSet`), so a large
 * file is never held whole and its reads allocate nothing once the pool is warm. With the `fileSize`,
 * `modifiedMs` and `changedMs` that `readFileMeta` gave, a file changed since (truncated, grown, rewritten) is
 * refused rather than sent under the old meta; a large file is streamed up to that size, and one that changes while
 * it is streamed ends its stream with `FileReadFailed` (at the end of it: the sender then aborts the message rather
 * than finish it).
 *
 * Up to `SYNC_READ_LIMIT` bytes (most instances) the file is read synchronously: on Linux an
 * asynchronous read of a 40 KB file costs about ten times the CPU of a synchronous one (four
 * thread-pool round trips), and blocks the event loop for no longer than a few tens of microseconds
 * from the page cache. Up to `WHOLE_READ_LIMIT` it is read in one asynchronous piece; above, streamed.
 */
export const loadDataSet = (
  path: string,
  meta: DataSetLocation
): Effect.Effect<Uint8Array | Stream.Stream<Uint8Array, FileReadFailed>, FileReadFailed> =>
  Effect.suspend(() => {
    let small: Uint8Array | { readonly size: number }
    try {
      small = FileIo.readTailOrSizeSync(path, meta, SYNC_READ_LIMIT)
    } catch (cause) {
      return Effect.fail(new FileReadFailed({ path, cause }))
    }
    if (small instanceof Uint8Array) return Effect.succeed(small)
    // Streamed: its reads open the file again (and check it then); no read of its size on the thread pool first.
    if (small.size > WHOLE_READ_LIMIT) return Effect.succeed(chunkedDataSet(path, meta, STREAM_CHUNK))
    return Effect.map(FileIo.readTail(path, meta, WHOLE_READ_LIMIT, readFailed(path)), (bytes) =>
      bytes === undefined ? chunkedDataSet(path, meta, STREAM_CHUNK) : bytes
    )
  })

/**
 * A data set `loadDataSet` or `readAhead` gave, as the data set of a message to send (`DimseChannel.DataSource`): a
 * failed read of a streamed file becomes `DataSourceFailed`, and the stream is still one `DimseChannel` sends from
 * its reads, without a stream's pull per chunk (`Stream.mapError` would hide that).
 */
export const asDataSource = (
  loaded: Uint8Array | Stream.Stream<Uint8Array, FileReadFailed>
): Uint8Array | Stream.Stream<Uint8Array, DataSourceFailed> =>
  loaded instanceof Uint8Array
    ? loaded
    : FileIo.mapLentReadsError(loaded, (e) => new DataSourceFailed({ detail: e.message }))

/** Data sets up to this size are read synchronously by `loadDataSet`. */
export const SYNC_READ_LIMIT = 256 << 10

/**
 * Loads the data sets of files meant to be sent in order, one ahead: `take(i)` gives file i's data set
 * (as `loadDataSet`) and starts reading file i + 1, so its read overlaps the sending of file i and the
 * wait for its response. At most two small data sets are held at once; large ones are streams, read
 * when sent. Reads still running when the scope closes are interrupted.
 */
export const readAhead = (
  files: ReadonlyArray<DataSetLocation & { readonly path: string }>
): Effect.Effect<
  (i: number) => Effect.Effect<Uint8Array | Stream.Stream<Uint8Array, FileReadFailed>, FileReadFailed>,
  never,
  Scope.Scope
> =>
  Effect.flatMap(Effect.scope, (scope) => {
    type Loaded = Uint8Array | Stream.Stream<Uint8Array, FileReadFailed>
    // A file known to be small is read synchronously on a later turn of the event loop (while the one before is
    // sent and answered), with no fiber; `outcome` stays undefined when it turned out larger (then loaded as usual).
    interface SmallRead {
      readonly _tag: "Small"
      timer: ReturnType<typeof setImmediate> | undefined
      outcome: Exit.Exit<Loaded, FileReadFailed> | undefined
    }
    type Started = SmallRead | { readonly _tag: "Fiber"; readonly fiber: Fiber.Fiber<Loaded, FileReadFailed> }
    const started = new Map<number, Started>()
    const readSmall = (file: DataSetLocation & { readonly path: string }, read: SmallRead) => {
      read.timer = undefined
      try {
        const bytes = FileIo.readTailSync(file.path, file, SYNC_READ_LIMIT)
        if (bytes !== undefined) read.outcome = Exit.succeed(bytes)
      } catch (cause) {
        read.outcome = Exit.fail(new FileReadFailed({ path: file.path, cause }))
      }
    }
    // Starts reading file i ahead: synchronously (undefined) for a small file (a read on a later turn) or one started
    // already; the effect that forks the load of a large one.
    const start = (i: number): Effect.Effect<void> | undefined => {
      const file = files[i]
      if (file === undefined || started.has(i)) return undefined
      if (file.fileSize !== undefined && file.fileSize - file.dataSetOffset <= SYNC_READ_LIMIT) {
        const read: SmallRead = { _tag: "Small", timer: undefined, outcome: undefined }
        read.timer = setImmediate(() => readSmall(file, read))
        started.set(i, read)
        return undefined
      }
      return Effect.map(Effect.forkIn(loadDataSet(file.path, file), scope), (fiber) => {
        started.set(i, { _tag: "Fiber", fiber })
      })
    }
    // File i's data set, from a started read or read now; called from within a running effect.
    const take = (i: number): Effect.Effect<Loaded, FileReadFailed> => {
      const file = files[i]
      if (file === undefined) return Effect.fail(new FileReadFailed({ path: `#${i}`, cause: "no such file" }))
      const ahead = started.get(i)
      started.delete(i)
      if (ahead?._tag === "Fiber") return Fiber.join(ahead.fiber)
      if (ahead !== undefined) {
        if (ahead.timer !== undefined) {
          clearImmediate(ahead.timer)
          readSmall(file, ahead)
        }
        if (ahead.outcome !== undefined) return ahead.outcome
      }
      return loadDataSet(file.path, file)
    }
    // Reads not yet run when the scope closes are cancelled.
    return Effect.as(
      Scope.addFinalizer(
        scope,
        Effect.sync(() => {
          for (const ahead of started.values()) if (ahead._tag === "Small" && ahead.timer) clearImmediate(ahead.timer)
        })
      ),
      // One step when the files are small (every read synchronous): a C-STORE's path.
      (i: number) =>
        Effect.suspend(() => {
          const first = start(i)
          const next = start(i + 1)
          if (first === undefined && next === undefined) return take(i)
          return Effect.andThen(
            Effect.andThen(first ?? Effect.void, next ?? Effect.void),
            Effect.suspend(() => take(i))
          )
        })
    )
  })

/** Large data sets are read from disk in pieces of this size. */
export const STREAM_CHUNK = 256 << 10

/** Data sets up to this size are read in one piece by `streamDataSet`; larger ones are streamed. */
export const WHOLE_READ_LIMIT = 1 << 20
