/**
 * `DataSetCheck.check`, the walk `netdicom store` makes of each file before it connects: a whole data set gives its
 * SOP identifiers, one cut anywhere (in its first block or past it, inside a value the walk seeks over) is
 * `DataSetTruncated`, and what is not a regular file is refused at once, a FIFO without a writer included (an open
 * that waited for a writer would hang the command).
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import { DataSetCheck, Part10 } from "@netdicom/net"
import { makeTempDir, removeDir } from "../../../tests/support/peers.ts"
import { CT, EXPLICIT_LE, IMPLICIT_LE, part10, writeFile } from "./support.ts"

const dir = makeTempDir("netdicom-datasetcheck-")
afterAll(() => removeDir(dir))

const SOP = "1.2.826.0.1.3680043.10.1478.88.1.1"

const check = async (file: string) => {
  const meta = await Effect.runPromise(Part10.readFileMeta(file))
  return Effect.runPromise(Effect.result(DataSetCheck.check(file, meta.dataSetOffset, meta.transferSyntaxUid)))
}

const instance = (transferSyntax: string) =>
  part10({
    patientId: "C1",
    patientName: "CHECK^ME",
    study: "1.2.826.0.1.3680043.10.1478.88",
    series: "1.2.826.0.1.3680043.10.1478.88.1",
    sop: SOP,
    transferSyntax,
    side: 256 // 128 KiB of pixel data: past the 64 KiB block the walk reads
  })

describe("DataSetCheck.check", () => {
  for (const syntax of [EXPLICIT_LE, IMPLICIT_LE]) {
    it(`a whole data set gives its identifiers, a cut one fails (${syntax})`, async () => {
      const bytes = instance(syntax)
      assert.isAbove(bytes.length, 128 * 1024)
      const whole = await check(writeFile(dir, `whole-${syntax}.dcm`, bytes))
      assert.isTrue(Result.isSuccess(whole))
      if (Result.isSuccess(whole)) assert.deepStrictEqual(whole.success, { sopClassUid: CT, sopInstanceUid: SOP })
      // cut inside the pixel data (past the first block, in the value the walk seeks over) and 1 byte short
      for (const cut of [bytes.length - 70_000, bytes.length - 1]) {
        const r = await check(writeFile(dir, `cut-${cut}-${syntax}.dcm`, bytes.subarray(0, cut)))
        assert.isTrue(Result.isFailure(r), `cut at ${cut} of ${bytes.length} passed`)
        if (Result.isFailure(r)) assert.strictEqual(r.failure._tag, "DataSetTruncated")
      }
    })
  }

  it("a sequence of defined length in Implicit VR (told by the dictionary) is walked into: a broken one fails", async () => {
    const le32 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24]
    // (0040,A730) Content Sequence of 16 bytes holding an item of undefined length never delimited in them
    const broken = [
      0x40,
      0,
      0x30,
      0xa7,
      ...le32(16),
      0xfe,
      0xff,
      0,
      0xe0,
      ...le32(0xffffffff),
      0x10,
      0,
      0x10,
      0,
      0,
      0,
      0,
      0
    ]
    const bytes = new Uint8Array([...instance(IMPLICIT_LE), ...broken])
    const r = await check(writeFile(dir, "implicit-broken-sequence.dcm", bytes))
    assert.isTrue(Result.isFailure(r) && r.failure._tag === "DataSetTruncated", "the file's walk")
    if (Result.isFailure(r)) assert.match(r.failure.detail, /not delimited before the end/)
    const meta = await Effect.runPromise(Part10.readFileMeta(writeFile(dir, "implicit-broken-sequence.dcm", bytes)))
    const inMemory = DataSetCheck.checkBytes(bytes.subarray(meta.dataSetOffset), IMPLICIT_LE)
    assert.isTrue(Result.isFailure(inMemory), "the walk of a file loaded whole")
  })

  it("files checked one after another each give their own identifiers", async () => {
    const files = [0, 1, 2].map((i) =>
      writeFile(
        dir,
        `seq-${i}.dcm`,
        part10({
          patientId: "S",
          patientName: "S",
          study: "1.2.3",
          series: "1.2.3.4",
          sop: `1.2.3.4.${i + 10}`,
          side: 200 - i * 90
        })
      )
    )
    for (const [i, file] of files.entries()) {
      const r = await check(file)
      assert.isTrue(Result.isSuccess(r) && r.success.sopInstanceUid === `1.2.3.4.${i + 10}`)
    }
  })

  it("a large data set is walked in steps that let other fibers run", async () => {
    // 8 MiB of empty elements after a small instance: 128 blocks of the walk, 8 steps
    const base = instance(EXPLICIT_LE)
    const empties = Buffer.alloc(8 * 1024 * 1024)
    for (let at = 0; at < empties.length; at += 8) {
      empties.writeUInt16LE(0x7fe1, at) // a private group after Pixel Data
      empties.writeUInt16LE(0x0010, at + 2)
      empties.write("LO", at + 4, "latin1")
    }
    const file = writeFile(dir, "many.dcm", Buffer.concat([base, empties]))
    const meta = await Effect.runPromise(Part10.readFileMeta(file))
    let turns = 0
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const ticker = yield* Effect.forkChild(
          Effect.forever(
            Effect.andThen(
              Effect.sync(() => void turns++),
              Effect.yieldNow
            )
          )
        )
        const r = yield* Effect.result(DataSetCheck.check(file, meta.dataSetOffset, meta.transferSyntaxUid))
        yield* Fiber.interrupt(ticker)
        return r
      })
    )
    assert.isTrue(Result.isSuccess(result) && result.success.sopInstanceUid === SOP)
    assert.isAtLeast(turns, 4, "the walk held the fibers' thread from start to end")
  })

  it("a FIFO is refused at once, not waited on", async () => {
    const fifo = path.join(dir, "fifo.dcm")
    const made = spawnSync("mkfifo", [fifo])
    assert.strictEqual(made.status, 0, made.stderr?.toString())
    const r = await Effect.runPromise(Effect.result(DataSetCheck.check(fifo, 132, EXPLICIT_LE)))
    assert.isTrue(Result.isFailure(r))
    if (Result.isFailure(r)) assert.match(r.failure.message, /not a regular file/)
    fs.rmSync(fifo)
  })
})
