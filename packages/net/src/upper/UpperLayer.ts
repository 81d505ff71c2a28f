/**
 * The DICOM upper layer protocol machine (PS3.8 section 9.2), stepped by the events that drive it.
 *
 * Each event — a PDU read from the transport (synchronously, from the socket's events), the ARTIM or idle timer,
 * a primitive of the local user — is looked up in `StateTable`, its action runs and one debug line per transition
 * is logged; an event arriving during a step is stepped after it, in order. Indications for the user come out of
 * `indications` (or go to a `consume`r). Fibers are started only to wait: the connect, a write that must wait, a
 * receiver's backpressure. No polling anywhere.
 *
 * One deliberate shortcut: a P-DATA request (Evt9) in Sta6 or Sta8 is a self-loop (DT-1/AR-7), so
 * `sendPData` writes on the caller's fiber under the machine's write lock instead of being stepped.
 * A slow reader of indications then cannot block a writer, and data is written without a hop.
 * Received P-DATA is bounded: the transport is not read further while `pdataWindow` P-DATA
 * indications wait to be taken, so a slow consumer applies TCP backpressure to the peer.
 *
 * Not here: negotiation (what to accept) and DIMSE; this layer only moves PDUs and keeps state.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import { type Pdu, PduCodec, PduParser, PduSummary } from "@netdicom/wire"
import * as Events from "./MachineEvents.ts"
import {
  type Indication,
  type IndicationConsumer,
  NotEstablished,
  onePDataAtATime,
  type PDataReceiver,
  type PDataRunReceiver,
  type UserPrimitive
} from "./Primitives.ts"
import * as ReceivedBytes from "./ReceivedBytes.ts"
import * as Table from "./StateTable.ts"
import * as Timers from "./Timers.ts"
import {
  type ConnectFailed,
  type Opener,
  type Pull,
  pullOf,
  readsGivenAwayBy,
  type Transport,
  type TransportError,
  TransportFailed
} from "./Transport.ts"

export type {
  AbortInfo,
  Indication,
  IndicationConsumer,
  PDataReceiver,
  PDataRunReceiver,
  UserPrimitive
} from "./Primitives.ts"
export { NotEstablished, onePDataAtATime } from "./Primitives.ts"

/** How to build a machine. */
export interface UpperLayerOptions {
  readonly role: "requestor" | "acceptor"
  /** Our Maximum Length: the largest P-DATA-TF we accept (0 = no limit). */
  readonly maxPduLength: number
  /** The ARTIM timeout (PS3.8 9.1.5). */
  readonly artim: Duration.Input
  /** Requestor: opens the transport (AE-1), in a fiber of its own, its resources held by the machine's scope. */
  readonly connect?: Effect.Effect<Transport, ConnectFailed, Scope.Scope>
  /**
   * Requestor: opens the transport (AE-1) with no fiber (`Transport.openTcp`, `openTls`), its outcome stepped from
   * the socket's event; used instead of `connect` when given. The connection is closed as the machine finishes.
   */
  readonly open?: Opener
  /** Acceptor: the connection that arrived (Evt5). */
  readonly transport?: Transport
  /**
   * With no PDU in either direction for this long in Sta6, the association is aborted (default: never), or released
   * when a requestor's `releaseWhenIdle` check says so.
   */
  readonly idle?: Duration.Input
  /** P-DATA indications that may wait untaken before the transport is no longer read (default 16). */
  readonly pdataWindow?: number
  /**
   * Told the bytes of an unfinished PDU held after each read, for as long as it returns true (a server bounds what
   * its connections without an association hold together).
   */
  readonly onHeldBytes?: (bytes: number) => boolean
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
  /**
   * Hands every indication from now on (those queued first) to `consumer` as it comes, on the machine's turn, with
   * no fiber waiting for it; the last is `Closed`. Not to be mixed with `indications`.
   */
  readonly consume: (consumer: IndicationConsumer) => Effect.Effect<void>
  /** Completes when the machine has returned to Sta1 and the connection is closed. */
  readonly closed: Effect.Effect<void>
  /**
   * Installs the receiver of P-DATA in Sta6: it is then called by the reader (on the socket's event), in order,
   * instead of P-DATA indications being queued. Indications already queued still come out first. A run receiver is
   * handed the P-DATA-TFs of one read in one call.
   */
  readonly receivePData: (handler: PDataReceiver | PDataRunReceiver) => Effect.Effect<void>
  /** The taker of a `PData` indication says it has handled it (keeps P-DATA in order with `receivePData`). */
  readonly pdataHandled: Effect.Effect<void>
  /** The machine's timers (its Clock), cancelled with its scope: for the association's own deadlines. */
  readonly timers: Timers.Timers
  /**
   * Requestor: `quiet` is asked as the idle timeout expires in Sta6; true releases the association instead of aborting
   * it (an A-RELEASE-RQ, Evt11; an A-ABORT if it has not ended within the ARTIM time, a release collision included).
   * An acceptor's idle timeout always aborts (PS3.8 gives it no release of its own).
   */
  readonly releaseWhenIdle: (quiet: () => boolean) => void
  /** The connection, once there is one (a requestor's, after its connect succeeded). */
  readonly transport: () => Transport | undefined
}

const CLOSED: Indication = { _tag: "Closed" }

// Queued behind the indications by the timer of an `indicationWithin` whose time is up: the taker that armed it
// stops waiting when it takes it; one left behind (its taker got an indication first) is skipped.
interface Deadline {
  readonly _tag: "Deadline"
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
  // Made in one synchronous run (no generator, no fiber step per service read): this is every association's set-up.
  Effect.withFiber((fiber) => {
    // Effects the machine starts (a connect, a write that must wait, a receiver's wait) run with the services of the
    // fiber that made it (its logger, log annotations and spans), and are interrupted when its scope closes.
    const context = fiber.context as Context.Context<Scope.Scope>
    const scope = Context.get(context, Scope.Scope)
    // The connection's resources (what `connect` acquires), closed once the machine has finished, or with `scope`;
    // made with the connect (an acceptor's machine, or one given `open`, has none).
    let connScope: Scope.Closeable | undefined
    const runFork = Effect.runForkWith(context)
    const runSync = Effect.runSyncWith(context)
    const writeLock = Semaphore.makeUnsafe(1)
    const level = Context.get(context, References.MinimumLogLevel)
    const debug = level === "Debug" || level === "Trace" || level === "All"

    let state: Table.State = "Sta1"
    let transport: Transport | undefined
    // Cancels the running ARTIM timer, if any.
    let artim: (() => void) | undefined
    // Cancels the idle watch's timer, if armed.
    let idleTimer: (() => void) | undefined
    let finished = false
    // An `Opener`'s connect under way or connection made: abandoned (stopped, or closed) as the machine finishes.
    let abandonOpening: (() => void) | undefined
    let receiver: PDataReceiver | undefined
    // The receiver when it takes runs of P-DATA-TFs (`receiver` is then its one-at-a-time form).
    let runReceiver: PDataRunReceiver | undefined
    // P-DATA queued as events or indications and not yet taken: while any is, new P-DATA queues too (order).
    let queuedPData = 0
    // PDUs queued for the machine and not yet stepped: while any is (an A-ABORT, a release...), the
    // P-DATA behind it waits its turn too.
    let queuedFromPeer = 0
    // P-DATA indications that may still be queued before the transport is no longer read.
    let permits = options.pdataWindow ?? 16
    let discarding = false
    // ARTIM and the idle watch are timers on the machine's clock (the TestClock in tests), not forked sleeps.
    const timers = Timers.makeUnsafe(context)
    // Read synchronously per PDU for the idle timeout.
    const activity = new Activity(timers)
    const touch = Effect.sync(() => activity.mark())

    // ---- fibers the machine starts: few, and only where something must be waited for ----
    const fibers = new Set<Fiber.Fiber<unknown, unknown>>()
    let stopped = false
    const spawn = <A, E>(effect: Effect.Effect<A, E>, then?: () => void): void => {
      const fiber = runFork(effect)
      if (fiber.pollUnsafe() !== undefined) {
        then?.()
        return
      }
      fibers.add(fiber)
      fiber.addObserver(() => {
        fibers.delete(fiber)
        if (!stopped) then?.()
      })
    }
    // The machine's one finalizer, on the scope itself (no context to restore for it, unlike Effect.addFinalizer: see
    // Timers): stops reading, cancels the timers, interrupts the fibers started, then closes the connection's scope.
    const finalizer = (exit: Exit.Exit<unknown, unknown>) =>
      Effect.suspend(() => {
        stopped = true
        stopReading()
        timers.cancelAll()
        abandonOpening?.()
        const conn = connScope
        if (conn === undefined) return fibers.size === 0 ? Effect.void : Fiber.interruptAll(fibers)
        const closeConn = Effect.suspend(() => Scope.closeUnsafe(conn, exit) ?? Effect.void)
        return fibers.size === 0 ? closeConn : Effect.andThen(Fiber.interruptAll(fibers), closeConn)
      })

    const log = (message: string) => runSync(Effect.logDebug(message))
    const logPdu = (dir: "sent" | "received", pdu: Pdu.Pdu) => log(`${dir} ${PduSummary.summarize(pdu)}`)

    // ---- events: stepped one at a time, in order, as they come ----
    const events: Array<Events.Input> = []
    let stepping = false
    // Callers of `submit` whose primitive was queued behind the step under way (a taker woken by an indication runs
    // on within the step), resumed once it has been stepped or dropped: what they do next sees the state it led to.
    const submitters = new Map<Events.Input, () => void>()
    const stepped = (input: Events.Input) => {
      if (submitters.size === 0) return
      const resume = submitters.get(input)
      if (resume === undefined) return
      submitters.delete(input)
      resume()
    }
    // Events left once the machine has finished are not stepped; their submitters are resumed all the same (one
    // resumed may submit again: that is dropped too).
    const dropEvents = () => {
      let input: Events.Input | undefined
      while ((input = events.shift()) !== undefined) stepped(input)
    }
    // Set while `post` wakes the takers due after a step: a taker woken then that submits a primitive, with nothing
    // queued and no one else to wake or resume, has it stepped at once (`submit`), as `post` would step it next.
    let waking = false
    // One event stepped, then the takers it woke; a defect of the machine (a PDU built here that cannot be encoded)
    // ends the association rather than the process, and is logged.
    const stepOne = (next: Events.Input): void => {
      try {
        step(next)
        // Takers woken once the step is over: what they do next (a P-DATA request after AssociateAccepted, say)
        // sees the state the step led to.
        waking = true
        try {
          wakeDue()
        } finally {
          waking = false
        }
      } catch (defect) {
        runSync(Effect.logError("upper layer defect", defect))
        dropEvents()
        indicate(providerAbort(0, `internal error: ${String(defect)}`))
        state = "Sta1"
        finish()
        wakeDue()
      }
      stepped(next)
    }
    // Steps `input` now, or after the step under way when it comes from one (an action's effect, a taker woken by an
    // indication that submits a primitive).
    const post = (input: Events.Input): void => {
      events.push(input)
      if (stepping) return
      stepping = true
      try {
        let next: Events.Input | undefined
        while (!finished && (next = events.shift()) !== undefined) stepOne(next)
        dropEvents()
      } finally {
        stepping = false
      }
    }

    // ---- effectful edges ----
    // Writes holding or waiting for the write lock: while there is none, a write may go to the transport without
    // taking it (synchronously, so nothing else can write meanwhile). Counted from before the lock is asked for to
    // after it is given back.
    let writers = 0
    const writerDone = Effect.sync(() => {
      writers--
    })
    const locked = <A, E>(body: Effect.Effect<A, E>): Effect.Effect<A, E> =>
      Effect.suspend(() => {
        writers++
        return Effect.ensuring(writeLock.withPermits(1)(body), writerDone)
      })
    const writeFailedEvent = (e: { readonly _tag: string }) =>
      Effect.sync(() => post({ evt: "Evt17", detail: `write failed: ${e._tag}` }))
    // A PDU of the machine's own: written at once when nothing else is being written and the socket takes it,
    // otherwise in order behind the writes under way (a fiber holding the write lock): `write` is suspended until
    // then, as a socket's `write` writes as soon as it is called (ahead of a P-DATA waiting for the lock). Every one
    // of them (an A-ASSOCIATE-RQ, -AC or -RJ, an A-RELEASE-RQ or -RP, an A-ABORT) is followed by a wait for the
    // peer or the end of the connection, so it is flushed at once rather than at the end of the tick: the work that
    // follows it in this tick (an association's channel made after its A-ASSOCIATE-AC) then overlaps the peer's.
    const writeFlushed = (t: Transport, bytes: Uint8Array): Effect.Effect<void, TransportError> | undefined => {
      const rest = t.writeNow([bytes])
      t.flush?.()
      return rest
    }
    const write = (bytes: Uint8Array): void => {
      const t = transport
      if (t === undefined) return
      const rest = writers === 0 ? writeFlushed(t, bytes) : Effect.suspend(() => writeFlushed(t, bytes) ?? Effect.void)
      if (rest !== undefined) spawn(locked(Effect.catch(rest, writeFailedEvent)))
    }
    // `encoded`: the PDU's bytes, when its maker encoded it already (an A-ASSOCIATE-RQ or -AC, checked by
    // `Negotiation`).
    const sendPdu = (pdu: Pdu.Pdu, encoded?: Uint8Array): void => {
      if (pdu._tag === "AAbort") discarding = true
      if (debug) logPdu("sent", pdu)
      if (encoded !== undefined) return write(encoded)
      const bytes = PduCodec.encodePdu(pdu)
      // The PDUs sent here are valid by construction, and `Negotiation` encodes an RQ or AC once before submitting
      // it: one that still cannot be encoded is a defect, raised rather than sent as nothing (the peer would wait).
      if (Result.isFailure(bytes)) throw bytes.failure
      write(bytes.success)
    }

    // ---- indications, taken by the user's fibers ----
    const out: Array<Indication | Deadline> = []
    const takers = new Set<() => void>()
    let closedWaiters: Array<() => void> = []
    // Whether takers (or waiters for the close) are to be woken once the step under way is over.
    let wakeTakers = false
    let wakeClosed = false
    const wakeDue = () => {
      if (wakeTakers && consumer !== undefined) {
        wakeTakers = false
        feedConsumer()
      }
      if (wakeTakers) {
        wakeTakers = false
        // A snapshot: a taker woken may wait again at once, and is then woken by the next indication only.
        for (const wake of Array.from(takers)) wake()
      }
      if (wakeClosed) {
        wakeClosed = false
        const waiting = closedWaiters
        closedWaiters = []
        for (const wake of waiting) wake()
      }
    }
    const indicate = (i: Indication | Deadline): void => {
      out.push(i)
      if (takers.size === 0 && consumer === undefined) return
      wakeTakers = true
      if (!stepping) wakeDue()
    }
    const artimMillis = Duration.toMillis(options.artim)
    const startArtim = () => {
      artim?.()
      artim = timers.after(artimMillis, () => {
        artim = undefined
        post({ evt: "Evt18" })
      })
    }
    const stopArtim = () => {
      artim?.()
      artim = undefined
    }

    // ---- reading: chunks from the transport, parsed into PDUs, each handed to the machine or the receiver ----
    // P-DATA spanning socket reads as views of them, not joined into a fresh buffer (DIMSE takes any fragmenting).
    // An acceptor holds an A-ASSOCIATE-RQ (its only large control PDU) to a lower limit than the parser's default.
    const parser = PduParser.make({
      maxPduLength: options.maxPduLength,
      pdvViews: true,
      ...(options.role === "acceptor" ? { maxControlPduLength: PduParser.ACCEPTOR_CONTROL_LIMIT } : {})
    })
    let onHeldBytes = options.onHeldBytes
    let received: ReturnType<typeof ReceivedBytes.tracker> | undefined
    let pull: Pull | undefined
    // The fallback reader's chunks (a transport not made by `Transport`: a memory pair, a wrapper), and its end.
    let inbound: Array<Uint8Array> = []
    let inboundEnd: TransportError | undefined
    let resumeReader: (() => void) | undefined
    let reading = false
    // Chunks taken and not yet parsed, and the PDUs of the chunk parsed last not yet handed on.
    let chunks: ReadonlyArray<Uint8Array> = []
    let chunkAt = 0
    let pdus: ReadonlyArray<Pdu.Pdu> = []
    let pduAt = 0
    let parseError: PduParser.PushResult["error"]
    // Why handing PDUs on stopped for now: a receiver's wait under way, or no permit for a P-DATA indication.
    let waitingOnReceiver = false
    let waitingOnPermit = false
    let pumping = false
    // Whether the idle activity was marked since the reader last waited: PDUs decoded in one synchronous run (one
    // read, until something is waited for) arrive at the same time, so the first marks them all.
    let marked = false
    // Set once a PDU could not be parsed (Evt19): nothing after it is read as PDUs, but the connection still is,
    // so that the peer's close (Evt17) ends Sta13 at once rather than at ARTIM (a pending connection held 30 s).
    let broken = false

    const stopReading = () => {
      reading = false
      pull?.listen(undefined)
      resumeReader?.()
    }
    const transportEnded = (e: TransportError) => {
      stopReading()
      post({
        evt: "Evt17",
        detail:
          e._tag === "WriteTimeout"
            ? `write deadline: no room in the socket buffer for ${Duration.format(e.after)} (peer too slow)`
            : e._tag === "TransportFailed"
              ? `connection failed: ${e.detail}`
              : `connection closed (${e._tag})`
      })
    }
    const destroyTransport = () => {
      if (pull !== undefined) pull.destroy()
      else if (transport !== undefined) spawn(transport.destroy)
    }
    // What the fallback reader (a transport without a `Pull`) has read; a `Pull` is taken from directly.
    const nextChunks = (): ReadonlyArray<Uint8Array> | TransportError | undefined => {
      // The fallback reader, woken, may read at once (chunks the transport held) and put them here.
      if (inbound.length === 0 && inboundEnd === undefined) resumeReader?.()
      if (inbound.length > 0) {
        const taken = inbound
        inbound = []
        return taken
      }
      return inboundEnd
    }

    // Hands pdus[at] on, with the P-DATA-TFs right behind it that a run receiver takes with it; returns how many were
    // handed on, 0 when it must wait (no permit for a P-DATA indication) and be handed on again later.
    const dispatch = (at: number): number => {
      const pdu = pdus[at]!
      if (idleMillis !== undefined && !marked) {
        // `activity.mark()`, inlined: once per socket read
        activity.last = timers.now()
        marked = !debug
      }
      // Sta6 + Evt10 is a self-loop (DT-2): with a receiver installed, P-DATA goes to it from here, without the
      // machine's queue (the receiver's pace is TCP's).
      if (
        pdu._tag === "PDataTf" &&
        state === "Sta6" &&
        receiver !== undefined &&
        queuedPData === 0 &&
        queuedFromPeer === 0 &&
        events.length === 0
      ) {
        if (debug) {
          logPdu("received", pdu)
          log(Table.describeTransition("Sta6", "Evt10", "DT-2", "Sta6"))
        }
        // One PDU a call when logging, so that each is logged as it is taken.
        const wait =
          runReceiver !== undefined ? runReceiver.takeRun(pdus, at, debug ? at + 1 : pdus.length) : receiver(pdu)
        const taken = runReceiver !== undefined ? runReceiver.taken : 1
        if (wait !== undefined) {
          marked = false
          waitingOnReceiver = true
          spawn(wait, () => {
            waitingOnReceiver = false
            pump()
          })
        }
        return taken
      }
      if (pdu._tag === "PDataTf") {
        if (permits === 0) {
          waitingOnPermit = true
          return 0
        }
        permits--
        queuedPData++
      }
      if (debug) logPdu("received", pdu)
      queuedFromPeer++
      marked = false
      post(Events.ofPdu(pdu))
      return 1
    }

    // Reads and hands on what there is until it runs out or must wait; called on each read and once a wait is over.
    // A read offered as it arrives (`Pull.listen`'s `offer`: one call fewer per read than being told of it and taking
    // it) is taken only when everything read before it has been handed on and nothing waits: true then; otherwise the
    // transport buffers it for a take.
    const pump = (offered?: Uint8Array): boolean => {
      if (pumping) return false
      if (offered !== undefined) {
        if (
          !reading ||
          waitingOnReceiver ||
          waitingOnPermit ||
          discarding ||
          pduAt < pdus.length ||
          chunkAt < chunks.length ||
          parseError !== undefined
        ) {
          return false
        }
        chunks = [offered]
        chunkAt = 0
        marked = false
      }
      pumping = true
      try {
        while (reading && !waitingOnReceiver && !waitingOnPermit) {
          if (pduAt < pdus.length) {
            pduAt += dispatch(pduAt)
            continue
          }
          if (parseError !== undefined) {
            const error = parseError
            parseError = undefined
            broken = true
            post({ evt: "Evt19", reason: error._tag === "PduTooLarge" ? 6 : error.abortReason, detail: error.message })
            continue
          }
          if (chunkAt < chunks.length) {
            const chunk = chunks[chunkAt++]!
            if (broken) continue
            const parsed = parser.push(chunk)
            received?.took(chunk, parsed.pdus, parsed.buffered)
            if (onHeldBytes !== undefined && !onHeldBytes(parsed.buffered)) onHeldBytes = undefined
            pdus = parsed.pdus
            pduAt = 0
            if (parsed.error) {
              parseError = parsed.error
              chunkAt = chunks.length
            }
            continue
          }
          // Nothing arrived since the last take (the usual case once a read is handed on): no call to find nothing.
          if (pull !== undefined && !pull.ready) break
          const next = pull !== undefined ? pull.take() : nextChunks()
          if (next === undefined) break
          if (!Array.isArray(next)) {
            transportEnded(next as TransportError)
            break
          }
          marked = false
          // After our A-ABORT nothing the peer sends matters; a peer that keeps sending instead of
          // closing (PS3.8 9.1.5: the A-ABORT's sender waits for the close) has its connection closed.
          if (discarding) {
            destroyTransport()
            continue
          }
          chunks = next as ReadonlyArray<Uint8Array>
          chunkAt = 0
        }
      } catch (defect) {
        runSync(Effect.logError("upper layer defect while reading", defect))
        stopReading()
        destroyTransport()
        post({ evt: "Evt17", detail: `internal error: ${String(defect)}` })
      } finally {
        pumping = false
      }
      return true
    }

    // The reader of a transport without a synchronous read side: one fiber, reading while the machine takes what it
    // reads.
    const readFallback = (t: Transport) =>
      Effect.gen(function* () {
        while (reading) {
          // While the machine is not taking what was read, no more is read (TCP then holds the peer). Woken by
          // `nextChunks` once it has taken everything (possibly from within `pump`, whose own loop then ends).
          if (inbound.length > 0 || waitingOnReceiver || waitingOnPermit) {
            yield* Effect.callback<void>((resume) => {
              // Taken meanwhile (this fiber yielded between the look above and this wait): read on.
              if (!reading || !(inbound.length > 0 || waitingOnReceiver || waitingOnPermit)) return resume(Effect.void)
              resumeReader = () => {
                resumeReader = undefined
                resume(Effect.void)
              }
            })
            continue
          }
          const got = yield* t.read
          inbound.push(...got)
          pump()
        }
      }).pipe(
        // A read that fails ends the connection; so does one that dies (a defect of a wrapper's `read`), logged,
        // instead of leaving the machine waiting for reads that will never come.
        Effect.catchCause((cause) => {
          if (Cause.hasInterruptsOnly(cause)) return Effect.void
          const error = Cause.findError(cause)
          return Effect.andThen(
            Result.isSuccess(error) ? Effect.void : Effect.logError("transport read died", cause),
            Effect.sync(() => {
              inboundEnd = Result.isSuccess(error)
                ? error.success
                : new TransportFailed({ detail: `read died: ${String(Cause.squash(cause))}` })
              pump()
            })
          )
        })
      )

    const attach = (t: Transport) => {
      transport = t
      reading = true
      pull = pullOf(t)
      // Socket reads whose every byte is consumed (lent data views released) are freed at once; a reader logging
      // PDUs (whose log may keep them), or reading a transport that may keep its reads (one not made by
      // `Transport`: a wrapper recording them, say), frees none.
      received = debug || !readsGivenAwayBy(t) ? undefined : ReceivedBytes.tracker()
      if (pull !== undefined) {
        pull.listen(pump, pump)
        pump()
      } else spawn(readFallback(t))
    }
    const closeTransport = () => {
      stopReading()
      const t = transport
      if (t === undefined) return
      if (pull !== undefined) pull.destroy()
      else spawn(Effect.andThen(t.end, t.destroy))
    }

    const idleMillis = options.idle === undefined ? undefined : Duration.toMillis(options.idle)
    // The idle watch: a timer until the idle time since the last PDU would be up, then checks again.
    // Sta6 only: once the machine has left it (a release or an abort under way, bounded by their own timers) it never
    // comes back, and the watch ends rather than checking again every millisecond.
    const idleWatch = (limit: number) => {
      activity.mark()
      const check = () => {
        if (finished || state !== "Sta6") return
        const left = activity.last + limit - timers.now()
        if (left <= 0) {
          const idleFor = Duration.format(Duration.millis(limit))
          if (options.role === "requestor" && idleQuiet?.() === true) return releaseIdle(idleFor)
          post({ evt: "Evt15", detail: `no PDU for ${idleFor} (idle timeout)` })
          return
        }
        idleTimer = timers.after(left, check)
      }
      // Armed as Sta6 is entered (the action runs before the state changes): the first check comes `limit` later.
      idleTimer = timers.after(limit, check)
    }

    // Asked at the idle timeout (requestor): true releases rather than aborts.
    let idleQuiet: (() => boolean) | undefined
    // The idle timeout's release: the A-RELEASE-RQ now, and the A-ABORT if the association has not ended (a peer that
    // never answers, or a release collision left unfinished) within the ARTIM time; the watch's timer is reused for it
    // (cancelled when the machine finishes).
    const releaseIdle = (idleFor: string) => {
      post({ evt: "Evt11" })
      idleTimer = timers.after(artimMillis, () => {
        idleTimer = undefined
        if (finished || state === "Sta13") return
        const waited = Duration.format(Duration.millis(artimMillis))
        post({ evt: "Evt15", detail: `no A-RELEASE-RP within ${waited} of our A-RELEASE-RQ (idle for ${idleFor})` })
      })
    }

    const providerAbort = (reason: number, detail: string): Indication => ({
      _tag: "Aborted",
      abort: { by: "provider", source: 2, reason, detail }
    })

    let pendingRq: Pdu.AAssociateRq | undefined
    let pendingRqBytes: Uint8Array | undefined
    // Set once we answered the peer's A-RELEASE-RQ (AR-4): what follows in Sta13 is only the wait for its close.
    let released = false

    // ---- actions (PS3.8 Tables 9-6 to 9-9); each returns the next state ----
    const run = (name: Table.ActionName, input: Events.Input): Table.State => {
      switch (name) {
        case "AE-1": {
          if (input.evt !== "Evt1" || (!options.open && !options.connect)) return "Sta1"
          pendingRq = input.rq
          pendingRqBytes = input.encoded
          if (options.open !== undefined) {
            // No fiber: the outcome is stepped from the socket's event (or at once, after this step, when Node
            // refused the address).
            abandonOpening = options.open(timers, (outcome) => {
              if (outcome._tag === "ConnectFailed") {
                post({ evt: "Evt17", detail: outcome.message, connectFailed: outcome })
                return
              }
              if (finished) return outcome.close()
              attach(outcome.transport)
              post({ evt: "Evt2", transport: outcome.transport })
            })
            return "Sta4"
          }
          if (!options.connect) return "Sta1"
          connScope = Scope.makeUnsafe()
          spawn(
            Scope.provide(options.connect, connScope).pipe(
              Effect.matchEffect({
                onSuccess: (t) =>
                  Effect.sync(() => {
                    if (finished) return
                    attach(t)
                    post({ evt: "Evt2", transport: t })
                  }),
                onFailure: (e) => Effect.sync(() => post({ evt: "Evt17", detail: e.message, connectFailed: e }))
              })
            )
          )
          return "Sta4"
        }
        case "AE-2":
          if (pendingRq) sendPdu(pendingRq, pendingRqBytes)
          return "Sta5"
        case "AE-3":
          if (idleMillis !== undefined) idleWatch(idleMillis)
          if (input.evt === "Evt3") indicate({ _tag: "AssociateAccepted", ac: input.ac })
          return "Sta6"
        case "AE-4":
          if (input.evt === "Evt4") indicate({ _tag: "AssociateRejected", rj: input.rj })
          closeTransport()
          return "Sta1"
        case "AE-5":
          startArtim()
          return "Sta2"
        case "AE-6":
          stopArtim()
          if (input.evt !== "Evt6") return "Sta13"
          if ((input.rq.protocolVersion & 1) === 0) {
            sendPdu({ _tag: "AAssociateRj", result: 1, source: 2, reason: 2 })
            startArtim()
            return "Sta13"
          }
          indicate({ _tag: "AssociateIndication", rq: input.rq })
          return "Sta3"
        case "AE-7":
          if (idleMillis !== undefined) idleWatch(idleMillis)
          if (input.evt === "Evt7") sendPdu(input.ac, input.encoded)
          return "Sta6"
        case "AE-8":
          if (input.evt === "Evt8") sendPdu(input.rj)
          startArtim()
          return "Sta13"
        case "DT-1":
          return state
        case "DT-2":
        case "AR-6":
          if (input.evt === "Evt10") indicate({ _tag: "PData", pdu: input.pdu })
          return state
        case "AR-1":
          sendPdu({ _tag: "AReleaseRq" })
          return "Sta7"
        case "AR-2":
          indicate({ _tag: "ReleaseIndication", collision: false })
          return "Sta8"
        case "AR-3":
          indicate({ _tag: "ReleaseConfirm" })
          closeTransport()
          return "Sta1"
        case "AR-4":
          sendPdu({ _tag: "AReleaseRp" })
          released = true
          startArtim()
          return "Sta13"
        case "AR-5":
          stopArtim()
          return "Sta1"
        case "AR-7":
          return state
        case "AR-8":
          indicate({ _tag: "ReleaseIndication", collision: true })
          return options.role === "requestor" ? "Sta9" : "Sta10"
        case "AR-9":
          sendPdu({ _tag: "AReleaseRp" })
          return "Sta11"
        case "AR-10":
          indicate({ _tag: "ReleaseConfirm" })
          return "Sta12"
        case "AA-1":
          if (input.evt === "Evt15") {
            const detail = input.detail ?? "aborted by the local user"
            indicate({ _tag: "Aborted", abort: { by: "user", source: 0, reason: 0, detail } })
          }
          // Our user's abort (Evt15) is service-user source; a bad or unexpected PDU in Sta2 is
          // reported with the provider source and the reason, which tells the peer more.
          sendPdu(
            input.evt === "Evt15"
              ? { _tag: "AAbort", source: 0, reason: 0 }
              : { _tag: "AAbort", source: 2, reason: input.evt === "Evt19" ? input.reason : 2 }
          )
          startArtim()
          return "Sta13"
        case "AA-2":
          stopArtim()
          closeTransport()
          // After our A-RELEASE-RP the association is over and released; a peer slow to close changes nothing.
          if (input.evt === "Evt18" && !released) indicate(providerAbort(0, "ARTIM timer expired"))
          if (input.evt === "Evt15") indicate(providerAbort(0, "aborted before the connection opened"))
          return "Sta1"
        case "AA-3":
          if (input.evt === "Evt16") {
            const { source, reason } = input.abort
            indicate({ _tag: "Aborted", abort: { by: "peer", source, reason, detail: "A-ABORT received" } })
          }
          closeTransport()
          return "Sta1"
        case "AA-4": {
          const connectFailed = input.evt === "Evt17" ? input.connectFailed : undefined
          const closed = input.evt === "Evt17" ? input.detail : "connection closed"
          // Closed while we awaited the A-ASSOCIATE-AC: most often a server that speaks TLS, or no DICOM at all.
          const detail =
            state === "Sta5" && connectFailed === undefined
              ? `${closed} before any answer to the A-ASSOCIATE-RQ (is it a DICOM service? over TLS if it needs it?)`
              : closed
          indicate({
            _tag: "Aborted",
            abort: { by: "provider", source: 2, reason: 0, detail, ...(connectFailed ? { connectFailed } : {}) }
          })
          return "Sta1"
        }
        case "AA-5":
          stopArtim()
          return "Sta1"
        case "AA-6":
          return "Sta13"
        case "AA-7":
          sendPdu({ _tag: "AAbort", source: 2, reason: 2 })
          return "Sta13"
        case "AA-8": {
          const reason = input.evt === "Evt19" ? input.reason : 2
          const detail = input.evt === "Evt19" ? input.detail : `unexpected ${input.evt} in ${state}`
          sendPdu({ _tag: "AAbort", source: 2, reason })
          indicate(providerAbort(reason, detail))
          startArtim()
          return "Sta13"
        }
      }
    }

    const finish = () => {
      if (finished) return
      finished = true
      stopArtim()
      idleTimer?.()
      closeTransport()
      abandonOpening?.()
      // The connection's scope, closed now: its finalizers (a socket's close), if any, run on a fiber of their own;
      // an acceptor's machine, or one given `open`, has none, and no fiber is started.
      const closing = connScope === undefined ? undefined : Scope.closeUnsafe(connScope, Exit.void)
      if (closing !== undefined) spawn(closing)
      indicate(CLOSED)
      wakeClosed = true
      if (!stepping) wakeDue()
    }

    const step = (input: Events.Input) => {
      if (Events.fromPeer(input)) queuedFromPeer--
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
      if (early !== undefined) log(Table.describeTransition(from, input.evt, action, early))
      const next = action === undefined ? from : run(action, input)
      // A P-DATA PDU that produced no indication gives its permit back now.
      if (input.evt === "Evt10" && action !== "DT-2" && action !== "AR-6") {
        queuedPData--
        releasePermit()
      }
      state = next
      if (debug && early !== next) log(Table.describeTransition(from, input.evt, action, next))
      if (next === "Sta1" && from !== "Sta1") finish()
    }

    const releasePermit = () => {
      permits++
      if (waitingOnPermit) {
        waitingOnPermit = false
        pump()
      }
    }

    // The next indication queued, `undefined` when none is: a deadline other than `deadline` is skipped.
    const poll = (deadline: Deadline | undefined): Indication | Deadline | undefined => {
      while (true) {
        if (finished && out.length === 0) return CLOSED
        const i = out.shift()
        if (i === undefined) return undefined
        if (i._tag === "Deadline") {
          if (i === deadline) return i
          continue
        }
        if (i._tag === "PData") releasePermit()
        // `Closed` stays for every later taker.
        if (i._tag === "Closed") out.push(CLOSED)
        return i
      }
    }
    // The consumer of indications (`consume`), and whether it is waiting on what it returned for the last one.
    let consumer: IndicationConsumer | undefined
    let consumerWaiting = false
    let feeding = false
    const submitNow = (p: UserPrimitive): void => post(Events.ofPrimitive(p))
    let consumerFailed = false
    // A consumer that throws (a defect of its own) aborts the association, logged, the indications behind still given
    // to it, rather than the exception escaping into the socket event or timer that brought the indication (a process
    // crash) and leaving the machine unfinished.
    const consumeOne = (c: IndicationConsumer, i: Indication): Effect.Effect<void> | undefined => {
      try {
        return c(i, submitNow)
      } catch (defect) {
        runSync(Effect.logError("indication consumer failed", defect))
        if (!consumerFailed && !finished) {
          consumerFailed = true
          post({ evt: "Evt15", detail: `indication consumer failed: ${String(defect)}` })
        }
        return undefined
      }
    }
    const feedConsumer = (): void => {
      if (consumer === undefined || consumerWaiting || feeding) return
      feeding = true
      try {
        while (consumer !== undefined && !consumerWaiting) {
          const i = poll(undefined)
          if (i === undefined || i._tag === "Deadline") break
          const c = consumer
          if (i._tag === "Closed") consumer = undefined
          const wait = consumeOne(c, i)
          const pdata = i._tag === "PData"
          if (wait === undefined) {
            if (pdata) queuedPData--
            continue
          }
          consumerWaiting = true
          spawn(wait, () => {
            if (pdata) queuedPData--
            consumerWaiting = false
            feedConsumer()
          })
        }
      } finally {
        feeding = false
      }
    }
    // Each wait below looks again, as it registers, at what it waits for: the fiber may have yielded (its operation
    // budget) between its last look and the wait, and what it waits for come meanwhile, its wake-up gone to nobody.
    const outFilled = Effect.callback<void>((resume) => {
      if (out.length > 0 || finished) return resume(Effect.void)
      const wake = () => {
        takers.delete(wake)
        resume(Effect.void)
      }
      takers.add(wake)
      return Effect.sync(() => {
        takers.delete(wake)
      })
    })

    // The next indication, or `deadline` once taken.
    function nextIndication(deadline: undefined): Effect.Effect<Indication>
    function nextIndication(deadline: Deadline): Effect.Effect<Indication | Deadline>
    function nextIndication(deadline: Deadline | undefined): Effect.Effect<Indication | Deadline> {
      const taking: Effect.Effect<Indication | Deadline> = Effect.suspend(() => {
        const i = poll(deadline)
        return i === undefined ? Effect.andThen(outFilled, taking) : Effect.succeed(i)
      })
      return taking
    }

    // A failed write ends the connection (Evt17); the sender learns only that the association is gone.
    const writeFailed = (e: { readonly _tag: string }) =>
      Effect.andThen(writeFailedEvent(e), Effect.fail(new NotEstablished({ state })))
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
              for (const piece of pdus) for (const pdu of parser.push(piece).pdus) logPdu("sent", pdu)
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

    const closed: Effect.Effect<void> = Effect.suspend(() =>
      finished
        ? Effect.void
        : Effect.callback<void>((resume) => {
            if (finished) return resume(Effect.void)
            const wake = () => resume(Effect.void)
            closedWaiters.push(wake)
            return Effect.sync(() => {
              closedWaiters = closedWaiters.filter((w) => w !== wake)
            })
          })
    )

    const ul: UpperLayer = {
      state: Effect.sync(() => state),
      // Stepped at once, or, issued from within a step (a taker woken by an indication), once the events before it
      // have been: an A-ASSOCIATE-AC submitted is in effect (Sta6) when this completes.
      submit: (p) =>
        Effect.suspend(() => {
          const input = Events.ofPrimitive(p)
          if (!stepping) {
            post(input)
            return Effect.void
          }
          // Issued by the one taker woken after a step, with nothing queued behind that step and no one else to wake
          // or resume (an acceptor's A-ASSOCIATE-AC, submitted as its A-ASSOCIATE-RQ is indicated): it would be
          // stepped next, so it is stepped now, with no wait (and no fiber suspended) for the loop to come to it.
          if (
            waking &&
            events.length === 0 &&
            takers.size === 0 &&
            submitters.size === 0 &&
            consumer === undefined &&
            !finished
          ) {
            waking = false
            stepOne(input)
            return Effect.void
          }
          // The waiter is registered with the queueing, in one synchronous run: the fiber may yield between two
          // effects (its operation budget), and the step under way would then step the primitive before anyone
          // waited for it.
          return Effect.callback<void>((resume) => {
            if (!stepping) {
              post(input)
              return resume(Effect.void)
            }
            submitters.set(input, () => resume(Effect.void))
            post(input)
            return Effect.sync(() => {
              submitters.delete(input)
            })
          })
        }),
      sendPData,
      writePData: (pdus) => {
        if (debug || writers > 0 || (state !== "Sta6" && state !== "Sta8") || transport === undefined) {
          return sendPData(pdus)
        }
        // Nothing else is being written: straight to the transport, which nearly always takes it all at once.
        const rest = transport.writeNow(pdus)
        if (rest === undefined) {
          // `activity.mark()`, inlined: once per message written
          if (idleMillis !== undefined) activity.last = timers.now()
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
          const cancel = timers.after(Duration.toMillis(duration), () => indicate(deadline))
          // Interrupted, the timer stays armed until it fires (its mark is skipped) or the machine's scope closes.
          return Effect.flatMap(nextIndication(deadline), (i): Effect.Effect<Indication | A, E> => {
            if (i._tag === "Deadline") return orElse()
            cancel()
            return Effect.succeed(i)
          })
        }),
      consume: (c) =>
        Effect.sync(() => {
          consumer = c
          feedConsumer()
        }),
      closed,
      timers,
      releaseWhenIdle: (quiet) => {
        idleQuiet = quiet
      },
      transport: () => transport,
      pdataHandled: Effect.sync(() => {
        queuedPData--
      }),
      receivePData: (handler) =>
        Effect.sync(() => {
          if (typeof handler === "function") {
            receiver = handler
            runReceiver = undefined
          } else {
            receiver = onePDataAtATime(handler)
            runReceiver = handler
          }
        })
    }
    return Effect.map(Scope.addFinalizerExit(scope, finalizer), () => {
      if (options.role === "acceptor" && options.transport) {
        // Sta1 + Evt5 before anything is read.
        transport = options.transport
        post({ evt: "Evt5" })
        attach(options.transport)
      }
      return ul
    })
  })
