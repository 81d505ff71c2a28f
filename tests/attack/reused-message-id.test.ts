/**
 * A peer reusing a message id while a request with it is still running (PS3.7 wants ids unique among outstanding
 * operations, but a peer's mistake must not cost it its C-CANCEL): two C-FIND-RQs with id 5, the first ending soon,
 * the second endless. When the first handler ended it removed the cancel signal registered under id 5, which was
 * the second's, so the C-CANCEL-RQ for id 5 that followed was ignored and the second C-FIND never ended.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Schedule, Stream } from "effect"
import { Dimse } from "@netdicom/wire"
import { associated, command, pdata, pdvsOf, promise, startScp, STUDY_FIND } from "./support.ts"

// (0010,0010) PN "*" in Implicit VR Little Endian.
const IDENTIFIER = Uint8Array.of(0x10, 0x00, 0x10, 0x00, 0x02, 0x00, 0x00, 0x00, 0x2a, 0x20)

describe("a message id reused while its request runs", () => {
  it.live("C-CANCEL-RQ still reaches the running C-FIND with that id after the other one ended", () =>
    Effect.gen(function* () {
      let calls = 0
      const server = yield* startScp({
        timeouts: { dimse: "10 seconds" },
        query: {
          find: () =>
            ++calls === 1
              ? Stream.make({ PatientName: "A" }, { PatientName: "B" }).pipe(
                  Stream.schedule(Schedule.spaced("100 millis"))
                )
              : Stream.repeat(Stream.make({ PatientName: "C" }), Schedule.spaced("50 millis"))
        }
      })
      const peer = yield* promise(() => associated(server.port))
      const find = command({ _tag: "CFindRq", messageId: 5, affectedSopClassUid: STUDY_FIND, priority: 0 })
      peer.send(pdata(5, true, true, find))
      peer.send(pdata(5, false, true, IDENTIFIER))
      peer.send(pdata(5, true, true, find))
      peer.send(pdata(5, false, true, IDENTIFIER))
      yield* Effect.sleep("600 millis")
      peer.send(pdata(5, true, true, command({ _tag: "CCancelRq", messageIdBeingRespondedTo: 5 })))
      // Finals seen (the first C-FIND's Success, then the second's Cancel), within 3 s.
      const finals: Array<number> = []
      const deadline = Date.now() + 3000
      while (finals.length < 2 && Date.now() < deadline) {
        const p = yield* promise(() => peer.next(Math.max(1, deadline - Date.now())))
        if (typeof p === "string") break
        if (p.type !== 0x04) continue
        for (const pdv of pdvsOf(p.body)) {
          if ((pdv.control & 1) === 0) continue
          const m = Dimse.decode(new Uint8Array(pdv.data))
          if (Result.isSuccess(m) && m.success._tag === "CFindRsp" && (m.success.status & 0xff00) !== 0xff00) {
            finals.push(m.success.status)
          }
        }
      }
      peer.destroy()
      assert.deepStrictEqual(finals, [0x0000, 0xfe00])
    })
  )
})
