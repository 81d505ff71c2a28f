/**
 * The instance file store: Part 10 files under `<root>/<StudyInstanceUID>/<SOPInstanceUID>.dcm`.
 *
 * Bytes pass through untouched (no decoding, no re-encoding), so a stored instance is bit-exact with what the
 * C-STORE SCP received (PS3.4 B.4.1: an SCP of Level 2 storage keeps all attributes). Writes are atomic: the data
 * goes to a temporary file in the target directory, which is fsynced, renamed over the final name, and the
 * directory is fsynced. A crash or a failing source leaves no partial file under the final name; a previous file
 * of the same name stays intact until the rename.
 *
 * File names come from UIDs only when they are well-formed (digits and single dots, at most 64 characters, PS3.5
 * 9.1); anything else is replaced by a hash, so no UID can escape the root directory.
 *
 * @since 0.1.0
 */
import { createHash, randomBytes } from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { Text } from "@netdicom/wire"
import { StoreFailed, type InvalidInstance } from "./ArchiveError.ts"

/** Where an instance goes: the two UIDs that name its directory and file. */
export interface InstanceKey {
  readonly studyInstanceUid: string
  readonly sopInstanceUid: string
}

/** Part 10 bytes in one piece, or chunk by chunk so that a large instance is never held in memory. */
export type InstanceBytes = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>

/** A file the store wrote. */
export interface StoredFile {
  /** Absolute path of the file. */
  readonly path: string
  /** Number of bytes written. */
  readonly size: number
}

/** A file kept aside (see `setAside`). */
export interface Aside {
  /** Renames the kept file back over the path it was kept from. */
  readonly restore: Effect.Effect<void, StoreFailed>
  /** Removes the kept name (the file stays where it is, or is gone when nothing else names it). */
  readonly drop: Effect.Effect<void>
}

/** Options of the store. */
export interface InstanceStoreOptions {
  /** Root directory; created when missing. */
  readonly root: string
}

/** The instance file store service. */
export class InstanceStore extends Context.Service<
  InstanceStore,
  {
    /** Absolute root directory. */
    readonly root: string
    /** The absolute path an instance with this key is stored at. */
    readonly pathFor: (key: InstanceKey) => string
    /**
     * Writes an instance atomically and returns its path and size. `verify` can refuse it: asked after each chunk
     * (`final` false: the copy stops at the first problem) and once every byte is in the temporary file, before it
     * takes the instance's name (`final` true). A refused instance leaves nothing behind (no temporary file, no
     * study folder made for it), and a copy already stored under that name stays as it was.
     */
    readonly write: (
      key: InstanceKey,
      bytes: InstanceBytes,
      verify?: Verify
    ) => Effect.Effect<StoredFile, StoreFailed | InvalidInstance>
    /** Reads a stored file whole (for small files and tests; retrieve streams files itself). */
    readonly read: (path: string) => Effect.Effect<Uint8Array, StoreFailed>
    /** Removes a file; a missing file is not an error. Empty study directories are removed too. */
    readonly remove: (path: string) => Effect.Effect<void, StoreFailed>
    /**
     * Keeps the file at `path` under a hidden name beside it (a hard link, no copy) until the `Aside` is put back
     * over `path` (`restore`, undoing a write that replaced it) or dropped; none when there is no file, or when the
     * file system makes no hard links (then nothing can be put back).
     */
    readonly setAside: (path: string) => Effect.Effect<Option.Option<Aside>>
  }
>()("@netdicom/archive/InstanceStore") {
  /** A store rooted at `options.root`. */
  static readonly layer = (options: InstanceStoreOptions): Layer.Layer<InstanceStore, StoreFailed> =>
    Layer.effect(InstanceStore, make(options))
}

const UID = /^[0-9]+(\.[0-9]+)*$/

/** A file name component for a UID: the UID itself when well-formed, otherwise `x` + a SHA-256 prefix. */
export const safeName = (uid: string): string => {
  const trimmed = Text.trimEnd(uid, "\0 ")
  if (trimmed.length > 0 && trimmed.length <= 64 && UID.test(trimmed)) return trimmed
  return `x${createHash("sha256").update(uid, "utf8").digest("hex").slice(0, 40)}`
}

/**
 * `mkdir -p`, one level at a time: Node's own recursive mkdir spins for ever on some paths (under
 * /proc, say) instead of failing. Succeeds with the first directory it created, if any; fails with
 * `StoreFailed` (operation `mkdir`) when a component is not a directory or cannot be made.
 */
export const makeDirectories = (dir: string): Effect.Effect<string | undefined, StoreFailed> =>
  io("mkdir", dir, () => mkdirs(dir))

const mkdirs = async (dir: string): Promise<string | undefined> => {
  const absolute = Path.resolve(dir)
  const missing: Array<string> = []
  for (let d = absolute; ; d = Path.dirname(d)) {
    const stat = await Fs.stat(d).catch(() => undefined)
    if (stat !== undefined) {
      if (!stat.isDirectory()) throw new Error(`${d} is not a directory`)
      break
    }
    missing.unshift(d)
    if (Path.dirname(d) === d) break
  }
  for (const d of missing) {
    await Fs.mkdir(d).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "EEXIST") throw e
    })
  }
  return missing[0]
}

/** Builds the store (creates the root directory). */
export const make = (options: InstanceStoreOptions): Effect.Effect<InstanceStore["Service"], StoreFailed> =>
  Effect.gen(function* () {
    const root = Path.resolve(options.root)
    yield* makeDirectories(root)
    const pathFor = (key: InstanceKey): string =>
      Path.join(root, safeName(key.studyInstanceUid), `${safeName(key.sopInstanceUid)}.dcm`)
    return InstanceStore.of({
      root,
      pathFor,
      write: (key, bytes, verify) => writeAtomically(root, pathFor(key), bytes, verify),
      read: (path) => io("read", path, () => Fs.readFile(path)).pipe(Effect.map((b) => new Uint8Array(b))),
      remove: (path) => removeFile(root, path),
      setAside
    })
  })

const io = <A>(operation: string, path: string, f: () => Promise<A>): Effect.Effect<A, StoreFailed> =>
  Effect.tryPromise({ try: f, catch: (cause) => new StoreFailed({ operation, path, cause }) })

/** fsync a directory so that a rename or a new entry in it is durable; ignored where directories cannot be opened. */
const syncDirectory = (dir: string): Effect.Effect<void, StoreFailed> =>
  io("fsync", dir, async () => {
    let handle: Fs.FileHandle | undefined
    try {
      handle = await Fs.open(dir, "r")
      await handle.sync()
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code
      if (code !== "EISDIR" && code !== "EPERM" && code !== "EINVAL") throw cause
    } finally {
      await handle?.close()
    }
  })

const writeAll = async (handle: Fs.FileHandle, chunk: Uint8Array): Promise<number> => {
  let offset = 0
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset)
    offset += bytesWritten
  }
  return chunk.length
}

const isAsyncIterable = (bytes: InstanceBytes): bytes is AsyncIterable<Uint8Array> =>
  typeof (bytes as Partial<AsyncIterable<Uint8Array>>)[Symbol.asyncIterator] === "function"

/** Whether the bytes written so far (`final`: all of them) make an instance worth keeping. */
export type Verify = (final: boolean) => InvalidInstance | undefined

/** Copies the source into an open file, one chunk per step so that interruption is seen between chunks. */
const copyInto = (
  handle: Fs.FileHandle,
  tmp: string,
  bytes: InstanceBytes,
  verify: Verify | undefined
): Effect.Effect<number, StoreFailed | InvalidInstance> => {
  if (bytes instanceof Uint8Array) return io("write", tmp, () => writeAll(handle, bytes))
  const iterator: AsyncIterator<Uint8Array> | Iterator<Uint8Array> = isAsyncIterable(bytes)
    ? bytes[Symbol.asyncIterator]()
    : bytes[Symbol.iterator]()
  const loop = Effect.gen(function* () {
    let size = 0
    while (true) {
      const next = yield* io("read source", tmp, async () => iterator.next())
      if (next.done === true) return size
      size += yield* io("write", tmp, () => writeAll(handle, next.value))
      const refused = verify?.(false)
      if (refused !== undefined) return yield* Effect.fail(refused)
    }
  })
  // on failure or interruption, let the source release what it holds (a generator's finally, a socket)
  return Effect.onExit(loop, (exit) =>
    Exit.isSuccess(exit) || iterator.return === undefined
      ? Effect.void
      : Effect.promise(async () => {
          try {
            await iterator.return?.()
          } catch {
            // the source's own cleanup failed; the write has failed already
          }
        })
  )
}

const writeAtomically = (
  root: string,
  target: string,
  bytes: InstanceBytes,
  verify?: Verify
): Effect.Effect<StoredFile, StoreFailed | InvalidInstance> =>
  Effect.gen(function* () {
    const dir = Path.dirname(target)
    const created = yield* makeDirectories(dir)
    if (created !== undefined) yield* syncDirectory(root)
    const tmp = Path.join(dir, `.${Path.basename(target)}.${randomBytes(6).toString("hex")}.tmp`)
    const size = yield* Effect.acquireUseRelease(
      io("open", tmp, () => Fs.open(tmp, "wx", 0o644)),
      (handle) =>
        Effect.gen(function* () {
          const written = yield* copyInto(handle, tmp, bytes, verify)
          const refused = verify?.(true)
          if (refused !== undefined) return yield* Effect.fail(refused)
          yield* io("fsync", tmp, () => handle.sync())
          return written
        }),
      (handle, exit) =>
        Effect.promise(async () => {
          await handle.close().catch(() => undefined)
          if (Exit.isFailure(exit)) {
            await Fs.unlink(tmp).catch(() => undefined)
            // The study folder made for this instance goes too, when nothing else is in it.
            if (created !== undefined) await Fs.rmdir(dir).catch(() => undefined)
          }
        })
    )
    yield* io("rename", tmp, () => Fs.rename(tmp, target)).pipe(
      Effect.tapError(() => Effect.promise(() => Fs.unlink(tmp).catch(() => undefined)))
    )
    yield* syncDirectory(dir)
    return { path: target, size }
  })

const setAside = (path: string): Effect.Effect<Option.Option<Aside>> => {
  // hidden (rebuild skips names starting with a dot) and not a .dcm name
  const kept = Path.join(Path.dirname(path), `.${Path.basename(path)}.${randomBytes(6).toString("hex")}.aside`)
  // no file; or a file system without hard links (FAT, some network ones): the re-store goes on without it
  return Effect.promise(() =>
    Fs.link(path, kept).then(
      () => true,
      () => false
    )
  ).pipe(
    Effect.map((linked) =>
      linked
        ? Option.some({
            restore: io("rename", kept, () => Fs.rename(kept, path)),
            drop: Effect.promise(() => Fs.unlink(kept).catch(() => undefined))
          })
        : Option.none()
    )
  )
}

const removeFile = (root: string, path: string): Effect.Effect<void, StoreFailed> =>
  Effect.gen(function* () {
    yield* io("unlink", path, async () => {
      try {
        await Fs.unlink(path)
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code !== "ENOENT") throw cause
      }
    })
    const dir = Path.dirname(path)
    if (Path.dirname(dir) !== root) return
    // remove the study directory when this was its last file; ENOTEMPTY and friends are fine
    yield* Effect.promise(() => Fs.rmdir(dir).catch(() => undefined))
  })
