/**
 * Deflated Explicit VR Little Endian identifiers for C-FIND (PS3.5 A.5). `DataSet.decode` inflates with a 64 MiB
 * cap by default, synchronously, and the SCP uses that default for identifiers.
 *
 * - A bomb past the cap must be refused (C-FIND-RSP A900) quickly, with bounded memory: holds.
 * - Under the cap: a 61 KB identifier inflates to 60 MiB, copied twice more (new Uint8Array of the inflated
 *   bytes, then the copy for dcmjs) and read by dcmjs: ~250 MB of ArrayBuffers and ~260 ms of blocked event loop
 *   per message, measured. Six of them (370 KB from one peer) stalled a C-ECHO on another association 1.5 s.
 *   A query identifier is a few KB; the cap for identifiers should be far lower (or the work bounded).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { deflateRawSync } from "node:zlib"
import { DataSet } from "@netdicom/net"
import { Dimse } from "@netdicom/wire"
import { associated, command, EXPLICIT, pdata, pdvsOf, promise, startScp, STUDY_FIND, VERIFICATION } from "./support.ts"

/** An Explicit VR LE identifier with a private OB element of `size` zero bytes, deflated. */
const bomb = (size: number): Uint8Array => {
  const head = Result.getOrThrow(DataSet.encode({ PatientName: "X*", StudyInstanceUID: "" }, EXPLICIT))
  const el = Buffer.alloc(12)
  el.writeUInt16LE(0x0011, 0)
  el.writeUInt16LE(0x1010, 2)
  el.write("OB", 4, "latin1")
  el.writeUInt32LE(size, 8)
  const deflated = deflateRawSync(Buffer.concat([Buffer.from(head), el, Buffer.alloc(size)]), { level: 9 })
  const out = new Uint8Array(deflated.length + (deflated.length % 2))
  out.set(deflated)
  return out
}

const findOn7 = (id: number) =>
  pdata(7, true, true, command({ _tag: "CFindRq", messageId: id, affectedSopClassUid: STUDY_FIND, priority: 0 }))

/** Sends an identifier in PDUs of at most 16000 bytes. */
const identifier = (bytes: Uint8Array): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let at = 0; at < bytes.length; at += 16000) {
    const end = Math.min(at + 16000, bytes.length)
    out.push(pdata(7, false, end === bytes.length, bytes.subarray(at, end)))
  }
  return out
}

const statusOf = (body: Buffer): number | undefined => {
  const cmd = pdvsOf(body).filter((p) => (p.control & 1) === 1)
  if (cmd.length === 0) return undefined
  const m = Dimse.decode(new Uint8Array(Buffer.concat(cmd.map((p) => p.data))))
  return Result.isSuccess(m) && "status" in m.success ? m.success.status : undefined
}

describe("deflated C-FIND identifiers", () => {
  it.live(
    "a bomb past the 64 MiB cap (80 MiB of zeros in ~80 KB) is answered A900 within 3 s",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp()
        const peer = yield* promise(() => associated(server.port))
        peer.send(findOn7(1))
        for (const p of identifier(bomb(80 << 20))) peer.send(p)
        const rsp = yield* promise(() => peer.next(3000))
        peer.destroy()
        assert.isTrue(typeof rsp !== "string" && rsp.type === 0x04, "a C-FIND-RSP")
        if (typeof rsp !== "string") assert.strictEqual(statusOf(rsp.body), 0xa900)
      }),
    15_000
  )

  it.live(
    "six 61 KB identifiers that inflate to 60 MiB each do not stall a C-ECHO on another association past 1 s",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp()
        const payload = identifier(bomb(60 << 20))
        const attacker = yield* promise(() => associated(server.port))
        const victim = yield* promise(() => associated(server.port))
        const before = process.memoryUsage().arrayBuffers
        let peak = before
        const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 5)
        for (let i = 0; i < 6; i++) {
          attacker.send(findOn7(100 + i))
          for (const p of payload) attacker.send(p)
        }
        yield* Effect.sleep("20 millis")
        const started = Date.now()
        victim.send(pdata(1, true, true, command({ _tag: "CEchoRq", messageId: 1, affectedSopClassUid: VERIFICATION })))
        const echo = yield* promise(() => victim.next(15000))
        const latency = Date.now() - started
        clearInterval(sampler)
        attacker.destroy()
        victim.destroy()
        assert.isTrue(typeof echo !== "string", "C-ECHO-RSP")
        assert.isBelow(
          latency,
          1000,
          `C-ECHO answered after ${latency} ms; ArrayBuffers peaked ${Math.round((peak - before) / 1048576)} MB above the start`
        )
      }),
    30_000
  )
})
