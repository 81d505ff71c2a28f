/**
 * C-STOREs to `netdicom qrscp` and `netdicom storescp` whose data set is broken in its structure (PS3.5 7.5): sequences
 * nested 10,000 deep (undefined lengths, and in a UN element of undefined length, read as Implicit VR, PS3.5 6.2.2),
 * an item whose defined length runs past the data set, a stray item or sequence delimiter, a defined-length sequence
 * whose undefined-length item is never delimited. Each must be answered with a failure status (0xA900 or 0xCxxx), at
 * once, nothing stored, and the association must go on (a C-ECHO after them). The product held when this was written
 * (a guard: the storage SCPs' structure walk is iterative and bounded), but for the last case at `netdicom storescp`,
 * which took a sequence of defined length on trust and stored it until `ElementWalker` walked into them.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Result } from "effect"
import { Dimse } from "@netdicom/wire"
import { filesUnder, startServer } from "../../packages/cli/test/support.ts"
import {
  associateRq,
  command,
  connectPeer,
  encode,
  EXPLICIT,
  IMPLICIT,
  pdata,
  pdvsOf,
  type Peer,
  VERIFICATION
} from "./support.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-store-structure-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const CT = "1.2.840.10008.5.1.4.1.1.2"
const le16 = (n: number) => [n & 0xff, n >> 8]
const le32 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff]
const tag = (g: number, e: number) => [...le16(g), ...le16(e)]
const UNDEFINED = le32(0xffffffff)
const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0))

/** A UI element, Explicit or Implicit VR Little Endian, its value padded with a NUL to an even length. */
const ui = (g: number, e: number, value: string, explicit: boolean) => {
  const bytes = [...ascii(value), ...(value.length % 2 === 1 ? [0] : [])]
  return explicit
    ? [...tag(g, e), ...ascii("UI"), ...le16(bytes.length), ...bytes]
    : [...tag(g, e), ...le32(bytes.length), ...bytes]
}

/** SOP Class and Instance, Study and Series Instance UIDs: what the archive needs of a header. */
const uids = (sop: string, explicit: boolean) => [
  ...ui(0x0008, 0x0016, CT, explicit),
  ...ui(0x0008, 0x0018, sop, explicit),
  ...ui(0x0020, 0x000d, "1.2.3.9", explicit),
  ...ui(0x0020, 0x000e, "1.2.3.9.1", explicit)
]

/** A sequence header of undefined length: (0040,A730) SQ, or UN in Explicit VR when `un`. */
const sqOpen = (explicit: boolean, un = false) =>
  explicit
    ? [...tag(0x0040, 0xa730), ...ascii(un ? "UN" : "SQ"), 0, 0, ...UNDEFINED]
    : [...tag(0x0040, 0xa730), ...UNDEFINED]
const ITEM_OPEN = [...tag(0xfffe, 0xe000), ...UNDEFINED]
const ITEM_END = [...tag(0xfffe, 0xe00d), ...le32(0)]
const SEQ_END = [...tag(0xfffe, 0xe0dd), ...le32(0)]

const nested = (depth: number, explicit: boolean, un = false): Array<number> => {
  const out: Array<number> = []
  for (let i = 0; i < depth; i++) out.push(...sqOpen(explicit && !(un && i > 0), un && i === 0), ...ITEM_OPEN)
  for (let i = 0; i < depth; i++) out.push(...ITEM_END, ...SEQ_END)
  return out
}

const cases: ReadonlyArray<{
  readonly name: string
  readonly explicit: boolean
  readonly body: (sop: string) => Array<number>
}> = [
  {
    name: "sequences nested 10,000 deep, Explicit VR",
    explicit: true,
    body: (sop) => [...uids(sop, true), ...nested(10_000, true)]
  },
  {
    name: "sequences nested 10,000 deep, Implicit VR",
    explicit: false,
    body: (sop) => [...uids(sop, false), ...nested(10_000, false)]
  },
  {
    name: "a UN element of undefined length holding sequences nested 10,000 deep",
    explicit: true,
    body: (sop) => [...uids(sop, true), ...nested(10_000, true, true)]
  },
  {
    name: "an item whose length runs past the data set",
    explicit: true,
    body: (sop) => [
      ...uids(sop, true),
      ...tag(0x0040, 0xa730),
      ...ascii("SQ"),
      0,
      0,
      ...le32(16),
      ...tag(0xfffe, 0xe000),
      ...le32(4000),
      1,
      2
    ]
  },
  { name: "an item delimiter at the top level", explicit: true, body: (sop) => [...uids(sop, true), ...ITEM_END] },
  { name: "a sequence delimiter at the top level", explicit: true, body: (sop) => [...uids(sop, true), ...SEQ_END] },
  {
    name: "a defined-length sequence whose undefined-length item is never delimited",
    explicit: false,
    body: (sop) => [
      ...uids(sop, false),
      ...tag(0x0040, 0xa730),
      ...le32(16),
      ...ITEM_OPEN,
      ...tag(0x0010, 0x0010),
      ...le32(0)
    ]
  },
  {
    name: "a defined-length sequence whose undefined-length item is never delimited, Explicit VR",
    explicit: true,
    body: (sop) => [
      ...uids(sop, true),
      ...tag(0x0040, 0xa730),
      ...ascii("SQ"),
      0,
      0,
      ...le32(16),
      ...ITEM_OPEN,
      ...tag(0x0010, 0x0010),
      ...ascii("PN"),
      ...le16(0)
    ]
  },
  {
    name: "an element running past the end of its item of defined length",
    explicit: true,
    body: (sop) => [
      ...uids(sop, true),
      ...tag(0x0040, 0xa730),
      ...ascii("SQ"),
      0,
      0,
      ...le32(22),
      ...tag(0xfffe, 0xe000),
      ...le32(10),
      ...tag(0x0010, 0x0010),
      ...ascii("PN"),
      ...le16(6),
      ...ascii("DOE^J ")
    ]
  },
  {
    name: "a sequence delimiter inside a sequence of defined length",
    explicit: true,
    body: (sop) => [...uids(sop, true), ...tag(0x0040, 0xa730), ...ascii("SQ"), 0, 0, ...le32(8), ...SEQ_END]
  }
]

/** The commands received until the first that is not pending, or why none came. */
const responses = async (peer: Peer, ms: number): Promise<Array<Dimse.Message> | string> => {
  const out: Array<Dimse.Message> = []
  let parts: Array<Buffer> = []
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const pdu = await peer.next(deadline - Date.now())
    if (typeof pdu === "string") return pdu
    if (pdu.type !== 0x04) return `PDU 0x${pdu.type.toString(16)}`
    for (const pdv of pdvsOf(pdu.body)) {
      if ((pdv.control & 1) === 0) continue
      parts.push(pdv.data)
      if ((pdv.control & 2) === 0) continue
      const decoded = Dimse.decode(new Uint8Array(Buffer.concat(parts)))
      parts = []
      if (Result.isFailure(decoded)) return `undecodable command: ${decoded.failure.message}`
      out.push(decoded.success)
      return out
    }
  }
  return "timeout"
}

const servers = [
  { name: "netdicom qrscp", args: (dir: string) => ["qrscp", "0", "--store", dir, "--db", ":memory:"] },
  { name: "netdicom storescp", args: (dir: string) => ["storescp", "0", "--out", dir] }
]

describe("C-STOREs whose data set is broken in its structure", () => {
  for (const { name, args } of servers) {
    it(`${name}: each is answered with a failure status, nothing is stored, the association goes on`, async () => {
      const dir = fs.mkdtempSync(path.join(tmp, "store-"))
      const server = await startServer(args(dir))
      const peer = await connectPeer(server.port)
      try {
        peer.send(
          encode(
            associateRq({
              calledAeTitle: "NETDICOM",
              presentationContexts: [
                { _tag: "PresentationContextRq", id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
                { _tag: "PresentationContextRq", id: 3, abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
                { _tag: "PresentationContextRq", id: 5, abstractSyntax: CT, transferSyntaxes: [IMPLICIT] }
              ]
            })
          )
        )
        const ac = await peer.next(5000)
        assert.isTrue(typeof ac !== "string" && ac.type === 0x02, `A-ASSOCIATE-AC, got ${String(ac)}`)
        const wrong: Array<string> = []
        let messageId = 1
        for (const c of cases) {
          const sop = `1.2.3.9.1.${messageId}`
          const pc = c.explicit ? 3 : 5
          const started = Date.now()
          peer.send(
            pdata(
              pc,
              true,
              true,
              command({
                _tag: "CStoreRq",
                messageId: messageId++,
                affectedSopClassUid: CT,
                affectedSopInstanceUid: sop,
                priority: 0
              })
            )
          )
          const bytes = c.body(sop)
          for (let at = 0; at < bytes.length; at += 16_000) {
            const end = Math.min(at + 16_000, bytes.length)
            peer.send(pdata(pc, false, end === bytes.length, Uint8Array.from(bytes.slice(at, end))))
          }
          const got = await responses(peer, 5000)
          const took = Date.now() - started
          const status = typeof got === "string" ? undefined : (got[0] as { status?: number }).status
          const failed = status !== undefined && (status === 0xa900 || (status & 0xf000) === 0xc000)
          if (!failed || took > 3000) {
            wrong.push(`${c.name}: ${typeof got === "string" ? got : `status 0x${status?.toString(16)}`} in ${took} ms`)
          }
        }
        peer.send(pdata(1, true, true, command({ _tag: "CEchoRq", messageId: 999, affectedSopClassUid: VERIFICATION })))
        const echo = await responses(peer, 5000)
        assert.deepStrictEqual(wrong, [], "C-STOREs not answered with a failure status at once")
        assert.isTrue(
          typeof echo !== "string" && echo[0]?._tag === "CEchoRsp" && echo[0].status === 0,
          `C-ECHO after them: ${typeof echo === "string" ? echo : echo.map((m) => m._tag).join(", ")}`
        )
        assert.deepStrictEqual(
          filesUnder(dir).filter((f) => f.endsWith(".dcm")),
          [],
          "no instance stored"
        )
      } finally {
        peer.destroy()
        await server.interrupt()
      }
    }, 60_000)
  }
})
