/**
 * DIMSE over one association (PS3.7 sections 7-9, PS3.8 Annex E): sending messages as P-DATA,
 * reassembling what arrives, matching responses to requests (by Message ID; one of another command than the request's
 * aborts the association), and handing requests to a handler.
 *
 * One message is sent at a time per association (command and data set together, under a lock),
 * so PDVs of two messages never interleave; a message half sent when its send fails or is
 * interrupted aborts the association. Data sets go out from bytes or from a stream without being
 * gathered, as vectored writes of PDU headers and views of the data. Receiving is synchronous code
 * run by the reader on the socket's events that returns an effect only where it must wait: incoming data sets reach
 * their handler through a bounded `Inflow` (views of the received PDUs), responses' identifiers
 * are gathered, bounded, and handlers running at once are capped. When the association ends,
 * every outstanding request fails at once with the reason.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
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
import * as Stream from "effect/Stream"
import { CommandSet, Dimse, Fragmenter, Identifiers, Reassembler, Status } from "@netdicom/wire"
import type { Association, Ending } from "../association/Association.ts"
import { AssociationAborted } from "../association/AssociationError.ts"
import * as LentBytes from "../upper/LentBytes.ts"
import * as FileIo from "./FileIo.ts"
import * as Timers from "../upper/Timers.ts"
import type { AcceptedContext } from "../association/Negotiated.ts"
import { messageIdOf, NONE, Receiver, startHandler } from "./DimseReceiver.ts"
import * as OperationsWindow from "./OperationsWindow.ts"
import * as OwnedBytes from "./OwnedBytes.ts"
import { Unanswered } from "./Unanswered.ts"
import {
  DataSourceFailed,
  DimseProtocolError,
  DimseTimeout,
  NoAcceptedContext,
  type DimseFailure
} from "./DimseError.ts"

/** A data set to send: bytes in memory, or a stream of chunks (read from a file, say). */
export type DataSource = Uint8Array | Stream.Stream<Uint8Array, DataSourceFailed>

/** A response to one of our requests, with its data set (identifier) when it carries one. */
export interface Response {
  readonly message: Dimse.Message
  readonly status: number
  readonly dataSet: Uint8Array | undefined
  /**
   * The elements of other groups a peer put in the command set of a response without a data set (a DCMTK-based
   * peer's status detail: Orthanc 1.10's Failed SOP Instance UID List), in Implicit VR Little Endian.
   */
  readonly statusDetail?: Uint8Array
}

/** A request that arrived, for an SCP handler. */
export interface IncomingRequest {
  readonly context: AcceptedContext
  readonly message: Dimse.Message
  /** The data set as it arrives, in fragments; empty when the request has none. Must be consumed. */
  readonly dataSet: Stream.Stream<Uint8Array, AssociationAborted>
  /**
   * `dataSet` with its fragments lent (`ReceivedBytes`): for a consumer that keeps no view of a fragment once it has
   * released it (`Part10.writeFile` releases each once written), which frees the socket reads at once instead of at
   * the next garbage collection. Read this or `dataSet`, not both, by one consumer (not shared with a broadcast).
   */
  readonly dataSetLent: Stream.Stream<Uint8Array, AssociationAborted>
  /**
   * The whole data set, when it had arrived in full before the handler was called (a small one): its fragments
   * in order, views of the received PDUs. `dataSet` yields the same fragments; a handler may use either.
   */
  readonly dataSetReceived?: ReadonlyArray<Uint8Array>
  /** Completes when the peer sends C-CANCEL-RQ for this request. */
  readonly cancelled: Effect.Effect<void>
  readonly isCancelled: () => boolean
}

/** How `DimseChannel.request` sends a request and when it cancels it. */
export interface RequestOptions {
  readonly dataSet?: DataSource
  /** Send C-CANCEL-RQ when the stream is stopped before its final response. */
  readonly cancel?: boolean
  /**
   * Send C-CANCEL-RQ once this completes (a user's Ctrl-C, say) while the request is outstanding, and go on streaming
   * the responses to the final one (0xFE00 with its counts, usually); none within `timeouts.cancel` (at most
   * `timeouts.dimse`) aborts the association, as for `cancel`.
   */
  readonly cancelWhen?: Effect.Effect<void>
}

/**
 * What a request handler does with each request; it answers through the channel. It is called as the request is
 * ready (on the socket's event) and its effect is run in a fiber of its own with the `dimse` log span and the
 * message's annotations; a handler that has done its work as it was called (answered with `sendNow`) may return
 * `Exit.void`, which runs no fiber.
 */
export type RequestHandler = (request: IncomingRequest, channel: DimseChannel) => Effect.Effect<void>

/** DIMSE on an association. */
export interface DimseChannel {
  readonly association: Association
  readonly nextMessageId: Effect.Effect<number>
  /** `nextMessageId`, taken now: for a caller already running in an effect (one Effect step fewer per request). */
  readonly takeMessageId: () => number
  /** Sends one message and its data set, if any. */
  readonly send: (
    context: AcceptedContext,
    message: Dimse.Message,
    dataSet?: DataSource
  ) => Effect.Effect<void, DimseFailure>
  /**
   * `send` of a message in one write (no data set, or a small one in bytes), begun now, for a caller already running
   * in an effect: with nothing else being sent it is written as this is called and `undefined` is returned (no
   * Effect step, no lock); otherwise the effect that does the rest (waits its turn or for the socket to drain) or
   * fails. A reply's path: an SCP answers this way.
   */
  readonly sendNow: (
    context: AcceptedContext,
    message: Dimse.Message,
    dataSet?: Uint8Array
  ) => Effect.Effect<void, DimseFailure> | undefined
  /**
   * Sends a request and streams its responses, ending with the final one. When the stream is
   * stopped before the final response and `cancel` is set, a C-CANCEL-RQ is sent and the final
   * response still awaited, within `timeouts.cancel` (at most `timeouts.dimse`): past it the association is
   * aborted, and what is sent on it after fails with `AssociationAborted` saying so.
   */
  readonly request: (
    context: AcceptedContext,
    message: Dimse.Message,
    options?: RequestOptions
  ) => Stream.Stream<Response, DimseFailure>
  /** Sends a request that has exactly one (final) response and waits for it. */
  readonly requestOne: (
    context: AcceptedContext,
    message: Dimse.Message,
    dataSet?: DataSource
  ) => Effect.Effect<Response, DimseFailure>
  /**
   * `requestOne` begun now, for a caller already running in an effect (a `suspend`): a message in one write is sent
   * as this is called when a window slot is free, and the effect returned waits for the response; otherwise (the
   * window full, a data set in parts, another message being sent) it takes its slot and is sent once the effect runs,
   * so that an effect never run holds no slot. The effect may be run more than once, at once or later: the request
   * leaves once, and every run gets its outcome. With `onResponse`, the effect gives what it makes of the response,
   * applied as the response is delivered (no Effect step of its own; one that throws fails the effect with the
   * defect).
   */
  readonly requestOneNow: {
    (context: AcceptedContext, message: Dimse.Message, dataSet?: DataSource): Effect.Effect<Response, DimseFailure>
    <A>(
      context: AcceptedContext,
      message: Dimse.Message,
      dataSet: DataSource | undefined,
      onResponse: (response: Response) => A
    ): Effect.Effect<A, DimseFailure>
  }
  /** The accepted context for a SOP class in a role, optionally with one of the given transfer syntaxes. */
  readonly findContext: (
    sopClassUid: string,
    role: "SCU" | "SCP",
    transferSyntaxes?: ReadonlyArray<string>
  ) => Result.Result<AcceptedContext, NoAcceptedContext>
  /**
   * True once the channel is closing (its scope ends: a server shutting down), a second before its request handlers
   * are interrupted: a handler of several steps (C-GET/C-MOVE sub-operations) starts no new one and sends its final
   * response.
   */
  readonly isStopping: () => boolean
}

export { MAX_RESPONSE_DATA_SET_BYTES } from "./DimseReceiver.ts"

/** What a data set may inflate to when it is decoded (deflated identifiers): a bound on bombs. */
export const MAX_INFLATED_IDENTIFIER_BYTES = 16 << 20

/**
 * The most data elements and sequence items a C-FIND/C-GET/C-MOVE identifier (request or response) may hold, every
 * level counted: one over is a data set that cannot be decoded. 16 MiB inflated of 8-byte elements is 2 million of
 * them, ~300-700 MB and 1-4 s of decoding; 20,000 cost ~13 MB and 35-80 ms.
 */
export const MAX_IDENTIFIER_ELEMENTS = 20_000

// Responses waiting for their consumer, per request: past this the association is not read further.
const RESPONSE_WINDOW = 2

// How long a failed send waits for the association's reason for ending.
const ENDING_WAIT = Duration.millis(200)

// Handlers an SCP runs at once on one association, whatever smaller window it offered.
const MIN_RUNNING_HANDLERS = 16

// How long handlers get to finish with an association's failure before they are interrupted.
const HANDLER_GRACE = Duration.seconds(1)

// A streamed data set is written in batches of PDUs of at least this many bytes.
const SEND_BATCH_BYTES = 256 << 10

// The final response of a `requestOne`: its outcome once known, and the waiting fiber's resume once it waits.
interface OneInbox {
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

// A request's mark, set as its write begins (from then on the peer may count it outstanding).
interface Sent {
  sent: boolean
}

type Inbox =
  | {
      readonly _tag: "Stream"
      readonly message: Dimse.Message
      readonly contextId: number
      readonly queue: Queue.Queue<Response, DimseFailure | Cause.Done>
    }
  | OneInbox

const PAD = Uint8Array.of(0)

// Data set fragments must have even lengths (PS3.5 7.1, A.5): an odd data set gets a trailing NUL.
const padEven = (bytes: Uint8Array | undefined): Uint8Array | undefined => {
  if (bytes === undefined || bytes.length % 2 === 0) return bytes
  const out = new Uint8Array(bytes.length + 1)
  out.set(bytes)
  return out
}

// The UIDs a response echoes from its request, optional in every response (PS3.7 9.3, "U(=)").
const ECHOED_UIDS = ["affectedSopClassUid", "affectedSopInstanceUid"] as const

// Encodes a message's command set. A response whose echoed UIDs cannot be written (the decoder takes any Latin-1 text
// up to 64 characters, the encoder refuses control characters) goes without those that are not UIDs, rather than
// leave its request unanswered.
// The bytes, or why not: a common message (C-STORE, C-ECHO) in one pass and no `Result` (every message sent).
const encodeCommand = (message: Dimse.Message): Uint8Array | CommandSet.CommandSetError => {
  const common = Dimse.encodeCommon(message)
  if (common !== undefined) return common
  const encoded = Dimse.encode(message)
  if (Result.isSuccess(encoded)) return encoded.success
  if (!("messageIdBeingRespondedTo" in message)) return encoded.failure
  const fields: Record<string, unknown> = { ...message }
  let dropped = false
  for (const key of ECHOED_UIDS) {
    const value = fields[key]
    if (typeof value === "string" && Result.isFailure(Identifiers.uid(value))) {
      delete fields[key]
      dropped = true
    }
  }
  if (!dropped) return encoded.failure
  const again = Dimse.encode(fields as unknown as Dimse.Message)
  return Result.isSuccess(again) ? again.success : again.failure
}

/** Starts DIMSE on an association in the current scope; `handler` receives the requests that arrive. */
export const make = (
  association: Association,
  handler?: RequestHandler
): Effect.Effect<DimseChannel, never, Scope.Scope> =>
  // In one synchronous run (no generator): every association's set-up.
  Effect.withFiber((fiber) => {
    const negotiated = association.negotiated
    const maxPdu = Fragmenter.effectiveMaxPduLength(negotiated.peerMaxPduLength)
    // The fragment bytes one PDU to the peer carries, worked out once: every message is fragmented for it.
    const capacity = Fragmenter.fragmentCapacity(maxPdu)
    // The services read once, from the context (a fiber step each saved: this is every association's set-up).
    const context = fiber.context as Context.Context<never>
    const level = Context.get(context, References.MinimumLogLevel)
    // Summaries are built only when they will be printed: this is the per-message hot path.
    const debug = level === "Debug" || level === "Trace" || level === "All"
    const sendLock = Semaphore.makeUnsafe(1)
    // The Asynchronous Operations Window we may use: outstanding requests at once (0 = unlimited).
    const invoked = negotiated.maxOperationsInvoked
    const window = OperationsWindow.make(invoked === 0 ? 0xffff : invoked)
    // The handlers' fibers still running (one that ran to its end within its fork is never in it), and whether the
    // channel's scope has closed (then no handler starts). A set of its own rather than a `FiberSet`: that is an
    // `acquireRelease` in every association's set-up; the channel's one finalizer interrupts what is left.
    const handlers = new Set<Fiber.Fiber<void>>()
    let handlersClosed = false
    // Completed once no handler is running, for whoever waits for that.
    let handlersEmptied: Deferred.Deferred<void> | undefined
    // Handlers whose fiber is being started: not in `handlers` yet, though they may have run code already. A fiber a
    // handler wakes runs within that start (Effect resumes a waiter on the waker's stack): an SCU woken by its
    // N-EVENT-REPORT handler, say, which ends its scope before the handler has answered.
    let startingHandlers = 0
    const handlersEmpty: Effect.Effect<void> = Effect.suspend(() => {
      if (handlers.size === 0 && startingHandlers === 0) return Effect.void
      handlersEmptied ??= Deferred.makeUnsafe<void>()
      return Deferred.await(handlersEmptied)
    })
    // Requests waiting for responses, by message id: a stream's inbox, or the final response of `requestOne`.
    const pending = new Map<number, Inbox>()
    // Hands a response to its request: synchronously, or as an effect to wait on when its inbox is full.
    const deliver = (id: number, r: Response): Effect.Effect<void> | undefined => {
      const inbox = pending.get(id)
      if (inbox === undefined) return undefined
      if (inbox._tag === "Stream") {
        return Queue.offerUnsafe(inbox.queue, r) ? undefined : Effect.asVoid(Queue.offer(inbox.queue, r))
      }
      // requestOne is for services whose only response is the final one; a pending one is not waited for.
      if (Status.isFinal(r.status)) {
        // A caller's `onResponse` runs on the socket's event: one that throws fails its request, not the reader.
        let exit: Exit.Exit<unknown, DimseFailure>
        try {
          exit = Exit.succeed(inbox.onResponse === undefined ? r : inbox.onResponse(r))
        } catch (defect) {
          exit = Exit.die(defect)
        }
        settleOne(inbox, exit)
        return undefined
      }
      // C-ECHO, C-STORE and the DIMSE-N services have no Pending status (PS3.4 A, B; PS3.7 10.1): such a response is a
      // broken answer, not one to wait past until the DIMSE timeout.
      if (inbox.message._tag !== "CEchoRq" && inbox.message._tag !== "CStoreRq" && !Dimse.isNRequest(inbox.message)) {
        return undefined
      }
      const status = `0x${r.status.toString(16).padStart(4, "0")}`
      const service = Dimse.commandName(inbox.message).replace(/-RQ$/, "")
      const detail = `${Dimse.commandName(r.message)} with status ${status} (Pending), which ${service} does not have`
      settleOne(inbox, Exit.fail(new DimseProtocolError({ detail })))
      return protocolAbort(detail)
    }
    // requestOne's waiting requests, oldest first: all have the same DIMSE timeout, so the first is the next due.
    const waitingOnes = new Set<OneInbox>()
    // A requestOne that is over, or that nobody waits for any more: no longer pending, its window slot given back.
    const dropOne = (inbox: OneInbox) => {
      waitingOnes.delete(inbox)
      if (pending.get(inbox.id) === inbox) pending.delete(inbox.id)
      window.release(inbox)
    }
    // `dropOne` and `nextTurn` written out: every request's response settles one.
    const settleOne = (inbox: OneInbox, exit: Exit.Exit<unknown, DimseFailure>) => {
      if (inbox.outcome !== undefined) return
      inbox.outcome = exit
      waitingOnes.delete(inbox)
      if (pending.get(inbox.id) === inbox) pending.delete(inbox.id)
      window.release(inbox)
      const resume = inbox.resume
      inbox.resume = undefined
      if (resume !== undefined) resume(exit)
      const others = inbox.others
      inbox.others = undefined
      if (others !== undefined) for (const other of others) other(exit)
      const turns = inbox.turns
      inbox.turns = undefined
      if (turns !== undefined) for (const turn of turns) turn()
    }
    // Wakes the runs of a request's effect that waited for the run sending it to end.
    const nextTurn = (inbox: OneInbox) => {
      const turns = inbox.turns
      inbox.turns = undefined
      if (turns !== undefined) for (const turn of turns) turn()
    }
    const cancels = new Map<number, Deferred.Deferred<void>>()
    const clock = Context.get(context, Clock.Clock)
    // The DIMSE deadlines' timer, on this fiber's Clock, cancelled with the channel's scope.
    // Cancelled by the channel's own finalizer (below).
    const timers = Timers.makeUnsafe(context)
    const runFork = Effect.runForkWith(context)
    const reassembler = Reassembler.make()
    // Requests our handlers have not answered yet: one a handler leaves unanswered gets a failure response.
    const unanswered = new Unanswered(
      (context, message) => send(context, message),
      () => rx.gone !== undefined || endedWith !== undefined,
      runFork,
      () => stopping
    )
    let messageId = 0
    // Set as the channel's scope starts closing: running handlers start no new step (`isStopping`).
    let stopping = false
    // Set once a release is under way: the peer's A-RELEASE-RQ came while something was running, or our idle timeout
    // released an association with nothing outstanding. No request of ours is begun after it.
    let releasing: AssociationAborted | undefined

    // The association's end as the watcher (below) saw it, and whether it has ended at all.
    let endedWith: Ending | undefined
    let closed = false

    const accepted = negotiated.accepted
    // Each accepted context's `findContext` answer, made the first time it is given: every C-STORE and C-ECHO looks
    // its context up.
    const found: Array<Result.Result<AcceptedContext, NoAcceptedContext>> = []
    const contextById = new Map(accepted.map((c) => [c.id, c]))

    // Why nothing more can be sent or received: the channel's own reason, else the abort the association ended with
    // (a request begun after the peer's A-ABORT says so, not just that the association ended), or its release.
    const goneError = () =>
      rx.gone ??
      (endedWith?._tag === "Aborted"
        ? endedWith.error
        : endedWith?._tag === "Released"
          ? (releasing ??
            new AssociationAborted({ by: "provider", source: 2, reason: 0, detail: "association released" }))
          : new AssociationAborted({ by: "provider", source: 2, reason: 0, detail: "association ended" }))

    // Marks the channel gone at once (nothing more is received or sent), and returns the effect that
    // logs and aborts the association. `logLine` replaces the protocol-error wording (an interruption is none).
    const protocolAbort = (
      detail: string,
      logLine = `DIMSE protocol error, aborting: ${detail}`
    ): Effect.Effect<void> => {
      rx.gone = new AssociationAborted({ by: "provider", source: 0, reason: 0, detail })
      return Effect.andThen(Effect.logWarning(logLine), Effect.asVoid(association.abort.pipe(Effect.forkDetach)))
    }

    // A DIMSE timeout is no protocol error of the peer's: logged as what it is.
    const timeoutLine = (id: number, timeout: Duration.Duration) =>
      `DIMSE timeout, aborting: no response to message ${id} within ${Duration.format(timeout)}`

    // ---- sending ----
    // A failed send means the association is ending: fail with its reason (a write deadline, a
    // reset...), which the machine settles a moment later.
    const fail = Effect.catch(() =>
      Effect.flatMap(Effect.option(Effect.timeout(association.ended, ENDING_WAIT)), (ending) =>
        Effect.fail(ending._tag === "Some" && ending.value._tag === "Aborted" ? ending.value.error : goneError())
      )
    )
    const isWhole = (dataSet: DataSource | undefined): dataSet is Uint8Array | undefined =>
      dataSet === undefined || (dataSet instanceof Uint8Array && dataSet.length <= SEND_BATCH_BYTES)
    const send: DimseChannel["send"] = (context, message, dataSet) =>
      isWhole(dataSet) ? sendWhole(context, message, dataSet) : sendInParts(context, message, dataSet)

    // Messages holding or waiting for the send lock. While there is none, a message in one write may go out without
    // taking it: written synchronously, nothing else can send meanwhile. Counted from before the lock is asked for to
    // after it is given back.
    let lockedSends = 0
    const lockedSendDone = Effect.sync(() => {
      lockedSends--
    })
    const underSendLock = <E>(sending: Effect.Effect<void, E>): Effect.Effect<void, E> =>
      Effect.suspend(() => {
        lockedSends++
        return Effect.ensuring(sendLock.withPermits(1)(sending), lockedSendDone)
      })

    // The common case, a message in one write, begun now (from within a running effect): `undefined` once written,
    // otherwise the effect that does the rest (waits its turn, waits for the socket to drain) or fails.
    const beginWhole = (
      context: AcceptedContext,
      message: Dimse.Message,
      dataSet: Uint8Array | undefined,
      inbox?: Sent
    ): Effect.Effect<void, DimseFailure> | undefined => {
      // Once the channel has decided to abort (a DIMSE timeout, a protocol error), nothing more goes out: a handler
      // that decision woke does not answer before the A-ABORT.
      if (rx.gone !== undefined) return Effect.fail(rx.gone)
      const command = encodeCommand(message)
      if (!(command instanceof Uint8Array)) {
        return Effect.fail(new DimseProtocolError({ detail: `cannot encode ${message._tag}: ${command.rule}` }))
      }
      if (!unanswered.sending(message)) return Effect.logWarning(unanswered.notSent(message))
      // `padEven` only for an odd data set (every message sent comes here).
      const even = dataSet === undefined || dataSet.length % 2 === 0 ? dataSet : padEven(dataSet)
      const parts = Fragmenter.messagePartsWithin(context.id, capacity, command, even)
      if (debug) {
        return Effect.andThen(
          Effect.logDebug(`send ${Dimse.summarize(message)} on pc ${context.id}`),
          underSendLock(sendingNow(parts, inbox))
        )
      }
      if (lockedSends > 0) return underSendLock(sendingNow(parts, inbox))
      // Nobody else is sending: the whole message goes to the upper layer now, without the lock.
      if (inbox !== undefined) inbox.sent = true
      const rest = association.writePData(parts)
      // Written, but the socket must drain first (or the upper layer is busy writing): finish holding the lock,
      // which is free (nothing ran since it was seen free), as a message sent under it would.
      return rest === undefined ? undefined : underSendLock(fail(rest))
    }
    // `association.sendPData`, marking a request's inbox sent as its write begins; once the channel is gone (it may
    // have gone while this waited for the send lock, or between a large message's batches), nothing is written and
    // `fail` is not asked why: the channel's own reason is the answer.
    const sendingNow = (parts: ReadonlyArray<Uint8Array>, inbox: Sent | undefined) =>
      Effect.suspend(() => {
        if (rx.gone !== undefined) return Effect.fail(rx.gone)
        if (inbox !== undefined) inbox.sent = true
        return fail(association.sendPData(parts))
      })
    const sendWhole = (
      context: AcceptedContext,
      message: Dimse.Message,
      dataSet: Uint8Array | undefined
    ): Effect.Effect<void, DimseFailure> => Effect.suspend(() => beginWhole(context, message, dataSet) ?? Effect.void)

    const sendInParts = (
      context: AcceptedContext,
      message: Dimse.Message,
      dataSet: DataSource,
      inbox?: Sent
    ): Effect.Effect<void, DimseFailure> =>
      Effect.gen(function* () {
        if (rx.gone !== undefined) return yield* Effect.fail(rx.gone)
        const command = encodeCommand(message)
        if (!(command instanceof Uint8Array)) {
          return yield* Effect.fail(
            new DimseProtocolError({ detail: `cannot encode ${message._tag}: ${command.rule}` })
          )
        }
        if (!unanswered.sending(message)) return yield* Effect.logWarning(unanswered.notSent(message))
        if (debug) yield* Effect.logDebug(`send ${Dimse.summarize(message)} on pc ${context.id}`)
        yield* underSendLock(
          Effect.gen(function* () {
            if (dataSet instanceof Uint8Array) {
              const parts = Fragmenter.messagePartsWithin(context.id, capacity, command, padEven(dataSet))
              // A large data set goes in batches, so that the write deadline sees the peer's progress.
              let at = 0
              yield* guardHalfSent(
                () => at > 0,
                Effect.whileLoop({
                  while: () => at < parts.length,
                  body: () =>
                    Effect.suspend(() => {
                      const from = at
                      let bytes = 0
                      while (at < parts.length && bytes < SEND_BATCH_BYTES) bytes += parts[at++]!.length
                      return sendingNow(parts.slice(from, at), inbox)
                    }),
                  step: () => {}
                })
              )
              return
            }
            // PDUs go out in batches of at least SEND_BATCH_BYTES, the command with the first: a small
            // data set is one write, a large one a write per batch instead of one per chunk read.
            let batch: Array<Uint8Array> = Fragmenter.messagePartsWithin(context.id, capacity, command)
            let batchBytes = 0
            // Lent chunks (pooled file reads) go back once every view of them was handed to the transport.
            const lent = LentBytes.tracker(capacity)
            const flush = Effect.suspend(() => {
              const pdus = batch
              batch = []
              batchBytes = 0
              return Effect.map(sendingNow(pdus, inbox), () => lent.written())
            })
            const fragmenter = Fragmenter.makeDataPartFragmenter(context.id, maxPdu)
            let started = false
            // A chunk into the batch; whether the batch is full.
            const add = (chunk: Uint8Array): boolean => {
              // A borrowed chunk (the source may refill it) is copied; a handed-over or lent one is referenced.
              const kept = lent.keep(chunk) || OwnedBytes.isHandedOver(chunk) ? chunk : new Uint8Array(chunk)
              for (const pdu of fragmenter.push(kept)) {
                batch.push(pdu)
                batchBytes += pdu.length
              }
              return batchBytes >= SEND_BATCH_BYTES
            }
            // Framed reads (`FileIo.Frame`) come as whole PDUs once their headers are written in: one piece per write.
            const frame = { gap: Fragmenter.HEADER_LENGTH, capacity }
            // The file's last PDUs, held until the end's check says the file is as its meta was read.
            let lastFramed: { readonly pdus: Uint8Array; readonly bytes: Uint8Array } | undefined
            // A file the library reads (`FileIo.chunkReaderOf`): its chunks go out from the reads themselves, an effect
            // run only where the fiber must wait (a read from the disk, the socket to drain, the end's check), instead
            // of a stream's pull per chunk.
            const sendReads = (reads: FileIo.ChunkReader<DataSourceFailed>) => {
              let ended = false
              // Up to the end, a failed read, or a write that must wait (its wait, then the next turn).
              const turn = Effect.callback<void, DimseFailure>((resume) => {
                let stopped = false
                let later: ReturnType<typeof setImmediate> | undefined
                const run = (): void => {
                  later = undefined
                  while (!stopped) {
                    // Gone between two batches (a DIMSE timeout, a protocol error): nothing more is written.
                    if (rx.gone !== undefined) {
                      stopped = true
                      ended = true
                      return resume(Effect.fail(rx.gone))
                    }
                    const next = reads.take()
                    if (next === undefined) return reads.whenReady(run)
                    if (next._tag !== "Chunk") {
                      stopped = true
                      ended = true
                      return resume(next._tag === "End" ? Effect.void : Effect.fail(next.error))
                    }
                    let release = lent.written
                    if (reads.framed) {
                      const framed = Fragmenter.frameInPlace(next.bytes, next.data, capacity, context.id, next.last)
                      if (next.last) {
                        lastFramed = { pdus: framed, bytes: next.bytes }
                        continue
                      }
                      batch.push(framed)
                      release = () => LentBytes.release(next.bytes)
                    } else if (!add(next.bytes)) continue
                    started = true
                    const pdus = batch
                    batch = []
                    batchBytes = 0
                    if (inbox !== undefined) inbox.sent = true
                    const rest = association.writePData(pdus)
                    if (rest !== undefined) {
                      stopped = true
                      // released however the wait ends: a framed chunk is tracked by nothing else
                      return resume(Effect.ensuring(fail(rest), Effect.sync(release)))
                    }
                    release()
                    // The next batch on the event loop's next turn: this one leaves first (the socket is uncorked at
                    // the end of this tick), so reads from the page cache do not pile batches up until the socket
                    // must drain, and the other connections get their turn.
                    later = setImmediate(run)
                    return
                  }
                }
                run()
                return Effect.sync(() => {
                  stopped = true
                  if (later !== undefined) clearImmediate(later)
                  reads.whenReady(undefined)
                })
              })
              return Effect.whileLoop({ while: () => !ended, body: () => turn, step: () => {} })
            }
            const reader = FileIo.chunkReaderOf(dataSet)
            const chunks =
              reader === undefined
                ? Stream.runForEach(dataSet, (chunk) => {
                    if (!add(chunk)) return Effect.void
                    started = true
                    return flush
                  })
                : Effect.scoped(Effect.flatMap(reader(frame), sendReads))
            yield* guardHalfSent(
              () => started,
              Effect.gen(function* () {
                yield* chunks
                if (lastFramed !== undefined) batch.push(lastFramed.pdus)
                else {
                  // An odd-length data set (a deflated bit stream, PS3.5 A.5) goes out with one trailing NUL.
                  if (fragmenter.bytesPushed() % 2 === 1) batch.push(...fragmenter.push(PAD))
                  batch.push(...fragmenter.end())
                }
                yield* flush
              }).pipe(
                Effect.ensuring(
                  Effect.sync(() => {
                    lent.releaseAll()
                    if (lastFramed !== undefined) LentBytes.release(lastFramed.bytes)
                  })
                )
              )
            )
          })
        )
      })

    // A half-sent message cannot be taken back: once part of it has gone, a failure or an interruption
    // of the rest aborts the association, so no other message lands inside it.
    const guardHalfSent = <E>(started: () => boolean, sending: Effect.Effect<void, E>): Effect.Effect<void, E> =>
      Effect.onExit(sending, (exit) =>
        Exit.isSuccess(exit) || !started() || rx.gone !== undefined
          ? Effect.void
          : Cause.hasInterruptsOnly(exit.cause)
            ? protocolAbort(
                "a message was interrupted half sent",
                "interrupted: aborting the association (a message was half sent)"
              )
            : endedBy(exit.cause) !== undefined
              ? Effect.sync(() => {
                  rx.gone ??= endedBy(exit.cause)
                })
              : sourceFailed(exit.cause) !== undefined
                ? protocolAbort(
                    `our data set failed half sent: ${sourceFailed(exit.cause)!.message}`,
                    `${sourceFailed(exit.cause)!.message}: aborting the association (a message was half sent)`
                  )
                : protocolAbort(`a message failed half sent: ${Cause.pretty(exit.cause).split("\n")[0]}`)
      )
    // Our own data set source failing (a file changed while read, a router's incoming data set cut off) is no protocol
    // error of anyone's: the association is aborted all the same, and the log says whose data set failed.
    const sourceFailed = (cause: Cause.Cause<unknown>): DataSourceFailed | undefined => {
      const error = Cause.findErrorOption(cause)
      return error._tag === "Some" && error.value instanceof DataSourceFailed ? error.value : undefined
    }
    // The peer's A-ABORT, when that is what ended the association under a message being sent: not a protocol error
    // of ours, and nothing is left to abort. (Any other failure still aborts: the association may not have ended.)
    const endedBy = (cause: Cause.Cause<unknown>): AssociationAborted | undefined => {
      const error = Cause.findErrorOption(cause)
      return error._tag === "Some" && error.value instanceof AssociationAborted && error.value.by === "peer"
        ? error.value
        : undefined
    }

    // A response awaited within the DIMSE timeout; past it the association is aborted: DimseTimeout.
    const dimseTimedOut = (id: number, message: Dimse.Message) => () => {
      const timeout = association.ae.timeouts.dimse
      return Effect.andThen(
        protocolAbort(`no response to message ${id} within ${Duration.format(timeout)}`, timeoutLine(id, timeout)),
        Effect.fail(new DimseTimeout({ waitingFor: `response to ${Dimse.commandName(message)} ${id}` }))
      )
    }
    const withinDimseTimeout = <A, E>(waiting: Effect.Effect<A, E>, id: number, message: Dimse.Message) =>
      Effect.timeoutOrElse(waiting, { duration: association.ae.timeouts.dimse, orElse: dimseTimedOut(id, message) })

    // The next response from a request's inbox, within the DIMSE timeout of the peer's last sign of life: a C-GET
    // SCP need send no Pending response (PS3.4 C.4.3.3), only its C-STORE sub-operations, which may take longer.
    const nextResponse = (
      inbox: Queue.Queue<Response, DimseFailure | Cause.Done>,
      id: number,
      message: Dimse.Message
    ): Effect.Effect<Response, DimseFailure> => {
      const arrived = rx.requestsArrived + rx.requestFragmentsArrived
      return Effect.timeoutOrElse(Queue.take(inbox), {
        duration: association.ae.timeouts.dimse,
        orElse: () =>
          rx.requestsArrived + rx.requestFragmentsArrived !== arrived
            ? nextResponse(inbox, id, message)
            : dimseTimedOut(id, message)()
      }).pipe(Effect.catchIf(Cause.isDone, () => Effect.fail(goneError())))
    }

    // One timer for all of requestOne's deadlines instead of a race per request: a timer (no fiber) armed until the
    // oldest waiting request is due, armed when the first one waits, left unarmed when none does.
    let watching = false
    // Deadlines are on the monotonic clock (`timers.now`): a step of the system time changes none.
    const watchdog = (): void => {
      while (true) {
        const first = waitingOnes.values().next()
        if (first.done === true || rx.gone !== undefined) {
          watching = false
          return
        }
        const inbox = first.value
        const left = inbox.deadline - timers.now()
        if (left > 0) {
          timers.after(left, watchdog)
          return
        }
        const timeout = association.ae.timeouts.dimse
        const abort = protocolAbort(
          `no response to message ${inbox.id} within ${Duration.format(timeout)}`,
          timeoutLine(inbox.id, timeout)
        )
        settleOne(
          inbox,
          Exit.fail(new DimseTimeout({ waitingFor: `response to ${Dimse.commandName(inbox.message)} ${inbox.id}` }))
        )
        runFork(abort)
      }
    }
    const dimseMillis = Duration.toMillis(association.ae.timeouts.dimse)
    // Waits for the final response of a sent request, within the DIMSE timeout; called from within a running effect.
    // Interrupted while waiting, it does what `whenOneEnds` does (so that a request sent at once needs no `onExit`).
    const awaitOne = (inbox: OneInbox): Effect.Effect<unknown, DimseFailure> => {
      if (inbox.outcome !== undefined) return inbox.outcome
      inbox.deadline = timers.now() + dimseMillis
      waitingOnes.add(inbox)
      if (!watching) {
        watching = true
        watchdog()
      }
      return waitSent(inbox)
    }
    // Waits for the outcome of a request sent and waited for (its deadline set): every run of its effect gets it.
    // No canceller (it cost every C-STORE a primitive and the async finalizer the runtime pushes and pops for it): a
    // run interrupted while waiting leaves its `resume` in the inbox, which does nothing when the request settles
    // (Effect ignores a resume after the interruption). The request was sent, so it keeps its slot until its
    // response, the DIMSE timeout or the association's end (`failOutstanding` settles what is pending), as it did.
    const waitSent = (inbox: OneInbox): Effect.Effect<unknown, DimseFailure> =>
      Effect.callback<unknown, DimseFailure>((resume) => {
        if (inbox.outcome !== undefined) return resume(inbox.outcome)
        if (inbox.resume === undefined) inbox.resume = resume
        else (inbox.others ??= []).push(resume)
      })

    // A requestOne that ends without its response (interrupted, or its send failed) gives its slot back, unless its
    // waiter went after the request was sent: the peer still counts it outstanding (PS3.7 D.3.3.3), so the slot stays
    // taken until its response comes (then dropped), the DIMSE timeout passes (the association is aborted) or the
    // association ends.
    const whenOneEnds = (inbox: OneInbox) => (exit: Exit.Exit<unknown, DimseFailure>) => {
      if (Exit.isSuccess(exit) || inbox.outcome !== undefined) return Effect.void
      if (!Cause.hasInterruptsOnly(exit.cause)) {
        // Failed (it could not be sent): that is its outcome, for every run of its effect.
        settleOne(inbox, exit)
        return Effect.void
      }
      if (!inbox.sent || rx.gone !== undefined || closed) {
        dropOne(inbox)
        return Effect.void
      }
      inbox.resume = undefined
      if (!waitingOnes.has(inbox)) {
        // Interrupted before it waited (while its write drained): its deadline starts now.
        inbox.deadline = timers.now() + dimseMillis
        waitingOnes.add(inbox)
        if (!watching) {
          watching = true
          watchdog()
        }
      }
      return Effect.void
    }

    // Sends a request whose inbox holds a window slot and waits for its response; called from within a running effect.
    const sendOne = (
      context: AcceptedContext,
      message: Dimse.Message,
      dataSet: DataSource | undefined,
      inbox: OneInbox
    ): Effect.Effect<unknown, DimseFailure> => {
      pending.set(inbox.id, inbox)
      if (rx.gone !== undefined || closed || releasing !== undefined) {
        dropOne(inbox)
        return Effect.fail(releasing ?? goneError())
      }
      const rest = isWhole(dataSet)
        ? beginWhole(context, message, dataSet, inbox)
        : sendInParts(context, message, dataSet, inbox)
      if (rest === undefined) return awaitOne(inbox)
      return Effect.andThen(
        rest,
        Effect.suspend(() => awaitOne(inbox))
      )
    }

    // The effect of a request not written as it was begun: each run of it sends it unless another run is sending it
    // (then it waits for that run to end) or it was sent (then it waits for the response), so that it leaves once
    // however often the effect is run. `first`: what the first run does when the request was written in part already.
    const runOne = (
      inbox: OneInbox,
      first: Effect.Effect<unknown, DimseFailure> | undefined,
      context: AcceptedContext,
      message: Dimse.Message,
      dataSet: DataSource | undefined
    ): Effect.Effect<unknown, DimseFailure> => {
      let begun = first
      const run: Effect.Effect<unknown, DimseFailure> = Effect.suspend(() => {
        if (inbox.outcome !== undefined) return inbox.outcome
        if (inbox.sending) {
          const turn = Effect.callback<void>((resume) => {
            const next = () => resume(Effect.void)
            ;(inbox.turns ??= []).push(next)
            return Effect.sync(() => {
              if (inbox.turns !== undefined) inbox.turns = inbox.turns.filter((other) => other !== next)
            })
          })
          return Effect.andThen(turn, run)
        }
        if (inbox.sent) return rx.gone !== undefined || closed ? Effect.fail(goneError()) : waitSent(inbox)
        inbox.sending = true
        const sending =
          begun ??
          Effect.andThen(
            window.take(inbox),
            Effect.suspend(() => sendOne(context, message, dataSet, inbox))
          )
        begun = undefined
        return Effect.onExit(sending, (exit) => {
          inbox.sending = false
          const ended = whenOneEnds(inbox)(exit)
          nextTurn(inbox)
          return ended
        })
      })
      return run
    }

    // The fast path for services with one response (C-ECHO, C-STORE): no stream, no queue in between; with a free
    // window slot and nothing else being sent, no lock either.
    const requestOne: DimseChannel["requestOne"] = (context, message, dataSet) =>
      Effect.suspend(() => beginOne(context, message, dataSet, undefined) as Effect.Effect<Response, DimseFailure>)
    // `requestOneNow`: the effect gives the response, or what `onResponse` made of it.
    const beginOne = (
      context: AcceptedContext,
      message: Dimse.Message,
      dataSet: DataSource | undefined,
      onResponse: ((response: Response) => unknown) | undefined
    ): Effect.Effect<unknown, DimseFailure> => {
      if (rx.gone !== undefined || closed) return Effect.fail(goneError())
      if (releasing !== undefined) return Effect.fail(releasing)
      const inbox: OneInbox = {
        _tag: "One",
        id: messageIdOf(message) ?? 0,
        message,
        contextId: context.id,
        outcome: undefined,
        resume: undefined,
        onResponse,
        others: undefined,
        sending: false,
        turns: undefined,
        deadline: 0,
        slot: false,
        sent: false
      }
      // The common case: a free slot, the whole message written now, then only the wait for the response.
      // (isWhole written out: one call fewer on every request's path)
      const whole = dataSet === undefined || (dataSet instanceof Uint8Array && dataSet.length <= SEND_BATCH_BYTES)
      if (whole && window.tryTake(inbox)) {
        pending.set(inbox.id, inbox)
        const rest = beginWhole(context, message, dataSet, inbox)
        if (rest === undefined) return awaitOne(inbox)
        if (inbox.sent)
          return runOne(
            inbox,
            Effect.andThen(
              rest,
              Effect.suspend(() => awaitOne(inbox))
            ),
            context,
            message,
            dataSet
          )
        // Not written now (another message holds the send lock, or the channel logs at Debug): its slot given back
        // until its effect runs, so that an effect never run holds none.
        dropOne(inbox)
      }
      // The window full, or a data set in parts: a slot waited for (in order) and the request sent once the effect
      // runs; one handed over and not used is given back.
      return runOne(inbox, undefined, context, message, dataSet)
    }

    const request: DimseChannel["request"] = (context, message, options) =>
      Stream.callback<Response, DimseFailure>(
        (out) =>
          Effect.gen(function* () {
            const id = messageIdOf(message) ?? 0
            // Bounded: a consumer slower than the peer holds the association back, not our memory.
            const inbox = yield* Queue.bounded<Response, DimseFailure | Cause.Done>(RESPONSE_WINDOW)
            let finished = false
            // Set once a C-CANCEL-RQ went out for it (`cancelWhen`), so that it goes once.
            let cancelSent = false
            const { cancel: cancelTimeout, dimse } = association.ae.timeouts
            const cancelWithin = Duration.min(cancelTimeout, dimse)
            const noFinalAfterCancel = () =>
              rx.gone === undefined
                ? protocolAbort(
                    `no final response to message ${id} within ${Duration.format(cancelWithin)} of its C-CANCEL`
                  )
                : Effect.void
            const holder: OperationsWindow.Holder = { slot: false }
            const mark: Sent = { sent: false }
            // Set when the rest of the responses are left to a fiber of the channel, which gives the slot back.
            let handedOff = false
            yield* Effect.addFinalizer(() =>
              Effect.sync(() => {
                if (!handedOff) window.release(holder)
              })
            )
            yield* window.take(holder)
            yield* Effect.addFinalizer(() =>
              Effect.gen(function* () {
                // Only a request the peer may have seen is cancelled (one stopped before its write began is not).
                if (!finished && mark.sent && (options?.cancel || cancelSent) && rx.gone === undefined) {
                  if (!cancelSent) {
                    cancelSent = true
                    yield* send(context, { _tag: "CCancelRq", messageIdBeingRespondedTo: id }).pipe(Effect.ignore)
                  }
                  // Still wait for the final response, so the association stays in step. None within the cancel
                  // timeout (at most the DIMSE timeout) aborts the association: the peer still counts the request
                  // outstanding, so its window slot cannot be given back to the next request, and a user who
                  // stopped the request (Ctrl-C) is not kept waiting for a peer that has stopped answering.
                  yield* Effect.gen(function* () {
                    while (true) {
                      const r = yield* Queue.take(inbox)
                      if (Status.isFinal(r.status)) return
                    }
                  }).pipe(Effect.timeoutOrElse({ duration: cancelWithin, orElse: noFinalAfterCancel }), Effect.ignore)
                } else if (!finished && mark.sent && rx.gone === undefined) {
                  // Stopped without a C-CANCEL: the peer goes on to its final response and counts the request
                  // outstanding until then. The rest is drained by a fiber of the channel, which gives the window
                  // slot back with the final response (none within the DIMSE timeout aborts the association).
                  handedOff = true
                  runFork(
                    Effect.gen(function* () {
                      while (true) {
                        const r = yield* withinDimseTimeout(Queue.take(inbox), id, message)
                        if (Status.isFinal(r.status)) return
                      }
                    }).pipe(
                      Effect.ignore,
                      Effect.ensuring(
                        Effect.suspend(() => {
                          pending.delete(id)
                          window.release(holder)
                          return Queue.shutdown(inbox)
                        })
                      )
                    )
                  )
                  return
                }
                pending.delete(id)
                // Nobody takes from it any more: let a dispatcher blocked on it go on.
                yield* Queue.shutdown(inbox)
              })
            )
            // Registered for its responses once it holds a slot and its finalizer is in place (one given up while
            // waiting for a slot leaves nothing behind).
            pending.set(id, { _tag: "Stream", message, contextId: context.id, queue: inbox })
            if (rx.gone !== undefined || closed) return yield* Effect.fail(goneError())
            if (releasing !== undefined) return yield* Effect.fail(releasing)
            const dataSet = options?.dataSet
            yield* isWhole(dataSet)
              ? Effect.suspend(() => beginWhole(context, message, dataSet, mark) ?? Effect.void)
              : sendInParts(context, message, dataSet, mark)
            const cancelWhen = options?.cancelWhen
            if (cancelWhen !== undefined) {
              // Cancelled while outstanding: C-CANCEL-RQ once, then the responses go on to the final one, which must
              // come within the cancel timeout (this fiber ends with the stream's scope, once the final came).
              yield* Effect.forkScoped(
                Effect.gen(function* () {
                  yield* cancelWhen
                  if (finished || cancelSent || rx.gone !== undefined) return
                  cancelSent = true
                  yield* send(context, { _tag: "CCancelRq", messageIdBeingRespondedTo: id }).pipe(Effect.ignore)
                  // Only the peer's silence counts: while responses wait for a slow consumer (the reader holding back
                  // those behind them, the final one perhaps), or the data set of the sub-operation under way at the
                  // C-CANCEL (a C-GET's C-STORE) still arrives, it waits again. A prompt consumer leaves the inbox
                  // empty, and a new sub-operation after the C-CANCEL counts for nothing, so a peer flooding Pending
                  // responses or sub-operations after the C-CANCEL is still aborted.
                  const requests = rx.requestsArrived
                  let fragments = rx.requestFragmentsArrived
                  yield* Effect.sleep(cancelWithin)
                  while (!finished) {
                    const arriving = rx.requestsArrived === requests && rx.requestFragmentsArrived !== fragments
                    if (Queue.sizeUnsafe(inbox) === 0 && !arriving) break
                    fragments = rx.requestFragmentsArrived
                    yield* Effect.sleep(cancelWithin)
                  }
                  if (!finished) yield* noFinalAfterCancel()
                })
              )
            }
            while (true) {
              const r = yield* nextResponse(inbox, id, message)
              if (Status.isFinal(r.status)) {
                finished = true
                yield* Queue.offer(out, r)
                yield* Queue.end(out)
                return
              }
              yield* Queue.offer(out, r)
            }
          }).pipe(Effect.catch((e: DimseFailure) => Queue.fail(out, e))),
        { bufferSize: RESPONSE_WINDOW }
      )

    // ---- receiving ----
    // Synchronous, by the reader (on the socket's event): each step returns an effect only when it must wait
    // (backpressure) or log, and the steps after it run once that effect has.
    // A handler's fiber starts with the channel's context plus its log span ("dimse") and annotations (the
    // message and its id): both set in one context, made before the fork, rather than two context updates
    // (each a fiber-context switch and an exit observer) in the handler's own fiber.
    const baseContext = context
    const baseSpans = Context.get(baseContext, References.CurrentLogSpans)
    const baseAnnotations = Context.get(baseContext, References.CurrentLogAnnotations)
    // `done` is called once the handler has ended, with how it ended. A handler that did its work as it was called and
    // returned `Exit.void` (`Scp`'s C-ECHO answered at once) runs no fiber (by identity: no call to tell); one that ran
    // to its end within the fork (a small C-STORE answered at once: fibers run inline until they suspend) is not
    // tracked in the handler set. A handler that fails gets its request answered with a failure if it had not
    // answered it, and a request with no handler is refused (`Unanswered`).
    const runHandler = (
      request: IncomingRequest,
      id: number | undefined,
      done: (exit: Exit.Exit<void>) => void
    ): void => {
      if (handlersClosed) return
      const message = request.message
      let handled: Effect.Effect<void> | undefined
      try {
        handled = handler?.(request, self)
      } catch (thrown) {
        // A handler function that throws instead of returning an effect: a defect of that handler, answered as one.
        handled = Effect.die(thrown)
      }
      if (handled === Exit.void) return done(Exit.void)
      const run =
        handled !== undefined
          ? Effect.catchCause(handled, (cause) => unanswered.failed(request.context, message, cause))
          : Effect.andThen(
              Stream.runDrain(request.dataSet).pipe(Effect.ignore),
              unanswered.refused(request.context, message)
            )
      // By key (`addUnsafe`): `Context.add` is the same through a curried wrapper, two calls more per message.
      const context = Context.addUnsafe(
        Context.addUnsafe(baseContext, References.CurrentLogSpans.key, [
          ["dimse", clock.currentTimeMillisUnsafe()],
          ...baseSpans
        ]),
        References.CurrentLogAnnotations.key,
        { ...baseAnnotations, message: Dimse.commandName(message), messageId: id ?? -1 }
      )
      startingHandlers++
      const fiber = Effect.runForkWith(context)(run)
      startingHandlers--
      fiber.addObserver(done)
      if (fiber.pollUnsafe() !== undefined) {
        // Ended as it started; a scope that closed meanwhile may be waiting for it.
        if (handlersEmptied !== undefined && handlers.size === 0 && startingHandlers === 0) {
          const emptied = handlersEmptied
          handlersEmptied = undefined
          Deferred.doneUnsafe(emptied, Exit.void)
        }
        return
      }
      handlers.add(fiber)
      fiber.addObserver(() => {
        handlers.delete(fiber)
        if (handlers.size > 0 || startingHandlers > 0 || handlersEmptied === undefined) return
        const emptied = handlersEmptied
        handlersEmptied = undefined
        Deferred.doneUnsafe(emptied, Exit.void)
      })
    }
    // Handlers running at once: once a request beyond the cap has come the reader waits for one to finish (so a peer
    // that sends requests without reading the answers is held back by TCP, not by our memory). Not at the cap: a peer
    // using all of its window (the cap is at least that) must still have its C-CANCEL-RQs read.
    const handlerCap = Math.max(negotiated.maxOperationsPerformed, MIN_RUNNING_HANDLERS)
    let slotFreed: Deferred.Deferred<void> | undefined
    const handlerDone = () => {
      rx.running--
      const waiter = slotFreed
      slotFreed = undefined
      if (waiter !== undefined) Deferred.doneUnsafe(waiter, Exit.void)
    }
    const awaitSlot: Effect.Effect<void> = Effect.suspend(() => {
      if (rx.running <= handlerCap || rx.gone !== undefined) return Effect.void
      slotFreed ??= Deferred.makeUnsafe<void>()
      return Effect.andThen(Deferred.await(slotFreed), awaitSlot)
    })

    const rx: Receiver = new Receiver({
      debug,
      reassembler,
      contextById,
      pending,
      cancels,
      handlerCap,
      dimseTimeout: association.ae.timeouts.dimse,
      deliver,
      protocolAbort,
      runHandler,
      handlerDone,
      awaitSlot,
      unanswered
    })

    // 1..65535 in turn, skipping ids still awaiting responses (with an unlimited window, ids wrap around them).
    const takeMessageId = (): number => {
      for (let tries = 0; tries < 0xffff; tries++) {
        messageId = (messageId % 0xffff) + 1
        if (!pending.has(messageId)) break
      }
      return messageId
    }
    const self: DimseChannel = {
      association,
      nextMessageId: Effect.sync(() => takeMessageId()),
      takeMessageId,
      send,
      // A reply without a data set (a C-STORE-RSP, a C-ECHO-RSP) goes straight to `beginWhole`.
      sendNow: (context, message, dataSet) =>
        dataSet === undefined || isWhole(dataSet)
          ? beginWhole(context, message, dataSet)
          : sendInParts(context, message, dataSet),
      request,
      requestOne,
      // `beginOne` itself (its optional arguments given as undefined when left out): every C-STORE and C-ECHO's path.
      requestOneNow: beginOne as DimseChannel["requestOneNow"],
      findContext: (sopClassUid, role, transferSyntaxes) => {
        // A loop rather than `find` with a closure: every C-STORE looks its context up, among up to 128.
        for (let i = 0; i < accepted.length; i++) {
          const c = accepted[i]!
          if (c.abstractSyntax !== sopClassUid || !(role === "SCU" ? c.weAreScu : c.weAreScp)) continue
          if (transferSyntaxes === undefined || transferSyntaxes.includes(c.transferSyntax))
            return (found[i] ??= Result.succeed(c))
        }
        return Result.fail(new NoAcceptedContext({ sopClassUid, role, transferSyntax: transferSyntaxes?.join(", ") }))
      },
      isStopping: () => stopping
    }

    // A run receiver: the P-DATA-TFs of one socket read in one call (a small C-STORE is four).
    const receiving = association.receive(rx)
    // Before answering the peer's A-RELEASE-RQ: a data set still arriving never will, so its request
    // fails; the running handlers get the DIMSE timeout to finish, then are stopped.
    const beforeRelease = Effect.gen(function* () {
      // A requestor that has sent its A-RELEASE-RQ may send no P-DATA (PS3.8 9.2, Sta7): our requests it has not
      // answered never will be, nor will any begun from now (a Storage Commitment SCP's report in its handler), so they
      // fail at once rather than at the DIMSE timeout, which the release would otherwise wait for too.
      releasing ??= new AssociationAborted({
        by: "peer",
        source: 0,
        reason: 0,
        detail: "the peer asked to release: it can answer no request of ours"
      })
      for (const inbox of Array.from(pending.values())) {
        if (inbox._tag === "Stream") yield* Queue.fail(inbox.queue, releasing)
        else settleOne(inbox, Exit.fail(releasing))
      }
      if (rx.target._tag === "Request") {
        const detail = "the peer asked to release while a data set was still arriving"
        rx.target.inflow.fail(new AssociationAborted({ by: "peer", source: 0, reason: 0, detail }))
        startHandler(rx.target)
        rx.target = NONE
      }
      // Nearly always none is running by now: then there is nothing to wait for (and no race to start).
      if (handlers.size > 0) {
        yield* handlersEmpty.pipe(
          Effect.timeoutOrElse({
            duration: association.ae.timeouts.dimse,
            orElse: () => Fiber.interruptAll(Array.from(handlers))
          })
        )
      }
      // The channel decided to abort meanwhile (a DIMSE timeout woke a handler the release waited for): the association
      // ends aborted, not released (an association aborting answers no A-RELEASE-RQ).
      if (rx.gone !== undefined) yield* association.abort
    })
    // Nothing to finish (no data set arriving, no handler running: every association's usual release): answered
    // at once.
    const idleForRelease = () => rx.gone === undefined && rx.target._tag !== "Request" && handlers.size === 0
    const releaseHook = association.beforeRelease(beforeRelease, idleForRelease)
    // At a requestor's idle timeout: nothing outstanding (no request awaiting a response, none being sent, no data set
    // arriving, no handler running) lets the association be released rather than aborted; requests begun from then
    // fail as on a released association.
    const quietForIdleRelease = () => {
      if (rx.gone !== undefined || closed || releasing !== undefined || stopping) return false
      if (pending.size > 0 || lockedSends > 0 || rx.target._tag === "Request") return false
      if (handlers.size > 0 || startingHandlers > 0) return false
      const idle = Duration.format(association.ae.timeouts.idle)
      releasing = new AssociationAborted({
        by: "provider",
        source: 2,
        reason: 0,
        detail: `association released (idle for ${idle} with nothing outstanding)`
      })
      runFork(Effect.logInfo(`idle for ${idle} with nothing outstanding: releasing the association`))
      return true
    }
    const idleRelease = association.releaseWhenIdle(quietForIdleRelease)
    // When the association ends, everything outstanding fails at once.
    // Fails whatever is outstanding; the error is only built (a stack trace each) when something is.
    const failOutstanding = (error: () => AssociationAborted) =>
      Effect.gen(function* () {
        closed = true
        if (pending.size === 0 && rx.target._tag !== "Request") return
        // Released (the peer's A-RELEASE-RQ, say) with requests outstanding: each says which response never came.
        const released = rx.gone === undefined && endedWith?._tag === "Released"
        rx.gone ??= error()
        for (const inbox of pending.values()) {
          const failure = released ? releasedBefore(inbox.message) : rx.gone
          if (inbox._tag === "Stream") yield* Queue.fail(inbox.queue, failure)
          else settleOne(inbox, Exit.fail(failure))
        }
        if (rx.target._tag === "Request") {
          rx.target.inflow.fail(rx.gone)
          startHandler(rx.target)
          rx.target = NONE
        }
      })
    const releasedBefore = (request: Dimse.Message) =>
      new AssociationAborted({
        by: "provider",
        source: 2,
        reason: 0,
        detail:
          "the association was released before the final response to " +
          `${Dimse.commandName(request)} ${messageIdOf(request) ?? 0}`
      })
    // Failing what is outstanding runs with the channel's services, started on the turn that ended the association;
    // with nothing outstanding (every association's usual end), no fiber.
    const stopWatching = association.whenEnded((ending) => {
      endedWith = ending
      if (pending.size === 0 && rx.target._tag !== "Request") closed = true
      else runFork(failOutstanding(goneError))
      // Aborted with handlers running: they get the grace the channel's end gives them, then are stopped, rather than
      // run on until the scope that holds the channel closes (a requestor's, which may be long after).
      if (ending._tag === "Aborted" && (handlers.size > 0 || startingHandlers > 0)) runFork(stopHandlersAfterGrace)
    })
    const stopHandlersAfterGrace = Effect.gen(function* () {
      yield* handlersEmpty.pipe(Effect.timeout(HANDLER_GRACE), Effect.ignore)
      if (handlers.size > 0) yield* Fiber.interruptAll(Array.from(handlers))
    })
    // Before the handlers still running are interrupted: when the association's scope closes first, handlers still
    // see the failure (AssociationAborted) rather than an interruption, and get a moment to finish with it.
    // On the scope itself (no context to restore for it, unlike Effect.addFinalizer: see Timers); with nothing
    // outstanding and no handler running (every association's usual end), without a generator.
    // The channel's one finalizer also cancels its timers (Timers.makeUnsafe).
    const finalizer = Effect.suspend(() => {
      stopping = true
      if (handlers.size === 0 && startingHandlers === 0 && pending.size === 0 && rx.target._tag !== "Request") {
        closed = true
        handlersClosed = true
        stopWatching()
        timers.cancelAll()
        return Effect.void
      }
      return Effect.gen(function* () {
        stopWatching()
        yield* failOutstanding(goneError)
        if (handlers.size > 0 || startingHandlers > 0) {
          yield* handlersEmpty.pipe(Effect.timeout(HANDLER_GRACE), Effect.ignore)
        }
        timers.cancelAll()
        handlersClosed = true
        if (handlers.size > 0) yield* Fiber.interruptAll(Array.from(handlers))
      })
    })
    const finalized = Scope.addFinalizer(Context.get(context as Context.Context<Scope.Scope>, Scope.Scope), finalizer)
    return Effect.andThen(
      receiving,
      Effect.andThen(
        releaseHook,
        Effect.andThen(
          idleRelease,
          Effect.map(finalized, () => self)
        )
      )
    )
  })
