/**
 * How a DIMSE channel ends (internal; PS3.8 7.2, 9.2): before the peer's A-RELEASE-RQ is answered (a data set still
 * arriving fails, the handlers get the DIMSE timeout), at a requestor's idle timeout (released when nothing is
 * outstanding), when the association ends (whatever is outstanding fails at once, with the release or the abort it
 * ended with; handlers running at an abort get a grace, then are stopped), and as the channel's scope closes (its
 * one finalizer: handlers see the failure before they are interrupted, the timers are cancelled).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import { Dimse } from "@netdicom/wire"
import type { Ending } from "../association/Association.ts"
import { AssociationAborted } from "../association/AssociationError.ts"
import type { ChannelState } from "./ChannelState.ts"
import { messageIdOf, NONE, startHandler } from "./DimseReceiver.ts"
import { handlersEmpty, HANDLER_GRACE, stopHandlersAfterGrace } from "./RequestHandlers.ts"
import { settleOne } from "./Requests.ts"

/**
 * Before answering the peer's A-RELEASE-RQ: a data set still arriving never will, so its request fails; the running
 * handlers get the DIMSE timeout to finish, then are stopped.
 */
export const beforeRelease = (ch: ChannelState): Effect.Effect<void> =>
  Effect.gen(function* () {
    const rx = ch.rx
    // A requestor that has sent its A-RELEASE-RQ may send no P-DATA (PS3.8 9.2, Sta7): our requests it has not
    // answered never will be, nor will any begun from now (a Storage Commitment SCP's report in its handler), so they
    // fail at once rather than at the DIMSE timeout, which the release would otherwise wait for too.
    const releasing = (ch.releasing ??= new AssociationAborted({
      by: "peer",
      source: 0,
      reason: 0,
      detail: "the peer asked to release: it can answer no request of ours"
    }))
    for (const inbox of Array.from(ch.pending.values())) {
      if (inbox._tag === "Stream") yield* Queue.fail(inbox.queue, releasing)
      else settleOne(ch, inbox, Exit.fail(releasing))
    }
    if (rx.target._tag === "Request") {
      const detail = "the peer asked to release while a data set was still arriving"
      rx.target.inflow.fail(new AssociationAborted({ by: "peer", source: 0, reason: 0, detail }))
      startHandler(rx.target)
      rx.target = NONE
    }
    // Nearly always none is running by now: then there is nothing to wait for (and no race to start).
    if (ch.handlers.size > 0) {
      yield* handlersEmpty(ch).pipe(
        Effect.timeoutOrElse({
          duration: ch.association.ae.timeouts.dimse,
          orElse: () => Fiber.interruptAll(Array.from(ch.handlers))
        })
      )
    }
    // The channel decided to abort meanwhile (a DIMSE timeout woke a handler the release waited for): the association
    // ends aborted, not released (an association aborting answers no A-RELEASE-RQ).
    if (rx.gone !== undefined) yield* ch.association.abort
  })

/**
 * Nothing to finish (no data set arriving, no handler running: every association's usual release): the peer's
 * A-RELEASE-RQ is answered at once.
 */
export const idleForRelease = (ch: ChannelState): boolean =>
  ch.rx.gone === undefined && ch.rx.target._tag !== "Request" && ch.handlers.size === 0

/**
 * At a requestor's idle timeout: nothing outstanding (no request awaiting a response, none being sent, no data set
 * arriving, no handler running) lets the association be released rather than aborted; requests begun from then fail
 * as on a released association.
 */
export const quietForIdleRelease = (ch: ChannelState): boolean => {
  const rx = ch.rx
  if (rx.gone !== undefined || ch.closed || ch.releasing !== undefined || ch.stopping) return false
  if (ch.pending.size > 0 || ch.lockedSends > 0 || rx.target._tag === "Request") return false
  if (ch.handlers.size > 0 || ch.startingHandlers > 0) return false
  const idle = Duration.format(ch.association.ae.timeouts.idle)
  ch.releasing = new AssociationAborted({
    by: "provider",
    source: 2,
    reason: 0,
    detail: `association released (idle for ${idle} with nothing outstanding)`
  })
  ch.runFork(Effect.logInfo(`idle for ${idle} with nothing outstanding: releasing the association`))
  return true
}

// When the association ends, everything outstanding fails at once.
// Fails whatever is outstanding; the error is only built (a stack trace each) when something is.
const failOutstanding = (ch: ChannelState): Effect.Effect<void> =>
  Effect.gen(function* () {
    const rx = ch.rx
    ch.closed = true
    if (ch.pending.size === 0 && rx.target._tag !== "Request") return
    // Released (the peer's A-RELEASE-RQ, say) with requests outstanding: each says which response never came.
    const released = rx.gone === undefined && ch.endedWith?._tag === "Released"
    rx.gone ??= ch.goneError()
    for (const inbox of ch.pending.values()) {
      const failure = released ? releasedBefore(inbox.message) : rx.gone
      if (inbox._tag === "Stream") yield* Queue.fail(inbox.queue, failure)
      else settleOne(ch, inbox, Exit.fail(failure))
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

/**
 * What the channel does as the association ends (`Association.whenEnded`). Failing what is outstanding runs with the
 * channel's services, started on the turn that ended the association; with nothing outstanding (every association's
 * usual end), no fiber.
 */
export const associationEnded = (ch: ChannelState, ending: Ending): void => {
  ch.endedWith = ending
  if (ch.pending.size === 0 && ch.rx.target._tag !== "Request") ch.closed = true
  else ch.runFork(failOutstanding(ch))
  // Aborted with handlers running: they get the grace the channel's end gives them, then are stopped, rather than
  // run on until the scope that holds the channel closes (a requestor's, which may be long after).
  if (ending._tag === "Aborted" && (ch.handlers.size > 0 || ch.startingHandlers > 0)) {
    ch.runFork(stopHandlersAfterGrace(ch))
  }
}

/**
 * The channel's one finalizer, run as its scope closes (`stopWatching` ends its watch of the association's end).
 * Before the handlers still running are interrupted: when the association's scope closes first, handlers still see
 * the failure (AssociationAborted) rather than an interruption, and get a moment to finish with it. With nothing
 * outstanding and no handler running (every association's usual end), without a generator. It also cancels the
 * channel's timers (`Timers.makeUnsafe`).
 */
export const finalize = (ch: ChannelState, stopWatching: () => void): Effect.Effect<void> => {
  ch.stopping = true
  if (ch.handlers.size === 0 && ch.startingHandlers === 0 && ch.pending.size === 0 && ch.rx.target._tag !== "Request") {
    ch.closed = true
    ch.handlersClosed = true
    stopWatching()
    ch.timers.cancelAll()
    return Effect.void
  }
  return Effect.gen(function* () {
    stopWatching()
    yield* failOutstanding(ch)
    if (ch.handlers.size > 0 || ch.startingHandlers > 0) {
      yield* handlersEmpty(ch).pipe(Effect.timeout(HANDLER_GRACE), Effect.ignore)
    }
    ch.timers.cancelAll()
    ch.handlersClosed = true
    if (ch.handlers.size > 0) yield* Fiber.interruptAll(Array.from(ch.handlers))
  })
}
