/**
 * The SCP of our C-GET sends us requests we do not serve, all in one write with the C-GET's C-STORE sub-operation: a
 * C-STORE-RQ naming a SOP class not its context's, with a 64 KiB data set in 64 fragments (0x0122, its data set read
 * and dropped), a C-GET-RQ of its own on the C-GET's context (0x0124: we are not its SCP), and a C-ECHO-RQ that reuses
 * the message id of our C-GET (0x0124). Each gets one refusal, the sub-operation is stored and answered, and the C-GET
 * ends with its final response. A scripted SCP on 127.0.0.1. A guard test (the product held).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Result, Stream } from "effect"
import { ApplicationEntity, QueryRetrieve, Scu } from "@netdicom/net"
import { Dimse, PduCodec, Status } from "@netdicom/wire"
import { scriptedScp } from "../../packages/net/test/rawPeer.ts"
import { CT, EXPLICIT, IMPLICIT, VERIFICATION } from "./support.ts"

const GET = QueryRetrieve.SOP_CLASSES.study.get!
const MR = "1.2.840.10008.5.1.4.1.1.4"
// (0008,0018) UI "1.2.3" in Explicit VR Little Endian
const DATA = Uint8Array.of(0x08, 0, 0x18, 0, 0x55, 0x49, 6, 0, 0x31, 0x2e, 0x32, 0x2e, 0x33, 0)
// (0008,0052) CS "STUDY" in Implicit VR Little Endian
const IDENTIFIER = Uint8Array.of(0x08, 0, 0x52, 0, 6, 0, 0, 0, 0x53, 0x54, 0x55, 0x44, 0x59, 0x20)

const pdv = (pc: number, isCommand: boolean, isLast: boolean, data: Uint8Array) =>
  PduCodec.encodePDataTf([{ presentationContextId: pc, isCommand, isLast, data }])
const message = (pc: number, m: Dimse.Message, dataSet?: Uint8Array) =>
  Buffer.concat([
    pdv(pc, true, true, Result.getOrThrow(Dimse.encode(m))),
    ...(dataSet === undefined ? [] : [pdv(pc, false, true, dataSet)])
  ])

describe("requests the SCP of our C-GET sends us, in one write with its sub-operation", () => {
  it.live("each refused once, the sub-operation stored, the C-GET ends Success", () =>
    Effect.gen(function* () {
      let getId = 0
      const scp = yield* scriptedScp((socket, pc, command) => {
        if (command.commandField === 0x0010) {
          getId = command.messageId!
          const big = new Uint8Array(65_536)
          socket.write(
            Buffer.concat([
              pdv(
                3,
                true,
                true,
                Result.getOrThrow(
                  Dimse.encode({
                    _tag: "CStoreRq",
                    messageId: 200,
                    affectedSopClassUid: MR,
                    affectedSopInstanceUid: "1.2.4",
                    priority: 0
                  })
                )
              ),
              ...Array.from({ length: 64 }, (_, i) => pdv(3, false, i === 63, big.subarray(i * 1024, (i + 1) * 1024))),
              message(pc, { _tag: "CGetRq", messageId: 201, affectedSopClassUid: GET, priority: 0 }, IDENTIFIER),
              message(
                3,
                {
                  _tag: "CStoreRq",
                  messageId: 202,
                  affectedSopClassUid: CT,
                  affectedSopInstanceUid: "1.2.3",
                  priority: 0
                },
                DATA
              ),
              message(1, { _tag: "CEchoRq", messageId: getId, affectedSopClassUid: VERIFICATION })
            ])
          )
        } else if (command.commandField === 0x8001 && command.messageIdBeingRespondedTo === 202) {
          const final = { _tag: "CGetRsp", messageIdBeingRespondedTo: getId, affectedSopClassUid: GET } as const
          socket.write(message(5, { ...final, status: 0, numberOfCompletedSuboperations: 1, hasIdentifier: false }))
        }
      })
      const ae = Result.getOrThrow(
        ApplicationEntity.make({
          aeTitle: "NETDICOM-SCU",
          contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT], scu: true, scp: true }],
          timeouts: { dimse: "10 seconds" }
        })
      )
      const stored: Array<string> = []
      const progress = yield* Effect.scoped(
        Effect.gen(function* () {
          const channel = yield* Scu.connect(ae, {
            host: "127.0.0.1",
            port: scp.port,
            calledAeTitle: "NETDICOM-SCP",
            contexts: [
              { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
              { abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
              { abstractSyntax: GET, transferSyntaxes: [IMPLICIT] }
            ],
            roles: [{ sopClassUid: CT, scu: true, scp: true }],
            onStore: (request) =>
              Effect.as(
                Effect.sync(() => stored.push(request.sopInstanceUid)),
                { status: Status.SUCCESS }
              )
          })
          return yield* Stream.runCollect(
            Scu.get(channel, { model: "study", identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2" } })
          )
        })
      ).pipe(Effect.timeout("10 seconds"), Effect.provide(Logger.layer([])))
      const answers = scp.seen
        .filter((c) => c.messageIdBeingRespondedTo !== undefined && c.status !== undefined)
        .map((c) => [c.commandField, c.messageIdBeingRespondedTo, c.status])
        .sort((a, b) => a[1]! - b[1]!)
      assert.strictEqual(progress.at(-1)?.status, Status.SUCCESS)
      assert.deepStrictEqual(stored, ["1.2.3"])
      assert.deepStrictEqual(answers, [
        [0x8030, getId, Status.NOT_AUTHORIZED],
        [0x8001, 200, Status.SOP_CLASS_NOT_SUPPORTED],
        [0x8010, 201, Status.NOT_AUTHORIZED],
        [0x8001, 202, Status.SUCCESS]
      ])
    })
  )
})
