/**
 * Requests whose handlers have not answered them yet (internal to `DimseChannel`). Every request gets a final response
 * (PS3.7 9.3): the channel notes each request as its handler starts and each final response as it is sent, and a
 * request whose handler ended without one is answered with a failure, logged at Error: a handler that died (a defect
 * its own recovery did not catch: Effect's run loop ends a fiber that meets something other than an effect, "Not a
 * valid effect", without running its `catchCause` or finalizers), or that was interrupted while the association was up
 * (at Warn, without the cause, when the channel's own close interrupted it: a server stopping). Only one: the final
 * response a dead handler left to a fiber of its that outlived it is then not sent. A request that arrives with no
 * handler at all is refused (logged at Warn). The association goes on.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import { Dimse, Status } from "@netdicom/wire"
import type { AcceptedContext } from "../association/Negotiated.ts"
import type { DimseFailure } from "./DimseError.ts"

type Request = Dimse.CEchoRq | Dimse.CStoreRq | Dimse.CFindRq | Dimse.CGetRq | Dimse.CMoveRq | Dimse.NRequest

const isRequest = (m: Dimse.Message): m is Request =>
  m._tag === "CEchoRq" ||
  m._tag === "CStoreRq" ||
  m._tag === "CFindRq" ||
  m._tag === "CGetRq" ||
  m._tag === "CMoveRq" ||
  Dimse.isNRequest(m)

/**
 * The final response to a request with a failure `status` and an Error Comment (no data set, no sub-operation counts);
 * undefined for a message that is no request.
 */
export const failureResponse = (request: Dimse.Message, status: number, comment: string): Dimse.Message | undefined => {
  if (!isRequest(request)) return undefined
  if (Dimse.isNRequest(request)) return nFailureResponse(request, status, comment)
  const base = {
    messageIdBeingRespondedTo: request.messageId,
    affectedSopClassUid: request.affectedSopClassUid,
    status,
    errorComment: Dimse.fitErrorComment(comment)
  }
  switch (request._tag) {
    case "CEchoRq":
      return { _tag: "CEchoRsp", ...base }
    case "CStoreRq":
      return { _tag: "CStoreRsp", ...base, affectedSopInstanceUid: request.affectedSopInstanceUid }
    case "CFindRq":
      return { _tag: "CFindRsp", ...base, hasIdentifier: false }
    case "CGetRq":
      return { _tag: "CGetRsp", ...base, hasIdentifier: false }
    case "CMoveRq":
      return { _tag: "CMoveRsp", ...base, hasIdentifier: false }
  }
}

// A DIMSE-N request's response with a failure status, naming the SOP class and instance the request named.
const nFailureResponse = (request: Dimse.NRequest, status: number, comment: string): Dimse.NResponse => {
  const sopInstance = Dimse.nSopInstanceOf(request)
  const base = {
    messageIdBeingRespondedTo: request.messageId,
    affectedSopClassUid: Dimse.nSopClassOf(request),
    ...(sopInstance !== undefined ? { affectedSopInstanceUid: sopInstance } : {}),
    status,
    errorComment: Dimse.fitErrorComment(comment)
  }
  switch (request._tag) {
    case "NEventReportRq":
      return { _tag: "NEventReportRsp", ...base, hasDataSet: false }
    case "NGetRq":
      return { _tag: "NGetRsp", ...base, hasDataSet: false }
    case "NSetRq":
      return { _tag: "NSetRsp", ...base, hasDataSet: false }
    case "NActionRq":
      return { _tag: "NActionRsp", ...base, hasDataSet: false }
    case "NCreateRq":
      return { _tag: "NCreateRsp", ...base, hasDataSet: false }
    case "NDeleteRq":
      return { _tag: "NDeleteRsp", ...base }
  }
}

// What a request whose handler failed is answered: 0x0110 processing failure (a general failure status, PS3.7 Annex
// C) for C-ECHO, C-STORE and the DIMSE-N requests, as `StoreHandler` answers a storage handler that died; 0xC000
// unable to process (PS3.4 C.4.1.1.4, C.4.2.1.5, C.4.3.1.4) for C-FIND, C-GET and C-MOVE, as `Scp` answers one it
// cannot serve.
const failedStatus = (request: Dimse.Message): number =>
  request._tag === "CFindRq" || request._tag === "CGetRq" || request._tag === "CMoveRq"
    ? Status.UNABLE_TO_PROCESS
    : Status.PROCESSING_FAILURE

// The requests with one message id whose handlers have not been settled yet, and how many final responses with that
// id went out meanwhile. One id holds more than one request only when a peer reuses it while its first request runs
// (PS3.7 wants ids unique among outstanding operations): a final response cannot then be told to be this or that
// one's, so they are counted, and each handler settled takes one; a handler settled with none left was not answered.
interface Open {
  readonly requests: Array<Dimse.Message>
  answered: number
}

// How many of the channel's own answers for dead handlers are remembered, to keep their late answers from going out.
const ANSWERED_HERE_KEPT = 256

/** The channel's record of requests not answered yet, and what answers those their handlers left. */
export class Unanswered {
  // By Message ID: the requests whose handlers run and have not been settled yet (`Open`).
  private readonly open = new Map<number, Open>()
  // By Message ID: the failure response the channel sent for a request whose handler died unanswered, until a request
  // with that id comes again; the latest `ANSWERED_HERE_KEPT` only (a handler's fiber that outlives it answers soon).
  private readonly answeredHere = new Map<number, Dimse.Message>()
  private readonly send: (context: AcceptedContext, message: Dimse.Message) => Effect.Effect<void, DimseFailure>
  // Whether the association has ended or is being aborted: nobody is left to answer.
  private readonly isGone: () => boolean
  private readonly runFork: (effect: Effect.Effect<void>) => unknown
  // Whether the channel's own scope is closing (a server stopping, a requestor's scope ending): its handlers are
  // interrupted by design, not by a defect.
  private readonly isClosing: () => boolean
  constructor(
    send: (context: AcceptedContext, message: Dimse.Message) => Effect.Effect<void, DimseFailure>,
    isGone: () => boolean,
    runFork: (effect: Effect.Effect<void>) => unknown,
    isClosing: () => boolean = () => false
  ) {
    this.send = send
    this.isGone = isGone
    this.runFork = runFork
    this.isClosing = isClosing
  }

  /** A request's handler starts. */
  begin(id: number, request: Dimse.Message): void {
    this.answeredHere.delete(id)
    const open = this.open.get(id)
    if (open === undefined) this.open.set(id, { requests: [request], answered: 0 })
    else open.requests.push(request)
  }

  /**
   * A message is about to be sent: a final response answers one request with its id. False for a final response the
   * channel must not send: one to a request the channel answered already on behalf of a handler that died (the
   * handler's own answer, from a fiber of its that outlived it), so that the request has one. Plain code: every message
   * sent comes here.
   */
  sending(message: Dimse.Message): boolean {
    if (!("status" in message) || !Status.isFinal(message.status)) return true
    if (this.open.size === 0 && this.answeredHere.size === 0) return true
    const id = message.messageIdBeingRespondedTo
    const open = this.open.get(id)
    if (open === undefined) {
      const ours = this.answeredHere.get(id)
      return ours === undefined || ours === message
    }
    if (open.requests.length === 1) this.open.delete(id)
    else if (open.answered < open.requests.length) open.answered++
    return true
  }

  // Settles a request: forgotten, and whether it was left unanswered (undefined: it was settled already).
  private settle(id: number, request: Dimse.Message): boolean | undefined {
    const open = this.open.get(id)
    const at = open === undefined ? -1 : open.requests.indexOf(request)
    if (open === undefined || at < 0) return undefined
    open.requests.splice(at, 1)
    const unanswered = open.answered === 0
    if (!unanswered) open.answered--
    if (open.requests.length === 0) this.open.delete(id)
    return unanswered
  }

  /** A request's handler has ended: whether its request was left unanswered (it is forgotten either way). */
  end(id: number, request: Dimse.Message): boolean {
    return this.settle(id, request) === true
  }

  /**
   * A handler's failure as its recovery sees it (in its own fiber): logged at Error, and its request answered with a
   * failure unless its final response went already. An interruption is left to `ended`.
   */
  failed(context: AcceptedContext, request: Dimse.Message, cause: Cause.Cause<never>): Effect.Effect<void> {
    if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
    const id = "messageId" in request ? request.messageId : undefined
    // Once the association is gone the request is left to `end` (nobody is left to answer).
    const open = id !== undefined && !this.isGone() && this.settle(id, request) === true
    if (!open) return Effect.logError(`handler for ${request._tag} failed`, cause)
    const status = failedStatus(request)
    return Effect.andThen(
      Effect.logError(
        `handler for ${request._tag} failed; ${Dimse.commandName(request)} ${id} answered ${Status.format(status)}`,
        cause
      ),
      this.answer(context, request, status, "the request's handler failed", true)
    )
  }

  /**
   * A handler's fiber that ended by a defect or an interruption its own recovery did not see, called as the fiber ends
   * (plain code); `open` when its request was left unanswered (`end` said so). A defect is logged at Error, as is an
   * interruption of an unanswered request while the association is up, and an unanswered request is answered with a
   * failure unless the association is gone.
   */
  ended(context: AcceptedContext, request: Dimse.Message, cause: Cause.Cause<unknown>, open: boolean): void {
    const interrupted = Cause.hasInterruptsOnly(cause)
    const gone = this.isGone()
    // Interrupted once answered, or because the association is gone (its end interrupts the handlers): nothing wrong.
    if (interrupted && (gone || !open)) return
    const id = "messageId" in request ? request.messageId : -1
    const name = `${Dimse.commandName(request)} ${id}`
    const how = interrupted ? "was interrupted" : "died"
    const status = failedStatus(request)
    // Interrupted, unanswered, by the channel's own close (a server stopping): answered all the same, at Warn and
    // without the interruption's cause, for nothing went wrong.
    const closing = interrupted && this.isClosing()
    const line = !open
      ? `handler for ${request._tag} ${how} after answering ${name}`
      : gone
        ? `handler for ${request._tag} ${how} before answering ${name}; the association is gone`
        : closing
          ? `handler for ${request._tag} interrupted by the association's close before answering ${name}: ` +
            `answered ${Status.format(status)}`
          : `handler for ${request._tag} ${how} before answering ${name}: answered ${Status.format(status)}`
    // With the annotations the handler's own lines carry (this runs in the channel's context, not the handler's).
    const logged = Effect.annotateLogs(closing ? Effect.logWarning(line) : Effect.logError(line, cause), {
      message: Dimse.commandName(request),
      messageId: id
    })
    this.runFork(
      !open || gone ? logged : Effect.andThen(logged, this.answer(context, request, status, `the handler ${how}`, true))
    )
  }

  /**
   * A request with no handler to take it: refused, 0x0124 where we do not have the role that performs it (the SCP's;
   * the SCU's for N-EVENT-REPORT), else 0x0122.
   */
  refused(context: AcceptedContext, request: Dimse.Message): Effect.Effect<void> {
    const id = "messageId" in request ? request.messageId : undefined
    if (id === undefined || this.settle(id, request) !== true) return Effect.void
    const performer = request._tag === "NEventReportRq" ? context.weAreScu : context.weAreScp
    const status = performer ? Status.SOP_CLASS_NOT_SUPPORTED : Status.NOT_AUTHORIZED
    return Effect.andThen(
      Effect.logWarning(
        `${Dimse.commandName(request)} ${id} on presentation context ${context.id} refused: ` +
          `${Status.format(status)} (no handler for requests on this association)`
      ),
      this.answer(context, request, status, "no handler for requests on this association")
    )
  }

  // `forDead`: on behalf of a handler that died, whose fibers may still answer (noted in `answeredHere`).
  private answer(context: AcceptedContext, request: Dimse.Message, status: number, comment: string, forDead = false) {
    const response = failureResponse(request, status, comment)
    if (response === undefined) return Effect.void
    if (forDead && "messageId" in request) {
      if (this.answeredHere.size >= ANSWERED_HERE_KEPT) this.answeredHere.delete(this.answeredHere.keys().next().value!)
      this.answeredHere.set(request.messageId, response)
    }
    return Effect.ignore(this.send(context, response))
  }

  /** Why a final response `sending` refused is not sent, for a Warn line. */
  notSent(message: Dimse.Message): string {
    const id = "messageIdBeingRespondedTo" in message ? message.messageIdBeingRespondedTo : -1
    return (
      `${Dimse.commandName(message)} ${id} not sent: the request was answered already, ` +
      "by the channel, as its handler had died without answering"
    )
  }
}
