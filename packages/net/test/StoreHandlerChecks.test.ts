/**
 * A C-GET SCU receives its sub-operations as C-STOREs that no SCP check has looked at: one whose SOP class is not
 * the abstract syntax of the context it came on is refused 0x0122 by `storeRequestHandler` itself, the user's
 * handler not called, and the association goes on.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Stream } from "effect"
import { Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as Server from "../src/association/Server.ts"
import * as DimseChannel from "../src/dimse/DimseChannel.ts"
import * as Scu from "../src/services/Scu.ts"
import { CT, testAe } from "./support.ts"

const MR = "1.2.840.10008.5.1.4.1.1.4"

describe("storeRequestHandler", () => {
  it.live("a C-STORE whose SOP class is not its context's is refused 0x0122 without calling the handler", () =>
    Effect.gen(function* () {
      // The peer that sends the C-STOREs (as a C-GET SCP does) is the acceptor here: it gets the requestor's channel
      // once associated and sends on the CT context, once as MR and once as CT.
      const peer = yield* Deferred.make<DimseChannel.DimseChannel>()
      const server = yield* Server.serve(
        yield* testAe({
          aeTitle: "NETDICOM-SCP",
          contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN], scu: true, scp: true }]
        }),
        {
          port: 0,
          handler: (association) =>
            Effect.scoped(
              Effect.gen(function* () {
                yield* Deferred.succeed(peer, yield* DimseChannel.make(association, undefined))
                yield* association.ended
              })
            )
        }
      )
      const handled: Array<string> = []
      yield* Scu.connect(
        yield* testAe({
          aeTitle: "NETDICOM-SCU",
          contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN], scu: true, scp: true }]
        }),
        {
          host: "127.0.0.1",
          port: server.port,
          calledAeTitle: "NETDICOM-SCP",
          contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }],
          roles: [{ sopClassUid: CT, scu: true, scp: true }],
          onStore: (req) =>
            Stream.runDrain(req.dataSet).pipe(
              Effect.orDie,
              Effect.andThen(Effect.sync(() => handled.push(req.sopClassUid))),
              Effect.as({ status: Status.SUCCESS })
            )
        }
      )
      const sender = yield* Deferred.await(peer)
      const context = sender.association.negotiated.accepted.find((c) => c.abstractSyntax === CT)!
      assert.isTrue(context.weAreScu)
      const store = (sopClassUid: string, sopInstanceUid: string) =>
        Effect.gen(function* () {
          const messageId = yield* sender.nextMessageId
          return yield* sender.requestOne(
            context,
            {
              _tag: "CStoreRq",
              messageId,
              affectedSopClassUid: sopClassUid,
              affectedSopInstanceUid: sopInstanceUid,
              priority: 0
            },
            new Uint8Array(300_000)
          )
        })
      const refused = yield* store(MR, "1.2.3.1")
      assert.strictEqual(refused.status, Status.SOP_CLASS_NOT_SUPPORTED)
      const message = refused.message
      assert.isTrue(message._tag === "CStoreRsp" && message.errorComment !== undefined)
      const accepted = yield* store(CT, "1.2.3.2")
      assert.strictEqual(accepted.status, Status.SUCCESS)
      assert.deepStrictEqual(handled, [CT])
    })
  )
})
