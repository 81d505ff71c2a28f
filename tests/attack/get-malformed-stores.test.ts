/**
 * A hostile C-GET SCP whose C-STORE sub-operations carry data sets broken in their structure: cut short (an element
 * longer than what follows), in Implicit VR on a context accepted as Explicit VR (lying about its syntax), a
 * sequence of undefined length never closed. `netdicom get` wrote each as given, answered it Success and counted it
 * received, where `storescp` and `qrscp` refuse such a data set 0xC000 (their walk of its element headers). Now the
 * command walks what it writes the same way: each is answered a failure, its file removed, and the command fails
 * naming them; a well-formed one beside them is kept. A raw SCP on 127.0.0.1.
 */
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { CommandSet, Dimse, type Pdu, PduCodec, PduParser } from "@netdicom/wire"
import { spawnCommand } from "../../packages/cli/test/support.ts"
import { CT, EXPLICIT } from "./support.ts"

const el = (group: number, element: number, vr: string, value: Uint8Array | string, explicit = true): Buffer => {
  let bytes = typeof value === "string" ? Buffer.from(value, "latin1") : Buffer.from(value)
  if (bytes.length % 2 === 1) bytes = Buffer.concat([bytes, Buffer.from(vr === "UI" ? [0] : [0x20])])
  const head = Buffer.alloc(8)
  head.writeUInt16LE(group, 0)
  head.writeUInt16LE(element, 2)
  if (explicit) {
    head.write(vr, 4, "latin1")
    head.writeUInt16LE(bytes.length, 6)
  } else head.writeUInt32LE(bytes.length, 4)
  return Buffer.concat([head, bytes])
}

const ids = (uid: string, explicit = true): Buffer =>
  Buffer.concat([el(0x0008, 0x0016, "UI", CT, explicit), el(0x0008, 0x0018, "UI", uid, explicit)])

const tail = (explicit = true): Buffer =>
  Buffer.concat([
    el(0x0010, 0x0010, "PN", "DOE^JOHN", explicit),
    el(0x0020, 0x000d, "UI", "1.2.9", explicit),
    el(0x0020, 0x000e, "UI", "1.2.9.1", explicit)
  ])

// (0010,0010) PN announcing 256 bytes where 4 follow
const cutShort = Buffer.concat([
  ids("1.2.9.1.1"),
  Buffer.from([0x10, 0, 0x10, 0, 0x50, 0x4e, 0, 1]),
  Buffer.from("DOE^")
])
// the same elements in Implicit VR Little Endian, on the Explicit VR context
const implicitOnExplicit = Buffer.concat([ids("1.2.9.1.2", false), tail(false)])
// (0040,0275) SQ of undefined length, one item of undefined length, neither delimited
const unclosed = Buffer.concat([
  ids("1.2.9.1.3"),
  tail(),
  Buffer.from([0x40, 0, 0x75, 0x02, 0x53, 0x51, 0, 0, 0xff, 0xff, 0xff, 0xff]),
  Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff]),
  el(0x0040, 0x0009, "SH", "SPS1")
])
const good = Buffer.concat([ids("1.2.9.1.4"), tail()])
// 2 MiB, so not given whole to the handler but streamed to its file: (7FE0,0010) OB announcing 3 MiB
const bigCutShort = Buffer.concat([
  ids("1.2.9.1.5"),
  tail(),
  Buffer.from([0xe0, 0x7f, 0x10, 0, 0x4f, 0x42, 0, 0, 0, 0, 0x30, 0]),
  Buffer.alloc(2 << 20)
])
// the same, whole
const bigGood = Buffer.concat([
  ids("1.2.9.1.6"),
  tail(),
  Buffer.from([0xe0, 0x7f, 0x10, 0, 0x4f, 0x42, 0, 0, 0, 0, 0x20, 0]),
  Buffer.alloc(2 << 20)
])

const SENT: ReadonlyArray<readonly [string, Buffer]> = [
  ["1.2.9.1.1", cutShort],
  ["1.2.9.1.2", implicitOnExplicit],
  ["1.2.9.1.3", unclosed],
  ["1.2.9.1.4", good],
  ["1.2.9.1.5", bigCutShort],
  ["1.2.9.1.6", bigGood]
]

const pdv = (pc: number, isCommand: boolean, data: Uint8Array) =>
  PduCodec.encodePDataTf([{ presentationContextId: pc, isCommand, isLast: true, data }])
/** A data set in PDVs of at most 16000 bytes (the SCU takes PDUs of 16 KiB). */
const pdvs = (pc: number, data: Uint8Array): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let at = 0; at < data.length; at += 16000) {
    const end = Math.min(at + 16000, data.length)
    out.push(
      PduCodec.encodePDataTf([
        { presentationContextId: pc, isCommand: false, isLast: end === data.length, data: data.subarray(at, end) }
      ])
    )
  }
  return out
}
const message = (pc: number, m: Dimse.Message) => pdv(pc, true, Result.getOrThrow(Dimse.encode(m)))

/** A C-GET SCP that answers the first C-GET-RQ with SENT's C-STOREs on CT in Explicit VR LE, then its final response. */
const hostileGetScp = (): Promise<{ port: number; answers: Map<string, number>; close: () => void }> =>
  new Promise((resolve) => {
    const answers = new Map<string, number>()
    const server = Net.createServer((socket) => {
      socket.on("error", () => {})
      const parser = PduParser.make({ maxPduLength: 0 })
      let ctPc = 0
      let getPc = 0
      let getId = 0
      const byMessage = new Map<number, string>()
      socket.on("data", (chunk) => {
        for (const pdu of parser.push(new Uint8Array(chunk)).pdus) {
          if (pdu._tag === "AAssociateRq") {
            const contexts = pdu.presentationContexts.map((pc) => {
              const ts = pc.abstractSyntax === CT && pc.transferSyntaxes.includes(EXPLICIT) ? EXPLICIT : undefined
              if (ts !== undefined && ctPc === 0) ctPc = pc.id
              return {
                _tag: "PresentationContextAc" as const,
                id: pc.id,
                result: 0 as const,
                transferSyntax: ts ?? pc.transferSyntaxes[0]!
              }
            })
            const roles = pdu.userInformation.filter((i) => i._tag === "ScpScuRoleSelection")
            const ac: Pdu.Pdu = {
              _tag: "AAssociateAc",
              protocolVersion: 1,
              calledAeTitle: pdu.calledAeTitle,
              callingAeTitle: pdu.callingAeTitle,
              applicationContextName: pdu.applicationContextName,
              presentationContexts: contexts,
              userInformation: [{ _tag: "MaximumLength", maximumLength: 16384 }, ...roles],
              unknownItems: []
            }
            socket.write(Result.getOrThrow(PduCodec.encodePdu(ac)))
          } else if (pdu._tag === "AReleaseRq") {
            socket.write(Result.getOrThrow(PduCodec.encodePdu({ _tag: "AReleaseRp" })))
          } else if (pdu._tag === "PDataTf") {
            for (const p of pdu.pdvs) {
              if (!p.isCommand) continue
              const command = Result.getOrThrow(CommandSet.decode(p.data))
              if (command.commandField === 0x0010 && getId === 0) {
                getId = command.messageId!
                getPc = p.presentationContextId
                SENT.forEach(([uid, data], i) => {
                  byMessage.set(300 + i, uid)
                  socket.write(
                    message(ctPc, {
                      _tag: "CStoreRq",
                      messageId: 300 + i,
                      affectedSopClassUid: CT,
                      affectedSopInstanceUid: uid,
                      priority: 0
                    })
                  )
                  for (const p of pdvs(ctPc, data)) socket.write(p)
                })
              } else if (command.commandField === 0x8001) {
                answers.set(byMessage.get(command.messageIdBeingRespondedTo!) ?? "?", command.status!)
                if (answers.size === SENT.length) {
                  const failed = [...answers.values()].filter((s) => s !== 0).length
                  socket.write(
                    message(getPc, {
                      _tag: "CGetRsp",
                      messageIdBeingRespondedTo: getId,
                      affectedSopClassUid: command.affectedSopClassUid ?? "",
                      status: failed === 0 ? 0 : 0xb000,
                      numberOfCompletedSuboperations: SENT.length - failed,
                      numberOfFailedSuboperations: failed,
                      numberOfWarningSuboperations: 0,
                      hasIdentifier: false
                    })
                  )
                }
              }
            }
          }
        }
      })
    })
    server.listen(0, "127.0.0.1", () =>
      resolve({ port: (server.address() as Net.AddressInfo).port, answers, close: () => server.close() })
    )
  })

describe("netdicom get: C-STOREs whose data set is broken in its structure", () => {
  it("each answered a failure, no file kept for it, the well-formed one kept, the command fails", async () => {
    const scp = await hostileGetScp()
    const out = Fs.mkdtempSync(Path.join(Os.tmpdir(), "get-malformed-"))
    try {
      const { code, output } = await spawnCommand(
        ["get", "127.0.0.1", String(scp.port), "-k", "StudyInstanceUID=1.2.9", "--out", out],
        60_000
      ).done
      const files = Fs.readdirSync(out).sort()
      assert.deepStrictEqual(files, ["1.2.9.1.4.dcm", "1.2.9.1.6.dcm"], output)
      assert.strictEqual(scp.answers.get("1.2.9.1.4"), 0, output)
      assert.strictEqual(scp.answers.get("1.2.9.1.6"), 0, output)
      for (const uid of ["1.2.9.1.1", "1.2.9.1.2", "1.2.9.1.3", "1.2.9.1.5"]) {
        const status = scp.answers.get(uid)
        assert.isTrue(status !== undefined && (status & 0xf000) === 0xc000, `${uid} answered ${status}: ${output}`)
      }
      assert.notStrictEqual(code, 0, output)
    } finally {
      scp.close()
      Fs.rmSync(out, { recursive: true, force: true })
    }
  }, 90_000)
})
