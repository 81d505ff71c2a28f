/**
 * A storage handler that dies in a way Effect's run loop reports itself ("Not a valid effect": a `tap` callback
 * returning a number, an easy slip in user code) must still get its C-STORE answered 0x0110, as StoreHandler.ts
 * promises for "a handler that died (a throw, a defect)", rather than leave the peer waiting for the DIMSE timeout.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { Dimse, Status } from "@netdicom/wire"
import { associated, pdata, pdvsOf, promise, startScp, storeRqPdata } from "./support.ts"

// (0008,0018) UI "1.2.3" in explicit VR little endian
const DATA = Uint8Array.of(0x08, 0, 0x18, 0, 0x55, 0x49, 6, 0, 0x31, 0x2e, 0x32, 0x2e, 0x33, 0)

describe("a storage handler whose effect is not valid", () => {
  it.live("the C-STORE is still answered (0x0110), within a second", () =>
    Effect.gen(function* () {
      let calls = 0
      const server = yield* startScp({
        storage: {
          // `tap` given a callback that returns a number, not an effect: a defect of the handler's
          store: () =>
            Effect.succeed({ status: Status.SUCCESS }).pipe(Effect.tap(() => calls++ as unknown as Effect.Effect<void>))
        }
      })
      const peer = yield* promise(() => associated(server.port))
      peer.send(Buffer.concat([storeRqPdata(), pdata(3, false, true, DATA)]))
      const answer = yield* promise(() => peer.next(1500))
      peer.destroy()
      assert.strictEqual(calls, 1)
      assert.notStrictEqual(answer, "timeout", "no C-STORE-RSP within 1.5 s")
      assert.notStrictEqual(answer, "closed")
      if (typeof answer === "string") return
      assert.strictEqual(answer.type, 0x04)
      const rsp = Result.getOrThrow(Dimse.decode(new Uint8Array(pdvsOf(answer.body)[0]!.data)))
      assert.strictEqual(rsp._tag, "CStoreRsp")
      if (rsp._tag === "CStoreRsp") assert.deepStrictEqual([rsp.messageIdBeingRespondedTo, rsp.status], [1, 0x0110])
    })
  )
})
