/**
 * An A-ASSOCIATE-RQ of up to 1 MiB (the parser's limit) made of items of types PS3.8 does not define, which the
 * acceptor must skip (PS3.8 9.3.1): each was kept, copied, with an object or two of its own, so 260,000 empty ones
 * (1 MiB) cost `decodePdu` 110-160 ms of the event loop, every association of the server waiting meanwhile, for
 * one megabyte an unauthenticated peer sends (ten a second took the loop whole). The first 16 are kept, the others
 * only skipped.
 *
 * Then the items it knows: 1 MiB of 47,000 Presentation Context items held the loop 60-100 ms (four such requests at
 * once, 2026-12-06, load ~3), 128 contexts of 1,150 Transfer Syntax sub-items 35-59 ms. A 129th Presentation Context
 * item is now refused as it is read (their ids are odd, 1-255), and an acceptor takes an A-ASSOCIATE-RQ of at most
 * 256 KiB (`PduParser.ACCEPTOR_CONTROL_LIMIT`): 1-2 ms for the first, the second refused by its length, 256 KiB of
 * sub-items 9-31 ms.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { PduCodec, PduParser } from "@netdicom/wire"
import { associateRq, connectPeer, echoStillWorks, encode, promise, startScp } from "./support.ts"
import { rawRq } from "./hostile-rq-support.ts"

/** An A-ASSOCIATE-RQ (of ours, valid) followed by `n` empty items of the undefined type 0x55. */
const rqWithUnknownItems = (n: number): Uint8Array => {
  const base = encode(associateRq())
  const rq = new Uint8Array(base.length + n * 4)
  rq.set(base)
  for (let i = 0; i < n; i++) rq[base.length + i * 4] = 0x55
  new DataView(rq.buffer).setUint32(2, rq.length - 6)
  return rq
}

/** The longest event-loop stall while `run` goes on, in ms (a 5 ms interval's lateness). */
const stallDuring = async <A>(run: () => Promise<A>): Promise<{ readonly result: A; readonly stall: number }> => {
  let stall = 0
  let last = performance.now()
  const lag = setInterval(() => {
    const now = performance.now()
    stall = Math.max(stall, now - last - 5)
    last = now
  }, 5)
  try {
    return { result: await run(), stall: Math.round(stall) }
  } finally {
    clearInterval(lag)
  }
}

/** What each of `peers` connections sending `rq` at once gets back: the PDU's type, or why none came. */
const answersTo = (port: number, rq: Uint8Array, peers = 4) =>
  Promise.all(
    Array.from({ length: peers }, async () => {
      const peer = await connectPeer(port)
      peer.send(rq)
      const answer = await peer.next(5000)
      peer.destroy()
      return answer
    })
  )

const typeOf = (answer: Awaited<ReturnType<typeof answersTo>>[number]) =>
  typeof answer === "string" ? answer : answer.type

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
      // as many as the acceptor's limit holds (256 KiB)
      const rq = rqWithUnknownItems(65_000)
      const { result, stall } = yield* promise(() => stallDuring(() => answersTo(server.port, rq)))
      const echo = yield* promise(() => echoStillWorks(server.port))
      assert.deepStrictEqual(result.map(typeOf), [0x02, 0x02, 0x02, 0x02], "each gets its A-ASSOCIATE-AC")
      assert.isTrue(echo)
      assert.isBelow(stall, 150, `event loop held ${stall} ms at once`)
    })
  )
})

const contexts = (n: number, transferSyntaxes: ReadonlyArray<string>, abstractSyntax = "1.2") =>
  Array.from({ length: n }, (_, i) => ({ id: (i * 2 + 1) & 0xff, abstractSyntax, transferSyntaxes }))

describe("an A-ASSOCIATE-RQ of many Presentation Context items or sub-items", () => {
  it("a 129th Presentation Context item is refused as it is read, a typed error naming it", () => {
    const at128 = PduCodec.decodePdu(rawRq({ contexts: contexts(128, ["1.2"]) }))
    assert.isTrue(Result.isSuccess(at128), "128 are taken")
    const rq = rawRq({ contexts: contexts(47_000, ["1.2"]) })
    assert.isAbove(rq.length, 1_000_000)
    let best = Infinity
    let decoded: ReturnType<typeof PduCodec.decodePdu> | undefined
    for (let k = 0; k < 3; k++) {
      const started = performance.now()
      decoded = PduCodec.decodePdu(rq)
      best = Math.min(best, performance.now() - started)
    }
    assert.isTrue(decoded !== undefined && Result.isFailure(decoded), "refused")
    const error = Result.isFailure(decoded!) ? decoded.failure : undefined
    assert.strictEqual(error?._tag, "PduDecodeError")
    assert.strictEqual(error?.item, "Presentation Context item")
    assert.match(error?.rule ?? "", /more than 128 Presentation Context items/)
    // the 129th item starts after the header (6), the fixed fields (68), the Application Context item and 128 others
    assert.strictEqual(error?.offset, 6 + 68 + 4 + 21 + 128 * 22)
    assert.strictEqual(error?.abortReason, 6)
    assert.isBelow(best, 5, `decodePdu took ${best.toFixed(1)} ms (best of 3)`)
  })

  it.live("sent to an SCP: 129 contexts get an A-ABORT (invalid PDU parameter value); another client is served", () =>
    Effect.gen(function* () {
      const server = yield* startScp()
      const answers = yield* promise(() => answersTo(server.port, rawRq({ contexts: contexts(129, ["1.2"]) }), 2))
      for (const answer of answers) {
        assert.isTrue(typeof answer !== "string" && answer.type === 0x07, `A-ABORT, got ${typeOf(answer)}`)
        if (typeof answer !== "string") assert.deepStrictEqual([...answer.body.subarray(2, 4)], [2, 6])
      }
      assert.isTrue(yield* promise(() => echoStillWorks(server.port)))
    })
  )

  it.live("an acceptor takes an A-ASSOCIATE-RQ of at most 256 KiB: 1 MiB of sub-items is refused by its length", () =>
    Effect.gen(function* () {
      const server = yield* startScp()
      const large = rawRq({
        contexts: contexts(
          128,
          Array.from({ length: 1150 }, () => "1.2")
        )
      })
      assert.isAbove(large.length, 1_000_000)
      const refused = yield* promise(() => stallDuring(() => answersTo(server.port, large)))
      assert.deepStrictEqual(refused.result.map(typeOf), [0x07, 0x07, 0x07, 0x07], "A-ABORT for each")
      // the most the acceptor takes: 128 contexts of 290 sub-items, under 256 KiB
      const most = rawRq({
        contexts: contexts(
          128,
          Array.from({ length: 290 }, () => "1.2")
        )
      })
      assert.isAtMost(most.length - 6, PduParser.ACCEPTOR_CONTROL_LIMIT)
      const taken = yield* promise(() => stallDuring(() => answersTo(server.port, most)))
      assert.deepStrictEqual(taken.result.map(typeOf), [0x02, 0x02, 0x02, 0x02], "each gets its A-ASSOCIATE-AC")
      assert.isBelow(refused.stall, 50, `event loop held ${refused.stall} ms at once by 1 MiB requests`)
      assert.isBelow(taken.stall, 150, `event loop held ${taken.stall} ms at once by 256 KiB requests`)
    })
  )

  it.live(
    "a real A-ASSOCIATE-RQ of 128 contexts of 20 transfer syntaxes each is accepted, every context answered",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp()
        const syntaxes = [
          "1.2.840.10008.1.2",
          "1.2.840.10008.1.2.1",
          "1.2.840.10008.1.2.2",
          "1.2.840.10008.1.2.1.99",
          ...Array.from(
            { length: 16 },
            (_, k) => `1.2.840.10008.1.2.4.${[50, 51, 57, 70, 80, 81, 90, 91, 92, 93, 100, 101, 102, 103, 201, 202][k]}`
          )
        ]
        const rq = rawRq({ contexts: contexts(128, syntaxes, "1.2.840.10008.5.1.4.1.1.2") })
        const answer = (yield* promise(() => answersTo(server.port, rq, 1)))[0]!
        assert.isTrue(typeof answer !== "string" && answer.type === 0x02, `A-ASSOCIATE-AC, got ${typeOf(answer)}`)
        if (typeof answer === "string") return
        const header = Uint8Array.of(0x02, 0, 0, 0, 0, 0)
        new DataView(header.buffer).setUint32(2, answer.body.length)
        const ac = PduCodec.decodePdu(new Uint8Array(Buffer.concat([header, answer.body])))
        assert.isTrue(Result.isSuccess(ac) && ac.success._tag === "AAssociateAc")
        if (Result.isSuccess(ac) && ac.success._tag === "AAssociateAc") {
          assert.strictEqual(ac.success.presentationContexts.length, 128)
          assert.isTrue(
            ac.success.presentationContexts.every((pc) => pc.result === 0),
            "CT accepted on each"
          )
        }
      })
  )
})
