/**
 * A peer that closes the connection after our A-ASSOCIATE-RQ without answering it (a TLS server spoken to in plain
 * TCP, another protocol's server) ends `Scu.connect` with an `AssociationAborted` whose detail says so: before, it
 * read "connection closed (TransportClosed)", as any association's end does, with nothing to suggest the cause.
 */
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Scu from "../src/services/Scu.ts"
import { testAe } from "./support.ts"

const VERIFICATION = "1.2.840.10008.1.1"

// A server that drops each connection as soon as its first bytes arrive.
const dropper = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<Net.Server>((resolve) => {
        const server = Net.createServer((socket) => {
          socket.on("error", () => {})
          socket.once("data", () => socket.destroy())
        })
        server.listen(0, "127.0.0.1", () => resolve(server))
      })
  ),
  (server) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
)

describe("a connection closed before the A-ASSOCIATE-AC", () => {
  it.live("fails Scu.connect with a detail that says no answer came", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* dropper
        const port = (server.address() as Net.AddressInfo).port
        const e = yield* Effect.flip(
          Scu.connect(yield* testAe({ aeTitle: "SCU" }), {
            host: "127.0.0.1",
            port,
            calledAeTitle: "ANY",
            contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: ["1.2.840.10008.1.2"] }]
          })
        )
        assert.strictEqual(e._tag, "AssociationAborted")
        assert.include(e.message, "before any answer to the A-ASSOCIATE-RQ")
        assert.include(e.message, "TLS")
      })
    )
  )
})
