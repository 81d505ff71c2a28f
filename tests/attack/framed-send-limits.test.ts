/**
 * A large file sent from its framed reads (docs/performance.md Round 14, large) to a raw SCP announcing a given
 * maximum PDU length, the data set checked byte for byte as it arrived: at the framing limits (the least maximum we
 * accept, 1024, odd maxima, one PDU or four a read, none above 65530), a file ending one PDU past a read, at a read's
 * end, or odd (a trailing NUL). Then the file changed while it is sent (cut short, grown, rewritten in place, renamed
 * over; framed at 16384, and not at 131072), the peer aborting, no longer reading, the caller interrupting: each ends
 * with a typed error and no last fragment sent, or a whole send of the bytes the file had; every lease comes back.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { randomBytes } from "node:crypto"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber } from "effect"
import { Part10, Scu } from "@netdicom/net"
import { Fragmenter, Status as DimseStatus } from "@netdicom/wire"
import * as LentBytes from "../../packages/net/src/upper/LentBytes.ts"
import { connectScu, type RawScpOptions, scopedRawScp, scuAe, waitFor } from "./hotpath-support.ts"
import { CT, EXPLICIT, pdvsOf } from "./support.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-framed-send-limits-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

// The file's bytes as they are (random, not a data set), through `loadDataSet`'s streamed, framed reads.
const storeUnchecked = (channel: Parameters<typeof Scu.storeLoaded>[0], where: string) =>
  Effect.flatMap(Scu.describeFile(where), (meta) =>
    Effect.flatMap(Part10.loadDataSet(where, meta), (loaded) => Scu.storeLoaded(channel, meta, loaded))
  )

let files = 0
const metaOf = () =>
  Part10.writeMeta({
    transferSyntaxUid: EXPLICIT,
    sopClassUid: CT,
    sopInstanceUid: `1.2.826.0.23.${++files}`,
    implementationClassUid: "1.2.3.4"
  })

const randomFile = (size: number) => {
  const body = Buffer.from(randomBytes(size))
  const meta = metaOf()
  const where = path.join(tmp, `f${files}.dcm`)
  fs.writeFileSync(where, Buffer.concat([meta, body]))
  return { where, meta, body }
}

// A raw SCP keeping the data set fragments it receives, in order, and whether the last one came.
const recordingScp = (options: RawScpOptions) =>
  Effect.gen(function* () {
    const seen = { data: [] as Array<Buffer>, last: false, afterLast: false, largest: 0 }
    const scp = yield* scopedRawScp({
      ...options,
      onPdu: (socket, type, body) => {
        if (type === 0x04) {
          seen.largest = Math.max(seen.largest, body.length)
          for (const pdv of pdvsOf(body)) {
            if ((pdv.control & 1) === 1) continue
            if (seen.last) seen.afterLast = true
            seen.data.push(Buffer.from(pdv.data))
            if ((pdv.control & 2) === 2) seen.last = true
          }
        }
        options.onPdu?.(socket, type, body)
      }
    })
    return { scp, seen }
  })

const leasesBack = (before: number) =>
  Effect.map(
    waitFor(Effect.sync(LentBytes.outstandingLeases), (n) => n === before, 3000),
    (n) => assert.strictEqual(n, before, "every lease given back")
  )

const padded = (body: Buffer) => (body.length % 2 === 1 ? Buffer.concat([body, Buffer.of(0)]) : body)

// Sends `size` bytes at `maxPduLength`; the data set must arrive byte for byte.
const sendAt = (maxPduLength: number, size: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const { scp, seen } = yield* recordingScp({ maxPduLength, answer: true })
      const file = randomFile(size)
      const before = LentBytes.outstandingLeases()
      const channel = yield* connectScu(scp.port)
      const r = yield* storeUnchecked(channel, file.where)
      assert.strictEqual(r.status, DimseStatus.SUCCESS)
      const received = Buffer.concat(seen.data)
      assert.strictEqual(received.length, padded(file.body).length, "data set length")
      assert.isTrue(received.equals(padded(file.body)), "the data set byte for byte")
      assert.isTrue(seen.last && !seen.afterLast, "one last fragment, at the end")
      if (maxPduLength > 0) assert.isAtMost(seen.largest, maxPduLength, "no PDU above the peer's maximum")
      yield* leasesBack(before)
    })
  )

const LARGE = Part10.WHOLE_READ_LIMIT + 1

describe("framed reads at the framing limits", () => {
  for (const maxPduLength of [0, 1024, 1025, 16384, 16385, 65530, 65531, 65532, 65536, 65546, 65547, 131072]) {
    it.live(`max PDU ${maxPduLength}: odd, one PDU past a read, a read's end`, () =>
      Effect.gen(function* () {
        const capacity = Fragmenter.fragmentCapacity(maxPduLength)
        const readData = Math.floor(Part10.STREAM_CHUNK / (capacity + Fragmenter.HEADER_LENGTH)) * capacity
        for (const size of [
          LARGE + 2 * Part10.STREAM_CHUNK,
          LARGE + 4 * capacity,
          LARGE + capacity + 1,
          LARGE - 1 + 3 * Part10.STREAM_CHUNK,
          // ending at a framed read's end (frames of capacity + 12 bytes in a STREAM_CHUNK buffer)
          Math.ceil(LARGE / readData) * readData
        ]) {
          yield* sendAt(maxPduLength, size)
        }
      })
    )
  }
})

// A file of `size` sent at a framed maximum PDU to an SCP reading 8 MiB/s; `change` runs once `afterBytes` of data
// set arrived. The store's exit, what arrived, and the file's bytes before the change.
const changedMidSend = (
  size: number,
  change: (file: { readonly where: string; readonly meta: Uint8Array; readonly body: Buffer }) => void,
  options: {
    readonly afterBytes?: number
    readonly scp?: RawScpOptions
    readonly interrupt?: boolean
    readonly fullSpeed?: boolean
  } = {}
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const file = randomFile(size)
      let changed = false
      let arrived = 0
      const { scp, seen } = yield* recordingScp({
        maxPduLength: 16384,
        answer: true,
        // reading at full speed for a peer that stops (the rate's ticks would resume it)
        ...(options.fullSpeed === true ? {} : { readBytesPerSecond: 8 << 20 }),
        ...options.scp,
        onPdu: (socket, type, body) => {
          arrived += body.length
          if (!changed && arrived >= (options.afterBytes ?? 1 << 20)) {
            changed = true
            change(file)
          }
          options.scp?.onPdu?.(socket, type, body)
        }
      })
      const before = LentBytes.outstandingLeases()
      const started = Date.now()
      const exit = yield* Effect.exit(
        Effect.scoped(
          Effect.flatMap(connectScu(scp.port, scuAe({ write: "1 second", dimse: "10 seconds" })), (channel) =>
            options.interrupt === true
              ? Effect.flatMap(Effect.forkChild(storeUnchecked(channel, file.where)), (fiber) =>
                  Effect.andThen(
                    waitFor(
                      Effect.sync(() => changed),
                      (c) => c,
                      3000
                    ),
                    Fiber.interrupt(fiber)
                  )
                )
              : storeUnchecked(channel, file.where)
          )
        ).pipe(Effect.timeout("8 seconds"))
      )
      if (Exit.isFailure(exit)) assert.notInclude(Cause.pretty(exit.cause), "TimeoutError", "no hang")
      yield* leasesBack(before)
      return { exit, seen, body: file.body, changed, waited: Date.now() - started }
    })
  )

// A failed store: a typed error (no defect), and the last fragment never went out.
const failedTyped = (
  r: { readonly exit: Exit.Exit<unknown, unknown>; readonly seen: { readonly last: boolean } },
  tag: RegExp
) => {
  assert.isTrue(Exit.isFailure(r.exit), "the C-STORE failed")
  if (!Exit.isFailure(r.exit)) return
  const error = Cause.findErrorOption(r.exit.cause)
  assert.isTrue(error._tag === "Some", `a typed error: ${Cause.pretty(r.exit.cause)}`)
  if (error._tag === "Some") assert.match(String((error.value as { _tag?: string })._tag), tag)
  assert.isFalse(r.seen.last, "the data set's last fragment never went out")
}

const SIZE = 12 << 20

describe("a file sent from its reads changed, or its send stopped, while it is sent", () => {
  // 16384: framed; 131072: not (more than a quarter of a read a PDU), the fragmenter holding the last PDU back
  for (const maxPduLength of [16384, 131072]) {
    it.live(
      `cut short (max PDU ${maxPduLength}): a typed error, no last fragment`,
      () =>
        Effect.gen(function* () {
          const r = yield* changedMidSend(SIZE, (f) => fs.truncateSync(f.where, f.meta.length + SIZE / 2 + 3), {
            scp: { maxPduLength }
          })
          assert.isTrue(r.changed)
          failedTyped(r, /DataSourceFailed|Aborted/)
        }),
      15_000
    )

    it.live(
      `grown (max PDU ${maxPduLength}): a typed error, no last fragment`,
      () =>
        Effect.gen(function* () {
          const r = yield* changedMidSend(SIZE, (f) => fs.appendFileSync(f.where, Buffer.alloc(2)), {
            scp: { maxPduLength }
          })
          assert.isTrue(r.changed)
          failedTyped(r, /DataSourceFailed|Aborted/)
        }),
      15_000
    )
  }

  it.live(
    "rewritten in place, same size, bytes already sent: a typed error, no last fragment",
    () =>
      Effect.gen(function* () {
        const r = yield* changedMidSend(SIZE, (f) => {
          const fd = fs.openSync(f.where, "r+")
          fs.writeSync(fd, Buffer.alloc(16, 0xee), 0, 16, f.meta.length + 100)
          fs.closeSync(fd)
        })
        failedTyped(r, /DataSourceFailed|Aborted/)
      }),
    15_000
  )

  it.live(
    "renamed over by another file of the same size: the old bytes whole, or a typed error",
    () =>
      Effect.gen(function* () {
        const r = yield* changedMidSend(SIZE, (f) => {
          const other = path.join(tmp, "other.dcm")
          fs.writeFileSync(other, Buffer.concat([f.meta, randomBytes(SIZE)]))
          fs.renameSync(other, f.where)
        })
        if (Exit.isSuccess(r.exit)) {
          assert.isTrue(Buffer.concat(r.seen.data).equals(r.body), "the file's bytes as they were, byte for byte")
        } else failedTyped(r, /DataSourceFailed|Aborted/)
      }),
    15_000
  )

  it.live(
    "the peer aborts mid-file: AssociationAborted",
    () =>
      Effect.gen(function* () {
        const r = yield* changedMidSend(SIZE, () => {}, {
          scp: {
            onPdu: (socket) => {
              if (!socket.destroyed) socket.write(Uint8Array.of(7, 0, 0, 0, 0, 4, 0, 0, 0, 0), () => socket.end())
            }
          }
        })
        failedTyped(r, /AssociationAborted/)
      }),
    15_000
  )

  it.live(
    "the peer stops reading mid-file: the write deadline, within seconds",
    () =>
      Effect.gen(function* () {
        const r = yield* changedMidSend(SIZE, () => {}, {
          fullSpeed: true,
          scp: {
            onPdu: (socket) => {
              socket.pause()
              socket.removeAllListeners("data")
            }
          }
        })
        failedTyped(r, /./)
        assert.isBelow(r.waited, 6000)
      }),
    15_000
  )

  it.live(
    "the caller interrupts mid-file: no hang, every lease back",
    () =>
      Effect.gen(function* () {
        const r = yield* changedMidSend(SIZE, () => {}, { interrupt: true })
        assert.isTrue(r.changed)
        assert.isFalse(r.seen.last, "the data set's last fragment never went out")
      }),
    15_000
  )
})

describe("a file sent from its reads, and the rest of the channel", () => {
  it.live(
    "another request's DIMSE timeout fires mid-file: both fail typed, no last fragment, every lease back",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          // answers nothing, reads 4 MiB/s, grants a window of 4
          const { scp, seen } = yield* recordingScp({ maxPduLength: 16384, window: 4, readBytesPerSecond: 4 << 20 })
          const file = randomFile(SIZE)
          const before = LentBytes.outstandingLeases()
          const started = Date.now()
          const channel = yield* connectScu(scp.port, scuAe({ dimse: "1 second", write: "5 seconds" }))
          const small = yield* Effect.forkChild(
            Scu.store(channel, {
              sopClassUid: CT,
              sopInstanceUid: "1.2.826.0.23.0",
              transferSyntax: EXPLICIT,
              dataSet: new Uint8Array(100)
            })
          )
          yield* Effect.sleep("20 millis")
          const large = yield* Effect.exit(storeUnchecked(channel, file.where).pipe(Effect.timeout("8 seconds")))
          const first = yield* Fiber.await(small)
          const waited = Date.now() - started
          assert.isTrue(Exit.isFailure(first), "the unanswered request failed")
          assert.isTrue(Exit.isFailure(large), "the file's C-STORE failed")
          if (Exit.isFailure(large)) {
            assert.notInclude(Cause.pretty(large.cause), "TimeoutError", "no hang")
            assert.isTrue(Cause.findErrorOption(large.cause)._tag === "Some", Cause.pretty(large.cause))
          }
          assert.isBelow(waited, 5000, `ended after ${waited} ms`)
          // the small data set's last fragment came; the file's never did
          assert.isBelow(Buffer.concat(seen.data).length, SIZE, "the file was not sent whole")
          yield* leasesBack(before)
        })
      ),
    15_000
  )

  it.live(
    "another request's DIMSE timeout fires while the file waits on a peer that stopped reading: ends at once",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { scp, seen } = yield* recordingScp({
            maxPduLength: 16384,
            window: 4,
            onPdu: (socket) => {
              if (Buffer.concat(seen.data).length > 1 << 20) socket.pause()
            }
          })
          const file = randomFile(4 * SIZE)
          const before = LentBytes.outstandingLeases()
          const started = Date.now()
          const channel = yield* connectScu(scp.port, scuAe({ dimse: "1 second", write: "20 seconds" }))
          const small = yield* Effect.forkChild(
            Scu.store(channel, {
              sopClassUid: CT,
              sopInstanceUid: "1.2.826.0.23.1",
              transferSyntax: EXPLICIT,
              dataSet: new Uint8Array(100)
            })
          )
          yield* Effect.sleep("20 millis")
          const large = yield* Effect.exit(storeUnchecked(channel, file.where).pipe(Effect.timeout("10 seconds")))
          const first = yield* Fiber.await(small)
          const waited = Date.now() - started
          assert.isTrue(Exit.isFailure(first), "the unanswered request failed")
          assert.isTrue(Exit.isFailure(large), "the file's C-STORE failed")
          if (Exit.isFailure(large)) assert.notInclude(Cause.pretty(large.cause), "TimeoutError", "no hang")
          assert.isBelow(waited, 4000, `ended after ${waited} ms`)
          yield* leasesBack(before)
        })
      ),
    25_000
  )

  it.live(
    "one loaded file sent at once to three peers, framed and not, sharing the pool's 256 KiB buffers: byte for byte",
    () =>
      Effect.gen(function* () {
        const file = randomFile(8 * Part10.STREAM_CHUNK + 3)
        const meta = yield* Scu.describeFile(file.where)
        const loaded = yield* Part10.loadDataSet(file.where, meta)
        const before = LentBytes.outstandingLeases()
        // 65530: frames of 65536 bytes, four to a 256 KiB buffer, the size the unframed reads take from the pool too
        const results = yield* Effect.all(
          [16384, 65530, 131072].map((maxPduLength) =>
            Effect.scoped(
              Effect.gen(function* () {
                const { scp, seen } = yield* recordingScp({ maxPduLength, answer: true, readBytesPerSecond: 16 << 20 })
                const channel = yield* connectScu(scp.port)
                const r = yield* Scu.storeLoaded(channel, meta, loaded)
                return { status: r.status, received: Buffer.concat(seen.data), last: seen.last }
              })
            )
          ),
          { concurrency: "unbounded" }
        )
        for (const r of results) {
          assert.strictEqual(r.status, DimseStatus.SUCCESS)
          assert.isTrue(r.received.equals(padded(file.body)), "byte for byte")
          assert.isTrue(r.last)
        }
        yield* leasesBack(before)
      }),
    15_000
  )

  it.live("cut short between its load and its send: a typed error, nothing sent, the association still serves", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { scp, seen } = yield* recordingScp({ maxPduLength: 16384, answer: true })
        const channel = yield* connectScu(scp.port)
        const file = randomFile(LARGE + Part10.STREAM_CHUNK)
        const meta = yield* Scu.describeFile(file.where)
        const loaded = yield* Part10.loadDataSet(file.where, meta)
        fs.truncateSync(file.where, file.meta.length + 10)
        const e = yield* Effect.flip(Scu.storeLoaded(channel, meta, loaded))
        assert.strictEqual(e._tag, "DataSourceFailed")
        assert.strictEqual(seen.data.length, 0, "no data set fragment went out")
        const again = randomFile(LARGE + 5)
        const r = yield* storeUnchecked(channel, again.where)
        assert.strictEqual(r.status, DimseStatus.SUCCESS)
        assert.isTrue(Buffer.concat(seen.data).equals(padded(again.body)), "the next file byte for byte")
      })
    )
  )

  for (const chunkSize of [1, 63, 65, 16378]) {
    it.live(`streamDataSet at chunk size ${chunkSize}: an empty data set and an odd one, byte for byte`, () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { scp, seen } = yield* recordingScp({ maxPduLength: 16384, answer: true })
          const channel = yield* connectScu(scp.port)
          for (const size of [0, 16378, 3 * 16378 + 1]) {
            seen.data.length = 0
            seen.last = false
            const file = randomFile(size)
            const meta = yield* Part10.readFileMeta(file.where)
            const before = LentBytes.outstandingLeases()
            const r = yield* Scu.store(channel, {
              sopClassUid: CT,
              sopInstanceUid: `1.2.826.0.23.9${size}`,
              transferSyntax: EXPLICIT,
              dataSet: Part10.asDataSource(Part10.streamDataSet(file.where, meta, { chunkSize }))
            })
            assert.strictEqual(r.status, DimseStatus.SUCCESS)
            assert.isTrue(Buffer.concat(seen.data).equals(padded(file.body)), `${size} bytes, byte for byte`)
            assert.isTrue(seen.last && !seen.afterLast, "one last fragment, at the end")
            yield* leasesBack(before)
          }
        })
      )
    )
  }
})
