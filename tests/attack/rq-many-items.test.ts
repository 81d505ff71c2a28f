/**
 * An A-ASSOCIATE-RQ of up to 1 MiB (the parser's limit) made of items of types PS3.8 does not define, which the
 * acceptor must skip (PS3.8 9.3.1): each was kept, copied, with an object or two of its own, so 260,000 empty ones
 * (1 MiB) cost `decodePdu` 110-160 ms of the event loop, every association of the server waiting meanwhile, for
 * one megabyte an unauthenticated peer sends (ten a second took the loop whole). The first 16 are kept, the others
 * only skipped.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { PduCodec } from "@netdicom/wire"
import { associateRq, connectPeer, echoStillWorks, encode, promise, startScp } from "./support.ts"

/** An A-ASSOCIATE-RQ (of ours, valid) followed by `n` empty items of the undefined type 0x55. */
const rqWithUnknownItems = (n: number): Uint8Array => {
  const base = encode(associateRq())
  const rq = new Uint8Array(base.length + n * 4)
  rq.set(base)
  for (let i = 0; i < n; i++) rq[base.length + i * 4] = 0x55
  new DataView(rq.buffer).setUint32(2, rq.length - 6)
  return rq
}

describe("an A-ASSOCIATE-RQ of 260,000 unknown items", () => {
  it("decodes in under 40 ms, keeping the first 16 of them", () => {
    const rq = rqWithUnknownItems(260_000)
    let best = Infinity
    let decoded: ReturnType<typeof PduCodec.decodePdu> | undefined
    for (let k = 0; k < 3; k++) {
      const started = performance.now()
      decoded = PduCodec.decodePdu(rq)
      best = Math.min(best, performance.now() - started)
    }
    assert.isTrue(decoded !== undefined && Result.isSuccess(decoded))
    const pdu = Result.getOrThrow(decoded!)
    assert.strictEqual(pdu._tag, "AAssociateRq")
    if (pdu._tag === "AAssociateRq") {
      assert.strictEqual(pdu.unknownItems.length, 16)
      assert.strictEqual(pdu.presentationContexts.length, 4, "the items it knows are all read")
    }
    assert.isBelow(best, 40, `decodePdu took ${Math.round(best)} ms (best of 3)`)
  })

  it.live("sent to an SCP: it is answered, and another client's echo meanwhile is not held up", () =>
    Effect.gen(function* () {
      const server = yield* startScp()
      const rq = rqWithUnknownItems(260_000)
      let maxLag = 0
      let last = performance.now()
      const lag = setInterval(() => {
        const now = performance.now()
        maxLag = Math.max(maxLag, now - last - 5)
        last = now
      }, 5)
      const answers = yield* promise(() =>
        Promise.all(
          Array.from({ length: 4 }, async () => {
            const peer = await connectPeer(server.port)
            peer.send(rq)
            const answer = await peer.next(5000)
            peer.destroy()
            return typeof answer === "string" ? answer : answer.type
          })
        )
      )
      clearInterval(lag)
      const echo = yield* promise(() => echoStillWorks(server.port))
      assert.deepStrictEqual(answers, [0x02, 0x02, 0x02, 0x02], "each gets its A-ASSOCIATE-AC")
      assert.isTrue(echo)
      assert.isBelow(Math.round(maxLag), 150, `event loop held ${Math.round(maxLag)} ms at once`)
    })
  )
})
