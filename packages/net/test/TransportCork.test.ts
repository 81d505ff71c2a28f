/**
 * The transport corks its socket until the end of the tick, so that messages written in one tick leave in one
 * vectored write: the bytes still arrive whole and in order, and what was written just before a destroy (an
 * A-ABORT before the connection is dropped) still goes out.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Net from "node:net"
import { Deferred, Duration, Effect } from "effect"
import * as Transport from "../src/upper/Transport.ts"

const FIVE_SECONDS = Duration.seconds(5)

// A server's first connection as a Transport, and the raw client at the other end, collecting what it receives.
const connected = Effect.gen(function* () {
  const server = yield* Transport.listenTcp("127.0.0.1", 0, { writeTimeout: FIVE_SECONDS })
  const got = yield* Deferred.make<Transport.Transport>()
  const release = yield* Deferred.make<void>()
  yield* Effect.forkScoped(server.run((t) => Effect.andThen(Deferred.succeed(got, t), Deferred.await(release))))
  const client = Net.createConnection({ host: "127.0.0.1", port: server.port })
  client.on("error", () => {})
  const received: Array<Buffer> = []
  let closed = false
  client.on("data", (b: Buffer) => received.push(b))
  client.on("close", () => (closed = true))
  yield* Effect.callback<void>((resume) => void client.once("connect", () => resume(Effect.void)))
  return { t: yield* Deferred.await(got), received: () => Buffer.concat(received), isClosed: () => closed }
})

const bytes = (...values: Array<number>) => Uint8Array.from(values)

describe("Transport writes, corked per tick", () => {
  it.live("writes made in one tick arrive whole and in order", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { t, received } = yield* connected
        yield* t.write([bytes(1, 2), bytes(3)])
        yield* t.write([bytes(4)])
        yield* t.write([bytes(5, 6, 7)])
        yield* Effect.sleep("200 millis")
        assert.deepStrictEqual([...received()], [1, 2, 3, 4, 5, 6, 7])
      })
    )
  )

  it.live("bytes written just before a destroy, in the same tick, still reach the peer", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { t, received, isClosed } = yield* connected
        yield* Effect.andThen(t.write([bytes(0x07, 0, 0, 0, 0, 4), bytes(0, 0, 0, 0)]), t.destroy)
        yield* Effect.sleep("200 millis")
        assert.deepStrictEqual([...received()], [0x07, 0, 0, 0, 0, 4, 0, 0, 0, 0])
        assert.isTrue(isClosed())
      })
    )
  )
})
