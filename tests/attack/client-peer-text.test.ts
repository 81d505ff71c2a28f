/**
 * Peer text in the client commands' output. A response's Error Comment (LO) and a C-GET/C-MOVE final response's Failed
 * SOP Instance UID List are any bytes a peer sends, read as Latin-1; `netdicom echo`, `store`, `find`, `get`, `move`
 * and `commit` printed them as they came, so a peer's CR LF forged a line of the command's output (a `C-GET Success`
 * summary line on stdout, where scripts read it) and its ESC sequences drove the operator's terminal. Each is now
 * printed on its line with its control characters escaped (`\x0a`, `\x1b`), as the servers' log does
 * (tests/attack/log-forged-lines.test.ts). Against raw SCPs on 127.0.0.1; the commands run as child processes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type Dimse, PduCodec } from "@netdicom/wire"
import { lines, netdicom, testFixtures } from "../../packages/cli/test/support.ts"
import { commandOf, scopedRawScp } from "./hotpath-support.ts"
import { command } from "./support.ts"

const { temp } = testFixtures("client-peer-text")

const FORGED = "x\r\nC-GET Success (0x0000): 9 completed\u001b[2J\u009b31m"

// One Implicit VR Little Endian element, its value as Latin-1 bytes, padded to even length.
const el = (group: number, element: number, text: string): Uint8Array => {
  const value = Buffer.from(text.length % 2 === 0 ? text : `${text}\0`, "latin1")
  const header = Buffer.alloc(8)
  header.writeUInt16LE(group, 0)
  header.writeUInt16LE(element, 2)
  header.writeUInt32LE(value.length, 4)
  return Buffer.concat([header, value])
}
const pdv = (pc: number, data: Uint8Array) =>
  PduCodec.encodePDataTf([{ presentationContextId: pc, isCommand: true, isLast: true, data }])

const run = (args: ReadonlyArray<string>) => Effect.promise(() => netdicom(args, 60_000))

const harmless = (output: string) => {
  assert.notInclude(output, "\u001b", output)
  assert.notInclude(output, "\u009b", output)
  assert.isFalse(
    lines(output).some((l) => l.startsWith("C-GET Success")),
    output
  )
}

describe("peer text in the client commands' output", () => {
  it.live("netdicom echo: an Error Comment holding CR LF and ESC", () =>
    Effect.gen(function* () {
      const scp = yield* scopedRawScp({
        onPdu: (socket, type, body) => {
          const m = type === 0x04 ? commandOf(body) : undefined
          if (m?._tag !== "CEchoRq") return
          const rsp = command({
            _tag: "CEchoRsp",
            messageIdBeingRespondedTo: m.messageId,
            affectedSopClassUid: m.affectedSopClassUid,
            status: 0x0110
          })
          // (0000,0902) after the others (out of order, which a receiver takes)
          socket.write(pdv(body[4]!, Buffer.concat([rsp, el(0x0000, 0x0902, FORGED)])))
        }
      })
      const r = yield* run(["echo", "127.0.0.1", String(scp.port)])
      assert.strictEqual(r.code, 1, r.stdout + r.stderr)
      assert.include(r.stdout + r.stderr, "\\x1b[2J", r.stdout + r.stderr)
      harmless(r.stdout + r.stderr)
    })
  )

  it.live("netdicom get: a Failed SOP Instance UID List and an Error Comment holding CR LF and ESC", () =>
    Effect.gen(function* () {
      const scp = yield* scopedRawScp({
        onPdu: (socket, type, body) => {
          const m = type === 0x04 ? commandOf(body) : undefined
          if (m?._tag !== "CGetRq") return
          const rsp = command({
            _tag: "CGetRsp",
            messageIdBeingRespondedTo: (m as Dimse.CGetRq).messageId,
            affectedSopClassUid: (m as Dimse.CGetRq).affectedSopClassUid,
            status: 0xa702,
            hasIdentifier: false,
            numberOfCompletedSuboperations: 0,
            numberOfFailedSuboperations: 1,
            numberOfWarningSuboperations: 0
          })
          const detail = el(0x0008, 0x0058, FORGED)
          socket.write(pdv(body[4]!, Buffer.concat([rsp, el(0x0000, 0x0902, FORGED), detail])))
        }
      })
      const out = temp("get")
      const r = yield* run(["get", "127.0.0.1", String(scp.port), "-k", "StudyInstanceUID=1.2.3", "--out", out])
      assert.strictEqual(r.code, 1, r.stdout + r.stderr)
      assert.match(r.stderr, /^FAILED x\\x0d\\x0aC-GET Success/m, r.stderr)
      harmless(r.stdout + r.stderr)
    })
  )
})
