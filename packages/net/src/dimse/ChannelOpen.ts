/**
 * A DIMSE channel opened on an association (internal): its state record (`ChannelState`), the `DimseChannel` its users
 * and handlers are given, and its place on the association (the receiver of its P-DATA, the hook before a release is
 * answered, the idle release, the watch of its end). `DimseChannel.make` ties the channel's end to the current scope;
 * `serveUntilEnded` (an SCP's association, `Scp.serve`) to the association's end, without a scope of its own.
 */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type { Association } from "../association/Association.ts"
import type { DimseChannel, RequestHandler } from "./ChannelApi.ts"
import * as ChannelEnd from "./ChannelEnd.ts"
import { ChannelState, type ChannelHooks } from "./ChannelState.ts"
import * as DimseSend from "./DimseSend.ts"
import * as RequestHandlers from "./RequestHandlers.ts"
import * as Requests from "./Requests.ts"
import * as RequestStream from "./RequestStream.ts"

// What the receiver and `Unanswered` reach above the state through: one table for every channel.
const HOOKS: ChannelHooks = {
  send: DimseSend.send,
  deliver: Requests.deliver,
  runHandler: RequestHandlers.runHandler,
  handlerDone: RequestHandlers.handlerDone,
  awaitSlot: RequestHandlers.awaitSlot
}

/** A channel made, not yet attached to its association. */
export interface Opened {
  readonly channel: DimseChannel
  /** Attaches the channel to its association: its receiver, its hook before a release, its idle release. */
  readonly attach: Effect.Effect<void>
  /** What ends the channel: run once, as its scope closes (or the association it serves has ended). */
  readonly finalizer: Effect.Effect<void>
}

/**
 * Makes a channel on `association`, at once, with the services of `context` (the fiber's that opens it: its handlers
 * run with them).
 */
export const open = (
  association: Association,
  handler: RequestHandler | undefined,
  context: Context.Context<never>
): Opened => {
  const made = openState(new ChannelState(association, handler, context, HOOKS))
  const ch = made.ch
  return {
    channel: made.channel,
    attach: Effect.sync(() => attachNow(ch)),
    finalizer: Effect.suspend(() => ChannelEnd.finalize(ch, made.stopWatching))
  }
}

// A channel made over `ch`, not yet attached; `stopWatching` ends its watch of the association's end.
const openState = (ch: ChannelState) => {
  const association = ch.association
  // The module functions bound to this channel's state (a bound function is called without a frame of its own, unlike
  // a closure calling them): every C-STORE and C-ECHO's path.
  const channel: DimseChannel = {
    association,
    nextMessageId: Effect.sync(() => Requests.takeMessageId(ch)),
    takeMessageId: Requests.takeMessageId.bind(undefined, ch),
    send: DimseSend.send.bind(undefined, ch),
    sendNow: DimseSend.sendNow.bind(undefined, ch),
    request: RequestStream.request.bind(undefined, ch),
    requestOne: Requests.requestOne.bind(undefined, ch),
    requestOneNow: Requests.beginOne.bind(undefined, ch) as DimseChannel["requestOneNow"],
    findContext: Requests.findContext.bind(undefined, ch),
    isStopping: () => ch.stopping
  }
  ch.self = channel
  const stopWatching = association.whenEnded((ending) => ChannelEnd.associationEnded(ch, ending))
  return { ch, channel, stopWatching }
}

// Attaches the channel to its association, as a plain call: its receiver (a run receiver: the P-DATA-TFs of one
// socket read in one call; a small C-STORE is four), its hook before a release is answered, its idle release.
const attachNow = (ch: ChannelState): void =>
  ch.association.attachNow(
    ch.rx,
    ChannelEnd.beforeRelease(ch),
    () => ChannelEnd.idleForRelease(ch),
    () => ChannelEnd.quietForIdleRelease(ch)
  )

/**
 * An SCP's channel on an association it serves, from its set-up to the association's end, then ended (its finalizer
 * run however this ends): what `Effect.scoped` of `DimseChannel.make` and `association.ended` did, without the scope.
 * The channel ends as the association does, in the turn that ended it, but this returns once the connection has closed
 * too (`association.disconnected`: the peer's close after our A-RELEASE-RP, ARTIM bounding it), so that the server's
 * own waits for the end and the close find both done: one fiber suspension per association rather than two.
 */
export const serveUntilEnded = (association: Association, handler: RequestHandler): Effect.Effect<void> =>
  Effect.withFiber((fiber) => {
    const context = fiber.context as Context.Context<never>
    const ch = new ChannelState(association, handler, context, HOOKS)
    const opened = openState(ch)
    // The channel's end, begun once: as the association ends or, first, as this ends (interrupted by a server
    // stopping: the handlers then get their grace before the server's A-ABORT). With nothing outstanding (every
    // association's usual end) it is done within the call; otherwise its rest runs on a fiber, which this joins.
    let begun = false
    let rest: Fiber.Fiber<void> | undefined
    const stopWatching = association.whenEnded(() => {
      begun = true
      const more = ChannelEnd.finalize(ch, opened.stopWatching)
      if (more !== Effect.void) rest = ch.runFork(more)
    })
    attachNow(ch)
    return Effect.onExit(association.disconnected, () => {
      stopWatching()
      if (!begun) return ChannelEnd.finalize(ch, opened.stopWatching)
      return rest === undefined ? Effect.void : Fiber.join(rest)
    })
  })
