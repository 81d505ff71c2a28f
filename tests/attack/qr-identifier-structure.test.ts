/**
 * C-FIND, C-GET and C-MOVE requests to `netdicom qrscp` whose identifier is broken in its structure (PS3.5 7.5):
 * sequences nested 10,000 deep (a recursion in a decoder would overflow the stack), nested one level past the
 * decoder's bound, an item whose defined length runs past the data set, an item delimiter at the top level, a
 * sequence of defined length whose undefined-length item is never delimited. Each must be answered with a failure
 * status (PS3.4 C.4: 0xA900 or 0xCxxx, no pending response), at once, on the same association, which then still
 * answers a C-ECHO: no crash, no hang, no abort. The product held when this was written (a guard: the scanner's
 * depth bound and its typed errors reach the SCP's failure responses).
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Result } from "effect"
import { Dimse } from "@netdicom/wire"
import { startServer } from "../../packages/cli/test/support.ts"
import {
  associateRq,
  command,
  connectPeer,
  encode,
  IMPLICIT,
  pdata,
  pdvsOf,
  type Peer,
  VERIFICATION
} from "./support.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-qr-identifier-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const FIND = "1.2.840.10008.5.1.4.1.2.2.1"
const MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
const GET = "1.2.840.10008.5.1.4.1.2.2.3"

const le16 = (n: number) => [n & 0xff, n >> 8]
const le32 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff]
const tag = (g: number, e: number) => [...le16(g), ...le16(e)]
const UNDEFINED = le32(0xffffffff)
/** (0008,0052) Query/Retrieve Level "STUDY", then (0020,000D) empty: an identifier's usual start, Implicit VR. */
const LEVEL = [...tag(0x0008, 0x0052), ...le32(6), ..."STUDY ".split("").map((c) => c.charCodeAt(0))]
const STUDY_UID = [...tag(0x0020, 0x000d), ...le32(0)]

/** Undefined-length sequences (0040,A730), each with one undefined-length item, nested `depth` deep. */
const nested = (depth: number): Array<number> => {
  const open = [...tag(0x0040, 0xa730), ...UNDEFINED, ...tag(0xfffe, 0xe000), ...UNDEFINED]
  const close = [...tag(0xfffe, 0xe00d), ...le32(0), ...tag(0xfffe, 0xe0dd), ...le32(0)]
  const out: Array<number> = []
  for (let i = 0; i < depth; i++) out.push(...open)
  for (let i = 0; i < depth; i++) out.push(...close)
  return out
}

const identifiers: ReadonlyArray<{ readonly name: string; readonly bytes: Array<number> }> = [
  { name: "sequences nested 10,000 deep", bytes: [...LEVEL, ...STUDY_UID, ...nested(10_000)] },
  { name: "sequences nested 40 deep", bytes: [...LEVEL, ...STUDY_UID, ...nested(40)] },
  {
    name: "an item whose length runs past the data set",
    bytes: [...LEVEL, ...STUDY_UID, ...tag(0x0040, 0xa730), ...le32(16), ...tag(0xfffe, 0xe000), ...le32(4000), 1, 2]
  },
  {
    name: "an item delimiter at the top level",
    bytes: [...LEVEL, ...tag(0xfffe, 0xe00d), ...le32(0), ...STUDY_UID]
  },
  {
    name: "a defined-length sequence whose undefined-length item is never delimited",
    bytes: [
      ...LEVEL,
      ...STUDY_UID,
      ...tag(0x0040, 0xa730),
      ...le32(16),
      ...tag(0xfffe, 0xe000),
      ...UNDEFINED,
      ...tag(0x0010, 0x0010),
      ...le32(0)
    ]
  },
  {
    name: "a sequence delimiter inside an item",
    bytes: [
      ...LEVEL,
      ...STUDY_UID,
      ...tag(0x0040, 0xa730),
      ...UNDEFINED,
      ...tag(0xfffe, 0xe000),
      ...UNDEFINED,
      ...tag(0xfffe, 0xe0dd),
      ...le32(0),
      ...tag(0xfffe, 0xe00d),
      ...le32(0),
      ...tag(0xfffe, 0xe0dd),
      ...le32(0)
    ]
  }
]

/** The command of each P-DATA-TF received until a non-pending one, or why none came. */
const responses = async (peer: Peer, ms: number): Promise<Array<Dimse.Message> | string> => {
  const out: Array<Dimse.Message> = []
  let command: Array<Buffer> = []
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const pdu = await peer.next(deadline - Date.now())
    if (typeof pdu === "string") return pdu
    if (pdu.type !== 0x04) return `PDU 0x${pdu.type.toString(16)}`
    for (const pdv of pdvsOf(pdu.body)) {
      if ((pdv.control & 1) === 0) continue // a data set
      command.push(pdv.data)
      if ((pdv.control & 2) === 0) continue
      const decoded = Dimse.decode(new Uint8Array(Buffer.concat(command)))
      command = []
      if (Result.isFailure(decoded)) return `undecodable command: ${decoded.failure.message}`
      out.push(decoded.success)
      const status = (decoded.success as { status?: number }).status
      if (status !== 0xff00 && status !== 0xff01) return out
    }
  }
  return "timeout"
}

const request = (kind: "find" | "get" | "move", messageId: number): Dimse.Message =>
  kind === "find"
    ? { _tag: "CFindRq", messageId, affectedSopClassUid: FIND, priority: 0 }
    : kind === "get"
      ? { _tag: "CGetRq", messageId, affectedSopClassUid: GET, priority: 0 }
      : { _tag: "CMoveRq", messageId, affectedSopClassUid: MOVE, priority: 0, moveDestination: "NETDICOM" }

describe("netdicom qrscp: identifiers broken in their structure", () => {
  it("each C-FIND, C-GET and C-MOVE is answered with a failure status, and the association goes on", async () => {
    const server = await startServer(["qrscp", "0", "--store", path.join(tmp, "store"), "--db", ":memory:"])
    const peer = await connectPeer(server.port)
    try {
      peer.send(
        encode(
          associateRq({
            calledAeTitle: "NETDICOM",
            presentationContexts: [
              { _tag: "PresentationContextRq", id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
              { _tag: "PresentationContextRq", id: 3, abstractSyntax: FIND, transferSyntaxes: [IMPLICIT] },
              { _tag: "PresentationContextRq", id: 5, abstractSyntax: GET, transferSyntaxes: [IMPLICIT] },
              { _tag: "PresentationContextRq", id: 7, abstractSyntax: MOVE, transferSyntaxes: [IMPLICIT] }
            ]
          })
        )
      )
      const ac = await peer.next(5000)
      assert.isTrue(typeof ac !== "string" && ac.type === 0x02, `A-ASSOCIATE-AC, got ${String(ac)}`)
      let messageId = 1
      const outcomes: Array<string> = []
      for (const { name, bytes } of identifiers) {
        for (const [kind, pc] of [
          ["find", 3],
          ["get", 5],
          ["move", 7]
        ] as const) {
          const started = Date.now()
          peer.send(pdata(pc, true, true, command(request(kind, messageId++))))
          // in P-DATA-TFs within the peer's Maximum Length
          for (let at = 0; at < bytes.length; at += 16_000) {
            const end = Math.min(at + 16_000, bytes.length)
            peer.send(pdata(pc, false, end === bytes.length, Uint8Array.from(bytes.slice(at, end))))
          }
          const got = await responses(peer, 5000)
          const took = Date.now() - started
          const last = typeof got === "string" ? undefined : got[got.length - 1]
          const status = (last as { status?: number } | undefined)?.status
          const failed = status !== undefined && (status === 0xa900 || (status & 0xf000) === 0xc000)
          if (typeof got === "string" || got.length !== 1 || !failed || took > 3000) {
            outcomes.push(
              `${kind}, ${name}: ${typeof got === "string" ? got : got.map((m) => m._tag + " 0x" + (m as { status?: number }).status?.toString(16)).join(", ")} in ${took} ms`
            )
          }
        }
      }
      peer.send(pdata(1, true, true, command({ _tag: "CEchoRq", messageId: 999, affectedSopClassUid: VERIFICATION })))
      const echo = await responses(peer, 5000)
      assert.deepStrictEqual(outcomes, [], "requests not answered with one failure status at once")
      assert.isTrue(
        typeof echo !== "string" && echo[0]?._tag === "CEchoRsp" && echo[0].status === 0,
        `C-ECHO after them: ${typeof echo === "string" ? echo : echo.map((m) => m._tag).join(", ")}`
      )
    } finally {
      peer.destroy()
      await server.interrupt()
    }
  }, 60_000)
})
