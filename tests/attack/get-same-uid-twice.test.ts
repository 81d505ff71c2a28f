/**
 * `netdicom get`'s file writer given the same SOP Instance UID twice (a peer's C-GET sending an instance again, or
 * two instances that claim one UID): one file holds it (the later one), and the summary's count and the end sync
 * name that file once, not once per C-STORE.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as FileWriter from "../../packages/cli/src/FileWriter.ts"
import { dataSetOf, wholeRequest } from "../../packages/cli/test/support.ts"

const tmp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdicom-same-uid-"))
afterAll(() => Fs.rmSync(tmp, { recursive: true, force: true }))

const request = (uid: string, bytes: Uint8Array) => wholeRequest(uid, [bytes])

describe("netdicom get: a SOP Instance UID twice", () => {
  it.effect("one file, counted once and synced once; the later instance in it", () =>
    Effect.gen(function* () {
      const dir = Fs.realpathSync(Fs.mkdtempSync(Path.join(tmp, "run-")))
      const synced: Array<string> = []
      const sync: FileWriter.Sync = async (fd) => void synced.push(Fs.readlinkSync(`/proc/self/fd/${fd}`))
      const writer = yield* FileWriter.make(dir, "end").pipe(Effect.provideService(FileWriter.FileSync, sync))
      for (const [uid, fill] of [
        ["1.2.3.1", 1],
        ["1.2.3.2", 2],
        ["1.2.3.1", 3]
      ] as const) {
        const outcome = yield* writer.onStore(request(uid, dataSetOf(64, fill)))
        assert.strictEqual(outcome.status, 0, outcome.errorComment)
      }
      assert.sameMembers(Fs.readdirSync(dir), ["1.2.3.1.dcm", "1.2.3.2.dcm"])
      assert.strictEqual(writer.written(), 2, "the files in the folder, not the C-STOREs")
      assert.strictEqual(writer.stored(), 3, "the C-STOREs answered Success, each")
      const file = Fs.readFileSync(Path.join(dir, "1.2.3.1.dcm"))
      assert.deepStrictEqual(new Uint8Array(file.subarray(file.length - 64)), dataSetOf(64, 3))
      yield* writer.syncWritten
      assert.sameMembers(synced, [Path.join(dir, "1.2.3.1.dcm"), Path.join(dir, "1.2.3.2.dcm"), dir])
    })
  )
})
