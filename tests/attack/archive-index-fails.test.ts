/**
 * A C-STORE whose file is written but whose indexing fails (SQLite's "database or disk is full" when the disk fills
 * between the file and the index's commit, seen with `netdicom qrscp` on a full tmpfs): the store is refused, so it
 * must leave the store as it was. The refused bytes had been renamed over the stored copy of the instance, which was
 * then lost while the index kept the old attributes, size and time; a first store left its file under its final name
 * (indexed at the next start, though the peer had been told it was not stored). And the peer was answered 0xC000
 * ("cannot understand": the data set is at fault, do not send it again) for what is a resource failure of ours.
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Result, Stream } from "effect"
import { Archive, ArchiveIndex, InstanceStore, ScpServices } from "@netdicom/archive"
import { IndexFailed } from "../../packages/archive/src/ArchiveError.ts"
import * as Header from "../../packages/archive/src/Header.ts"
import { instance, tempDir } from "../../packages/archive/test/fixtures.ts"

const spec = { patientId: "P1", patientName: "Kept^Karl", study: "8.1", series: "8.1.1", sop: "8.1.1.1" }

// A real store and index, but the index's upsert fails while `full.on` is set, as SQLite does on a full disk.
const archiveWithFailingIndex = (dir: string, full: { on: boolean }) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      Layer.fresh(
        Archive.Archive.layerFrom({
          root: Path.join(dir, "files"),
          index: { filename: Path.join(dir, "index.sqlite") }
        })
      )
    )
    const instances = yield* Effect.provide(Effect.service(InstanceStore.InstanceStore), context)
    const index = yield* Effect.provide(Effect.service(ArchiveIndex.ArchiveIndex), context)
    const failing: ArchiveIndex.ArchiveIndex["Service"] = {
      ...index,
      upsert: (record) =>
        full.on
          ? Effect.fail(new IndexFailed({ operation: "index instance", cause: new Error("database or disk is full") }))
          : index.upsert(record)
    }
    return { archive: Archive.make(instances, failing), index, root: instances.root }
  })

const files = (root: string) =>
  Effect.promise(() =>
    Fs.readdir(root, { recursive: true }).then((names) => names.filter((n) => Path.basename(n).includes(".dcm")).sort())
  )

describe("archive: a C-STORE whose indexing fails after its file was written", () => {
  it.live("a re-store leaves the stored copy and its index entry as they were", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const full = { on: false }
      const { archive, index, root } = yield* archiveWithFailingIndex(dir, full)
      const original = instance(spec)
      const first = yield* archive.store(original)
      const path = first.record.filePath

      full.on = true
      const changed = instance({ ...spec, patientName: "Lost^Larry" })
      const outcome = yield* Effect.result(archive.store(changed))
      assert.isTrue(Result.isFailure(outcome))
      if (Result.isFailure(outcome)) assert.strictEqual(outcome.failure._tag, "IndexFailed")

      const bytes = new Uint8Array(yield* Effect.promise(() => Fs.readFile(path)))
      assert.deepStrictEqual(bytes, original, "the stored copy was replaced by the refused bytes")
      const kept = yield* index.get(spec.sop)
      assert.isTrue(Option.isSome(kept))
      if (Option.isSome(kept)) {
        const stat = yield* Effect.promise(() => Fs.stat(path))
        assert.strictEqual(kept.value.fileSize, stat.size)
        assert.strictEqual(kept.value.fileModifiedMs, stat.mtimeMs)
      }
      assert.deepStrictEqual(yield* files(root), [Path.relative(root, path)])
    })
  )

  it.live("a first store leaves no file behind", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const full = { on: true }
      const { archive, index, root } = yield* archiveWithFailingIndex(dir, full)
      const outcome = yield* Effect.result(archive.store(instance(spec)))
      assert.isTrue(Result.isFailure(outcome))
      assert.isTrue(Option.isNone(yield* index.get(spec.sop)))
      assert.deepStrictEqual(yield* files(root), [], "a file the peer was told was not stored")
    })
  )

  it.live("the peer is answered 0xA700 (out of resources), not 0xC000 (cannot understand)", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const { archive } = yield* archiveWithFailingIndex(dir, { on: true })
      const bytes = instance(spec)
      const header = Result.getOrThrow(Header.fromBytes(bytes))
      const dataSet = bytes.subarray(header.dataSetOffset)
      const outcome = yield* ScpServices.storageHandler(archive)({
        sopClassUid: header.sopClassUid,
        sopInstanceUid: header.sopInstanceUid,
        transferSyntax: header.transferSyntaxUid,
        callingAeTitle: "ATTACKER",
        priority: 0,
        moveOriginator: undefined,
        dataSet: Stream.make(dataSet),
        dataSetLent: Stream.make(dataSet),
        dataSetReceived: [dataSet]
      })
      assert.strictEqual(outcome.status, 0xa700)
      assert.include(outcome.errorComment ?? "", "full")
    })
  )
})
