/**
 * The handlers of the requests a DIMSE channel receives (internal): each run in a fiber of its own with the `dimse`
 * log span and the message's annotations (none for one that did its work as it was called), counted against a cap
 * (past it the reader waits), waited for as the channel ends, given a grace to finish with the association's failure,
 * then interrupted. A handler that fails gets its request answered with a failure if it had not answered it, and a
 * request with no handler is refused (`Unanswered`).
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as References from "effect/References"
import * as Stream from "effect/Stream"
import { Dimse } from "@netdicom/wire"
import type { IncomingRequest } from "./ChannelApi.ts"
import type { ChannelState } from "./ChannelState.ts"

/** How long handlers get to finish with an association's failure before they are interrupted. */
export const HANDLER_GRACE = Duration.seconds(1)

// Completes whoever waits for no handler to be running, once none is.
const tellEmptied = (ch: ChannelState): void => {
  if (ch.handlers.size > 0 || ch.startingHandlers > 0 || ch.handlersEmptied === undefined) return
  const emptied = ch.handlersEmptied
  ch.handlersEmptied = undefined
  Deferred.doneUnsafe(emptied, Exit.void)
}

/**
 * Runs the channel's handler of a request, called by the reader (on the socket's event). A handler's fiber starts
 * with the channel's context plus its log span ("dimse") and annotations (the message and its id): both set in one
 * context, made before the fork, rather than two context updates (each a fiber-context switch and an exit observer)
 * in the handler's own fiber. `done` is called once the handler has ended, with how it ended. A handler that did its
 * work as it was called and returned `Exit.void` (`Scp`'s C-ECHO answered at once) runs no fiber (by identity: no
 * call to tell); one that ran to its end within the fork (a small C-STORE answered at once: fibers run inline until
 * they suspend) is not tracked in the handler set.
 */
export const runHandler = (
  ch: ChannelState,
  request: IncomingRequest,
  id: number | undefined,
  done: (exit: Exit.Exit<void>) => void
): void => {
  if (ch.handlersClosed) return
  const message = request.message
  let handled: Effect.Effect<void> | undefined
  try {
    handled = ch.handler?.(request, ch.self!)
  } catch (thrown) {
    // A handler function that throws instead of returning an effect: a defect of that handler, answered as one.
    handled = Effect.die(thrown)
  }
  if (handled === Exit.void) return done(Exit.void)
  const unanswered = ch.unanswered
  const run =
    handled !== undefined
      ? Effect.catchCause(handled, (cause) => unanswered.failed(request.context, message, cause))
      : Effect.andThen(
          Stream.runDrain(request.dataSet).pipe(Effect.ignore),
          unanswered.refused(request.context, message)
        )
  // By key (`addUnsafe`): `Context.add` is the same through a curried wrapper, two calls more per message.
  const context = Context.addUnsafe(
    Context.addUnsafe(ch.context, References.CurrentLogSpans.key, [
      ["dimse", ch.clock.currentTimeMillisUnsafe()],
      ...ch.baseSpans
    ]),
    References.CurrentLogAnnotations.key,
    { ...ch.baseAnnotations, message: Dimse.commandName(message), messageId: id ?? -1 }
  )
  ch.startingHandlers++
  const fiber = Effect.runForkWith(context)(run)
  ch.startingHandlers--
  fiber.addObserver(done)
  // Ended as it started; a scope that closed meanwhile may be waiting for it.
  if (fiber.pollUnsafe() !== undefined) return tellEmptied(ch)
  ch.handlers.add(fiber)
  fiber.addObserver(() => {
    ch.handlers.delete(fiber)
    tellEmptied(ch)
  })
}

/** A handler has ended: the reader waiting for a slot (`awaitSlot`) goes on. */
export const handlerDone = (ch: ChannelState): void => {
  ch.rx.running--
  const waiter = ch.slotFreed
  ch.slotFreed = undefined
  if (waiter !== undefined) Deferred.doneUnsafe(waiter, Exit.void)
}

/**
 * Handlers running at once: once a request beyond the cap has come the reader waits for one to finish (so a peer that
 * sends requests without reading the answers is held back by TCP, not by our memory). Not at the cap: a peer using
 * all of its window (the cap is at least that) must still have its C-CANCEL-RQs read.
 */
export const awaitSlot = (ch: ChannelState): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (ch.rx.running <= ch.handlerCap || ch.rx.gone !== undefined) return Effect.void
    ch.slotFreed ??= Deferred.makeUnsafe<void>()
    return Effect.andThen(Deferred.await(ch.slotFreed), awaitSlot(ch))
  })

/** Completes once no handler is running. */
export const handlersEmpty = (ch: ChannelState): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (ch.handlers.size === 0 && ch.startingHandlers === 0) return Effect.void
    ch.handlersEmptied ??= Deferred.makeUnsafe<void>()
    return Deferred.await(ch.handlersEmptied)
  })

/** The handlers still running get `HANDLER_GRACE` to finish, then are interrupted. */
export const stopHandlersAfterGrace = (ch: ChannelState): Effect.Effect<void> =>
  Effect.andThen(
    handlersEmpty(ch).pipe(Effect.timeout(HANDLER_GRACE), Effect.ignore),
    Effect.suspend(() => (ch.handlers.size > 0 ? Fiber.interruptAll(Array.from(ch.handlers)) : Effect.void))
  )
