/**
 * A file replaced by a FIFO between the synchronous read of its first 64 KiB and the asynchronous open that
 * follows it: `Part10.readFileMeta` of a File Meta Information longer than the first read (read again,
 * asynchronously), and `netdicom store`'s look at a deflated file's identifiers (`Files.inspect`). An open that waits
 * for a writer holds a thread of libuv's pool for ever and the command with it; both must come out at once.
 *
 * The window is made wide and certain, not raced: every thread of the pool is first held by an open of another FIFO,
 * so the open under test waits in the pool's queue while the file is swapped, and runs once they are let go.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { deflateRawSync } from "node:zlib"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { Part10 } from "@netdicom/net"
import * as Files from "../../packages/cli/src/Files.ts"
import { CT, DEFLATED, EXPLICIT } from "./support.ts"
import { element, uid } from "../support/elements.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-fifo-swap-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const POOL = Number(process.env["UV_THREADPOOL_SIZE"]) || 4

const mkfifo = (where: string) => {
  const made = spawnSync("mkfifo", [where])
  assert.strictEqual(made.status, 0, made.stderr?.toString())
}

// Lets every open waiting on the FIFO at `where` go on (a writer opens it and closes at once: they read EOF).
const release = (where: string) => {
  try {
    fs.closeSync(fs.openSync(where, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK))
  } catch {
    // no reader waiting
  }
}

/** Holds every thread of the pool with an open of a FIFO; `free` lets them go and closes what they opened. */
const holdPool = (name: string) => {
  const gate = path.join(tmp, `${name}.gate`)
  mkfifo(gate)
  const opened = Array.from(
    { length: POOL },
    () =>
      new Promise<void>((done) =>
        fs.open(gate, fs.constants.O_RDONLY, (error, fd) => {
          if (!error) fs.close(fd, () => done())
          else done()
        })
      )
  )
  return {
    free: async () => {
      release(gate)
      await Promise.all(opened)
    }
  }
}

/** Starts `run` with the pool held, swaps `file` for a FIFO while its open waits, and gives what `run` gave. */
const swapWhileQueued = async <A>(file: string, run: () => Promise<A>): Promise<A | "hung"> => {
  const pool = holdPool(path.basename(file))
  const outcome = run()
  // the synchronous part ran, the asynchronous open is queued behind the held threads
  await new Promise((done) => setTimeout(done, 100))
  const fifo = `${file}.fifo`
  mkfifo(fifo)
  fs.renameSync(fifo, file)
  await pool.free()
  const result = await Promise.race([outcome, new Promise<"hung">((done) => setTimeout(() => done("hung"), 3000))])
  // without the fix, the open is still waiting: let it go so the worker can end
  release(file)
  return result
}

const identifiers = (sop: string) =>
  Buffer.concat([element(0x0008, 0x0016, "UI", uid(CT)), element(0x0008, 0x0018, "UI", uid(sop))])

describe("a file swapped for a FIFO while its asynchronous open waits", () => {
  it("readFileMeta of a File Meta Information past the first 64 KiB fails at once", async () => {
    // (0002,0102) Private Information of 100,000 bytes: the meta group is not in the first read
    const group = Buffer.concat([
      element(0x0002, 0x0001, "OB", Buffer.from([0, 1])),
      element(0x0002, 0x0002, "UI", uid(CT)),
      element(0x0002, 0x0003, "UI", uid("1.2.3.4.1")),
      element(0x0002, 0x0010, "UI", uid(EXPLICIT)),
      element(0x0002, 0x0102, "OB", Buffer.alloc(100_000))
    ])
    const length = Buffer.alloc(4)
    length.writeUInt32LE(group.length)
    const file = path.join(tmp, "long-meta.dcm")
    const bytes = Buffer.concat([
      Buffer.alloc(128),
      Buffer.from("DICM"),
      element(0x0002, 0x0000, "UL", length),
      group,
      identifiers("1.2.3.4.1")
    ])
    fs.writeFileSync(file, bytes)
    // as it is, the file reads (through the asynchronous path)
    const whole = await Effect.runPromise(Effect.result(Part10.readFileMeta(file)))
    assert.isTrue(Result.isSuccess(whole) && whole.success.sopInstanceUid === "1.2.3.4.1")

    const r = await swapWhileQueued(file, () => Effect.runPromise(Effect.result(Part10.readFileMeta(file))))
    assert.notStrictEqual(r, "hung", "readFileMeta waited for a writer on the FIFO")
    if (r !== "hung") {
      assert.isTrue(Result.isFailure(r))
      if (Result.isFailure(r)) {
        assert.strictEqual(r.failure._tag, "FileReadFailed")
        assert.match(r.failure.message, /not a regular file/)
      }
    }
  })

  it("netdicom store's look at a deflated file's identifiers does not wait on it", async () => {
    const meta = Part10.writeMeta({
      transferSyntaxUid: DEFLATED,
      sopClassUid: CT,
      sopInstanceUid: "1.2.3.4.2",
      implementationClassUid: "1.2.3.4"
    })
    const file = path.join(tmp, "deflated.dcm")
    fs.writeFileSync(file, Buffer.concat([meta, deflateRawSync(identifiers("1.2.3.4.2"))]))
    const whole = await Effect.runPromise(Effect.result(Files.inspect(file)))
    assert.isTrue(Result.isSuccess(whole) && whole.success.sopInstanceUid === "1.2.3.4.2")

    const r = await swapWhileQueued(file, () => Effect.runPromise(Effect.result(Files.inspect(file))))
    assert.notStrictEqual(r, "hung", "Files.inspect waited for a writer on the FIFO")
    if (r !== "hung") {
      assert.isTrue(Result.isFailure(r), "a FIFO in the file's place is not sendable")
      if (Result.isFailure(r)) assert.match(r.failure.reason, /not a regular file/)
    }
  })
})
