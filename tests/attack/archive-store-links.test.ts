/**
 * A study folder of the archive SCP's store replaced by a symbolic link (by someone who can write the store) is not
 * followed: a C-STORE into that study is answered 0xA700 (out of resources, as other store failures) with an Error
 * Comment naming the link, and nothing is written where the link points. Nor does a C-GET read a stored file
 * through one made since the instance was indexed.
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"
import { Scu } from "@netdicom/net"
import * as Part10 from "../../packages/archive/src/Part10.ts"
import { instance } from "../../packages/archive/test/fixtures.ts"
import { connectArchive, startArchiveScp } from "./archive-support.ts"
import { CT, EXPLICIT } from "./support.ts"

const bare = (file: Uint8Array) => file.subarray(Part10.dataSetOffset(file)!)

describe("archive SCP: a study folder replaced by a symbolic link", () => {
  it.live("a C-STORE into it is refused with 0xA700 and nothing is written outside the store", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* startArchiveScp()
        const outside = Path.join(scp.dir, "outside")
        const folder = Path.join(scp.root, "1.2.77")
        yield* Effect.promise(async () => {
          await Fs.mkdir(outside)
          await Fs.symlink(outside, folder)
        })
        const channel = yield* connectArchive(scp.port)
        const dataSet = (sop: string, study: string) =>
          bare(instance({ patientId: "P", patientName: "Doe^L", study, series: `${study}.1`, sop }))
        const refused = yield* Scu.store(channel, {
          sopClassUid: CT,
          sopInstanceUid: "1.2.77.1.1",
          transferSyntax: EXPLICIT,
          dataSet: dataSet("1.2.77.1.1", "1.2.77")
        })
        assert.strictEqual(refused.status, 0xa700)
        assert.include(refused.errorComment ?? "", "symbolic link")
        assert.deepStrictEqual(yield* Effect.promise(() => Fs.readdir(outside)), [])
        assert.isTrue(Option.isNone(yield* scp.index.get("1.2.77.1.1")))
        // another study on the same association is stored as before
        const stored = yield* Scu.store(channel, {
          sopClassUid: CT,
          sopInstanceUid: "1.2.78.1.1",
          transferSyntax: EXPLICIT,
          dataSet: dataSet("1.2.78.1.1", "1.2.78")
        })
        assert.strictEqual(stored.status, 0)
      })
    )
  )

  it.live("a C-GET does not read an instance through a study folder made a link since it was stored", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* startArchiveScp()
        const spec = (sop: string, study: string) => ({
          patientId: "P",
          patientName: "Doe^G",
          study,
          series: `${study}.1`,
          sop
        })
        const linked = yield* scp.archive.store(instance(spec("1.2.79.1.1", "1.2.79")))
        yield* scp.archive.store(instance(spec("1.2.79.2.1", "1.2.80")))
        // the real folder moved out of the store, a link to it in its place (the file there is the same one)
        const folder = Path.dirname(linked.record.filePath)
        const moved = Path.join(scp.dir, "moved")
        yield* Effect.promise(async () => {
          await Fs.rename(folder, moved)
          await Fs.symlink(moved, folder)
        })
        const received: Array<string> = []
        const channel = yield* connectArchive(scp.port, {
          getRole: true,
          onStore: (request) =>
            Effect.gen(function* () {
              received.push(request.sopInstanceUid)
              yield* Stream.runDrain(request.dataSet).pipe(Effect.ignore)
              return { status: 0 }
            })
        })
        const responses = yield* Stream.runCollect(
          Scu.get(channel, {
            model: "study",
            identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: ["1.2.79", "1.2.80"] }
          })
        )
        const final = responses.at(-1)!
        assert.deepStrictEqual(received, ["1.2.79.2.1"])
        assert.strictEqual(final.failed, 1)
        assert.deepStrictEqual(final.failedSopInstanceUids, ["1.2.79.1.1"])
      })
    )
  )
})
