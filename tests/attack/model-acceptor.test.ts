/**
 * Model-based attack on the acceptor's PS3.8 state machine (Table 9-10) over real sockets: fast-check's
 * `fc.commands` drives a raw peer against a netdicom SCP (Verification and Storage), with ARTIM and the idle timeout
 * set low. The model knows the SCP's state as the peer can tell it (Sta2 connected, Sta6 associated, Sta13 released
 * and waiting for our close) and, for each stimulus, what PS3.8 requires: the reply (A-ASSOCIATE-AC, -RJ with the
 * standard's result/source/reason, A-RELEASE-RP, A-ABORT with source and reason per the AA-x action, a C-ECHO-RSP, or
 * nothing) and whether the connection closes at once (AA-2, AA-3, AA-4, AA-5, AR-5) or when ARTIM expires (AE-8, AR-4,
 * AA-1, AA-7, AA-8), not before. After each run the server must have no association or pending connection left and
 * serve a fresh association; after all runs no unhandled rejection or uncaught exception, and no socket left.
 *
 * Seed and command count: NETDICOM_MODEL_SEED, NETDICOM_MODEL_RUNS; a failure prints fast-check's seed and replay path.
 * Where the library chose (PS3.8 leaves it open or the library documents a deviation) the model says so inline.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import {
  associateRq,
  command,
  connectPeer,
  describe as show,
  echoStillWorks,
  encode,
  pdata,
  type Peer,
  promise,
  type RawPdu,
  startScp,
  VERIFICATION
} from "./support.ts"

const ARTIM = 200
const IDLE = 500
// How late a timer may fire on a loaded machine before the model calls it a hang.
const SLACK = 1500
// How long "nothing is sent" is watched for.
const QUIET = 120

const seed = Number(process.env["NETDICOM_MODEL_SEED"] ?? 24)
const numRuns = Number(process.env["NETDICOM_MODEL_RUNS"] ?? 16)

// ---- stimuli: whole PDUs, each with what it is to the state machine ----
type Kind =
  | "rq"
  | "rqCalledAe"
  | "rqVersion"
  | "rqContext"
  | "ac"
  | "rj"
  | "releaseRq"
  | "releaseRp"
  | "abort"
  | "unknown"
  | "echo"
  | "pdvBadContext"
  | "pdvDataFirst"
  | "pdvTooShort"
  | "pdvOverrun"
  | "pdataEmpty"
  | "pdataHuge"
  | "controlHuge"
  | "releaseShort"

const echoRq = () => pdata(1, true, true, command({ _tag: "CEchoRq", messageId: 7, affectedSopClassUid: VERIFICATION }))

const bytesOf = (kind: Kind): Uint8Array => {
  switch (kind) {
    case "rq":
      return encode(associateRq())
    case "rqCalledAe":
      return encode(associateRq({ calledAeTitle: "SOMEONE-ELSE" }))
    case "rqVersion":
      return encode(associateRq({ protocolVersion: 2 }))
    case "rqContext":
      return encode(associateRq({ applicationContextName: "1.2.3.4.5" }))
    case "ac":
      return encode({ ...associateRq(), _tag: "AAssociateAc", presentationContexts: [] })
    case "rj":
      return Uint8Array.of(0x03, 0, 0, 0, 0, 4, 0, 1, 1, 1)
    case "releaseRq":
      return Uint8Array.of(0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0)
    case "releaseRp":
      return Uint8Array.of(0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0)
    case "abort":
      return Uint8Array.of(0x07, 0, 0, 0, 0, 4, 0, 0, 0, 0)
    case "unknown":
      return Uint8Array.of(0x0a, 0, 0, 0, 0, 4, 0, 0, 0, 0)
    case "echo":
      return echoRq()
    case "pdvBadContext":
      return pdata(9, true, true, command({ _tag: "CEchoRq", messageId: 8, affectedSopClassUid: VERIFICATION }))
    case "pdvDataFirst":
      return pdata(1, false, true, new Uint8Array(8))
    case "pdvTooShort":
      // a PDV item of length 1: no room for its message control header (PS3.8 9.3.5.1)
      return Uint8Array.of(0x04, 0, 0, 0, 0, 5, 0, 0, 0, 1, 1)
    case "pdvOverrun":
      // a PDV item claiming 100 bytes in a PDU of 8
      return Uint8Array.of(0x04, 0, 0, 0, 0, 8, 0, 0, 0, 100, 1, 3, 0, 0)
    case "pdataEmpty":
      return Uint8Array.of(0x04, 0, 0, 0, 0, 0)
    case "pdataHuge":
      return Uint8Array.of(0x04, 0, 0xff, 0xff, 0xff, 0xff)
    case "controlHuge":
      return Uint8Array.of(0x05, 0, 0x7f, 0xff, 0xff, 0xff)
    case "releaseShort":
      return Uint8Array.of(0x05, 0, 0, 0, 0, 2, 0, 0)
  }
}

// What a stimulus is to Table 9-10: its event, and for Evt19 the A-ABORT reason PS3.8 Table 9-26 gives it.
const eventOf = (
  kind: Kind
): {
  readonly evt: "Evt3" | "Evt4" | "Evt6" | "Evt10" | "Evt12" | "Evt13" | "Evt16" | "Evt19"
  readonly reason?: number
} => {
  switch (kind) {
    case "rq":
    case "rqCalledAe":
    case "rqVersion":
    case "rqContext":
      return { evt: "Evt6" }
    case "ac":
      return { evt: "Evt3" }
    case "rj":
      return { evt: "Evt4" }
    case "releaseRq":
      return { evt: "Evt12" }
    case "releaseRp":
      return { evt: "Evt13" }
    case "abort":
      return { evt: "Evt16" }
    case "unknown":
      return { evt: "Evt19", reason: 1 }
    case "echo":
    case "pdvBadContext":
    case "pdvDataFirst":
      return { evt: "Evt10" }
    case "pdvTooShort":
    case "pdvOverrun":
    case "pdataEmpty":
    case "pdataHuge":
    case "controlHuge":
    case "releaseShort":
      return { evt: "Evt19", reason: 6 }
  }
}

// ---- the model ----
type State = "none" | "Sta2" | "Sta6" | "Sta13"

interface Model {
  state: State
}

/** What the peer must see: a reply (or nothing), then the connection open in a state, closed at once, or at ARTIM. */
interface Expect {
  readonly reply: ReadonlyArray<string>
  readonly after:
    | { readonly _tag: "open"; readonly state: State }
    | { readonly _tag: "closesNow" }
    | { readonly _tag: "closesAtArtim" }
}

const NOTHING = "timeout"
const open = (state: State): Expect["after"] => ({ _tag: "open", state })
const now: Expect["after"] = { _tag: "closesNow" }
const atArtim: Expect["after"] = { _tag: "closesAtArtim" }

/** Table 9-10 for the stimuli a peer can send, in the states it can see. */
const expectFor = (state: State, kind: Kind): Expect => {
  const { evt, reason } = eventOf(kind)
  if (state === "Sta2") {
    if (evt === "Evt6") {
      // AE-6 then the local user's answer (AE-7 or AE-8 with PS3.8 Table 9-21's result/source/reason)
      if (kind === "rq") return { reply: ["PDU 0x02"], after: open("Sta6") }
      if (kind === "rqVersion") return { reply: ["A-ASSOCIATE-RJ 1/2/2"], after: atArtim }
      if (kind === "rqCalledAe") return { reply: ["A-ASSOCIATE-RJ 1/1/7"], after: atArtim }
      return { reply: ["A-ASSOCIATE-RJ 1/1/2"], after: atArtim }
    }
    // AA-2: close, no PDU
    if (evt === "Evt16") return { reply: ["closed"], after: now }
    // AA-1. PS3.8 says service-user source; the library sends service-provider source with the reason (documented
    // in UpperLayer's AA-1: it tells the peer more), pinned by state-machine.test.ts.
    return { reply: [`A-ABORT 2/${reason ?? 2}`], after: atArtim }
  }
  if (state === "Sta6") {
    if (evt === "Evt16") return { reply: ["closed"], after: now } // AA-3
    if (evt === "Evt12") return { reply: ["PDU 0x06"], after: atArtim } // AR-2, the user answers: AR-4
    if (kind === "echo") return { reply: ["PDU 0x04"], after: open("Sta6") } // DT-2, the SCP answers with DT-1
    // A PDV the DIMSE layer cannot take (a context not accepted, a data set with no command): its user aborts (AA-1,
    // service-user source); PS3.8 leaves it to the user.
    if (evt === "Evt10") return { reply: ["A-ABORT 0/0"], after: atArtim }
    return { reply: [`A-ABORT 2/${reason ?? 2}`], after: atArtim } // AA-8
  }
  // Sta13 after our release (AR-4 started ARTIM): AA-6 ignores, AA-7 sends an A-ABORT, AA-2 closes.
  if (evt === "Evt16") return { reply: ["closed"], after: now }
  if (evt === "Evt6" || evt === "Evt19") return { reply: ["A-ABORT 2/2", `A-ABORT 2/${reason ?? 2}`], after: atArtim }
  return { reply: [NOTHING], after: atArtim }
}

// ---- the real system: one SCP for every run, a raw peer per connection ----
interface Real {
  readonly port: number
  peer: Peer | undefined
  // When the ARTIM timer the model expects to end the connection was started (ms, Date.now).
  artimFrom: number
  // When the last PDU went either way in Sta6 (the idle timer's start).
  activeAt: number
  readonly trace: Array<string>
}

// A command issued with no connection open opens one first (Sta1 + Evt5, AE-5): every command applies in every state.
const ensureConnected = async (m: Model, r: Real) => {
  if (m.state !== "none") return
  r.peer = await connectPeer(r.port)
  r.artimFrom = Date.now() // AE-5 starts ARTIM
  r.trace.push("connect")
  m.state = "Sta2"
}

// Brings the connection to `want` the way a peer would (A-ASSOCIATE-RQ, then A-RELEASE-RQ), each step checked
// against the model like any other; from a state past `want` (Sta13 when Sta6 was wanted) the command applies there.
const reach = async (m: Model, r: Real, want: State) => {
  await ensureConnected(m, r)
  const order: ReadonlyArray<State> = ["Sta2", "Sta6", "Sta13"]
  while (m.state !== "none" && order.indexOf(m.state) < order.indexOf(want)) {
    const kind: Kind = m.state === "Sta2" ? "rq" : "releaseRq"
    const e = expectFor(m.state, kind)
    const step = `${m.state} + ${kind}`
    peerOf(r).send(bytesOf(kind))
    // the wait in Sta13 for our close is the command's to watch, not this one's
    await expectReply(r, e.after._tag === "closesAtArtim" ? { ...e, after: open("Sta13") } : e, step, SLACK)
    if (e.after._tag === "closesAtArtim") r.artimFrom = Date.now() // AR-4 starts ARTIM
    m.state = e.after._tag === "open" ? e.after.state : "Sta13"
    await ensureConnected(m, r)
  }
}

const peerOf = (r: Real): Peer => {
  if (r.peer === undefined) throw new Error("no connection")
  return r.peer
}

const shown = (p: RawPdu | "closed" | "timeout") => show(p)

// Waits for the close the model expects and checks when it came.
const closing = async (r: Real, after: Expect["after"], step: string) => {
  const peer = peerOf(r)
  if (after._tag === "open") return
  const limit = after._tag === "closesNow" ? SLACK : ARTIM + SLACK
  const extra = await peer.next(limit)
  const at = Date.now()
  assert.strictEqual(shown(extra), "closed", `${step}: expected the connection to close, got ${shown(extra)}`)
  if (after._tag === "closesAtArtim") {
    // ARTIM (PS3.8 9.1.5): not before it expires (a timer fires late under load, never early)
    assert.isAtLeast(at - r.artimFrom, ARTIM * 0.8, `${step}: closed ${at - r.artimFrom} ms after ARTIM started`)
  }
  peer.destroy()
  r.peer = undefined
}

// `restart`: whether the reply starts ARTIM (AE-8, AR-4, AA-1, AA-8), or leaves the one running in Sta13 (AA-7).
const expectReply = async (r: Real, e: Expect, step: string, wait: number, restart = true) => {
  const peer = peerOf(r)
  const got = await peer.next(e.reply.includes(NOTHING) ? QUIET : wait)
  const seen = shown(got)
  r.trace.push(`${step} -> ${seen}`)
  assert.include(e.reply, seen, `${step}: expected ${e.reply.join(" or ")}, got ${seen}\n${r.trace.join("\n")}`)
  if (seen !== NOTHING && seen !== "closed") {
    // a reply that starts ARTIM (AE-8, AR-4, AA-1, AA-7, AA-8) starts it as it is sent
    if (e.after._tag === "closesAtArtim" && restart) r.artimFrom = Date.now()
    r.activeAt = Date.now()
  }
  if (seen === "closed") {
    peer.destroy()
    r.peer = undefined
    return
  }
  await closing(r, e.after, step)
}

const advance = (m: Model, e: Expect) => {
  m.state = e.after._tag === "open" ? e.after.state : "none"
}

class Connect implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.state === "none"
  async run(m: Model, r: Real) {
    await ensureConnected(m, r)
  }
  toString = () => "Connect"
}

class Send implements fc.AsyncCommand<Model, Real> {
  readonly kind: Kind
  readonly want: State
  constructor(kind: Kind, want: State = "Sta2") {
    this.kind = kind
    this.want = want
  }
  check = () => true
  async run(m: Model, r: Real) {
    await reach(m, r, this.want)
    const e = expectFor(m.state, this.kind)
    const step = `${m.state} + ${this.kind}`
    // In Sta13 the ARTIM timer started by AR-4 keeps running: the reply to this stimulus does not restart it, and
    // it may expire as the stimulus comes.
    peerOf(r).send(bytesOf(this.kind))
    const sta13 = m.state === "Sta13"
    await expectReply(r, sta13 ? { ...e, reply: [...e.reply, "closed"] } : e, step, SLACK, !sta13)
    advance(m, e)
  }
  toString = () => `Send(${this.kind}, in ${this.want})`
}

// A PDU cut at `at` (inside the header, at its end, inside the body), then the rest, a half-close or silence.
class Cut implements fc.AsyncCommand<Model, Real> {
  readonly kind: Kind
  readonly at: number
  readonly ending: "rest" | "halfClose" | "silence"
  readonly want: State
  constructor(kind: Kind, at: number, ending: "rest" | "halfClose" | "silence", want: State = "Sta2") {
    this.kind = kind
    this.at = at
    this.ending = ending
    this.want = want
  }
  check = () => true
  async run(m: Model, r: Real) {
    await reach(m, r, this.want)
    const bytes = bytesOf(this.kind)
    const at = Math.min(this.at, bytes.length - 1)
    const peer = peerOf(r)
    const step = `${m.state} + ${this.kind} cut at ${at} then ${this.ending}`
    peer.send(bytes.subarray(0, at))
    // nothing may come for part of a PDU, but a header may be judged alone: an unknown type, a hostile length
    const early = await peer.next(QUIET / 2)
    if ((this.kind === "pdataHuge" || this.kind === "controlHuge" || this.kind === "unknown") && at >= 6) {
      if (shown(early) !== NOTHING) {
        r.trace.push(`${step}: ${shown(early)} on the header`)
        return this.whole(m, r, step, shown(early))
      }
    } else assert.strictEqual(shown(early), NOTHING, `${step}: a reply to part of a PDU`)
    if (this.ending === "rest") {
      const e = expectFor(m.state, this.kind)
      peer.send(bytes.subarray(at))
      const sta13 = m.state === "Sta13"
      await expectReply(r, sta13 ? { ...e, reply: [...e.reply, "closed"] } : e, step, SLACK, !sta13)
      return advance(m, e)
    }
    if (this.ending === "halfClose") {
      // Evt17: AA-5 (Sta2), AA-4 (Sta6), AR-5 (Sta13): closed, nothing sent
      peer.socket.end()
      const got = await peer.next(SLACK)
      r.trace.push(`${step} -> ${shown(got)}`)
      assert.strictEqual(shown(got), "closed", `${step}\n${r.trace.join("\n")}`)
      peer.destroy()
      r.peer = undefined
      m.state = "none"
      return
    }
    return silence(m, r, step)
  }
  // A hostile length answered on its header: what the whole PDU would have been answered with.
  async whole(m: Model, r: Real, step: string, seen: string) {
    const e = expectFor(m.state, this.kind)
    const reply = m.state === "Sta13" ? [...e.reply, "closed"] : e.reply
    assert.include(reply, seen, step)
    if (seen === "closed") {
      peerOf(r).destroy()
      r.peer = undefined
    } else {
      if (m.state !== "Sta13") r.artimFrom = Date.now()
      await closing(r, e.after, step)
    }
    advance(m, e)
  }
  toString = () => `Cut(${this.kind}, ${this.at}, ${this.ending}, in ${this.want})`
}

// Silence past ARTIM and the idle timeout: Sta2 closes at ARTIM (AA-2), Sta6 is aborted when idle (AA-1 of the
// library's idle timeout: service-user source) and then closed at ARTIM, Sta13 closes at ARTIM (AA-2).
const silence = async (m: Model, r: Real, step: string) => {
  const peer = peerOf(r)
  if (m.state === "Sta6") {
    const got = await peer.next(IDLE + SLACK)
    r.trace.push(`${step} -> ${shown(got)}`)
    assert.strictEqual(shown(got), "A-ABORT 0/0", `${step}\n${r.trace.join("\n")}`)
    assert.isAtLeast(Date.now() - r.activeAt, IDLE * 0.8, `${step}: aborted as idle too soon`)
    r.artimFrom = Date.now()
  }
  await closing(r, atArtim, step)
  m.state = "none"
}

class Silence implements fc.AsyncCommand<Model, Real> {
  readonly want: State
  constructor(want: State = "Sta2") {
    this.want = want
  }
  check = () => true
  async run(m: Model, r: Real) {
    await reach(m, r, this.want)
    return silence(m, r, `${m.state} + silence`)
  }
  toString = () => `Silence(in ${this.want})`
}

class HalfClose implements fc.AsyncCommand<Model, Real> {
  readonly want: State
  constructor(want: State = "Sta2") {
    this.want = want
  }
  check = () => true
  async run(m: Model, r: Real) {
    await reach(m, r, this.want)
    const peer = peerOf(r)
    peer.socket.end()
    const got = await peer.next(SLACK)
    r.trace.push(`${m.state} + half-close -> ${shown(got)}`)
    assert.strictEqual(shown(got), "closed", r.trace.join("\n"))
    peer.destroy()
    r.peer = undefined
    m.state = "none"
  }
  toString = () => `HalfClose(in ${this.want})`
}

class Reset implements fc.AsyncCommand<Model, Real> {
  readonly want: State
  constructor(want: State = "Sta2") {
    this.want = want
  }
  check = () => true
  async run(m: Model, r: Real) {
    await reach(m, r, this.want)
    peerOf(r).socket.resetAndDestroy()
    r.peer = undefined
    r.trace.push(`${m.state} + reset`)
    m.state = "none"
  }
  toString = () => `Reset(in ${this.want})`
}

const kinds: ReadonlyArray<Kind> = [
  "rq",
  "rqCalledAe",
  "rqVersion",
  "rqContext",
  "ac",
  "rj",
  "releaseRq",
  "releaseRp",
  "abort",
  "unknown",
  "echo",
  "pdvBadContext",
  "pdvDataFirst",
  "pdvTooShort",
  "pdvOverrun",
  "pdataEmpty",
  "pdataHuge",
  "controlHuge",
  "releaseShort"
]

const where = fc.constantFrom<State>("Sta2", "Sta6", "Sta6", "Sta13")

const commands = fc.commands(
  [
    fc.constant(new Connect()),
    fc.tuple(fc.constantFrom(...kinds), where).map(([k, w]) => new Send(k, w)),
    fc.tuple(fc.constantFrom(...kinds), where).map(([k, w]) => new Send(k, w)),
    fc.tuple(fc.constantFrom<Kind>("echo", "releaseRq"), where).map(([k, w]) => new Send(k, w)),
    fc
      .tuple(
        fc.constantFrom<Kind>("rq", "echo", "releaseRq", "abort", "unknown", "pdataHuge", "controlHuge", "pdvOverrun"),
        // inside the header, at its end, inside the body
        fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constant(6), fc.integer({ min: 7, max: 400 })),
        fc.constantFrom("rest" as const, "rest" as const, "halfClose" as const, "silence" as const),
        where
      )
      .map(([k, at, ending, w]) => new Cut(k, at, ending, w)),
    where.map((w) => new Silence(w)),
    where.map((w) => new HalfClose(w)),
    where.map((w) => new Reset(w))
  ],
  { maxCommands: 8, size: "max" }
)

const settled = (server: { readonly active: Effect.Effect<number>; readonly pending: Effect.Effect<number> }) =>
  Effect.gen(function* () {
    const deadline = Date.now() + ARTIM + SLACK
    while (Date.now() < deadline) {
      if ((yield* server.active) === 0 && (yield* server.pending) === 0) return true
      yield* Effect.sleep("20 millis")
    }
    return false
  })

describe("model-based: the acceptor's state machine (PS3.8 Table 9-10) against a raw peer", () => {
  it.live(
    "every command sequence gets the reply and the close PS3.8 requires; the server serves on; nothing leaks",
    () =>
      Effect.gen(function* () {
        const unhandled: Array<string> = []
        const onError = (e: unknown) => unhandled.push(String(e))
        process.on("uncaughtException", onError)
        process.on("unhandledRejection", onError)
        const traces: Array<string> = []
        const socketsBefore = process.getActiveResourcesInfo().filter((n) => n === "TCPSocketWrap").length
        yield* Effect.scoped(
          Effect.gen(function* () {
            const server = yield* startScp({ timeouts: { acse: `${ARTIM} millis`, idle: `${IDLE} millis` } })
            const runOnce = async (cmds: Iterable<fc.AsyncCommand<Model, Real>>) => {
              const real: Real = { port: server.port, peer: undefined, artimFrom: 0, activeAt: 0, trace: [] }
              try {
                // every run begins connected (Sta2)
                await fc.asyncModelRun(async () => {
                  const model: Model = { state: "none" }
                  await new Connect().run(model, real)
                  return { model, real }
                }, cmds)
              } finally {
                real.peer?.destroy()
              }
              traces.push(...real.trace)
              const quiet = await Effect.runPromise(settled(server))
              assert.isTrue(quiet, `associations or pending connections left after: ${real.trace.join(", ")}`)
              assert.isTrue(await echoStillWorks(server.port), "a fresh C-ECHO failed")
            }
            yield* promise(() =>
              fc.assert(
                fc.asyncProperty(commands, (cmds) => runOnce(cmds)),
                { numRuns, seed, endOnFailure: true }
              )
            )
          })
        )
        yield* Effect.sleep("100 millis")
        process.off("uncaughtException", onError)
        process.off("unhandledRejection", onError)
        assert.deepStrictEqual(unhandled, [])
        if (process.env["NETDICOM_MODEL_TRACE"]) console.log(traces.join("\n"))
        const socketsAfter = process.getActiveResourcesInfo().filter((n) => n === "TCPSocketWrap").length
        assert.isAtMost(socketsAfter, socketsBefore, "sockets left open after the server stopped")
      }),
    60_000
  )
})
