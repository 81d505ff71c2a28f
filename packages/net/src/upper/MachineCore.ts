/**
 * The core of the upper layer machine (PS3.8 section 9.2): its state, the loop that steps its events one at a time and
 * in order, the indications it queues for its user, the PDUs it writes, its timers and the fibers it starts.
 *
 * One machine is one object per association, its code on the prototypes of `MachineCore` and of the classes built on
 * it (`MachineReader`: the socket reader; `MachineActions`: the PS3.8 actions; `UpperLayer`: the public service), so
 * every association runs the same functions rather than closures of its own. The events' lookup is `StateTable`'s;
 * what each action does is `MachineActions`'.
 *
 * Not here: reading and framing (`MachineReader`), the actions (`MachineActions`), the user's service (`UpperLayer`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import { type Pdu, PduCodec, PduSummary } from "@netdicom/wire"
import * as Events from "./MachineEvents.ts"
import type { Indication, IndicationConsumer, PDataReceiver, PDataRunReceiver, UserPrimitive } from "./Primitives.ts"
import * as Table from "./StateTable.ts"
import * as Timers from "./Timers.ts"
import type { ConnectFailed, Opener, Transport, TransportError } from "./Transport.ts"

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

/** The indication that the machine has finished, answered for ever after. */
export const CLOSED: Indication = { _tag: "Closed" }

/**
 * Queued behind the indications by the timer of an `indicationWithin` whose time is up: the taker that armed it stops
 * waiting when it takes it; one left behind (its taker got an indication first) is skipped.
 */
export interface Deadline {
  readonly _tag: "Deadline"
}

/** An A-P-ABORT indication (provider source). */
export const providerAbort = (reason: number, detail: string): Indication => ({
  _tag: "Aborted",
  abort: { by: "provider", source: 2, reason, detail }
})

/**
 * A machine's state and the code that steps it; the reading side, the actions and the user's service are the classes
 * built on it, which give it the four operations it leaves abstract.
 */
export abstract class MachineCore {
  readonly options: UpperLayerOptions
  // Effects the machine starts (a connect, a write that must wait, a receiver's wait) run with the services of the
  // fiber that made it (its logger, log annotations and spans), and are interrupted when its scope closes.
  readonly context: Context.Context<Scope.Scope>
  readonly debug: boolean
  /** The machine's timers (its Clock), cancelled with its scope; ARTIM and the idle watch are among them. */
  readonly timers: Timers.Owned
  readonly writeLock = Semaphore.makeUnsafe(1)

  current: Table.State = "Sta1"
  connection: Transport | undefined = undefined
  // The connection's resources (what `connect` acquires), closed once the machine has finished, or with its scope;
  // made with the connect (an acceptor's machine, or one given `open`, has none).
  connScope: Scope.Closeable | undefined = undefined
  // An `Opener`'s connect under way or connection made: abandoned (stopped, or closed) as the machine finishes.
  abandonOpening: (() => void) | undefined = undefined
  // Cancels the running ARTIM timer, if any.
  artim: (() => void) | undefined = undefined
  // Cancels the idle watch's timer, if armed.
  idleTimer: (() => void) | undefined = undefined
  readonly artimMillis: number
  readonly idleMillis: number | undefined
  // When the last PDU was sent or received, for the idle timeout (read synchronously per PDU).
  lastActivity = 0
  finished = false
  // Set once an A-ABORT was sent: nothing the peer sends matters any more.
  discarding = false

  receiver: PDataReceiver | undefined = undefined
  // The receiver when it takes runs of P-DATA-TFs (`receiver` is then its one-at-a-time form).
  runReceiver: PDataRunReceiver | undefined = undefined
  // P-DATA queued as events or indications and not yet taken: while any is, new P-DATA queues too (order).
  queuedPData = 0
  // PDUs queued for the machine and not yet stepped: while any is (an A-ABORT, a release...), the P-DATA behind it
  // waits its turn too.
  queuedFromPeer = 0
  // P-DATA indications that may still be queued before the transport is no longer read.
  permits: number

  // ---- fibers the machine starts: few, and only where something must be waited for ----
  fibers: Set<Fiber.Fiber<unknown, unknown>> | undefined = undefined
  stopped = false

  // ---- events: stepped one at a time, in order, as they come ----
  readonly events: Array<Events.Input> = []
  stepping = false
  // Callers of `submit` whose primitive was queued behind the step under way (a taker woken by an indication runs on
  // within the step), resumed once it has been stepped or dropped: what they do next sees the state it led to.
  readonly submitters = new Map<Events.Input, () => void>()
  // Set while `post` wakes the takers due after a step: a taker woken then that submits a primitive, with nothing
  // queued and no one else to wake or resume, has it stepped at once (`submit`), as `post` would step it next.
  waking = false

  // Writes holding or waiting for the write lock: while there is none, a write may go to the transport without taking
  // it (synchronously, so nothing else can write meanwhile). Counted from before the lock is asked for to after it is
  // given back.
  writers = 0

  // ---- indications, taken by the user's fibers or given to its consumer ----
  readonly out: Array<Indication | Deadline> = []
  readonly takers = new Set<() => void>()
  closedWaiters: Array<() => void> = []
  // Whether takers (or waiters for the close) are to be woken once the step under way is over.
  wakeTakers = false
  wakeClosed = false
  // The consumer of indications (`consume`), and whether it is waiting on what it returned for the last one.
  consumer: IndicationConsumer | undefined = undefined
  consumerWaiting = false
  feeding = false
  consumerFailed = false
  // What the consumer is given to submit a primitive with, made once.
  readonly submitNow: (p: UserPrimitive) => void

  constructor(options: UpperLayerOptions, context: Context.Context<Scope.Scope>) {
    this.options = options
    this.context = context
    const level = Context.get(context, References.MinimumLogLevel)
    this.debug = level === "Debug" || level === "Trace" || level === "All"
    // ARTIM and the idle watch are timers on the machine's clock (the TestClock in tests), not forked sleeps.
    this.timers = Timers.makeUnsafe(context)
    this.artimMillis = Duration.toMillis(options.artim)
    this.idleMillis = options.idle === undefined ? undefined : Duration.toMillis(options.idle)
    this.permits = options.pdataWindow ?? 16
    this.submitNow = (p) => this.post(Events.ofPrimitive(p))
  }

  /** Runs the action `name` for `input` and returns the next state (PS3.8 Tables 9-6 to 9-9). */
  abstract run(name: Table.ActionName, input: Events.Input): Table.State
  /** Stops reading the transport (the machine finishes, or it ended). */
  abstract stopReading(): void
  /** Closes the transport (ends it, then destroys it). */
  abstract closeTransport(): void
  /** A P-DATA indication was taken, or a P-DATA PDU gave none: the reader may queue one more. */
  abstract releasePermit(): void

  markActivity(): void {
    this.lastActivity = this.timers.now()
  }

  log(message: string): void {
    Effect.runSyncWith(this.context)(Effect.logDebug(message))
  }

  logError(message: string, defect: unknown): void {
    Effect.runSyncWith(this.context)(Effect.logError(message, defect))
  }

  logPdu(dir: "sent" | "received", pdu: Pdu.Pdu): void {
    this.log(`${dir} ${PduSummary.summarize(pdu)}`)
  }

  /** Runs `effect` in a fiber of the machine's (interrupted as its scope closes); `then` once it is done. */
  spawn<A, E>(effect: Effect.Effect<A, E>, then?: () => void): void {
    const fiber = Effect.runForkWith(this.context)(effect)
    if (fiber.pollUnsafe() !== undefined) {
      then?.()
      return
    }
    const fibers = (this.fibers ??= new Set())
    fibers.add(fiber)
    fiber.addObserver(() => {
      fibers.delete(fiber)
      if (!this.stopped) then?.()
    })
  }

  /**
   * The machine's one finalizer, on the scope itself (no context to restore for it, unlike Effect.addFinalizer: see
   * Timers): stops reading, cancels the timers, interrupts the fibers started, then closes the connection's scope.
   */
  finalize(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    this.stopped = true
    this.stopReading()
    this.timers.cancelAll()
    this.abandonOpening?.()
    const conn = this.connScope
    const fibers = this.fibers
    this.release()
    const interrupt = fibers === undefined || fibers.size === 0 ? undefined : Fiber.interruptAll(fibers)
    if (conn === undefined) return interrupt ?? Effect.void
    const closeConn = Effect.suspend(() => Scope.closeUnsafe(conn, exit) ?? Effect.void)
    return interrupt === undefined ? closeConn : Effect.andThen(interrupt, closeConn)
  }

  /**
   * Drops what the machine holds of its user's and of the connection's once its scope has closed. A finished machine
   * was seen to outlive two young-generation collections (promoted, then freed by the next full one: nothing live
   * holds it), and all it pointed to with it: the association, the channel, the socket (Round 20 of
   * docs/performance.md). What the machine still answers afterwards needs none of these.
   */
  release(): void {
    this.abandonOpening = undefined
    this.receiver = undefined
    this.runReceiver = undefined
    this.consumer = undefined
  }

  // ---- stepping ----

  stepped(input: Events.Input): void {
    if (this.submitters.size === 0) return
    const resume = this.submitters.get(input)
    if (resume === undefined) return
    this.submitters.delete(input)
    resume()
  }

  // Events left once the machine has finished are not stepped; their submitters are resumed all the same (one
  // resumed may submit again: that is dropped too).
  dropEvents(): void {
    let input: Events.Input | undefined
    while ((input = this.events.shift()) !== undefined) this.stepped(input)
  }

  // One event stepped, then the takers it woke; a defect of the machine (a PDU built here that cannot be encoded)
  // ends the association rather than the process, and is logged.
  stepOne(next: Events.Input): void {
    try {
      this.step(next)
      // Takers woken once the step is over: what they do next (a P-DATA request after AssociateAccepted, say) sees
      // the state the step led to.
      this.waking = true
      try {
        this.wakeDue()
      } finally {
        this.waking = false
      }
    } catch (defect) {
      this.logError("upper layer defect", defect)
      this.dropEvents()
      this.indicate(providerAbort(0, `internal error: ${String(defect)}`))
      this.current = "Sta1"
      this.finish()
      this.wakeDue()
    }
    this.stepped(next)
  }

  // Steps `input` now, or after the step under way when it comes from one (an action's effect, a taker woken by an
  // indication that submits a primitive).
  post(input: Events.Input): void {
    this.events.push(input)
    if (this.stepping) return
    this.stepping = true
    try {
      let next: Events.Input | undefined
      while (!this.finished && (next = this.events.shift()) !== undefined) this.stepOne(next)
      this.dropEvents()
    } finally {
      this.stepping = false
    }
  }

  step(input: Events.Input): void {
    if (Events.fromPeer(input)) this.queuedFromPeer--
    const from = this.current
    const defined = Table.lookup(from, input.evt)
    let action: Table.ActionName | undefined = defined?.name
    if (action === undefined) {
      const h = Table.onUndefined(from, input.evt)
      action = h._tag === "Ignore" ? undefined : h.action.name
    }
    // Logged before the action runs where the table gives one next state, so that the transition comes before the
    // PDU it sends; after it otherwise (or if it led elsewhere).
    const debug = this.debug
    const nextStates = !debug ? undefined : action === undefined ? [from] : Table.actions[action].nextStates
    const early = nextStates?.length === 1 ? nextStates[0] : undefined
    if (early !== undefined) this.log(Table.describeTransition(from, input.evt, action, early))
    const next = action === undefined ? from : this.run(action, input)
    // A P-DATA PDU that produced no indication gives its permit back now.
    if (input.evt === "Evt10" && action !== "DT-2" && action !== "AR-6") {
      this.queuedPData--
      this.releasePermit()
    }
    this.current = next
    if (debug && early !== next) this.log(Table.describeTransition(from, input.evt, action, next))
    if (next === "Sta1" && from !== "Sta1") this.finish()
  }

  finish(): void {
    if (this.finished) return
    this.finished = true
    this.stopArtim()
    this.idleTimer?.()
    this.closeTransport()
    this.abandonOpening?.()
    // The connection's scope, closed now: its finalizers (a socket's close), if any, run on a fiber of their own; an
    // acceptor's machine, or one given `open`, has none, and no fiber is started.
    const closing = this.connScope === undefined ? undefined : Scope.closeUnsafe(this.connScope, Exit.void)
    if (closing !== undefined) this.spawn(closing)
    this.indicate(CLOSED)
    this.wakeClosed = true
    if (!this.stepping) this.wakeDue()
  }

  // ---- timers ----

  startArtim(): void {
    this.artim?.()
    this.artim = this.timers.after(this.artimMillis, () => {
      this.artim = undefined
      this.post({ evt: "Evt18" })
    })
  }

  stopArtim(): void {
    this.artim?.()
    this.artim = undefined
  }

  // ---- writing ----

  /** `body` under the write lock, counted in `writers` from before the lock is asked for. */
  locked<A, E>(body: Effect.Effect<A, E>): Effect.Effect<A, E> {
    return Effect.suspend(() => {
      this.writers++
      return Effect.ensuring(
        this.writeLock.withPermits(1)(body),
        Effect.sync(() => {
          this.writers--
        })
      )
    })
  }

  // A failed write ends the connection (Evt17).
  writeFailedEvent(e: { readonly _tag: string }): Effect.Effect<void> {
    return Effect.sync(() => this.post({ evt: "Evt17", detail: `write failed: ${e._tag}` }))
  }

  // A PDU of the machine's own: written at once when nothing else is being written and the socket takes it, otherwise
  // in order behind the writes under way (a fiber holding the write lock): `write` is suspended until then, as a
  // socket's `write` writes as soon as it is called (ahead of a P-DATA waiting for the lock). Every one of them (an
  // A-ASSOCIATE-RQ, -AC or -RJ, an A-RELEASE-RQ or -RP, an A-ABORT) is followed by a wait for the peer or the end of
  // the connection, so it is flushed at once rather than at the end of the tick: the work that follows it in this
  // tick (an association's channel made after its A-ASSOCIATE-AC) then overlaps the peer's.
  write(bytes: Uint8Array): void {
    const t = this.connection
    if (t === undefined) return
    const rest =
      this.writers === 0 ? writeFlushed(t, bytes) : Effect.suspend(() => writeFlushed(t, bytes) ?? Effect.void)
    if (rest !== undefined) this.spawn(this.locked(Effect.catch(rest, (e) => this.writeFailedEvent(e))))
  }

  // `encoded`: the PDU's bytes, when its maker encoded it already (an A-ASSOCIATE-RQ or -AC, checked by
  // `Negotiation`).
  sendPdu(pdu: Pdu.Pdu, encoded?: Uint8Array): void {
    if (pdu._tag === "AAbort") this.discarding = true
    if (this.debug) this.logPdu("sent", pdu)
    if (encoded !== undefined) return this.write(encoded)
    const bytes = PduCodec.encodePdu(pdu)
    // The PDUs sent here are valid by construction, and `Negotiation` encodes an RQ or AC once before submitting it:
    // one that still cannot be encoded is a defect, raised rather than sent as nothing (the peer would wait).
    if (Result.isFailure(bytes)) throw bytes.failure
    this.write(bytes.success)
  }

  // ---- indications ----

  wakeDue(): void {
    if (this.wakeTakers && this.consumer !== undefined) {
      this.wakeTakers = false
      this.feedConsumer()
    }
    if (this.wakeTakers) {
      this.wakeTakers = false
      // A snapshot: a taker woken may wait again at once, and is then woken by the next indication only.
      for (const wake of Array.from(this.takers)) wake()
    }
    if (this.wakeClosed) {
      this.wakeClosed = false
      const waiting = this.closedWaiters
      this.closedWaiters = []
      for (const wake of waiting) wake()
    }
  }

  indicate(i: Indication | Deadline): void {
    this.out.push(i)
    if (this.takers.size === 0 && this.consumer === undefined) return
    this.wakeTakers = true
    if (!this.stepping) this.wakeDue()
  }

  // The next indication queued, `undefined` when none is: a deadline other than `deadline` is skipped.
  poll(deadline: Deadline | undefined): Indication | Deadline | undefined {
    const out = this.out
    while (true) {
      if (this.finished && out.length === 0) return CLOSED
      const i = out.shift()
      if (i === undefined) return undefined
      if (i._tag === "Deadline") {
        if (i === deadline) return i
        continue
      }
      if (i._tag === "PData") this.releasePermit()
      // `Closed` stays for every later taker.
      if (i._tag === "Closed") out.push(CLOSED)
      return i
    }
  }

  // A consumer that throws (a defect of its own) aborts the association, logged, the indications behind still given
  // to it, rather than the exception escaping into the socket event or timer that brought the indication (a process
  // crash) and leaving the machine unfinished.
  consumeOne(c: IndicationConsumer, i: Indication): Effect.Effect<void> | undefined {
    try {
      return c(i, this.submitNow)
    } catch (defect) {
      this.logError("indication consumer failed", defect)
      if (!this.consumerFailed && !this.finished) {
        this.consumerFailed = true
        this.post({ evt: "Evt15", detail: `indication consumer failed: ${String(defect)}` })
      }
      return undefined
    }
  }

  feedConsumer(): void {
    if (this.consumer === undefined || this.consumerWaiting || this.feeding) return
    this.feeding = true
    try {
      while (this.consumer !== undefined && !this.consumerWaiting) {
        const i = this.poll(undefined)
        if (i === undefined || i._tag === "Deadline") break
        const c = this.consumer
        if (i._tag === "Closed") this.consumer = undefined
        const wait = this.consumeOne(c, i)
        const pdata = i._tag === "PData"
        if (wait === undefined) {
          if (pdata) this.queuedPData--
          continue
        }
        this.consumerWaiting = true
        this.spawn(wait, () => {
          if (pdata) this.queuedPData--
          this.consumerWaiting = false
          this.feedConsumer()
        })
      }
    } finally {
      this.feeding = false
    }
  }
}

const writeFlushed = (t: Transport, bytes: Uint8Array): Effect.Effect<void, TransportError> | undefined => {
  const rest = t.writeNow([bytes])
  t.flush?.()
  return rest
}
