/**
 * Received P-DATA handed out as views of the socket's reads (`PduParser`'s `pdvViews`): a P-DATA-TF that spans
 * reads is no longer joined into a fresh buffer, its PDVs are split at the read boundaries instead. Whatever
 * the chunking, a storage handler that keeps every fragment it was given (past the end of its association)
 * must find exactly the bytes sent: several associations at once, large PDUs written in pieces of random
 * sizes (down to single bytes), tiny and empty PDVs, a command set split across PDVs and reads.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { createHash } from "node:crypto"
import { PduCodec, Status, type Pdv } from "@netdicom/wire"
import { associated, associateRq, command, CT, type Peer, promise, startScp } from "./support.ts"

const sha = (chunks: ReadonlyArray<Uint8Array>): string => {
  const h = createHash("sha256")
  for (const c of chunks) h.update(c)
  return h.digest("hex")
}

// A deterministic generator, so that a failure can be replayed.
const random = (seed: number) => () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x80000000
}

const MAX_PDU = 131072
// Non-empty data PDVs sent, against the fragments handlers were given.
let sentFragments = 0

// The C-STORE of `dataSet` as P-DATA-TF PDUs of up to MAX_PDU: the command in two PDVs (the second in a PDU of
// its own), the data set in PDVs of random sizes (some tiny, some empty), several to a PDU.
const storePdus = (uid: string, dataSet: Uint8Array, next: () => number): Array<Uint8Array> => {
  const cmd = command({
    _tag: "CStoreRq",
    messageId: 1,
    affectedSopClassUid: CT,
    affectedSopInstanceUid: uid,
    priority: 0
  })
  const cut = 1 + Math.floor(next() * (cmd.length - 1))
  const pdus = [
    PduCodec.encodePDataTf([{ presentationContextId: 3, isCommand: true, isLast: false, data: cmd.subarray(0, cut) }]),
    PduCodec.encodePDataTf([{ presentationContextId: 3, isCommand: true, isLast: true, data: cmd.subarray(cut) }])
  ]
  let at = 0
  while (at < dataSet.length) {
    const pdvs: Array<Pdv.Pdv> = []
    let room = MAX_PDU
    while (room > 6 + 1 && at < dataSet.length && pdvs.length < 6) {
      const r = next()
      const want = r < 0.2 ? 0 : r < 0.4 ? 1 + Math.floor(next() * 7) : Math.floor(next() * MAX_PDU)
      const n = Math.min(want, room - 6, dataSet.length - at)
      const isLast = at + n === dataSet.length
      pdvs.push({ presentationContextId: 3, isCommand: false, isLast, data: dataSet.subarray(at, at + n) })
      if (n > 0) sentFragments++
      room -= 6 + n
      at += n
      if (isLast) break
    }
    pdus.push(PduCodec.encodePDataTf(pdvs))
  }
  return pdus
}

// Writes `bytes` in pieces of random sizes (single bytes now and then), yielding to the event loop between them
// so that the server reads them as they come.
const dribble = async (peer: Peer, bytes: Uint8Array, next: () => number): Promise<void> => {
  let at = 0
  while (at < bytes.length) {
    const r = next()
    const n = r < 0.1 ? 1 : r < 0.3 ? 1 + Math.floor(next() * 100) : 1 + Math.floor(next() * 200_000)
    if (!peer.send(bytes.slice(at, at + n))) await new Promise((resolve) => peer.socket.once("drain", resolve))
    at += n
    if (next() < 0.5) await new Promise((resolve) => setImmediate(resolve))
  }
}

describe("received P-DATA as views of the socket's reads", () => {
  it.live(
    "a handler keeping every fragment finds the bytes sent, with 4 associations at once",
    () =>
      Effect.gen(function* () {
        const kept = new Map<string, Array<Uint8Array>>()
        const server = yield* startScp({
          maxPduLength: MAX_PDU,
          timeouts: { dimse: "20 seconds" },
          storage: {
            store: (request) => {
              const fragments: Array<Uint8Array> = []
              kept.set(request.sopInstanceUid, fragments)
              return request.dataSetReceived !== undefined
                ? Effect.sync(() => {
                    fragments.push(...request.dataSetReceived!)
                    return { status: Status.SUCCESS }
                  })
                : Effect.as(
                    Stream.runForEach(request.dataSet, (chunk) => Effect.sync(() => fragments.push(chunk))),
                    { status: Status.SUCCESS }
                  ).pipe(Effect.orElseSucceed(() => ({ status: 0xa700 })))
            }
          }
        })
        const rq = associateRq({
          userInformation: [
            { _tag: "MaximumLength", maximumLength: MAX_PDU },
            { _tag: "ImplementationClassUid", uid: "1.2.3.4" }
          ]
        })
        const sent = new Map<string, string>()
        const one = async (n: number): Promise<string> => {
          const next = random(1000 + n)
          const peer = await associated(server.port, rq)
          try {
            const results: Array<string> = []
            for (let i = 0; i < 3; i++) {
              const uid = `1.2.3.${n}.${i}`
              const size = [70_000, 900_000, 2_500_000][i]! + 2 * Math.floor(next() * 1000)
              const dataSet = Uint8Array.from({ length: size }, () => Math.floor(next() * 256))
              sent.set(uid, sha([dataSet]))
              const pdus = storePdus(uid, dataSet, next)
              const all = new Uint8Array(pdus.reduce((k, p) => k + p.length, 0))
              let at = 0
              for (const p of pdus) {
                all.set(p, at)
                at += p.length
              }
              await dribble(peer, all, next)
              const rsp = await peer.next(20_000)
              results.push(typeof rsp === "string" ? rsp : `0x${rsp.type.toString(16)}`)
            }
            return results.join(",")
          } finally {
            peer.destroy()
          }
        }
        const outcomes = yield* promise(() => Promise.all([0, 1, 2, 3].map(one)))
        assert.deepStrictEqual(outcomes, Array(4).fill("0x4,0x4,0x4"))
        // Hashed only now, after every association has ended: a view overwritten since would show.
        assert.strictEqual(kept.size, sent.size)
        for (const [uid, digest] of sent) assert.strictEqual(sha(kept.get(uid) ?? []), digest, uid)
        // PDVs spanning reads came as several views (joined, each would have been one fragment).
        let given = 0
        for (const fragments of kept.values()) given += fragments.length
        assert.isAbove(given, sentFragments)
      }),
    60_000
  )
})
