/**
 * A server's limits (`maxAssociations`, `maxPendingConnections`, `maxPendingBytes`) must be whole numbers from 1: 0
 * would turn every peer away, a negative or fractional one or NaN make the bounds meaningless. Such a value fails
 * `Server.serve` (and so `Scp.serve`) as `ListenFailed` naming the option, before anything listens; valid ones serve.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import * as Server from "../src/association/Server.ts"
import { VERIFICATION, testAe } from "./support.ts"

const contexts = [{ abstractSyntax: VERIFICATION, transferSyntaxes: ["1.2.840.10008.1.2"] }]

describe("a server's limits", () => {
  it.live("that are not whole numbers from 1 fail the serve, naming the option", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const ae = yield* testAe({ aeTitle: "SCP", contexts })
      for (const name of ["maxAssociations", "maxPendingConnections", "maxPendingBytes"] as const) {
        for (const value of [0, -1, 1.5, Number.NaN]) {
          const exit = yield* Effect.exit(
            Server.serve(ae, { port: 0, [name]: value, handler: () => Effect.void }).pipe(Scope.provide(scope))
          )
          assert.isTrue(Exit.isFailure(exit), `${name}: ${value} was served`)
          if (Exit.isSuccess(exit)) continue
          const error = exit.cause.reasons.find((r) => r._tag === "Fail")
          assert.strictEqual(error?._tag === "Fail" && error.error._tag, "ListenFailed")
          assert.include(error?._tag === "Fail" ? error.error.message : "", `${name} must be a whole number from 1`)
        }
      }
      const server = yield* Server.serve(ae, {
        port: 0,
        maxAssociations: 1,
        maxPendingConnections: 1,
        maxPendingBytes: 1,
        handler: () => Effect.void
      }).pipe(Scope.provide(scope))
      assert.isAbove(server.port, 0)
      yield* Scope.close(scope, Exit.void)
    })
  )
})
