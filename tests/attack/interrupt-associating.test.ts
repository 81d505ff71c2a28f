/**
 * Interrupting `Scu.connect` while the peer has not answered the A-ASSOCIATE-RQ (Ctrl-C on `netdicom find` against
 * a frozen or slow SCP). The opening ran inside `acquireRelease`'s acquire, which is uninterruptible: the interrupt
 * waited for the ACSE timeout (30 s in the CLI), and the connection then went without an A-ABORT.
 */
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { connectScu, scuAe } from "./hotpath-support.ts"

// A server that reads everything and never answers; `received` holds what came, `closed` whether the peer closed.
const silentServer = () =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<{ port: number; received: Array<Buffer>; closed: () => boolean; close: () => void }>((resolve) => {
          const received: Array<Buffer> = []
          const sockets: Array<Net.Socket> = []
          let closed = false
          const server = Net.createServer((socket) => {
            sockets.push(socket)
            socket.on("data", (chunk: Buffer) => received.push(chunk))
            socket.on("close", () => (closed = true))
            socket.on("error", () => {})
          })
          server.listen(0, "127.0.0.1", () =>
            resolve({
              port: (server.address() as Net.AddressInfo).port,
              received,
              closed: () => closed,
              close: () => {
                for (const s of sockets) s.destroy()
                server.close()
              }
            })
          )
        })
    ),
    (s) => Effect.sync(s.close)
  )

const realWait = (millis: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

// The PDU types in `bytes`, in order.
const pduTypes = (bytes: Buffer): Array<number> => {
  const types: Array<number> = []
  for (let at = 0; at + 6 <= bytes.length; at += 6 + bytes.readUInt32BE(at + 2)) types.push(bytes[at]!)
  return types
}

describe("an interrupt while the A-ASSOCIATE-AC is awaited", () => {
  it.live("ends the connect at once and sends an A-ABORT after the A-ASSOCIATE-RQ", () =>
    Effect.gen(function* () {
      const server = yield* silentServer()
      const fiber = yield* Effect.forkChild(Effect.scoped(connectScu(server.port, scuAe({ acse: "30 seconds" }))))
      for (let i = 0; i < 300 && server.received.length === 0; i++) yield* realWait(10)
      assert.isAbove(server.received.length, 0, "the A-ASSOCIATE-RQ arrived")
      const started = Date.now()
      yield* Fiber.interrupt(fiber)
      const took = Date.now() - started
      assert.isBelow(took, 2000, `the interrupt took ${took} ms (the ACSE timeout is 30 s)`)
      for (let i = 0; i < 300 && !server.closed(); i++) yield* realWait(10)
      assert.isTrue(server.closed(), "the connection was closed")
      assert.deepStrictEqual(pduTypes(Buffer.concat(server.received)), [0x01, 0x07])
    })
  )
})
