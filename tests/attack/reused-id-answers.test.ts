/**
 * A peer that reuses a message id while the first request with it still runs (PS3.7 wants ids unique among
 * outstanding operations; a peer's mistake all the same) must still get one final response per request when one of
 * the two handlers dies without answering. The channel's record of unanswered requests kept one request per id: the
 * second replaced the first, and the first's final response was taken as the second's. So when the first answered
 * and the second then died, or the second answered and the first then died, the one that died was never answered
 * (one final response for two requests; the peer waits for its DIMSE timeout). From a raw peer on 127.0.0.1.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { ApplicationEntity, DimseChannel, Server } from "@netdicom/net"
import { Dimse, Status } from "@netdicom/wire"
import { associated, associateRq, command, IMPLICIT, pdata, pdvsOf, promise, STUDY_FIND, type Peer } from "./support.ts"

// (0008,0052) CS "STUDY" in Implicit VR Little Endian.
const IDENTIFIER = Uint8Array.of(0x08, 0, 0x52, 0, 6, 0, 0, 0, 0x53, 0x54, 0x55, 0x44, 0x59, 0x20)

// The n-th C-FIND-RQ's handler (in arrival order): waits `ms`, then answers Success or dies without answering.
type Plan = ReadonlyArray<{ readonly ms: number; readonly answers: boolean }>

const serveWith = (plan: Plan) =>
  Effect.gen(function* () {
    const ae = Result.getOrThrow(
      ApplicationEntity.make({
        aeTitle: "NETDICOM-SCP",
        contexts: [{ abstractSyntax: STUDY_FIND, transferSyntaxes: [IMPLICIT] }],
        timeouts: { dimse: "20 seconds" }
      })
    )
    let calls = 0
    const handler: DimseChannel.RequestHandler = (request, channel) => {
      const m = request.message
      if (m._tag !== "CFindRq") return Effect.void
      const step = plan[calls++]!
      return Effect.andThen(
        Effect.sleep(step.ms),
        step.answers
          ? Effect.orDie(
              channel.send(request.context, {
                _tag: "CFindRsp",
                messageIdBeingRespondedTo: m.messageId,
                affectedSopClassUid: STUDY_FIND,
                status: Status.SUCCESS,
                hasIdentifier: false
              })
            )
          : Effect.die("dies without answering")
      )
    }
    return yield* Server.serve(ae, {
      port: 0,
      handler: (association) =>
        Effect.scoped(Effect.andThen(DimseChannel.make(association, handler), association.ended))
    })
  })

const find = (messageId: number) =>
  Buffer.concat([
    pdata(5, true, true, command({ _tag: "CFindRq", messageId, affectedSopClassUid: STUDY_FIND, priority: 0 })),
    pdata(5, false, true, IDENTIFIER)
  ])

// The final responses' (id, status) the peer receives within `ms`.
const answersWithin = async (peer: Peer, ms: number) => {
  const out: Array<[number, number]> = []
  const until = Date.now() + ms
  for (;;) {
    const left = until - Date.now()
    if (left <= 0) return out
    const pdu = await peer.next(left)
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

describe("a message id reused while its first request runs, one handler dying unanswered", () => {
  for (const [name, plan, expected] of [
    [
      "first answers, second dies: both answered",
      [
        { ms: 100, answers: true },
        { ms: 400, answers: false }
      ],
      [
        [7, Status.SUCCESS],
        [7, Status.UNABLE_TO_PROCESS]
      ]
    ],
    [
      "second answers, first dies: both answered",
      [
        { ms: 400, answers: false },
        { ms: 100, answers: true }
      ],
      [
        [7, Status.SUCCESS],
        [7, Status.UNABLE_TO_PROCESS]
      ]
    ]
  ] as const) {
    it.live(name, () =>
      Effect.gen(function* () {
        const server = yield* serveWith(plan)
        const peer = yield* promise(() => associated(server.port, rq))
        peer.send(Buffer.concat([find(7), find(7)]))
        const answers = yield* promise(() => answersWithin(peer, 1500))
        peer.destroy()
        assert.deepStrictEqual(
          answers,
          expected.map(([id, status]) => [id, status]),
          "one final response per request"
        )
      })
    )
  }
})
