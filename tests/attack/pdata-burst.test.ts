/**
 * Many P-DATA-TFs in one write (the run receiver takes a read's PDUs in one call at Info, one per call at Debug):
 * commands and data sets of several requests on several presentation contexts, a data set in many fragments, then
 * the peer's A-RELEASE-RQ or A-ABORT in the same write; a message's fragments interleaved with another message's
 * (which DICOM does not allow), which must end in a clean A-ABORT, never a hang; and a handler that aborts the
 * association with more requests behind it in the same read. From a raw peer on 127.0.0.1, at Info and at Debug.
 * Guard tests (the product held).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, References, Result } from "effect"
import { ApplicationEntity, DimseChannel, Server } from "@netdicom/net"
import { Dimse, Status } from "@netdicom/wire"
import {
  associated,
  associateRq,
  command,
  CT,
  describe as describePdu,
  echoStillWorks,
  encode,
  IMPLICIT,
  pdata,
  pdvsOf,
  promise,
  startScp,
  STUDY_FIND,
  untilAbortOrClose,
  VERIFICATION,
  type Peer
} from "./support.ts"

// (0008,0018) UI "1.2.3" in Explicit VR Little Endian, 14 bytes.
const DATA = Uint8Array.of(0x08, 0, 0x18, 0, 0x55, 0x49, 6, 0, 0x31, 0x2e, 0x32, 0x2e, 0x33, 0)
// (0008,0052) CS "STUDY" in Implicit VR Little Endian.
const IDENTIFIER = Uint8Array.of(0x08, 0, 0x52, 0, 6, 0, 0, 0, 0x53, 0x54, 0x55, 0x44, 0x59, 0x20)

const echo = (messageId: number) =>
  pdata(1, true, true, command({ _tag: "CEchoRq", messageId, affectedSopClassUid: VERIFICATION }))
const storeCommand = (messageId: number) =>
  pdata(
    3,
    true,
    true,
    command({ _tag: "CStoreRq", messageId, affectedSopClassUid: CT, affectedSopInstanceUid: "1.2.3", priority: 0 })
  )
// The data set one byte per P-DATA-TF, the last one flagged last.
const storeData = () => Array.from(DATA, (byte, i) => pdata(3, false, i === DATA.length - 1, Uint8Array.of(byte)))
const store = (messageId: number) => [storeCommand(messageId), ...storeData()]
const find = (messageId: number) => [
  pdata(5, true, true, command({ _tag: "CFindRq", messageId, affectedSopClassUid: STUDY_FIND, priority: 0 })),
  pdata(5, false, true, IDENTIFIER)
]

// The responses the peer gets (command, id, status) until a PDU that is no P-DATA-TF, a close or `ms`; and that.
const responsesUntilOther = async (peer: Peer, ms: number) => {
  const responses: Array<[string, number, number]> = []
  const deadline = Date.now() + ms
  for (;;) {
    const pdu = await peer.next(Math.max(1, deadline - Date.now()))
    if (typeof pdu === "string" || pdu.type !== 0x04) return { responses, next: describePdu(pdu) }
    const m = Result.getOrThrow(Dimse.decode(new Uint8Array(pdvsOf(pdu.body)[0]!.data)))
    if ("status" in m) responses.push([m._tag, m.messageIdBeingRespondedTo, m.status])
  }
}

const sorted = (rs: Array<[string, number, number]>) => [...rs].sort((a, b) => a[1] - b[1])

// 40 requests of three kinds on three presentation contexts: ids 1..40, every third a C-STORE of 14 fragments.
const burst = () =>
  Array.from({ length: 40 }, (_, i) => {
    const id = i + 1
    return id % 3 === 0 ? store(id) : id % 3 === 1 ? [echo(id)] : find(id)
  }).flat()
const expected = Array.from({ length: 40 }, (_, i) => {
  const id = i + 1
  const tag = id % 3 === 0 ? "CStoreRsp" : id % 3 === 1 ? "CEchoRsp" : "CFindRsp"
  return [tag, id, Status.SUCCESS] as [string, number, number]
})

for (const level of ["Info", "Debug"] as const) {
  const atLevel = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(Effect.provide(Logger.layer([])), Effect.provideService(References.MinimumLogLevel, level))

  describe(`P-DATA-TFs of many requests in one write, at ${level}`, () => {
    it.live("then A-RELEASE-RQ in the same write: every request answered once, then A-RELEASE-RP", () =>
      atLevel(
        Effect.gen(function* () {
          const server = yield* startScp()
          const peer = yield* promise(() => associated(server.port))
          peer.send(Buffer.concat([...burst(), encode({ _tag: "AReleaseRq" })]))
          const { responses, next } = yield* promise(() => responsesUntilOther(peer, 5000))
          assert.deepStrictEqual(sorted(responses), expected)
          assert.strictEqual(next, "PDU 0x06", "A-RELEASE-RP after the answers")
          peer.destroy()
        })
      )
    )

    it.live("then A-ABORT in the same write: the connection closes, the server goes on", () =>
      atLevel(
        Effect.gen(function* () {
          const server = yield* startScp()
          const peer = yield* promise(() => associated(server.port))
          peer.send(Buffer.concat([...burst(), encode({ _tag: "AAbort", source: 0, reason: 0 })]))
          // Answers may or may not go out before the abort is read; nothing after it but the close.
          const { next } = yield* promise(() => responsesUntilOther(peer, 5000))
          assert.strictEqual(next, "closed")
          assert.isTrue(yield* promise(() => echoStillWorks(server.port)))
          // Both associations' places given back (the echo's once its connection has closed).
          for (let i = 0; i < 40 && (yield* server.active) > 0; i++) yield* Effect.sleep("50 millis")
          assert.strictEqual(yield* server.active, 0)
        })
      )
    )

    it.live("a C-ECHO's command between a C-STORE's command and its data set: a clean A-ABORT", () =>
      atLevel(
        Effect.gen(function* () {
          const server = yield* startScp()
          const peer = yield* promise(() => associated(server.port))
          peer.send(Buffer.concat([storeCommand(1), echo(2), ...storeData(), echo(3)]))
          const ended = yield* promise(() => untilAbortOrClose(peer, 5000))
          assert.match(ended, /^A-ABORT|^closed$/)
          assert.isTrue(yield* promise(() => echoStillWorks(server.port)))
        })
      )
    )

    it.live("a C-STORE's data set fragments on another presentation context: a clean A-ABORT", () =>
      atLevel(
        Effect.gen(function* () {
          const server = yield* startScp()
          const peer = yield* promise(() => associated(server.port))
          peer.send(Buffer.concat([storeCommand(1), pdata(1, false, false, DATA), pdata(3, false, true, DATA)]))
          const ended = yield* promise(() => untilAbortOrClose(peer, 5000))
          assert.match(ended, /^A-ABORT|^closed$/)
          assert.isTrue(yield* promise(() => echoStillWorks(server.port)))
        })
      )
    )
  })
}

describe("a handler that aborts the association, more requests behind it in the same read", () => {
  for (const level of ["Info", "Debug"] as const) {
    it.live(`at ${level}: the A-ABORT, nothing after it, no request behind it handled`, () =>
      Effect.gen(function* () {
        const ae = yield* Effect.fromResult(
          ApplicationEntity.make({
            aeTitle: "NETDICOM-SCP",
            contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] }]
          })
        )
        const handled: Array<number> = []
        const handler: DimseChannel.RequestHandler = (request, channel) => {
          const m = request.message
          if (m._tag !== "CEchoRq") return Effect.void
          handled.push(m.messageId)
          return m.messageId === 2 ? channel.association.abort : Effect.void
        }
        const server = yield* Server.serve(ae, {
          port: 0,
          handler: (association) =>
            Effect.scoped(Effect.andThen(DimseChannel.make(association, handler), association.ended))
        }).pipe(Effect.provide(Logger.layer([])), Effect.provideService(References.MinimumLogLevel, level))
        const peer = yield* promise(() =>
          associated(
            server.port,
            associateRq({
              presentationContexts: [
                { _tag: "PresentationContextRq", id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] }
              ]
            })
          )
        )
        peer.send(Buffer.concat([echo(1), echo(2), echo(3), ...storeData(), echo(4), encode({ _tag: "AReleaseRq" })]))
        const ended = yield* promise(() => untilAbortOrClose(peer, 3000))
        peer.destroy()
        assert.match(ended, /^A-ABORT/)
        assert.deepStrictEqual(handled, [1, 2])
      })
    )
  }
})
