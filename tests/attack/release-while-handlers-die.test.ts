/**
 * The peer's A-RELEASE-RQ (or A-ABORT) in the same write as requests whose handlers then die without answering: a
 * defect their recovery sees (`Effect.die`), one it does not (Effect's run loop meeting "Not a valid effect"), or never
 * ending (interrupted once the release has waited the DIMSE timeout). Before the A-RELEASE-RP each request must get
 * its one final response (0xC000 for a C-FIND); after an A-ABORT, nothing more is sent and the server goes on. From
 * a raw peer on 127.0.0.1, reading every PDU. Guard tests (the product held).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Result } from "effect"
import { ApplicationEntity, DimseChannel, Server } from "@netdicom/net"
import { Dimse, Status } from "@netdicom/wire"
import {
  associated,
  associateRq,
  command,
  describe as describePdu,
  encode,
  IMPLICIT,
  pdata,
  pdvsOf,
  promise,
  STUDY_FIND,
  type Peer
} from "./support.ts"

// (0008,0052) CS "STUDY" in Implicit VR Little Endian.
const IDENTIFIER = Uint8Array.of(0x08, 0, 0x52, 0, 6, 0, 0, 0, 0x53, 0x54, 0x55, 0x44, 0x59, 0x20)

// A continuation that returns no effect: the types refuse it, a cast lets it through, as user code may.
const notAnEffect = (): Effect.Effect<void> => Effect.void.pipe(Effect.tap(() => 1 as unknown as Effect.Effect<void>))

const modes = {
  "dies (Effect.die)": () => Effect.andThen(Effect.sleep("150 millis"), Effect.die("dies without answering")),
  "dies in the run loop (Not a valid effect)": () => Effect.andThen(Effect.sleep("150 millis"), notAnEffect()),
  "never ends (interrupted after the DIMSE timeout)": () => Effect.never
} as const

const serveWith = (handle: () => Effect.Effect<void>) =>
  Effect.gen(function* () {
    const ae = Result.getOrThrow(
      ApplicationEntity.make({
        aeTitle: "NETDICOM-SCP",
        contexts: [{ abstractSyntax: STUDY_FIND, transferSyntaxes: [IMPLICIT] }],
        timeouts: { dimse: "1 second", acse: "2 seconds" }
      })
    )
    const handler: DimseChannel.RequestHandler = (request) =>
      request.message._tag === "CFindRq" ? handle() : Effect.void
    return yield* Server.serve(ae, {
      port: 0,
      handler: (association) =>
        Effect.scoped(Effect.andThen(DimseChannel.make(association, handler), association.ended))
    }).pipe(Effect.provide(Logger.layer([])))
  })

const find = (messageId: number) =>
  Buffer.concat([
    pdata(5, true, true, command({ _tag: "CFindRq", messageId, affectedSopClassUid: STUDY_FIND, priority: 0 })),
    pdata(5, false, true, IDENTIFIER)
  ])

// Every PDU until the connection closes or `ms`: a C-FIND-RSP as [id, status], anything else by its name.
const everything = async (peer: Peer, ms: number) => {
  const out: Array<[number, number] | string> = []
  const deadline = Date.now() + ms
  for (;;) {
    const pdu = await peer.next(Math.max(1, deadline - Date.now()))
    if (typeof pdu === "string" || pdu.type !== 0x04) {
      out.push(describePdu(pdu))
      if (typeof pdu === "string" || pdu.type === 0x06 || pdu.type === 0x07) return out
      continue
    }
    const m = Result.getOrThrow(Dimse.decode(new Uint8Array(pdvsOf(pdu.body)[0]!.data)))
    out.push(m._tag === "CFindRsp" ? [m.messageIdBeingRespondedTo, m.status] : m._tag)
  }
}

const rq = associateRq({
  presentationContexts: [
    { _tag: "PresentationContextRq", id: 5, abstractSyntax: STUDY_FIND, transferSyntaxes: [IMPLICIT] }
  ]
})

describe("A-RELEASE-RQ right behind requests whose handlers die", () => {
  for (const [name, handle] of Object.entries(modes)) {
    it.live(`a handler that ${name}: each C-FIND answered 0xC000 once, then A-RELEASE-RP`, () =>
      Effect.gen(function* () {
        const server = yield* serveWith(handle)
        const peer = yield* promise(() => associated(server.port, rq))
        peer.send(Buffer.concat([find(1), find(2), find(3), encode({ _tag: "AReleaseRq" })]))
        const got = yield* promise(() => everything(peer, 5000))
        peer.destroy()
        const answers = got.slice(0, -1) as Array<[number, number]>
        assert.deepStrictEqual(
          [...answers].sort((a, b) => a[0] - b[0]),
          [
            [1, Status.UNABLE_TO_PROCESS],
            [2, Status.UNABLE_TO_PROCESS],
            [3, Status.UNABLE_TO_PROCESS]
          ],
          JSON.stringify(got)
        )
        assert.strictEqual(got.at(-1), "PDU 0x06", JSON.stringify(got))
      })
    )

    it.live(`a handler that ${name}, A-ABORT in the same write: nothing sent after it, the server goes on`, () =>
      Effect.gen(function* () {
        const server = yield* serveWith(handle)
        const peer = yield* promise(() => associated(server.port, rq))
        peer.send(Buffer.concat([find(1), find(2), encode({ _tag: "AAbort", source: 0, reason: 0 })]))
        const got = yield* promise(() => everything(peer, 3000))
        peer.destroy()
        assert.deepStrictEqual(got, ["closed"])
        for (let i = 0; i < 40 && (yield* server.active) > 0; i++) yield* Effect.sleep("50 millis")
        assert.strictEqual(yield* server.active, 0)
      })
    )
  }
})
