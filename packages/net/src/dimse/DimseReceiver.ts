/**
 * The receive path of a `DimseChannel` (internal): P-DATA in, commands and data sets out to the requests waiting
 * for responses and to the handlers of incoming requests, synchronously by the reader (on the socket's event).
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { Dimse, Reassembler, Status, type Pdu } from "@netdicom/wire"
import type { AssociationAborted } from "../association/AssociationError.ts"
import type { AcceptedContext } from "../association/Negotiated.ts"
import * as ReceivedBytes from "../upper/ReceivedBytes.ts"
import type { IncomingRequest, Response } from "./ChannelApi.ts"
import * as Inflow from "./Inflow.ts"
import type { Unanswered } from "./Unanswered.ts"

/** The largest data set a response may carry (an identifier, a failed UID list): larger aborts. */
export const MAX_RESPONSE_DATA_SET_BYTES = 2 << 20

export type Target =
  | { readonly _tag: "None" }
  | {
      readonly _tag: "Request"
      readonly inflow: Inflow.Inflow
      // Starts the request's handler; cleared once it has run.
      start: (() => void) | undefined
    }
  | {
      readonly _tag: "Response"
      readonly id: number
      readonly message: Dimse.Message
      chunks: Array<Uint8Array>
      size: number
    }
  | { readonly _tag: "Drain" }

export const NONE: Target = { _tag: "None" }
const DRAIN: Target = { _tag: "Drain" }

// Bytes of an incoming data set waiting for its handler before the association is not read further.
const INFLOW_LIMIT = 256 << 10

// What holding one received fragment costs beyond its bytes (a Uint8Array view and its slot, about 100 bytes of
// heap): an inflow counts it, so that a data set sent in tiny PDVs (1 byte each) starts its handler and meets the
// inflow's limit after about a thousand fragments, not after 128 KiB of them (~13 MB of views per association).
const FRAGMENT_COST = 128

// A request's handler starts once its data set has arrived in full (given to it whole), or once this much of it
// has (then it reads the rest as it arrives); below INFLOW_LIMIT, so a handler runs before the receiver waits.
const HANDLER_START_BYTES = INFLOW_LIMIT / 2

// Starts a request's handler that waited for its data set, once.
export const startHandler = (t: { start: (() => void) | undefined }): void => {
  const start = t.start
  t.start = undefined
  if (start !== undefined) start()
}

// The response that answers each request (PS3.7 9.3): matched by Message ID Being Responded To, a response of another
// command is a protocol error, not an answer (a C-ECHO-RSP to a C-FIND-RQ would read as "matching complete, no match").
const RESPONSE_OF: Readonly<Partial<Record<Dimse.MessageTag, Dimse.MessageTag>>> = {
  CEchoRq: "CEchoRsp",
  CStoreRq: "CStoreRsp",
  CFindRq: "CFindRsp",
  CGetRq: "CGetRsp",
  CMoveRq: "CMoveRsp",
  NEventReportRq: "NEventReportRsp",
  NGetRq: "NGetRsp",
  NSetRq: "NSetRsp",
  NActionRq: "NActionRsp",
  NCreateRq: "NCreateRsp",
  NDeleteRq: "NDeleteRsp"
}

const statusOf = (m: Dimse.Message): number => ("status" in m ? m.status : Status.SUCCESS)

export const messageIdOf = (m: Dimse.Message): number | undefined => ("messageId" in m ? m.messageId : undefined)

const concat = (chunks: ReadonlyArray<Uint8Array>, size: number): Uint8Array => {
  if (chunks.length === 1) return new Uint8Array(chunks[0]!)
  const out = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}

/** What the receive path needs from its channel (`ChannelState`). */
export interface ReceiverDeps {
  readonly debug: boolean
  readonly reassembler: Reassembler.Reassembler
  readonly contextById: ReadonlyMap<number, AcceptedContext>
  // The requests awaiting responses, by Message ID, with the presentation context each went on.
  readonly pending: ReadonlyMap<number, { readonly message: Dimse.Message; readonly contextId: number }>
  readonly cancels: Map<number, Deferred.Deferred<void>>
  readonly handlerCap: number
  readonly dimseTimeout: Duration.Duration
  readonly protocolAbort: (detail: string) => Effect.Effect<void>
  // The requests not answered yet, and what answers those a handler left (or that have no handler).
  readonly unanswered: Unanswered
  // What the receiver calls above its channel: functions shared by every channel, given the channel.
  readonly hooks: ReceiverHooks<this>
}

/**
 * What the receive path calls on its channel (`D`), with it. Methods, so that a channel's own hooks (taking its whole
 * state) fit the receiver's view of it.
 */
export interface ReceiverHooks<D> {
  // Hands a response to the request waiting for it: an effect to wait on when its inbox is full.
  deliver(deps: D, id: number, r: Response): Effect.Effect<void> | undefined
  // Runs the channel's handler of a request; `done` once it has ended, with how it ended.
  runHandler(deps: D, request: IncomingRequest, id: number | undefined, done: (exit: Exit.Exit<void>) => void): void
  // A handler has ended.
  handlerDone(deps: D): void
  // What the reader waits on once more handlers than the cap are running.
  awaitSlot(deps: D): Effect.Effect<void>
}

// The receive path (P-DATA in, commands and data sets to requests and handlers), one per channel. A class rather
// than closures made per channel: V8 then compiles one version of these per-message functions for every
// association (optimized code made for one closure is made again once a second exists).
// Synchronous, by the reader (on the socket's event): each step returns an effect only when it must wait
// (backpressure) or log, and the steps after it run once that effect has.
export class Receiver {
  // Where the next data fragment goes.
  target: Target = NONE
  // Set once the channel is gone: nothing more is received or sent.
  gone: AssociationAborted | undefined = undefined
  // Handlers running.
  running = 0
  // Requests, and data set fragments of requests, received so far: the peer's progress on sub-operations (a C-GET's
  // C-STOREs), which a C-GET's wait for its next response counts as a sign of life, and a cancelled one's wait for
  // its final response too while the sub-operation under way at the C-CANCEL still arrives.
  requestsArrived = 0
  requestFragmentsArrived = 0
  // Views of the fragments of a command still being gathered (a command set in several PDVs).
  commandViews: Array<Uint8Array> = []
  // How many PDUs the last `takeRun` took (`UpperLayer.PDataRunReceiver`).
  taken = 0
  // Cleared once the events of the PDU being taken ran code other than the receiver's own (a handler started, a
  // response delivered, a reader or a canceller woken), which may have changed the association: the reader then
  // looks at it again before the next PDU is taken.
  ownCodeOnly = true
  readonly deps: ReceiverDeps
  constructor(deps: ReceiverDeps) {
    this.deps = deps
  }
  onCommand(event: Reassembler.Command): Effect.Effect<void> | undefined {
    // `Result.isFailure` written out: every message received comes here.
    if (event.message._tag === "Failure") return this.onInvalidCommand(event.message.failure)
    const message = event.message.success
    const logged = this.deps.debug
      ? Effect.logDebug(`received ${Dimse.summarize(message)} on pc ${event.presentationContextId}`)
      : undefined
    const context = this.deps.contextById.get(event.presentationContextId)
    if (context === undefined) {
      return this.deps.protocolAbort(`message on presentation context ${event.presentationContextId}, not accepted`)
    }
    if (message._tag === "CCancelRq") {
      const d = this.deps.cancels.get(message.messageIdBeingRespondedTo)
      if (d) {
        this.ownCodeOnly = false
        Deferred.doneUnsafe(d, Exit.void)
      }
      this.target = NONE
      return logged
    }
    if ("messageIdBeingRespondedTo" in message) {
      const id = message.messageIdBeingRespondedTo
      const waiting = this.deps.pending.get(id)
      if (waiting === undefined) {
        this.target = event.hasDataSet ? DRAIN : NONE
        return Effect.logWarning(`response to unknown message ${id} dropped`)
      }
      if (RESPONSE_OF[waiting.message._tag] !== message._tag) {
        return this.deps.protocolAbort(
          `${Dimse.commandName(message)} in answer to ${Dimse.commandName(waiting.message)} ${id}`
        )
      }
      // A response shares its request's presentation context (its abstract and transfer syntax): one on another
      // would have its data set read in the wrong transfer syntax.
      if (waiting.contextId !== context.id) {
        return this.deps.protocolAbort(
          `${Dimse.commandName(message)} on presentation context ${context.id} in answer to ` +
            `${Dimse.commandName(waiting.message)} ${id}, sent on presentation context ${waiting.contextId}`
        )
      }
      if (event.hasDataSet) {
        this.target = { _tag: "Response", id, message, chunks: [], size: 0 }
        return logged
      }
      this.target = NONE
      this.ownCodeOnly = false
      const appended = event.command.appended
      const response: Response =
        appended === undefined
          ? { message, status: statusOf(message), dataSet: undefined }
          : { message, status: statusOf(message), dataSet: undefined, statusDetail: appended }
      if (logged === undefined) return this.deps.hooks.deliver(this.deps, id, response)
      // At Debug, logged before it is delivered: a requester resumed by the delivery runs on at once (its release
      // logged before the response that let it release, otherwise).
      return Effect.andThen(
        logged,
        Effect.suspend(() => this.deps.hooks.deliver(this.deps, id, response) ?? Effect.void)
      )
    }
    // A request.
    this.requestsArrived++
    const inflow = Inflow.make(INFLOW_LIMIT, FRAGMENT_COST)
    const id = messageIdOf(message)
    // Only C-FIND, C-GET and C-MOVE can be cancelled (PS3.7 9.3.2.3, 9.3.3.3, 9.3.4.3).
    const cancellable = message._tag === "CFindRq" || message._tag === "CGetRq" || message._tag === "CMoveRq"
    const cancelled = cancellable ? Deferred.makeUnsafe<void>() : undefined
    if (id !== undefined && cancelled !== undefined) this.deps.cancels.set(id, cancelled)
    this.running++
    const unanswered = this.deps.unanswered
    if (id !== undefined) unanswered.begin(id, message)
    const start = () => {
      this.ownCodeOnly = false
      const received = inflow.complete()
      const incoming: IncomingRequest = {
        context,
        message,
        dataSet: inflow.stream,
        dataSetLent: inflow.lentStream,
        ...(received !== undefined && received.length > 0 ? { dataSetReceived: received } : {}),
        cancelled: cancelled === undefined ? Effect.never : Deferred.await(cancelled),
        isCancelled: () => cancelled !== undefined && Deferred.isDoneUnsafe(cancelled)
      }
      // Once the handler's fiber has ended, however it ended (plain code: no Effect step of its own).
      const done = (exit: Exit.Exit<void>) => {
        // What the handler left unread is dropped, so it cannot hold the association back.
        inflow.discard()
        // Only its own: a peer that reused the id for a request still running keeps that one's C-CANCEL.
        if (id !== undefined && this.deps.cancels.get(id) === cancelled) this.deps.cancels.delete(id)
        // Ended by what its own recovery did not see (a defect Effect's run loop reports itself, an interruption):
        // logged, and answered here if it had not answered.
        const open = id !== undefined && unanswered.end(id, message)
        if (exit._tag === "Failure") unanswered.ended(context, message, exit.cause, open)
        this.deps.hooks.handlerDone(this.deps)
      }
      this.deps.hooks.runHandler(this.deps, incoming, id, done)
    }
    if (event.hasDataSet) {
      // The handler starts when the data set is complete (small ones: given whole) or large enough.
      this.target = { _tag: "Request", inflow, start }
    } else {
      this.target = NONE
      inflow.end()
      start()
    }
    // Up to the cap running, the reader goes on: a peer within its window may still send C-CANCEL-RQs for them.
    if (this.running <= this.deps.handlerCap) return logged
    return logged === undefined
      ? this.deps.hooks.awaitSlot(this.deps)
      : Effect.andThen(logged, this.deps.hooks.awaitSlot(this.deps))
  }

  // A command set that is no DIMSE message, or one that breaks its table (PS3.7 9.3, 10.3): a protocol error.
  onInvalidCommand(error: Dimse.DimseError): Effect.Effect<void> {
    return this.deps.protocolAbort(`invalid command: ${error.detail}`)
  }

  onData(event: Reassembler.DataFragment): Effect.Effect<void> | undefined {
    if (!this.deps.contextById.has(event.presentationContextId)) {
      return this.deps.protocolAbort(`data on presentation context ${event.presentationContextId}, not accepted`)
    }
    if (event.unannounced) {
      return event.isLast ? Effect.logWarning("drained a data set the command did not announce") : undefined
    }
    const t = this.target
    switch (t._tag) {
      case "Request": {
        this.requestFragmentsArrived++
        // A handler already running may be woken by the fragment.
        if (t.start === undefined) this.ownCodeOnly = false
        const wait = t.inflow.push(event.data)
        if (event.isLast) {
          t.inflow.end()
          this.target = NONE
          startHandler(t)
        } else if (t.start !== undefined && (wait !== undefined || t.inflow.buffered() >= HANDLER_START_BYTES)) {
          startHandler(t)
        }
        // A handler that stops reading holds the reader; not for longer than the DIMSE timeout.
        return wait === undefined
          ? undefined
          : Effect.timeoutOrElse(wait, {
              duration: this.deps.dimseTimeout,
              orElse: () =>
                this.deps.protocolAbort(
                  `a handler left its data set unread for ${Duration.format(this.deps.dimseTimeout)}`
                )
            })
      }
      case "Response": {
        // Tiny fragments merged as they come: 2 MiB of 1-byte PDVs is not 2 million views (~200 MB of heap).
        Reassembler.gatherInto(t.chunks, event.data)
        t.size += event.data.length
        if (t.size > MAX_RESPONSE_DATA_SET_BYTES) {
          return this.deps.protocolAbort(`response data set over ${MAX_RESPONSE_DATA_SET_BYTES} bytes`)
        }
        if (!event.isLast) return undefined
        this.target = NONE
        const dataSet = concat(t.chunks, t.size)
        // Copied out: the fragments still views of socket reads are given back (those merged into a copy on the way
        // were not, and are left to the collector).
        for (const chunk of t.chunks) ReceivedBytes.consumed(chunk)
        this.ownCodeOnly = false
        return this.deps.hooks.deliver(this.deps, t.id, { message: t.message, status: statusOf(t.message), dataSet })
      }
      default:
        if (event.isLast) this.target = NONE
        return undefined
    }
  }

  // Runs events[i..] in order; where one returns an effect, the rest wait for it.
  runEvents(
    events: ReadonlyArray<Reassembler.Event>,
    from: number,
    failure: Reassembler.ReassemblyError | undefined
  ): Effect.Effect<void> | undefined {
    for (let i = from; i < events.length; i++) {
      if (this.gone) return undefined
      const event = events[i]!
      const effect = event._tag === "Command" ? this.onCommand(event) : this.onData(event)
      if (effect !== undefined) {
        return Effect.andThen(
          effect,
          Effect.suspend(() => this.runEvents(events, i + 1, failure) ?? Effect.void)
        )
      }
    }
    return failure !== undefined && !this.gone
      ? this.deps.protocolAbort(`${failure.reason}: ${failure.detail}`)
      : undefined
  }

  // `UpperLayer.PDataRunReceiver`: the P-DATA-TFs of pdus[at..end) in one call, each PDU's events run before the next
  // is reassembled, stopping after a PDU whose events must be waited for or ran code other than the receiver's.
  takeRun(pdus: ReadonlyArray<Pdu.Pdu>, at: number, end: number): Effect.Effect<void> | undefined {
    let i = at
    while (i < end) {
      const pdu = pdus[i]!
      if (pdu._tag !== "PDataTf") break
      i++
      // Gone: what still arrives is dropped.
      if (this.gone) continue
      this.ownCodeOnly = true
      // The events of the PDVs before a protocol error still run, then the error aborts.
      const events: Array<Reassembler.Event> = []
      const pdvs = pdu.pdvs
      const failure = this.deps.reassembler.pushInto(pdvs, events)
      // A command's fragments are decoded into its command set (values copied) once its last one is in: from then on
      // no view of them is held, and the socket reads they came from may go back (`ReceivedBytes`) once their data
      // views are released too, rather than waiting for a collection (a read of small instances holds commands).
      for (let j = 0; j < pdvs.length; j++) {
        const pdv = pdvs[j]!
        if (!pdv.isCommand) continue
        if (!pdv.isLast) {
          // empty ones hold no bytes (a peer may send any number of them); the others add up to the command's
          // length, which the reassembler bounds
          if (pdv.data.length > 0) this.commandViews.push(pdv.data)
          continue
        }
        ReceivedBytes.consumed(pdv.data)
        if (this.commandViews.length > 0) {
          for (const view of this.commandViews) ReceivedBytes.consumed(view)
          this.commandViews = []
        }
      }
      const wait = this.runEvents(events, 0, failure)
      if (wait !== undefined || !this.ownCodeOnly) {
        this.taken = i - at
        return wait
      }
    }
    this.taken = i - at
    return undefined
  }
}
