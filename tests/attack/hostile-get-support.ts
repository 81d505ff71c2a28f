/**
 * A raw C-GET SCP on 127.0.0.1 for the attack tests of `netdicom get`: it accepts CT in Explicit VR Little Endian,
 * answers the first C-GET-RQ with the C-STOREs it is given, their data sets in PDVs of at most 16000 bytes, and sends
 * its final response either right behind them (not waiting for their answers: a window of one broken) or once every
 * C-STORE was answered, counting the failures.
 */
import * as Net from "node:net"
import { Result } from "effect"
import { CommandSet, Dimse, type Pdu, PduCodec, PduParser } from "@netdicom/wire"
import { CT, EXPLICIT } from "./support.ts"

/** One element in Little Endian, Explicit VR or (with `explicit` false) Implicit VR, padded to an even length. */
export const el = (group: number, element: number, vr: string, value: Uint8Array | string, explicit = true): Buffer => {
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

const pdv = (pc: number, isCommand: boolean, data: Uint8Array) =>
  PduCodec.encodePDataTf([{ presentationContextId: pc, isCommand, isLast: true, data }])

/** A data set in PDVs of at most 16000 bytes (the SCU takes PDUs of 16 KiB). */
const dataSetPdus = (pc: number, data: Uint8Array): Array<Uint8Array> => {
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

export interface HostileGetScp {
  readonly port: number
  /** Each C-STORE's answer by SOP Instance UID. */
  readonly answers: Map<string, number>
  readonly close: () => void
}

/**
 * The SCP, sending `sent` (SOP Instance UID, data set) as C-STOREs on CT. `final`: "withStores" sends "Success, all
 * completed" right behind them; "afterAnswers" sends the final response once each was answered, its status and
 * counts from the answers.
 */
export const hostileGetScp = (
  sent: ReadonlyArray<readonly [string, Uint8Array]>,
  final: "withStores" | "afterAnswers"
): Promise<HostileGetScp> =>
  new Promise((resolve) => {
    const answers = new Map<string, number>()
    const server = Net.createServer((socket) => {
      socket.on("error", () => {})
      const parser = PduParser.make({ maxPduLength: 0 })
      let ctPc = 0
      let getPc = 0
      let getId = 0
      const byMessage = new Map<number, string>()
      const finalResponse = (sopClass: string, failed: number) =>
        message(getPc, {
          _tag: "CGetRsp",
          messageIdBeingRespondedTo: getId,
          affectedSopClassUid: sopClass,
          status: failed === 0 ? 0 : 0xb000,
          numberOfCompletedSuboperations: sent.length - failed,
          numberOfFailedSuboperations: failed,
          numberOfWarningSuboperations: 0,
          hasIdentifier: false
        })
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
                sent.forEach(([uid, data], i) => {
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
                  for (const p of dataSetPdus(ctPc, data)) socket.write(p)
                })
                if (final === "withStores") socket.write(finalResponse(command.affectedSopClassUid ?? "", 0))
              } else if (command.commandField === 0x8001) {
                answers.set(byMessage.get(command.messageIdBeingRespondedTo!) ?? "?", command.status!)
                if (final === "afterAnswers" && answers.size === sent.length) {
                  const failed = [...answers.values()].filter((s) => s !== 0).length
                  socket.write(finalResponse(command.affectedSopClassUid ?? "", failed))
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
