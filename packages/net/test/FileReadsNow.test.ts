/**
 * A large file to send, from its meta to its first chunk, without the thread pool (Round 20 of the performance work,
 * large): `Part10.loadDataSet` of a file over `WHOLE_READ_LIMIT` gives its stream from the synchronous look at its
 * size (no asynchronous open, fstat and close first), and the stream's `ChunkReader` opens the file synchronously,
 * so the next instance's first write follows a C-STORE response without two thread-pool round trips. Reads from the
 * page cache that a busy machine's scheduler stretches now and then stay synchronous: only `SLOW_READS` slow reads
 * in a row (a file read from the disk) move the rest of a file onto the thread pool.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, afterEach, assert, describe, it, vi } from "vitest"
import { Effect, Exit, Fiber } from "effect"
import * as FileIo from "../src/dimse/FileIo.ts"
import * as Part10 from "../src/dimse/Part10.ts"
import * as LentBytes from "../src/upper/LentBytes.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-file-reads-now-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))
afterEach(() => {
  vi.restoreAllMocks()
})

// A file of `size` bytes (no meta: the chunk reader reads from an offset; `seen` holds what it was when written).
const plainFile = (name: string, size: number) => {
  const where = path.join(tmp, `${name}.bin`)
  const body = Buffer.alloc(size)
  for (let i = 0; i < size; i += 4096) body[i] = i & 0xff
  fs.writeFileSync(where, body)
  const stat = fs.statSync(where)
  return { where, seen: { dataSetOffset: 0, fileSize: size, modifiedMs: stat.mtimeMs, changedMs: stat.ctimeMs } }
}

// A Part 10 file whose data set is `size` bytes.
const part10File = (name: string, size: number) => {
  const meta = Part10.writeMeta({
    transferSyntaxUid: "1.2.840.10008.1.2.1",
    sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
    sopInstanceUid: `1.2.3.4.${size}`,
    implementationClassUid: "1.2.3.4"
  })
  const where = path.join(tmp, `${name}.dcm`)
  fs.writeFileSync(where, Buffer.concat([meta, Buffer.alloc(size)]))
  return where
}

const CHUNK = 64 << 10

// Takes every chunk `reader` has now, giving each back; stops at the first `undefined` (a read still running) or at
// the end. `slow(i)` says whether read i (the one `take` i starts) is to look slow.
const takeAll = (reader: FileIo.ChunkReader<unknown>, slow: (i: number) => boolean) => {
  const now = { at: 0, step: 0 }
  // performance.now as the reader sees it: each read takes `step` ms
  vi.spyOn(performance, "now").mockImplementation(() => (now.at += now.step / 2))
  let chunks = 0
  for (let i = 0; ; i++) {
    now.step = slow(i + 1) ? FileIo.SLOW_READ_MS + 3 : 0.01
    const next = reader.take()
    if (next === undefined) return { chunks, waited: true }
    if (next._tag !== "Chunk") return { chunks, waited: false }
    LentBytes.release(next.bytes)
    chunks++
  }
}

describe("a large file to send, without the thread pool", () => {
  it("Part10.loadDataSet gives a large file's stream synchronously", () => {
    const where = part10File("large", Part10.WHOLE_READ_LIMIT + 3 * Part10.STREAM_CHUNK)
    const meta = Effect.runSync(Part10.readFileMeta(where))
    // before: a synchronous look, then an asynchronous open, fstat and close (`runSync` failed on them)
    const loaded = Effect.runSyncExit(Part10.loadDataSet(where, meta))
    assert.isTrue(Exit.isSuccess(loaded), String(loaded))
    if (Exit.isSuccess(loaded)) assert.notInstanceOf(loaded.value, Uint8Array)
  })

  it("a large file changed since its meta was read still fails at once", () => {
    const where = part10File("changed", Part10.WHOLE_READ_LIMIT + Part10.STREAM_CHUNK)
    const meta = Effect.runSync(Part10.readFileMeta(where))
    fs.appendFileSync(where, Buffer.alloc(2))
    const loaded = Effect.runSyncExit(Part10.loadDataSet(where, meta))
    assert.isTrue(Exit.isFailure(loaded))
  })

  it("a ChunkReader opens its file synchronously: the first chunk is there at once", async () => {
    const file = plainFile("open-now", 4 * CHUNK)
    let first: string | undefined
    const fiber = Effect.runFork(
      Effect.scoped(
        Effect.map(FileIo.openChunkReader(file.where, 0, CHUNK, String, file.seen), (reader) => {
          const next = reader.take()
          if (next?._tag === "Chunk") LentBytes.release(next.bytes)
          first = next?._tag ?? "waiting"
        })
      )
    )
    // before: the open and its fstat ran on the thread pool, so nothing was taken yet
    assert.strictEqual(first, "Chunk", "taken as the fiber started, with no wait for the open")
    const exit = await Effect.runPromise(Fiber.await(fiber))
    assert.isTrue(Exit.isSuccess(exit), String(exit))
  })

  it("a ChunkReader refuses a file changed since it was seen, at its open", () => {
    const file = plainFile("open-changed", 2 * CHUNK)
    fs.appendFileSync(file.where, Buffer.alloc(1))
    const opened = Effect.runSyncExit(Effect.scoped(FileIo.openChunkReader(file.where, 0, CHUNK, String, file.seen)))
    assert.isTrue(Exit.isFailure(opened))
  })

  it("slow reads now and then (a busy scheduler) keep the reads synchronous", async () => {
    const file = plainFile("sporadic", 40 * CHUNK)
    const taken = await Effect.runPromise(
      Effect.scoped(
        // every other read slow, never SLOW_READS in a row: before, the third moved the rest onto the thread pool
        Effect.map(FileIo.openChunkReader(file.where, 0, CHUNK, String, file.seen), (reader) =>
          takeAll(reader, (i) => i % 2 === 0)
        )
      )
    )
    assert.deepStrictEqual(taken, { chunks: 40, waited: true }, "every chunk at once; only the end's check waited")
  })

  it(`${FileIo.SLOW_READS} slow reads in a row (the disk) move the rest onto the thread pool`, async () => {
    const file = plainFile("disk", 40 * CHUNK)
    const taken = await Effect.runPromise(
      Effect.scoped(
        Effect.map(FileIo.openChunkReader(file.where, 0, CHUNK, String, file.seen), (reader) =>
          takeAll(reader, (i) => i >= 5)
        )
      )
    )
    // reads 0-4 fast, 5-7 slow and synchronous (taken as chunks 5-7), read 8 on the thread pool
    assert.deepStrictEqual(taken, { chunks: 5 + FileIo.SLOW_READS, waited: true })
  })
})
