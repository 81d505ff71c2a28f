/**
 * Model-based attack on the requestor's PS3.8 state machine (Table 9-10) over real sockets: fast-check's
 * `fc.commands` drives `Scu.connect` (ARTIM, DIMSE and idle timeouts set low) against a raw acceptor scripted command
 * by command. The model knows the requestor's state (Sta5 awaiting the A-ASSOCIATE-AC, Sta6 established) and, for
 * each thing the acceptor or the user does, what PS3.8 requires: what the acceptor receives (an A-ABORT with source
 * and reason per the AA-x action, an A-RELEASE-RP, a C-ECHO-RQ, nothing) and when the connection closes, and what the
 * user gets: the typed error (AssociationRejected with the RJ's result/source/reason, AssociationAborted with who
 * aborted and why, AcseTimeout, DimseTimeout) or success, always within its bound. After all runs: no unhandled
 * rejection or uncaught exception, no socket left.
 *
 * Seed and runs: NETDICOM_MODEL_SEED, NETDICOM_MODEL_RUNS; a failure prints fast-check's seed and replay path.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Result, Scope } from "effect"
import fc from "fast-check"
import * as Net from "node:net"
import { ApplicationEntity, type DimseChannel, Scu } from "@netdicom/net"
import { Dimse, PduCodec, type Pdu } from "@netdicom/wire"
import {
  command,
  describe as show,
  encode,
  IMPLICIT,
  pdata,
  pdvsOf,
  type Peer,
  peerOn,
  type RawPdu,
  VERIFICATION
} from "./support.ts"

const ACSE = 250
const DIMSE = 300
const IDLE = 600
const SLACK = 1500
const QUIET = 120

const seed = Number(process.env["NETDICOM_MODEL_SEED"] ?? 24)
const numRuns = Number(process.env["NETDICOM_MODEL_RUNS"] ?? 16)

const ae = Result.getOrThrow(
  ApplicationEntity.make({
    aeTitle: "NETDICOM-SCU",
    timeouts: {
      acse: `${ACSE} millis`,
      connect: "2 seconds",
      dimse: `${DIMSE} millis`,
      write: "2 seconds",
      idle: `${IDLE} millis`
    }
  })
)

// ---- the scripted acceptor: hands each connection over as a raw peer ----
interface RawAcceptor {
  readonly port: number
  readonly accepted: (ms: number) => Promise<Peer | "timeout">
  readonly close: () => void
}

const rawAcceptor = (): Promise<RawAcceptor> =>
  new Promise((resolve) => {
    const queue: Array<Peer> = []
    const all: Array<Peer> = []
    let wake: (() => void) | undefined
    const server = Net.createServer((socket) => {
      socket.setNoDelay(true)
      const peer = peerOn(socket)
      all.push(peer)
      queue.push(peer)
      wake?.()
    })
    server.listen(0, "127.0.0.1", () =>
      resolve({
        port: (server.address() as Net.AddressInfo).port,
        accepted: async (ms) => {
          const deadline = Date.now() + ms
          while (queue.length === 0) {
            const left = deadline - Date.now()
            if (left <= 0) return "timeout"
            await new Promise<void>((r) => {
              const t = setTimeout(r, left)
              wake = () => {
                clearTimeout(t)
                wake = undefined
                r()
              }
            })
          }
          return queue.shift()!
        },
        close: () => {
          for (const p of all) p.destroy()
          server.close()
        }
      })
    )
  })

// ---- what the acceptor may send ----
type PeerKind =
  | "rq"
  | "ac"
  | "rj"
  | "releaseRq"
  | "releaseRp"
  | "abort"
  | "unknown"
  | "echoRq"
  | "echoRsp"
  | "pdvBadContext"
  | "releaseShort"
  | "pdataHuge"
  | "controlHuge"

interface Codes {
  readonly result: 1 | 2
  readonly source: number
  readonly reason: number
}

const acOf = (rq: Pdu.AAssociateRq): Uint8Array =>
  encode({
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
    unknownItems: []
  })

const bytesOf = (kind: PeerKind, rq: Pdu.AAssociateRq, codes: Codes): Uint8Array => {
  switch (kind) {
    case "rq":
      return encode(rq)
    case "ac":
      return acOf(rq)
    case "rj":
      return Uint8Array.of(0x03, 0, 0, 0, 0, 4, 0, codes.result, codes.source, codes.reason)
    case "releaseRq":
      return Uint8Array.of(0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0)
    case "releaseRp":
      return Uint8Array.of(0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0)
    case "abort":
      return Uint8Array.of(0x07, 0, 0, 0, 0, 4, 0, 0, codes.source, codes.reason)
    case "unknown":
      return Uint8Array.of(0x0b, 0, 0, 0, 0, 4, 0, 0, 0, 0)
    case "echoRq":
      return pdata(1, true, true, command({ _tag: "CEchoRq", messageId: 900, affectedSopClassUid: VERIFICATION }))
    case "echoRsp":
      return pdata(
        1,
        true,
        true,
        command({ _tag: "CEchoRsp", messageIdBeingRespondedTo: 901, affectedSopClassUid: VERIFICATION, status: 0 })
      )
    case "pdvBadContext":
      return pdata(9, true, true, command({ _tag: "CEchoRq", messageId: 902, affectedSopClassUid: VERIFICATION }))
    case "releaseShort":
      return Uint8Array.of(0x05, 0, 0, 0, 0, 2, 0, 0)
    case "pdataHuge":
      return Uint8Array.of(0x04, 0, 0xff, 0xff, 0xff, 0xff)
    case "controlHuge":
      return Uint8Array.of(0x06, 0, 0x7f, 0xff, 0xff, 0xff)
  }
}

// A-ABORT sources and reasons a peer may send (PS3.8 Table 9-26); A-ASSOCIATE-RJ result/source/reason (Table 9-21).
const abortCodes: fc.Arbitrary<Codes> = fc.oneof(
  fc.constant({ result: 1 as const, source: 0, reason: 0 }),
  fc.constantFrom(0, 1, 2, 4, 5, 6).map((reason) => ({ result: 1 as const, source: 2, reason }))
)
const rjCodes: fc.Arbitrary<Codes> = fc.oneof(
  fc.tuple(fc.constantFrom<1 | 2>(1, 2), fc.constantFrom(1, 2, 3, 7)).map(([result, reason]) => ({
    result,
    source: 1,
    reason
  })),
  fc
    .tuple(fc.constantFrom<1 | 2>(1, 2), fc.constantFrom(1, 2))
    .map(([result, reason]) => ({ result, source: 2, reason })),
  fc
    .tuple(fc.constantFrom<1 | 2>(1, 2), fc.constantFrom(1, 2))
    .map(([result, reason]) => ({ result, source: 3, reason }))
)

// ---- the model ----
type State = "none" | "Sta5" | "Sta6"

interface Model {
  state: State
}

interface Real {
  readonly acceptor: RawAcceptor
  conn: Peer | undefined
  rq: Pdu.AAssociateRq | undefined
  scope: Scope.Closeable | undefined
  connecting: Promise<Exit.Exit<DimseChannel.DimseChannel, unknown>> | undefined
  channel: DimseChannel.DimseChannel | undefined
  // When the A-ASSOCIATE-RQ was asked for (the ACSE timeout's start: it covers the connect), and when a PDU last went
  // either way on the association (the idle timer's), both taken before the event so as to be no later than it.
  openedAt: number
  activeAt: number
  readonly trace: Array<string>
}

/** What the user got: "success", the error's tag with the fields the model checks, or "defect: ...". */
const outcome = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "success"
  if (Cause.hasDies(exit.cause) || !Cause.hasFails(exit.cause)) return `defect: ${Cause.pretty(exit.cause)}`
  const e = Cause.squash(exit.cause) as {
    readonly _tag?: string
    readonly by?: string
    readonly source?: number
    readonly reason?: number
    readonly result?: number
  }
  switch (e._tag) {
    case "AssociationAborted":
      return `AssociationAborted ${e.by} ${e.source}/${e.reason}`
    case "AssociationRejected":
      return `AssociationRejected ${e.result}/${e.source}/${e.reason}`
    default:
      return String(e._tag)
  }
}

const within = <A>(p: Promise<A>, ms: number, what: string): Promise<A> =>
  new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no outcome within ${ms} ms (a hang)`)), ms)
    p.then(
      (a) => {
        clearTimeout(t)
        resolve(a)
      },
      (e: unknown) => {
        clearTimeout(t)
        reject(e instanceof Error ? e : new Error(String(e)))
      }
    )
  })

const connOf = (r: Real): Peer => {
  if (r.conn === undefined) throw new Error("no connection")
  return r.conn
}

const traceOf = (r: Real) => r.trace.join("\n")

// The user's scope closes (release or abort by the finalizer): within its bound, and the connection then closes.
const finish = async (m: Model, r: Real, step: string) => {
  if (r.scope !== undefined) {
    const scope = r.scope
    r.scope = undefined
    await within(Effect.runPromise(Scope.close(scope, Exit.void)), ACSE + SLACK, `${step}: closing the scope`)
  }
  if (r.conn !== undefined) {
    // whatever the requestor still sends (an A-RELEASE-RQ or A-ABORT as its scope closes), then its close
    let got = await r.conn.next(ACSE + SLACK)
    while (typeof got !== "string") {
      // the release of a scope closing: answer it, as a peer would
      if (got.type === 0x05) r.conn.send(Uint8Array.of(0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0))
      got = await r.conn.next(ACSE + SLACK)
    }
    assert.strictEqual(got, "closed", `${step}: the requestor's connection did not close\n${traceOf(r)}`)
    r.conn.destroy()
    r.conn = undefined
  }
  r.channel = undefined
  r.connecting = undefined
  m.state = "none"
}

const open = async (m: Model, r: Real) => {
  const scope = Effect.runSync(Scope.make())
  r.scope = scope
  r.openedAt = Date.now()
  r.connecting = Effect.runPromiseExit(
    Scope.provide(
      Scu.connect(ae, {
        host: "127.0.0.1",
        port: r.acceptor.port,
        calledAeTitle: "SCRIPTED",
        contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] }]
      }),
      scope
    )
  )
  const conn = await r.acceptor.accepted(SLACK)
  assert.notStrictEqual(conn, "timeout", "the requestor did not connect")
  r.conn = conn as Peer
  const first = await r.conn.next(SLACK)
  assert.isTrue(typeof first !== "string" && first.type === 0x01, `first PDU: ${show(first)}`)
  const raw = first as RawPdu
  const whole = new Uint8Array(6 + raw.body.length)
  whole[0] = 0x01
  new DataView(whole.buffer).setUint32(2, raw.body.length)
  whole.set(raw.body, 6)
  const decoded = PduCodec.decodePdu(whole)
  assert.isTrue(Result.isSuccess(decoded) && decoded.success._tag === "AAssociateRq")
  r.rq = (decoded as Result.Success<Pdu.AAssociateRq, never>).success
  r.trace.push("connect: A-ASSOCIATE-RQ received (Sta5)")
  m.state = "Sta5"
}

// Brings the requestor to `want` the ordinary way, each step checked.
const reach = async (m: Model, r: Real, want: State) => {
  // a command for Sta5 on an established association: the user's scope closes (a release, answered) first
  if (want === "Sta5" && m.state === "Sta6") await finish(m, r, "release before a new association")
  if (m.state === "none") await open(m, r)
  if (want === "Sta6" && m.state === "Sta5") {
    r.activeAt = Date.now()
    connOf(r).send(acOf(r.rq!))
    const exit = await within(r.connecting!, SLACK, "A-ASSOCIATE-AC")
    assert.strictEqual(outcome(exit), "success", traceOf(r))
    r.channel = (exit as Exit.Success<DimseChannel.DimseChannel, unknown>).value
    r.trace.push("Sta5 + A-ASSOCIATE-AC -> established (Sta6)")
    m.state = "Sta6"
  }
}

/** Table 9-10 for what the acceptor sends in Sta5: what it gets back, and the user's outcome. */
const inSta5 = (kind: PeerKind, codes: Codes): { readonly back: ReadonlyArray<string>; readonly user: string } => {
  switch (kind) {
    case "ac":
      return { back: ["timeout"], user: "success" } // AE-3
    case "rj":
      // AE-4: the confirmation with the RJ's codes, the connection closed
      return { back: ["closed"], user: `AssociationRejected ${codes.result}/${codes.source}/${codes.reason}` }
    case "abort":
      return { back: ["closed"], user: `AssociationAborted peer ${codes.source}/${codes.reason}` } // AA-3
    case "unknown":
      return { back: ["A-ABORT 2/1"], user: "AssociationAborted provider 2/1" } // Evt19, AA-8
    case "releaseShort":
    case "pdataHuge":
    case "controlHuge":
      return { back: ["A-ABORT 2/6"], user: "AssociationAborted provider 2/6" } // Evt19, AA-8
    default:
      return { back: ["A-ABORT 2/2"], user: "AssociationAborted provider 2/2" } // AA-8
  }
}

class Answer implements fc.AsyncCommand<Model, Real> {
  readonly kind: PeerKind
  readonly codes: Codes
  constructor(kind: PeerKind, codes: Codes) {
    this.kind = kind
    this.codes = codes
  }
  check = () => true
  async run(m: Model, r: Real) {
    await reach(m, r, "Sta5")
    const e = inSta5(this.kind, this.codes)
    const step = `Sta5 + ${this.kind} ${this.codes.source}/${this.codes.reason}`
    r.activeAt = Date.now()
    connOf(r).send(bytesOf(this.kind, r.rq!, this.codes))
    const exit = await within(r.connecting!, SLACK, step)
    const user = outcome(exit)
    const back = show(await connOf(r).next(e.back.includes("timeout") ? QUIET : SLACK))
    r.trace.push(`${step} -> user ${user}, acceptor got ${back}`)
    assert.strictEqual(user, e.user, `${step}\n${traceOf(r)}`)
    assert.include(e.back, back, `${step}\n${traceOf(r)}`)
    if (user === "success") {
      r.channel = (exit as Exit.Success<DimseChannel.DimseChannel, unknown>).value
      m.state = "Sta6"
      return
    }
    await finish(m, r, step)
  }
  toString = () => `Answer(${this.kind}, ${JSON.stringify(this.codes)})`
}

// The acceptor says nothing: the requestor gives up at the ACSE timeout with an A-ABORT (AA-1, service-user source).
class Unanswered implements fc.AsyncCommand<Model, Real> {
  check = () => true
  async run(m: Model, r: Real) {
    await reach(m, r, "Sta5")
    const started = r.openedAt
    const exit = await within(r.connecting!, ACSE + SLACK, "unanswered A-ASSOCIATE-RQ")
    const back = show(await connOf(r).next(SLACK))
    r.trace.push(`Sta5 + silence -> user ${outcome(exit)}, acceptor got ${back}`)
    assert.strictEqual(outcome(exit), "AcseTimeout", traceOf(r))
    assert.isAtLeast(Date.now() - started, ACSE * 0.8)
    assert.strictEqual(back, "A-ABORT 0/0", traceOf(r))
    await finish(m, r, "Sta5 + silence")
  }
  toString = () => "Unanswered"
}

// The acceptor cuts the A-ASSOCIATE-AC at `at`, then sends the rest or closes.
class CutAc implements fc.AsyncCommand<Model, Real> {
  readonly at: number
  readonly ending: "rest" | "close" | "halfClose"
  constructor(at: number, ending: "rest" | "close" | "halfClose") {
    this.at = at
    this.ending = ending
  }
  check = () => true
  async run(m: Model, r: Real) {
    await reach(m, r, "Sta5")
    const bytes = acOf(r.rq!)
    const at = Math.min(this.at, bytes.length - 1)
    const conn = connOf(r)
    const step = `Sta5 + A-ASSOCIATE-AC cut at ${at} then ${this.ending}`
    conn.send(bytes.subarray(0, at))
    await new Promise((res) => setTimeout(res, QUIET / 2))
    r.activeAt = Date.now()
    if (this.ending === "rest") conn.send(bytes.subarray(at))
    else if (this.ending === "close") conn.destroy()
    else conn.socket.end()
    const exit = await within(r.connecting!, SLACK, step)
    r.trace.push(`${step} -> user ${outcome(exit)}`)
    if (this.ending === "rest") {
      assert.strictEqual(outcome(exit), "success", traceOf(r))
      r.channel = (exit as Exit.Success<DimseChannel.DimseChannel, unknown>).value
      m.state = "Sta6"
      return
    }
    // AA-4: an A-P-ABORT for the user
    assert.strictEqual(outcome(exit), "AssociationAborted provider 2/0", traceOf(r))
    if (this.ending === "close") r.conn = undefined
    await finish(m, r, step)
  }
  toString = () => `CutAc(${this.at}, ${this.ending})`
}

/** Table 9-10 for what the acceptor sends in Sta6: what it gets back, and what the user's next C-ECHO gets. */
const inSta6 = (kind: PeerKind, codes: Codes): { readonly back: ReadonlyArray<string>; readonly echo: string } => {
  switch (kind) {
    case "abort":
      return { back: ["closed"], echo: `AssociationAborted peer ${codes.source}/${codes.reason}` } // AA-3
    case "echoRq":
      // DT-2: the SCU refuses the request with a failure response (a C-ECHO-RSP, PS3.7), and serves on
      return { back: ["PDU 0x04"], echo: "success" }
    case "unknown":
      return { back: ["A-ABORT 2/1"], echo: "AssociationAborted provider 2/1" }
    case "releaseShort":
    case "pdataHuge":
    case "controlHuge":
      return { back: ["A-ABORT 2/6"], echo: "AssociationAborted provider 2/6" }
    case "echoRsp":
      // DT-2, then the DIMSE user drops a response to no request of its (logged); nothing else comes, so the idle
      // timeout, with nothing outstanding, releases (AR-1), and a C-ECHO then fails as on a released association (or,
      // once the unanswered A-RELEASE-RQ's ACSE timeout has passed, with that abort: AA-1, service-user source)
      return { back: ["PDU 0x05"], echo: "AssociationAborted provider 2/0|AssociationAborted user 0/0" }
    case "pdvBadContext":
      // DT-2, then the DIMSE user finds a context not accepted: it aborts (AA-1, service-user source), and its user
      // is told the channel's protocol error (by "provider", unlike the case above: see the report of attack24)
      return { back: ["A-ABORT 0/0"], echo: "AssociationAborted provider 0/0" }
    case "releaseRq":
      // AR-2, the user answers (AR-4): A-RELEASE-RP
      return { back: ["PDU 0x06"], echo: "AssociationAborted provider 2/0" }
    default:
      return { back: ["A-ABORT 2/2"], echo: "AssociationAborted provider 2/2" } // AA-8
  }
}

const echoNow = (r: Real) => Effect.runPromiseExit(Scu.echo(r.channel!))

class PeerSends implements fc.AsyncCommand<Model, Real> {
  readonly kind: PeerKind
  readonly codes: Codes
  readonly thenClose: boolean
  constructor(kind: PeerKind, codes: Codes, thenClose: boolean) {
    this.kind = kind
    this.codes = codes
    this.thenClose = thenClose
  }
  check = () => true
  async run(m: Model, r: Real) {
    await reach(m, r, "Sta6")
    const e = inSta6(this.kind, this.codes)
    const step = `Sta6 + ${this.kind} ${this.codes.source}/${this.codes.reason}`
    const conn = connOf(r)
    r.activeAt = Date.now()
    conn.send(bytesOf(this.kind, r.rq!, this.kind === "rj" ? { result: 1, source: 1, reason: 1 } : this.codes))
    const got = await conn.next(SLACK)
    const back = show(got)
    r.trace.push(`${step} -> acceptor got ${back}`)
    assert.include(e.back, back, `${step}\n${traceOf(r)}`)
    if (this.kind === "echoRq" && typeof got !== "string") {
      const rsp = Dimse.decode(new Uint8Array(Buffer.concat(pdvsOf(got.body).map((p) => p.data))))
      assert.isTrue(Result.isSuccess(rsp) && rsp.success._tag === "CEchoRsp" && rsp.success.status !== 0, step)
    }
    if (this.kind === "releaseRq") {
      // Sta13 after AR-4: the requestor waits for our close; without it, ARTIM closes (AA-2), not before
      const from = Date.now()
      if (this.thenClose) conn.destroy()
      else {
        assert.strictEqual(show(await conn.next(ACSE + SLACK)), "closed", `${step}: not closed at ARTIM`)
        assert.isAtLeast(Date.now() - from, ACSE * 0.8, `${step}: closed before ARTIM`)
      }
      r.conn = undefined
      // the association is over, released: a C-ECHO now fails at once
      const echo = outcome(await within(echoNow(r), SLACK, `${step}: C-ECHO after`))
      assert.match(echo, /^AssociationAborted/, `${step}: C-ECHO after the release: ${echo}`)
      return finish(m, r, step)
    }
    if (e.echo === "success") return
    const echo = outcome(await within(echoNow(r), SLACK, `${step}: C-ECHO after`))
    r.trace.push(`  C-ECHO -> ${echo}`)
    assert.include(e.echo.split("|"), echo, `${step}\n${traceOf(r)}`)
    await finish(m, r, step)
  }
  toString = () => `PeerSends(${this.kind}, ${JSON.stringify(this.codes)}, ${this.thenClose})`
}

// The user's C-ECHO, answered by the acceptor, or not (DIMSE timeout), or with an A-ABORT.
class UserEcho implements fc.AsyncCommand<Model, Real> {
  readonly answer: "rsp" | "silence" | "abort" | "close"
  readonly codes: Codes
  constructor(answer: "rsp" | "silence" | "abort" | "close", codes: Codes) {
    this.answer = answer
    this.codes = codes
  }
  check = () => true
  async run(m: Model, r: Real) {
    await reach(m, r, "Sta6")
    const step = `Sta6 + C-ECHO answered by ${this.answer}`
    const started = Date.now()
    const echo = echoNow(r)
    const conn = connOf(r)
    const rq = await conn.next(SLACK)
    assert.strictEqual(show(rq), "PDU 0x04", `${step}: the C-ECHO-RQ`)
    const cmd = Dimse.decode(new Uint8Array(Buffer.concat(pdvsOf((rq as RawPdu).body).map((p) => p.data))))
    assert.isTrue(Result.isSuccess(cmd) && cmd.success._tag === "CEchoRq", step)
    const messageId = (cmd as Result.Success<Dimse.CEchoRq, never>).success.messageId
    if (this.answer === "rsp") {
      r.activeAt = Date.now()
      conn.send(
        pdata(
          1,
          true,
          true,
          command({
            _tag: "CEchoRsp",
            messageIdBeingRespondedTo: messageId,
            affectedSopClassUid: VERIFICATION,
            status: 0
          })
        )
      )
    } else if (this.answer === "abort") conn.send(bytesOf("abort", r.rq!, this.codes))
    else if (this.answer === "close") conn.destroy()
    const exit = await within(echo, DIMSE + SLACK, step)
    r.trace.push(`${step} -> ${outcome(exit)}`)
    switch (this.answer) {
      case "rsp":
        assert.strictEqual(outcome(exit), "success", traceOf(r))
        return
      case "silence":
        assert.strictEqual(outcome(exit), "DimseTimeout", traceOf(r))
        assert.isAtLeast(Date.now() - started, DIMSE * 0.8)
        // the channel aborts the association it can no longer trust (AA-1, service-user source)
        assert.strictEqual(show(await conn.next(SLACK)), "A-ABORT 0/0", traceOf(r))
        break
      case "abort":
        assert.strictEqual(
          outcome(exit),
          `AssociationAborted peer ${this.codes.source}/${this.codes.reason}`,
          traceOf(r)
        )
        break
      case "close":
        assert.strictEqual(outcome(exit), "AssociationAborted provider 2/0", traceOf(r))
        r.conn = undefined
        break
    }
    await finish(m, r, step)
  }
  toString = () => `UserEcho(${this.answer}, ${JSON.stringify(this.codes)})`
}

// The user releases; the acceptor answers A-RELEASE-RP, nothing, its own A-RELEASE-RQ (a collision), or A-ABORT.
class UserRelease implements fc.AsyncCommand<Model, Real> {
  readonly answer: "rp" | "silence" | "collision" | "abort"
  readonly codes: Codes
  constructor(answer: "rp" | "silence" | "collision" | "abort", codes: Codes) {
    this.answer = answer
    this.codes = codes
  }
  check = () => true
  async run(m: Model, r: Real) {
    await reach(m, r, "Sta6")
    const step = `Sta6 + release answered by ${this.answer}`
    const started = Date.now()
    const release = Effect.runPromiseExit(r.channel!.association.release)
    const conn = connOf(r)
    assert.strictEqual(show(await conn.next(SLACK)), "PDU 0x05", `${step}: the A-RELEASE-RQ`)
    const rp = Uint8Array.of(0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0)
    if (this.answer === "rp") conn.send(rp)
    else if (this.answer === "abort") conn.send(bytesOf("abort", r.rq!, this.codes))
    else if (this.answer === "collision") {
      // Sta7 + Evt12: AR-8 (Sta9, requestor), the user answers: AR-9 sends A-RELEASE-RP (Sta11)
      conn.send(Uint8Array.of(0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0))
      assert.strictEqual(show(await conn.next(SLACK)), "PDU 0x06", `${step}: the A-RELEASE-RP of AR-9`)
      conn.send(rp) // Sta11 + Evt13: AR-3
    }
    const exit = await within(release, ACSE + SLACK, step)
    r.trace.push(`${step} -> ${outcome(exit)}`)
    switch (this.answer) {
      case "rp":
      case "collision":
        assert.strictEqual(outcome(exit), "success", traceOf(r))
        // AR-3: the requestor closes the connection
        assert.strictEqual(show(await conn.next(SLACK)), "closed", traceOf(r))
        break
      case "silence":
        assert.strictEqual(outcome(exit), "AcseTimeout", traceOf(r))
        assert.isAtLeast(Date.now() - started, ACSE * 0.8)
        assert.strictEqual(show(await conn.next(SLACK)), "A-ABORT 0/0", traceOf(r))
        break
      case "abort":
        assert.strictEqual(
          outcome(exit),
          `AssociationAborted peer ${this.codes.source}/${this.codes.reason}`,
          traceOf(r)
        )
        break
    }
    await finish(m, r, step)
  }
  toString = () => `UserRelease(${this.answer}, ${JSON.stringify(this.codes)})`
}

// Nobody sends anything: past the idle timeout the requestor, with nothing outstanding, releases (AR-1); the acceptor
// leaves its A-RELEASE-RQ unanswered, so past the ACSE timeout it aborts (AA-1, service-user source).
class Idle implements fc.AsyncCommand<Model, Real> {
  check = () => true
  async run(m: Model, r: Real) {
    await reach(m, r, "Sta6")
    const started = r.activeAt
    const got = show(await connOf(r).next(IDLE + SLACK))
    r.trace.push(`Sta6 + silence -> acceptor got ${got}`)
    assert.strictEqual(got, "PDU 0x05", traceOf(r))
    assert.isAtLeast(Date.now() - started, IDLE * 0.8)
    const released = Date.now()
    const then = show(await connOf(r).next(ACSE + SLACK))
    r.trace.push(`Sta7 + silence -> acceptor got ${then}`)
    assert.strictEqual(then, "A-ABORT 0/0", traceOf(r))
    assert.isAtLeast(Date.now() - released, ACSE * 0.8)
    const echo = outcome(await within(echoNow(r), SLACK, "C-ECHO after the idle abort"))
    assert.strictEqual(echo, "AssociationAborted user 0/0", traceOf(r))
    await finish(m, r, "Sta6 + silence")
  }
  toString = () => "Idle"
}

const sta5Kinds: ReadonlyArray<PeerKind> = [
  "ac",
  "rj",
  "abort",
  "rq",
  "releaseRq",
  "releaseRp",
  "echoRsp",
  "unknown",
  "releaseShort",
  "pdataHuge",
  "controlHuge"
]
const sta6Kinds: ReadonlyArray<PeerKind> = [
  "abort",
  "echoRq",
  "echoRsp",
  "pdvBadContext",
  "unknown",
  "releaseShort",
  "pdataHuge",
  "controlHuge",
  "releaseRq",
  "rq",
  "ac",
  "rj",
  "releaseRp"
]

const commands = fc.commands(
  [
    fc.constantFrom(...sta5Kinds).chain((k) => (k === "rj" ? rjCodes : abortCodes).map((c) => new Answer(k, c))),
    fc.constant(new Unanswered()),
    fc
      .tuple(
        fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constant(6), fc.integer({ min: 7, max: 200 })),
        fc.constantFrom("rest" as const, "rest" as const, "close" as const, "halfClose" as const)
      )
      .map(([at, ending]) => new CutAc(at, ending)),
    fc.tuple(fc.constantFrom(...sta6Kinds), abortCodes, fc.boolean()).map(([k, c, t]) => new PeerSends(k, c, t)),
    fc.tuple(fc.constantFrom(...sta6Kinds), abortCodes, fc.boolean()).map(([k, c, t]) => new PeerSends(k, c, t)),
    fc
      .tuple(
        fc.constantFrom("rsp" as const, "rsp" as const, "silence" as const, "abort" as const, "close" as const),
        abortCodes
      )
      .map(([a, c]) => new UserEcho(a, c)),
    fc
      .tuple(fc.constantFrom("rp" as const, "silence" as const, "collision" as const, "abort" as const), abortCodes)
      .map(([a, c]) => new UserRelease(a, c)),
    fc.constant(new Idle())
  ],
  { maxCommands: 6, size: "max" }
)

describe("model-based: the requestor's state machine (PS3.8 Table 9-10) against a scripted acceptor", () => {
  it.live(
    "every command sequence gives the acceptor and the user what PS3.8 requires, typed and bounded; nothing leaks",
    () =>
      Effect.gen(function* () {
        const unhandled: Array<string> = []
        const onError = (e: unknown) => unhandled.push(String(e))
        process.on("uncaughtException", onError)
        process.on("unhandledRejection", onError)
        const traces: Array<string> = []
        const socketsBefore = process.getActiveResourcesInfo().filter((n) => n === "TCPSocketWrap").length
        const acceptor = yield* Effect.promise(() => rawAcceptor())
        const runOnce = async (cmds: Iterable<fc.AsyncCommand<Model, Real>>) => {
          const real: Real = {
            acceptor,
            conn: undefined,
            rq: undefined,
            scope: undefined,
            connecting: undefined,
            channel: undefined,
            openedAt: 0,
            activeAt: 0,
            trace: []
          }
          const model: Model = { state: "none" }
          try {
            await fc.asyncModelRun(() => ({ model, real }), cmds)
            await finish(model, real, "end of run")
          } finally {
            traces.push(...real.trace)
            real.conn?.destroy()
            if (real.scope !== undefined) await Effect.runPromise(Scope.close(real.scope, Exit.void))
          }
        }
        const result = yield* Effect.promise(() =>
          fc
            .assert(
              fc.asyncProperty(commands, (cmds) => runOnce(cmds)),
              { numRuns, seed, endOnFailure: true }
            )
            .then(
              () => undefined,
              (e: unknown) => String(e instanceof Error ? `${e.message}\n${String(e.cause)}` : e)
            )
        )
        acceptor.close()
        yield* Effect.sleep("100 millis")
        process.off("uncaughtException", onError)
        process.off("unhandledRejection", onError)
        if (process.env["NETDICOM_MODEL_TRACE"]) console.log(traces.join("\n"))
        assert.isUndefined(result, result)
        assert.deepStrictEqual(unhandled, [])
        const socketsAfter = process.getActiveResourcesInfo().filter((n) => n === "TCPSocketWrap").length
        assert.isAtMost(socketsAfter, socketsBefore, "sockets left open")
      }),
    60_000
  )
})
