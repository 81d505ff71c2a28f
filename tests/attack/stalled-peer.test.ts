/**
 * Peers that stop or crawl. PS3.8 9.1.5 bounds the waits around association setup and release with ARTIM;
 * `ApplicationEntity.Timeouts.idle` promises "an association with no PDU in either direction for this long is
 * aborted". A C-STORE whose data set is announced but never sent must not hold an association slot for ever.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  associated,
  associateRq,
  command,
  connectPeer,
  CT,
  describe as show,
  echoStillWorks,
  encode,
  pdata,
  promise,
  startScp,
  STUDY_FIND,
  untilAbortOrClose
} from "./support.ts"

const storeRq = command({
  _tag: "CStoreRq",
  messageId: 9,
  affectedSopClassUid: CT,
  affectedSopInstanceUid: "1.2.3.4.5",
  priority: 0
})

describe("stalled and slow peers", () => {
  it.live(
    "C-STORE data set announced (2 GB worth of promises) but never finished: the SCP aborts after the idle timeout",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ timeouts: { idle: "500 millis", acse: "500 millis" } })
        const peer = yield* promise(() => associated(server.port))
        peer.send(pdata(3, true, true, storeRq))
        // the first 1 KiB of the data set, then silence
        peer.send(pdata(3, false, false, new Uint8Array(1024)))
        const outcome = yield* promise(() => untilAbortOrClose(peer, 5000))
        peer.destroy()
        let stillActive = yield* server.active
        for (let i = 0; i < 100 && stillActive > 0; i++) {
          yield* Effect.sleep("20 millis")
          stillActive = yield* server.active
        }
        assert.match(outcome, /^A-ABORT|^closed$/, `after 5 s of silence (idle timeout 0.5 s): ${outcome}`)
        assert.strictEqual(stillActive, 0, "the association slot is given back")
      }),
    15_000
  )

  it.live(
    "an established association that never sends anything is aborted after the idle timeout",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ timeouts: { idle: "500 millis", acse: "500 millis" } })
        const peer = yield* promise(() => associated(server.port))
        const outcome = yield* promise(() => untilAbortOrClose(peer, 5000))
        peer.destroy()
        assert.match(outcome, /^A-ABORT|^closed$/, `after 5 s of silence (idle timeout 0.5 s): ${outcome}`)
      }),
    15_000
  )

  it.live(
    "slowloris in Sta6: a P-DATA-TF dribbled 1 byte per 100 ms is cut off (idle timeout 0.5 s, 5 s budget)",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ timeouts: { idle: "500 millis", acse: "500 millis" } })
        const peer = yield* promise(() => associated(server.port))
        const bytes = pdata(3, false, false, new Uint8Array(4096))
        let sent = 0
        const drip = setInterval(() => {
          if (sent < bytes.length) peer.send(bytes.subarray(sent, ++sent))
        }, 100)
        const outcome = yield* promise(() => untilAbortOrClose(peer, 5000))
        clearInterval(drip)
        peer.destroy()
        // a byte every 100 ms keeps the link "busy" but no PDU ever completes; idle counts PDUs
        assert.match(outcome, /^A-ABORT|^closed$/, `after ${sent} bytes in 5 s: ${outcome}`)
      }),
    15_000
  )

  it.live(
    "slowloris in Sta2: an A-ASSOCIATE-RQ dribbled 1 byte per 50 ms is cut off by ARTIM (0.5 s)",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ timeouts: { acse: "500 millis" } })
        const peer = yield* promise(() => connectPeer(server.port))
        const bytes = encode(associateRq())
        let sent = 0
        const drip = setInterval(() => {
          if (sent < bytes.length) peer.send(bytes.subarray(sent, ++sent))
        }, 50)
        const started = Date.now()
        const outcome = yield* promise(() => untilAbortOrClose(peer, 6000))
        clearInterval(drip)
        peer.destroy()
        assert.strictEqual(outcome, "closed", `after ${sent} of ${bytes.length} bytes`)
        assert.isBelow(Date.now() - started, 2500)
      }),
    15_000
  )

  it.live(
    "a TCP connection that never sends an A-ASSOCIATE-RQ is closed by ARTIM (0.5 s)",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ timeouts: { acse: "500 millis" } })
        const peer = yield* promise(() => connectPeer(server.port))
        const outcome = yield* promise(() => peer.closed(5000))
        peer.destroy()
        assert.strictEqual(outcome, "closed")
      }),
    15_000
  )
})

/*
 * A-RELEASE-RQ while a request's data set is still incomplete (PS3.8 9.2: Evt12 in Sta6 gives AR-2, Sta8).
 *
 * The acceptor runs the "before release" hook (wait for the running handlers) on the association's indication
 * loop. The C-STORE handler is waiting for the rest of its data set, which will never come: the peer asked to
 * release. Nothing bounds that wait (no ARTIM in Sta8, the idle watch only runs in Sta6), and while the loop is
 * stuck it takes no more indications, so a later A-ABORT or TCP close never settles `ended`: the handler's data
 * set stream is failed only when `ended` settles. The association, its fiber and its slot in `maxAssociations`
 * are leaked for ever. Two such peers fill a server with `maxAssociations: 2`; 64 fill a default one.
 *
 * Expected: the A-RELEASE-RQ is answered within a bound (A-RELEASE-RP after failing the incomplete request, or
 * A-ABORT), and in every case a peer's A-ABORT or close ends the association and frees its slot.
 */
const findRq = command({ _tag: "CFindRq", messageId: 10, affectedSopClassUid: STUDY_FIND, priority: 0 })

const waitActive = (server: { readonly active: Effect.Effect<number> }, ms: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    let n = yield* server.active
    while (n > 0 && Date.now() < deadline) {
      yield* Effect.sleep("25 millis")
      n = yield* server.active
    }
    return n
  })

describe("A-RELEASE-RQ with a data set in progress", () => {
  it.live(
    "C-STORE half sent, A-RELEASE-RQ: answered within 5 s",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ timeouts: { idle: "500 millis", acse: "500 millis" } })
        const peer = yield* promise(() => associated(server.port))
        peer.send(pdata(3, true, true, storeRq))
        peer.send(pdata(3, false, false, new Uint8Array(1024)))
        peer.send(encode({ _tag: "AReleaseRq" }))
        // a C-STORE-RSP (failure) may come first; then A-RELEASE-RP, A-ABORT or a close
        const answer = yield* promise(async () => {
          const deadline = Date.now() + 5000
          while (true) {
            const p = await peer.next(Math.max(1, deadline - Date.now()))
            if (typeof p === "string" || p.type !== 0x04) return show(p)
          }
        })
        peer.destroy()
        assert.match(answer, /^PDU 0x06|^A-ABORT|^closed$/, `got ${answer}`)
      }),
    15_000
  )

  it.live(
    "C-STORE half sent, A-RELEASE-RQ, then A-ABORT and close: the slot is freed and the server serves again",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ timeouts: { idle: "500 millis", acse: "500 millis" }, maxAssociations: 2 })
        for (let k = 0; k < 2; k++) {
          const peer = yield* promise(() => associated(server.port))
          peer.send(pdata(3, true, true, storeRq))
          peer.send(pdata(3, false, false, new Uint8Array(1024)))
          peer.send(encode({ _tag: "AReleaseRq" }))
          yield* promise(() => peer.next(500))
          peer.send(encode({ _tag: "AAbort", source: 0, reason: 0 }))
          yield* promise(() => peer.closed(2000))
          peer.destroy()
        }
        const active = yield* waitActive(server, 4000)
        const serves = yield* promise(() => echoStillWorks(server.port).catch((e: unknown) => String(e)))
        assert.strictEqual(active, 0, "associations still counted 4 s after their peers aborted and closed")
        assert.strictEqual(serves, true, "a new association after the two aborted ones")
      }),
    20_000
  )

  it.live(
    "C-FIND identifier half sent, A-RELEASE-RQ, then close: the slot is freed",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ timeouts: { idle: "500 millis", acse: "500 millis" } })
        const peer = yield* promise(() => associated(server.port))
        peer.send(pdata(5, true, true, findRq))
        peer.send(pdata(5, false, false, new Uint8Array(16)))
        peer.send(encode({ _tag: "AReleaseRq" }))
        yield* promise(() => peer.next(500))
        peer.destroy()
        const active = yield* waitActive(server, 4000)
        assert.strictEqual(active, 0, "association still counted 4 s after its peer closed")
      }),
    15_000
  )
})
