/**
 * The idle timeout's activity mark (an `Activity` per association since bf74dd9) under TestClock: a PDU received or
 * sent postpones the idle abort by the full idle time, for that association only. Two associations on one clock:
 * traffic on one must not keep the other alive (a mark shared between instances would).
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Result } from "effect"
import { TestClock } from "effect/testing"
import { PduCodec, type Pdu } from "@netdicom/wire"
import * as Transport from "../src/upper/Transport.ts"
import * as UpperLayer from "../src/upper/UpperLayer.ts"
import { associateRq } from "./rawPeer.ts"

const encode = (pdu: Pdu.Pdu) => Result.getOrThrow(PduCodec.encodePdu(pdu))
const pdata = encode({
  _tag: "PDataTf",
  pdvs: [{ presentationContextId: 1, isCommand: true, isLast: true, data: new Uint8Array([0, 0, 0, 0]) }]
})

const settle = Effect.gen(function* () {
  for (let i = 0; i < 30; i++) yield* Effect.yieldNow
})

const established = Effect.gen(function* () {
  const [ours, theirs] = yield* Transport.memoryPair()
  return yield* establishedOver(ours, theirs)
})

// A memory transport whose `writeNow` takes the bytes at once (as a socket with room does; the memory pair's own
// leaves every write to the effect it returns), so that `writePData`'s path for a write taken at once is the one run.
const establishedWritingAtOnce = Effect.gen(function* () {
  const [memory, theirs] = yield* Transport.memoryPair()
  const ours: Transport.Transport = {
    ...memory,
    writeNow: (chunks) => {
      Effect.runSync(memory.write(chunks))
      return undefined
    }
  }
  return yield* establishedOver(ours, theirs)
})

const establishedOver = (ours: Transport.Transport, theirs: Transport.Transport) =>
  Effect.gen(function* () {
    const ul = yield* UpperLayer.make({
      role: "acceptor",
      maxPduLength: 16384,
      artim: "10 seconds",
      idle: "60 seconds",
      transport: ours
    })
    yield* theirs.write([encode(associateRq())])
    const rq = yield* ul.indications
    if (rq._tag !== "AssociateIndication") return assert.fail(rq._tag)
    const ac: Pdu.AAssociateAc = {
      _tag: "AAssociateAc",
      protocolVersion: 1,
      calledAeTitle: rq.rq.calledAeTitle,
      callingAeTitle: rq.rq.callingAeTitle,
      applicationContextName: rq.rq.applicationContextName,
      presentationContexts: rq.rq.presentationContexts.map((pc) => ({
        _tag: "PresentationContextAc" as const,
        id: pc.id,
        result: 0,
        transferSyntax: pc.transferSyntaxes[0]
      })),
      userInformation: [{ _tag: "MaximumLength", maximumLength: 16384 }],
      unknownItems: []
    }
    yield* ul.submit({ _tag: "AssociateAccept", ac })
    yield* theirs.read
    yield* settle
    assert.strictEqual(yield* ul.state, "Sta6")
    return { ul, theirs }
  })

describe("idle timeout activity, per association", () => {
  it.effect("a PDU received on one association postpones its idle abort, not the other's", () =>
    Effect.gen(function* () {
      const a = yield* established
      const b = yield* established
      yield* TestClock.adjust("40 seconds")
      yield* a.theirs.write([pdata])
      yield* settle
      assert.strictEqual((yield* a.ul.indications)._tag, "PData")
      yield* TestClock.adjust("21 seconds")
      yield* settle
      assert.strictEqual(yield* a.ul.state, "Sta6", "A had a PDU 21 s ago")
      assert.notStrictEqual(yield* b.ul.state, "Sta6", "B had none for 61 s")
      assert.strictEqual((yield* b.ul.indications)._tag, "Aborted")
      yield* TestClock.adjust("38 seconds")
      yield* settle
      assert.strictEqual(yield* a.ul.state, "Sta6", "A had a PDU 59 s ago")
      yield* TestClock.adjust("2 seconds")
      const aEnd = yield* a.ul.indications
      assert.strictEqual(aEnd._tag, "Aborted")
      if (aEnd._tag === "Aborted") assert.match(aEnd.abort.detail, /idle/)
    })
  )

  it.effect("PDUs of one read received after a wait for the receiver mark the time they are taken", () =>
    Effect.gen(function* () {
      const a = yield* established
      const gate = yield* Deferred.make<void>()
      let taken = 0
      // The first P-DATA makes the reader wait (backpressure) until the gate opens; the second of the same read
      // is taken after that wait, 40 s later on the clock: it postpones the idle abort from then, not from the read.
      yield* a.ul.receivePData(() => (++taken === 1 ? Deferred.await(gate) : undefined))
      const both = new Uint8Array(pdata.length * 2)
      both.set(pdata, 0)
      both.set(pdata, pdata.length)
      yield* a.theirs.write([both])
      yield* settle
      assert.strictEqual(taken, 1)
      yield* TestClock.adjust("40 seconds")
      yield* Deferred.succeed(gate, undefined)
      yield* settle
      assert.strictEqual(taken, 2)
      yield* TestClock.adjust("21 seconds")
      yield* settle
      assert.strictEqual(yield* a.ul.state, "Sta6", "the second PDU was taken 21 s ago")
      yield* TestClock.adjust("40 seconds")
      const end = yield* a.ul.indications
      assert.strictEqual(end._tag, "Aborted")
    })
  )

  it.effect("a PDU written at once (writePData, the DIMSE replies' path) postpones the idle abort too", () =>
    Effect.gen(function* () {
      const a = yield* establishedWritingAtOnce
      yield* TestClock.adjust("40 seconds")
      const rest = a.ul.writePData([pdata])
      assert.isUndefined(rest, "taken at once by the transport")
      yield* a.theirs.read
      yield* TestClock.adjust("21 seconds")
      yield* settle
      assert.strictEqual(yield* a.ul.state, "Sta6", "A wrote a PDU 21 s ago")
      yield* TestClock.adjust("40 seconds")
      assert.strictEqual((yield* a.ul.indications)._tag, "Aborted")
    })
  )

  it.effect("a PDU sent on one association postpones its idle abort, not the other's", () =>
    Effect.gen(function* () {
      const a = yield* established
      const b = yield* established
      yield* TestClock.adjust("40 seconds")
      yield* a.ul.sendPData([pdata])
      yield* a.theirs.read
      yield* TestClock.adjust("21 seconds")
      yield* settle
      assert.strictEqual(yield* a.ul.state, "Sta6", "A sent a PDU 21 s ago")
      assert.notStrictEqual(yield* b.ul.state, "Sta6", "B had none for 61 s")
      assert.strictEqual((yield* b.ul.indications)._tag, "Aborted")
      yield* TestClock.adjust("40 seconds")
      const aEnd = yield* a.ul.indications
      assert.strictEqual(aEnd._tag, "Aborted")
    })
  )
})
