/**
 * The state of one DIMSE channel (internal): a record per association that the channel's modules (`DimseSend`,
 * `Requests`, `RequestStream`, `RequestHandlers`, `ChannelEnd`) work on with functions shared by every association,
 * rather than the ~100 closures a channel made over its own variables. What it holds: the negotiated limits, the send
 * lock, the Asynchronous Operations Window, the requests awaiting responses, the handlers running, the receiver, and
 * how far the association has gone towards its end. It also says why nothing more can be sent (`goneError`) and
 * aborts on a protocol error (`protocolAbort`).
 */
import type * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import type * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import type * as Queue from "effect/Queue"
import * as References from "effect/References"
import type * as Result from "effect/Result"
import * as Semaphore from "effect/Semaphore"
import { Fragmenter, Reassembler, type Dimse } from "@netdicom/wire"
import type { Association, Ending } from "../association/Association.ts"
import { AssociationAborted } from "../association/AssociationError.ts"
import type { AcceptedContext, Negotiated } from "../association/Negotiated.ts"
import * as Timers from "../upper/Timers.ts"
import type { DimseChannel, RequestHandler, Response } from "./ChannelApi.ts"
import type { DimseFailure, NoAcceptedContext } from "./DimseError.ts"
import { Receiver, type ReceiverDeps, type ReceiverHooks } from "./DimseReceiver.ts"
import * as OperationsWindow from "./OperationsWindow.ts"
import { Unanswered } from "./Unanswered.ts"

// Handlers an SCP runs at once on one association, whatever smaller window it offered.
const MIN_RUNNING_HANDLERS = 16

/** The final response of a `requestOne`: its outcome once known, and the waiting fiber's resume once it waits. */
export interface OneInbox {
  readonly _tag: "One"
  readonly id: number
  readonly message: Dimse.Message
  // The presentation context the request goes on: its responses must come on it too.
  readonly contextId: number
  // What the waiter gets: the response, or what `onResponse` made of it.
  outcome: Exit.Exit<unknown, DimseFailure> | undefined
  resume: ((exit: Exit.Exit<unknown, DimseFailure>) => void) | undefined
  // Further runs of its effect waiting for the outcome at the same time as `resume`'s (an effect may be run again).
  others: Array<(exit: Exit.Exit<unknown, DimseFailure>) => void> | undefined
  // Whether a run of its effect is sending it (waiting for a slot, writing, or waiting for the response), and the
  // runs that wait for that one to end (then the outcome is known, or the request was sent, or it was not sent).
  sending: boolean
  turns: Array<() => void> | undefined
  readonly onResponse: ((response: Response) => unknown) | undefined
  // When the response is overdue (the Clock's monotonic milliseconds), set once the request is sent.
  deadline: number
  // Whether it still holds its slot of the Asynchronous Operations Window (given back once, when it is settled,
  // fails to be sent, or its waiter goes before it was sent).
  slot: boolean
  // Whether its request may have reached the peer (its write begun): then the peer counts it outstanding until it
  // answers, and a waiter that goes leaves the slot taken until the response, the DIMSE timeout or the end.
  sent: boolean
}

/** A request's mark, set as its write begins (from then on the peer may count it outstanding). */
export interface Sent {
  sent: boolean
}

/** A request waiting for responses: a stream's inbox, or the final response of `requestOne`. */
export type Inbox =
  | {
      readonly _tag: "Stream"
      readonly message: Dimse.Message
      readonly contextId: number
      readonly queue: Queue.Queue<Response, DimseFailure | Cause.Done>
    }
  | OneInbox

/**
 * What the modules above the state do for the receiver and for `Unanswered`, given once for every channel (a table of
 * shared functions, not closures per association).
 */
export interface ChannelHooks extends ReceiverHooks<ChannelState> {
  readonly send: (
    ch: ChannelState,
    context: AcceptedContext,
    message: Dimse.Message
  ) => Effect.Effect<void, DimseFailure>
}

/** One channel's state: what the receiver reads of its channel (`ReceiverDeps`) among it. */
export class ChannelState implements ReceiverDeps {
  readonly association: Association
  readonly negotiated: Negotiated
  readonly handler: RequestHandler | undefined
  readonly hooks: ChannelHooks
  // The services of the fiber that made the channel, read once (a fiber step each saved: every association's set-up).
  readonly context: Context.Context<never>
  readonly maxPdu: number
  // The fragment bytes one PDU to the peer carries, worked out once: every message is fragmented for it.
  readonly capacity: number
  // Summaries are built only when they will be printed: this is the per-message hot path.
  readonly debug: boolean
  readonly sendLock: Semaphore.Semaphore
  // The Asynchronous Operations Window we may use: outstanding requests at once (0 = unlimited).
  readonly window: OperationsWindow.OperationsWindow
  // The handlers' fibers still running (one that ran to its end within its fork is never in it), and whether the
  // channel's scope has closed (then no handler starts). A set of its own rather than a `FiberSet`: that is an
  // `acquireRelease` in every association's set-up; the channel's one finalizer interrupts what is left.
  readonly handlers = new Set<Fiber.Fiber<void>>()
  handlersClosed = false
  // Completed once no handler is running, for whoever waits for that.
  handlersEmptied: Deferred.Deferred<void> | undefined = undefined
  // Handlers whose fiber is being started: not in `handlers` yet, though they may have run code already. A fiber a
  // handler wakes runs within that start (Effect resumes a waiter on the waker's stack): an SCU woken by its
  // N-EVENT-REPORT handler, say, which ends its scope before the handler has answered.
  startingHandlers = 0
  // Handlers running at once: past the cap the reader waits for one to finish (`awaitSlot`), woken through this.
  readonly handlerCap: number
  slotFreed: Deferred.Deferred<void> | undefined = undefined
  // Requests waiting for responses, by message id: a stream's inbox, or the final response of `requestOne`.
  readonly pending = new Map<number, Inbox>()
  // requestOne's waiting requests, oldest first: all have the same DIMSE timeout, so the first is the next due.
  readonly waitingOnes = new Set<OneInbox>()
  // Whether the DIMSE deadlines' timer is armed (`Requests.watchdog`).
  watching = false
  readonly cancels = new Map<number, Deferred.Deferred<void>>()
  readonly clock: Clock.Clock
  // The DIMSE deadlines' timer, on this fiber's Clock, cancelled by the channel's own finalizer (`ChannelEnd`).
  readonly timers: Timers.Owned
  readonly dimseTimeout: Duration.Duration
  readonly dimseMillis: number
  readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
  readonly reassembler = Reassembler.make()
  // Requests our handlers have not answered yet: one a handler leaves unanswered gets a failure response.
  readonly unanswered: Unanswered
  readonly rx: Receiver
  messageId = 0
  // Set as the channel's scope starts closing: running handlers start no new step (`isStopping`).
  stopping = false
  // Set once a release is under way: the peer's A-RELEASE-RQ came while something was running, or our idle timeout
  // released an association with nothing outstanding. No request of ours is begun after it.
  releasing: AssociationAborted | undefined = undefined
  // The association's end as the watcher (`ChannelEnd`) saw it, and whether it has ended at all.
  endedWith: Ending | undefined = undefined
  closed = false
  // Messages holding or waiting for the send lock. While there is none, a message in one write may go out without
  // taking it: written synchronously, nothing else can send meanwhile. Counted from before the lock is asked for to
  // after it is given back.
  lockedSends = 0
  readonly accepted: ReadonlyArray<AcceptedContext>
  // Each accepted context's `findContext` answer, made the first time it is given: every C-STORE and C-ECHO looks
  // its context up.
  readonly found: Array<Result.Result<AcceptedContext, NoAcceptedContext>> = []
  readonly contextById: ReadonlyMap<number, AcceptedContext>
  // A handler's fiber starts with these plus its log span ("dimse") and annotations (`RequestHandlers`).
  readonly baseSpans: ReadonlyArray<readonly [label: string, timestamp: number]>
  readonly baseAnnotations: Readonly<Record<string, unknown>>
  // The channel its handlers are given, set by `DimseChannel.make` once made.
  self: DimseChannel | undefined = undefined

  constructor(
    association: Association,
    handler: RequestHandler | undefined,
    context: Context.Context<never>,
    hooks: ChannelHooks
  ) {
    this.association = association
    this.handler = handler
    this.hooks = hooks
    this.context = context
    const negotiated = association.negotiated
    this.negotiated = negotiated
    this.maxPdu = Fragmenter.effectiveMaxPduLength(negotiated.peerMaxPduLength)
    this.capacity = Fragmenter.fragmentCapacity(this.maxPdu)
    const level = Context.get(context, References.MinimumLogLevel)
    this.debug = level === "Debug" || level === "Trace" || level === "All"
    this.sendLock = Semaphore.makeUnsafe(1)
    const invoked = negotiated.maxOperationsInvoked
    this.window = OperationsWindow.make(invoked === 0 ? 0xffff : invoked)
    this.handlerCap = Math.max(negotiated.maxOperationsPerformed, MIN_RUNNING_HANDLERS)
    this.clock = Context.get(context, Clock.Clock)
    this.timers = Timers.makeUnsafe(context)
    this.dimseTimeout = association.ae.timeouts.dimse
    this.dimseMillis = Duration.toMillis(this.dimseTimeout)
    this.runFork = Effect.runForkWith(context)
    this.accepted = negotiated.accepted
    this.contextById = new Map(this.accepted.map((c) => [c.id, c]))
    this.baseSpans = Context.get(context, References.CurrentLogSpans)
    this.baseAnnotations = Context.get(context, References.CurrentLogAnnotations)
    this.unanswered = new Unanswered(
      (context, message) => hooks.send(this, context, message),
      () => this.rx.gone !== undefined || this.endedWith !== undefined,
      this.runFork,
      () => this.stopping
    )
    this.rx = new Receiver(this)
  }

  /**
   * Why nothing more can be sent or received: the channel's own reason, else the abort the association ended with
   * (a request begun after the peer's A-ABORT says so, not just that the association ended), or its release.
   */
  goneError(): AssociationAborted {
    const endedWith = this.endedWith
    return (
      this.rx.gone ??
      (endedWith?._tag === "Aborted"
        ? endedWith.error
        : endedWith?._tag === "Released"
          ? (this.releasing ??
            new AssociationAborted({ by: "provider", source: 2, reason: 0, detail: "association released" }))
          : new AssociationAborted({ by: "provider", source: 2, reason: 0, detail: "association ended" }))
    )
  }

  /**
   * Marks the channel gone at once (nothing more is received or sent), and returns the effect that logs and aborts
   * the association. `logLine` replaces the protocol-error wording (an interruption is none).
   */
  protocolAbort(detail: string, logLine = `DIMSE protocol error, aborting: ${detail}`): Effect.Effect<void> {
    this.rx.gone = new AssociationAborted({ by: "provider", source: 0, reason: 0, detail })
    return Effect.andThen(Effect.logWarning(logLine), Effect.asVoid(this.association.abort.pipe(Effect.forkDetach)))
  }
}

/** A DIMSE timeout is no protocol error of the peer's: logged as what it is. */
export const timeoutLine = (id: number, timeout: Duration.Duration): string =>
  `DIMSE timeout, aborting: no response to message ${id} within ${Duration.format(timeout)}`
