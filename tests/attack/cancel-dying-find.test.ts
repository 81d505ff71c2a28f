/**
 * A C-CANCEL-RQ that reaches a C-FIND as its query dies (PS3.7 9.3.2.3: the C-FIND then ends with one final
 * response): the cancel sent just before, at, and after the moment the query service's stream dies, one association
 * each; and 10,000 C-ECHO-RQs all with message id 1 in one write (the channel's record of unanswered requests by id
 * must neither lose nor double an answer, nor grow). Each request gets exactly one final response. From a raw peer on
 * 127.0.0.1. Guard tests (the product held).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Result, Stream } from "effect"
import { Dimse, Status } from "@netdicom/wire"
import {
  associated,
  command,
  encode,
  pdata,
  pdvsOf,
  promise,
  startScp,
  STUDY_FIND,
  VERIFICATION,
  type Peer
} from "./support.ts"

// (0008,0052) CS "STUDY" in Implicit VR Little Endian.
const IDENTIFIER = Uint8Array.of(0x08, 0, 0x52, 0, 6, 0, 0, 0, 0x53, 0x54, 0x55, 0x44, 0x59, 0x20)

// The final responses (command, id, status) the peer receives until the connection ends or `ms` pass.
const finals = async (peer: Peer, ms: number, stopAfter = Infinity) => {
  const out: Array<[string, number, number]> = []
  const deadline = Date.now() + ms
  while (out.length < stopAfter) {
    const pdu = await peer.next(Math.max(1, deadline - Date.now()))
    if (typeof pdu === "string") return out
    if (pdu.type !== 0x04) continue
    for (const pdv of pdvsOf(pdu.body)) {
      if ((pdv.control & 1) === 0) continue
      const m = Result.getOrThrow(Dimse.decode(new Uint8Array(pdv.data)))
      if ("status" in m && m.status !== Status.PENDING) out.push([m._tag, m.messageIdBeingRespondedTo, m.status])
    }
  }
  return out
}

describe("a C-CANCEL-RQ reaching a C-FIND whose query dies", () => {
  for (const cancelMs of [60, 100, 140]) {
    it.live(`cancelled ${cancelMs} ms in, the query dying at 100 ms: one final response`, () =>
      Effect.gen(function* () {
        const server = yield* startScp({
          query: {
            find: () =>
              Stream.concat(
                Stream.make({ PatientName: "A" }),
                Stream.fromEffect(Effect.sleep("100 millis")).pipe(Stream.flatMap(() => Stream.die("query died")))
              )
          }
        }).pipe(Effect.provide(Logger.layer([])))
        const peer = yield* promise(() => associated(server.port))
        peer.send(
          Buffer.concat([
            pdata(
              5,
              true,
              true,
              command({ _tag: "CFindRq", messageId: 3, affectedSopClassUid: STUDY_FIND, priority: 0 })
            ),
            pdata(5, false, true, IDENTIFIER)
          ])
        )
        yield* Effect.sleep(cancelMs)
        peer.send(pdata(5, true, true, command({ _tag: "CCancelRq", messageIdBeingRespondedTo: 3 })))
        const got = yield* promise(() => finals(peer, 1000))
        peer.destroy()
        assert.strictEqual(got.length, 1, JSON.stringify(got))
        assert.include([Status.CANCEL, Status.UNABLE_TO_PROCESS], got[0]![2])
      })
    )
  }
})

describe("10,000 C-ECHO-RQs all with message id 1 in one write", () => {
  it.live("10,000 C-ECHO-RSPs, Success, then the release", () =>
    Effect.gen(function* () {
      const server = yield* startScp().pipe(Effect.provide(Logger.layer([])))
      const peer = yield* promise(() => associated(server.port))
      const echo = pdata(1, true, true, command({ _tag: "CEchoRq", messageId: 1, affectedSopClassUid: VERIFICATION }))
      peer.send(Buffer.concat([...Array.from({ length: 10_000 }, () => echo), encode({ _tag: "AReleaseRq" })]))
      const got = yield* promise(() => finals(peer, 20_000, 10_000))
      const then = yield* promise(() => peer.next(3000))
      peer.destroy()
      assert.strictEqual(got.length, 10_000)
      assert.isTrue(got.every(([tag, id, status]) => tag === "CEchoRsp" && id === 1 && status === Status.SUCCESS))
      assert.isTrue(typeof then !== "string" && then.type === 0x06, "A-RELEASE-RP")
    })
  )
})
