/**
 * A file rewritten after its meta was read (and `netdicom store` checked its data set), to the same size and with
 * its modification time set back as it was (`cp -p`, `touch -r`, or a copy made so and renamed into place): the
 * size and modification time `Part10.loadDataSet` compares are those of the file checked, yet the bytes are not.
 * Its status change time (`ctime`, which no user can set) tells it: the load must fail with `FileReadFailed`, for a
 * small file read whole and for a large one streamed alike.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Stream } from "effect"
import { Part10 } from "@netdicom/net"
import { CT, EXPLICIT } from "./support.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-time-set-back-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const meta = Part10.writeMeta({
  transferSyntaxUid: EXPLICIT,
  sopClassUid: CT,
  sopInstanceUid: "1.2.3.4.5",
  implementationClassUid: "1.2.3.4"
})

const loadRewritten = (name: string, size: number, how: "in place" | "renamed") =>
  Effect.gen(function* () {
    const file = path.join(tmp, `${name}.dcm`)
    fs.writeFileSync(file, Buffer.concat([meta, Buffer.alloc(size, 1)]))
    // a time in whole seconds, which utimes sets back exactly
    const time = Math.floor(Date.now() / 1000) - 60
    fs.utimesSync(file, time, time)
    const info = yield* Part10.readFileMeta(file)
    // ctime has at least the file system's granularity: let it move on
    yield* Effect.sleep("20 millis")
    const other = Buffer.concat([meta, Buffer.alloc(size, 2)])
    if (how === "in place") fs.writeFileSync(file, other)
    else {
      fs.writeFileSync(`${file}.new`, other)
      fs.utimesSync(`${file}.new`, time, time)
      fs.renameSync(`${file}.new`, file)
    }
    fs.utimesSync(file, time, time)
    const now = fs.statSync(file)
    assert.strictEqual(now.size, info.fileSize)
    assert.strictEqual(now.mtimeMs, info.modifiedMs)
    const loaded = yield* Effect.exit(Part10.loadDataSet(file, info))
    if (Exit.isFailure(loaded) || loaded.value instanceof Uint8Array) return Exit.asVoid(loaded)
    return yield* Effect.exit(Stream.runDrain(loaded.value))
  })

const assertFailed = (exit: Exit.Exit<void, Part10.FileReadFailed>, what: string) => {
  assert.isTrue(Exit.isFailure(exit), `${what}: loaded as the file checked`)
  if (Exit.isFailure(exit)) {
    assert.isFalse(Cause.hasDies(exit.cause))
    const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
    assert.strictEqual(failure?._tag === "Fail" ? failure.error._tag : undefined, "FileReadFailed", what)
  }
}

describe("a file rewritten to the same size with its modification time set back", () => {
  for (const how of ["in place", "renamed"] as const) {
    it.live(`small, ${how}: refused`, () =>
      Effect.map(loadRewritten(`small-${how}`, 2000, how), (exit) => assertFailed(exit, `small, ${how}`))
    )
    it.live(`streamed, ${how}: refused`, () =>
      Effect.map(loadRewritten(`large-${how}`, 3 << 20, how), (exit) => assertFailed(exit, `streamed, ${how}`))
    )
  }

  it.live("a file left alone still loads", () =>
    Effect.gen(function* () {
      const file = path.join(tmp, "alone.dcm")
      fs.writeFileSync(file, Buffer.concat([meta, Buffer.alloc(2000, 3)]))
      const info = yield* Part10.readFileMeta(file)
      const loaded = yield* Part10.loadDataSet(file, info)
      assert.isTrue(loaded instanceof Uint8Array && loaded.length === 2000)
    })
  )
})
