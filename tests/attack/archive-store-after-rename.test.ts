/**
 * A C-STORE whose new file was renamed over the stored copy but that then failed before the index took it: the fsync
 * of the study folder failing (EIO), or the handler interrupted while it waited (a server stopping, the peer's abort
 * past the handlers' grace). The store was refused, or never answered, yet the refused bytes had replaced the stored
 * copy, the index keeping the old attributes, size and time (a first store left its file, unindexed, to be found at
 * the next start). Such a store now leaves things as they were: the copy it replaced is put back, a new file removed.
 */
import * as FsSync from "node:fs"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Option, Result } from "effect"
import { Archive, ArchiveIndex, InstanceStore } from "@netdicom/archive"
import { instance, tempDir } from "../../packages/archive/test/fixtures.ts"

const spec = { patientId: "P1", patientName: "Kept^Karl", study: "8.2", series: "8.2.1", sop: "8.2.1.1" }

type Mode = "ok" | "fail" | "hang"

// An archive whose folder fsyncs do as `mode.now` says (files sync as usual); `reached` is told of each hang.
const archiveIn = (dir: string, mode: { now: Mode }, reached: Deferred.Deferred<void>) =>
  Effect.gen(function* () {
    const sync: InstanceStore.Sync = (fd) => {
      if (mode.now === "ok" || !FsSync.fstatSync(fd).isDirectory()) return Promise.resolve()
      if (mode.now === "fail") return Promise.reject(Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" }))
      Deferred.doneUnsafe(reached, Effect.void)
      return new Promise<void>(() => {})
    }
    const context = yield* Layer.build(
      Layer.fresh(
        Archive.Archive.layerFrom({
          root: Path.join(dir, "files"),
          index: { filename: Path.join(dir, "index.sqlite") }
        })
      )
    ).pipe(Effect.provideService(InstanceStore.FileSync, sync))
    return {
      archive: yield* Effect.provide(Effect.service(Archive.Archive), context),
      index: yield* Effect.provide(Effect.service(ArchiveIndex.ArchiveIndex), context),
      root: Path.join(dir, "files")
    }
  })

const dcmFiles = (root: string) =>
  Effect.promise(() =>
    Fs.readdir(root, { recursive: true }).then((names) => names.filter((n) => Path.basename(n).includes(".dcm")).sort())
  )

// The stored copy is `original`, and the index's entry is that file as it is on disk.
const assertKept = (index: ArchiveIndex.ArchiveIndex["Service"], root: string, path: string, original: Uint8Array) =>
  Effect.gen(function* () {
    const bytes = new Uint8Array(yield* Effect.promise(() => Fs.readFile(path)))
    assert.deepStrictEqual(bytes, original, "the stored copy was replaced")
    const entry = yield* index.get(spec.sop)
    assert.isTrue(Option.isSome(entry))
    if (Option.isSome(entry)) {
      const stat = yield* Effect.promise(() => Fs.stat(path))
      assert.strictEqual(entry.value.fileSize, stat.size)
      assert.strictEqual(entry.value.fileModifiedMs, stat.mtimeMs)
    }
    assert.deepStrictEqual(yield* dcmFiles(root), [Path.relative(root, path)])
  })

describe("archive: a store failing after its file was renamed into place", () => {
  it.live("the study folder's fsync fails: a re-store leaves the stored copy and its entry", () =>
    Effect.gen(function* () {
      const mode = { now: "ok" as Mode }
      const { archive, index, root } = yield* archiveIn(yield* tempDir, mode, yield* Deferred.make<void>())
      const original = instance(spec)
      const path = (yield* archive.store(original)).record.filePath
      mode.now = "fail"
      const outcome = yield* Effect.result(archive.store(instance({ ...spec, patientName: "Lost^Larry" })))
      assert.isTrue(Result.isFailure(outcome))
      mode.now = "ok"
      yield* assertKept(index, root, path, original)
    })
  )

  it.live("the study folder's fsync fails: a first store leaves no file", () =>
    Effect.gen(function* () {
      const mode = { now: "ok" as Mode }
      const { archive, index, root } = yield* archiveIn(yield* tempDir, mode, yield* Deferred.make<void>())
      yield* archive.store(instance({ ...spec, sop: "8.2.1.9" }))
      mode.now = "fail"
      const outcome = yield* Effect.result(archive.store(instance(spec)))
      assert.isTrue(Result.isFailure(outcome))
      assert.isTrue(Option.isNone(yield* index.get(spec.sop)))
      assert.deepStrictEqual(yield* dcmFiles(root), ["8.2/8.2.1.9.dcm"])
    })
  )

  it.live("interrupted while the folder's fsync runs: the stored copy and its entry stay", () =>
    Effect.gen(function* () {
      const mode = { now: "ok" as Mode }
      const reached = yield* Deferred.make<void>()
      const { archive, index, root } = yield* archiveIn(yield* tempDir, mode, reached)
      const original = instance(spec)
      const path = (yield* archive.store(original)).record.filePath
      mode.now = "hang"
      const fiber = yield* Effect.forkChild(archive.store(instance({ ...spec, patientName: "Lost^Larry" })))
      yield* Deferred.await(reached)
      yield* Fiber.interrupt(fiber)
      mode.now = "ok"
      yield* assertKept(index, root, path, original)
    })
  )
})
