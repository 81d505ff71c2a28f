/**
 * An index of an older schema version is dropped on opening and the store's files are indexed anew (netdicom qrscp
 * runs `Archive.rebuild` when `replacedSchema` says so). When that re-index does not finish (the server stopped or
 * killed while it ran), the next opening must still say the index needs it: it found a current, partial index and
 * served without the instances not yet re-indexed, for ever. The same holds for the first indexing of the files a
 * new index finds in its store.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Sqlite from "node:sqlite"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Archive } from "../../packages/archive/src/Archive.ts"
import { ArchiveIndex } from "../../packages/archive/src/ArchiveIndex.ts"
import { instance, tempDir, withArchive } from "../../packages/archive/test/fixtures.ts"

describe("archive: a re-index of a replaced schema that did not finish", () => {
  it.effect("is asked for again on the next opening, and no more once a rebuild has run", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = Path.join(dir, "index.sqlite")
      yield* withArchive(
        dir,
        Effect.gen(function* () {
          const archive = yield* Archive
          for (const i of [1, 2, 3]) {
            yield* archive.store(
              instance({ patientId: "P", patientName: "A^B", study: "5.1", series: "5.1.1", sop: `5.1.1.${i}` })
            )
          }
        })
      )
      yield* Effect.sync(() => {
        const db = new Sqlite.DatabaseSync(file)
        db.exec("PRAGMA user_version = 1")
        db.close()
      })
      // opened, the old tables dropped, then stopped before (or while) the files were indexed again
      const first = yield* withArchive(
        dir,
        ArchiveIndex.use((i) => Effect.succeed(i.replacedSchema))
      )
      assert.strictEqual(first, 1)
      const second = yield* withArchive(
        dir,
        Effect.gen(function* () {
          const index = yield* ArchiveIndex
          const pending = index.replacedSchema
          const report = yield* Archive.use((a) => a.rebuild)
          return { pending, indexed: report.indexed, instances: (yield* index.stats).instances }
        })
      )
      assert.deepStrictEqual(second, { pending: 1, indexed: 3, instances: 3 })
      const third = yield* withArchive(
        dir,
        ArchiveIndex.use((i) => Effect.succeed(i.replacedSchema))
      )
      assert.strictEqual(third, undefined)
    })
  )
  it.effect("a first indexing of a store's files that did not finish is asked for again, and no more once done", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = Path.join(dir, "index.sqlite")
      yield* withArchive(
        dir,
        Effect.gen(function* () {
          const archive = yield* Archive
          for (const i of [1, 2, 3]) {
            yield* archive.store(
              instance({ patientId: "P", patientName: "A^B", study: "6.1", series: "6.1.1", sop: `6.1.1.${i}` })
            )
          }
        })
      )
      // files in the store, no index: as after a storescp without one, or a deleted index file
      yield* Effect.sync(() => Fs.rmSync(file))
      const owed = ArchiveIndex.use((i) => Effect.succeed({ owed: i.indexingOwed, replaced: i.replacedSchema }))
      // created, then stopped before (or while) the files were adopted
      assert.deepStrictEqual(yield* withArchive(dir, owed), { owed: true, replaced: undefined })
      const second = yield* withArchive(
        dir,
        Effect.gen(function* () {
          const index = yield* ArchiveIndex
          const pending = index.indexingOwed
          const report = yield* Archive.use((a) => a.rebuild)
          return { pending, indexed: report.indexed, instances: (yield* index.stats).instances }
        })
      )
      assert.deepStrictEqual(second, { pending: true, indexed: 3, instances: 3 })
      assert.deepStrictEqual(yield* withArchive(dir, owed), { owed: false, replaced: undefined })
    })
  )
})
