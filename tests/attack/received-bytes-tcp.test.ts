/**
 * Socket reads freed once consumed (`ReceivedBytes`) over real TCP: a raw peer pipelines C-STOREs (tiny to
 * multi-MiB data sets, many PDVs per PDU, command and data PDVs in one PDU, the A-RELEASE-RQ right after the last
 * P-DATA) and writes them in randomly sized pieces with pauses, so the SCP's reads split headers, PDVs and PDUs
 * at random. Handlers mix every way of taking a data set: `Part10.writeFile(dataSetLent)`, `dataSetReceived ??
 * dataSetLent`, `dataSet` kept in memory, a lent stream read in part then given up, a write into a read-only
 * directory (a path under a regular file, which fails even for root), a write interrupted by a timeout; some runs with the SCP logging at Debug.
 * Every file written and every data set kept must hold exactly the bytes sent.
 */
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Logger, References, Stream } from "effect"
import fc from "fast-check"
import { Part10, ReceivedBytes } from "@netdicom/net"
import { PduCodec, Status } from "@netdicom/wire"
import { associated, associateRq, command, CT, encode, EXPLICIT, promise, startScp, type Peer } from "./support.ts"

const tmp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdicom-received-tcp-"))
// Writes under a regular file fail (ENOTDIR) even for root, as a read-only directory would not.
const readOnly = Path.join(tmp, "not-a-directory")
Fs.writeFileSync(readOnly, "")
afterAll(() => Fs.rmSync(tmp, { recursive: true, force: true }))

type Mode = "lent" | "receivedOrLent" | "kept" | "partLent" | "readOnly" | "timeout"
const MODES: ReadonlyArray<Mode> = ["lent", "receivedOrLent", "kept", "partLent", "readOnly", "timeout"]

const sha = (bytes: Uint8Array): string => Crypto.createHash("sha256").update(bytes).digest("hex")

const random = (length: number, seed: number): Uint8Array => {
  const out = new Uint8Array(length)
  let x = (seed * 2654435761) >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => new Uint8Array(Buffer.concat(parts))

interface Message {
  readonly size: number
  readonly mode: Mode
  readonly pdvSizes: ReadonlyArray<number>
  readonly pdvsPerPdu: number
  readonly commandWithData: boolean
}

const message: fc.Arbitrary<Message> = fc.record({
  size: fc.oneof(
    fc.integer({ min: 1, max: 300 }),
    fc.integer({ min: 301, max: 40_000 }),
    fc.integer({ min: 100_000, max: 400_000 }),
    fc.integer({ min: 1_000_000, max: 1_600_000 })
  ),
  mode: fc.constantFrom(...MODES),
  pdvSizes: fc.array(
    fc.oneof(
      fc.integer({ min: 1, max: 16 }),
      fc.integer({ min: 17, max: 4000 }),
      fc.integer({ min: 4001, max: 16000 })
    ),
    { minLength: 1, maxLength: 8 }
  ),
  pdvsPerPdu: fc.integer({ min: 1, max: 6 }),
  commandWithData: fc.boolean()
})

const scenario = fc.record({
  messages: fc.array(message, { minLength: 1, maxLength: 6 }),
  writes: fc.array(
    fc.oneof(
      fc.integer({ min: 1, max: 10 }),
      fc.integer({ min: 11, max: 300 }),
      fc.integer({ min: 301, max: 20_000 }),
      fc.integer({ min: 20_001, max: 200_000 })
    ),
    { minLength: 1, maxLength: 40 }
  ),
  pauseEvery: fc.integer({ min: 1, max: 8 }),
  seed: fc.integer({ min: 1, max: 1 << 20 }),
  // The SCP logs at Debug: its reader logs every PDU, and frees nothing.
  debug: fc.boolean()
})

type Scenario = typeof scenario extends fc.Arbitrary<infer A> ? A : never

// The bytes of one C-STORE (message `id`), its PDVs `pdvSizes` long in turn (under the SCP's 256 KiB PDU).
const storeBytes = (id: number, m: Message, dataSet: Uint8Array): Uint8Array => {
  const rq = command({
    _tag: "CStoreRq",
    messageId: id,
    affectedSopClassUid: CT,
    affectedSopInstanceUid: `1.2.3.${id}`,
    priority: 0
  })
  const pdvs: Array<{ presentationContextId: number; isCommand: boolean; isLast: boolean; data: Uint8Array }> = []
  pdvs.push({ presentationContextId: 3, isCommand: true, isLast: true, data: rq })
  let at = 0
  for (let i = 0; at < dataSet.length; i++) {
    const n = Math.min(m.pdvSizes[i % m.pdvSizes.length]!, dataSet.length - at)
    pdvs.push({
      presentationContextId: 3,
      isCommand: false,
      isLast: at + n === dataSet.length,
      data: dataSet.subarray(at, at + n)
    })
    at += n
  }
  const pdus: Array<Uint8Array> = []
  let i = 0
  if (!m.commandWithData) pdus.push(PduCodec.encodePDataTf([pdvs[i++]!]))
  while (i < pdvs.length) {
    pdus.push(PduCodec.encodePDataTf(pdvs.slice(i, i + m.pdvsPerPdu)))
    i += m.pdvsPerPdu
  }
  return concat(pdus)
}

const waitDrain = (peer: Peer) =>
  new Promise<void>((resolve) => {
    if (!peer.socket.writableNeedDrain) setTimeout(resolve, 1)
    else peer.socket.once("drain", () => resolve())
  })

const runScenario = (s: Scenario) =>
  Effect.gen(function* () {
    const dir = Fs.mkdtempSync(Path.join(tmp, "run-"))
    const kept = new Map<string, ReadonlyArray<Uint8Array>>()
    const partial = new Map<string, Uint8Array>()
    const server = yield* startScp({
      timeouts: { dimse: "20 seconds" },
      storage: {
        store: (request) => {
          const id = Number(request.sopInstanceUid.split(".").at(-1))
          const mode = s.messages[id - 1]!.mode
          const where = Path.join(mode === "readOnly" ? readOnly : dir, `${id}.dcm`)
          const meta = {
            transferSyntaxUid: EXPLICIT,
            sopClassUid: CT,
            sopInstanceUid: request.sopInstanceUid,
            implementationClassUid: "1.2.3"
          }
          const ok = { status: Status.SUCCESS }
          const failed = { status: 0xa700 }
          switch (mode) {
            case "timeout":
              // Interrupted a moment in, mid-write as often as not: the partial file is removed.
              return Effect.match(Effect.timeout(Part10.writeFile(where, meta, request.dataSetLent), "3 millis"), {
                onSuccess: () => ok,
                onFailure: () => failed
              })
            case "lent":
            case "readOnly":
              return Effect.match(Part10.writeFile(where, meta, request.dataSetLent), {
                onSuccess: () => ok,
                onFailure: () => failed
              })
            case "receivedOrLent":
              return Effect.match(Part10.writeFile(where, meta, request.dataSetReceived ?? request.dataSetLent), {
                onSuccess: () => ok,
                onFailure: () => failed
              })
            case "kept":
              return Effect.match(Stream.runCollect(request.dataSet), {
                onSuccess: (chunks) => {
                  kept.set(request.sopInstanceUid, chunks)
                  return ok
                },
                onFailure: () => failed
              })
            case "partLent":
              // The first pull's fragments, copied; the rest is left unread (dropped by the channel).
              return Effect.match(Stream.runCollect(Stream.take(request.dataSetLent, 1)), {
                onSuccess: (chunks) => {
                  partial.set(request.sopInstanceUid, concat(chunks))
                  return ok
                },
                onFailure: () => failed
              })
          }
        }
      }
    }).pipe(
      s.debug
        ? (scp) =>
            Effect.provide(scp, Logger.layer([])).pipe(Effect.provideService(References.MinimumLogLevel, "Debug"))
        : (scp) => scp
    )
    const freedBefore = ReceivedBytes.freed()
    const rq = associateRq({
      userInformation: [
        { _tag: "MaximumLength", maximumLength: 16384 },
        { _tag: "ImplementationClassUid", uid: "1.2.3.4" },
        { _tag: "AsynchronousOperationsWindow", maxOperationsInvoked: 0, maxOperationsPerformed: 0 }
      ]
    })
    const peer = yield* promise(() => associated(server.port, rq))
    const dataSets = s.messages.map((m, i) => random(m.size, s.seed + i))
    const stream = concat([
      ...s.messages.map((m, i) => storeBytes(i + 1, m, dataSets[i]!)),
      encode({ _tag: "AReleaseRq" })
    ])
    yield* promise(async () => {
      for (let at = 0, i = 0; at < stream.length; i++) {
        // At most about 4,000 writes: a multi-MB stream in 3-byte writes would take minutes.
        const n = Math.max(s.writes[i % s.writes.length]!, Math.floor(stream.length / 4000))
        peer.send(stream.subarray(at, at + n))
        at += n
        if (i % s.pauseEvery === 0) await waitDrain(peer)
      }
    })
    // One P-DATA-TF (the C-STORE-RSP) per request, then the A-RELEASE-RP.
    let responses = 0
    let end = "none"
    while (true) {
      const pdu = yield* promise(() => peer.next(30_000))
      if (typeof pdu === "string") {
        end = pdu
        break
      }
      if (pdu.type === 0x04) {
        responses++
        continue
      }
      end = `PDU 0x${pdu.type.toString(16)}`
      break
    }
    peer.destroy()
    assert.strictEqual(end, "PDU 0x6", "released")
    assert.strictEqual(responses, s.messages.length, "one response per C-STORE")
    for (const [i, m] of s.messages.entries()) {
      const uid = `1.2.3.${i + 1}`
      const sent = dataSets[i]!
      switch (m.mode) {
        case "lent":
        case "receivedOrLent": {
          const file = Fs.readFileSync(Path.join(dir, `${i + 1}.dcm`))
          const got = new Uint8Array(file.subarray(file.length - sent.length))
          assert.strictEqual(sha(got), sha(sent), `file ${i + 1} (${m.mode}, ${m.size} bytes) differs`)
          const meta = Part10.writeMeta({
            transferSyntaxUid: EXPLICIT,
            sopClassUid: CT,
            sopInstanceUid: uid,
            implementationClassUid: "1.2.3"
          })
          assert.strictEqual(file.length, meta.length + sent.length, `file ${i + 1} length`)
          break
        }
        case "kept":
          assert.strictEqual(sha(concat(kept.get(uid)!)), sha(sent), `kept data set ${i + 1} differs`)
          break
        case "partLent": {
          const got = partial.get(uid)!
          assert.isAbove(got.length, 0)
          assert.strictEqual(sha(got), sha(sent.subarray(0, got.length)), `part of data set ${i + 1} differs`)
          break
        }
        case "readOnly":
          assert.isFalse(Fs.existsSync(Path.join(readOnly, `${i + 1}.dcm`)))
          break
        case "timeout": {
          // Written in time, or removed: never a partial file. A write interrupted while the thread pool was writing
          // removes its file once that write settles (`Part10.writeFile` does not wait for it): on a loaded machine,
          // a moment after the response.
          const where = Path.join(dir, `${i + 1}.dcm`)
          const whole = () => {
            const file = Fs.readFileSync(where)
            return sha(new Uint8Array(file.subarray(file.length - sent.length))) === sha(sent)
          }
          for (let waited = 0; waited < 5000 && Fs.existsSync(where) && !whole(); waited += 20) {
            yield* Effect.sleep("20 millis")
          }
          if (Fs.existsSync(where)) {
            const file = Fs.readFileSync(where)
            assert.strictEqual(
              sha(new Uint8Array(file.subarray(file.length - sent.length))),
              sha(sent),
              `timed-out file ${i + 1} left: ${file.length} bytes for ${sent.length} sent`
            )
          }
          break
        }
      }
    }
    if (s.debug) assert.strictEqual(ReceivedBytes.freed() - freedBefore, 0, "a reader logging PDUs frees nothing")
    Fs.rmSync(dir, { recursive: true, force: true })
  })

describe("ReceivedBytes over TCP, reads split at random", () => {
  it.live(
    "pipelined C-STOREs, every handler style: files and kept data sets hold exactly the bytes sent",
    () =>
      Effect.gen(function* () {
        const before = ReceivedBytes.freed()
        // RB_RUNS / RB_SEED widen the search by hand (the suite runs 24 seeded scenarios).
        const samples = fc.sample(scenario, {
          numRuns: Number(process.env.RB_RUNS ?? 24),
          seed: Number(process.env.RB_SEED ?? 20261205)
        })
        for (const s of samples) yield* Effect.scoped(runScenario(s))
        assert.isAbove(ReceivedBytes.freed() - before, 0, "reads were freed along the way")
      }),
    600_000
  )
})
