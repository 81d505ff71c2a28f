/**
 * Memory under P-DATA floods. The SCP runs in this process, so `process.memoryUsage().arrayBuffers` (Buffers and
 * ArrayBuffers) shows what it holds. The peer writes with TCP backpressure (waits for 'drain'), so what grows is
 * what the server keeps, not our send queue.
 *
 * - C-STORE, handler slow to consume: the receive window and the bounded fragment queue must hold memory flat.
 * - C-FIND: the SCP gathers the identifier whole before decoding it (`Stream.runCollect` in Scp.decodeIdentifier),
 *   with no bound. An identifier is a few hundred bytes; a peer can send hundreds of MB of "identifier" and the
 *   server keeps all of it (as views that pin whole socket chunks). Responses' identifiers are bounded at 16 MiB
 *   (DimseChannel MAX_IDENTIFIER_BYTES); requests' are not.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { Status as DimseStatus } from "@netdicom/wire"
import {
  associated,
  associateRq,
  command,
  CT,
  mb,
  pdata,
  type Peer,
  promise,
  startScp,
  STUDY_FIND,
  VERIFICATION
} from "./support.ts"

/** Sends `total` bytes of non-last data PDVs in PDUs of `pduData` bytes, respecting backpressure, for at most `ms`. */
const flood = (peer: Peer, pcId: number, pduData: number, total: number, ms: number) =>
  new Promise<{ sent: number; peakArrayBuffers: number }>((resolve) => {
    const chunk = pdata(pcId, false, false, new Uint8Array(pduData))
    const deadline = Date.now() + ms
    let sent = 0
    let peak = 0
    const pump = () => {
      while (sent < total && Date.now() < deadline && !peer.socket.destroyed) {
        sent += pduData
        if ((sent / pduData) % 16 === 0) peak = Math.max(peak, process.memoryUsage().arrayBuffers)
        if (!peer.send(chunk)) {
          peer.socket.once("drain", pump)
          peer.socket.once("close", pump) // a server that closes on us ends the flood too
          return
        }
      }
      peer.socket.off("drain", pump)
      peer.socket.off("close", pump)
      resolve({ sent, peakArrayBuffers: peak })
    }
    pump()
  })

const settle = () => new Promise((r) => setTimeout(r, 200))

describe("memory under P-DATA floods", () => {
  it.live(
    "C-STORE with a storage handler that waits 1.5 s before reading: server memory stays bounded while the peer pushes",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({
          storage: {
            store: (request) =>
              Effect.gen(function* () {
                yield* Effect.sleep("1500 millis")
                yield* Stream.runDrain(request.dataSet).pipe(Effect.ignore)
                return { status: DimseStatus.SUCCESS }
              })
          }
        })
        const peer = yield* promise(() => associated(server.port))
        peer.send(
          pdata(
            3,
            true,
            true,
            command({
              _tag: "CStoreRq",
              messageId: 1,
              affectedSopClassUid: CT,
              affectedSopInstanceUid: "1.2.3",
              priority: 0
            })
          )
        )
        yield* promise(settle)
        const before = process.memoryUsage().arrayBuffers
        const r = yield* promise(() => flood(peer, 3, 256 * 1024 - 12, 200 << 20, 1000))
        peer.destroy()
        const growth = mb(r.peakArrayBuffers - before)
        // 16 PDUs of 256 KiB in the window + 8 queued fragments + socket buffers: well under 32 MB
        assert.isBelow(growth, 32, `sent ${mb(r.sent)} MB while the handler slept; arrayBuffers grew ${growth} MB`)
      }),
    15_000
  )

  it.live(
    "C-FIND with an endless identifier: the server must not keep it (100 MB pushed, growth must stay under 32 MB)",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ query: { find: () => Stream.empty } })
        const peer = yield* promise(() => associated(server.port, associateRq()))
        peer.send(
          pdata(5, true, true, command({ _tag: "CFindRq", messageId: 2, affectedSopClassUid: STUDY_FIND, priority: 0 }))
        )
        yield* promise(settle)
        const before = process.memoryUsage().arrayBuffers
        const r = yield* promise(() => flood(peer, 5, 256 * 1024 - 12, 100 << 20, 3000))
        yield* promise(settle)
        const after = process.memoryUsage().arrayBuffers
        peer.destroy()
        const growth = mb(Math.max(after, r.peakArrayBuffers) - before)
        assert.isBelow(
          growth,
          32,
          `sent ${mb(r.sent)} MB of C-FIND identifier without a last fragment; server arrayBuffers grew ${growth} MB`
        )
      }),
    15_000
  )
})

/*
 * Requests past the Asynchronous Operations Window (PS3.7 D.3.3.3; we negotiate 1/1 by default). A peer sends a
 * burst of C-ECHO-RQs and does not read the responses: the SCP must stop reading (TCP backpressure) rather than
 * pile up handlers, and must answer every request once the peer reads again (no request lost).
 * Held up when run: retained heap stayed ~2 MB; all 100,000 were answered after the peer resumed (~10 s).
 */
v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as () => void

describe("outstanding operations", () => {
  it.live(
    "30,000 C-ECHO-RQs (2.4 MB) from a peer that does not read: retained heap stays under 64 MB, all answered later",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ timeouts: { write: "30 seconds" } })
        const peer = yield* promise(() => associated(server.port))
        peer.socket.pause() // never read the responses
        const one = pdata(1, true, true, command({ _tag: "CEchoRq", messageId: 1, affectedSopClassUid: VERIFICATION }))
        const burst = Buffer.alloc(one.length * 30_000)
        for (let i = 0; i < 30_000; i++) burst.set(one, i * one.length)
        gc()
        const before = process.memoryUsage().heapUsed
        peer.send(burst)
        let retained = 0
        for (let i = 0; i < 2; i++) {
          yield* Effect.sleep("500 millis")
          gc()
          retained = Math.max(retained, process.memoryUsage().heapUsed - before)
        }
        // now read: the first 10,000 answers must come, in order of the requests
        peer.socket.resume()
        let answered = 0
        while (answered < 10_000) {
          const p = yield* promise(() => peer.next(3000))
          if (typeof p === "string") break
          answered++
        }
        peer.destroy()
        assert.isBelow(mb(retained), 64, `retained heap grew ${mb(retained)} MB`)
        assert.strictEqual(answered, 10_000)
      }),
    20_000
  )
})

/**
 * The DIMSE receiver keeps the views of a command's fragments until its last one, to give their socket reads back
 * once the command is decoded; empty fragments hold no bytes and are not kept (a peer may send any number of them:
 * the reassembler bounds a command by its length, which they do not add to).
 */
describe("empty command fragments", () => {
  it.live(
    "500,000 empty non-last command PDVs: retained heap stays under 16 MB, the association still answers",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp()
        const peer = yield* promise(() => associated(server.port))
        // one P-DATA-TF of 10,000 PDVs of no data: item length 2, context 1, command, not last
        const pdvs = 10_000
        const pdu = Buffer.alloc(6 + pdvs * 6)
        pdu[0] = 0x04
        pdu.writeUInt32BE(pdvs * 6, 2)
        for (let i = 0; i < pdvs; i++) {
          pdu.writeUInt32BE(2, 6 + i * 6)
          pdu[6 + i * 6 + 4] = 1
          pdu[6 + i * 6 + 5] = 0x01
        }
        gc()
        const before = process.memoryUsage().heapUsed
        for (let i = 0; i < 50; i++) peer.send(pdu)
        yield* Effect.sleep("500 millis")
        gc()
        const retained = process.memoryUsage().heapUsed - before
        // the command they began still completes and is answered
        peer.send(pdata(1, true, true, command({ _tag: "CEchoRq", messageId: 7, affectedSopClassUid: VERIFICATION })))
        const answer = yield* promise(() => peer.next(3000))
        peer.destroy()
        assert.isBelow(mb(retained), 16, `retained heap grew ${mb(retained)} MB`)
        assert.notStrictEqual(typeof answer, "string", `no C-ECHO-RSP: ${String(answer)}`)
      }),
    20_000
  )
})
