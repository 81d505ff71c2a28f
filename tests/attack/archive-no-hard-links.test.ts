/**
 * On a file system without hard links (FAT, some network ones) the archive cannot keep aside the file a re-store
 * replaces (`InstanceStore.setAside`): the re-store must still be taken, as before there was an aside.
 */
import * as Fs from "node:fs/promises"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { vi } from "vitest"
import { Archive } from "../../packages/archive/src/Archive.ts"
import { inFreshArchive, instance } from "../../packages/archive/test/fixtures.ts"

const linkCalls = vi.hoisted(() => ({ count: 0 }))
vi.mock("node:fs/promises", async (importOriginal) => {
  const original = await importOriginal<typeof import("node:fs/promises")>()
  const link = async (): Promise<void> => {
    linkCalls.count++
    throw Object.assign(new Error("EPERM: operation not permitted, link"), { code: "EPERM" })
  }
  return { ...original, default: { ...original, link }, link }
})

const spec = { patientId: "P1", patientName: "Kept^Karl", study: "7.2", series: "7.2.1", sop: "7.2.1.1" }

describe("archive on a file system without hard links", () => {
  it.live("a re-store of an indexed instance is taken", () =>
    inFreshArchive(
      Effect.gen(function* () {
        const archive = yield* Archive
        yield* archive.store(instance(spec))
        const changed = instance({ ...spec, patientName: "Kept^Karla" })
        const again = yield* Effect.result(archive.store(changed))
        assert.isAbove(linkCalls.count, 0)
        assert.strictEqual(again._tag, "Success")
        if (again._tag === "Success") {
          const bytes = new Uint8Array(yield* Effect.promise(() => Fs.readFile(again.success.record.filePath)))
          assert.deepStrictEqual(bytes, changed)
        }
      })
    )
  )
})
