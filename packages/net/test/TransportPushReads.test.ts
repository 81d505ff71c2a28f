/**
 * A plain TCP transport takes each socket read from the socket's `push`, where Node hands it, rather than through the
 * Readable machinery and a 'data' event (docs/performance.md, Round 21 (small)): on both a server's connection and a
 * client's, every byte arrives once and in order with no 'data' event emitted, and a reader that lets reads pile up
 * past its limit (the socket paused, later chunks held in the Readable buffer and handed on as 'data' events once it
 * reads again) still gets every byte in order, and its later reads come from `push` again.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Net from "node:net"
import { Deferred, Duration, Effect } from "effect"
import * as Transport from "../src/upper/Transport.ts"

const FIVE_SECONDS = Duration.seconds(5)

// Counts the 'data' events any socket emits while the scope is open.
const countDataEvents = Effect.acquireRelease(
  Effect.sync(() => {
    const proto = Net.Socket.prototype as unknown as {
      emit: (event: string | symbol, ...args: Array<unknown>) => boolean
    }
    const emit = proto.emit
    const seen = { data: 0 }
    proto.emit = function (this: unknown, event: string | symbol, ...args: Array<unknown>) {
      if (event === "data") seen.data++
      return emit.call(this, event, ...args)
    }
    return { seen, restore: () => void (proto.emit = emit) }
  }),
  ({ restore }) => Effect.sync(restore)
)

// `size` bytes whose value is their offset modulo 251: a byte out of place or missing shows.
const pattern = (size: number, from = 0): Buffer => {
  const out = Buffer.alloc(size)
  for (let i = 0; i < size; i++) out[i] = (from + i) % 251
  return out
}

const readExactly = (t: Transport.Transport, size: number) =>
  Effect.gen(function* () {
    const parts: Array<Uint8Array> = []
    let n = 0
    while (n < size) {
      for (const c of yield* t.read) {
        parts.push(c)
        n += c.length
      }
    }
    return Buffer.concat(parts)
  })

// A server's first connection as a Transport, and a raw client connected to it.
const serverSide = Effect.gen(function* () {
  const server = yield* Transport.listenTcp("127.0.0.1", 0, { writeTimeout: FIVE_SECONDS })
  const got = yield* Deferred.make<Transport.Transport>()
  const release = yield* Deferred.make<void>()
  yield* Effect.forkScoped(server.run((t) => Effect.andThen(Deferred.succeed(got, t), Deferred.await(release))))
  const client = Net.createConnection({ host: "127.0.0.1", port: server.port })
  client.on("error", () => {})
  yield* Effect.addFinalizer(() => Effect.sync(() => client.destroy()))
  yield* Effect.callback<void>((resume) => void client.once("connect", () => resume(Effect.void)))
  return { client, t: yield* Deferred.await(got) }
})

// Writes `data` in pieces of `piece` bytes, one piece a turn of the event loop (a read each, most likely).
const writeInPieces = (socket: Net.Socket, data: Buffer, piece: number) =>
  Effect.gen(function* () {
    for (let at = 0; at < data.length; at += piece) {
      socket.write(data.subarray(at, at + piece))
      yield* Effect.sleep("1 millis")
    }
  })

describe("Transport reads taken from the socket's push", () => {
  it.live("a server's connection gets every byte in order, with no 'data' event", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { client, t } = yield* serverSide
        const { seen } = yield* countDataEvents
        const data = pattern(200 * 1000)
        const [, got] = yield* Effect.all([writeInPieces(client, data, 1000), readExactly(t, data.length)], {
          concurrency: 2
        })
        assert.isTrue(got.equals(data), "the bytes read are the bytes written")
        assert.strictEqual(seen.data, 0, "reads taken from push emit no 'data' event")
      })
    )
  )

  it.live("a client's connection gets every byte in order, with no 'data' event", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const data = pattern(200 * 1000)
        const accepted = yield* Deferred.make<Net.Socket>()
        const raw = Net.createServer((socket) => Deferred.doneUnsafe(accepted, Effect.succeed(socket)))
        yield* Effect.acquireRelease(
          Effect.callback<void>((resume) => void raw.listen(0, "127.0.0.1", () => resume(Effect.void))),
          () => Effect.sync(() => raw.close())
        )
        const address = raw.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        const t = yield* Transport.connectTcp("127.0.0.1", port, {
          writeTimeout: FIVE_SECONDS,
          connectTimeout: FIVE_SECONDS
        })
        const peer = yield* Deferred.await(accepted)
        yield* Effect.addFinalizer(() => Effect.sync(() => peer.destroy()))
        const { seen } = yield* countDataEvents
        const [, got] = yield* Effect.all([writeInPieces(peer, data, 1000), readExactly(t, data.length)], {
          concurrency: 2
        })
        assert.isTrue(got.equals(data), "the bytes read are the bytes written")
        assert.strictEqual(seen.data, 0, "reads taken from push emit no 'data' event")
      })
    )
  )

  it.live("a reader that lets reads pile up past its limit still gets every byte once and in order", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { client, t } = yield* serverSide
        const data = pattern(8 << 20)
        client.write(data)
        // Nothing read for a while: the transport pauses the socket past its limit, and the rest waits in the
        // Readable buffer and in TCP.
        yield* Effect.sleep("300 millis")
        const got = yield* readExactly(t, data.length)
        assert.strictEqual(got.length, data.length)
        assert.isTrue(got.equals(data), "the bytes read are the bytes written, in order")
        // Once the held reads are read, reads come from `push` again.
        const { seen } = yield* countDataEvents
        const more = pattern(100 * 1000, data.length)
        const [, gotMore] = yield* Effect.all([writeInPieces(client, more, 1000), readExactly(t, more.length)], {
          concurrency: 2
        })
        assert.isTrue(gotMore.equals(more), "the bytes read after the pause are the bytes written")
        assert.strictEqual(seen.data, 0, "reads after the pause are taken from push again")
        client.end()
        const eof = yield* Effect.flip(t.read)
        assert.strictEqual(eof._tag, "TransportClosed")
      })
    )
  )
})
