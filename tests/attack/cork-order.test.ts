/**
 * Transport now keeps the socket corked until the end of the tick. Requests that arrive in one read are answered in
 * the same tick: their responses, and an A-RELEASE-RP right after them, must all leave, in order.
 * (A peer that half-closes right after its A-RELEASE-RQ gets no A-RELEASE-RP, with or without the cork: its FIN is
 * a transport close, Evt17, and the state machine ends the association without answering, as PS3.8 9.2 says.)
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { Dimse } from "@netdicom/wire"
import { associated, command, encode, pdata, pdvsOf, promise, startScp, VERIFICATION } from "./support.ts"

const RELEASE_RQ = encode({ _tag: "AReleaseRq" })

describe("corked writes: order and the last PDUs", () => {
  for (const round of [1, 2]) {
    it.live(
      `50 C-ECHO-RQs and an A-RELEASE-RQ in one write: 50 C-ECHO-RSPs in order, then the A-RELEASE-RP (${round})`,
      () =>
        Effect.gen(function* () {
          const server = yield* startScp()
          const peer = yield* promise(() => associated(server.port))
          const echoes = Array.from({ length: 50 }, (_, i) =>
            pdata(1, true, true, command({ _tag: "CEchoRq", messageId: i + 1, affectedSopClassUid: VERIFICATION }))
          )
          peer.socket.write(Buffer.concat([...echoes, RELEASE_RQ]))
          const seen: Array<string> = []
          for (let i = 0; i < 51; i++) {
            const pdu = yield* promise(() => peer.next(5000))
            if (pdu === "closed" || pdu === "timeout") {
              seen.push(pdu)
              break
            }
            if (pdu.type === 0x06) {
              seen.push("A-RELEASE-RP")
              continue
            }
            for (const pdv of pdvsOf(pdu.body)) {
              const m = Dimse.decode(new Uint8Array(pdv.data))
              seen.push(
                Result.isSuccess(m) && m.success._tag === "CEchoRsp"
                  ? `rsp ${m.success.messageIdBeingRespondedTo}`
                  : `pdu ${pdu.type}`
              )
            }
          }
          peer.destroy()
          const expected = [...Array.from({ length: 50 }, (_, i) => `rsp ${i + 1}`), "A-RELEASE-RP"]
          assert.deepStrictEqual(seen, expected)
        }),
      20_000
    )
  }
})
