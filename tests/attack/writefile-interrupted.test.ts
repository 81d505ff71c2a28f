/**
 * `Part10.writeFile` says a failed or interrupted write leaves no file. Interrupted while its first flush was
 * opening the file (`Effect.tryPromise` does not wait for the promise it abandons), the cleanup found no handle and
 * nothing created, removed nothing, and the abandoned promise went on to open the file and write the first
 * megabyte: 49 of 300 writes interrupted 0-6 ms in left a partial file (meta + 1 MiB of a 1.2 MB data set), a
 * corrupt instance for whoever reads the directory (a C-STORE handler timed out mid-write, say).
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { Part10 } from "@netdicom/net"

const tmp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdicom-writefile-interrupted-"))
afterAll(() => Fs.rmSync(tmp, { recursive: true, force: true }))

const META = {
  transferSyntaxUid: "1.2.840.10008.1.2.1",
  sopClassUid: "1.2",
  sopInstanceUid: "1.2.3",
  implementationClassUid: "1.2"
}

describe("Part10.writeFile interrupted", () => {
  it.live("a write interrupted at any moment leaves the whole file or none", () =>
    Effect.gen(function* () {
      const data = new Uint8Array(1_200_000).map((_, i) => i & 0xff)
      const pieces = Array.from({ length: 300 }, (_, i) => data.subarray(i * 4000, (i + 1) * 4000))
      const whole = Part10.writeMeta(META).length + data.length
      for (let i = 0; i < 300; i++) {
        yield* Effect.timeout(
          Part10.writeFile(Path.join(tmp, `${i}.dcm`), META, Stream.fromIterable(pieces)),
          `${i % 7} millis`
        ).pipe(Effect.ignore)
      }
      // anything abandoned has long finished by now
      yield* Effect.sleep("500 millis")
      const partial = Fs.readdirSync(tmp)
        .map((name) => Fs.statSync(Path.join(tmp, name)).size)
        .filter((size) => size !== whole)
      assert.deepStrictEqual(partial, [], `${partial.length} partial files left`)
    })
  )
})
