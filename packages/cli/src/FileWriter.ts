/**
 * `netdicom get`'s C-STORE handler: each instance a C-GET brings goes to a temporary file (its File Meta
 * Information, then the data set), synced, then renamed to `<dir>/<SOP Instance UID>.dcm`.
 *
 * A data set that arrived whole before the handler ran (a small one, `dataSetReceived`) is written with the meta in
 * one vectored write, the open, close and rename made synchronously (microseconds on a local file system, where a
 * thread-pool round trip each costs more); only the fsync, which waits on the disk, goes through the thread pool.
 * A larger one is read lent (`dataSetLent`) and written as it arrives: each fragment is given back
 * (`ReceivedBytes.release`) once written, so the socket reads it came from are freed at once, never before its write
 * has completed (an interrupted write gives nothing back).
 *
 * @since 0.2.0
 */
import * as FsSync from "node:fs"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { ApplicationEntity, Part10, ReceivedBytes } from "@netdicom/net"
import type { StoreHandler } from "@netdicom/net"
import { InstanceStore, TempFiles } from "@netdicom/archive"
import { Status, Text } from "@netdicom/wire"

// A data set given whole up to this size is written in one synchronous call (the event loop held for its copy into
// the page cache: tens of microseconds).
const WHOLE_WRITE_LIMIT = 1 << 20
// Buffers per writev call (IOV_MAX is 1024 on Linux).
const IOV_MAX = 1024

/** Writes all of `bytes` at the file's current position (a write may take fewer bytes than asked). */
const writeAll = async (handle: Fs.FileHandle, bytes: Uint8Array): Promise<void> => {
  for (let at = 0; at < bytes.length;) at += (await handle.write(bytes, at, bytes.length - at)).bytesWritten
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

const fsync = (fd: number): Promise<void> =>
  new Promise((resolve, reject) => FsSync.fsync(fd, (e) => (e === null ? resolve() : reject(e))))

/** `pieces` into a new file `tmp`, synced, then renamed to `target`. */
const writeWhole = (tmp: string, target: string, pieces: ReadonlyArray<Uint8Array>) =>
  Effect.tryPromise(async () => {
    const fd = FsSync.openSync(tmp, "wx")
    try {
      writevAllSync(fd, pieces)
      await fsync(fd)
    } finally {
      FsSync.closeSync(fd)
    }
    FsSync.renameSync(tmp, target)
  })

const sizeOf = (pieces: ReadonlyArray<Uint8Array>): number => {
  let size = 0
  for (const p of pieces) size += p.length
  return size
}

/** Writes each instance a C-GET brings as `<dir>/<SOPInstanceUID>.dcm`, counting them in `written`. */
export const fileWriter =
  (dir: string, written: { count: number }): StoreHandler.StorageHandler =>
  (request) =>
    Effect.gen(function* () {
      const uid = Text.trimEnd(request.sopInstanceUid, "\0 ")
      const target = Path.join(dir, `${InstanceStore.safeName(uid)}.dcm`)
      const tmp = Path.join(dir, TempFiles.temporaryName(`${InstanceStore.safeName(uid)}.dcm`))
      const meta = Part10.writeMeta({
        transferSyntaxUid: Text.trimEnd(request.transferSyntax, "\0 "),
        sopClassUid: Text.trimEnd(request.sopClassUid, "\0 "),
        sopInstanceUid: uid,
        implementationClassUid: ApplicationEntity.IMPLEMENTATION_CLASS_UID,
        implementationVersionName: ApplicationEntity.IMPLEMENTATION_VERSION_NAME,
        ...(request.callingAeTitle.trim() !== "" ? { sourceAeTitle: request.callingAeTitle.trim() } : {})
      })
      const received = request.dataSetReceived
      const outcome = yield* (
        received !== undefined && sizeOf(received) <= WHOLE_WRITE_LIMIT
          ? writeWhole(tmp, target, [meta, ...received])
          : Effect.acquireUseRelease(
              Effect.tryPromise(() => Fs.open(tmp, "wx")),
              (handle) =>
                Effect.gen(function* () {
                  yield* Effect.tryPromise(() => handle.write(meta))
                  yield* Stream.runForEach(request.dataSetLent, (chunk) =>
                    Effect.tryPromise(async () => {
                      await writeAll(handle, chunk)
                      ReceivedBytes.release(chunk)
                    })
                  )
                  yield* Effect.tryPromise(() => handle.sync())
                }),
              (handle) => Effect.promise(() => handle.close().catch(() => undefined))
            ).pipe(Effect.andThen(Effect.tryPromise(() => Fs.rename(tmp, target))))
      ).pipe(Effect.result)
      if (Result.isSuccess(outcome)) {
        written.count++
        yield* Effect.logDebug(`received ${target}`)
        return { status: Status.SUCCESS }
      }
      // the rest of the data set, read the same way: nothing keeps these fragments
      yield* Stream.runForEach(request.dataSetLent, (chunk) => Effect.sync(() => ReceivedBytes.release(chunk))).pipe(
        Effect.ignore
      )
      yield* Effect.promise(() => Fs.unlink(tmp).catch(() => undefined))
      const reason = String(outcome.failure.cause ?? outcome.failure)
      yield* Effect.logWarning(`cannot write ${target}: ${reason}`)
      return { status: Status.OUT_OF_RESOURCES, errorComment: `cannot write the file: ${reason}` }
    })
