/**
 * `netdicom storescp` (the CLI, a child process) receiving C-STOREs from a raw peer that packs PDVs anyhow (the
 * command and the first data PDVs in one P-DATA-TF, odd PDV lengths, 1-byte PDVs, PDVs up to the PDU limit) and
 * writes the bytes in random pieces, so that PDUs and PDVs span the server's socket reads (PduParser pdvViews):
 * every stored file must end with exactly the data set sent (SHA-256), whatever the split.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { PduCodec, type Pdv } from "@netdicom/wire"
import { startServer, type Server } from "../../packages/cli/test/support.ts"
import { associated, command, CT, encode, type Peer, pdvsOf } from "./support.ts"

const MAX_PDU = 16384

const random = (seed: number) => () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x7fffffff
}

// An Explicit VR Little Endian data set: SOP Class, SOP Instance, Study and Series, a pixel data OB of `size` bytes.
const dataSet = (uid: string, size: number, seed: number): Uint8Array => {
  const pad = (s: string) => (s.length % 2 === 0 ? s : `${s}\0`)
  const ui = (group: number, element: number, value: string) => {
    const v = new TextEncoder().encode(pad(value))
    const out = new Uint8Array(8 + v.length)
    const dv = new DataView(out.buffer)
    dv.setUint16(0, group, true)
    dv.setUint16(2, element, true)
    out.set([0x55, 0x49], 4)
    dv.setUint16(6, v.length, true)
    out.set(v, 8)
    return out
  }
  const pixels = new Uint8Array(12 + size)
  const dv = new DataView(pixels.buffer)
  dv.setUint16(0, 0x7fe0, true)
  dv.setUint16(2, 0x0010, true)
  pixels.set([0x4f, 0x42], 4)
  dv.setUint32(8, size, true)
  const rnd = random(seed)
  for (let i = 0; i < size; i++) pixels[12 + i] = Math.floor(rnd() * 256)
  const parts = [
    ui(0x0008, 0x0016, CT),
    ui(0x0008, 0x0018, uid),
    ui(0x0020, 0x000d, `${uid}.1`),
    ui(0x0020, 0x000e, `${uid}.2`),
    pixels
  ]
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

// The message's P-DATA-TFs: the command and the data set cut into PDVs of random lengths (1 byte, odd, up to the
// limit), packed several to a PDU, the command sharing its PDU with the first data PDVs.
const pdusOf = (commandBytes: Uint8Array, data: Uint8Array, rnd: () => number): Array<Uint8Array> => {
  const pdvs: Array<Pdv.Pdv> = [{ presentationContextId: 3, isCommand: true, isLast: true, data: commandBytes }]
  for (let at = 0; at < data.length;) {
    const r = rnd()
    const n = r < 0.2 ? 1 : r < 0.5 ? 1 + 2 * Math.floor(rnd() * 500) : 1 + Math.floor(rnd() * (MAX_PDU - 7))
    const end = Math.min(data.length, at + n)
    pdvs.push({ presentationContextId: 3, isCommand: false, isLast: end === data.length, data: data.subarray(at, end) })
    at = end
  }
  const pdus: Array<Uint8Array> = []
  let batch: Array<Pdv.Pdv> = []
  let size = 0
  for (const pdv of pdvs) {
    if (batch.length > 0 && (size + 6 + pdv.data.length > MAX_PDU - 6 || rnd() < 0.2)) {
      pdus.push(PduCodec.encodePDataTf(batch))
      batch = []
      size = 0
    }
    batch.push(pdv)
    size += 6 + pdv.data.length
  }
  pdus.push(PduCodec.encodePDataTf(batch))
  return pdus
}

const dribble = async (peer: Peer, bytes: Uint8Array, next: () => number): Promise<void> => {
  let at = 0
  while (at < bytes.length) {
    const r = next()
    const n = r < 0.1 ? 1 : r < 0.3 ? 1 + Math.floor(next() * 100) : 1 + Math.floor(next() * 100_000)
    if (!peer.send(bytes.slice(at, at + n))) await new Promise((resolve) => peer.socket.once("drain", resolve))
    at += n
    if (next() < 0.5) await new Promise((resolve) => setImmediate(resolve))
  }
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex")

describe("netdicom storescp receiving PDVs packed and split anyhow", () => {
  let out: string
  let scp: Server
  beforeAll(async () => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), "attack4-storescp-"))
    scp = await startServer(["storescp", "0", "--out", out, "--aet", "NETDICOM-SCP", "--log-level", "warn"])
  }, 30_000)
  afterAll(async () => {
    await scp?.interrupt()
    fs.rmSync(out, { recursive: true, force: true })
  })

  it("12 instances on 3 associations at once: every stored file ends with the data set sent", async () => {
    const sent = new Map<string, string>()
    const oneAssociation = async (a: number) => {
      const rnd = random(100 + a)
      const peer = await associated(scp.port)
      try {
        for (let i = 0; i < 4; i++) {
          const uid = `1.2.826.0.1.3680043.9.7777.${a}.${i}`
          const size = [2, 1000, 40_002, 300_000][i]! + 2 * a
          const data = dataSet(uid, size, a * 10 + i)
          sent.set(uid, sha(data))
          const cmd = command({
            _tag: "CStoreRq",
            messageId: i + 1,
            affectedSopClassUid: CT,
            affectedSopInstanceUid: uid,
            priority: 0
          })
          const pdus = pdusOf(cmd, data, rnd)
          const joined = new Uint8Array(pdus.reduce((n, p) => n + p.length, 0))
          let at = 0
          for (const p of pdus) {
            joined.set(p, at)
            at += p.length
          }
          await dribble(peer, joined, rnd)
          const rsp = await peer.next(10_000)
          assert.notStrictEqual(typeof rsp, "string", `no C-STORE-RSP for ${uid}: ${String(rsp)}`)
          if (typeof rsp !== "string") {
            const body = Buffer.concat(pdvsOf(rsp.body).map((p) => p.data))
            // Status (0000,0900) US: Success
            const index = body.indexOf(Buffer.from([0x00, 0x00, 0x00, 0x09, 0x02, 0x00, 0x00, 0x00]))
            assert.isAtLeast(index, 0)
            assert.strictEqual(body.readUInt16LE(index + 8), 0, `status for ${uid}`)
          }
        }
      } finally {
        peer.send(encode({ _tag: "AReleaseRq" }))
        await peer.next(2000)
        peer.destroy()
      }
    }
    await Promise.all([0, 1, 2].map(oneAssociation))
    const files = fs.readdirSync(out, { recursive: true, withFileTypes: true }).filter((f) => f.isFile())
    assert.strictEqual(files.length, 12)
    const found = new Map<string, string>()
    for (const f of files) {
      const bytes = fs.readFileSync(path.join(f.parentPath, f.name))
      // The data set begins with its SOP Class UID element, (0008,0016) UI, after the meta header.
      const start = bytes.indexOf(Buffer.from([0x08, 0x00, 0x16, 0x00, 0x55, 0x49]))
      const hash = sha(bytes.subarray(start))
      for (const [uid, sentHash] of sent) if (sentHash === hash) found.set(uid, hash)
    }
    for (const [uid] of sent) assert.isTrue(found.has(uid), `${uid}: no stored file ends with the data set sent`)
  }, 60_000)
})
