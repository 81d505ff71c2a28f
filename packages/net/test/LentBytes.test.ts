/**
 * Lent read buffers: a pooled file read's buffer goes back to its pool only once the sender holds no view of it
 * and the socket has taken every write that carried it; files streamed through the pool arrive intact, however
 * the PDUs cut across the reads, and chunks a consumer keeps (not sent) are never refilled.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { randomBytes } from "node:crypto"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import { Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as FileIo from "../src/dimse/FileIo.ts"
import * as Part10 from "../src/dimse/Part10.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import * as LentBytes from "../src/upper/LentBytes.ts"
import { CT, testAe } from "./support.ts"

// The file's bytes as they are (random, not a data set): past `Scu.storeFile`'s structural check, through the same
// pooled read (`Part10.loadDataSet`) and send.
const storeUnchecked = (channel: Parameters<typeof Scu.storeLoaded>[0], where: string) =>
  Effect.flatMap(Scu.describeFile(where), (meta) =>
    Effect.flatMap(Part10.loadDataSet(where, meta), (loaded) => Scu.storeLoaded(channel, meta, loaded))
  )

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-lent-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

// A lent buffer and a counter of its returns.
const lent = (size = 1024) => {
  const state = { givenBack: 0 }
  const bytes = LentBytes.lend(new Uint8Array(size), () => state.givenBack++)
  return { bytes, state }
}

describe("LentBytes", () => {
  it("a buffer goes back once the sender released it and every write carrying it was taken", () => {
    const { bytes, state } = lent()
    assert.isTrue(LentBytes.isLent(bytes))
    assert.isTrue(LentBytes.isLent(bytes.subarray(100, 200)), "views carry the lease")
    const first = LentBytes.holdForWrite([new Uint8Array(12), bytes.subarray(0, 512)])!
    const second = LentBytes.holdForWrite([bytes.subarray(512, 700), bytes.subarray(700)])!
    LentBytes.release(bytes)
    assert.isFalse(LentBytes.isLent(bytes), "released by the sender")
    assert.strictEqual(state.givenBack, 0, "two writes still carry it")
    first()
    assert.strictEqual(state.givenBack, 0, "one write still carries it")
    second()
    assert.strictEqual(state.givenBack, 1)
    second()
    LentBytes.release(bytes)
    assert.strictEqual(state.givenBack, 1, "given back once")
  })

  it("a write taken before the sender releases: back at the release", () => {
    const { bytes, state } = lent()
    LentBytes.holdForWrite([bytes])!()
    assert.strictEqual(state.givenBack, 0)
    LentBytes.release(bytes)
    assert.strictEqual(state.givenBack, 1)
  })

  it("small chunks (possibly in V8's heap) are never lent; writes without leases hold nothing", () => {
    const { bytes, state } = lent(64)
    assert.isFalse(LentBytes.isLent(bytes))
    LentBytes.release(bytes)
    assert.strictEqual(state.givenBack, 0)
    assert.isUndefined(LentBytes.holdForWrite([new Uint8Array(4096), bytes]))
  })

  it("the tracker releases a chunk only once the fragmenter can hold none of its bytes", () => {
    const chunks = [lent(1000), lent(1000), lent(1000), lent(1000)]
    const tracker = LentBytes.tracker(1500)
    const borrowed = new Uint8Array(1000)
    assert.isFalse(tracker.keep(borrowed), "a chunk not lent is the caller's to copy")
    for (const { bytes } of chunks) assert.isTrue(tracker.keep(bytes))
    // 5000 bytes pushed, up to the last 1500 held back: chunks ending at 2000 and 3000 are released
    tracker.written()
    assert.deepStrictEqual(
      chunks.map((c) => c.state.givenBack),
      [1, 1, 0, 0]
    )
    tracker.releaseAll()
    assert.deepStrictEqual(
      chunks.map((c) => c.state.givenBack),
      [1, 1, 1, 1]
    )
  })
})

// Whether two byte arrays are equal (no diff of megabytes printed when they are not).
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)

// A Part 10 file of `size` random data set bytes.
const randomFile = (name: string, size: number) => {
  const body = new Uint8Array(randomBytes(size))
  const meta = Part10.writeMeta({
    transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
    sopClassUid: CT,
    sopInstanceUid: `1.2.3.${name.length}.${size}`,
    implementationClassUid: "1.2.3.4"
  })
  const where = path.join(tmp, `${name}.dcm`)
  fs.writeFileSync(where, Buffer.concat([meta, body]))
  return { where, body, dataSetOffset: meta.length }
}

describe("pooled file reads", () => {
  it.effect("chunks a consumer keeps without sending them are never refilled", () =>
    Effect.gen(function* () {
      const file = randomFile("kept", Part10.WHOLE_READ_LIMIT + 3 * Part10.STREAM_CHUNK + 100)
      const chunks = yield* Stream.runCollect(Part10.streamDataSet(file.where, file))
      assert.isAbove(chunks.length, 3)
      // more reads after them: none may land in a kept chunk's buffer
      yield* Stream.runDrain(Part10.streamDataSet(file.where, file))
      assert.isTrue(same(Buffer.concat([...chunks]), file.body))
    })
  )

  // A slow SCP (a handler that first waits) fills the socket buffers, so that the SCU's writes are held by Node
  // while more of the file is read: a buffer given back before Node called back would be refilled under them.
  const cases = [
    { maxPduLength: 16384, sizes: [6 * Part10.STREAM_CHUNK + 4322, 5 * Part10.STREAM_CHUNK + 1234], slow: false },
    { maxPduLength: 1 << 20, sizes: [6 * Part10.STREAM_CHUNK + 4322, Part10.WHOLE_READ_LIMIT + 2], slow: false },
    { maxPduLength: 16384, sizes: [24 << 20, 20 << 20], slow: true }
  ]
  for (const { maxPduLength, sizes, slow } of cases) {
    const title = `max PDU ${maxPduLength}${slow ? ", slow SCP" : ""}`
    it.live(`files sent through the pool arrive intact and its buffers come back (${title})`, () =>
      Effect.gen(function* () {
        const received: Array<{ readonly copy: Uint8Array; readonly kept: ReadonlyArray<Uint8Array> }> = []
        const storage = Layer.succeed(Scp.StorageService)({
          store: (request) =>
            Effect.gen(function* () {
              if (slow) yield* Effect.sleep("300 millis")
              // The handler keeps every fragment: they must stay as they arrived.
              const kept = yield* Stream.runCollect(request.dataSet).pipe(Effect.orDie)
              received.push({ copy: new Uint8Array(Buffer.concat([...kept])), kept })
              return { status: Status.SUCCESS }
            })
        })
        const scpAe = yield* testAe({
          aeTitle: "NETDICOM-SCP",
          maxPduLength,
          contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]
        })
        const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(storage))
        const ae = yield* testAe({ aeTitle: "NETDICOM-SCU", maxPduLength })
        const channel = yield* Scu.connect(ae, {
          host: "127.0.0.1",
          port: server.port,
          calledAeTitle: "NETDICOM-SCP",
          contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]
        })
        const files = sizes.map((size, i) => randomFile(`sent-${maxPduLength}-${slow}-${i}`, size))
        // (Leases of chunks another test kept and never sent stay outstanding.)
        const before = LentBytes.outstandingLeases()
        for (const file of files) {
          const r = yield* storeUnchecked(channel, file.where)
          assert.strictEqual(r.status, Status.SUCCESS)
          // Every lease was settled: the file's buffers are back in the pool, ready for the next file.
          assert.strictEqual(LentBytes.outstandingLeases(), before)
          assert.isAbove(FileIo.pooledBuffers(Part10.STREAM_CHUNK), 0)
        }
        assert.strictEqual(received.length, files.length)
        files.forEach((file, i) => {
          assert.isTrue(same(received[i]!.copy, file.body), `file ${i} as it arrived`)
          assert.isTrue(same(Buffer.concat([...received[i]!.kept]), file.body), `file ${i} as kept`)
        })
      })
    )
  }
})
