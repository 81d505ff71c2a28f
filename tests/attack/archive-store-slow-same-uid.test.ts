/**
 * Two associations storing one SOP Instance UID into the archive SCP, one slowly (its data set's PDUs dribbled), the
 * other whole at once. The archive held the instance's lock (`Storing.keyedLock`) from the end of the slow one's
 * header until its last byte had arrived, so the fast one waited for the slow one's stream (its SCU gives up at its
 * DIMSE timeout). The file is now written to its temporary name outside the lock, the lock taken only for the checks,
 * the rename and the indexing: the fast one is answered at once, the slow one when it is whole, and the instance
 * stored is the one that completed last, as for any re-store; nothing temporary is left.
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as Part10 from "../../packages/archive/src/Part10.ts"
import { instance } from "../../packages/archive/test/fixtures.ts"
import { element } from "../support/elements.ts"
import { startArchiveScp } from "./archive-support.ts"
import { commandOf } from "./hotpath-support.ts"
import { associated, associateRq, pdata, type Peer, promise, storeRqPdata } from "./support.ts"

// A CT instance of SOP Instance UID 1.2.3 (the raw C-STORE-RQ's) whose header ends at a Pixel Data element of
// `pixels` bytes: the archive has its header long before its last byte.
const withPixels = (patientName: string, pixels: number, fill: number): Uint8Array => {
  const file = instance({ patientId: "P", patientName, study: "1.2.3", series: "1.2.3.1", sop: "1.2.3" })
  return new Uint8Array(Buffer.concat([file, element(0x7fe0, 0x0010, "OW", Buffer.alloc(pixels, fill))]))
}

const dataSetOf = (file: Uint8Array): Uint8Array => file.subarray(Part10.dataSetOffset(file)!)

// Whether the file at `path` holds the data set of `file` (its File Meta Information is the archive's own).
const storedIs = (path: string, file: Uint8Array) =>
  Effect.map(
    promise(() => Fs.readFile(path)),
    (bytes) => Buffer.from(dataSetOf(new Uint8Array(bytes))).equals(Buffer.from(dataSetOf(file)))
  )

// P-DATA-TFs of data set fragments on context 3, at most 16,000 bytes each, the last one flagged when `last`.
const fragments = (bytes: Uint8Array, last: boolean): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let at = 0; at < bytes.length; at += 16_000) {
    const end = Math.min(at + 16_000, bytes.length)
    out.push(pdata(3, false, last && end === bytes.length, bytes.subarray(at, end)))
  }
  return out
}

// The status of the C-STORE-RSP the peer gets within `ms`, or what came instead.
const responseWithin = async (peer: Peer, ms: number): Promise<string> => {
  const pdu = await peer.next(ms)
  if (typeof pdu === "string") return pdu
  const m = pdu.type === 0x04 ? commandOf(pdu.body) : undefined
  return m?._tag === "CStoreRsp" ? `status ${m.status}` : `PDU 0x${pdu.type.toString(16)}`
}

describe("archive: two stores of one SOP Instance UID, one slow", () => {
  it.live(
    "the fast one is answered without waiting for the slow one's stream; the last to complete is stored",
    () =>
      Effect.gen(function* () {
        const scp = yield* startArchiveScp({ timeouts: { dimse: "20 seconds", idle: "20 seconds" } })
        const slowFile = withPixels("Slow^S", 1 << 20, 1)
        const fastFile = withPixels("Fast^F", 1 << 20, 2)
        const slowSet = dataSetOf(slowFile)

        // The slow one: its header and 300 KiB of pixels (its handler starts at 128 KiB), then nothing until the fast
        // one is done.
        const slow = yield* promise(() => associated(scp.port, associateRq({ calledAeTitle: "ARCHIVE" })))
        yield* Effect.addFinalizer(() => Effect.sync(slow.destroy))
        const split = 300 << 10
        slow.send(storeRqPdata())
        for (const p of fragments(slowSet.subarray(0, split), false)) slow.send(p)
        // the archive has read its header (and, before, taken the lock) by now
        yield* Effect.sleep("300 millis")

        const fast = yield* promise(() => associated(scp.port, associateRq({ calledAeTitle: "ARCHIVE" })))
        yield* Effect.addFinalizer(() => Effect.sync(fast.destroy))
        const started = Date.now()
        fast.send(storeRqPdata())
        for (const p of fragments(dataSetOf(fastFile), true)) fast.send(p)
        const fastOutcome = yield* promise(() => responseWithin(fast, 3000))
        const fastMs = Date.now() - started
        // Before: "timeout" (the fast one waited for the lock until the slow one's last byte).
        assert.strictEqual(fastOutcome, "status 0", `the fast C-STORE after ${fastMs} ms`)
        const stored = yield* scp.index.get("1.2.3")
        assert.isTrue(Option.isSome(stored))
        const path = Option.getOrThrow(stored).filePath
        assert.isTrue(yield* storedIs(path, fastFile), "the fast one's data set stored")

        // The rest of the slow one, dribbled: four PDUs every 40 ms.
        const rest = fragments(slowSet.subarray(split), true)
        for (let at = 0; at < rest.length; at += 4) {
          for (const p of rest.slice(at, at + 4)) slow.send(p)
          yield* Effect.sleep("40 millis")
        }
        assert.strictEqual(yield* promise(() => responseWithin(slow, 5000)), "status 0")
        const after = yield* scp.index.get("1.2.3")
        assert.strictEqual(Option.getOrThrow(after).filePath, path)
        assert.isTrue(yield* storedIs(path, slowFile), "the slow one's data set stored last")
        // one file, nothing temporary left beside it
        assert.deepStrictEqual(yield* promise(() => Fs.readdir(Path.dirname(path))), [Path.basename(path)])
      }).pipe(Effect.scoped),
    20_000
  )
})
