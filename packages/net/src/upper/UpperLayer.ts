/**
 * The DICOM upper layer protocol machine (PS3.8 section 9.2) running as one Effect fiber.
 *
 * Events from the transport (PDUs, close), the ARTIM timer and the local user go into one queue;
 * the fiber takes each, looks it up in `StateTable`, runs the action and logs one debug line per
 * transition. Indications for the user come out of `indications`. No polling anywhere.
 *
 * One deliberate shortcut: a P-DATA request (Evt9) in Sta6 or Sta8 is a self-loop (DT-1/AR-7), so
 * `sendPData` writes on the caller's fiber under the machine's write lock instead of queueing.
 * A slow reader of indications then cannot block a writer, and data is written without a hop.
 * Received P-DATA is bounded: the transport is not read further while `pdataWindow` P-DATA
 * indications wait to be taken, so a slow consumer applies TCP backpressure to the peer.
 *
 * Not here: negotiation (what to accept) and DIMSE; this layer only moves PDUs and keeps state.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import { type Pdu, PduCodec, PduParser, PduSummary } from "@netdicom/wire"
import * as ReceivedBytes from "./ReceivedBytes.ts"
import * as Table from "./StateTable.ts"
import * as Timers from "./Timers.ts"
import { type ConnectFailed, readsGivenAwayBy, type Transport } from "./Transport.ts"

/** Primitives the local user issues (PS3.8 section 9.2.1 events from the user). */
export type UserPrimitive =
  | { readonly _tag: "AssociateRequest"; readonly rq: Pdu.AAssociateRq }
  | { readonly _tag: "AssociateAccept"; readonly ac: Pdu.AAssociateAc }
  | { readonly _tag: "AssociateReject"; readonly rj: Pdu.AAssociateRj }
  | { readonly _tag: "ReleaseRequest" }
  | { readonly _tag: "ReleaseResponse" }
  | { readonly _tag: "AbortRequest" }

/** What the machine tells its user. */
export type Indication =
  | { readonly _tag: "AssociateIndication"; readonly rq: Pdu.AAssociateRq }
  | { readonly _tag: "AssociateAccepted"; readonly ac: Pdu.AAssociateAc }
  | { readonly _tag: "AssociateRejected"; readonly rj: Pdu.AAssociateRj }
  | { readonly _tag: "PData"; readonly pdu: Pdu.PDataTf }
  | { readonly _tag: "ReleaseIndication"; readonly collision: boolean }
  | { readonly _tag: "ReleaseConfirm" }
  | { readonly _tag: "Aborted"; readonly abort: AbortInfo }
  | { readonly _tag: "Closed" }

/** Why an association ended abnormally: an A-ABORT from the peer, or a provider abort (A-P-ABORT). */
export interface AbortInfo {
  /** "peer" for a received A-ABORT, "provider" for a protocol or transport failure, "user" for our own A-ABORT. */
  readonly by: "peer" | "provider" | "user"
  readonly source: number
  readonly reason: number
  readonly detail: string
  readonly connectFailed?: ConnectFailed
}

/**
 * Takes received P-DATA on the reader's fiber, synchronously; returns an effect to wait on before the
 * next PDU is taken (backpressure, logging), or `undefined` to go straight on.
 */
export type PDataReceiver = (pdu: Pdu.PDataTf) => Effect.Effect<void> | undefined

/** A P-DATA request outside Sta6/Sta8, or after the connection is gone. */
export class NotEstablished extends Data.TaggedError("NotEstablished")<{ readonly state: Table.State }> {
  override get message(): string {
    return `no established association (state ${this.state})`
  }
}

type Input =
  | { readonly evt: "Evt1"; readonly rq: Pdu.AAssociateRq }
  | { readonly evt: "Evt2"; readonly transport: Transport }
  | { readonly evt: "Evt3"; readonly ac: Pdu.AAssociateAc }
  | { readonly evt: "Evt4"; readonly rj: Pdu.AAssociateRj }
  | { readonly evt: "Evt5" }
  | { readonly evt: "Evt6"; readonly rq: Pdu.AAssociateRq }
  | { readonly evt: "Evt7"; readonly ac: Pdu.AAssociateAc }
  | { readonly evt: "Evt8"; readonly rj: Pdu.AAssociateRj }
  | { readonly evt: "Evt10"; readonly pdu: Pdu.PDataTf }
  | { readonly evt: "Evt11" }
  | { readonly evt: "Evt12" }
  | { readonly evt: "Evt13" }
  | { readonly evt: "Evt14" }
  | { readonly evt: "Evt15"; readonly detail?: string }
  | { readonly evt: "Evt16"; readonly abort: Pdu.AAbort }
  | { readonly evt: "Evt17"; readonly detail: string; readonly connectFailed?: ConnectFailed }
  | { readonly evt: "Evt18" }
  | { readonly evt: "Evt19"; readonly reason: number; readonly detail: string }

/** How to build a machine. */
export interface UpperLayerOptions {
  readonly role: "requestor" | "acceptor"
  /** Our Maximum Length: the largest P-DATA-TF we accept (0 = no limit). */
  readonly maxPduLength: number
  /** The ARTIM timeout (PS3.8 9.1.5). */
  readonly artim: Duration.Input
  /** Requestor: opens the transport (AE-1). */
  readonly connect?: Effect.Effect<Transport, ConnectFailed, Scope.Scope>
  /** Acceptor: the connection that arrived (Evt5). */
  readonly transport?: Transport
  /** With no PDU in either direction for this long in Sta6, the association is aborted (default: never). */
  readonly idle?: Duration.Input
  /** P-DATA indications that may wait untaken before the transport is no longer read (default 16). */
  readonly pdataWindow?: number
}

/** A running upper-layer machine. */
export interface UpperLayer {
  readonly state: Effect.Effect<Table.State>
  /** Issues a user primitive. */
  readonly submit: (primitive: UserPrimitive) => Effect.Effect<void>
  /**
   * Sends encoded P-DATA-TF PDUs (DT-1 / AR-7), in order, with backpressure, in one vectored write:
   * the pieces may split PDUs anywhere (a header, then views of the data), as long as they join into whole PDUs.
   */
  readonly sendPData: (pdus: ReadonlyArray<Uint8Array>) => Effect.Effect<void, NotEstablished>
  /**
   * `sendPData` of a whole DIMSE message begun now, from within a running effect: when the association is
   * established and nothing else is being written (no write waiting for its turn or for the socket to drain), the
   * PDUs are written at once and this returns `undefined` (no lock, no fiber step). Otherwise, or when the write must
   * wait for the socket to drain or failed, it returns the effect that does the rest as `sendPData` would.
   */
  readonly writePData: (pdus: ReadonlyArray<Uint8Array>) => Effect.Effect<void, NotEstablished> | undefined
  /** The next indication; after the machine reaches Sta1 it answers `Closed` for ever. */
  readonly indications: Effect.Effect<Indication>
  /**
   * The next indication if one comes within `duration` (on the machine's clock); otherwise stops waiting and runs
   * `orElse` instead (what `Effect.timeoutOrElse` does around `indications`, with a timer and no fiber forked).
   */
  readonly indicationWithin: <A, E>(
    duration: Duration.Duration,
    orElse: () => Effect.Effect<A, E>
  ) => Effect.Effect<Indication | A, E>
  /** Completes when the machine has returned to Sta1 and the connection is closed. */
  readonly closed: Effect.Effect<void>
  /**
   * Installs the receiver of P-DATA in Sta6: it is then called on the reader's fiber, in order,
   * instead of P-DATA indications being queued. Indications already queued still come out first.
   */
  readonly receivePData: (handler: PDataReceiver) => Effect.Effect<void>
  /** The taker of a `PData` indication says it has handled it (keeps P-DATA in order with `receivePData`). */
  readonly pdataHandled: Effect.Effect<void>
  /** The machine's timers (its Clock), cancelled with its scope: for the association's own deadlines. */
  readonly timers: Timers.Timers
}

const CLOSED: Indication = { _tag: "Closed" }

// The events that come from the peer's PDUs.
const PEER_EVENTS: ReadonlySet<string> = new Set(["Evt3", "Evt4", "Evt6", "Evt10", "Evt12", "Evt13", "Evt16"])

// Queued behind the indications by the timer of an `indicationWithin` whose time is up: the taker that armed it
// stops waiting when it takes it; one left behind (its taker got an indication first) is skipped.
interface Deadline {
  readonly _tag: "Deadline"
}

const toEvent = (pdu: Pdu.Pdu): Input => {
  switch (pdu._tag) {
    case "AAssociateRq":
      return { evt: "Evt6", rq: pdu }
    case "AAssociateAc":
      return { evt: "Evt3", ac: pdu }
    case "AAssociateRj":
      return { evt: "Evt4", rj: pdu }
    case "PDataTf":
      return { evt: "Evt10", pdu }
    case "AReleaseRq":
      return { evt: "Evt12" }
    case "AReleaseRp":
      return { evt: "Evt13" }
    case "AAbort":
      return { evt: "Evt16", abort: pdu }
  }
}

// The PDUs sent here are valid by construction, and `Negotiation` encodes an RQ or AC once before submitting it:
// a PDU that still cannot be encoded is a defect, raised rather than sent as nothing (the peer would wait).
const encodeOrDie = (pdu: Pdu.Pdu): Effect.Effect<Uint8Array> => {
  const r = PduCodec.encodePdu(pdu)
  return Result.isSuccess(r) ? Effect.succeed(r.success) : Effect.die(r.failure)
}

// When the last PDU was sent or received, for the idle timeout. A class rather than a closure made per association:
// V8 then compiles one version of `mark` (called per PDU) for every association.
class Activity {
  last = 0
  readonly #timers: Timers.Timers
  constructor(timers: Timers.Timers) {
    this.#timers = timers
  }
  mark(): void {
    this.last = this.#timers.now()
  }
}

/** Starts a machine in the current scope; closing the scope stops it and destroys the connection. */
export const make = (options: UpperLayerOptions): Effect.Effect<UpperLayer, never, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const connScope = yield* Scope.fork(scope)
    const inbox = yield* Queue.unbounded<Input>()
    const out = yield* Queue.unbounded<Indication | Deadline>()
    const pdataPermits = yield* Semaphore.make(options.pdataWindow ?? 16)
    const writeLock = yield* Semaphore.make(1)
    const done = yield* Deferred.make<void>()
    const level = yield* References.MinimumLogLevel
    const debug = level === "Debug" || level === "Trace" || level === "All"

    let state: Table.State = "Sta1"
    let transport: Transport | undefined
    let reader: Fiber.Fiber<void> | undefined
    // Cancels the running ARTIM timer, if any.
    let artim: (() => void) | undefined
    // Cancels the idle watch's timer, if armed.
    let idleTimer: (() => void) | undefined
    let finished = false
    let receiver: PDataReceiver | undefined
    // P-DATA queued as events or indications and not yet taken: while any is, new P-DATA queues too (order).
    let queuedPData = 0
    // PDUs queued for the machine and not yet stepped: while any is (an A-ABORT, a release...), the
    // P-DATA behind it waits its turn too.
    let queuedFromPeer = 0
    let discarding = false
    // ARTIM and the idle watch are timers on the machine's clock (the TestClock in tests), not forked sleeps.
    const timers = yield* Timers.make
    // Read synchronously per PDU for the idle timeout.
    const activity = new Activity(timers)
    const touch = Effect.sync(() => activity.mark())

    const logPdu = (dir: "sent" | "received", pdu: Pdu.Pdu) =>
      debug ? Effect.logDebug(`${dir} ${PduSummary.summarize(pdu)}`) : Effect.void

    // ---- effectful edges ----
    // Writes holding or waiting for the write lock: while there is none, `writePData` may write without taking it
    // (synchronously, so nothing else can write meanwhile). Counted from before the lock is asked for to after it is
    // given back.
    let writers = 0
    const writerDone = Effect.sync(() => {
      writers--
    })
    const locked = <A, E>(body: Effect.Effect<A, E>): Effect.Effect<A, E> =>
      Effect.suspend(() => {
        writers++
        return Effect.ensuring(writeLock.withPermits(1)(body), writerDone)
      })
    const write = (bytes: ReadonlyArray<Uint8Array>) =>
      transport === undefined
        ? Effect.void
        : locked(
            transport
              .write(bytes)
              .pipe(Effect.catch((e) => Queue.offer(inbox, { evt: "Evt17", detail: `write failed: ${e._tag}` })))
          )
    const sendPdu = (pdu: Pdu.Pdu) =>
      Effect.andThen(
        Effect.sync(() => {
          if (pdu._tag === "AAbort") discarding = true
        }),
        Effect.andThen(
          logPdu("sent", pdu),
          Effect.flatMap(encodeOrDie(pdu), (bytes) => write([bytes]))
        )
      )
    const indicate = (i: Indication) => Effect.asVoid(Queue.offer(out, i))
    const artimMillis = Duration.toMillis(options.artim)
    const startArtim = Effect.sync(() => {
      artim?.()
      artim = timers.after(artimMillis, () => {
        artim = undefined
        Queue.offerUnsafe(inbox, { evt: "Evt18" })
      })
    })
    const stopArtim = Effect.sync(() => {
      artim?.()
      artim = undefined
    })
    const closeTransport = Effect.gen(function* () {
      if (reader) yield* Fiber.interrupt(reader)
      reader = undefined
      if (transport) {
        yield* transport.end
        yield* transport.destroy
      }
    })

    const idleMillis = options.idle === undefined ? undefined : Duration.toMillis(options.idle)
    // The idle watch: a timer until the idle time since the last PDU would be up, then checks again.
    const idleWatch = (limit: number) =>
      Effect.sync(() => {
        activity.mark()
        const check = () => {
          if (finished) return
          const left = activity.last + limit - timers.now()
          if (left <= 0 && state === "Sta6") {
            const detail = `no PDU for ${Duration.format(Duration.millis(limit))} (idle timeout)`
            Queue.offerUnsafe(inbox, { evt: "Evt15", detail })
            return
          }
          idleTimer = timers.after(Math.max(left, 1), check)
        }
        check()
      })

    const readLoop = (t: Transport) =>
      Effect.gen(function* () {
        // P-DATA spanning socket reads as views of them, not joined into a fresh buffer (DIMSE takes any fragmenting).
        const parser = PduParser.make({ maxPduLength: options.maxPduLength, pdvViews: true })
        // Socket reads whose every byte is consumed (lent data views released) are freed at once; a reader logging
        // PDUs (whose log may keep them), or reading a transport that may keep its reads (one not made by
        // `Transport`: a wrapper recording them, say), frees none.
        const received = debug || !readsGivenAwayBy(t) ? undefined : ReceivedBytes.tracker()
        // Whether the idle activity was marked since this fiber last ran on: PDUs decoded in one synchronous run
        // (one read, until something is waited for) arrive at the same time, so the first marks them all.
        let marked = false
        // Set once a PDU could not be parsed (Evt19): nothing after it is read as PDUs, but the connection still is,
        // so that the peer's close (Evt17) ends Sta13 at once rather than at ARTIM (a pending connection held 30 s).
        let broken = false
        while (true) {
          const chunks = yield* t.read
          marked = false
          // After our A-ABORT nothing the peer sends matters; a peer that keeps sending instead of
          // closing (PS3.8 9.1.5: the A-ABORT's sender waits for the close) has its connection closed.
          if (discarding) {
            yield* t.destroy
            continue
          }
          if (broken) continue
          for (const chunk of chunks) {
            received?.pushed(chunk)
            const { pdus, error } = parser.push(chunk)
            received?.decoded(pdus, parser.buffered)
            for (const pdu of pdus) {
              if (idleMillis !== undefined && !marked) {
                activity.mark()
                marked = !debug
              }
              if (debug) yield* logPdu("received", pdu)
              // Sta6 + Evt10 is a self-loop (DT-2): with a receiver installed, P-DATA goes to it from
              // here, without the hops through the machine's queue (the receiver's pace is TCP's).
              if (
                pdu._tag === "PDataTf" &&
                state === "Sta6" &&
                receiver !== undefined &&
                queuedPData === 0 &&
                queuedFromPeer === 0
              ) {
                if (debug) yield* Effect.logDebug(Table.describeTransition("Sta6", "Evt10", "DT-2", "Sta6"))
                const wait = receiver(pdu)
                if (wait !== undefined) {
                  yield* wait
                  marked = false
                }
                continue
              }
              if (pdu._tag === "PDataTf") {
                yield* pdataPermits.take(1)
                marked = false
                queuedPData++
              }
              queuedFromPeer++
              yield* Queue.offer(inbox, toEvent(pdu))
              marked = false
            }
            if (error) {
              const reason = error._tag === "PduTooLarge" ? 6 : error.abortReason
              yield* Queue.offer(inbox, { evt: "Evt19", reason, detail: error.message })
              broken = true
              break
            }
          }
        }
      }).pipe(
        Effect.catch((e) =>
          Queue.offer(inbox, {
            evt: "Evt17",
            detail:
              e._tag === "WriteTimeout"
                ? `write deadline: no room in the socket buffer for ${Duration.format(e.after)} (peer too slow)`
                : `connection closed (${e._tag})`
          })
        ),
        Effect.asVoid
      )

    const attach = (t: Transport) =>
      Effect.gen(function* () {
        transport = t
        reader = yield* Effect.forkIn(readLoop(t), connScope)
      })

    const providerAbort = (reason: number, detail: string): Indication => ({
      _tag: "Aborted",
      abort: { by: "provider", source: 2, reason, detail }
    })

    // ---- actions (PS3.8 Tables 9-6 to 9-9); each returns the next state ----
    const run = (name: Table.ActionName, input: Input): Effect.Effect<Table.State> =>
      Effect.gen(function* () {
        switch (name) {
          case "AE-1": {
            if (input.evt !== "Evt1" || !options.connect) return "Sta1"
            const rq = input.rq
            const connect = options.connect
            yield* Effect.forkIn(
              Scope.provide(connect, connScope).pipe(
                Effect.matchEffect({
                  onSuccess: (t) => Effect.andThen(attach(t), Queue.offer(inbox, { evt: "Evt2", transport: t })),
                  onFailure: (e) => Queue.offer(inbox, { evt: "Evt17", detail: e.message, connectFailed: e })
                })
              ),
              scope
            )
            pendingRq = rq
            return "Sta4"
          }
          case "AE-2":
            if (pendingRq) yield* sendPdu(pendingRq)
            return "Sta5"
          case "AE-3":
            if (idleMillis !== undefined) yield* idleWatch(idleMillis)
            if (input.evt === "Evt3") yield* indicate({ _tag: "AssociateAccepted", ac: input.ac })
            return "Sta6"
          case "AE-4":
            if (input.evt === "Evt4") yield* indicate({ _tag: "AssociateRejected", rj: input.rj })
            yield* closeTransport
            return "Sta1"
          case "AE-5":
            yield* startArtim
            return "Sta2"
          case "AE-6":
            yield* stopArtim
            if (input.evt !== "Evt6") return "Sta13"
            if ((input.rq.protocolVersion & 1) === 0) {
              yield* sendPdu({ _tag: "AAssociateRj", result: 1, source: 2, reason: 2 })
              yield* startArtim
              return "Sta13"
            }
            yield* indicate({ _tag: "AssociateIndication", rq: input.rq })
            return "Sta3"
          case "AE-7":
            if (idleMillis !== undefined) yield* idleWatch(idleMillis)
            if (input.evt === "Evt7") yield* sendPdu(input.ac)
            return "Sta6"
          case "AE-8":
            if (input.evt === "Evt8") yield* sendPdu(input.rj)
            yield* startArtim
            return "Sta13"
          case "DT-1":
            return state
          case "DT-2":
          case "AR-6":
            if (input.evt === "Evt10") yield* indicate({ _tag: "PData", pdu: input.pdu })
            return state
          case "AR-1":
            yield* sendPdu({ _tag: "AReleaseRq" })
            return "Sta7"
          case "AR-2":
            yield* indicate({ _tag: "ReleaseIndication", collision: false })
            return "Sta8"
          case "AR-3":
            yield* indicate({ _tag: "ReleaseConfirm" })
            yield* closeTransport
            return "Sta1"
          case "AR-4":
            yield* sendPdu({ _tag: "AReleaseRp" })
            released = true
            yield* startArtim
            return "Sta13"
          case "AR-5":
            yield* stopArtim
            return "Sta1"
          case "AR-7":
            return state
          case "AR-8":
            yield* indicate({ _tag: "ReleaseIndication", collision: true })
            return options.role === "requestor" ? "Sta9" : "Sta10"
          case "AR-9":
            yield* sendPdu({ _tag: "AReleaseRp" })
            return "Sta11"
          case "AR-10":
            yield* indicate({ _tag: "ReleaseConfirm" })
            return "Sta12"
          case "AA-1":
            if (input.evt === "Evt15") {
              const detail = input.detail ?? "aborted by the local user"
              yield* indicate({ _tag: "Aborted", abort: { by: "user", source: 0, reason: 0, detail } })
            }
            // Our user's abort (Evt15) is service-user source; a bad or unexpected PDU in Sta2 is
            // reported with the provider source and the reason, which tells the peer more.
            yield* sendPdu(
              input.evt === "Evt15"
                ? { _tag: "AAbort", source: 0, reason: 0 }
                : { _tag: "AAbort", source: 2, reason: input.evt === "Evt19" ? input.reason : 2 }
            )
            yield* startArtim
            return "Sta13"
          case "AA-2":
            yield* stopArtim
            yield* closeTransport
            // After our A-RELEASE-RP the association is over and released; a peer slow to close changes nothing.
            if (input.evt === "Evt18" && !released) yield* indicate(providerAbort(0, "ARTIM timer expired"))
            if (input.evt === "Evt15") yield* indicate(providerAbort(0, "aborted before the connection opened"))
            return "Sta1"
          case "AA-3":
            if (input.evt === "Evt16") {
              const { source, reason } = input.abort
              yield* indicate({ _tag: "Aborted", abort: { by: "peer", source, reason, detail: "A-ABORT received" } })
            }
            yield* closeTransport
            return "Sta1"
          case "AA-4": {
            const detail = input.evt === "Evt17" ? input.detail : "connection closed"
            const connectFailed = input.evt === "Evt17" ? input.connectFailed : undefined
            yield* indicate({
              _tag: "Aborted",
              abort: { by: "provider", source: 2, reason: 0, detail, ...(connectFailed ? { connectFailed } : {}) }
            })
            return "Sta1"
          }
          case "AA-5":
            yield* stopArtim
            return "Sta1"
          case "AA-6":
            return "Sta13"
          case "AA-7":
            yield* sendPdu({ _tag: "AAbort", source: 2, reason: 2 })
            return "Sta13"
          case "AA-8": {
            const reason = input.evt === "Evt19" ? input.reason : 2
            const detail = input.evt === "Evt19" ? input.detail : `unexpected ${input.evt} in ${state}`
            yield* sendPdu({ _tag: "AAbort", source: 2, reason })
            yield* indicate(providerAbort(reason, detail))
            yield* startArtim
            return "Sta13"
          }
        }
      })

    let pendingRq: Pdu.AAssociateRq | undefined
    // Set once we answered the peer's A-RELEASE-RQ (AR-4): what follows in Sta13 is only the wait for its close.
    let released = false

    const finish = Effect.gen(function* () {
      finished = true
      yield* stopArtim
      idleTimer?.()
      yield* closeTransport
      yield* Scope.close(connScope, Exit.void)
      yield* indicate(CLOSED)
      yield* Deferred.succeed(done, undefined)
    })

    const step = (input: Input) =>
      Effect.gen(function* () {
        if (PEER_EVENTS.has(input.evt)) queuedFromPeer--
        const from = state
        const defined = Table.lookup(from, input.evt)
        let action: Table.ActionName | undefined = defined?.name
        if (action === undefined) {
          const h = Table.onUndefined(from, input.evt)
          action = h._tag === "Ignore" ? undefined : h.action.name
        }
        // Logged before the action runs where the table gives one next state, so that the transition comes
        // before the PDU it sends; after it otherwise (or if it led elsewhere).
        const nextStates = !debug ? undefined : action === undefined ? [from] : Table.actions[action].nextStates
        const early = nextStates?.length === 1 ? nextStates[0] : undefined
        if (early !== undefined) yield* Effect.logDebug(Table.describeTransition(from, input.evt, action, early))
        const next = action === undefined ? from : yield* run(action, input)
        // A P-DATA PDU that produced no indication gives its permit back now.
        if (input.evt === "Evt10" && action !== "DT-2" && action !== "AR-6") {
          queuedPData--
          yield* pdataPermits.release(1)
        }
        state = next
        if (debug && early !== next) yield* Effect.logDebug(Table.describeTransition(from, input.evt, action, next))
        if (next === "Sta1" && from !== "Sta1") yield* finish
      })

    yield* Effect.forkIn(
      Effect.gen(function* () {
        if (options.role === "acceptor" && options.transport) {
          yield* attach(options.transport)
          yield* step({ evt: "Evt5" })
        }
        while (!finished) yield* step(yield* Queue.take(inbox))
      }),
      scope
    )

    // The next indication, or `deadline` once taken.
    function nextIndication(deadline: undefined): Effect.Effect<Indication>
    function nextIndication(deadline: Deadline): Effect.Effect<Indication | Deadline>
    function nextIndication(deadline: Deadline | undefined): Effect.Effect<Indication | Deadline> {
      return Effect.gen(function* () {
        while (true) {
          if (finished && (yield* Queue.size(out)) === 0) return CLOSED
          const i = yield* Queue.take(out)
          if (i._tag === "Deadline") {
            if (i === deadline) return i
            continue
          }
          if (i._tag === "PData") yield* pdataPermits.release(1)
          if (i._tag === "Closed") yield* Queue.offer(out, CLOSED)
          return i
        }
      })
    }

    const primitiveEvent = (p: UserPrimitive): Input => {
      switch (p._tag) {
        case "AssociateRequest":
          return { evt: "Evt1", rq: p.rq }
        case "AssociateAccept":
          return { evt: "Evt7", ac: p.ac }
        case "AssociateReject":
          return { evt: "Evt8", rj: p.rj }
        case "ReleaseRequest":
          return { evt: "Evt11" }
        case "ReleaseResponse":
          return { evt: "Evt14" }
        case "AbortRequest":
          return { evt: "Evt15" }
      }
    }

    // A failed write ends the connection (Evt17); the sender learns only that the association is gone.
    const writeFailed = (e: { readonly _tag: string }) =>
      Effect.andThen(
        Queue.offer(inbox, { evt: "Evt17", detail: `write failed: ${e._tag}` }),
        Effect.fail(new NotEstablished({ state }))
      )
    const sendPData = (pdus: ReadonlyArray<Uint8Array>): Effect.Effect<void, NotEstablished> =>
      Effect.suspend(() => {
        if ((state !== "Sta6" && state !== "Sta8") || transport === undefined) {
          return Effect.fail(new NotEstablished({ state }))
        }
        const t = transport
        // Without debug logging, no generator: this is every DIMSE message's path.
        const writing = debug
          ? Effect.gen(function* () {
              // The pieces of a vectored write: parse them back into PDUs to summarize them.
              const parser = PduParser.make({ maxPduLength: 0 })
              for (const piece of pdus) for (const pdu of parser.push(piece).pdus) yield* logPdu("sent", pdu)
              yield* t.write(pdus)
              if (idleMillis !== undefined) activity.mark()
            })
          : idleMillis === undefined
            ? Effect.suspend(() => t.write(pdus))
            : Effect.andThen(
                Effect.suspend(() => t.write(pdus)),
                touch
              )
        return locked(writing).pipe(Effect.catch(writeFailed))
      })

    return {
      state: Effect.sync(() => state),
      submit: (p) => Effect.asVoid(Queue.offer(inbox, primitiveEvent(p))),
      sendPData,
      writePData: (pdus) => {
        if (debug || writers > 0 || (state !== "Sta6" && state !== "Sta8") || transport === undefined) {
          return sendPData(pdus)
        }
        // Nothing else is being written: straight to the transport, which nearly always takes it all at once.
        const rest = transport.writeNow(pdus)
        if (rest === undefined) {
          if (idleMillis !== undefined) activity.mark()
          return undefined
        }
        // Written, but past the socket's limit (wait for it to drain, holding the write lock as `sendPData` would),
        // or the write failed.
        return locked(idleMillis === undefined ? rest : Effect.andThen(rest, touch)).pipe(Effect.catch(writeFailed))
      },
      indications: nextIndication(undefined),
      indicationWithin: <A, E>(duration: Duration.Duration, orElse: () => Effect.Effect<A, E>) =>
        Effect.suspend(() => {
          const deadline: Deadline = { _tag: "Deadline" }
          const cancel = timers.after(Duration.toMillis(duration), () => Queue.offerUnsafe(out, deadline))
          // Interrupted, the timer stays armed until it fires (its mark is skipped) or the machine's scope closes.
          return Effect.flatMap(nextIndication(deadline), (i): Effect.Effect<Indication | A, E> => {
            if (i._tag === "Deadline") return orElse()
            cancel()
            return Effect.succeed(i)
          })
        }),
      closed: Deferred.await(done),
      timers,
      pdataHandled: Effect.sync(() => {
        queuedPData--
      }),
      receivePData: (handler) =>
        Effect.sync(() => {
          receiver = handler
        })
    }
  })
