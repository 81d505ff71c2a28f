/**
 * `DimseChannel.requestOneNow` and `takeMessageId`, the C-STORE SCU's path (one Effect step fewer each per request
 * than `requestOne` and `nextMessageId`): the request leaves as `requestOneNow` is called, before its effect runs, and
 * its response is the one `requestOne` gets; `takeMessageId` and `nextMessageId` take from one sequence.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Layer, Option, Result } from "effect"
import { Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import type { StoreRequest } from "../src/services/StoreHandler.ts"
import { CT, rq, testAe } from "./support.ts"

const connected = Effect.gen(function* () {
  const stored = yield* Deferred.make<string>()
  const storage = Layer.succeed(Scp.StorageService)({
    store: (request: StoreRequest) =>
      Effect.as(Deferred.succeed(stored, request.sopInstanceUid), { status: Status.SUCCESS })
  })
  const contexts = [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]
  const scpAe = yield* testAe({ aeTitle: "NETDICOM-SCP", contexts })
  const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(storage))
  const scuAe = yield* testAe({ aeTitle: "NETDICOM-SCU" })
  const channel = yield* Scu.connect(scuAe, {
    host: "127.0.0.1",
    port: server.port,
    calledAeTitle: "NETDICOM-SCP",
    contexts
  })
  const context = Result.getOrThrow(channel.findContext(CT, "SCU"))
  return { channel, context, stored }
})

describe("requestOneNow and takeMessageId", () => {
  it.live("the request leaves when requestOneNow is called; running its effect waits for the response", () =>
    Effect.gen(function* () {
      const { channel, context, stored } = yield* connected
      const id = channel.takeMessageId()
      // Not run yet: the SCP stores the instance all the same.
      const waiting = channel.requestOneNow(context, rq(id, "1.2.3.1"), new Uint8Array(64))
      assert.strictEqual(yield* Deferred.await(stored), "1.2.3.1")
      const rsp = yield* waiting
      assert.strictEqual(rsp.status, Status.SUCCESS)
      assert.strictEqual(rsp.message._tag, "CStoreRsp")
      // requestOne's response to the same request is alike.
      const other = yield* channel.requestOne(context, rq(channel.takeMessageId(), "1.2.3.2"), new Uint8Array(64))
      assert.strictEqual(other.status, rsp.status)
      assert.strictEqual(other.message._tag, rsp.message._tag)
    })
  )

  // The channel learns of the end on the turn that ended the association; with nothing outstanding it marks itself
  // closed there and then, without a fiber (Round 12): a request after the end fails at once, nothing written.
  it.live("after the association ended with nothing outstanding, a request fails at once with how it ended", () =>
    Effect.gen(function* () {
      const { channel, context, stored } = yield* connected
      yield* channel.association.abort
      const ending = yield* channel.association.ended
      assert.strictEqual(ending._tag, "Aborted")
      const error = yield* Effect.flip(channel.requestOneNow(context, rq(channel.takeMessageId(), "1.2.3.9")))
      // the abort it ended with (ours here), not only that it ended
      assert.strictEqual(error._tag, "AssociationAborted")
      if (error._tag === "AssociationAborted" && ending._tag === "Aborted") assert.strictEqual(error, ending.error)
      assert.isTrue(Option.isNone(yield* Deferred.poll(stored)))
    })
  )

  it.live("onResponse: the effect gives what it made of the response; one that throws fails that request only", () =>
    Effect.gen(function* () {
      const { channel, context } = yield* connected
      const status = yield* channel.requestOneNow(
        context,
        rq(channel.takeMessageId(), "1.2.3.4"),
        new Uint8Array(64),
        (r) => `${r.message._tag} ${r.status}`
      )
      assert.strictEqual(status, `CStoreRsp ${Status.SUCCESS}`)
      const broken = yield* Effect.exit(
        channel.requestOneNow(context, rq(channel.takeMessageId(), "1.2.3.5"), new Uint8Array(64), () => {
          throw new Error("not this one")
        })
      )
      assert.isTrue(Exit.isFailure(broken) && Cause.hasDies(broken.cause), String(broken))
      // the reader it ran on goes on: the association still answers
      const next = yield* channel.requestOne(context, rq(channel.takeMessageId(), "1.2.3.6"), new Uint8Array(64))
      assert.strictEqual(next.status, Status.SUCCESS)
    })
  )

  it.live("takeMessageId and nextMessageId take from one sequence; a C-STORE takes one id of it", () =>
    Effect.gen(function* () {
      const { channel } = yield* connected
      const a = channel.takeMessageId()
      const b = yield* channel.nextMessageId
      assert.strictEqual(b, a + 1)
      const r = yield* Scu.store(channel, {
        sopClassUid: CT,
        sopInstanceUid: "1.2.3.3",
        transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
        dataSet: new Uint8Array(64)
      })
      assert.strictEqual(r.status, Status.SUCCESS)
      assert.strictEqual(channel.takeMessageId(), b + 2, "the store took b + 1")
    })
  )
})
