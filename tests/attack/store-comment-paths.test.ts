/**
 * A C-STORE the archive cannot write (a full disk, a folder it may not write, a study folder's name taken by a file)
 * was answered with the file system's error as its Error Comment: `write /srv/archive/<study>/.<sop>.dcm.<pid>...tmp:
 * ENOSPC: ...`, cut to 64 characters. The peer learnt where and how we keep our files, and not why (the reason was
 * cut off). The comment now says what failed and why, without a path; the log keeps the whole message.
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, Result, Stream } from "effect"
import { Archive, ScpServices } from "@netdicom/archive"
import * as Header from "../../packages/archive/src/Header.ts"
import { instance, tempDir } from "../../packages/archive/test/fixtures.ts"

const spec = { patientId: "P1", patientName: "Doe^J", study: "9.1", series: "9.1.1", sop: "9.1.1.1" }

describe("a C-STORE the archive cannot write", () => {
  it.live("is answered 0xA700 with the reason, and no path of ours, in its Error Comment", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const root = Path.join(dir, "files")
      const lines: Array<string> = []
      const logger = Logger.make(({ message }) => void lines.push([message].flat().map(String).join(" ")))
      const context = yield* Layer.build(
        Layer.fresh(Archive.Archive.layerFrom({ root, index: { filename: Path.join(dir, "index.sqlite") } }))
      )
      const archive = yield* Effect.provide(Effect.service(Archive.Archive), context)
      // the study folder's name is taken by a file: its folder cannot be made
      yield* Effect.promise(() => Fs.writeFile(Path.join(root, spec.study), "not a folder"))
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
      }).pipe(Effect.provide(Logger.layer([logger])))
      assert.strictEqual(outcome.status, 0xa700)
      const comment = outcome.errorComment ?? ""
      assert.notInclude(comment, dir, "our folder in the peer's Error Comment")
      assert.notInclude(comment, "/", comment)
      assert.match(comment, /EEXIST|ENOTDIR/, comment)
      assert.isTrue(
        lines.some((l) => l.includes(root)),
        "the log still names the path"
      )
    })
  )
})
