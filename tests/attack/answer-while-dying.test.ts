/**
 * A handler that hands its answer to a fiber of its own (forked detached) and dies before that fiber sends it: the
 * channel answers the request 0xC000 on the dead handler's behalf, and the forked fiber's answer then went out too,
 * two final responses to one request (PS3.7 9.3: one). The late one is now not sent (a Warn line); a handler whose
 * forked answer went out before it died gets no second one from the channel, and a later request reusing the id is
 * answered as usual. From a raw peer on 127.0.0.1, reading every PDU.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Logger, Result } from "effect"
import { ApplicationEntity, DimseChannel, Server } from "@netdicom/net"
import { Dimse, Status } from "@netdicom/wire"
import { associated, associateRq, command, IMPLICIT, pdata, pdvsOf, promise, STUDY_FIND, type Peer } from "./support.ts"

// (0008,0052) CS "STUDY" in Implicit VR Little Endian.
const IDENTIFIER = Uint8Array.of(0x08, 0, 0x52, 0, 6, 0, 0, 0, 0x53, 0x54, 0x55, 0x44, 0x59, 0x20)

// By arrival: the forked fiber answers Success after `answerMs`, the handler dies after `dieMs` (never: it waits for
// the forked answer and ends well).
type Plan = ReadonlyArray<{ readonly answerMs: number; readonly dieMs: number | undefined }>

const serveWith = (plan: Plan, warnings: Array<string>) =>
  Effect.gen(function* () {
    const ae = Result.getOrThrow(
      ApplicationEntity.make({
        aeTitle: "NETDICOM-SCP",
        contexts: [{ abstractSyntax: STUDY_FIND, transferSyntaxes: [IMPLICIT] }]
      })
    )
    let calls = 0
    const handler: DimseChannel.RequestHandler = (request, channel) => {
      const m = request.message
      if (m._tag !== "CFindRq") return Effect.void
      const { answerMs, dieMs } = plan[calls++]!
      const answer = channel.send(request.context, {
        _tag: "CFindRsp",
        messageIdBeingRespondedTo: m.messageId,
        affectedSopClassUid: STUDY_FIND,
        status: Status.SUCCESS,
        hasIdentifier: false
      })
      return Effect.gen(function* () {
        const answering = yield* Effect.forkDetach(Effect.andThen(Effect.sleep(answerMs), answer))
        if (dieMs === undefined) return yield* Effect.ignore(Fiber.join(answering))
        yield* Effect.sleep(dieMs)
        return yield* Effect.die("dies after handing its answer to another fiber")
      })
    }
    const capture = Logger.make(({ logLevel, message }) => {
      if (logLevel === "Warn") warnings.push((Array.isArray(message) ? message : [message]).join(" "))
    })
    return yield* Server.serve(ae, {
      port: 0,
      handler: (association) =>
        Effect.scoped(Effect.andThen(DimseChannel.make(association, handler), association.ended))
    }).pipe(Effect.provide(Logger.layer([capture])))
  })

const find = (messageId: number) =>
  Buffer.concat([
    pdata(5, true, true, command({ _tag: "CFindRq", messageId, affectedSopClassUid: STUDY_FIND, priority: 0 })),
    pdata(5, false, true, IDENTIFIER)
  ])

// The C-FIND-RSPs (id, status) the peer receives within `ms`.
const answersWithin = async (peer: Peer, ms: number) => {
  const out: Array<[number, number]> = []
  const deadline = Date.now() + ms
  for (;;) {
    const pdu = await peer.next(Math.max(1, deadline - Date.now()))
    if (typeof pdu === "string") return out
    if (pdu.type !== 0x04) continue
    const m = Result.getOrThrow(Dimse.decode(new Uint8Array(pdvsOf(pdu.body)[0]!.data)))
    if (m._tag === "CFindRsp") out.push([m.messageIdBeingRespondedTo, m.status])
  }
}

const rq = associateRq({
  presentationContexts: [
    { _tag: "PresentationContextRq", id: 5, abstractSyntax: STUDY_FIND, transferSyntaxes: [IMPLICIT] }
  ]
})

describe("a handler that dies while a fiber of its own is to answer", () => {
  it.live("answered once by the channel (0xC000); the late answer is not sent; the id reused later is answered", () =>
    Effect.gen(function* () {
      const warnings: Array<string> = []
      const server = yield* serveWith(
        [
          { answerMs: 150, dieMs: 0 },
          { answerMs: 0, dieMs: undefined }
        ],
        warnings
      )
      const peer = yield* promise(() => associated(server.port, rq))
      peer.send(find(1))
      const first = yield* promise(() => answersWithin(peer, 600))
      peer.send(find(1))
      const second = yield* promise(() => answersWithin(peer, 400))
      peer.destroy()
      assert.deepStrictEqual(first, [[1, Status.UNABLE_TO_PROCESS]], "one final response")
      assert.deepStrictEqual(second, [[1, Status.SUCCESS]], "the id reused later is answered")
      assert.isTrue(
        warnings.some((w) => w.startsWith("C-FIND-RSP 1 not sent")),
        warnings.join("\n")
      )
    })
  )

  it.live("a forked answer that went out before the handler died: no second one from the channel", () =>
    Effect.gen(function* () {
      const server = yield* serveWith([{ answerMs: 0, dieMs: 150 }], [])
      const peer = yield* promise(() => associated(server.port, rq))
      peer.send(find(1))
      const answers = yield* promise(() => answersWithin(peer, 600))
      peer.destroy()
      assert.deepStrictEqual(answers, [[1, Status.SUCCESS]])
    })
  )
})
