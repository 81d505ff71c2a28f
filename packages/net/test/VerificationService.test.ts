/**
 * `Scp.VerificationService`: a C-ECHO answered with the status the service gives (a router telling whether its
 * destination answers), with its comment; a service that dies is answered 0x0110; without one, Success.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Ref } from "effect"
import { Status } from "@netdicom/wire"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { VERIFICATION, testAe } from "./support.ts"

const contexts = [{ abstractSyntax: VERIFICATION, transferSyntaxes: ["1.2.840.10008.1.2"] }]

// Serves the given verification service (or none), then sends two C-ECHOs on one association.
const echoTwice = (service: Layer.Layer<never> | Layer.Layer<Scp.VerificationService>) =>
  Effect.gen(function* () {
    const server = yield* Scp.serve(yield* testAe({ aeTitle: "ROUTER", contexts }), { port: 0 }).pipe(
      Effect.provide(service)
    )
    return yield* Effect.scoped(
      Effect.flatMap(
        Scu.connect(yield* testAe({ aeTitle: "MODALITY" }), {
          host: "127.0.0.1",
          port: server.port,
          calledAeTitle: "ROUTER",
          contexts
        }),
        (channel) => Effect.all([Scu.echo(channel), Scu.echo(channel)])
      )
    )
  })

describe("Scp.VerificationService", () => {
  it.live("answers each C-ECHO with the service's status and comment, told who asked", () =>
    Effect.gen(function* () {
      const callers = yield* Ref.make<ReadonlyArray<string>>([])
      const reachable = yield* Ref.make(false)
      const service = Layer.succeed(Scp.VerificationService)({
        echo: (request) =>
          Effect.gen(function* () {
            yield* Ref.update(callers, (c) => [...c, request.callingAeTitle])
            // the first is answered as the destination being down, the second as up
            const up = yield* Ref.getAndSet(reachable, true)
            return up ? { status: Status.SUCCESS } : { status: 0xa700, errorComment: "PACS unreachable" }
          })
      })
      const [first, second] = yield* echoTwice(service)
      assert.deepStrictEqual(
        [first.status, first.category, first.errorComment],
        [0xa700, "Failure", "PACS unreachable"]
      )
      assert.deepStrictEqual([second.status, second.errorComment], [Status.SUCCESS, undefined])
      assert.deepStrictEqual(yield* Ref.get(callers), ["MODALITY", "MODALITY"])
    })
  )

  it.live("a service that dies is answered 0x0110, and the association goes on", () =>
    Effect.gen(function* () {
      const service = Layer.succeed(Scp.VerificationService)({ echo: () => Effect.die(new Error("boom")) })
      const [first, second] = yield* echoTwice(service)
      assert.deepStrictEqual(
        [first.status, first.errorComment, second.status],
        [Status.PROCESSING_FAILURE, "the verification service failed", Status.PROCESSING_FAILURE]
      )
    })
  )

  it.live("without one, every C-ECHO is answered Success", () =>
    Effect.gen(function* () {
      const [first, second] = yield* echoTwice(Layer.empty)
      assert.deepStrictEqual([first.status, second.status], [Status.SUCCESS, Status.SUCCESS])
    })
  )
})
