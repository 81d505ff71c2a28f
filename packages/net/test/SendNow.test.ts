/**
 * `DimseChannel.sendNow`, the reply path of an SCP (C-STORE and C-ECHO responses): a message in one write leaves as
 * `sendNow` is called when nothing else is being sent; while another message is half sent (it holds the send lock)
 * it waits its turn instead of landing inside that message's PDVs; once the association is gone its effect fails.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Result, Stream } from "effect"
import { Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import type { StoreRequest } from "../src/services/StoreHandler.ts"
import { CT, rq, testAe } from "./support.ts"

// An SCP that records each instance it stored with the bytes of its data set, and an SCU's channel to it.
const connected = Effect.gen(function* () {
  const stored = new Map<string, number>()
  const storedSmall = yield* Deferred.make<void>()
  const storage = Layer.succeed(Scp.StorageService)({
    store: (request: StoreRequest) =>
      Effect.map(
        Stream.runFold(
          request.dataSet,
          () => 0,
          (n, chunk) => n + chunk.length
        ),
        (n) => {
          stored.set(request.sopInstanceUid, n)
          if (request.sopInstanceUid === "1.2.3.2") Deferred.doneUnsafe(storedSmall, Exit.void)
          return { status: Status.SUCCESS }
        }
      ).pipe(Effect.orElseSucceed(() => ({ status: Status.OUT_OF_RESOURCES })))
  })
  const contexts = [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]
  const scpAe = yield* testAe({ aeTitle: "NETDICOM-SCP", contexts, maxOperationsPerformed: 4 })
  const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(storage))
  const scuAe = yield* testAe({ aeTitle: "NETDICOM-SCU", maxOperationsInvoked: 4 })
  const channel = yield* Scu.connect(scuAe, {
    host: "127.0.0.1",
    port: server.port,
    calledAeTitle: "NETDICOM-SCP",
    contexts
  })
  const context = Result.getOrThrow(channel.findContext(CT, "SCU"))
  return { channel, context, stored, storedSmall }
})

describe("sendNow", () => {
  it.live("with nothing else being sent, the message is written as sendNow is called", () =>
    Effect.gen(function* () {
      const { channel, context, stored, storedSmall } = yield* connected
      const rest = channel.sendNow(context, rq(channel.takeMessageId(), "1.2.3.2"), new Uint8Array(64))
      assert.strictEqual(rest, undefined, "written now: nothing left to run")
      // No effect was run on our side: the SCP stores the instance all the same.
      yield* Deferred.await(storedSmall)
      assert.strictEqual(stored.get("1.2.3.2"), 64)
    })
  )

  it.live("while another message is half sent, it waits its turn and goes out after it, not inside it", () =>
    Effect.gen(function* () {
      const { channel, context, stored, storedSmall } = yield* connected
      const firstWritten = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      // 300 KB (one batch, written), then a second 300 KB once the gate opens: the message is half sent meanwhile.
      const big = Stream.concat(
        Stream.make(new Uint8Array(300_000)),
        Stream.fromEffect(
          Effect.andThen(Deferred.succeed(firstWritten, undefined), Deferred.await(gate)).pipe(
            Effect.as(new Uint8Array(300_000))
          )
        )
      )
      const bigDone = yield* Effect.forkChild(channel.requestOne(context, rq(channel.takeMessageId(), "1.2.3.1"), big))
      yield* Deferred.await(firstWritten)
      const rest = channel.sendNow(context, rq(channel.takeMessageId(), "1.2.3.2"), new Uint8Array(64))
      assert.isDefined(rest, "not written now: another message holds the send lock")
      const smallDone = yield* Effect.forkChild(rest!)
      yield* Deferred.succeed(gate, undefined)
      const response = yield* Fiber.join(bigDone)
      assert.strictEqual(response.status, Status.SUCCESS)
      yield* Fiber.join(smallDone)
      yield* Deferred.await(storedSmall)
      // A command inside the first message's data set would have been a protocol error, aborting the association.
      assert.strictEqual(stored.get("1.2.3.1"), 600_000)
      assert.strictEqual(stored.get("1.2.3.2"), 64)
    })
  )

  it.live("once the association is gone, its effect fails with the association's end and nothing is written", () =>
    Effect.gen(function* () {
      const { channel, context } = yield* connected
      yield* channel.association.abort
      const rest = channel.sendNow(context, rq(channel.takeMessageId(), "1.2.3.3"), new Uint8Array(64))
      assert.isDefined(rest)
      const error = yield* Effect.flip(rest!)
      assert.strictEqual(error._tag, "AssociationAborted")
    })
  )
})
