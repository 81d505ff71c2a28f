/**
 * A run receiver (`UpperLayer.PDataRunReceiver`, the DIMSE layer's) is handed the P-DATA-TFs of one socket read in
 * one call, and goes on past a PDU only while what it ran was its own code: a handler that aborts the association
 * as the first request of a read starts leaves the second request of that read unhandled, as a receiver called per
 * PDU did (the reader saw the association leave Sta6 before handing on the next PDU).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { Dimse, PduCodec, type Pdu } from "@netdicom/wire"
import * as Server from "../src/association/Server.ts"
import * as DimseChannel from "../src/dimse/DimseChannel.ts"
import * as Transport from "../src/upper/Transport.ts"
import * as UpperLayer from "../src/upper/UpperLayer.ts"
import { associateAc, associateRq, rawPeer } from "./rawPeer.ts"
import { VERIFICATION, testAe } from "./support.ts"

const encode = (pdu: Pdu.Pdu) => Result.getOrThrow(PduCodec.encodePdu(pdu))
const pdata = (n: number) =>
  encode({
    _tag: "PDataTf",
    pdvs: [{ presentationContextId: 1, isCommand: true, isLast: true, data: new Uint8Array([n, 0, 0, 0]) }]
  })
// PDUs sent in one write (read as one chunk).
const joined = (parts: ReadonlyArray<Uint8Array>) => new Uint8Array(Buffer.concat(parts))

const settle = Effect.gen(function* () {
  for (let i = 0; i < 30; i++) yield* Effect.yieldNow
})

// An acceptor in Sta6 over a memory pair, and the peer's end.
const established = Effect.gen(function* () {
  const [ours, theirs] = yield* Transport.memoryPair()
  const ul = yield* UpperLayer.make({ role: "acceptor", maxPduLength: 16384, artim: "10 seconds", transport: ours })
  yield* theirs.write([encode(associateRq())])
  const rq = yield* ul.indications
  if (rq._tag !== "AssociateIndication") return assert.fail(rq._tag)
  yield* ul.submit({ _tag: "AssociateAccept", ac: associateAc(rq.rq) })
  yield* theirs.read
  yield* settle
  assert.strictEqual(yield* ul.state, "Sta6")
  return { ul, theirs }
})

// A run receiver that records each call and takes up to `most` PDUs of it.
const recording = (most: number) => {
  const calls: Array<{ at: number; end: number; first: number }> = []
  const receiver = {
    taken: 0,
    takeRun: (pdus: ReadonlyArray<Pdu.Pdu>, at: number, end: number) => {
      const first = pdus[at]
      calls.push({ at, end, first: first?._tag === "PDataTf" ? first.pdvs[0]!.data[0]! : -1 })
      receiver.taken = Math.min(most, end - at)
      return undefined
    }
  }
  return { calls, receiver }
}

describe("P-DATA-TFs of one read to a run receiver", () => {
  it.effect("are handed over in one call", () =>
    Effect.gen(function* () {
      const { ul, theirs } = yield* established
      const { calls, receiver } = recording(3)
      yield* ul.receivePData(receiver)
      yield* theirs.write([joined([pdata(1), pdata(2), pdata(3)])])
      yield* settle
      assert.deepStrictEqual(calls, [{ at: 0, end: 3, first: 1 }])
    })
  )

  it.effect("the rest of the read is handed over again after a call that took fewer", () =>
    Effect.gen(function* () {
      const { ul, theirs } = yield* established
      const { calls, receiver } = recording(1)
      yield* ul.receivePData(receiver)
      yield* theirs.write([joined([pdata(1), pdata(2), pdata(3)])])
      yield* settle
      assert.deepStrictEqual(calls, [
        { at: 0, end: 3, first: 1 },
        { at: 1, end: 3, first: 2 },
        { at: 2, end: 3, first: 3 }
      ])
    })
  )

  it.live("a request behind one whose handler aborted the association, in the same read, is not handled", () =>
    Effect.gen(function* () {
      const contexts = [{ abstractSyntax: VERIFICATION, transferSyntaxes: ["1.2.840.10008.1.2"] }]
      const handled: Array<number> = []
      const handler: DimseChannel.RequestHandler = (request, channel) => {
        handled.push(request.message._tag === "CEchoRq" ? request.message.messageId : -1)
        return channel.association.abort
      }
      const server = yield* Server.serve(yield* testAe({ aeTitle: "NETDICOM-SCP", contexts }), {
        port: 0,
        handler: (association) =>
          Effect.scoped(Effect.andThen(DimseChannel.make(association, handler), association.ended))
      })
      const peer = yield* Effect.promise(() => rawPeer(server.port))
      peer.sendPdu(associateRq())
      const ac = yield* Effect.promise(() => peer.next())
      assert.strictEqual(ac !== "closed" && ac._tag, "AAssociateAc")
      const echo = (messageId: number) =>
        PduCodec.encodePDataTf([
          {
            presentationContextId: 1,
            isCommand: true,
            isLast: true,
            data: Result.getOrThrow(Dimse.encode({ _tag: "CEchoRq", messageId, affectedSopClassUid: VERIFICATION }))
          }
        ])
      peer.send(joined([echo(1), echo(2)]))
      const next = yield* Effect.promise(() => peer.next())
      assert.strictEqual(next !== "closed" && next._tag, "AAbort")
      yield* Effect.promise(() => peer.closed)
      assert.deepStrictEqual(handled, [1])
    })
  )
})
