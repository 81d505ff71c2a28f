/**
 * `netdicom get`'s C-STORE handler: each instance a C-GET brings goes to a temporary file (its File Meta
 * Information, then the data set), renamed to `<dir>/<SOP Instance UID>.dcm`, then answered.
 *
 * When the files reach the disk (`SyncMode`): with `"end"` (the default) a C-STORE is answered once its file is
 * written to the kernel and renamed into place, and `syncWritten` syncs every file written, then the folder, at the
 * end of the command, before it reports success; with `"each"` a file is synced before its rename and its answer,
 * and only the folder is left for the end. A C-GET brings copies (PS3.4 C.4.3: the SCP keeps its instances, whatever
 * our C-STORE response says), so a file that a power cut loses before the end sync loses nothing the peer does not
 * still hold: what the command promises is that every file its summary names is on disk.
 *
 * A data set that arrived whole before the handler ran (a small one, `dataSetReceived`) is written with the meta in
 * one vectored write, the open, close and rename made synchronously (microseconds on a local file system, where a
 * thread-pool round trip each costs more); only an fsync, which waits on the disk, goes through the thread pool.
 * Its socket reads are given back once it is written (`ReceivedBytes.releaseWhole`), not left to the collector.
 * A larger one is read lent (`dataSetLent`) and written as it arrives by `Part10.writeFile`, in vectored writes of
 * 1 MiB through the thread pool (one per socket read of 64 KiB cost ~30% more CPU and wall for 2-25 MB instances):
 * each fragment is given back (`ReceivedBytes.release`) once written, so the socket reads it came from are freed as
 * it goes, never before their write has completed.
 *
 * @since 0.2.0
 */
import * as FsSync from "node:fs"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { ApplicationEntity, Part10, ReceivedBytes } from "@netdicom/net"
import type { StoreHandler } from "@netdicom/net"
import { InstanceStore, StructureCheck, TempFiles } from "@netdicom/archive"
import { Status, Text } from "@netdicom/wire"

// A data set given whole up to this size is written in one synchronous call (the event loop held for its copy into
// the page cache: tens of microseconds).
const WHOLE_WRITE_LIMIT = 1 << 20
// Buffers per writev call (IOV_MAX is 1024 on Linux).
const IOV_MAX = 1024
// Files synced at once at the end: enough to keep libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE says
// otherwise) busy and let the file system group the syncs into few journal commits, without opening a descriptor
// per file of a large retrieve.
const SYNC_CONCURRENCY = 32

/** When the files reach the disk: `"each"` before each C-STORE is answered, `"end"` all of them at the end. */
export type SyncMode = "each" | "end"

/** The sync modes, as `--sync` takes them. */
export const SYNC_MODES: ReadonlyArray<SyncMode> = ["end", "each"]

/** Syncs an open descriptor to disk. */
export type Sync = (fd: number) => Promise<void>

/** fsync through the thread pool (it waits on the disk). */
const fsync: Sync = (fd) =>
  new Promise((resolve, reject) => FsSync.fsync(fd, (e) => (e === null ? resolve() : reject(e))))

/** How files and their folder are synced: fsync, unless a test puts one that watches or fails in its place. */
export const FileSync = Context.Reference<Sync>("@netdicom/cli/FileWriter/FileSync", { defaultValue: () => fsync })

/** Some files written, or their folder, could not be synced to disk: they may be lost to a power cut. */
export class SyncFailed extends Data.TaggedError("SyncFailed")<{
  readonly dir: string
  /** Files that could not be synced, of `total` synced at that point. */
  readonly failed: number
  readonly total: number
  /** Whether the folder (the renames into it) could not be synced. */
  readonly folder: boolean
  /** The first error met. */
  readonly reason: string
}> {
  override get message(): string {
    const files = `${this.failed} of ${this.total} file${this.total === 1 ? "" : "s"} written to ${this.dir}`
    const what =
      this.failed > 0 ? `${files}${this.folder ? " and the folder" : ""}` : `the folder ${this.dir} (its renames)`
    return `cannot sync ${what} to disk: ${this.reason}`
  }
}

/** What `make` gives: the C-STORE handler, and what it has written. */
export interface FileWriter {
  /** The handler for `Scu.connect`'s `onStore`: each instance to `<dir>/<SOPInstanceUID>.dcm`. */
  readonly onStore: StoreHandler.StorageHandler
  /** The files written (renamed into place) so far: an instance sent again replaces its file, counted once. */
  readonly written: () => number
  /** The C-STOREs answered Success so far: an instance sent again counts each time. */
  readonly stored: () => number
  /**
   * Syncs to disk what was written since the last call and is not synced yet (every file with `"end"`, none with
   * `"each"`), `SYNC_CONCURRENCY` at a time, then the folder once (the renames into it). Uninterruptible: a
   * command stopped by Ctrl-C or a failure still has its files on disk when it exits. Fails, once every sync has
   * been tried, naming how many could not be synced.
   */
  readonly syncWritten: Effect.Effect<void, SyncFailed>
}

/** Writes every byte of `pieces`, in order, with as few `writev` calls as the kernel takes. */
const writevAllSync = (fd: number, pieces: ReadonlyArray<Uint8Array>): void => {
  let rest = pieces.filter((p) => p.length > 0)
  while (rest.length > 0) {
    let written = FsSync.writevSync(fd, rest.slice(0, IOV_MAX))
    let done = 0
    while (done < rest.length && written >= rest[done]!.length) written -= rest[done++]!.length
    rest = rest.slice(done)
    if (written > 0) rest[0] = rest[0]!.subarray(written)
  }
}

/** `pieces` into a new file `tmp`, synced first with `sync`, then renamed to `target`. */
const writeWhole = async (
  tmp: string,
  target: string,
  pieces: ReadonlyArray<Uint8Array>,
  sync: Sync | undefined
): Promise<void> => {
  const fd = FsSync.openSync(tmp, "wx")
  try {
    writevAllSync(fd, pieces)
    if (sync !== undefined) await sync(fd)
  } finally {
    FsSync.closeSync(fd)
  }
  FsSync.renameSync(tmp, target)
}

/** The file's data sent from an open of its own (Windows flushes only a descriptor open for writing). */
const syncPath = async (path: string, sync: Sync): Promise<void> => {
  const fd = FsSync.openSync(path, process.platform === "win32" ? "r+" : "r")
  try {
    await sync(fd)
  } finally {
    FsSync.closeSync(fd)
  }
}

const sizeOf = (pieces: ReadonlyArray<Uint8Array>): number => {
  let size = 0
  for (const p of pieces) size += p.length
  return size
}

const reasonOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/** A data set found broken in its structure by its walk: the C-STORE is refused, its file not kept. */
class Malformed extends Data.TaggedError("Malformed")<{ readonly detail: string }> {
  override get message(): string {
    return `truncated or malformed data set: ${this.detail}`
  }
}

// What is wrong with a data set given whole, walked before it is written (synchronously but for a deflated one).
const problemOfWhole = async (transferSyntax: string, pieces: ReadonlyArray<Uint8Array>) => {
  const check = StructureCheck.checkOf(transferSyntax)
  for (const piece of pieces) {
    const pushed = check.push(piece)
    if (pushed !== undefined) await pushed
  }
  const ended = check.end()
  if (ended !== undefined) await ended
  return check.problem(true)
}

/** A writer of each instance a C-GET brings as `<dir>/<SOPInstanceUID>.dcm`, synced as `mode` says. */
export const make = (dir: string, mode: SyncMode): Effect.Effect<FileWriter> =>
  Effect.gen(function* () {
    const sync = yield* FileSync
    const syncEach = mode === "each" ? sync : undefined
    // the files put in place (a SOP Instance UID sent again replaces its file: one file, counted once)
    const written = new Set<string>()
    let stored = 0
    // renamed into place and not synced yet (with "end"); whether a rename into the folder was not synced yet
    let unsynced = new Set<string>()
    let folderDirty = false
    // what the rename that put a file in place records, in the same promise so that no interruption comes between;
    // whether it replaced a file this writer had put there
    const placed = (target: string): boolean => {
      if (syncEach === undefined) unsynced.add(target)
      folderDirty = true
      if (written.has(target)) return true
      written.add(target)
      return false
    }

    const onStore: StoreHandler.StorageHandler = (request) =>
      Effect.gen(function* () {
        const uid = Text.trimEnd(request.sopInstanceUid, "\0 ")
        const target = Path.join(dir, `${InstanceStore.safeName(uid)}.dcm`)
        const tmp = Path.join(dir, TempFiles.temporaryName(`${InstanceStore.safeName(uid)}.dcm`))
        const meta = {
          transferSyntaxUid: Text.trimEnd(request.transferSyntax, "\0 "),
          sopClassUid: Text.trimEnd(request.sopClassUid, "\0 "),
          sopInstanceUid: uid,
          implementationClassUid: ApplicationEntity.IMPLEMENTATION_CLASS_UID,
          implementationVersionName: ApplicationEntity.IMPLEMENTATION_VERSION_NAME,
          ...(request.callingAeTitle.trim() !== "" ? { sourceAeTitle: request.callingAeTitle.trim() } : {})
        }
        const received = request.dataSetReceived
        const whole = received !== undefined && sizeOf(received) <= WHOLE_WRITE_LIMIT
        const outcome = yield* (
          whole
            ? Effect.tryPromise(async () => {
                const problem = await problemOfWhole(meta.transferSyntaxUid, received)
                if (problem !== undefined) throw new Malformed({ detail: problem })
                await writeWhole(tmp, target, [Part10.writeMeta(meta), ...received], syncEach)
                return placed(target)
              }).pipe(
                // written (or failed): no view of the data set is kept, its socket reads go back now
                Effect.ensuring(Effect.sync(() => ReceivedBytes.releaseWhole(received)))
              )
            : // gathered into vectored writes of 1 MiB through the thread pool, each fragment released once written
              Effect.suspend(() => {
                // walked as it is written: each fragment walked before the writer has it (and releases it)
                const check = StructureCheck.checkOf(meta.transferSyntaxUid)
                const walkedLent = Stream.mapEffect(request.dataSetLent, (chunk) => {
                  const pushed = check.push(chunk)
                  return pushed === undefined
                    ? Effect.succeed(chunk)
                    : Effect.as(
                        Effect.promise(() => pushed),
                        chunk
                      )
                })
                return Part10.writeFile(tmp, meta, walkedLent).pipe(
                  Effect.andThen(
                    Effect.tryPromise(async () => {
                      const ended = check.end()
                      if (ended !== undefined) await ended
                      const problem = check.problem(true)
                      if (problem !== undefined) throw new Malformed({ detail: problem })
                    })
                  )
                )
              }).pipe(
                Effect.andThen(
                  Effect.tryPromise(async () => {
                    if (syncEach !== undefined) await syncPath(tmp, syncEach)
                    await Fs.rename(tmp, target)
                    return placed(target)
                  })
                )
              )
        ).pipe(Effect.result)
        if (Result.isSuccess(outcome)) {
          stored++
          if (outcome.success) yield* Effect.logWarning(`${uid} received again: ${target} replaced`)
          yield* Effect.logDebug(`received ${target}`)
          return { status: Status.SUCCESS }
        }
        // the rest of a streamed data set, read the same way: nothing keeps these fragments (a whole one's were given
        // back already, and its stream yields the same fragments)
        if (!whole) {
          yield* Stream.runForEach(request.dataSetLent, (chunk) =>
            Effect.sync(() => ReceivedBytes.release(chunk))
          ).pipe(Effect.ignore)
        }
        yield* Effect.promise(() => Fs.unlink(tmp).catch(() => undefined))
        const cause = outcome.failure.cause
        if (cause instanceof Malformed) {
          yield* Effect.logWarning(`${uid} refused: ${cause.message}`)
          return { status: Status.UNABLE_TO_PROCESS, errorComment: cause.message }
        }
        const reason = String(cause ?? outcome.failure)
        yield* Effect.logWarning(`cannot write ${target}: ${reason}`)
        return { status: Status.OUT_OF_RESOURCES, errorComment: `cannot write the file: ${reason}` }
      })

    const syncWritten: Effect.Effect<void, SyncFailed> = Effect.gen(function* () {
      const files = [...unsynced]
      unsynced = new Set()
      const folder = folderDirty
      folderDirty = false
      const failures: Array<unknown> = []
      yield* Effect.forEach(
        files,
        (path) => Effect.promise(() => syncPath(path, sync).catch((e: unknown) => void failures.push(e))),
        { concurrency: SYNC_CONCURRENCY, discard: true }
      )
      const failedFiles = failures.length
      if (folder) {
        yield* InstanceStore.syncFolder(dir, sync).pipe(
          Effect.catch((e) => Effect.sync(() => void failures.push(e.cause)))
        )
      }
      yield* Effect.logDebug(`synced ${files.length - failedFiles} of ${files.length} files written to ${dir}`)
      if (failures.length === 0) return
      return yield* new SyncFailed({
        dir,
        failed: failedFiles,
        total: files.length,
        folder: failures.length > failedFiles,
        reason: reasonOf(failures[0])
      })
    }).pipe(Effect.uninterruptible)

    return { onStore, written: () => written.size, stored: () => stored, syncWritten }
  })
