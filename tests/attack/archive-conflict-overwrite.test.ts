/**
 * A re-store of an instance, refused with UidConflict in the indexing transaction (another association claimed its
 * new series for another study while its bytes were being written), must leave the stored file as it was: the
 * refused bytes had already been renamed over it, and the index kept pointing at that file with the old attributes.
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option } from "effect"
import { Archive } from "../../packages/archive/src/Archive.ts"
import { ArchiveIndex } from "../../packages/archive/src/ArchiveIndex.ts"
import { inFreshArchive, instance } from "../../packages/archive/test/fixtures.ts"

const spec = { patientId: "P1", patientName: "Kept^Karl", study: "7.1", series: "7.1.1", sop: "7.1.1.1" }

describe("archive: a re-store refused in the indexing transaction", () => {
  it.live("leaves the file it would have replaced as it was", () =>
    inFreshArchive(
      Effect.gen(function* () {
        const archive = yield* Archive
        const index = yield* ArchiveIndex
        const original = instance(spec)
        const first = yield* archive.store(original)
        const path = first.record.filePath

        // the same instance, now in series 7.9.1; its last bytes wait until another store claims 7.9.1 for 7.9
        const moved = instance({ ...spec, series: "7.9.1" })
        const reached = yield* Deferred.make<void>()
        const gate = yield* Deferred.make<void>()
        const source = (async function* () {
          yield moved.subarray(0, moved.length - 8)
          Deferred.doneUnsafe(reached, Effect.void)
          await Effect.runPromise(Deferred.await(gate))
          yield moved.subarray(moved.length - 8)
        })()
        const fiber = yield* Effect.forkChild(Effect.result(archive.store(source)))
        yield* Deferred.await(reached)
        yield* archive.store(instance({ ...spec, study: "7.9", series: "7.9.1", sop: "7.9.1.1" }))
        yield* Deferred.succeed(gate, undefined)
        const outcome = yield* Fiber.join(fiber)
        assert.strictEqual(outcome._tag, "Failure")
        if (outcome._tag === "Failure") assert.strictEqual(outcome.failure._tag, "UidConflict")

        const kept = yield* index.get(spec.sop)
        assert.isTrue(Option.isSome(kept))
        if (Option.isSome(kept)) {
          assert.strictEqual(kept.value.filePath, path)
          assert.strictEqual(kept.value.seriesInstanceUid, "7.1.1")
        }
        const bytes = new Uint8Array(yield* Effect.promise(() => Fs.readFile(path)))
        assert.deepStrictEqual(bytes, original)
        const dir = yield* Effect.promise(() => Fs.readdir(Path.dirname(path)))
        assert.deepStrictEqual(dir, ["7.1.1.1.dcm"])
      })
    )
  )
})
