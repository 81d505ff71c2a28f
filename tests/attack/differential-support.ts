/**
 * The differential harness against DCMTK: one scripted exchange of raw bytes played against two acceptors (our
 * `Scp.serve` and DCMTK's `storescp`) or offered by one scripted acceptor to two requestors, each side's answers
 * written down as a transcript of plain words that can be compared: the PDUs received (an A-ASSOCIATE-AC's context
 * results, an A-ASSOCIATE-RJ's or A-ABORT's result/source/reason, a P-DATA-TF's DIMSE command and status), then how
 * the connection ended (closed by the peer, or still open when the script gave up) and after how long.
 *
 * The PDU bytes are written by hand here, not by the codec under test, so that they can say what a hostile or
 * unusual peer says (reserved bytes set, items in any order, ids even or repeated, lengths wrong).
 */
import * as Net from "node:net"
import { Result } from "effect"
import { Dimse } from "@netdicom/wire"
import { connectPeer, pdvsOf, peerOn, type Peer, type RawPdu } from "./support.ts"

export const VERIFICATION = "1.2.840.10008.1.1"
export const CT = "1.2.840.10008.5.1.4.1.1.2"
export const IMPLICIT = "1.2.840.10008.1.2"
export const EXPLICIT = "1.2.840.10008.1.2.1"
export const APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"

// ---------------------------------------------------------------------------------------------------------
// Bytes
// ---------------------------------------------------------------------------------------------------------

export const ascii = (s: string): Array<number> => Array.from(s, (c) => c.charCodeAt(0) & 0xff)
export const u16 = (n: number): Array<number> => [(n >> 8) & 0xff, n & 0xff]
export const u32 = (n: number): Array<number> => [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]

/** An item: type, reserved byte, 16-bit length, body. */
export const item = (type: number, body: ReadonlyArray<number>, reserved = 0): Array<number> => [
  type,
  reserved,
  ...u16(body.length),
  ...body
]

/** A PDU: type, reserved byte, 32-bit length, body. */
export const pdu = (type: number, body: ReadonlyArray<number>, reserved = 0): Uint8Array =>
  Uint8Array.from([type, reserved, ...u32(body.length), ...body])

export interface Context {
  readonly id: number
  readonly abstractSyntax: string
  readonly transferSyntaxes: ReadonlyArray<string>
}

export const contextRq = (c: Context): Array<number> =>
  item(0x20, [
    c.id,
    0,
    0,
    0,
    ...item(0x30, ascii(c.abstractSyntax)),
    ...c.transferSyntaxes.flatMap((t) => item(0x40, ascii(t)))
  ])

export const maxLength = (n: number): Array<number> => item(0x51, u32(n))
export const implementationUid = (uid = "1.2.826.0.1.3680043.9.7433"): Array<number> => item(0x52, ascii(uid))
export const versionName = (name = "DIFFERENTIAL"): Array<number> => item(0x55, ascii(name))
export const userInformation = (subItems: ReadonlyArray<ReadonlyArray<number>>): Array<number> =>
  item(0x50, subItems.flat())

export const VERIFICATION_CONTEXT: Context = { id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] }
export const CT_CONTEXT: Context = { id: 3, abstractSyntax: CT, transferSyntaxes: [EXPLICIT, IMPLICIT] }

export interface RqOptions {
  readonly protocolVersion?: number
  /** The two reserved bytes after the protocol version. */
  readonly reserved?: number
  /** The 16-byte AE title fields as given: padded with spaces to 16, cut past 16. */
  readonly called?: string
  readonly calling?: string
  /** The value of each of the 32 reserved bytes after the AE titles. */
  readonly reserved32?: number
  /** The variable items, in order; by default the application context, the two contexts, the user information. */
  readonly items?: ReadonlyArray<ReadonlyArray<number>>
  readonly pduReserved?: number
}

export const defaultItems = (
  contexts: ReadonlyArray<Context> = [VERIFICATION_CONTEXT, CT_CONTEXT],
  user: ReadonlyArray<ReadonlyArray<number>> = [maxLength(16384), implementationUid(), versionName()]
): Array<Array<number>> => [item(0x10, ascii(APPLICATION_CONTEXT)), ...contexts.map(contextRq), userInformation(user)]

const aeField = (s: string): Array<number> => ascii(s.padEnd(16, " ").slice(0, 16))

/** An A-ASSOCIATE-RQ with exactly these fields. */
export const rq = (o: RqOptions = {}): Uint8Array =>
  pdu(
    0x01,
    [
      ...u16(o.protocolVersion ?? 1),
      ...u16(o.reserved ?? 0),
      ...aeField(o.called ?? "ANY-SCP"),
      ...aeField(o.calling ?? "DIFFERENTIAL"),
      ...Array.from({ length: 32 }, () => o.reserved32 ?? 0),
      ...(o.items ?? defaultItems()).flat()
    ],
    o.pduReserved ?? 0
  )

/**
 * Every field and item boundary of an A-ASSOCIATE-RQ or -AC: inside the PDU header, between the fixed fields, and
 * around each item's and sub-item's type, reserved byte, length and value (cut there, a parser must wait).
 */
export const boundaries = (pduBytes: Uint8Array): Array<number> => {
  const cuts = [1, 2, 4, 6, 8, 10, 26, 42, 74]
  const items = (from: number, to: number, nested: boolean) => {
    let at = from
    while (at + 4 <= to) {
      const end = at + 4 + ((pduBytes[at + 2]! << 8) | pduBytes[at + 3]!)
      cuts.push(at + 1, at + 2, at + 3, at + 4, end)
      const type = pduBytes[at]!
      if (nested && (type === 0x20 || type === 0x21)) items(at + 8, end, false)
      if (nested && type === 0x50) items(at + 4, end, false)
      at = end
    }
  }
  items(74, pduBytes.length, true)
  return [...new Set(cuts)].filter((c) => c > 0 && c < pduBytes.length).sort((x, y) => x - y)
}

/** A DIMSE command set as bytes (Implicit VR Little Endian), written by the codec: commands are not under test. */
export const commandBytes = (m: Dimse.Message): Uint8Array => Result.getOrThrow(Dimse.encode(m))

/** A PDV item: length, context id, control header, data. */
export const pdv = (contextId: number, control: number, data: ReadonlyArray<number> | Uint8Array): Array<number> => [
  ...u32(data.length + 2),
  contextId,
  control,
  ...data
]

export const pdata = (pdvs: ReadonlyArray<ReadonlyArray<number>>): Uint8Array => pdu(0x04, pdvs.flat())

export const echoRq = (messageId = 1): Uint8Array =>
  commandBytes({ _tag: "CEchoRq", messageId, affectedSopClassUid: VERIFICATION })

/** A P-DATA-TF holding one whole C-ECHO-RQ on `contextId`. */
export const echoPdata = (contextId = 1, messageId = 1): Uint8Array => pdata([pdv(contextId, 0x03, echoRq(messageId))])

export const releaseRq = (reserved = 0): Uint8Array => pdu(0x05, [0, 0, 0, 0], reserved)
export const releaseRp = (): Uint8Array => pdu(0x06, [0, 0, 0, 0])
export const abort = (source: number, reason: number): Uint8Array => pdu(0x07, [0, 0, source, reason])

// A small CT data set in Explicit VR Little Endian: SOP Class and Instance UIDs, Study Instance UID.
const explicitElement = (group: number, element: number, vr: string, value: ReadonlyArray<number>): Array<number> => [
  group & 0xff,
  group >> 8,
  element & 0xff,
  element >> 8,
  ...ascii(vr),
  value.length & 0xff,
  value.length >> 8,
  ...value
]
const uidValue = (uid: string): Array<number> => (uid.length % 2 === 0 ? ascii(uid) : [...ascii(uid), 0])

export const SOP_INSTANCE = "1.2.826.0.1.3680043.9.7433.27.1"
export const smallCt = (): Array<number> => [
  ...explicitElement(0x0008, 0x0016, "UI", uidValue(CT)),
  ...explicitElement(0x0008, 0x0018, "UI", uidValue(SOP_INSTANCE)),
  ...explicitElement(0x0008, 0x0060, "CS", ascii("CT")),
  ...explicitElement(0x0010, 0x0020, "LO", ascii("DIFF")),
  ...explicitElement(0x0020, 0x000d, "UI", uidValue("1.2.826.0.1.3680043.9.7433.27.2")),
  ...explicitElement(0x0020, 0x000e, "UI", uidValue("1.2.826.0.1.3680043.9.7433.27.3"))
]

export const storeRq = (messageId = 1): Uint8Array =>
  commandBytes({
    _tag: "CStoreRq",
    messageId,
    affectedSopClassUid: CT,
    affectedSopInstanceUid: SOP_INSTANCE,
    priority: 0
  })

// ---------------------------------------------------------------------------------------------------------
// Transcripts
// ---------------------------------------------------------------------------------------------------------

/**
 * Turns the PDUs one side received into words that do not depend on the implementation (no max length, no UIDs of
 * its own): an A-ASSOCIATE-AC's `id:result` per context, an RJ's or A-ABORT's codes, a DIMSE command once its last
 * fragment has come (however it was cut into PDVs and P-DATA-TFs), with its status and context.
 */
export const wordsOf = () => {
  let command: Array<Buffer> = []
  return (p: RawPdu): string | undefined => {
    switch (p.type) {
      case 0x02:
        return `AC ${acContexts(p.body)}`
      case 0x03:
        return `RJ ${p.body[1]}/${p.body[2]}/${p.body[3]}`
      case 0x04: {
        const out: Array<string> = []
        for (const v of pdvsOf(p.body)) {
          if ((v.control & 1) === 0) {
            if ((v.control & 2) !== 0) out.push(`data@${v.pc}`)
            continue
          }
          command.push(v.data)
          if ((v.control & 2) === 0) continue
          const m = Dimse.decode(new Uint8Array(Buffer.concat(command)))
          command = []
          if (Result.isFailure(m)) out.push(`command?@${v.pc}`)
          else {
            const status = "status" in m.success ? ` 0x${m.success.status.toString(16).padStart(4, "0")}` : ""
            out.push(`${m.success._tag}${status}@${v.pc}`)
          }
        }
        return out.length === 0 ? undefined : out.join(",")
      }
      case 0x01:
        return "RQ"
      case 0x05:
        return "RELEASE-RQ"
      case 0x06:
        return "RELEASE-RP"
      case 0x07:
        return `ABORT ${p.body[2]}/${p.body[3]}`
      default:
        return `PDU 0x${p.type.toString(16)}`
    }
  }
}

/** An A-ASSOCIATE-AC's presentation contexts: `id:result` each, in order. */
const acContexts = (body: Buffer): string => {
  const out: Array<string> = []
  let at = 68
  while (at + 4 <= body.length) {
    const type = body[at]!
    const length = body.readUInt16BE(at + 2)
    if (type === 0x21) out.push(`${body[at + 4]}:${body[at + 6]}`)
    at += 4 + length
  }
  return out.join(" ")
}

/** After these a requestor closes the connection itself (PS3.8 AE-4, AR-3, AA-3). */
const TERMINAL = /^(RJ|ABORT|RELEASE-RP)/

/** One step of a script: bytes to send (in pieces, `gapMs` apart), or a wait for the next PDU. */
export type Step =
  | {
      readonly _tag: "Send"
      readonly bytes: Uint8Array
      readonly pieces?: ReadonlyArray<number>
      readonly gapMs?: number
    }
  | { readonly _tag: "Expect" }
  | { readonly _tag: "Answer"; readonly make: (received: ReadonlyArray<RawPdu>) => Uint8Array }
  | { readonly _tag: "Pause"; readonly ms: number }
  | { readonly _tag: "Close" }

export const send = (bytes: Uint8Array, pieces?: ReadonlyArray<number>, gapMs?: number): Step => ({
  _tag: "Send",
  bytes,
  ...(pieces !== undefined ? { pieces } : {}),
  ...(gapMs !== undefined ? { gapMs } : {})
})
export const expect: Step = { _tag: "Expect" }
/** Sends what `make` builds from the PDUs received so far (an A-ASSOCIATE-AC for the RQ, a response). */
export const answer = (make: (received: ReadonlyArray<RawPdu>) => Uint8Array): Step => ({ _tag: "Answer", make })
export const pause = (ms: number): Step => ({ _tag: "Pause", ms })
export const close: Step = { _tag: "Close" }

/**
 * What one side did: the words of the PDUs it sent, in order, then how the connection ended: `closed` by it,
 * `open` when it sent nothing more for the wait, `ended` when a terminal PDU (RJ, A-ABORT, A-RELEASE-RP) came and
 * the script's side closed, as a requestor does, or `we-closed` when the script closed first.
 */
export interface Transcript {
  readonly words: ReadonlyArray<string>
  readonly end: "closed" | "open" | "ended" | "we-closed"
  readonly ms: number
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

const sendPieces = async (peer: Peer, step: Extract<Step, { _tag: "Send" }>): Promise<void> => {
  const cuts = [...(step.pieces ?? []), step.bytes.length].filter((c) => c > 0 && c <= step.bytes.length)
  let from = 0
  for (const cut of cuts) {
    if (cut <= from) continue
    peer.send(step.bytes.subarray(from, cut))
    from = cut
    if (from < step.bytes.length) await sleep(step.gapMs ?? 2)
  }
}

/**
 * Plays `steps` on `peer`: each Expect waits (at most `waitMs`) for the next PDU that makes a word (a command's
 * first fragments make none), `(nothing)` if none comes. After the last step the words that still come are taken
 * until the peer closes or `waitMs` passes without one. With `closeOnTerminal` (the requestor's side) the script
 * closes once a terminal PDU arrives.
 */
export const play = async (
  peer: Peer,
  steps: ReadonlyArray<Step>,
  waitMs: number,
  closeOnTerminal = true
): Promise<Transcript> => {
  const started = Date.now()
  const words: Array<string> = []
  const toWord = wordsOf()
  const received: Array<RawPdu> = []
  const done = (end: Transcript["end"]): Transcript => {
    peer.destroy()
    return { words, end, ms: Date.now() - started }
  }
  // the next word, or the end of the connection, or undefined after waitMs
  const nextWord = async (): Promise<string | "closed" | undefined> => {
    const deadline = Date.now() + waitMs
    while (true) {
      const p = await peer.next(Math.max(0, deadline - Date.now()))
      if (p === "closed") return "closed"
      if (p === "timeout") return undefined
      received.push(p)
      const w = toWord(p)
      if (w !== undefined) return w
    }
  }
  for (const step of steps) {
    switch (step._tag) {
      case "Send":
        await sendPieces(peer, step)
        break
      case "Pause":
        await sleep(step.ms)
        break
      case "Answer":
        peer.send(step.make(received))
        break
      case "Close":
        return done("we-closed")
      case "Expect": {
        const w = await nextWord()
        if (w === "closed") return done("closed")
        words.push(w ?? "(nothing)")
        if (w !== undefined && closeOnTerminal && TERMINAL.test(w)) return done("ended")
        break
      }
    }
  }
  while (true) {
    const w = await nextWord()
    if (w === "closed") return done("closed")
    if (w === undefined) return done("open")
    words.push(w)
    if (closeOnTerminal && TERMINAL.test(w)) return done("ended")
  }
}

/** Plays `steps` against an acceptor on 127.0.0.1:`port`. */
export const playAgainst = async (port: number, steps: ReadonlyArray<Step>, waitMs: number): Promise<Transcript> =>
  play(await connectPeer(port), steps, waitMs)

/** The transcript in one line, times left out: `AC 1:0 3:0 | P-DATA CEchoRsp 0x0000@1 | closed`. */
export const line = (t: Transcript): string => [...t.words, t.end].join(" | ")

/** A raw acceptor on 127.0.0.1 port 0: each connection is given to `onPeer`. */
export const rawAcceptor = (onPeer: (peer: Peer, socket: Net.Socket) => void): Promise<Net.Server> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer((socket) => {
      socket.setNoDelay(true)
      onPeer(peerOn(socket), socket)
    })
    server.once("error", reject)
    server.listen({ host: "127.0.0.1", port: 0 }, () => resolve(server))
  })

/** A small seeded generator (mulberry32), so that a run can be repeated from its seed. */
export const random = (seed: number) => {
  let a = seed >>> 0
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// ---------------------------------------------------------------------------------------------------------
// The acceptor's side: answers built from what the requestor sent
// ---------------------------------------------------------------------------------------------------------

/** The presentation contexts of a raw A-ASSOCIATE-RQ body: id, abstract syntax, transfer syntaxes. */
export const rqContexts = (body: Buffer): Array<Context> => {
  const out: Array<Context> = []
  let at = 68
  while (at + 4 <= body.length) {
    const type = body[at]!
    const end = at + 4 + body.readUInt16BE(at + 2)
    if (type === 0x20) {
      let abstractSyntax = ""
      const transferSyntaxes: Array<string> = []
      let sub = at + 8
      while (sub + 4 <= end) {
        const subEnd = sub + 4 + body.readUInt16BE(sub + 2)
        const text = body.subarray(sub + 4, subEnd).toString("latin1")
        if (body[sub] === 0x30) abstractSyntax = text
        if (body[sub] === 0x40) transferSyntaxes.push(text)
        sub = subEnd
      }
      out.push({ id: body[at + 4]!, abstractSyntax, transferSyntaxes })
    }
    at = end
  }
  return out
}

export interface AcOptions {
  readonly protocolVersion?: number
  /** The 16-byte AE title fields (default: those of the RQ, as PS3.8 asks). */
  readonly called?: string
  readonly calling?: string
  readonly reserved32?: number
  /** Each context answered: result and transfer syntax (default: accepted, first transfer syntax). */
  readonly contextItems?: (contexts: ReadonlyArray<Context>) => Array<Array<number>>
  readonly user?: ReadonlyArray<ReadonlyArray<number>>
  /** Items after the contexts and user information. */
  readonly extraItems?: ReadonlyArray<ReadonlyArray<number>>
  readonly applicationContext?: string
}

/** A Presentation Context item of an A-ASSOCIATE-AC. */
export const contextAc = (id: number, result: number, transferSyntax: string | undefined): Array<number> =>
  item(0x21, [id, 0, result, 0, ...(transferSyntax === undefined ? [] : item(0x40, ascii(transferSyntax)))])

/** An A-ASSOCIATE-AC answering the RQ that was received first. */
export const acFor =
  (o: AcOptions = {}) =>
  (received: ReadonlyArray<RawPdu>): Uint8Array => {
    const body = received[0]!.body
    const contexts = rqContexts(body)
    const items = [
      item(0x10, ascii(o.applicationContext ?? APPLICATION_CONTEXT)),
      ...(o.contextItems ?? ((cs) => cs.map((c) => contextAc(c.id, 0, c.transferSyntaxes[0]))))(contexts),
      userInformation(o.user ?? [maxLength(16384), implementationUid(), versionName("SCRIPTED")]),
      ...(o.extraItems ?? [])
    ]
    return pdu(0x02, [
      ...u16(o.protocolVersion ?? 1),
      0,
      0,
      ...(o.called === undefined ? [...body.subarray(4, 20)] : aeField(o.called)),
      ...(o.calling === undefined ? [...body.subarray(20, 36)] : aeField(o.calling)),
      ...Array.from({ length: 32 }, () => o.reserved32 ?? 0),
      ...items.flat()
    ])
  }

/** The message id and context of the last command received (the requestor's C-ECHO-RQ). */
const lastCommand = (received: ReadonlyArray<RawPdu>): { readonly id: number; readonly pc: number } => {
  for (let i = received.length - 1; i >= 0; i--) {
    const p = received[i]!
    if (p.type !== 0x04) continue
    const v = pdvsOf(p.body).find((x) => (x.control & 1) !== 0)
    if (v === undefined) continue
    const m = Dimse.decode(new Uint8Array(v.data))
    if (Result.isSuccess(m) && "messageId" in m.success) return { id: m.success.messageId, pc: v.pc }
  }
  return { id: 1, pc: 1 }
}

/** The C-ECHO-RSP (status 0) to the last C-ECHO-RQ received, cut into PDVs of `pdvSize` bytes (whole by default). */
export const echoRspFor =
  (
    o: {
      readonly pdvSize?: number
      readonly pc?: number
      readonly status?: number
      /** Each PDV in a P-DATA-TF of its own. */
      readonly pdataEach?: boolean
    } = {}
  ) =>
  (received: ReadonlyArray<RawPdu>): Uint8Array => {
    const { id, pc } = lastCommand(received)
    const bytes = commandBytes({
      _tag: "CEchoRsp",
      messageIdBeingRespondedTo: id,
      affectedSopClassUid: VERIFICATION,
      status: o.status ?? 0
    })
    const size = o.pdvSize ?? bytes.length
    const pdvs: Array<Array<number>> = []
    for (let at = 0; at < bytes.length; at += size) {
      const last = at + size >= bytes.length
      pdvs.push(pdv(o.pc ?? pc, last ? 0x03 : 0x01, bytes.subarray(at, at + size)))
    }
    return o.pdataEach === true ? Uint8Array.from(pdvs.flatMap((v) => [...pdata([v])])) : pdata(pdvs)
  }
