/**
 * A large file's data set sent from its reads (Round 14 of the performance work): the chunks of a file the library
 * streams are read synchronously while they come from the page cache and written to the association from the reads
 * themselves, the fiber waiting only where the socket must drain; a file changed while it is sent still fails its
 * C-STORE and aborts the association; a send interrupted half way closes the file and gives its buffers back.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { randomBytes } from "node:crypto"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import { Status } from "@netdicom/wire"
import * as Association from "../src/association/Association.ts"
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as DimseChannel from "../src/dimse/DimseChannel.ts"
import * as FileIo from "../src/dimse/FileIo.ts"
import * as Part10 from "../src/dimse/Part10.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import * as LentBytes from "../src/upper/LentBytes.ts"
import { CT, testAe } from "./support.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-file-send-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const contexts = [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]

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
  return { where, body }
}

// Turns of the event loop, counted by `tickTurns` where the sender's own next turn runs (`setImmediate`).
let loopTurn = 0
const tickTurns = (): (() => void) => {
  let ticking = true
  const tick = () => {
    loopTurn++
    if (ticking) setImmediate(tick)
  }
  setImmediate(tick)
  return () => {
    ticking = false
  }
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)

// A netdicom SCP keeping each data set it stores (after `gate`, when given), and the SCU's association to it, whose
// P-DATA writes are counted: `writes` (written at once from a running effect or callback) and `sends` (effects run).
const connected = (gate?: Deferred.Deferred<void>, maxPduLength?: number) =>
  Effect.gen(function* () {
    const received: Array<Uint8Array> = []
    const storage = Layer.succeed(Scp.StorageService)({
      store: (request) =>
        Effect.gen(function* () {
          if (gate !== undefined) yield* Deferred.await(gate)
          const chunks = yield* Stream.runCollect(request.dataSet).pipe(Effect.orDie)
          received.push(new Uint8Array(Buffer.concat([...chunks])))
          return { status: Status.SUCCESS }
        })
    })
    const scpAe = yield* testAe({
      aeTitle: "NETDICOM-SCP",
      contexts,
      ...(maxPduLength === undefined ? {} : { maxPduLength })
    })
    const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(storage))
    const scuAe = yield* testAe({ aeTitle: "NETDICOM-SCU" })
    const association = yield* Association.connect(scuAe, {
      host: "127.0.0.1",
      port: server.port,
      calledAeTitle: "NETDICOM-SCP",
      contexts
    })
    // pieces of each write at once: a framed read goes out as one piece (its PDUs, headers written in its gaps)
    // and the turn of the event loop each write came in (`loopTurn`, counted while a test ticks it)
    const counts = { writes: 0, sends: 0, pieces: [] as Array<number>, turns: [] as Array<number> }
    const counted: Association.Association = {
      ...association,
      writePData: (pdus) => {
        counts.writes++
        counts.pieces.push(pdus.length)
        counts.turns.push(loopTurn)
        return association.writePData(pdus)
      },
      sendPData: (pdus) => {
        counts.sends++
        return association.sendPData(pdus)
      }
    }
    const channel = yield* DimseChannel.make(counted)
    return { channel, counts, received }
  })

const storeFile = (channel: DimseChannel.DimseChannel, where: string) =>
  Effect.flatMap(Scu.describeFile(where), (meta) =>
    Effect.flatMap(Part10.loadDataSet(where, meta), (loaded) => Scu.storeLoaded(channel, meta, loaded))
  )

describe("a large file's data set sent from its reads", () => {
  it.live("is written batch by batch from the reads, with no effect run per batch, and arrives intact", () =>
    Effect.gen(function* () {
      const { channel, counts, received } = yield* connected()
      const batches = 12
      const file = randomFile("pumped", Part10.WHOLE_READ_LIMIT + batches * Part10.STREAM_CHUNK + 1234)
      const r = yield* storeFile(channel, file.where)
      assert.strictEqual(r.status, Status.SUCCESS)
      assert.strictEqual(received.length, 1)
      assert.isTrue(same(received[0]!, file.body), "the data set as it arrived")
      // A batch per read of STREAM_CHUNK bytes, all but the last written at once; through a stream, each was an
      // effect run (`sendPData`) and none was written at once.
      assert.isAtLeast(counts.writes, batches)
      assert.isAtMost(counts.sends, 1, "the last batch (with the last PDU) only")
    })
  )

  it.live("writes three reads' batches in a turn of the event loop, then yields the turn (not framed)", () =>
    Effect.gen(function* () {
      // at max PDU 131072 two PDUs and a bit fill a read: not framed
      const { channel, counts, received } = yield* connected(undefined, 131072)
      const reads = 24
      const file = randomFile("turns", Part10.WHOLE_READ_LIMIT + reads * Part10.STREAM_CHUNK)
      const stop = tickTurns()
      const r = yield* Effect.ensuring(storeFile(channel, file.where), Effect.sync(stop))
      assert.strictEqual(r.status, Status.SUCCESS)
      assert.isTrue(same(received[0]!, file.body), "the data set as it arrived")
      // writes per turn: before, one batch a turn (two where a drain's wake-up and a turn met)
      const perTurn = new Map<number, number>()
      for (const t of counts.turns) perTurn.set(t, (perTurn.get(t) ?? 0) + 1)
      const most = Math.max(...perTurn.values())
      assert.isAtLeast(most, 3, `writes per turn: ${[...perTurn.values()].join(",")}`)
      assert.isAtMost(perTurn.size * 3, counts.writes + 6, `writes per turn: ${[...perTurn.values()].join(",")}`)
    })
  )

  // Framed reads: sizes around a PDU's capacity and a read's frames (odd ones end with a NUL), at the common PDU sizes.
  for (const maxPduLength of [16384, 65536 - 10]) {
    it.live(`goes out as whole PDUs read in place, a piece per write, intact (max PDU ${maxPduLength})`, () =>
      Effect.gen(function* () {
        const { channel, counts, received } = yield* connected(undefined, maxPduLength)
        const capacity = maxPduLength - 12
        const sizes = [
          Part10.WHOLE_READ_LIMIT + 7 * Part10.STREAM_CHUNK + 1235,
          Part10.WHOLE_READ_LIMIT + 4 * capacity,
          Part10.WHOLE_READ_LIMIT + 1
        ]
        for (const [i, size] of sizes.entries()) {
          counts.pieces.length = 0
          const file = randomFile(`framed-${maxPduLength}-${i}`, size)
          const r = yield* storeFile(channel, file.where)
          assert.strictEqual(r.status, Status.SUCCESS)
          const expected = size % 2 === 1 ? Buffer.concat([file.body, Buffer.of(0)]) : file.body
          assert.isTrue(same(received[i]!, expected), `file ${i} (${size} bytes) as it arrived`)
          // the first write carries the command's PDU too
          assert.isAbove(counts.pieces.length, 3)
          assert.isTrue(
            counts.pieces.slice(1).every((n) => n === 1),
            `pieces per write: ${counts.pieces.join(",")}`
          )
        }
      })
    )
  }

  it.effect("reads from the page cache are synchronous: a chunk is there as soon as it is asked for", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const file = randomFile("synchronous", 3 * Part10.STREAM_CHUNK + 10)
        const meta = yield* Part10.readFileMeta(file.where)
        const reader = FileIo.chunkReaderOf(Part10.streamDataSet(file.where, meta, { chunkSize: Part10.STREAM_CHUNK }))
        assert.isDefined(reader, "a stream of lentReads has its ChunkReader")
        const reads = yield* reader!()
        const taken: Array<Uint8Array> = []
        while (true) {
          const next = reads.take()
          // without waiting for the thread pool: every chunk (and the end's check, an fstat, aside) comes at once
          if (next === undefined) {
            assert.strictEqual(taken.length, 4, "only the end's check is waited for")
            yield* Effect.callback<void>((resume) => reads.whenReady(() => resume(Effect.void)))
            continue
          }
          if (next._tag !== "Chunk") {
            assert.strictEqual(next._tag, "End")
            break
          }
          taken.push(new Uint8Array(next.bytes))
          LentBytes.release(next.bytes)
        }
        assert.isTrue(same(new Uint8Array(Buffer.concat(taken)), file.body))
      })
    )
  )

  it.effect(
    "Part10.asDataSource (the CLI's store) keeps a streamed file sent from its reads; failures as DataSourceFailed",
    () =>
      Effect.gen(function* () {
        const size = Part10.WHOLE_READ_LIMIT + 2 * Part10.STREAM_CHUNK
        const file = randomFile("as-data-source", size)
        const meta = yield* Scu.describeFile(file.where)
        const loaded = yield* Part10.loadDataSet(file.where, meta)
        assert.notInstanceOf(loaded, Uint8Array)
        const source = Part10.asDataSource(loaded)
        assert.notInstanceOf(source, Uint8Array)
        if (source instanceof Uint8Array) return
        assert.isDefined(FileIo.chunkReaderOf(source), "sent from its reads, as Scu.storeLoaded's")
        // the file grew since its meta was read: the stream fails at its end, as a data set source does
        fs.appendFileSync(file.where, Buffer.alloc(10))
        const e = yield* Effect.flip(Stream.runDrain(source))
        assert.strictEqual(e._tag, "DataSourceFailed")
        assert.match(e.detail, /changed/)
      })
  )

  it.live("a file cut short while it is sent fails its C-STORE, and the association is aborted", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const { channel, received } = yield* connected(gate)
      const size = Part10.WHOLE_READ_LIMIT + 64 * Part10.STREAM_CHUNK
      const file = randomFile("cut", size)
      const meta = yield* Scu.describeFile(file.where)
      const loaded = yield* Part10.loadDataSet(file.where, meta)
      // The SCP does not read until the gate opens: the socket fills, the sender waits for it to drain, and the
      // file is cut short meanwhile.
      const sending = yield* Effect.forkChild(Scu.storeLoaded(channel, meta, loaded))
      yield* Effect.sleep("200 millis")
      fs.truncateSync(file.where, size / 2)
      yield* Deferred.succeed(gate, undefined)
      const exit = yield* Fiber.await(sending)
      assert.isTrue(Exit.isFailure(exit), "the C-STORE failed")
      const ended = yield* channel.association.ended
      assert.strictEqual(ended._tag, "Aborted")
      assert.strictEqual(received.length, 0)
    })
  )

  it.live("a send interrupted half way gives its read buffers back", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const scope = yield* Scope.make()
      const { channel } = yield* connected(gate).pipe(Scope.provide(scope))
      const file = randomFile("interrupted", Part10.WHOLE_READ_LIMIT + 64 * Part10.STREAM_CHUNK)
      const before = LentBytes.outstandingLeases()
      const sending = yield* Effect.forkChild(storeFile(channel, file.where))
      yield* Effect.sleep("200 millis")
      yield* Fiber.interrupt(sending)
      yield* Scope.close(scope, Exit.void)
      // Once the socket is gone Node calls back for every write it held: every lease settles.
      for (let i = 0; i < 100 && LentBytes.outstandingLeases() !== before; i++) yield* Effect.sleep("10 millis")
      assert.strictEqual(LentBytes.outstandingLeases(), before)
    })
  )
})
