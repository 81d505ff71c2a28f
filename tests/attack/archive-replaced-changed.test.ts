/**
 * A C-STORE that replaces an instance indexed at another path in the store (a file `Archive.reconcile` adopted where
 * a user put it, or the copy in another study folder) removes that file: the instance now lives at its own path. But
 * the file may no longer hold that instance: changed in place since it was indexed (a user copied another instance
 * over it while the server ran; `reconcile` runs at start-up only). Removing it then deleted an instance the archive
 * never had, the only copy of it. The file is removed only while it is what the index recorded (size and
 * modification time); a changed one is left where it is, and logged.
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Archive } from "../../packages/archive/src/Archive.ts"
import { instance, tempDir, withArchive } from "../../packages/archive/test/fixtures.ts"

const one = (n: number) =>
  instance({
    patientId: `P${n}`,
    patientName: `Doe^${n}`,
    study: `1.8.${n}`,
    series: `1.8.${n}.1`,
    sop: `1.8.${n}.1.1`
  })

describe("a C-STORE replacing an instance indexed at another path", () => {
  it.effect("removes the old file while it is as indexed, and leaves it when it changed since", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const adopted = Path.join(dir, "files", "mine", "a.dcm")
      const kept = Path.join(dir, "files", "mine", "b.dcm")
      yield* Effect.promise(async () => {
        await Fs.mkdir(Path.dirname(adopted), { recursive: true })
        await Fs.writeFile(adopted, one(1))
        await Fs.writeFile(kept, one(3))
      })
      const report = yield* withArchive(
        dir,
        Archive.use((a) => a.reconcile())
      )
      assert.deepStrictEqual([...report.added].sort(), [adopted, kept])

      // unchanged since indexed: the re-store moves the instance to its own path, the old file goes
      const moved = yield* withArchive(
        dir,
        Archive.use((a) => a.store(one(3)))
      )
      assert.notStrictEqual(moved.record.filePath, kept)
      assert.isFalse(
        yield* Effect.promise(() =>
          Fs.access(kept).then(
            () => true,
            () => false
          )
        )
      )

      // another instance copied over the adopted file while the archive runs
      const other = one(2)
      yield* Effect.promise(async () => {
        await Fs.writeFile(adopted, other)
        await Fs.utimes(adopted, new Date(), new Date(Date.now() + 5000))
      })
      const stored = yield* withArchive(
        dir,
        Archive.use((a) => a.store(one(1)))
      )
      assert.notStrictEqual(stored.record.filePath, adopted)
      const left = yield* Effect.promise(() => Fs.readFile(adopted).catch(() => undefined))
      assert.isDefined(left, "the file holding another instance was removed")
      assert.deepStrictEqual(new Uint8Array(left!), other)
    })
  )
})
