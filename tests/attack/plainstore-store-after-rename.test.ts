/**
 * `netdicom storescp`'s store (`PlainStore`): a C-STORE whose new file was renamed over the stored copy but that then
 * failed, the fsync of the study folder failing (EIO) or the handler interrupted while it waited (a server stopping,
 * the peer's abort past the handlers' grace). The store was refused, or never answered, yet the refused bytes had
 * replaced the stored copy (a first store left its file). As the archive now does (archive-store-after-rename), such
 * a store leaves things as they were: the copy it replaced put back, a new file removed.
 */
import * as FsSync from "node:fs"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Result } from "effect"
import { InstanceStore, PlainStore } from "@netdicom/archive"
import { instance, tempDir } from "../../packages/archive/test/fixtures.ts"

const spec = { patientId: "P1", patientName: "Kept^Karl", study: "8.3", series: "8.3.1", sop: "8.3.1.1" }

type Mode = "ok" | "fail" | "hang"

// A plain store whose folder fsyncs do as `mode.now` says (files sync as usual); `reached` is told of each hang.
const storeIn = (dir: string, mode: { now: Mode }, reached: Deferred.Deferred<void>) =>
  Effect.gen(function* () {
    const sync: InstanceStore.Sync = (fd) => {
      if (mode.now === "ok" || !FsSync.fstatSync(fd).isDirectory()) return Promise.resolve()
      if (mode.now === "fail") return Promise.reject(Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" }))
      Deferred.doneUnsafe(reached, Effect.void)
      return new Promise<void>(() => {})
    }
    const root = Path.join(dir, "files")
    const context = yield* Layer.build(Layer.fresh(PlainStore.PlainStore.layerFrom({ root }))).pipe(
      Effect.provideService(InstanceStore.FileSync, sync)
    )
    return { store: yield* Effect.provide(Effect.service(PlainStore.PlainStore), context), root }
  })

// Every name under the root but folders, hidden ones (a copy kept aside, a temporary file) included.
const files = (root: string) =>
  Effect.promise(() =>
    Fs.readdir(root, { recursive: true, withFileTypes: true }).then((entries) =>
      entries
        .filter((e) => !e.isDirectory())
        .map((e) => Path.relative(root, Path.join(e.parentPath, e.name)))
        .sort()
    )
  )

const assertKept = (root: string, path: string, original: Uint8Array) =>
  Effect.gen(function* () {
    const bytes = new Uint8Array(yield* Effect.promise(() => Fs.readFile(path)))
    assert.deepStrictEqual(bytes, original, "the stored copy was replaced")
    assert.deepStrictEqual(yield* files(root), [Path.relative(root, path)])
  })

describe("storescp's PlainStore: a store failing after its file was renamed into place", () => {
  it.live("the study folder's fsync fails: a re-store leaves the stored copy", () =>
    Effect.gen(function* () {
      const mode = { now: "ok" as Mode }
      const { store, root } = yield* storeIn(yield* tempDir, mode, yield* Deferred.make<void>())
      const original = instance(spec)
      const path = (yield* store.store(original)).filePath
      mode.now = "fail"
      const outcome = yield* Effect.result(store.store(instance({ ...spec, patientName: "Lost^Larry" })))
      assert.isTrue(Result.isFailure(outcome))
      mode.now = "ok"
      yield* assertKept(root, path, original)
    })
  )

  it.live("the study folder's fsync fails: a first store leaves no file", () =>
    Effect.gen(function* () {
      const mode = { now: "ok" as Mode }
      const { store, root } = yield* storeIn(yield* tempDir, mode, yield* Deferred.make<void>())
      yield* store.store(instance({ ...spec, sop: "8.3.1.9" }))
      mode.now = "fail"
      const outcome = yield* Effect.result(store.store(instance(spec)))
      assert.isTrue(Result.isFailure(outcome))
      assert.deepStrictEqual(yield* files(root), [Path.join("8.3", "8.3.1.9.dcm")])
    })
  )

  it.live("interrupted while the folder's fsync runs: the stored copy stays", () =>
    Effect.gen(function* () {
      const mode = { now: "ok" as Mode }
      const reached = yield* Deferred.make<void>()
      const { store, root } = yield* storeIn(yield* tempDir, mode, reached)
      const original = instance(spec)
      const path = (yield* store.store(original)).filePath
      mode.now = "hang"
      const fiber = yield* Effect.forkChild(store.store(instance({ ...spec, patientName: "Lost^Larry" })))
      yield* Deferred.await(reached)
      yield* Fiber.interrupt(fiber)
      mode.now = "ok"
      yield* assertKept(root, path, original)
    })
  )

  it.live("a copy left by an earlier run, re-stored with the folder's fsync failing: that copy stays", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const earlier = yield* storeIn(dir, { now: "ok" }, yield* Deferred.make<void>())
      const original = instance(spec)
      const path = (yield* earlier.store.store(original)).filePath
      const mode = { now: "fail" as Mode }
      const { store, root } = yield* storeIn(dir, mode, yield* Deferred.make<void>())
      const outcome = yield* Effect.result(store.store(instance({ ...spec, patientName: "Lost^Larry" })))
      assert.isTrue(Result.isFailure(outcome))
      yield* assertKept(root, path, original)
    })
  )
})
