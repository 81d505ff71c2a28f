/**
 * Requests a peer sends to our SCU that it does not serve are answered, not left to the peer's DIMSE timeout: during
 * a C-GET (the SCP role taken for CT storage only) a C-ECHO-RQ on the Verification context, where we are only the
 * SCU, gets 0x0124 (refused: not authorized) and a C-FIND-RQ on the C-GET's context 0x0122 (SOP class not
 * supported), each with its Message ID, logged at Warn, while the C-GET's C-STORE sub-operation is still served and
 * a C-CANCEL-RQ gets no answer; with no `onStore`, a C-ECHO-RQ and a C-STORE-RQ are refused the same way. The peer is
 * a scripted SCP on 127.0.0.1 that reads every command we send.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Result, Stream } from "effect"
import { CommandSet, Dimse, PduCodec, Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import { SOP_CLASSES } from "../src/services/QueryRetrieve.ts"
import * as Scu from "../src/services/Scu.ts"
import { scriptedScp } from "./rawPeer.ts"
import { CT, VERIFICATION, testAe } from "./support.ts"

const GET = SOP_CLASSES.study.get!

// (0008,0018) UI "1.2.3" in explicit VR little endian
const DATA = Uint8Array.of(0x08, 0, 0x18, 0, 0x55, 0x49, 6, 0, 0x31, 0x2e, 0x32, 0x2e, 0x33, 0)
// (0008,0052) CS "STUDY" in implicit VR little endian
const IDENTIFIER = Uint8Array.of(0x08, 0, 0x52, 0, 6, 0, 0, 0, 0x53, 0x54, 0x55, 0x44, 0x59, 0x20)

const message = (pc: number, m: Dimse.Message, dataSet?: Uint8Array) =>
  PduCodec.encodePDataTf([
    { presentationContextId: pc, isCommand: true, isLast: true, data: Result.getOrThrow(Dimse.encode(m)) },
    ...(dataSet === undefined ? [] : [{ presentationContextId: pc, isCommand: false, isLast: true, data: dataSet }])
  ])

const warningsLogged = () => {
  const warnings: Array<string> = []
  const logger = Logger.make(({ logLevel, message }) => {
    if (logLevel === "Warn") warnings.push((Array.isArray(message) ? message : [message]).join(" "))
  })
  return { warnings, layer: Logger.layer([logger]) }
}

// The responses among the commands seen: [command field, message id responded to, status].
const responses = (seen: ReadonlyArray<CommandSet.CommandSet>) =>
  seen
    .filter((c) => c.messageIdBeingRespondedTo !== undefined && c.status !== undefined)
    .map((c) => [c.commandField, c.messageIdBeingRespondedTo, c.status])

describe("requests a peer sends our SCU", () => {
  it.live(
    "during a C-GET: a C-ECHO-RQ and a C-FIND-RQ are refused, the C-STORE served, the C-CANCEL-RQ not answered",
    () =>
      Effect.gen(function* () {
        const { warnings, layer } = warningsLogged()
        let getId = 0
        const scp = yield* scriptedScp((socket, pc, command) => {
          if (command.commandField === 0x0010) {
            // the C-GET-RQ: a C-ECHO-RQ on Verification (1), a C-FIND-RQ on the GET context, a C-STORE-RQ sub-operation
            // on CT (3), a C-CANCEL-RQ for a request of ours that does not exist
            getId = command.messageId!
            socket.write(message(1, { _tag: "CEchoRq", messageId: 100, affectedSopClassUid: VERIFICATION }))
            socket.write(
              message(pc, { _tag: "CFindRq", messageId: 101, affectedSopClassUid: GET, priority: 0 }, IDENTIFIER)
            )
            const store = { _tag: "CStoreRq", messageId: 102, affectedSopClassUid: CT, priority: 0 } as const
            socket.write(message(3, { ...store, affectedSopInstanceUid: "1.2.3" }, DATA))
            socket.write(message(1, { _tag: "CCancelRq", messageIdBeingRespondedTo: 999 }))
          } else if (command.commandField === 0x8001) {
            // our C-STORE-RSP: the C-GET is over
            const final = { _tag: "CGetRsp", messageIdBeingRespondedTo: getId, affectedSopClassUid: GET } as const
            socket.write(message(5, { ...final, status: 0, numberOfCompletedSuboperations: 1, hasIdentifier: false }))
          }
        })
        const ae = yield* testAe({
          aeTitle: "NETDICOM-SCU",
          contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN], scu: true, scp: true }],
          timeouts: { dimse: "30 seconds" }
        })
        const stored: Array<string> = []
        const progress = yield* Effect.scoped(
          Effect.gen(function* () {
            const channel = yield* Scu.connect(ae, {
              host: "127.0.0.1",
              port: scp.port,
              calledAeTitle: "NETDICOM-SCP",
              contexts: [
                { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] },
                { abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] },
                { abstractSyntax: GET, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }
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
        ).pipe(Effect.timeout("10 seconds"), Effect.provide(layer))
        assert.strictEqual(progress.at(-1)?.status, Status.SUCCESS)
        assert.deepStrictEqual(stored, ["1.2.3"])
        assert.deepStrictEqual(responses(scp.seen), [
          [0x8030, 100, Status.NOT_AUTHORIZED],
          [0x8020, 101, Status.SOP_CLASS_NOT_SUPPORTED],
          [0x8001, 102, Status.SUCCESS]
        ])
        assert.isTrue(
          warnings.some((w) => w.startsWith("C-ECHO-RQ 100 ") && w.includes("refused: 0x0124")),
          warnings.join("\n")
        )
        assert.isTrue(
          warnings.some((w) => w.startsWith("C-FIND-RQ 101 ") && w.includes("refused: 0x0122")),
          warnings.join("\n")
        )
      })
  )

  it.live("with no onStore: a C-ECHO-RQ and a C-STORE-RQ are refused 0x0124, and our own C-ECHO still works", () =>
    Effect.gen(function* () {
      const { warnings, layer } = warningsLogged()
      const scp = yield* scriptedScp((socket, pc, command) => {
        if (command.commandField === 0x0030 && command.messageId === 1) {
          // our C-ECHO-RQ: before answering it, a C-ECHO-RQ and a C-STORE-RQ of the peer's own
          socket.write(message(1, { _tag: "CEchoRq", messageId: 200, affectedSopClassUid: VERIFICATION }))
          const store = { _tag: "CStoreRq", messageId: 201, affectedSopClassUid: CT, priority: 0 } as const
          socket.write(message(3, { ...store, affectedSopInstanceUid: "1.2.3" }, DATA))
        } else if (command.commandField === 0x8001) {
          socket.write(message(1, { _tag: "CEchoRsp", messageIdBeingRespondedTo: 1, status: 0 }))
        }
      })
      const ae = yield* testAe({ aeTitle: "NETDICOM-SCU", timeouts: { dimse: "30 seconds" } })
      const echoed = yield* Effect.scoped(
        Effect.gen(function* () {
          const channel = yield* Scu.connect(ae, {
            host: "127.0.0.1",
            port: scp.port,
            calledAeTitle: "NETDICOM-SCP",
            contexts: [
              { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] },
              { abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }
            ]
          })
          return yield* Scu.echo(channel)
        })
      ).pipe(Effect.timeout("10 seconds"), Effect.provide(layer))
      assert.strictEqual(echoed.status, Status.SUCCESS)
      assert.deepStrictEqual(responses(scp.seen), [
        [0x8030, 200, Status.NOT_AUTHORIZED],
        [0x8001, 201, Status.NOT_AUTHORIZED]
      ])
      assert.strictEqual(warnings.filter((w) => w.includes("refused: 0x0124")).length, 2, warnings.join("\n"))
    })
  )
})
