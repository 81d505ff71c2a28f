/**
 * A server stopping stops listening before it aborts the associations still open: a peer reconnecting meanwhile (a
 * `netdicom store` whose association was just aborted, say) is refused, not taken and then dropped unanswered.
 */
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import * as Server from "../src/association/Server.ts"
import * as Scu from "../src/services/Scu.ts"
import { VERIFICATION, testAe } from "./support.ts"

const IMPLICIT = "1.2.840.10008.1.2"

// Whether a TCP connection to the port is taken ("connected") or refused (the error's code).
const probe = (port: number) =>
  Effect.callback<string>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed("connected"))
    })
    socket.once("error", (e: NodeJS.ErrnoException) => resume(Effect.succeed(e.code ?? e.message)))
  })

describe("a server stopping", () => {
  it.live("refuses new connections while it aborts the associations it has", () =>
    Effect.gen(function* () {
      const contexts = [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] }]
      const scope = yield* Scope.make()
      let duringAbort: string | undefined
      let port = 0
      const server: Server.Server = yield* Server.serve(yield* testAe({ aeTitle: "SCP", contexts }), {
        port: 0,
        handler: () =>
          Effect.never.pipe(
            Effect.onInterrupt((): Effect.Effect<void> =>
              Effect.map(probe(port), (r) => {
                duringAbort = r
              })
            )
          )
      }).pipe(Scope.provide(scope))
      port = server.port
      assert.strictEqual(yield* probe(port), "connected", "listening before it stops")
      yield* Scu.connect(yield* testAe({ aeTitle: "SCU" }), {
        host: "127.0.0.1",
        port,
        calledAeTitle: "SCP",
        contexts
      })
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(duringAbort, "ECONNREFUSED")
    })
  )
})
