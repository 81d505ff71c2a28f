/**
 * The pool of read buffers (`FileIo.lentReads`) keeps up to 8 buffers of every size it is given back, for good: a
 * data set streamed once with a large chunk size (`streamDataSet(path, meta, { chunkSize })`, up to 64 MiB) left its
 * buffers pinned in the pool for the life of the process (one 48 MiB buffer after a plain read to the end, more
 * after a send), and every other size used added its own. Only buffers of the size the library streams in are
 * kept now; larger ones go to the garbage collector.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { Part10 } from "@netdicom/net"
import * as FileIo from "../../packages/net/src/dimse/FileIo.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-pool-sizes-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

describe("the read buffer pool", () => {
  it.effect("a stream read with a 48 MiB chunk size leaves no 48 MiB buffer in the pool", () =>
    Effect.gen(function* () {
      const where = path.join(tmp, "f.dcm")
      fs.writeFileSync(where, Buffer.alloc(100_000, 3))
      const chunkSize = 48 << 20
      const chunks = yield* Stream.runCollect(Part10.streamDataSet(where, { dataSetOffset: 0 }, { chunkSize }))
      assert.strictEqual(
        chunks.reduce((n, c) => n + c.length, 0),
        100_000
      )
      assert.strictEqual(FileIo.pooledBuffers(chunkSize), 0, "no 48 MiB buffer pinned in the pool")
    })
  )
})
