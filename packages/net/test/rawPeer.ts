/** A scripted peer for tests: a raw TCP client on 127.0.0.1 that sends bytes and reads whole PDUs. */
import * as Net from "node:net"
import { Effect, Result } from "effect"
import { CommandSet, Dimse, PduCodec, PduParser, type Pdu } from "@netdicom/wire"

/** A C-ECHO-RQ (message id 1) in one P-DATA-TF on presentation context 1, for a raw peer to send. */
export const echoRqPdu = PduCodec.encodePDataTf([
  {
    presentationContextId: 1,
    isCommand: true,
    isLast: true,
    data: Result.getOrThrow(Dimse.encode({ _tag: "CEchoRq", messageId: 1, affectedSopClassUid: "1.2.840.10008.1.1" }))
  }
])

export interface RawPeer {
  readonly send: (bytes: Uint8Array) => void
  readonly sendPdu: (pdu: Pdu.Pdu) => void
  /** The next PDU, or "closed" when the connection ends first; rejects after `ms`. */
  readonly next: (ms?: number) => Promise<Pdu.Pdu | "closed">
  readonly closed: Promise<void>
  readonly end: () => void
  readonly destroy: () => void
}

export const rawPeer = (port: number): Promise<RawPeer> =>
  new Promise((resolve, reject) => {
    const socket = Net.createConnection({ host: "127.0.0.1", port, noDelay: true })
    const parser = PduParser.make({ maxPduLength: 0 })
    const queue: Array<Pdu.Pdu | "closed"> = []
    const waiters: Array<(p: Pdu.Pdu | "closed") => void> = []
    const push = (p: Pdu.Pdu | "closed") => {
      const w = waiters.shift()
      if (w) w(p)
      else queue.push(p)
    }
    let closedResolve: () => void = () => {}
    const closed = new Promise<void>((r) => (closedResolve = r))
    socket.on("data", (chunk) => {
      const { pdus } = parser.push(new Uint8Array(chunk))
      for (const p of pdus) push(p)
    })
    socket.on("close", () => {
      push("closed")
      closedResolve()
    })
    socket.on("error", () => {})
    socket.once("connect", () =>
      resolve({
        send: (bytes) => void socket.write(bytes),
        sendPdu: (pdu) => void socket.write(Result.getOrThrow(PduCodec.encodePdu(pdu))),
        next: (ms = 5000) =>
          new Promise((res, rej) => {
            const q = queue.shift()
            if (q !== undefined) return res(q)
            const timer = setTimeout(() => rej(new Error(`no PDU within ${ms} ms`)), ms)
            waiters.push((p) => {
              clearTimeout(timer)
              res(p)
            })
          }),
        closed,
        end: () => void socket.end(),
        destroy: () => void socket.destroy()
      })
    )
    socket.once("error", reject)
  })

/** An A-ASSOCIATE-RQ proposing Verification, with overridable fields. */
export const associateRq = (overrides: Partial<Pdu.AAssociateRq> = {}): Pdu.AAssociateRq => ({
  _tag: "AAssociateRq",
  protocolVersion: 1,
  calledAeTitle: "NETDICOM-SCP",
  callingAeTitle: "SCRIPTED",
  applicationContextName: "1.2.840.10008.3.1.1.1",
  presentationContexts: [
    {
      _tag: "PresentationContextRq",
      id: 1,
      abstractSyntax: "1.2.840.10008.1.1",
      transferSyntaxes: ["1.2.840.10008.1.2"]
    }
  ],
  userInformation: [
    { _tag: "MaximumLength", maximumLength: 16384 },
    { _tag: "ImplementationClassUid", uid: "1.2.3.4" }
  ],
  unknownItems: [],
  ...overrides
})

/** The A-ASSOCIATE-AC accepting every context of `rq` in its first transfer syntax, with overridable fields. */
export const associateAc = (rq: Pdu.AAssociateRq, overrides: Partial<Pdu.AAssociateAc> = {}): Pdu.AAssociateAc => ({
  _tag: "AAssociateAc",
  protocolVersion: 1,
  calledAeTitle: rq.calledAeTitle,
  callingAeTitle: rq.callingAeTitle,
  applicationContextName: rq.applicationContextName,
  presentationContexts: rq.presentationContexts.map((pc) => ({
    _tag: "PresentationContextAc" as const,
    id: pc.id,
    result: 0 as const,
    transferSyntax: pc.transferSyntaxes[0]!
  })),
  userInformation: [{ _tag: "MaximumLength", maximumLength: 16384 }],
  unknownItems: [],
  ...overrides
})

// A scripted SCP: accepts every context (and the SCP role the requestor proposes), answers A-RELEASE-RQ, and hands
// each command it receives, with the context it came on, to `onCommand`; it keeps every one.
export const scriptedScp = (onCommand: (socket: Net.Socket, pc: number, command: CommandSet.CommandSet) => void) =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<{
          readonly server: Net.Server
          readonly port: number
          readonly seen: Array<CommandSet.CommandSet>
        }>((resolve) => {
          const seen: Array<CommandSet.CommandSet> = []
          const server = Net.createServer((socket) => {
            socket.on("error", () => {})
            const parser = PduParser.make({ maxPduLength: 0 })
            socket.on("data", (chunk) => {
              for (const pdu of parser.push(new Uint8Array(chunk)).pdus) {
                if (pdu._tag === "AAssociateRq") {
                  const roles = pdu.userInformation.filter((i) => i._tag === "ScpScuRoleSelection")
                  const ac = associateAc(pdu, {
                    userInformation: [{ _tag: "MaximumLength", maximumLength: 16384 }, ...roles]
                  })
                  socket.write(Result.getOrThrow(PduCodec.encodePdu(ac)))
                } else if (pdu._tag === "AReleaseRq") {
                  socket.write(Result.getOrThrow(PduCodec.encodePdu({ _tag: "AReleaseRp" })))
                } else if (pdu._tag === "PDataTf") {
                  for (const pdv of pdu.pdvs) {
                    if (!pdv.isCommand) continue
                    const command = Result.getOrThrow(CommandSet.decode(pdv.data))
                    seen.push(command)
                    onCommand(socket, pdv.presentationContextId, command)
                  }
                }
              }
            })
          })
          server.listen(0, "127.0.0.1", () =>
            resolve({ server, port: (server.address() as Net.AddressInfo).port, seen })
          )
        })
    ),
    ({ server }) => Effect.sync(() => server.close())
  )
