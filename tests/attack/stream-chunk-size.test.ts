/**
 * `Part10.streamDataSet` with a chunk size (now read into pooled buffers by `FileIo.lentReads`): a chunk size of 0
 * or NaN read nothing, so a 4,900-byte data set came out as an empty stream (an empty C-STORE, silently), and a
 * negative one escaped as a defect (RangeError: Invalid typed array length). They are typed failures now.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Stream } from "effect"
import { Part10 } from "@netdicom/net"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-chunk-size-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

describe("streamDataSet's chunk size", () => {
  it.effect("0, NaN, negative, fractional or huge: a typed FileReadFailed, never an empty data set or a defect", () =>
    Effect.gen(function* () {
      const where = path.join(tmp, "f.dcm")
      fs.writeFileSync(where, Buffer.alloc(5000, 1))
      for (const chunkSize of [0, NaN, -1, 1.5, Part10.MAX_CHUNK_SIZE + 1]) {
        const exit = yield* Effect.exit(
          Stream.runCollect(Part10.streamDataSet(where, { dataSetOffset: 100 }, { chunkSize }))
        )
        assert.isTrue(Exit.isFailure(exit), `chunk size ${chunkSize}: refused`)
        if (Exit.isFailure(exit)) {
          assert.isFalse(Cause.hasDies(exit.cause), `chunk size ${chunkSize}: not a defect`)
          const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
          assert.strictEqual(failure?._tag === "Fail" ? failure.error._tag : undefined, "FileReadFailed")
        }
      }
      const chunks = yield* Stream.runCollect(Part10.streamDataSet(where, { dataSetOffset: 100 }, { chunkSize: 1 }))
      assert.strictEqual(
        chunks.reduce((n, c) => n + c.length, 0),
        4900
      )
    })
  )
})
