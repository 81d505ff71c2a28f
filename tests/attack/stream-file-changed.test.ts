/**
 * A large file (streamed, not read whole) that changes while `Part10.loadDataSet` streams it, after its meta was read
 * and its data set checked: cut short, grown, or rewritten in place. Each must end the stream with a typed
 * `FileReadFailed` (the sender then aborts the half-sent message), never a shorter or longer data set passed off as
 * the file: a peer that does not walk what it receives (DCMTK's storescp) would store it as sent. An unchanged file
 * still streams byte for byte.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Stream } from "effect"
import { Part10 } from "@netdicom/net"
import { CT, EXPLICIT } from "./support.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-stream-changed-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

// 4 MiB of data set: past WHOLE_READ_LIMIT, so streamed in STREAM_CHUNK pieces
const SIZE = 4 << 20

const write = (name: string): { readonly file: string; readonly dataSet: Buffer } => {
  const meta = Part10.writeMeta({
    transferSyntaxUid: EXPLICIT,
    sopClassUid: CT,
    sopInstanceUid: "1.2.3.4.5",
    implementationClassUid: "1.2.3.4"
  })
  const dataSet = Buffer.alloc(SIZE)
  for (let i = 0; i < SIZE; i++) dataSet[i] = (i * 7) & 0xff
  const file = path.join(tmp, `${name}.dcm`)
  fs.writeFileSync(file, Buffer.concat([meta, dataSet]))
  return { file, dataSet }
}

/** Streams the file's data set as `netdicom store` would send it, making `change` after the first chunk. */
const streamChanging = (name: string, change: (file: string) => void) =>
  Effect.gen(function* () {
    const { file, dataSet } = write(name)
    const meta = yield* Part10.readFileMeta(file)
    const loaded = yield* Part10.loadDataSet(file, meta)
    assert.isFalse(loaded instanceof Uint8Array, "a 4 MiB data set is streamed")
    const stream = loaded instanceof Uint8Array ? Stream.make(loaded) : loaded
    const received: Array<Uint8Array> = []
    const exit = yield* Effect.exit(
      Stream.runForEach(stream, (chunk) =>
        Effect.sync(() => {
          if (received.length === 0) change(file)
          received.push(Uint8Array.from(chunk))
        })
      )
    )
    return { exit, received: Buffer.concat(received), dataSet }
  })

const assertFailed = (exit: Exit.Exit<void, Part10.FileReadFailed>, what: string) => {
  assert.isTrue(Exit.isFailure(exit), `${what}: streamed as if whole`)
  if (Exit.isFailure(exit)) {
    assert.isFalse(Cause.hasDies(exit.cause), `${what}: a typed failure, not a defect`)
    const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
    assert.strictEqual(failure?._tag === "Fail" ? failure.error._tag : undefined, "FileReadFailed", what)
    if (failure?._tag === "Fail") assert.match(failure.error.message, /changed since/, what)
  }
}

describe("a streamed file changed while it is sent", () => {
  it.live("unchanged: every byte, once", () =>
    Effect.gen(function* () {
      const { exit, received, dataSet } = yield* streamChanging("same", () => {})
      assert.isTrue(Exit.isSuccess(exit))
      assert.isTrue(received.equals(dataSet))
    })
  )

  it.live("cut short: fails", () =>
    Effect.gen(function* () {
      const { exit, received } = yield* streamChanging("cut", (file) => fs.truncateSync(file, 2 << 20))
      assertFailed(exit, "cut short")
      assert.isBelow(received.length, SIZE)
    })
  )

  it.live("grown: fails, and nothing past the size checked is sent", () =>
    Effect.gen(function* () {
      const { exit, received } = yield* streamChanging("grown", (file) =>
        fs.appendFileSync(file, Buffer.alloc(1 << 20, 7))
      )
      assertFailed(exit, "grown")
      assert.isAtMost(received.length, SIZE)
    })
  )

  it.live("rewritten in place, same size: fails", () =>
    Effect.gen(function* () {
      const { exit } = yield* streamChanging("rewritten", (file) => {
        const fd = fs.openSync(file, "r+")
        fs.writeSync(fd, Buffer.alloc(1000, 9), 0, 1000, 3 << 20)
        fs.closeSync(fd)
        fs.utimesSync(file, new Date(), new Date(Date.now() + 5000))
      })
      assertFailed(exit, "rewritten")
    })
  )
})
