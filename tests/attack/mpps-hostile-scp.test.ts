/**
 * `netdicom mpps create` against an MPPS SCP that answers N-CREATE-RSP Success naming an Affected SOP Instance UID of
 * its own making. The command printed whatever the peer put there on stdout as the step's UID (`uid=$(netdicom mpps
 * create ...)` in a script, then `mpps set --uid "$uid"`): terminal escapes and path-like text included, and a UID
 * other than the one it asked for (PS3.7 10.1.5.1.5: the response's is the request's when the request names one).
 * It now prints only a UID, and the one it sent when it named one; anything else fails the command (exit 1), said
 * on stderr with the text made printable.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import type * as Net from "node:net"
import { Effect } from "effect"
import { Mpps } from "@netdicom/net"
import { lines, netdicom } from "../../packages/cli/test/support.ts"
import { stopAll } from "../support/peers.ts"
import { commandOf, scopedRawScp } from "./hotpath-support.ts"

afterAll(() => stopAll())

// An Implicit VR Little Endian command element, its value padded to even length with `pad`.
const element = (tag: number, value: Buffer): Buffer => {
  const h = Buffer.alloc(8)
  h.writeUInt16LE(0, 0)
  h.writeUInt16LE(tag, 2)
  h.writeUInt32LE(value.length, 4)
  return Buffer.concat([h, value])
}
const us = (n: number) => {
  const b = Buffer.alloc(2)
  b.writeUInt16LE(n)
  return b
}
const ui = (text: string) => Buffer.from(text.length % 2 === 1 ? `${text}\0` : text, "latin1")

// An N-CREATE-RSP Success with `affected` as its Affected SOP Instance UID, written byte by byte (our encoder would
// not write such a UID).
const nCreateRsp = (pc: number, messageId: number, affected: string): Buffer => {
  const elements = Buffer.concat([
    element(0x0002, ui(Mpps.SOP_CLASS)),
    element(0x0100, us(0x8140)),
    element(0x0120, us(messageId)),
    element(0x0800, us(0x0101)),
    element(0x0900, us(0x0000)),
    element(0x1000, ui(affected))
  ])
  const groupLength = Buffer.alloc(4)
  groupLength.writeUInt32LE(elements.length)
  const command = Buffer.concat([element(0x0000, groupLength), elements])
  const pdv = Buffer.alloc(6)
  pdv.writeUInt32BE(command.length + 2, 0)
  pdv[4] = pc
  pdv[5] = 0x03
  const header = Buffer.alloc(6)
  header[0] = 0x04
  header.writeUInt32BE(pdv.length + command.length, 2)
  return Buffer.concat([header, pdv, command])
}

// A raw SCP answering each N-CREATE-RQ, once its data set is in, with `affected`.
const lyingScp = (affected: string) => {
  let pending: { pc: number; messageId: number } | undefined
  return scopedRawScp({
    onPdu: (socket: Net.Socket, type, body) => {
      if (type !== 0x04) return
      const m = commandOf(body)
      if (m?._tag === "NCreateRq") pending = { pc: body[4]!, messageId: m.messageId }
      else if ((body[5]! & 3) === 2 && pending !== undefined) {
        socket.write(nCreateRsp(pending.pc, pending.messageId, affected))
        pending = undefined
      }
    }
  })
}

const create = (port: number, extra: ReadonlyArray<string> = []) =>
  Effect.promise(() => netdicom(["mpps", "create", "127.0.0.1", String(port), "--aec", "ANY", ...extra], 60_000))

describe("netdicom mpps create facing an SCP that names the step as it likes", () => {
  it.live("a Success naming no UID (escapes, a path) fails the command; nothing of it goes to stdout raw", () =>
    Effect.gen(function* () {
      for (const affected of ["\u001b]0;pwned\u0007\u001b[2J1.2.3", "../../x", "1.2.3/../4"]) {
        const scp = yield* lyingScp(affected)
        const r = yield* create(scp.port)
        assert.strictEqual(r.code, 1, `${JSON.stringify(affected)}: ${r.stdout} ${r.stderr}`)
        assert.strictEqual(r.stdout, "")
        assert.notInclude(r.stderr, "\u001b")
        assert.match(r.stderr, /no UID/)
      }
    }).pipe(Effect.scoped)
  )

  it.live("a Success naming another UID than the one asked for fails the command, naming both", () =>
    Effect.gen(function* () {
      const scp = yield* lyingScp("1.2.3.999")
      const r = yield* create(scp.port, ["--uid", "1.2.3.4"])
      assert.strictEqual(r.code, 1, r.stderr)
      assert.strictEqual(r.stdout, "")
      assert.match(r.stderr, /1\.2\.3\.999/)
      assert.match(r.stderr, /1\.2\.3\.4/)
      // the one it makes itself is honoured when the request named none
      const free = yield* lyingScp("1.2.3.1000")
      const made = yield* create(free.port)
      assert.strictEqual(made.code, 0, made.stderr)
      assert.deepStrictEqual(lines(made.stdout), ["1.2.3.1000"])
    }).pipe(Effect.scoped)
  )
})
