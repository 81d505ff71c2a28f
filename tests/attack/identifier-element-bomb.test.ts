/**
 * A C-FIND identifier of 23 KB deflated that inflates to 16 MiB of 8-byte elements (2 million copies of one empty
 * private LO, or as many distinct tags in 3 MB): the SCP decoded it whole before any key bound, every element a
 * node, ~300-700 MB of RSS and 0.8-4 s of blocked event loop per identifier; our SCU did the same with a C-FIND-RSP
 * identifier from a hostile SCP (2 MiB response bound, 16 MiB inflated). Identifiers are now decoded with a bound
 * on their elements (`DimseChannel.MAX_IDENTIFIER_ELEMENTS`): past it, a failure status (SCP) or a
 * `DimseProtocolError` (SCU), at once.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Result, Stream } from "effect"
import { deflateRawSync } from "node:zlib"
import { Scu } from "@netdicom/net"
import { Dimse, PduCodec } from "@netdicom/wire"
import { commandOf, pdataOf, scopedRawScp, scuAe } from "./hotpath-support.ts"
import { associated, command, DEFLATED, pdata, pdvsOf, promise, startScp, STUDY_FIND } from "./support.ts"

/** `count` empty private LO elements (0009,1010), deflated: 8 bytes each inflated, ~1/700 of that deflated. */
const elementBomb = (count: number): Uint8Array => {
  const plain = Buffer.alloc(count * 8)
  for (let at = 0; at < plain.length; at += 8) {
    plain.writeUInt16LE(0x0009, at)
    plain.writeUInt16LE(0x1010, at + 2)
    plain.write("LO", at + 4, "latin1")
  }
  const deflated = deflateRawSync(plain, { level: 9 })
  const out = new Uint8Array(deflated.length + (deflated.length % 2))
  out.set(deflated)
  return out
}

const BOMB = elementBomb(2_000_000)

/** Samples RSS every 5 ms until stopped; the peak above the start, in MiB. */
const rssSampler = () => {
  const start = process.memoryUsage().rss
  let peak = start
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5)
  return () => {
    clearInterval(timer)
    peak = Math.max(peak, process.memoryUsage().rss)
    return Math.round((peak - start) / 1048576)
  }
}

describe("identifiers of millions of tiny elements", () => {
  it.live(
    "SCP: a 23 KB deflated C-FIND identifier of 2 million elements is answered a failure within 500 ms, RSS +<100 MB",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp()
        const peer = yield* promise(() => associated(server.port))
        const stop = rssSampler()
        const started = Date.now()
        peer.send(
          pdata(7, true, true, command({ _tag: "CFindRq", messageId: 1, affectedSopClassUid: STUDY_FIND, priority: 0 }))
        )
        peer.send(pdata(7, false, true, BOMB))
        const rsp = yield* promise(() => peer.next(10_000))
        const ms = Date.now() - started
        const grew = stop()
        peer.destroy()
        assert.isTrue(typeof rsp !== "string" && rsp.type === 0x04, `a C-FIND-RSP, got ${String(rsp)}`)
        if (typeof rsp === "string") return
        const m = Dimse.decode(new Uint8Array(Buffer.concat(pdvsOf(rsp.body).map((p) => p.data))))
        const status = Result.isSuccess(m) && "status" in m.success ? m.success.status : undefined
        assert.strictEqual(status, 0xc000, "Unable to process")
        assert.isBelow(ms, 500, `answered after ${ms} ms (RSS +${grew} MB)`)
        assert.isBelow(grew, 100, `RSS grew ${grew} MB`)
      }),
    30_000
  )

  it.live(
    "SCU: a C-FIND-RSP identifier of 2 million elements fails the query (DimseProtocolError) within 500 ms",
    () =>
      Effect.gen(function* () {
        let started = 0
        const scp = yield* scopedRawScp({
          onPdu: (socket, type, body) => {
            const m = type === 0x04 ? commandOf(body) : undefined
            if (m?._tag !== "CFindRq") return
            const pc = body[4]!
            started = Date.now()
            socket.write(
              pdataOf(pc, true, {
                _tag: "CFindRsp",
                messageIdBeingRespondedTo: m.messageId,
                affectedSopClassUid: m.affectedSopClassUid,
                status: 0xff00,
                hasIdentifier: true
              })
            )
            socket.write(
              PduCodec.encodePDataTf([{ presentationContextId: pc, isCommand: false, isLast: true, data: BOMB }])
            )
            socket.write(
              pdataOf(pc, true, {
                _tag: "CFindRsp",
                messageIdBeingRespondedTo: m.messageId,
                affectedSopClassUid: m.affectedSopClassUid,
                status: 0,
                hasIdentifier: false
              })
            )
          }
        })
        const stop = rssSampler()
        const exit = yield* Effect.scoped(
          Effect.gen(function* () {
            const channel = yield* Scu.connect(scuAe(), {
              host: "127.0.0.1",
              port: scp.port,
              calledAeTitle: "NETDICOM-SCP",
              contexts: [{ abstractSyntax: STUDY_FIND, transferSyntaxes: [DEFLATED] }]
            })
            return yield* Effect.exit(
              Stream.runCollect(Scu.find(channel, { model: "study", identifier: { PatientName: "*" } }))
            )
          })
        )
        const ms = Date.now() - started
        const grew = stop()
        assert.isTrue(Exit.isFailure(exit), "the query fails")
        assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "DimseProtocolError")
        assert.isBelow(ms, 500, `failed after ${ms} ms (RSS +${grew} MB)`)
        assert.isBelow(grew, 100, `RSS grew ${grew} MB`)
      }),
    30_000
  )
})
