/**
 * A hostile peer for soak runs: `node bench/soak/hostile.ts PORT[:tls] ... --seconds S --concurrency C --files DIR`.
 *
 * `--only a,b` runs those behaviours only, `--count N` stops after N of them.
 *
 * Opens connections to the servers given, at most C at once, each running one behaviour picked at random: silent,
 * an A-ASSOCIATE-RQ cut at a random byte, a dribbled RQ, aborts and resets in each state, half-closed sockets, a
 * C-STORE cut at a random byte, stray release PDUs, garbage, bursts of connections, TLS garbage on a TLS port. Prints
 * one JSON line per C-STORE whose data set went out whole or in part (`{"uid","whole","status"}`) so that a checker can
 * tell what may be in the archive from what must not be, and a count per behaviour at the end.
 */
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import * as Tls from "node:tls"
import { Part10 } from "@netdicom/net"
import { Dimse, PduCodec, type Pdu } from "@netdicom/wire"
import { Result } from "effect"

const VERIFICATION = "1.2.840.10008.1.1"
const CT = "1.2.840.10008.5.1.4.1.1.2"
const STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
const IMPLICIT = "1.2.840.10008.1.2"
const EXPLICIT = "1.2.840.10008.1.2.1"

const args = process.argv.slice(2)
const flag = (name: string, dflt: string): string => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1]! : dflt
}
const targets = args
  .filter((a, i) => /^\d+(:tls)?(:[A-Z0-9-]+)?$/.test(a) && !args[i - 1]?.startsWith("--"))
  .map((a) => {
    const [port, ...rest] = a.split(":")
    return { port: Number(port), tls: rest.includes("tls"), aet: rest.find((r) => r !== "tls") ?? "ANY" }
  })
const seconds = Number(flag("--seconds", "60"))
const concurrency = Number(flag("--concurrency", "20"))
const filesDir = flag("--files", "")
if (filesDir === "" || targets.length === 0) {
  process.stderr.write(
    "usage: hostile.ts PORT[:tls][:AET] ... --files DIR [--seconds S] [--concurrency C] [--count N]\n"
  )
  process.exit(2)
}

const encode = (pdu: Pdu.Pdu): Buffer => Buffer.from(Result.getOrThrow(PduCodec.encodePdu(pdu)))
const command = (m: Dimse.Message): Uint8Array => Result.getOrThrow(Dimse.encode(m))
const pdata = (pc: number, isCommand: boolean, isLast: boolean, data: Uint8Array): Buffer =>
  Buffer.from(PduCodec.encodePDataTf([{ presentationContextId: pc, isCommand, isLast, data }]))

const rq = (called: string): Buffer =>
  encode({
    _tag: "AAssociateRq",
    protocolVersion: 1,
    calledAeTitle: called,
    callingAeTitle: "HOSTILE",
    applicationContextName: "1.2.840.10008.3.1.1.1",
    presentationContexts: [
      { _tag: "PresentationContextRq", id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
      { _tag: "PresentationContextRq", id: 3, abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
      { _tag: "PresentationContextRq", id: 5, abstractSyntax: STUDY_FIND, transferSyntaxes: [IMPLICIT] }
    ],
    userInformation: [
      { _tag: "MaximumLength", maximumLength: 16384 },
      { _tag: "ImplementationClassUid", uid: "1.2.3.4" }
    ],
    unknownItems: []
  })

/** The data set of a Part 10 file (explicit VR little endian meta), and its SOP Instance UID. */
interface Instance {
  readonly uid: string
  readonly dataSet: Buffer
}
const instances: Array<Instance> = Fs.readdirSync(filesDir)
  .filter((f) => f.endsWith(".dcm"))
  .map((f) => {
    const bytes = Fs.readFileSync(Path.join(filesDir, f))
    const groupLength = bytes.readUInt32LE(128 + 4 + 8)
    const start = 128 + 4 + 12 + groupLength
    const meta = Result.getOrThrow(Part10.readMeta(new Uint8Array(bytes)))
    return { uid: meta.mediaStorageSopInstanceUid, dataSet: bytes.subarray(start) }
  })

const rand = (n: number): number => Math.floor(Math.random() * n)
const pick = <A>(xs: ReadonlyArray<A>): A => xs[rand(xs.length)]!
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

interface Conn {
  readonly aet: string
  readonly socket: Net.Socket
  readonly write: (b: Buffer) => void
  /** The next PDU's type (0 when the connection closed, -1 on timeout). */
  readonly next: (ms: number) => Promise<{ type: number; body: Buffer }>
  readonly closed: () => boolean
}

const open = (target: { port: number; tls: boolean; aet: string }, plainOnTls = false): Promise<Conn> =>
  new Promise((resolve) => {
    const socket: Net.Socket =
      target.tls && !plainOnTls
        ? Tls.connect({ host: "127.0.0.1", port: target.port, rejectUnauthorized: false })
        : Net.createConnection({ host: "127.0.0.1", port: target.port, noDelay: true })
    let buffered = Buffer.alloc(0)
    const pdus: Array<{ type: number; body: Buffer }> = []
    let isClosed = false
    let wake: (() => void) | undefined
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      while (buffered.length >= 6 && buffered.length >= 6 + buffered.readUInt32BE(2)) {
        const len = buffered.readUInt32BE(2)
        pdus.push({ type: buffered[0]!, body: buffered.subarray(6, 6 + len) })
        buffered = buffered.subarray(6 + len)
      }
      wake?.()
    })
    socket.on("close", () => {
      isClosed = true
      wake?.()
    })
    socket.on("error", () => {})
    const conn: Conn = {
      aet: target.aet,
      socket,
      write: (b) => {
        if (!socket.destroyed) socket.write(b)
      },
      closed: () => isClosed,
      next: async (ms) => {
        const deadline = Date.now() + ms
        while (pdus.length === 0) {
          if (isClosed) return { type: 0, body: Buffer.alloc(0) }
          const left = deadline - Date.now()
          if (left <= 0) return { type: -1, body: Buffer.alloc(0) }
          await new Promise<void>((r) => {
            const t = setTimeout(r, left)
            wake = () => {
              clearTimeout(t)
              wake = undefined
              r()
            }
          })
        }
        return pdus.shift()!
      }
    }
    socket.once(target.tls && !plainOnTls ? "secureConnect" : "connect", () => resolve(conn))
    socket.once("close", () => resolve(conn))
  })

const end = (c: Conn, how: "fin" | "rst" | "abort" | "destroy"): void => {
  if (how === "abort") c.write(encode({ _tag: "AAbort", source: 0, reason: 0 }))
  if (how === "rst" && !(c.socket instanceof Tls.TLSSocket)) c.socket.resetAndDestroy()
  else if (how === "fin") c.socket.end()
  else c.socket.destroy()
  if (how === "abort") setTimeout(() => c.socket.destroy(), 200)
}
const anyEnd = (): "fin" | "rst" | "abort" | "destroy" => pick(["fin", "rst", "abort", "destroy"] as const)

const associate = async (c: Conn): Promise<boolean> => {
  c.write(rq(c.aet))
  const ac = await c.next(15_000)
  return ac.type === 2
}

const storeCommand = (uid: string, id: number): Buffer =>
  pdata(
    3,
    true,
    true,
    command({ _tag: "CStoreRq", messageId: id, affectedSopClassUid: CT, affectedSopInstanceUid: uid, priority: 0 })
  )

const dataPdus = (ds: Buffer): Array<Buffer> => {
  const out: Array<Buffer> = []
  for (let at = 0; at < ds.length; at += 16_000) {
    const part = ds.subarray(at, at + 16_000)
    out.push(pdata(3, false, at + 16_000 >= ds.length, part))
  }
  return out
}

const storeRsp = (p: { type: number; body: Buffer }): number | undefined => {
  if (p.type !== 4) return undefined
  const data = p.body.subarray(6, 4 + p.body.readUInt32BE(0))
  const m = Dimse.decode(new Uint8Array(data))
  return Result.isSuccess(m) && "status" in m.success ? (m.success.status as number) : undefined
}

type Behaviour = (target: { port: number; tls: boolean; aet: string }) => Promise<void>

const behaviours: Record<string, Behaviour> = {
  silent: async (t) => {
    const c = await open(t)
    await sleep(rand(40_000))
    end(c, anyEnd())
  },
  rqCut: async (t) => {
    const c = await open(t)
    const b = rq(c.aet)
    c.write(b.subarray(0, rand(b.length)))
    await sleep(rand(3000))
    end(c, anyEnd())
  },
  rqDribble: async (t) => {
    const c = await open(t)
    const b = rq(c.aet)
    const stop = rand(b.length + 1)
    for (let i = 0; i < stop && !c.closed(); i++) {
      c.write(b.subarray(i, i + 1))
      await sleep(20 + rand(200))
    }
    if (stop === b.length && (await c.next(5000)).type === 2) {
      c.write(pdata(1, true, true, command({ _tag: "CEchoRq", messageId: 1, affectedSopClassUid: VERIFICATION })))
      await c.next(5000)
    }
    end(c, anyEnd())
  },
  abortAfterAc: async (t) => {
    const c = await open(t)
    if (await associate(c)) await sleep(rand(500))
    end(c, anyEnd())
  },
  halfClose: async (t) => {
    const c = await open(t)
    c.write(rq(c.aet))
    c.socket.end()
    await c.next(10_000)
    await sleep(rand(5000))
    c.socket.destroy()
  },
  halfCloseAfterEcho: async (t) => {
    const c = await open(t)
    if (await associate(c)) {
      c.write(pdata(1, true, true, command({ _tag: "CEchoRq", messageId: 1, affectedSopClassUid: VERIFICATION })))
      c.socket.end()
      await c.next(5000)
      await c.next(5000)
    }
    c.socket.destroy()
  },
  storeCut: async (t) => {
    const c = await open(t)
    if (!(await associate(c))) return end(c, "destroy")
    const inst = pick(instances)
    const bytes = Buffer.concat([storeCommand(inst.uid, 1), ...dataPdus(inst.dataSet)])
    const cut = Math.random() < 0.3 ? bytes.length : rand(bytes.length)
    const whole = cut === bytes.length
    c.write(bytes.subarray(0, cut))
    let status: number | undefined
    if (whole) status = storeRsp(await c.next(10_000))
    else await sleep(rand(2000))
    process.stdout.write(`${JSON.stringify({ uid: inst.uid, whole, status, port: t.port })}\n`)
    if (whole && status !== undefined && Math.random() < 0.5) {
      c.write(encode({ _tag: "AReleaseRq" }))
      await c.next(5000)
    }
    end(c, anyEnd())
  },
  storeDribble: async (t) => {
    const c = await open(t)
    if (!(await associate(c))) return end(c, "destroy")
    const inst = pick(instances)
    const bytes = Buffer.concat([storeCommand(inst.uid, 1), ...dataPdus(inst.dataSet)])
    const stop = rand(bytes.length)
    for (let at = 0; at < stop && !c.closed(); at += 200 + rand(2000)) {
      c.write(bytes.subarray(at, Math.min(stop, at + 200)))
      await sleep(rand(300))
    }
    process.stdout.write(`${JSON.stringify({ uid: inst.uid, whole: false, port: t.port })}\n`)
    end(c, anyEnd())
  },
  storeGarbageData: async (t) => {
    const c = await open(t)
    if (!(await associate(c))) return end(c, "destroy")
    const uid = `2.25.${rand(1e9)}${rand(1e9)}`
    c.write(storeCommand(uid, 1))
    const junk = Buffer.alloc(1 + rand(30_000))
    for (let i = 0; i < junk.length; i++) junk[i] = rand(256)
    c.write(pdata(3, false, true, junk))
    const status = storeRsp(await c.next(10_000))
    process.stdout.write(`${JSON.stringify({ uid, whole: true, garbage: true, status, port: t.port })}\n`)
    end(c, anyEnd())
  },
  releaseTwice: async (t) => {
    const c = await open(t)
    if (!(await associate(c))) return end(c, "destroy")
    c.write(encode({ _tag: "AReleaseRq" }))
    c.write(encode({ _tag: "AReleaseRq" }))
    await c.next(3000)
    await c.next(3000)
    end(c, anyEnd())
  },
  strayReleaseRp: async (t) => {
    const c = await open(t)
    if (!(await associate(c))) return end(c, "destroy")
    c.write(encode({ _tag: "AReleaseRp" }))
    await c.next(3000)
    end(c, anyEnd())
  },
  releaseNoClose: async (t) => {
    const c = await open(t)
    if (!(await associate(c))) return end(c, "destroy")
    c.write(encode({ _tag: "AReleaseRq" }))
    await c.next(3000)
    await sleep(rand(40_000)) // never close after the A-RELEASE-RP: the server must
    c.socket.destroy()
  },
  echoThenRelease: async (t) => {
    const c = await open(t)
    if (!(await associate(c))) return end(c, "destroy")
    c.write(pdata(1, true, true, command({ _tag: "CEchoRq", messageId: 1, affectedSopClassUid: VERIFICATION })))
    c.write(encode({ _tag: "AReleaseRq" }))
    await c.next(5000)
    await c.next(5000)
    end(c, pick(["fin", "destroy"] as const))
  },
  findThenVanish: async (t) => {
    const c = await open(t)
    if (!(await associate(c))) return end(c, "destroy")
    c.write(
      pdata(5, true, true, command({ _tag: "CFindRq", messageId: 1, affectedSopClassUid: STUDY_FIND, priority: 0 }))
    )
    // identifier: QueryRetrieveLevel=STUDY, StudyInstanceUID empty (implicit VR)
    const id = Buffer.from([
      0x08,
      0x00,
      0x52,
      0x00,
      0x06,
      0x00,
      0x00,
      0x00,
      ...Buffer.from("STUDY "),
      0x20,
      0x00,
      0x0d,
      0x00,
      0,
      0,
      0,
      0
    ])
    c.write(pdata(5, false, true, id))
    await sleep(rand(200))
    if (Math.random() < 0.5) {
      c.write(pdata(5, true, true, command({ _tag: "CCancelRq", messageIdBeingRespondedTo: 1 })))
    }
    await sleep(rand(200))
    end(c, anyEnd())
  },
  garbage: async (t) => {
    const c = await open(t)
    const junk = Buffer.alloc(1 + rand(2000))
    for (let i = 0; i < junk.length; i++) junk[i] = rand(256)
    if (Math.random() < 0.5) junk[0] = pick([1, 2, 3, 4, 5, 6, 7, 0x10, 0xff])
    c.write(junk)
    await c.next(3000)
    end(c, anyEnd())
  },
  pduAfterAbort: async (t) => {
    const c = await open(t)
    if (!(await associate(c))) return end(c, "destroy")
    c.write(encode({ _tag: "AAbort", source: 0, reason: 0 }))
    c.write(pdata(1, true, true, command({ _tag: "CEchoRq", messageId: 1, affectedSopClassUid: VERIFICATION })))
    await c.next(3000)
    end(c, anyEnd())
  },
  burst: async (t) => {
    const cs = await Promise.all(Array.from({ length: 50 + rand(100) }, () => open(t)))
    for (const c of cs) if (Math.random() < 0.5) c.write(rq(c.aet))
    await sleep(rand(5000))
    for (const c of cs) end(c, anyEnd())
  },
  tlsGarbage: async (t) => {
    if (!t.tls) return
    const c = await open(t, true)
    const kind = rand(3)
    if (kind === 0) c.write(rq(c.aet))
    else if (kind === 1) c.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]))
    else {
      const junk = Buffer.alloc(1 + rand(5000))
      for (let i = 0; i < junk.length; i++) junk[i] = rand(256)
      c.write(junk)
    }
    await c.next(rand(5000))
    end(c, anyEnd())
  }
}

const counts: Record<string, number> = {}
const deadline = Date.now() + seconds * 1000
const only = flag("--only", "")
const names = only === "" ? Object.keys(behaviours) : only.split(",")
let left = Number(flag("--count", "Infinity"))
const worker = async () => {
  while (Date.now() < deadline && left-- > 0) {
    const name = pick(names)
    const t = pick(targets)
    counts[name] = (counts[name] ?? 0) + 1
    try {
      await behaviours[name]!(t)
    } catch (e) {
      counts[`error ${name}`] = (counts[`error ${name}`] ?? 0) + 1
      process.stderr.write(`${name}: ${String(e)}\n`)
    }
  }
}
await Promise.all(Array.from({ length: concurrency }, worker))
process.stderr.write(`${JSON.stringify(counts)}\n`)
setTimeout(() => process.exit(0), 2000)
