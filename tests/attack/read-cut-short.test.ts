/**
 * A data set read whole (up to 1 MiB: synchronously up to 256 KiB, else in one asynchronous read) from a file cut
 * short between the `fstat` that found it unchanged and the read: `loadDataSet` must fail with `FileReadFailed`, not
 * hand the shorter bytes to the sender as the file's data set (a peer that does not walk it would store it as sent).
 *
 * The window is a few microseconds wide, so the test opens it on purpose: `node:fs`'s `readSync` and `read` are
 * wrapped to truncate the file (a real `ftruncate` of the real file) just before the first read of the data set.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { vi } from "vitest"
import { Part10 } from "@netdicom/net"
import { CT, EXPLICIT } from "./support.ts"

// Set by a test: truncates the file at `path`, once, before the first read at `position` runs.
const cut = vi.hoisted(() => ({
  at: undefined as { readonly path: string; readonly position: number; readonly to: number } | undefined
}))

vi.mock("node:fs", async (importOriginal) => {
  const original = await importOriginal<typeof import("node:fs")>()
  const before = (position: unknown) => {
    const c = cut.at
    if (c !== undefined && position === c.position) {
      cut.at = undefined
      original.truncateSync(c.path, c.to)
    }
  }
  const readSync = ((fd: number, buffer: NodeJS.ArrayBufferView, ...rest: Array<unknown>) => {
    before(rest[2])
    return (original.readSync as (...a: Array<unknown>) => number)(fd, buffer, ...rest)
  }) as typeof original.readSync
  const read = ((fd: number, ...rest: Array<unknown>) => {
    before(rest[3])
    return (original.read as (...a: Array<unknown>) => void)(fd, ...rest)
  }) as typeof original.read
  return { ...original, default: { ...original, readSync, read }, readSync, read }
})

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-read-cut-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const write = (name: string, size: number) => {
  const meta = Part10.writeMeta({
    transferSyntaxUid: EXPLICIT,
    sopClassUid: CT,
    sopInstanceUid: "1.2.3.4.5",
    implementationClassUid: "1.2.3.4"
  })
  const file = path.join(tmp, `${name}.dcm`)
  fs.writeFileSync(file, Buffer.concat([meta, Buffer.alloc(size, 1)]))
  return file
}

const loadCut = (name: string, size: number) =>
  Effect.gen(function* () {
    const file = write(name, size)
    const meta = yield* Part10.readFileMeta(file)
    cut.at = { path: file, position: meta.dataSetOffset, to: meta.dataSetOffset + size / 2 }
    const exit = yield* Effect.exit(Part10.loadDataSet(file, meta))
    assert.isUndefined(cut.at, "the file was cut before its data set was read")
    return exit
  })

const assertFailed = (exit: Exit.Exit<unknown, Part10.FileReadFailed>, what: string) => {
  assert.isTrue(Exit.isFailure(exit), `${what}: the shorter bytes were taken for the data set`)
  if (Exit.isFailure(exit)) {
    assert.isFalse(Cause.hasDies(exit.cause))
    const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
    assert.strictEqual(failure?._tag === "Fail" ? failure.error._tag : undefined, "FileReadFailed")
  }
}

describe("a file cut short between its check and the read of its data set", () => {
  it.live("read synchronously (100 KB): fails", () =>
    Effect.map(loadCut("sync", 100_000), (exit) => assertFailed(exit, "synchronous read"))
  )

  it.live("read in one asynchronous piece (600 KB): fails", () =>
    Effect.map(loadCut("async", 600_000), (exit) => assertFailed(exit, "asynchronous read"))
  )
})
