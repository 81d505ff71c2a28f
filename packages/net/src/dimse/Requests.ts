/**
 * The requests a DIMSE channel sends and waits for (internal; PS3.7 9.1, 9.3, D.3.3.3): their Message IDs, the
 * Asynchronous Operations Window's slots, their inboxes (`ChannelState.pending`), a response handed to its request
 * (`deliver`), and `requestOne`/`requestOneNow`, the path of a service with one response (C-ECHO, C-STORE, DIMSE-N)
 * without a stream or a queue, its DIMSE timeout one timer for every waiting request. A request with several
 * responses (C-FIND, C-GET, C-MOVE) is `RequestStream`'s.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import { Dimse, Status } from "@netdicom/wire"
import type { AcceptedContext } from "../association/Negotiated.ts"
import type { DataSource, Response } from "./ChannelApi.ts"
import { timeoutLine, type ChannelState, type OneInbox } from "./ChannelState.ts"
import { beginWhole, isWhole, SEND_BATCH_BYTES, sendInParts } from "./DimseSend.ts"
import { DimseProtocolError, DimseTimeout, NoAcceptedContext, type DimseFailure } from "./DimseError.ts"
import { messageIdOf } from "./DimseReceiver.ts"

/** `nextMessageId`: 1..65535 in turn, skipping ids still awaiting responses (with an unlimited window, ids wrap). */
export const takeMessageId = (ch: ChannelState): number => {
  const pending = ch.pending
  let messageId = ch.messageId
  for (let tries = 0; tries < 0xffff; tries++) {
    messageId = (messageId % 0xffff) + 1
    if (!pending.has(messageId)) break
  }
  ch.messageId = messageId
  return messageId
}

/** The accepted context for a SOP class in a role, optionally with one of the given transfer syntaxes. */
export const findContext = (
  ch: ChannelState,
  sopClassUid: string,
  role: "SCU" | "SCP",
  transferSyntaxes?: ReadonlyArray<string>
): Result.Result<AcceptedContext, NoAcceptedContext> => {
  const accepted = ch.accepted
  // A loop rather than `find` with a closure: every C-STORE looks its context up, among up to 128.
  for (let i = 0; i < accepted.length; i++) {
    const c = accepted[i]!
    if (c.abstractSyntax !== sopClassUid || !(role === "SCU" ? c.weAreScu : c.weAreScp)) continue
    if (transferSyntaxes === undefined || transferSyntaxes.includes(c.transferSyntax))
      return (ch.found[i] ??= Result.succeed(c))
  }
  return Result.fail(new NoAcceptedContext({ sopClassUid, role, transferSyntax: transferSyntaxes?.join(", ") }))
}

/** Hands a response to its request: synchronously, or as an effect to wait on when its inbox is full. */
export const deliver = (ch: ChannelState, id: number, r: Response): Effect.Effect<void> | undefined => {
  const inbox = ch.pending.get(id)
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
    settleOne(ch, inbox, exit)
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
  settleOne(ch, inbox, Exit.fail(new DimseProtocolError({ detail })))
  return ch.protocolAbort(detail)
}

// A requestOne that is over, or that nobody waits for any more: no longer pending, its window slot given back.
const dropOne = (ch: ChannelState, inbox: OneInbox) => {
  ch.waitingOnes.delete(inbox)
  if (ch.pending.get(inbox.id) === inbox) ch.pending.delete(inbox.id)
  ch.window.release(inbox)
}

/** A requestOne's outcome: given to every run of its effect waiting for it, its slot given back. */
// `dropOne` and `nextTurn` written out: every request's response settles one.
export const settleOne = (ch: ChannelState, inbox: OneInbox, exit: Exit.Exit<unknown, DimseFailure>): void => {
  if (inbox.outcome !== undefined) return
  inbox.outcome = exit
  ch.waitingOnes.delete(inbox)
  if (ch.pending.get(inbox.id) === inbox) ch.pending.delete(inbox.id)
  ch.window.release(inbox)
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

// A response awaited within the DIMSE timeout; past it the association is aborted: DimseTimeout.
const dimseTimedOut = (ch: ChannelState, id: number, message: Dimse.Message) => () => {
  const timeout = ch.association.ae.timeouts.dimse
  return Effect.andThen(
    ch.protocolAbort(`no response to message ${id} within ${Duration.format(timeout)}`, timeoutLine(id, timeout)),
    Effect.fail(new DimseTimeout({ waitingFor: `response to ${Dimse.commandName(message)} ${id}` }))
  )
}

/** `waiting` within the DIMSE timeout; past it the association is aborted and it fails with `DimseTimeout`. */
export const withinDimseTimeout = <A, E>(
  ch: ChannelState,
  waiting: Effect.Effect<A, E>,
  id: number,
  message: Dimse.Message
): Effect.Effect<A, E | DimseTimeout> =>
  Effect.timeoutOrElse(waiting, {
    duration: ch.association.ae.timeouts.dimse,
    orElse: dimseTimedOut(ch, id, message)
  })

/**
 * The next response from a request's inbox, within the DIMSE timeout of the peer's last sign of life: a C-GET SCP need
 * send no Pending response (PS3.4 C.4.3.3), only its C-STORE sub-operations, which may take longer; a C-MOVE SCP
 * neither (C.4.2.3), its sub-operations seen, if at all, by the caller's `progress`.
 */
export const nextResponse = (
  ch: ChannelState,
  inbox: Queue.Queue<Response, DimseFailure | Cause.Done>,
  id: number,
  message: Dimse.Message,
  progress?: () => number
): Effect.Effect<Response, DimseFailure> => {
  const arrived = signsOfLife(ch, progress)
  return Effect.timeoutOrElse(Queue.take(inbox), {
    duration: ch.association.ae.timeouts.dimse,
    orElse: () =>
      signsOfLife(ch, progress) !== arrived
        ? nextResponse(ch, inbox, id, message, progress)
        : dimseTimedOut(ch, id, message)()
  }).pipe(Effect.catchIf(Cause.isDone, () => Effect.fail(ch.goneError())))
}

// The peer's requests and their fragments arrived so far, and the caller's count of progress seen elsewhere.
const signsOfLife = (ch: ChannelState, progress: (() => number) | undefined): number =>
  ch.rx.requestsArrived + ch.rx.requestFragmentsArrived + (progress === undefined ? 0 : progress())

// One timer for all of requestOne's deadlines instead of a race per request: a timer (no fiber) armed until the
// oldest waiting request is due, armed when the first one waits, left unarmed when none does (`ch.watching`).
// Deadlines are on the monotonic clock (`timers.now`): a step of the system time changes none.
const watchdog = (ch: ChannelState): void => {
  while (true) {
    const first = ch.waitingOnes.values().next()
    if (first.done === true || ch.rx.gone !== undefined) {
      ch.watching = false
      return
    }
    const inbox = first.value
    const left = inbox.deadline - ch.timers.now()
    if (left > 0) {
      ch.timers.after(left, () => watchdog(ch))
      return
    }
    const timeout = ch.association.ae.timeouts.dimse
    const abort = ch.protocolAbort(
      `no response to message ${inbox.id} within ${Duration.format(timeout)}`,
      timeoutLine(inbox.id, timeout)
    )
    settleOne(
      ch,
      inbox,
      Exit.fail(new DimseTimeout({ waitingFor: `response to ${Dimse.commandName(inbox.message)} ${inbox.id}` }))
    )
    ch.runFork(abort)
  }
}

// Its deadline set, among the waiting ones, the watchdog armed if it was not.
const startDeadline = (ch: ChannelState, inbox: OneInbox): void => {
  inbox.deadline = ch.timers.now() + ch.dimseMillis
  ch.waitingOnes.add(inbox)
  if (!ch.watching) {
    ch.watching = true
    watchdog(ch)
  }
}

// Waits for the final response of a sent request, within the DIMSE timeout; called from within a running effect.
// Interrupted while waiting, it does what `whenOneEnds` does (so that a request sent at once needs no `onExit`).
const awaitOne = (ch: ChannelState, inbox: OneInbox): Effect.Effect<unknown, DimseFailure> => {
  if (inbox.outcome !== undefined) return inbox.outcome
  // `startDeadline` written out: every request's path.
  inbox.deadline = ch.timers.now() + ch.dimseMillis
  ch.waitingOnes.add(inbox)
  if (!ch.watching) {
    ch.watching = true
    watchdog(ch)
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
const whenOneEnds = (
  ch: ChannelState,
  inbox: OneInbox,
  exit: Exit.Exit<unknown, DimseFailure>
): Effect.Effect<void> => {
  if (Exit.isSuccess(exit) || inbox.outcome !== undefined) return Effect.void
  if (!Cause.hasInterruptsOnly(exit.cause)) {
    // Failed (it could not be sent): that is its outcome, for every run of its effect.
    settleOne(ch, inbox, exit)
    return Effect.void
  }
  if (!inbox.sent || ch.rx.gone !== undefined || ch.closed) {
    dropOne(ch, inbox)
    return Effect.void
  }
  inbox.resume = undefined
  // Interrupted before it waited (while its write drained): its deadline starts now.
  if (!ch.waitingOnes.has(inbox)) startDeadline(ch, inbox)
  return Effect.void
}

// Sends a request whose inbox holds a window slot and waits for its response; called from within a running effect.
const sendOne = (
  ch: ChannelState,
  context: AcceptedContext,
  message: Dimse.Message,
  dataSet: DataSource | undefined,
  inbox: OneInbox
): Effect.Effect<unknown, DimseFailure> => {
  ch.pending.set(inbox.id, inbox)
  if (ch.rx.gone !== undefined || ch.closed || ch.releasing !== undefined) {
    dropOne(ch, inbox)
    return Effect.fail(ch.releasing ?? ch.goneError())
  }
  const rest = isWhole(dataSet)
    ? beginWhole(ch, context, message, dataSet, inbox)
    : sendInParts(ch, context, message, dataSet, inbox)
  if (rest === undefined) return awaitOne(ch, inbox)
  return Effect.andThen(
    rest,
    Effect.suspend(() => awaitOne(ch, inbox))
  )
}

// The effect of a request not written as it was begun: each run of it sends it unless another run is sending it
// (then it waits for that run to end) or it was sent (then it waits for the response), so that it leaves once
// however often the effect is run. `first`: what the first run does when the request was written in part already.
const runOne = (
  ch: ChannelState,
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
    if (inbox.sent) return ch.rx.gone !== undefined || ch.closed ? Effect.fail(ch.goneError()) : waitSent(inbox)
    inbox.sending = true
    const sending =
      begun ??
      Effect.andThen(
        ch.window.take(inbox),
        Effect.suspend(() => sendOne(ch, context, message, dataSet, inbox))
      )
    begun = undefined
    return Effect.onExit(sending, (exit) => {
      inbox.sending = false
      const ended = whenOneEnds(ch, inbox, exit)
      nextTurn(inbox)
      return ended
    })
  })
  return run
}

/**
 * `requestOneNow`: the effect gives the response, or what `onResponse` made of it. The fast path for services with one
 * response (C-ECHO, C-STORE): no stream, no queue in between; with a free window slot and nothing else being sent,
 * no lock either.
 */
export const beginOne = (
  ch: ChannelState,
  context: AcceptedContext,
  message: Dimse.Message,
  dataSet: DataSource | undefined,
  onResponse: ((response: Response) => unknown) | undefined
): Effect.Effect<unknown, DimseFailure> => {
  if (ch.rx.gone !== undefined || ch.closed) return Effect.fail(ch.goneError())
  if (ch.releasing !== undefined) return Effect.fail(ch.releasing)
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
  if (whole && ch.window.tryTake(inbox)) {
    ch.pending.set(inbox.id, inbox)
    const rest = beginWhole(ch, context, message, dataSet, inbox)
    if (rest === undefined) return awaitOne(ch, inbox)
    if (inbox.sent)
      return runOne(
        ch,
        inbox,
        Effect.andThen(
          rest,
          Effect.suspend(() => awaitOne(ch, inbox))
        ),
        context,
        message,
        dataSet
      )
    // Not written now (another message holds the send lock, or the channel logs at Debug): its slot given back
    // until its effect runs, so that an effect never run holds none.
    dropOne(ch, inbox)
  }
  // The window full, or a data set in parts: a slot waited for (in order) and the request sent once the effect
  // runs; one handed over and not used is given back.
  return runOne(ch, inbox, undefined, context, message, dataSet)
}

/** `requestOne`: `beginOne` once the effect runs. */
export const requestOne = (
  ch: ChannelState,
  context: AcceptedContext,
  message: Dimse.Message,
  dataSet?: DataSource
): Effect.Effect<Response, DimseFailure> =>
  Effect.suspend(() => beginOne(ch, context, message, dataSet, undefined) as Effect.Effect<Response, DimseFailure>)
