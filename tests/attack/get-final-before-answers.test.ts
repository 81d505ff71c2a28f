/**
 * A C-GET SCP that sends its final response ("Success, 3 completed") right behind its three C-STORE sub-operations,
 * before our answers to them (a window of 1 broken; the counts happen to be true). `netdicom get` compared the count
 * with the instances stored as the final response came, while the 2 MiB one was still being written: it said "the
 * peer counted 3 sub-operations completed, but only 2 instances were received and stored" and exited 1, then "3
 * files written", every instance on disk and answered Success. The count is now compared once the association has
 * ended (its handlers finished). A raw SCP on 127.0.0.1.
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

const ids = (uid: string): Buffer => Buffer.concat([el(0x0008, 0x0016, "UI", CT), el(0x0008, 0x0018, "UI", uid)])
const tail = Buffer.concat([el(0x0010, 0x0010, "PN", "DOE^JOHN"), el(0x0020, 0x000d, "UI", "1.2.9")])

const SENT: ReadonlyArray<readonly [string, Buffer]> = [
  ["1.2.9.1.1", Buffer.concat([ids("1.2.9.1.1"), tail])],
  // 2 MiB: streamed to its file, still being written when the final response comes
  [
    "1.2.9.1.2",
    Buffer.concat([
      ids("1.2.9.1.2"),
      tail,
      Buffer.from([0xe0, 0x7f, 0x10, 0, 0x4f, 0x42, 0, 0, 0, 0, 0x20, 0]),
      Buffer.alloc(2 << 20)
    ])
  ],
  ["1.2.9.1.3", Buffer.concat([ids("1.2.9.1.3"), tail])]
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

/**
 * A C-GET SCP that answers the first C-GET-RQ with SENT's C-STOREs on CT in Explicit VR LE and its final response
 * "Success, 3 completed" in the same go, not waiting for our C-STORE-RSPs.
 */
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
                socket.write(
                  message(getPc, {
                    _tag: "CGetRsp",
                    messageIdBeingRespondedTo: getId,
                    affectedSopClassUid: command.affectedSopClassUid ?? "",
                    status: 0,
                    numberOfCompletedSuboperations: SENT.length,
                    numberOfFailedSuboperations: 0,
                    numberOfWarningSuboperations: 0,
                    hasIdentifier: false
                  })
                )
              } else if (command.commandField === 0x8001) {
                answers.set(byMessage.get(command.messageIdBeingRespondedTo!) ?? "?", command.status!)
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

describe("netdicom get: a final response sent right behind the sub-operations, before their answers", () => {
  it("every instance written and answered Success: no claim of fewer received, exit 0", async () => {
    const scp = await hostileGetScp()
    const out = Fs.mkdtempSync(Path.join(Os.tmpdir(), "get-final-early-"))
    try {
      const { code, output } = await spawnCommand(
        ["get", "127.0.0.1", String(scp.port), "-k", "StudyInstanceUID=1.2.9", "--out", out],
        60_000
      ).done
      assert.deepStrictEqual(Fs.readdirSync(out).sort(), ["1.2.9.1.1.dcm", "1.2.9.1.2.dcm", "1.2.9.1.3.dcm"], output)
      assert.deepStrictEqual([...scp.answers.values()], [0, 0, 0], output)
      assert.notInclude(output, "the peer counted", output)
      assert.include(output, "3 files written", output)
      assert.strictEqual(code, 0, output)
    } finally {
      scp.close()
      Fs.rmSync(out, { recursive: true, force: true })
    }
  }, 90_000)
})
