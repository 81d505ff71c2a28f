/**
 * A request handler that ends without its final response is answered by the channel, once, and logged at Error with
 * the request's command and message id; the association goes on. The case this was found with: Effect 4.1.5's run
 * loop ends a fiber that meets something other than an effect ("Fiber.runLoop: Not a valid effect", here a `tap`
 * whose callback returns a number) without running the handler's own `catchCause`, so nothing else answers or logs
 * it. A handler that dies the ordinary way is answered once, and one that answered before dying is not answered
 * again. From a scripted peer on 127.0.0.1, reading every PDU the server sends.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Logger, Result, Stream } from "effect"
import * as Net from "node:net"
import { CommandSet, Dimse, PduCodec, PduParser, Status, type Pdu } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as Server from "../src/association/Server.ts"
import * as DimseChannel from "../src/dimse/DimseChannel.ts"
import { SOP_CLASSES } from "../src/services/QueryRetrieve.ts"
import { associateRq } from "./rawPeer.ts"
import { CT, VERIFICATION, testAe } from "./support.ts"

const FIND = SOP_CLASSES.study.find
const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

// A continuation that returns no effect: the types refuse it, a cast lets it through, as user code may.
const notAnEffect = (): Effect.Effect<void> => Effect.void.pipe(Effect.tap(() => 1 as unknown as Effect.Effect<void>))

// What each request's handler does, by message id: answers or not, then ends well, dies, or dies in the run loop.
const handler: DimseChannel.RequestHandler = (request, channel) => {
  const m = request.message
  if (!("messageId" in m)) return Effect.void
  const answer = Effect.suspend(() => {
    const response =
      m._tag === "CEchoRq"
        ? ({ _tag: "CEchoRsp", messageIdBeingRespondedTo: m.messageId, status: Status.SUCCESS } as const)
        : undefined
    return response === undefined ? Effect.void : Effect.orDie(channel.send(request.context, response))
  })
  switch (m.messageId) {
    case 1:
      return notAnEffect()
    case 2:
      return Effect.die("dies at once")
    case 3:
      return Effect.andThen(answer, Effect.die("dies after answering"))
    case 4:
      return Effect.andThen(answer, notAnEffect())
    case 5:
    case 6:
      return Effect.andThen(Stream.runDrain(request.dataSet).pipe(Effect.ignore), notAnEffect())
    case 8:
      // a handler function that throws instead of returning an effect
      throw new Error("throws before returning an effect")
    default:
      return answer
  }
}

const rq = associateRq({
  presentationContexts: [
    {
      _tag: "PresentationContextRq",
      id: 1,
      abstractSyntax: VERIFICATION,
      transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN]
    },
    { _tag: "PresentationContextRq", id: 3, abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] },
    { _tag: "PresentationContextRq", id: 5, abstractSyntax: FIND, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }
  ]
})

const commandPdu = (pc: number, m: Dimse.Message, dataSet?: Uint8Array) =>
  PduCodec.encodePDataTf([
    { presentationContextId: pc, isCommand: true, isLast: true, data: Result.getOrThrow(Dimse.encode(m)) },
    ...(dataSet === undefined ? [] : [{ presentationContextId: pc, isCommand: false, isLast: true, data: dataSet }])
  ])

// A scripted peer that keeps every PDU it receives, in order.
const connectPeer = (port: number) =>
  promise(
    () =>
      new Promise<{ readonly socket: Net.Socket; readonly received: Array<Pdu.Pdu> }>((resolve, reject) => {
        const socket = Net.createConnection({ host: "127.0.0.1", port, noDelay: true })
        const parser = PduParser.make({ maxPduLength: 0 })
        const received: Array<Pdu.Pdu> = []
        socket.on("data", (chunk) => received.push(...parser.push(new Uint8Array(chunk)).pdus))
        socket.once("error", reject)
        socket.once("connect", () => resolve({ socket, received }))
      })
  )

// (0008,0018) UI "1.2.3" in explicit VR little endian
const DATA = Uint8Array.of(0x08, 0, 0x18, 0, 0x55, 0x49, 6, 0, 0x31, 0x2e, 0x32, 0x2e, 0x33, 0)
// (0008,0052) CS "STUDY" in implicit VR little endian
const IDENTIFIER = Uint8Array.of(0x08, 0, 0x52, 0, 6, 0, 0, 0, 0x53, 0x54, 0x55, 0x44, 0x59, 0x20)

describe("a request handler that ends without its final response", () => {
  it.live("is answered once with a failure and logged at Error; the association goes on", () =>
    Effect.gen(function* () {
      const errors: Array<string> = []
      const capture = Logger.make(({ logLevel, message, cause }) => {
        if (logLevel === "Error") {
          errors.push(`${(Array.isArray(message) ? message : [message]).join(" ")} ${Cause.pretty(cause)}`)
        }
      })
      const ae = yield* testAe({
        aeTitle: "NETDICOM-SCP",
        contexts: [
          { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] },
          { abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] },
          { abstractSyntax: FIND, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }
        ],
        timeouts: { dimse: "30 seconds" }
      })
      const server = yield* Server.serve(ae, {
        port: 0,
        handler: (association) =>
          Effect.scoped(Effect.andThen(DimseChannel.make(association, handler), association.ended))
      }).pipe(Effect.provide(Logger.layer([capture])))
      const peer = yield* connectPeer(server.port)
      peer.socket.write(Result.getOrThrow(PduCodec.encodePdu(rq)))
      yield* Effect.sleep("300 millis")
      assert.strictEqual(peer.received.shift()?._tag, "AAssociateAc")

      const echo = (messageId: number) =>
        commandPdu(1, { _tag: "CEchoRq", messageId, affectedSopClassUid: VERIFICATION })
      // The commands received in the 700 ms after sending: long enough for a second answer to show up; without the
      // fix the first never comes (the DIMSE timeout is 30 s).
      const answers = (sent: Uint8Array) =>
        Effect.gen(function* () {
          peer.socket.write(sent)
          yield* Effect.sleep("700 millis")
          return peer.received.splice(0).map((pdu) => {
            if (pdu._tag !== "PDataTf") return [pdu._tag]
            const c = Result.getOrThrow(CommandSet.decode(pdu.pdvs[0]!.data))
            return [c.commandField, c.messageIdBeingRespondedTo, c.status]
          })
        })

      // the run loop's own defect, no answer sent: answered 0x0110 by the channel
      assert.deepStrictEqual(yield* answers(echo(1)), [[0x8030, 1, Status.PROCESSING_FAILURE]])
      // an ordinary defect, no answer sent: answered once
      assert.deepStrictEqual(yield* answers(echo(2)), [[0x8030, 2, Status.PROCESSING_FAILURE]])
      // answered, then died (either way): not answered again
      assert.deepStrictEqual(yield* answers(echo(3)), [[0x8030, 3, Status.SUCCESS]])
      assert.deepStrictEqual(yield* answers(echo(4)), [[0x8030, 4, Status.SUCCESS]])
      // a C-STORE with its data set, and a C-FIND: 0x0110 and 0xC000
      const store = commandPdu(
        3,
        { _tag: "CStoreRq", messageId: 5, affectedSopClassUid: CT, affectedSopInstanceUid: "1.2.3", priority: 0 },
        DATA
      )
      assert.deepStrictEqual(yield* answers(store), [[0x8001, 5, Status.PROCESSING_FAILURE]])
      const find = commandPdu(5, { _tag: "CFindRq", messageId: 6, affectedSopClassUid: FIND, priority: 0 }, IDENTIFIER)
      assert.deepStrictEqual(yield* answers(find), [[0x8020, 6, Status.UNABLE_TO_PROCESS]])
      // the association goes on
      assert.deepStrictEqual(yield* answers(echo(7)), [[0x8030, 7, Status.SUCCESS]])
      // a handler function that throws: its defect, answered once; the association still goes on
      assert.deepStrictEqual(yield* answers(echo(8)), [[0x8030, 8, Status.PROCESSING_FAILURE]])
      assert.deepStrictEqual(yield* answers(echo(9)), [[0x8030, 9, Status.SUCCESS]])

      for (const [id, command, why] of [
        [1, "C-ECHO-RQ", "Not a valid effect"],
        [2, "C-ECHO-RQ", "dies at once"],
        [5, "C-STORE-RQ", "Not a valid effect"],
        [6, "C-FIND-RQ", "Not a valid effect"],
        [8, "C-ECHO-RQ", "throws before returning an effect"]
      ] as const) {
        const line = errors.find((e) => new RegExp(`${command} ${id}\\b`).test(e))
        assert.isDefined(line, `no Error line for ${command} ${id}:\n${errors.join("\n")}`)
        assert.include(line, why)
      }
      // the ones that answered before dying are logged, without an answer of the channel's
      assert.isTrue(errors.some((e) => e.includes("dies after answering") && !e.includes("answered 0x")))
      assert.isTrue(errors.some((e) => e.includes("died after answering C-ECHO-RQ 4") && e.includes("Not a valid")))
      peer.socket.destroy()
    })
  )

  it.live("a request on a channel with no handler at all is refused 0x0122, logged at Warn", () =>
    Effect.gen(function* () {
      const warnings: Array<string> = []
      const capture = Logger.make(({ logLevel, message }) => {
        if (logLevel === "Warn") warnings.push((Array.isArray(message) ? message : [message]).join(" "))
      })
      const ae = yield* testAe({
        aeTitle: "NETDICOM-SCP",
        contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }]
      })
      const server = yield* Server.serve(ae, {
        port: 0,
        handler: (association) => Effect.scoped(Effect.andThen(DimseChannel.make(association), association.ended))
      }).pipe(Effect.provide(Logger.layer([capture])))
      const peer = yield* connectPeer(server.port)
      peer.socket.write(Result.getOrThrow(PduCodec.encodePdu(rq)))
      yield* Effect.sleep("300 millis")
      assert.strictEqual(peer.received.shift()?._tag, "AAssociateAc")
      peer.socket.write(commandPdu(1, { _tag: "CEchoRq", messageId: 9, affectedSopClassUid: VERIFICATION }))
      yield* Effect.sleep("500 millis")
      const answers = peer.received.splice(0).map((pdu) => {
        if (pdu._tag !== "PDataTf") return [pdu._tag]
        const c = Result.getOrThrow(CommandSet.decode(pdu.pdvs[0]!.data))
        return [c.commandField, c.messageIdBeingRespondedTo, c.status]
      })
      assert.deepStrictEqual(answers, [[0x8030, 9, Status.SOP_CLASS_NOT_SUPPORTED]])
      assert.isTrue(
        warnings.some((w) => w.startsWith("C-ECHO-RQ 9 ") && w.includes("refused: 0x0122")),
        warnings.join("\n")
      )
      peer.socket.destroy()
    })
  )
})
