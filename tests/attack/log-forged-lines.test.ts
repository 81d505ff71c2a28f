/**
 * Peer text in the servers' log lines. A command set's UIDs are any Latin-1 text up to 64 characters on receipt, and
 * several warnings quote them (a request refused for a SOP class not its context's, a C-STORE refused...): a C-ECHO-RQ
 * whose Affected SOP Class UID held CR LF and a timestamp wrote a forged line, at the default level, into
 * `netdicom storescp`'s log, and one holding ESC sequences reached the operator's terminal. Each log record is now
 * one line: a line break inside a record is followed by an indent, and other control characters are escaped.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { startServer } from "../../packages/cli/test/support.ts"
import { associated, describe as show, encode, pdata } from "./support.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-log-lines-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const FORGED = "1.2\r\n00:00:00.000 INFO FORGED\u001b[2J"

// A C-ECHO-RQ command set written by hand (our encoder refuses such a UID): group length, Affected SOP Class UID,
// Command Field 0x0030, Message ID 1, Command Data Set Type 0x0101 (none).
const echoRq = (sopClassUid: string): Uint8Array => {
  const element = (tag: number, value: Buffer) => {
    const header = Buffer.alloc(8)
    header.writeUInt16LE(tag >>> 16, 0)
    header.writeUInt16LE(tag & 0xffff, 2)
    header.writeUInt32LE(value.length, 4)
    return Buffer.concat([header, value])
  }
  const us = (n: number) => Buffer.from([n & 0xff, n >> 8])
  const uid = Buffer.from(sopClassUid.length % 2 === 0 ? sopClassUid : `${sopClassUid}\0`, "latin1")
  const rest = Buffer.concat([
    element(0x00000002, uid),
    element(0x00000100, us(0x0030)),
    element(0x00000110, us(1)),
    element(0x00000800, us(0x0101))
  ])
  const length = Buffer.alloc(4)
  length.writeUInt32LE(rest.length)
  return Buffer.concat([element(0x00000000, length), rest])
}

describe("peer text in a server's log", () => {
  it("a C-ECHO-RQ whose SOP Class UID holds CR LF and ESC: refused, and no forged line, no ESC in the log", async () => {
    const server = await startServer(["storescp", "0", "--out", tmp])
    try {
      const peer = await associated(server.port)
      peer.send(pdata(1, true, true, echoRq(FORGED)))
      const rsp = await peer.next(5000)
      assert.strictEqual(show(rsp), "PDU 0x04", server.output())
      peer.send(encode({ _tag: "AReleaseRq" }))
      await peer.next(2000)
      peer.destroy()
    } finally {
      await server.interrupt()
    }
    const log = server.output()
    assert.include(log, "refused", log)
    assert.notMatch(log, /^00:00:00\.000 INFO FORGED/m, log)
    assert.notInclude(log, "\u001b", log)
    assert.notInclude(log, "\r", log)
  }, 30_000)
})
