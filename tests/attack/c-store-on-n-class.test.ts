/**
 * A C-STORE-RQ whose SOP class is a DIMSE-N one (MPPS, Storage Commitment), on that class's own presentation context,
 * to an SCP serving both storage and DIMSE-N: the refusal checks let any SOP class but Verification and the Q/R ones
 * through to the `StorageService`, which stored an "instance" of MPPS. Those SOP classes have no C-STORE (PS3.4 F,
 * J): now refused 0x0122 without calling the storage handler, and the association goes on.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, Result, Stream } from "effect"
import { ApplicationEntity, Normalized, Scp, Scu, StorageCommitment } from "@netdicom/net"
import { Status } from "@netdicom/wire"

const MPPS = "1.2.840.10008.3.1.2.3.3"
const IMPLICIT = ApplicationEntity.IMPLICIT_VR_LITTLE_ENDIAN
const CONTEXTS = [
  { abstractSyntax: MPPS, transferSyntaxes: [IMPLICIT] },
  { abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: [IMPLICIT] }
]
const aeOf = (aeTitle: string) =>
  Result.getOrThrow(
    ApplicationEntity.make({
      aeTitle,
      contexts: CONTEXTS,
      timeouts: { acse: "3 seconds", connect: "3 seconds", dimse: "3 seconds", write: "3 seconds" }
    })
  )

// Patient's Name, Implicit VR Little Endian.
const DATA_SET = Uint8Array.of(0x10, 0, 0x10, 0, 4, 0, 0, 0, 0x44, 0x4f, 0x45, 0x5e)

describe("a C-STORE of a DIMSE-N SOP class", () => {
  it.live("is refused 0x0122 without the storage handler; the association goes on", () =>
    Effect.gen(function* () {
      let stored = 0
      const storage = Layer.succeed(Scp.StorageService)({
        store: (request) =>
          Effect.as(
            Stream.runDrain(request.dataSet).pipe(
              Effect.ignore,
              Effect.tap(() => Effect.sync(() => void stored++))
            ),
            { status: Status.SUCCESS }
          )
      })
      const normalized = Normalized.layer({ [MPPS]: { nGet: () => Effect.succeed({ status: Status.SUCCESS }) } })
      const server = yield* Scp.serve(aeOf("SCP"), { port: 0 }).pipe(Effect.provide(Layer.merge(storage, normalized)))
      const channel = yield* Scu.connect(aeOf("SCU"), {
        host: "127.0.0.1",
        port: server.port,
        calledAeTitle: "SCP",
        contexts: CONTEXTS
      })
      const statuses: Array<number> = []
      for (const sopClass of [MPPS, StorageCommitment.SOP_CLASS]) {
        const context = Result.getOrThrow(channel.findContext(sopClass, "SCU"))
        const rsp = yield* channel.requestOne(
          context,
          {
            _tag: "CStoreRq",
            messageId: channel.takeMessageId(),
            affectedSopClassUid: sopClass,
            affectedSopInstanceUid: "1.2.3.4",
            priority: 0
          },
          DATA_SET
        )
        statuses.push(rsp.status)
      }
      assert.deepStrictEqual([statuses, stored], [[Status.SOP_CLASS_NOT_SUPPORTED, Status.SOP_CLASS_NOT_SUPPORTED], 0])
      const get = yield* Scu.nGet(channel, { sopClassUid: MPPS, sopInstanceUid: "1.2.3" })
      assert.strictEqual(get.status, Status.SUCCESS)
    }).pipe(Effect.provide(Logger.layer([])))
  )
})
