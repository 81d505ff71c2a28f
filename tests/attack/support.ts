/**
 * Shared helpers for the attack tests: an SCP on 127.0.0.1 (port 0) and a hostile raw TCP peer.
 *
 * The peer's PDU reader is written here by hand (type + 4-byte big-endian length) so that reading the
 * server's answers does not depend on the codec under attack. Every wait is bounded.
 */
import * as Net from "node:net"
import { type Duration, Effect, Layer, Result, Stream } from "effect"
import { ApplicationEntity, Scp } from "@netdicom/net"
import { Dimse, PduCodec, Status, type Pdu } from "@netdicom/wire"

export const VERIFICATION = "1.2.840.10008.1.1"
export const CT = "1.2.840.10008.5.1.4.1.1.2"
export const STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
export const IMPLICIT = "1.2.840.10008.1.2"
export const EXPLICIT = "1.2.840.10008.1.2.1"
export const DEFLATED = "1.2.840.10008.1.2.1.99"

/** A raw PDU as the peer saw it: type, and the body after the 6-byte header. */
export interface RawPdu {
  readonly type: number
  readonly body: Buffer
}

export interface Peer {
  readonly socket: Net.Socket
  readonly send: (bytes: Uint8Array) => boolean
  /** The next whole PDU, "closed" when the connection ends first, "timeout" after `ms`. */
  readonly next: (ms?: number) => Promise<RawPdu | "closed" | "timeout">
  /** Waits for the connection to close, or "timeout". */
  readonly closed: (ms?: number) => Promise<"closed" | "timeout">
  readonly destroy: () => void
}

export const connectPeer = (port: number): Promise<Peer> =>
  new Promise((resolve, reject) => {
    const socket = Net.createConnection({ host: "127.0.0.1", port, noDelay: true })
    const peer = peerOn(socket)
    socket.once("error", reject)
    socket.once("connect", () => resolve(peer))
  })

/** A `Peer` reading and writing `socket` (one connected, or one a raw server accepted). */
export const peerOn = (socket: Net.Socket): Peer => {
  let buffered: Buffer = Buffer.alloc(0)
  let isClosed = false
  const pdus: Array<RawPdu> = []
  let wake: (() => void) | undefined
  socket.on("data", (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
    while (buffered.length >= 6) {
      const length = buffered.readUInt32BE(2)
      if (buffered.length < 6 + length) break
      pdus.push({ type: buffered[0]!, body: Buffer.from(buffered.subarray(6, 6 + length)) })
      buffered = buffered.subarray(6 + length)
    }
    wake?.()
  })
  socket.on("close", () => {
    isClosed = true
    wake?.()
  })
  socket.on("error", () => {})
  const wait = (ms: number) =>
    new Promise<void>((r) => {
      const t = setTimeout(() => {
        wake = undefined
        r()
      }, ms)
      wake = () => {
        clearTimeout(t)
        wake = undefined
        r()
      }
    })
  return {
    socket,
    send: (bytes) => (socket.destroyed ? false : socket.write(bytes)),
    next: async (ms = 5000) => {
      const deadline = Date.now() + ms
      while (true) {
        const p = pdus.shift()
        if (p) return p
        if (isClosed) return "closed"
        const left = deadline - Date.now()
        if (left <= 0) return "timeout"
        await wait(left)
      }
    },
    closed: async (ms = 5000) => {
      const deadline = Date.now() + ms
      while (!isClosed) {
        const left = deadline - Date.now()
        if (left <= 0) return "timeout"
        await wait(left)
      }
      return "closed"
    },
    destroy: () => socket.destroy()
  }
}

export const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

export const encode = (pdu: Pdu.Pdu): Uint8Array => Result.getOrThrow(PduCodec.encodePdu(pdu))

export const command = (m: Dimse.Message): Uint8Array => Result.getOrThrow(Dimse.encode(m))

/** One P-DATA-TF with one PDV. */
export const pdata = (pcId: number, isCommand: boolean, isLast: boolean, data: Uint8Array): Uint8Array =>
  PduCodec.encodePDataTf([{ presentationContextId: pcId, isCommand, isLast, data }])

/** A P-DATA-TF holding a whole C-STORE-RQ command (message 1, CT, SOP Instance "1.2.3") on context 3. */
export const storeRqPdata = (): Uint8Array =>
  pdata(
    3,
    true,
    true,
    command({ _tag: "CStoreRq", messageId: 1, affectedSopClassUid: CT, affectedSopInstanceUid: "1.2.3", priority: 0 })
  )

/** Presentation contexts the attack RQ proposes: 1 Verification, 3 CT (explicit), 5 Study FIND (implicit), 7 FIND deflated. */
export const associateRq = (overrides: Partial<Pdu.AAssociateRq> = {}): Pdu.AAssociateRq => ({
  _tag: "AAssociateRq",
  protocolVersion: 1,
  calledAeTitle: "NETDICOM-SCP",
  callingAeTitle: "ATTACKER",
  applicationContextName: "1.2.840.10008.3.1.1.1",
  presentationContexts: [
    { _tag: "PresentationContextRq", id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
    { _tag: "PresentationContextRq", id: 3, abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
    { _tag: "PresentationContextRq", id: 5, abstractSyntax: STUDY_FIND, transferSyntaxes: [IMPLICIT] },
    { _tag: "PresentationContextRq", id: 7, abstractSyntax: STUDY_FIND, transferSyntaxes: [DEFLATED] }
  ],
  userInformation: [
    { _tag: "MaximumLength", maximumLength: 16384 },
    { _tag: "ImplementationClassUid", uid: "1.2.3.4" }
  ],
  unknownItems: [],
  ...overrides
})

export interface ScpOptions {
  readonly timeouts?: { readonly [K in keyof ApplicationEntity.Timeouts]?: Duration.Input }
  readonly maxAssociations?: number
  readonly maxPendingConnections?: number
  readonly maxPendingBytes?: number
  readonly maxPduLength?: number
  readonly storage?: Scp.StorageService["Service"]
  readonly query?: Scp.QueryService["Service"]
  /** The acceptor policy (default: our own AE title only); `{}` answers any called AE title, as the CLI servers do. */
  readonly policy?: Scp.ScpOptions["policy"]
}

/** Starts an SCP on 127.0.0.1, port 0, in the test's scope. */
export const startScp = (options: ScpOptions = {}) =>
  Effect.gen(function* () {
    const ae = Result.getOrThrow(
      ApplicationEntity.make({
        aeTitle: "NETDICOM-SCP",
        contexts: [
          { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT, EXPLICIT] },
          { abstractSyntax: CT, transferSyntaxes: [EXPLICIT, IMPLICIT] },
          { abstractSyntax: STUDY_FIND, transferSyntaxes: [IMPLICIT, EXPLICIT, DEFLATED] }
        ],
        ...(options.maxPduLength !== undefined ? { maxPduLength: options.maxPduLength } : {}),
        timeouts: {
          acse: "2 seconds",
          connect: "2 seconds",
          dimse: "3 seconds",
          write: "3 seconds",
          ...options.timeouts
        }
      })
    )
    const storage = Layer.succeed(Scp.StorageService)(
      options.storage ?? {
        store: (request) => Effect.as(Stream.runDrain(request.dataSet).pipe(Effect.ignore), { status: Status.SUCCESS })
      }
    )
    const query = Layer.succeed(Scp.QueryService)(options.query ?? { find: () => Stream.empty })
    return yield* Scp.serve(ae, {
      port: 0,
      ...(options.maxAssociations !== undefined ? { maxAssociations: options.maxAssociations } : {}),
      ...(options.maxPendingConnections !== undefined ? { maxPendingConnections: options.maxPendingConnections } : {}),
      ...(options.maxPendingBytes !== undefined ? { maxPendingBytes: options.maxPendingBytes } : {}),
      ...(options.policy !== undefined ? { policy: options.policy } : {})
    }).pipe(Effect.provide(Layer.merge(storage, query)))
  })

/** Connects and negotiates; fails the test if no A-ASSOCIATE-AC comes. */
export const associated = async (port: number, rq: Pdu.AAssociateRq = associateRq()): Promise<Peer> => {
  const peer = await connectPeer(port)
  peer.send(encode(rq))
  const ac = await peer.next(3000)
  if (ac === "closed" || ac === "timeout" || ac.type !== 0x02) {
    peer.destroy()
    throw new Error(`no A-ASSOCIATE-AC: ${typeof ac === "string" ? ac : `PDU 0x${ac.type.toString(16)}`}`)
  }
  return peer
}

/** The PDVs of a raw P-DATA-TF body. */
export const pdvsOf = (body: Buffer): Array<{ pc: number; control: number; data: Buffer }> => {
  const out: Array<{ pc: number; control: number; data: Buffer }> = []
  let at = 0
  while (at + 6 <= body.length) {
    const len = body.readUInt32BE(at)
    out.push({ pc: body[at + 4]!, control: body[at + 5]!, data: body.subarray(at + 6, at + 4 + len) })
    at += 4 + len
  }
  return out
}

/** A fresh association sends C-ECHO and gets a Success C-ECHO-RSP: the server still serves. */
export const echoStillWorks = async (port: number): Promise<boolean> => {
  const peer = await associated(port)
  try {
    peer.send(pdata(1, true, true, command({ _tag: "CEchoRq", messageId: 77, affectedSopClassUid: VERIFICATION })))
    const rsp = await peer.next(3000)
    if (rsp === "closed" || rsp === "timeout" || rsp.type !== 0x04) return false
    const cmd = Buffer.concat(pdvsOf(rsp.body).map((p) => p.data))
    const decoded = Dimse.decode(new Uint8Array(cmd))
    return Result.isSuccess(decoded) && decoded.success._tag === "CEchoRsp" && decoded.success.status === 0
  } finally {
    peer.send(encode({ _tag: "AReleaseRq" }))
    await peer.next(1000)
    peer.destroy()
  }
}

/** What the peer got next, summarized: "A-ABORT s/r", "closed", "timeout", or the PDU type. */
export const describe = (p: RawPdu | "closed" | "timeout"): string => {
  if (typeof p === "string") return p
  if (p.type === 0x07) return `A-ABORT ${p.body[2]}/${p.body[3]}`
  if (p.type === 0x03) return `A-ASSOCIATE-RJ ${p.body[1]}/${p.body[2]}/${p.body[3]}`
  return `PDU 0x${p.type.toString(16).padStart(2, "0")}`
}

/** Reads PDUs until an A-ABORT, a close or the deadline; returns what ended it. */
export const untilAbortOrClose = async (peer: Peer, ms: number): Promise<string> => {
  const deadline = Date.now() + ms
  while (true) {
    const left = deadline - Date.now()
    if (left <= 0) return "timeout"
    const p = await peer.next(left)
    if (typeof p === "string" || p.type === 0x07) return describe(p)
  }
}

export const mb = (bytes: number): number => Math.round((bytes / (1 << 20)) * 10) / 10
