/**
 * The receive path as a `Receiver` class (b455bf2) and the parser as a class (ac0e0d3): two associations on one
 * server at once keep their receive state apart. While association B has a C-STORE data set half received (its
 * `target`), association A breaks a rule mid-message (its channel `gone`) or releases mid data set: B's message must
 * still complete and be answered, and B's next messages too; A alone ends. Shared state between instances (a static
 * or module-level field) would abort B, lose its data set or answer it on A.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { Dimse } from "@netdicom/wire"
import {
  CT,
  VERIFICATION,
  associated,
  command,
  encode,
  pdata,
  pdvsOf,
  promise,
  startScp,
  untilAbortOrClose,
  type Peer
} from "./support.ts"

const storeRq = (messageId: number) =>
  pdata(
    3,
    true,
    true,
    command({
      _tag: "CStoreRq",
      messageId,
      affectedSopClassUid: CT,
      affectedSopInstanceUid: `1.2.${messageId}`,
      priority: 0
    })
  )

const rspOf = async (peer: Peer): Promise<string> => {
  const p = await peer.next(3000)
  if (typeof p === "string") return p
  if (p.type !== 0x04) return `PDU 0x${p.type.toString(16)}`
  const decoded = Dimse.decode(new Uint8Array(Buffer.concat(pdvsOf(p.body).map((v) => v.data))))
  if (Result.isFailure(decoded)) return "undecodable"
  const m = decoded.success
  return `${m._tag} ${"messageIdBeingRespondedTo" in m ? m.messageIdBeingRespondedTo : "?"} ${"status" in m ? m.status : "?"}`
}

const tick = () => new Promise((r) => setTimeout(r, 50))

describe("two associations at once keep their receive state apart", () => {
  for (const ending of ["protocol error", "release", "abort"] as const) {
    it.live(`A's ${ending} mid data set leaves B's half-received C-STORE and later messages alone`, () =>
      Effect.gen(function* () {
        const server = yield* startScp()
        const a = yield* promise(() => associated(server.port))
        const b = yield* promise(() => associated(server.port))
        try {
          // Both have a data set half received.
          b.send(storeRq(11))
          b.send(pdata(3, false, false, new Uint8Array(1000).fill(0xbb)))
          a.send(storeRq(21))
          a.send(pdata(3, false, false, new Uint8Array(1000).fill(0xaa)))
          yield* promise(tick)
          if (ending === "protocol error") a.send(pdata(9, false, false, new Uint8Array(10)))
          else if (ending === "release") a.send(encode({ _tag: "AReleaseRq" }))
          else a.send(encode({ _tag: "AAbort", source: 0, reason: 0 }))
          yield* promise(tick)
          // B's data set ends now; then a C-ECHO and another C-STORE, interleaved with nothing from A.
          b.send(pdata(3, false, true, new Uint8Array(500).fill(0xbc)))
          assert.strictEqual(yield* promise(() => rspOf(b)), "CStoreRsp 11 0")
          b.send(pdata(1, true, true, command({ _tag: "CEchoRq", messageId: 12, affectedSopClassUid: VERIFICATION })))
          assert.strictEqual(yield* promise(() => rspOf(b)), "CEchoRsp 12 0")
          b.send(storeRq(13))
          b.send(pdata(3, false, true, new Uint8Array(10)))
          assert.strictEqual(yield* promise(() => rspOf(b)), "CStoreRsp 13 0")
          const endA = yield* promise(() => untilAbortOrClose(a, 5000))
          if (ending === "protocol error") assert.match(endA, /^A-ABORT|closed/)
          else if (ending === "abort") assert.strictEqual(endA, "closed")
          else assert.notStrictEqual(endA, "timeout")
          b.send(encode({ _tag: "AReleaseRq" }))
          const rp = yield* promise(() => b.next(3000))
          assert.isTrue(typeof rp !== "string" && rp.type === 0x06, "B releases normally")
        } finally {
          a.destroy()
          b.destroy()
        }
      })
    )
  }
})
