/**
 * Hostile P-DATA-TF on an established association (PS3.8 9.3.5, Annex E; PS3.7 6.3.1): each case expects an
 * A-ABORT (or, for a DIMSE-level fault, at least a close) within a bound, and the server to go on serving.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import {
  associated,
  command,
  CT,
  echoStillWorks,
  pdata,
  promise,
  startScp,
  untilAbortOrClose,
  VERIFICATION
} from "./support.ts"

const echo = command({ _tag: "CEchoRq", messageId: 1, affectedSopClassUid: VERIFICATION })

const raw = (...parts: Array<ArrayLike<number>>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

const u32be = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]

/** A P-DATA-TF header with an arbitrary length field followed by a body. */
const pdataRaw = (length: number, body: ArrayLike<number>) => raw([0x04, 0x00, ...u32be(length)], body)

const cases: ReadonlyArray<{ readonly name: string; readonly bytes: () => Uint8Array }> = [
  { name: "PDU length 0xFFFFFFFF", bytes: () => pdataRaw(0xffffffff, [0, 0, 0, 2, 1, 3]) },
  { name: "PDV item length past the PDU end", bytes: () => pdataRaw(6, [0x7f, 0xff, 0xff, 0xff, 1, 3]) },
  { name: "PDV item length 0", bytes: () => pdataRaw(4, [0, 0, 0, 0]) },
  { name: "PDV item length 1", bytes: () => pdataRaw(5, [0, 0, 0, 1, 1]) },
  { name: "P-DATA-TF with no PDV at all", bytes: () => pdataRaw(0, []) },
  { name: "presentation context id 0", bytes: () => pdata(0, true, true, echo) },
  { name: "presentation context id 255 (never proposed)", bytes: () => pdata(255, true, true, echo) },
  { name: "presentation context id 9 (odd, never proposed)", bytes: () => pdata(9, true, true, echo) },
  { name: "data PDV before any command", bytes: () => pdata(1, false, true, new Uint8Array(8)) },
  {
    name: "command set with element length 0xFFFFFFF0",
    bytes: () => pdata(1, true, true, Uint8Array.from([0, 0, 0, 1, 0xf0, 0xff, 0xff, 0xff, 0, 0]))
  },
  {
    name: "command set with an element outside group 0000",
    bytes: () => pdata(1, true, true, Uint8Array.from([8, 0, 0x16, 0, 2, 0, 0, 0, 0x31, 0]))
  },
  {
    name: "command fragments growing past 64 KiB without a last bit",
    bytes: () => {
      const frag = pdata(1, true, false, new Uint8Array(16000))
      return raw(frag, frag, frag, frag, frag)
    }
  },
  {
    name: "C-STORE-RQ announcing a data set, then a new command (interleaving)",
    bytes: () =>
      raw(
        pdata(
          3,
          true,
          true,
          command({
            _tag: "CStoreRq",
            messageId: 5,
            affectedSopClassUid: CT,
            affectedSopInstanceUid: "1.2.3.4",
            priority: 0
          })
        ),
        pdata(3, false, false, new Uint8Array(64)),
        pdata(1, true, true, echo)
      )
  },
  {
    name: "data set on another context than its command",
    bytes: () =>
      raw(
        pdata(
          3,
          true,
          true,
          command({
            _tag: "CStoreRq",
            messageId: 5,
            affectedSopClassUid: CT,
            affectedSopInstanceUid: "1.2.3.4",
            priority: 0
          })
        ),
        pdata(1, false, true, new Uint8Array(64))
      )
  },
  { name: "A-ASSOCIATE-RQ in Sta6", bytes: () => raw([0x01, 0, ...u32be(4), 0, 1, 0, 0]) },
  { name: "unknown PDU type 0x09", bytes: () => raw([0x09, 0, ...u32be(4), 0, 0, 0, 0]) },
  { name: "A-RELEASE-RQ with a body of 5 bytes", bytes: () => raw([0x05, 0, ...u32be(5), 0, 0, 0, 0, 0]) }
]

describe("hostile P-DATA on an established association", () => {
  // Tolerated on purpose (the receiver drains an unannounced data set): the association must stay in step.
  it.live(
    "C-ECHO-RQ followed by an unannounced data PDV: answered, drained, association still usable",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ timeouts: { acse: "500 millis" } })
        const peer = yield* promise(() => associated(server.port))
        peer.send(raw(pdata(1, true, true, echo), pdata(1, false, true, new Uint8Array(4))))
        const first = yield* promise(() => peer.next(3000))
        assert.isTrue(typeof first !== "string" && first.type === 0x04, "C-ECHO-RSP")
        peer.send(pdata(1, true, true, echo))
        const second = yield* promise(() => peer.next(3000))
        peer.destroy()
        assert.isTrue(typeof second !== "string" && second.type === 0x04, "second C-ECHO-RSP")
      }),
    15_000
  )

  for (const c of cases) {
    it.live(
      c.name,
      () =>
        Effect.gen(function* () {
          const server = yield* startScp({ timeouts: { acse: "500 millis" } })
          const peer = yield* promise(() => associated(server.port))
          peer.send(c.bytes())
          const outcome = yield* promise(() => untilAbortOrClose(peer, 4000))
          peer.destroy()
          assert.match(outcome, /^A-ABORT|^closed$/, `${c.name}: got ${outcome}`)
          assert.isTrue(yield* promise(() => echoStillWorks(server.port)), "the server still serves")
        }),
      15_000
    )
  }

  // The same, written 3 bytes at a time a millisecond apart: PDUs and PDVs span the server's reads (PduParser
  // pdvViews decodes a P-DATA-TF spanning reads in place, and must fail malformed ones as joining does).
  for (const c of cases) {
    it.live(
      `${c.name}, spanning reads`,
      () =>
        Effect.gen(function* () {
          const server = yield* startScp({ timeouts: { acse: "500 millis" } })
          const peer = yield* promise(() => associated(server.port))
          const bytes = c.bytes()
          // At most 64 pieces: past them, the rest at once.
          yield* promise(async () => {
            let at = 0
            for (let n = 0; n < 64 && at < bytes.length; n++, at += 3) {
              peer.send(bytes.slice(at, at + 3))
              await new Promise((resolve) => setTimeout(resolve, 1))
            }
            if (at < bytes.length) peer.send(bytes.slice(at))
          })
          const outcome = yield* promise(() => untilAbortOrClose(peer, 4000))
          peer.destroy()
          assert.match(outcome, /^A-ABORT|^closed$/, `${c.name}: got ${outcome}`)
          assert.isTrue(yield* promise(() => echoStillWorks(server.port)), "the server still serves")
        }),
      15_000
    )
  }
})
