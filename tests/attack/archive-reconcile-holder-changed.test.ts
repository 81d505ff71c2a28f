/**
 * `Archive.reconcile` leaves out a duplicate (a second file of one SOP Instance UID) and does not read it again while
 * it is unchanged and the file kept for its UID is on disk. When the kept file was changed in place into another
 * instance while the server was down, the duplicate stayed out (the kept file was "there") while the kept file's
 * entry was removed (it no longer holds the UID): the instance, still in the store in the duplicate, was missing from
 * the index until a further restart. The duplicate is now indexed in the same reconcile.
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Archive } from "../../packages/archive/src/Archive.ts"
import { instance, tempDir, withArchive } from "../../packages/archive/test/fixtures.ts"

const one = (n: number, sop = `1.6.${n}.1.1`) =>
  instance({ patientId: `P${n}`, patientName: `Doe^${n}`, study: `1.6.${n}`, series: `1.6.${n}.1`, sop })

const reconcile = (dir: string) =>
  withArchive(
    dir,
    Archive.use((a) => a.reconcile())
  )
const retrievable = (dir: string, study: string) =>
  withArchive(
    dir,
    Archive.use((a) => a.retrieve({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: [study] }))
  ).pipe(Effect.map((items) => items.map((i) => `${i.sopInstanceUid} ${i.filePath}`)))

describe("Archive.reconcile, a duplicate whose kept file changed", () => {
  // the copy's path after the kept file's, and before it (read first in path order)
  for (const folder of ["copies", "0-copies"])
    it.effect(`indexes the duplicate in the same reconcile (copy in ${folder})`, () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const kept = yield* withArchive(
          dir,
          Archive.use((a) => a.store(one(1)))
        ).pipe(Effect.map((s) => s.record.filePath))
        const copy = Path.join(dir, "files", folder, "copy.dcm")
        yield* Effect.promise(async () => {
          await Fs.mkdir(Path.dirname(copy), { recursive: true })
          await Fs.writeFile(copy, one(1))
          await Fs.utimes(copy, new Date(0), new Date(0))
        })
        const first = yield* reconcile(dir)
        assert.deepStrictEqual(
          first.duplicates.map((d) => d.path),
          [copy]
        )
        // the kept file becomes another instance (same study) while the server is down
        yield* Effect.promise(async () => {
          await Fs.writeFile(kept, one(1, "1.6.1.1.2"))
          await Fs.utimes(kept, new Date(), new Date(Date.now() + 5000))
        })
        yield* reconcile(dir)
        assert.sameMembers(yield* retrievable(dir, "1.6.1"), [`1.6.1.1.2 ${kept}`, `1.6.1.1.1 ${copy}`])
      })
    )
})
