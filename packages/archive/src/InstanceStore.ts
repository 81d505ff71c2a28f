/**
 * The instance file store: Part 10 files under `<root>/<StudyInstanceUID>/<SOPInstanceUID>.dcm`.
 *
 * Bytes pass through untouched (no decoding, no re-encoding), so a stored instance is bit-exact with what the
 * C-STORE SCP received (PS3.4 B.4.1: an SCP of Level 2 storage keeps all attributes). Writes are atomic: the data
 * goes to a temporary file in the target directory, which is fsynced, renamed over the final name, and the
 * directory is fsynced (both fsyncs left out with `sync: false`). A crash or a failing source leaves no partial
 * file under the final name; a previous file of the same name stays intact until the rename.
 *
 * File names come from UIDs only when they are well-formed (digits and single dots, at most 64 characters, PS3.5
 * 9.1); anything else is replaced by a hash, so no UID can escape the root directory. Nor can a symbolic link below
 * the root (a study folder replaced by one): the store `lstat`s the folders it writes into and removes from, opens
 * with `O_NOFOLLOW`, and refuses a link (`LinkInStore`, logged) rather than follow it; its walk (`scan`) lists links
 * apart and never goes through them. The root itself may be a link.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import * as FsSync from "node:fs"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { Part10 } from "@netdicom/net"
import { Text } from "@netdicom/wire"
import { LinkInStore, StoreFailed, type InvalidInstance } from "./ArchiveError.ts"
import * as TempFiles from "./TempFiles.ts"

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
  /** Its modification time once written (`stat`'s `mtimeMs`), what `scan` finds while nobody touches it. */
  readonly modifiedMs: number
}

/** An instance file as a walk of the store found it. */
export interface FileState {
  readonly path: string
  readonly size: number
  readonly modifiedMs: number
}

/** What one walk of the store found (`scan`). */
export interface StoreScan {
  /** The instance files: `.dcm` names, not hidden (a name starting with a dot), at any depth. */
  readonly files: ReadonlyArray<FileState>
  /** Hidden temporary and set-aside files (`TempFiles` names, the current ones and the earlier ones). */
  readonly temporary: ReadonlyArray<string>
  /** Folders that could not be listed and files that could not be looked at: nothing is known of what they hold. */
  readonly unreadable: ReadonlyArray<StoreFailed>
  /** Symbolic links below the root (to folders or files): not followed, so nothing is known of what they name. */
  readonly links: ReadonlyArray<string>
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
  /**
   * Whether a write is synced to disk before it is reported done: the file, then its folder once it has its name
   * (default true). false leaves both to the operating system, as DCMTK's storescp does: a power cut or a crash of
   * the system can then lose or cut short instances already reported stored; a crash of the process cannot (a file
   * still takes its name only whole, by rename).
   */
  readonly sync?: boolean
}

/** Syncs an open descriptor to disk. */
export type Sync = (fd: number) => Promise<void>

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
    ) => Effect.Effect<StoredFile, StoreFailed | LinkInStore | InvalidInstance>
    /** Reads a stored file whole (for small files and tests; retrieve streams files itself). */
    readonly read: (path: string) => Effect.Effect<Uint8Array, StoreFailed>
    /**
     * Removes a file; a missing file is not an error. Empty study directories are removed too. A file below the root
     * reached through a symbolic link (its study folder is one) is refused (`LinkInStore`), not removed.
     */
    readonly remove: (path: string) => Effect.Effect<void, StoreFailed | LinkInStore>
    /**
     * Keeps the file at `path` under a hidden name beside it (a hard link, no copy) until the `Aside` is put back
     * over `path` (`restore`, undoing a write that replaced it) or dropped; none when there is no file, or when the
     * file system makes no hard links (then nothing can be put back), or when its folder is a symbolic link.
     */
    readonly setAside: (path: string) => Effect.Effect<Option.Option<Aside>>
    /**
     * Walks the store once: every instance file with its size and modification time (one `lstat` each, no read),
     * and the hidden temporary files. A folder or file that cannot be read is reported, never a failure; a symbolic
     * link is reported and not followed.
     */
    readonly scan: Effect.Effect<StoreScan>
    /**
     * Removes the temporary and set-aside files a process killed mid-write left (`TempFiles.isLeftover`: modified
     * before `startedAt`, default this process's start, and their owner gone), and the study folders that leaves
     * empty. Give it the `temporary` of a `scan` already made, or it walks the store itself.
     */
    readonly removeLeftovers: (options?: {
      readonly startedAt?: number
      readonly scan?: StoreScan
    }) => Effect.Effect<TempFiles.SweepReport>
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
    // synchronous: one inode lookup, where the promise API's trip through the thread pool costs several times the CPU
    let stat: FsSync.Stats | undefined
    try {
      stat = FsSync.statSync(d, { throwIfNoEntry: false })
    } catch (e) {
      // a component above that is a file (ENOTDIR): looked for further up, where it is said not to be a folder; a
      // link loop (ELOOP) or a folder we may not look into is no missing folder to make
      if ((e as NodeJS.ErrnoException).code !== "ENOTDIR") throw e
      stat = undefined
    }
    if (stat !== undefined) {
      // with the code the system would give, for a message without the path (`ScpServices`' Error Comment)
      if (!stat.isDirectory()) throw Object.assign(new Error(`${d} is not a directory`), { code: "ENOTDIR" })
      break
    }
    missing.unshift(d)
    if (Path.dirname(d) === d) break
  }
  for (const d of missing) {
    await Fs.mkdir(d).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "EEXIST") throw e
      // made meanwhile by another store, or a name that is no folder (a link to nowhere, which `stat` saw missing)
      if (!FsSync.statSync(d, { throwIfNoEntry: false })?.isDirectory()) {
        throw Object.assign(new Error(`${d} is not a directory`), { code: "ENOTDIR" })
      }
    })
  }
  return missing[0]
}

/**
 * The first symbolic link on the way from `root` (not included: the operator may make the root a link) down to `path`
 * (included): none when there is none, when `path` is not below `root`, or past a component that does not exist or
 * cannot be looked at (what is done next there fails on its own). One synchronous `lstat` per component (see
 * `mkdirs`); the store's paths have two.
 */
export const linkBelow = (root: string, path: string): string | undefined => {
  const relative = Path.relative(root, path)
  if (relative === "" || relative === ".." || relative.startsWith(`..${Path.sep}`) || Path.isAbsolute(relative)) {
    return undefined
  }
  let at = root
  for (const part of relative.split(Path.sep)) {
    at = Path.join(at, part)
    let stat: FsSync.Stats | undefined
    try {
      stat = FsSync.lstatSync(at, { throwIfNoEntry: false })
    } catch {
      return undefined
    }
    if (stat === undefined) return undefined
    if (stat.isSymbolicLink()) return at
  }
  return undefined
}

/** Refuses a symbolic link met below the root, with a warning naming where it points. */
const refuseLink = (operation: string, link: string): Effect.Effect<never, LinkInStore> => {
  let target: string
  try {
    target = FsSync.readlinkSync(link)
  } catch {
    target = "?"
  }
  return Effect.logWarning(`${operation} refused: ${link} is a symbolic link (to ${target}) below the store root`).pipe(
    Effect.andThen(Effect.fail(new LinkInStore({ operation, path: link })))
  )
}

/** Builds the store (creates the root directory). */
export const make = (options: InstanceStoreOptions): Effect.Effect<InstanceStore["Service"], StoreFailed> =>
  Effect.gen(function* () {
    const root = Path.resolve(options.root)
    const sync = options.sync === false ? undefined : yield* FileSync
    yield* makeDirectories(root)
    const pathFor = (key: InstanceKey): string =>
      Path.join(root, safeName(key.studyInstanceUid), `${safeName(key.sopInstanceUid)}.dcm`)
    return InstanceStore.of({
      root,
      pathFor,
      write: (key, bytes, verify) => writeAtomically(root, pathFor(key), bytes, sync, verify),
      read: (path) => io("read", path, () => Fs.readFile(path)).pipe(Effect.map((b) => new Uint8Array(b))),
      remove: (path) => removeFile(root, path),
      setAside: (path) => setAside(root, path),
      scan: scan(root),
      removeLeftovers: (o) =>
        Effect.gen(function* () {
          const found = o?.scan ?? (yield* scan(root))
          const report = yield* TempFiles.removeLeftovers(
            found.temporary,
            o?.startedAt ?? TempFiles.processStart(),
            TempFiles.LEGACY_STORE
          )
          // the study folders a removed file leaves empty (a folder made for an instance whose write was cut short)
          for (const dir of new Set(report.removed.map((p) => Path.dirname(p)))) {
            if (Path.dirname(dir) === root) yield* Effect.promise(() => Fs.rmdir(dir).catch(() => undefined))
          }
          return report
        })
    })
  })

const io = <A>(operation: string, path: string, f: () => Promise<A>): Effect.Effect<A, StoreFailed> =>
  Effect.tryPromise({ try: f, catch: (cause) => new StoreFailed({ operation, path, cause }) })

/**
 * A metadata call (open, fstat, close, rename) made synchronously: microseconds on a local file system, where a
 * round trip through the thread pool costs several times the CPU. So is the write of an instance that arrived whole
 * and is no larger than `Part10.SYNC_WRITE_LIMIT` (a copy into the page cache, as `Part10.writeFile` does). What
 * waits on the disk (fsync, a larger or streamed write) stays asynchronous.
 */
const ioSync = <A>(operation: string, path: string, f: () => A): Effect.Effect<A, StoreFailed> =>
  Effect.try({ try: f, catch: (cause) => new StoreFailed({ operation, path, cause }) })

/** fsync of an open descriptor, through the thread pool (it waits on the disk). */
const fsyncFd: Sync = (fd) =>
  new Promise((resolve, reject) => FsSync.fsync(fd, (e) => (e === null ? resolve() : reject(e))))

/**
 * How a store made in its scope syncs files and folders (`make` reads it): fsync, unless a test puts one that
 * watches or fails in its place.
 */
export const FileSync = Context.Reference<Sync>("@netdicom/archive/InstanceStore/FileSync", {
  defaultValue: () => fsyncFd
})

/**
 * A file being written, by descriptor. A write or fsync the fiber stopped waiting for (it was interrupted) may
 * still be running in the thread pool: `close` waits for it, so that the descriptor is never closed, and its number
 * reused by another open, under it.
 */
interface OpenFile {
  readonly fd: number
  pending: Promise<unknown> | undefined
}

const track = <A>(file: OpenFile, promise: Promise<A>): Promise<A> => {
  file.pending = promise
  return promise
}

const writeFd = (file: OpenFile, chunk: Uint8Array, offset: number): Promise<number> =>
  track(
    file,
    new Promise((resolve, reject) =>
      FsSync.write(file.fd, chunk, offset, chunk.length - offset, null, (e, written) =>
        e === null ? resolve(written) : reject(e)
      )
    )
  )

const closeFile = async (file: OpenFile): Promise<void> => {
  await file.pending?.catch(() => undefined)
  try {
    FsSync.closeSync(file.fd)
  } catch {
    // closing failed: the descriptor is gone either way
  }
}

// Syncs a folder; skipped where folders cannot be opened or synced (EISDIR, EPERM, EINVAL: some file systems and
// platforms). Rejects with what else the open or sync threw.
const syncFolderNow = async (dir: string, sync: Sync): Promise<void> => {
  let fd: number | undefined
  try {
    fd = FsSync.openSync(dir, "r")
    await sync(fd)
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code
    if (code !== "EISDIR" && code !== "EPERM" && code !== "EINVAL") throw cause
  } finally {
    if (fd !== undefined) FsSync.closeSync(fd)
  }
}

/**
 * Syncs a folder with `sync` so that a rename or a new entry in it is durable; skipped where folders cannot be opened
 * or synced (EISDIR, EPERM, EINVAL: some file systems and platforms); anything else fails with `StoreFailed`.
 */
export const syncFolder = (dir: string, sync: Sync): Effect.Effect<void, StoreFailed> =>
  io("fsync", dir, () => syncFolderNow(dir, sync))

/** The whole of a small buffer, written synchronously (see `ioSync`). */
const writeAllSync = (file: OpenFile, chunk: Uint8Array): number => {
  let offset = 0
  while (offset < chunk.length) offset += FsSync.writeSync(file.fd, chunk, offset, chunk.length - offset)
  return chunk.length
}

const writeAll = async (file: OpenFile, chunk: Uint8Array): Promise<number> => {
  let offset = 0
  while (offset < chunk.length) offset += await writeFd(file, chunk, offset)
  return chunk.length
}

const isAsyncIterable = (bytes: InstanceBytes): bytes is AsyncIterable<Uint8Array> =>
  typeof (bytes as Partial<AsyncIterable<Uint8Array>>)[Symbol.asyncIterator] === "function"

/** Whether the bytes written so far (`final`: all of them) make an instance worth keeping. */
export type Verify = (final: boolean) => InvalidInstance | undefined

/** Copies the source into an open file, one chunk per step so that interruption is seen between chunks. */
const copyInto = (
  file: OpenFile,
  tmp: string,
  bytes: InstanceBytes,
  verify: Verify | undefined
): Effect.Effect<number, StoreFailed | InvalidInstance> => {
  if (bytes instanceof Uint8Array) {
    return bytes.length <= Part10.SYNC_WRITE_LIMIT
      ? ioSync("write", tmp, () => writeAllSync(file, bytes))
      : io("write", tmp, () => writeAll(file, bytes))
  }
  const iterator: AsyncIterator<Uint8Array> | Iterator<Uint8Array> = isAsyncIterable(bytes)
    ? bytes[Symbol.asyncIterator]()
    : bytes[Symbol.iterator]()
  const loop = Effect.gen(function* () {
    let size = 0
    while (true) {
      const next = yield* io("read source", tmp, async () => iterator.next())
      if (next.done === true) return size
      size += yield* io("write", tmp, () => writeAll(file, next.value))
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

/** A new file: fails if the name exists (a link included) and, with `O_NOFOLLOW`, never opens through one. */
const CREATE_FLAGS =
  FsSync.constants.O_WRONLY | FsSync.constants.O_CREAT | FsSync.constants.O_EXCL | FsSync.constants.O_NOFOLLOW

/**
 * The folder a file is written into is not a link (`lstat`). Another real folder in its place (emptied and made
 * again by other stores) is no danger: the file is in it, or the rename by path fails.
 */
const notLinked = (dir: string): Effect.Effect<void, StoreFailed | LinkInStore> =>
  Effect.flatMap(
    ioSync("lstat", dir, () => FsSync.lstatSync(dir)),
    (now) => (now.isSymbolicLink() ? refuseLink("write", dir) : Effect.void)
  )

const writeAtomically = (
  root: string,
  target: string,
  bytes: InstanceBytes,
  sync: Sync | undefined,
  verify?: Verify
): Effect.Effect<StoredFile, StoreFailed | LinkInStore | InvalidInstance> =>
  Effect.gen(function* () {
    const dir = Path.dirname(target)
    // a study folder replaced by a link: `mkdir -p` and the open would go through it
    const link = linkBelow(root, dir)
    if (link !== undefined) return yield* refuseLink("write", link)
    const created = yield* makeDirectories(dir)
    if (created !== undefined && sync !== undefined) yield* syncFolder(root, sync)
    // the folder itself, checked again before the rename: swapped for a link meanwhile, the file is not renamed
    // into place through it (Node has no openat/renameat, so the check is by path, just before each use)
    yield* notLinked(dir)
    const tmp = Path.join(dir, TempFiles.temporaryName(Path.basename(target)))
    const file = yield* Effect.acquireUseRelease(
      ioSync("open", tmp, (): OpenFile => ({ fd: FsSync.openSync(tmp, CREATE_FLAGS, 0o644), pending: undefined })),
      (file) =>
        Effect.gen(function* () {
          const written = yield* copyInto(file, tmp, bytes, verify)
          const refused = verify?.(true)
          if (refused !== undefined) return yield* Effect.fail(refused)
          if (sync !== undefined) yield* io("fsync", tmp, () => track(file, sync(file.fd)))
          // the modification time the index records: a rename keeps it
          const stat = yield* ioSync("fstat", tmp, () => FsSync.fstatSync(file.fd))
          yield* notLinked(dir)
          return { size: written, modifiedMs: stat.mtimeMs }
        }),
      (file, exit) =>
        Effect.promise(async () => {
          await closeFile(file)
          if (Exit.isFailure(exit)) {
            await Fs.unlink(tmp).catch(() => undefined)
            // The study folder made for this instance goes too, when nothing else is in it.
            if (created !== undefined) await Fs.rmdir(dir).catch(() => undefined)
          }
        })
    )
    yield* ioSync("rename", tmp, () => FsSync.renameSync(tmp, target)).pipe(
      Effect.tapError(() => Effect.promise(() => Fs.unlink(tmp).catch(() => undefined)))
    )
    if (sync !== undefined) yield* syncFolder(dir, sync)
    return { path: target, ...file }
  })

const setAside = (root: string, path: string): Effect.Effect<Option.Option<Aside>> => {
  // a folder that is a link: the write that follows is refused, nothing to keep
  if (linkBelow(root, Path.dirname(path)) !== undefined) return Effect.succeed(Option.none())
  // hidden (rebuild skips names starting with a dot) and not a .dcm name
  const kept = Path.join(Path.dirname(path), TempFiles.temporaryName(Path.basename(path), "aside"))
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

const removeFile = (root: string, path: string): Effect.Effect<void, StoreFailed | LinkInStore> =>
  Effect.gen(function* () {
    // the folders on the way (a file that is itself a link is unlinked as a link: nothing outside is touched)
    const link = linkBelow(root, Path.dirname(path))
    if (link !== undefined) return yield* refuseLink("unlink", link)
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

/**
 * How many files a scan looks at between two turns of the event loop: `lstat` is run synchronously (a few
 * microseconds per file from the inode cache, where the promise API's round trip through the thread pool costs
 * about six times the CPU), in slices so that a scan of a large store never holds the loop for long.
 */
const STAT_SLICE = 512

const statSlice = (
  paths: ReadonlyArray<string>,
  files: Array<FileState>,
  unreadable: Array<StoreFailed>,
  links: Array<string>
): void => {
  for (const path of paths) {
    try {
      // gone since the listing: as if it had not been listed; swapped for a link or a FIFO since: not a file
      const stat = FsSync.lstatSync(path, { throwIfNoEntry: false })
      if (stat === undefined) continue
      if (stat.isFile()) files.push({ path, size: stat.size, modifiedMs: stat.mtimeMs })
      else if (stat.isSymbolicLink()) links.push(path)
    } catch (cause) {
      unreadable.push(new StoreFailed({ operation: "stat", path, cause }))
    }
  }
}

const scan = (root: string): Effect.Effect<StoreScan> =>
  Effect.gen(function* () {
    const candidates: Array<string> = []
    const temporary: Array<string> = []
    const unreadable: Array<StoreFailed> = []
    const links: Array<string> = []
    const folders = [root]
    for (let dir = folders.pop(); dir !== undefined; dir = folders.pop()) {
      const listed = yield* Effect.result(io("readdir", dir, () => Fs.readdir(dir!, { withFileTypes: true })))
      if (listed._tag === "Failure") {
        unreadable.push(listed.failure)
        continue
      }
      const prefix = dir + Path.sep
      for (const e of listed.success) {
        const path = prefix + e.name
        if (e.isDirectory()) folders.push(path)
        else if (e.isSymbolicLink()) links.push(path)
        else if (!e.isFile()) continue
        else if (!e.name.startsWith(".")) {
          if (e.name.endsWith(".dcm")) candidates.push(path)
        } else if (TempFiles.isTemporary(e.name, TempFiles.LEGACY_STORE)) temporary.push(path)
      }
    }
    const files: Array<FileState> = []
    for (let at = 0; at < candidates.length; at += STAT_SLICE) {
      if (at > 0) yield* Effect.yieldNow
      statSlice(candidates.slice(at, at + STAT_SLICE), files, unreadable, links)
    }
    return { files, temporary, unreadable, links }
  })
