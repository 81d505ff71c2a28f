/**
 * Refusing a request we do not serve, with the failure status PS3.7 gives for it, logged at Warn; the association goes
 * on. A request whose Affected SOP Class UID is not its presentation context's abstract syntax, or whose SOP class
 * does not have its operation, is answered 0x0122 "Refused: SOP Class not supported"; one on a context where we did
 * not take the SCP role (role selection, PS3.7 D.3.3.4) 0x0124 "Refused: not authorized" (both general failure
 * statuses, PS3.7 Annex C.5; 0x0122 is also C-ECHO's own, PS3.7 9.1.5.1.4). Used by `Scp` for what it may not serve,
 * and by an SCU for every request but the C-STOREs of its C-GETs (`notServed`), DIMSE-N requests too (0x0124 where we
 * do not have the role that performs one: the SCU's for N-EVENT-REPORT; `Normalized` refuses those an SCP does not
 * serve). A C-CANCEL-RQ is no request to answer (PS3.7 9.3.2.3): it never reaches a handler.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Dimse, Status } from "@netdicom/wire"
import type * as DimseChannel from "../dimse/DimseChannel.ts"
import { failureResponse } from "../dimse/Unanswered.ts"
import { isNormalizedSopClass } from "./NormalizedClasses.ts"
import { modelOf, VERIFICATION } from "./QueryRetrieve.ts"

/** A DIMSE-C request: what a peer may ask us to serve. */
export type ServiceRequest = Dimse.CEchoRq | Dimse.CStoreRq | Dimse.CFindRq | Dimse.CGetRq | Dimse.CMoveRq

/** Whether a message is a DIMSE-C request. */
export const isServiceRequest = (m: Dimse.Message): m is ServiceRequest =>
  m._tag === "CEchoRq" || m._tag === "CStoreRq" || m._tag === "CFindRq" || m._tag === "CGetRq" || m._tag === "CMoveRq"

// The operation a service request asks for, in its SOP class's terms, and whether that SOP class has it: C-ECHO is
// Verification's only, C-FIND/C-GET/C-MOVE each their own Q/R SOP classes', C-STORE any but those and the DIMSE-N
// SOP classes (PS3.4 A, B, C, F, H, J).
// Plain code (no object or closure per request): every request is checked.
const OPERATION_NAMES: Readonly<Record<ServiceRequest["_tag"], string>> = {
  CEchoRq: "C-ECHO",
  CStoreRq: "C-STORE",
  CFindRq: "C-FIND",
  CGetRq: "C-GET",
  CMoveRq: "C-MOVE"
}
const hasOperation = (m: ServiceRequest): boolean => {
  const uid = m.affectedSopClassUid
  switch (m._tag) {
    case "CEchoRq":
      return uid === VERIFICATION
    case "CStoreRq":
      return uid !== VERIFICATION && modelOf(uid) === undefined && !isNormalizedSopClass(uid)
    case "CFindRq":
      return modelOf(uid)?.op === "find"
    case "CGetRq":
      return modelOf(uid)?.op === "get"
    case "CMoveRq":
      return modelOf(uid)?.op === "move"
  }
}

/**
 * Why a request may not be served on the context it came on (PS3.7 9.1, PS3.8 7.1.1.13), or undefined: its Affected
 * SOP Class UID must be the context's abstract syntax and have the request's operation (0x0122 SOP class not
 * supported: a C-MOVE naming a FIND SOP class on that class's context is not served as one), and we must have the
 * SCP role on that context (0x0124 not authorized; a requestor that proposed the SCP role only is the SCP of it
 * itself).
 */
export const refusalOf = (
  m: ServiceRequest,
  context: DimseChannel.IncomingRequest["context"]
): { readonly status: number; readonly comment: string } | undefined => {
  if (m.affectedSopClassUid !== context.abstractSyntax) {
    return {
      status: Status.SOP_CLASS_NOT_SUPPORTED,
      comment: `not the SOP class of presentation context ${context.id}`
    }
  }
  if (!hasOperation(m)) {
    return {
      status: Status.SOP_CLASS_NOT_SUPPORTED,
      comment: `the SOP class has no ${OPERATION_NAMES[m._tag]} operation`
    }
  }
  if (!context.weAreScp) {
    return { status: Status.NOT_AUTHORIZED, comment: `no SCP role negotiated on presentation context ${context.id}` }
  }
  return undefined
}

/**
 * Answers a refused request with its failure response (the request's Message ID, the refusal's status and comment),
 * logged at Warn: the data set that came with it is read and dropped first, so the association stays in step and goes
 * on.
 */
export const refuse = (
  request: DimseChannel.IncomingRequest,
  channel: DimseChannel.DimseChannel,
  m: ServiceRequest | Dimse.NRequest,
  refusal: { readonly status: number; readonly comment: string }
) =>
  Effect.gen(function* () {
    yield* Stream.runDrain(request.dataSet).pipe(Effect.ignore)
    const context = request.context
    const sopClass = Dimse.isNRequest(m) ? Dimse.nSopClassOf(m) : m.affectedSopClassUid
    // The role that performs the request: the SCU's for N-EVENT-REPORT (the SCP of a SOP class reports), else the
    // SCP's.
    const [performer, role] = m._tag === "NEventReportRq" ? [context.weAreScu, "SCU"] : [context.weAreScp, "SCP"]
    yield* Effect.logWarning(
      `${Dimse.commandName(m)} ${m.messageId} for ${sopClass} on presentation context ${context.id} ` +
        `(${context.abstractSyntax}${performer ? "" : `, we are not its ${role}`}) refused: ` +
        `${Status.format(refusal.status)} (${refusal.comment})`
    )
    const response = failureResponse(m, refusal.status, refusal.comment)
    if (response === undefined) return
    yield* channel.send(context, response).pipe(Effect.ignore)
  })

/**
 * A request handler for an association on which we serve nothing (an SCU's, when no `onStore` takes C-STOREs): every
 * request is refused, 0x0122 where no other refusal applies, its comment saying what `serves` (e.g. "this SCU serves
 * no requests").
 */
export const notServed =
  (serves: string): DimseChannel.RequestHandler =>
  (request, channel) => {
    const m = request.message
    if (Dimse.isNRequest(m)) {
      const performer = m._tag === "NEventReportRq" ? request.context.weAreScu : request.context.weAreScp
      return refuse(
        request,
        channel,
        m,
        performer
          ? { status: Status.SOP_CLASS_NOT_SUPPORTED, comment: serves }
          : {
              status: Status.NOT_AUTHORIZED,
              comment: `not the performer on presentation context ${request.context.id}`
            }
      )
    }
    if (!isServiceRequest(m)) return Stream.runDrain(request.dataSet).pipe(Effect.ignore)
    return refuse(
      request,
      channel,
      m,
      refusalOf(m, request.context) ?? { status: Status.SOP_CLASS_NOT_SUPPORTED, comment: serves }
    )
  }
