/**
 * The DIMSE-N services (PS3.7 section 10), SCU and SCP: N-EVENT-REPORT, N-GET, N-SET, N-ACTION, N-CREATE and
 * N-DELETE over a `DimseChannel`.
 *
 * SCU: one call per operation, each a request with one (final) response: its status as data (with what PS3.7 Annex C
 * says it means), the response's Affected SOP Class and Instance UID, event or action type, Attribute Identifier
 * List, and its data set decoded. The exchange itself fails with a `DimseFailure`, a data set of ours that cannot be
 * encoded with a `DataSetError` (nothing is sent), a response data set that cannot be decoded with a
 * `DimseProtocolError`. N-EVENT-REPORT is invoked by the SCP of a SOP class (a Storage Commitment SCP reporting its
 * result), so `nEventReport` goes on a context where we took the SCP role; the others on one where we are the SCU.
 *
 * SCP: the `NormalizedService` the user provides as a Layer holds a handler per operation per SOP class (`layer`);
 * each request is answered with its handler's outcome, a data set gathered first (at most
 * `MAX_N_DATA_SET_BYTES`: past it the association is aborted) and decoded. Refused without calling a handler: a
 * request whose SOP class is neither its presentation context's nor one its Meta SOP class holds, 0x0122; one on a
 * context where we do not have the role that performs it (N-EVENT-REPORT: the SCU's, the others: the SCP's), 0x0124;
 * one for a SOP class no handler serves, 0x0122, or 0x0211 (unrecognized operation) when it is a DIMSE-C SOP class
 * (Verification, Storage, Query/Retrieve) or its handlers lack the operation. An outcome may carry an effect to run
 * once the response is sent, on the same association (`afterResponse`: a Storage Commitment SCP's N-EVENT-REPORT).
 *
 * Not covered: the SOP classes' own rules (which attributes an MPPS N-CREATE must hold, when an instance may no longer
 * be set): those are the handlers'; `StorageCommitment` helps with that SOP class's data sets.
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import { Dimse, Identifiers, Reassembler, Status, Uids } from "@netdicom/wire"
import type { AcceptedContext } from "../association/Negotiated.ts"
import * as DataSet from "../dimse/DataSet.ts"
import type { DataSetError } from "../dimse/DataSetError.ts"
import * as DimseChannel from "../dimse/DimseChannel.ts"
import * as GatherBounded from "../dimse/GatherBounded.ts"
import { DimseProtocolError, type DimseFailure } from "../dimse/DimseError.ts"
import { failureResponse } from "../dimse/Unanswered.ts"
import { modelOf, VERIFICATION } from "./QueryRetrieve.ts"
import * as NormalizedClasses from "./NormalizedClasses.ts"
import { refuse } from "./Refusal.ts"

/** The six DIMSE-N operations. */
export type Operation = "N-EVENT-REPORT" | "N-GET" | "N-SET" | "N-ACTION" | "N-CREATE" | "N-DELETE"

/** The operation of a DIMSE-N request. */
export const operationOf = (m: Dimse.NRequest): Operation => Dimse.commandName(m).slice(0, -3) as Operation

/**
 * The most tags an Attribute Identifier List may hold: more would make a command set over the 64 KiB a receiver
 * takes (`Reassembler.DEFAULT_MAX_COMMAND_LENGTH`, ours among them). `nGet` asking for more fails without sending;
 * an outcome listing more is answered 0x0110.
 */
export const MAX_ATTRIBUTE_IDENTIFIERS = (Reassembler.DEFAULT_MAX_COMMAND_LENGTH - 1024) / 4

// ---- SCU ----

/** A DIMSE-N response: its status, what it echoes and what it carries. */
export interface NResponse {
  readonly status: number
  readonly category: Status.Category
  readonly meaning: string
  readonly errorComment: string | undefined
  readonly errorId: number | undefined
  /** Affected SOP Class UID, when the response has one. */
  readonly sopClassUid: string | undefined
  /** Affected SOP Instance UID, when the response has one (the instance an N-CREATE made). */
  readonly sopInstanceUid: string | undefined
  readonly eventTypeId: number | undefined
  readonly actionTypeId: number | undefined
  /** The Attribute Identifier List (0x0105, 0x0107), each tag as `group << 16 | element`. */
  readonly attributeIdentifierList: ReadonlyArray<number> | undefined
  /** The response's data set (Event Reply, Attribute List, Action Reply), decoded. */
  readonly dataSet: DataSet.Naturalized | undefined
}

/** What every DIMSE-N call names: a SOP class and instance, and the context to use. */
export interface NTarget {
  readonly sopClassUid: string
  readonly sopInstanceUid: string
  /**
   * The abstract syntax of the presentation context to send on, when it is not `sopClassUid` itself: a Meta SOP
   * class holding it (Basic Grayscale Print Management Meta for a Basic Film Session, PS3.4 H.3).
   */
  readonly abstractSyntax?: string
}

/**
 * The most data elements and sequence items a DIMSE-N data set (request or response) may hold here, every level
 * counted: one over is a data set that cannot be decoded (0x0110 for a request, `DimseProtocolError` for a response).
 * A Storage Commitment reference is 3 (its item and two UIDs), so 50,000 instances fit; decoding costs ~10 µs an item.
 */
export const MAX_N_DATA_SET_ELEMENTS = 150_000

// How every DIMSE-N data set is decoded: bounded in its inflated size and in what it holds.
const N_DECODE: DataSet.DecodeOptions = {
  maxInflatedLength: DimseChannel.MAX_INFLATED_IDENTIFIER_BYTES,
  maxElements: MAX_N_DATA_SET_ELEMENTS
}

const responseOf = (r: DimseChannel.Response, transferSyntax: string): Result.Result<NResponse, DimseProtocolError> => {
  const m = r.message as Dimse.NResponse
  const service = Dimse.serviceOf(m)
  let dataSet: DataSet.Naturalized | undefined
  if (r.dataSet !== undefined) {
    const decoded = DataSet.decode(r.dataSet, transferSyntax, N_DECODE)
    if (Result.isFailure(decoded)) {
      return Result.fail(
        new DimseProtocolError({ detail: `${Dimse.commandName(m)} data set: ${decoded.failure.message}` })
      )
    }
    dataSet = decoded.success
  }
  return Result.succeed({
    status: m.status,
    category: Status.classify(m.status),
    meaning: Status.describe(m.status, service),
    errorComment: m.errorComment,
    errorId: m.errorId,
    sopClassUid: m.affectedSopClassUid,
    sopInstanceUid: m.affectedSopInstanceUid,
    eventTypeId: "eventTypeId" in m ? m.eventTypeId : undefined,
    actionTypeId: "actionTypeId" in m ? m.actionTypeId : undefined,
    attributeIdentifierList: m.attributeIdentifierList,
    dataSet
  })
}

// Sends a DIMSE-N request on the context for its SOP class in `role` and waits for its response.
const invoke = (
  channel: DimseChannel.DimseChannel,
  operation: Operation,
  abstractSyntax: string,
  role: "SCU" | "SCP",
  make: (messageId: number, hasDataSet: boolean) => Dimse.NRequest,
  dataSet: DataSet.Naturalized | undefined
): Effect.Effect<NResponse, DimseFailure | DataSetError> =>
  Effect.gen(function* () {
    const context = yield* Effect.fromResult(channel.findContext(abstractSyntax, role))
    let bytes: Uint8Array | undefined
    if (dataSet !== undefined) {
      const encoded = DataSet.encode(dataSet, context.transferSyntax)
      // Ours, not the peer's: nothing was sent and the association goes on.
      if (Result.isFailure(encoded)) return yield* Effect.fail(encoded.failure)
      bytes = encoded.success
    }
    const rq = make(channel.takeMessageId(), bytes !== undefined)
    const response = yield* channel.requestOne(context, rq, bytes)
    return yield* Effect.fromResult(responseOf(response, context.transferSyntax))
  }).pipe(Effect.withLogSpan(operation))

/**
 * N-EVENT-REPORT: reports an event about a SOP instance to the peer (PS3.7 10.1.1), as the SCP of its SOP class (a
 * Storage Commitment SCP's result, event type 1 or 2, PS3.4 J.3.3).
 */
export const nEventReport = (
  channel: DimseChannel.DimseChannel,
  input: NTarget & { readonly eventTypeId: number; readonly dataSet?: DataSet.Naturalized }
): Effect.Effect<NResponse, DimseFailure | DataSetError> =>
  invoke(
    channel,
    "N-EVENT-REPORT",
    input.abstractSyntax ?? input.sopClassUid,
    "SCP",
    (messageId, hasDataSet) => ({
      _tag: "NEventReportRq",
      messageId,
      affectedSopClassUid: input.sopClassUid,
      affectedSopInstanceUid: input.sopInstanceUid,
      eventTypeId: input.eventTypeId,
      hasDataSet
    }),
    input.dataSet
  )

/** N-GET: asks for attributes of a SOP instance, all of them without `attributes` (PS3.7 10.1.2). */
export const nGet = (
  channel: DimseChannel.DimseChannel,
  input: NTarget & { readonly attributes?: ReadonlyArray<number> }
): Effect.Effect<NResponse, DimseFailure | DataSetError> =>
  (input.attributes?.length ?? 0) > MAX_ATTRIBUTE_IDENTIFIERS
    ? // Nothing sent: a receiver takes no command set that large (ours aborts), and the association goes on.
      Effect.fail(
        new DimseProtocolError({
          detail: `N-GET-RQ: ${input.attributes!.length} attribute identifiers, over ${MAX_ATTRIBUTE_IDENTIFIERS}`
        })
      )
    : invoke(
        channel,
        "N-GET",
        input.abstractSyntax ?? input.sopClassUid,
        "SCU",
        (messageId) => ({
          _tag: "NGetRq",
          messageId,
          requestedSopClassUid: input.sopClassUid,
          requestedSopInstanceUid: input.sopInstanceUid,
          ...(input.attributes !== undefined && input.attributes.length > 0
            ? { attributeIdentifierList: input.attributes }
            : {})
        }),
        undefined
      )

/** N-SET: modifies attributes of a SOP instance with the Modification List `dataSet` (PS3.7 10.1.3). */
export const nSet = (
  channel: DimseChannel.DimseChannel,
  input: NTarget & { readonly dataSet: DataSet.Naturalized }
): Effect.Effect<NResponse, DimseFailure | DataSetError> =>
  invoke(
    channel,
    "N-SET",
    input.abstractSyntax ?? input.sopClassUid,
    "SCU",
    (messageId) => ({
      _tag: "NSetRq",
      messageId,
      requestedSopClassUid: input.sopClassUid,
      requestedSopInstanceUid: input.sopInstanceUid
    }),
    input.dataSet
  )

/** N-ACTION: asks the peer to perform an action on a SOP instance (PS3.7 10.1.4; Storage Commitment's request). */
export const nAction = (
  channel: DimseChannel.DimseChannel,
  input: NTarget & { readonly actionTypeId: number; readonly dataSet?: DataSet.Naturalized }
): Effect.Effect<NResponse, DimseFailure | DataSetError> =>
  invoke(
    channel,
    "N-ACTION",
    input.abstractSyntax ?? input.sopClassUid,
    "SCU",
    (messageId, hasDataSet) => ({
      _tag: "NActionRq",
      messageId,
      requestedSopClassUid: input.sopClassUid,
      requestedSopInstanceUid: input.sopInstanceUid,
      actionTypeId: input.actionTypeId,
      hasDataSet
    }),
    input.dataSet
  )

/**
 * N-CREATE: creates a SOP instance with the attributes of `dataSet` (PS3.7 10.1.5; an MPPS "IN PROGRESS"). Without a
 * `sopInstanceUid` the peer assigns one, returned as the response's `sopInstanceUid`.
 */
export const nCreate = (
  channel: DimseChannel.DimseChannel,
  input: Omit<NTarget, "sopInstanceUid"> & {
    readonly sopInstanceUid?: string
    readonly dataSet?: DataSet.Naturalized
  }
): Effect.Effect<NResponse, DimseFailure | DataSetError> =>
  invoke(
    channel,
    "N-CREATE",
    input.abstractSyntax ?? input.sopClassUid,
    "SCU",
    (messageId, hasDataSet) => ({
      _tag: "NCreateRq",
      messageId,
      affectedSopClassUid: input.sopClassUid,
      ...(input.sopInstanceUid !== undefined ? { affectedSopInstanceUid: input.sopInstanceUid } : {}),
      hasDataSet
    }),
    input.dataSet
  )

/** N-DELETE: deletes a SOP instance (PS3.7 10.1.6). */
export const nDelete = (
  channel: DimseChannel.DimseChannel,
  input: NTarget
): Effect.Effect<NResponse, DimseFailure | DataSetError> =>
  invoke(
    channel,
    "N-DELETE",
    input.abstractSyntax ?? input.sopClassUid,
    "SCU",
    (messageId) => ({
      _tag: "NDeleteRq",
      messageId,
      requestedSopClassUid: input.sopClassUid,
      requestedSopInstanceUid: input.sopInstanceUid
    }),
    undefined
  )

// ---- SCP ----

/** A DIMSE-N request as a handler sees it. */
export interface NRequest {
  readonly operation: Operation
  readonly message: Dimse.NRequest
  readonly sopClassUid: string
  /** The instance it is about; an N-CREATE-RQ may leave it to us (then the outcome's `sopInstanceUid` names it). */
  readonly sopInstanceUid: string | undefined
  readonly eventTypeId: number | undefined
  readonly actionTypeId: number | undefined
  /** N-GET's Attribute Identifier List (none: every attribute). */
  readonly attributeIdentifierList: ReadonlyArray<number> | undefined
  /** The request's data set (Event Information, Modification List, Action Information, Attribute List), decoded. */
  readonly dataSet: DataSet.Naturalized | undefined
  readonly transferSyntax: string
  readonly callingAeTitle: string
  /** The association it came on: an `afterResponse` sends its N-EVENT-REPORTs on it (`nEventReport`). */
  readonly channel: DimseChannel.DimseChannel
}

/** What a handler answers with. */
export interface NOutcome {
  readonly status: number
  readonly errorComment?: string
  readonly errorId?: number
  /** The Affected SOP Instance UID to answer with: an N-CREATE's new instance (default: the request's instance). */
  readonly sopInstanceUid?: string
  readonly attributeIdentifierList?: ReadonlyArray<number>
  /** The response's data set (Attribute List, Action Reply, Event Reply); N-DELETE-RSP has none. */
  readonly dataSet?: DataSet.Naturalized
  /**
   * Run once the response is sent, in the request's handler (the association is held until it ends: a peer's
   * A-RELEASE-RQ waits for it, up to the DIMSE timeout): a Storage Commitment SCP's N-EVENT-REPORT on the same
   * association. Once that A-RELEASE-RQ has come, a request on the association fails at once (`AssociationAborted`):
   * the peer may not answer it (PS3.8 Sta7), so report on a new association then.
   */
  readonly afterResponse?: Effect.Effect<void>
}

/**
 * Answers one DIMSE-N operation of a SOP class. A handler that dies is answered 0x0110 (processing failure), as is an
 * outcome that cannot go out as given (a status or Error ID out of US range, a `sopInstanceUid` that is no UID, more
 * than `MAX_ATTRIBUTE_IDENTIFIERS` attribute identifiers); its `afterResponse` then does not run.
 */
export type NHandler = (request: NRequest) => Effect.Effect<NOutcome>

/** The operations served for one SOP class. */
export interface NHandlers {
  readonly nEventReport?: NHandler
  readonly nGet?: NHandler
  readonly nSet?: NHandler
  readonly nAction?: NHandler
  readonly nCreate?: NHandler
  readonly nDelete?: NHandler
}

/** The DIMSE-N operations an SCP serves, per SOP class. */
export class NormalizedService extends Context.Service<
  NormalizedService,
  { readonly handlersFor: (sopClassUid: string) => NHandlers | undefined }
>()("@netdicom/net/NormalizedService") {}

/**
 * The scope an SCP serves in (`Scp.serve`'s), given to its DIMSE-N handlers: work of theirs that outlives a request
 * (a Storage Commitment report on a new association) runs in it, so it lasts as long as the server and ends with it,
 * wherever the handlers' Layer was provided.
 */
export class ServingScope extends Context.Service<ServingScope, Scope.Scope>()("@netdicom/net/ServingScope") {}

/** The `NormalizedService` serving each SOP class of `bySopClass` (SOP Class UID to its handlers). */
export const layer = (bySopClass: Readonly<Record<string, NHandlers>>): Layer.Layer<NormalizedService> => {
  const handlers = new Map(Object.entries(bySopClass))
  return Layer.succeed(NormalizedService)({ handlersFor: (uid) => handlers.get(uid) })
}

/**
 * One `NormalizedService` of several (Storage Commitment's and MPPS's): a SOP class is served by the first that
 * serves it. Each is built in the merged layer's scope.
 */
export const merge = <E, R>(
  ...services: ReadonlyArray<Layer.Layer<NormalizedService, E, R>>
): Layer.Layer<NormalizedService, E, R> =>
  Layer.effect(
    NormalizedService,
    Effect.gen(function* () {
      const built: Array<NormalizedService["Service"]> = []
      for (const service of services) built.push(Context.get(yield* Layer.build(service), NormalizedService))
      return NormalizedService.of({
        handlersFor: (uid) => {
          for (const service of built) {
            const handlers = service.handlersFor(uid)
            if (handlers !== undefined) return handlers
          }
          return undefined
        }
      })
    })
  )

/** The largest data set a DIMSE-N request may carry here; a larger one aborts the association. */
export const MAX_N_DATA_SET_BYTES = 8 << 20

/** Whether a SOP class is one of the DIMSE-N SOP classes (Storage Commitment, MPPS, Print Management) named here. */
export const isNormalizedSopClass = NormalizedClasses.isNormalizedSopClass

const HANDLER_OF: Readonly<Record<Operation, keyof NHandlers>> = {
  "N-EVENT-REPORT": "nEventReport",
  "N-GET": "nGet",
  "N-SET": "nSet",
  "N-ACTION": "nAction",
  "N-CREATE": "nCreate",
  "N-DELETE": "nDelete"
}

// The DIMSE-C SOP classes, which have no DIMSE-N operation: a request for one is an unrecognized operation.
const isDimseCSopClass = (uid: string): boolean =>
  uid === VERIFICATION || modelOf(uid) !== undefined || Uids.isStorageSopClass(uid)

/**
 * Why a DIMSE-N request may not be served on the context it came on, or undefined: its SOP class must be the
 * context's abstract syntax or one of its Meta SOP class (0x0122), and we must have the role that performs it
 * (0x0124): the SCU's for N-EVENT-REPORT, the SCP's for the others (PS3.7 10.1, D.3.3.4).
 */
export const refusalOf = (
  m: Dimse.NRequest,
  context: AcceptedContext
): { readonly status: number; readonly comment: string } | undefined => {
  const sopClass = Dimse.nSopClassOf(m)
  if (
    sopClass !== context.abstractSyntax &&
    !NormalizedClasses.META_SOP_CLASSES.get(context.abstractSyntax)?.has(sopClass)
  ) {
    return {
      status: Status.SOP_CLASS_NOT_SUPPORTED,
      comment: `not the SOP class of presentation context ${context.id}`
    }
  }
  const performer = m._tag === "NEventReportRq" ? context.weAreScu : context.weAreScp
  if (!performer) {
    const role = m._tag === "NEventReportRq" ? "SCU" : "SCP"
    return {
      status: Status.NOT_AUTHORIZED,
      comment: `no ${role} role negotiated on presentation context ${context.id}`
    }
  }
  return undefined
}

// The response to `m` carrying `outcome` (its data set, if any, as encoded bytes).
const responseTo = (m: Dimse.NRequest, outcome: NOutcome, hasDataSet: boolean): Dimse.NResponse => {
  const base = {
    messageIdBeingRespondedTo: m.messageId,
    status: outcome.status,
    affectedSopClassUid: Dimse.nSopClassOf(m),
    ...((outcome.sopInstanceUid ?? Dimse.nSopInstanceOf(m)) !== undefined
      ? { affectedSopInstanceUid: (outcome.sopInstanceUid ?? Dimse.nSopInstanceOf(m))! }
      : {}),
    ...(outcome.attributeIdentifierList !== undefined && outcome.attributeIdentifierList.length > 0
      ? { attributeIdentifierList: outcome.attributeIdentifierList }
      : {}),
    ...(outcome.errorComment ? { errorComment: Dimse.fitErrorComment(outcome.errorComment) } : {}),
    ...(outcome.errorId !== undefined ? { errorId: outcome.errorId } : {})
  }
  switch (m._tag) {
    case "NEventReportRq":
      return { _tag: "NEventReportRsp", ...base, eventTypeId: m.eventTypeId, hasDataSet }
    case "NGetRq":
      return { _tag: "NGetRsp", ...base, hasDataSet }
    case "NSetRq":
      return { _tag: "NSetRsp", ...base, hasDataSet }
    case "NActionRq":
      return { _tag: "NActionRsp", ...base, actionTypeId: m.actionTypeId, hasDataSet }
    case "NCreateRq":
      return { _tag: "NCreateRsp", ...base, hasDataSet }
    case "NDeleteRq":
      return { _tag: "NDeleteRsp", ...base }
  }
}

/**
 * The request handler of the DIMSE-N requests, with the handlers `handlersFor` gives per SOP class (none: every
 * request refused). Requests that are no DIMSE-N request are not its business: pass it only those
 * (`Dimse.isNRequest`).
 */
export const requestHandler =
  (handlersFor: (sopClassUid: string) => NHandlers | undefined): DimseChannel.RequestHandler =>
  (request, channel) => {
    const m = request.message as Dimse.NRequest
    const context = request.context
    const refusal = refusalOf(m, context)
    if (refusal !== undefined) return refuse(request, channel, m, refusal)
    const sopClassUid = Dimse.nSopClassOf(m)
    const operation = operationOf(m)
    const handlers = handlersFor(sopClassUid)
    const handler = handlers?.[HANDLER_OF[operation]]
    if (handler === undefined) {
      const unrecognized = handlers !== undefined || isDimseCSopClass(sopClassUid)
      return refuse(
        request,
        channel,
        m,
        unrecognized
          ? { status: Status.UNRECOGNIZED_OPERATION, comment: `${operation} is not served for this SOP class` }
          : { status: Status.SOP_CLASS_NOT_SUPPORTED, comment: "no DIMSE-N service for this SOP class" }
      )
    }
    return Effect.gen(function* () {
      // Sends the response carrying `outcome`; one that cannot be encoded (a status, Error ID or UID out of its VR's
      // range) is answered 0x0110 instead, not left unanswered. True when `outcome` itself went.
      const answer = (outcome: NOutcome, dataSet: Uint8Array | undefined): Effect.Effect<boolean> =>
        Effect.gen(function* () {
          const sent = yield* Effect.result(
            channel.send(context, responseTo(m, outcome, dataSet !== undefined), dataSet)
          )
          if (Result.isSuccess(sent)) return true
          if (sent.failure._tag !== "DimseProtocolError") return false
          yield* Effect.logWarning(`${Dimse.commandName(m)} ${m.messageId}: response: ${sent.failure.detail}`)
          const failure = failureResponse(m, Status.PROCESSING_FAILURE, "the handler's response cannot be encoded")
          if (failure !== undefined) yield* Effect.ignore(channel.send(context, failure))
          return false
        })
      const bytes = yield* GatherBounded.gather(request, channel, MAX_N_DATA_SET_BYTES, "DIMSE-N data set")
      if (bytes === undefined) return
      let dataSet: DataSet.Naturalized | undefined
      if (bytes.length > 0) {
        const decoded = DataSet.decode(bytes, context.transferSyntax, N_DECODE)
        if (Result.isFailure(decoded)) {
          yield* Effect.logWarning(`${Dimse.commandName(m)} ${m.messageId}: data set: ${decoded.failure.message}`)
          return yield* answer(
            { status: Status.PROCESSING_FAILURE, errorComment: "the data set cannot be decoded" },
            undefined
          )
        }
        dataSet = decoded.success
      }
      const outcome = yield* Effect.suspend(() =>
        handler({
          operation,
          message: m,
          sopClassUid,
          sopInstanceUid: Dimse.nSopInstanceOf(m),
          eventTypeId: m._tag === "NEventReportRq" ? m.eventTypeId : undefined,
          actionTypeId: m._tag === "NActionRq" ? m.actionTypeId : undefined,
          attributeIdentifierList: m._tag === "NGetRq" ? m.attributeIdentifierList : undefined,
          dataSet,
          transferSyntax: context.transferSyntax,
          callingAeTitle: channel.association.negotiated.peerAeTitle,
          channel
        })
      )
      // A UID of the handler's own that is no UID would be dropped from the response (`encodeCommand` drops echoed
      // UIDs it cannot write): an N-CREATE answered Success without the instance it made.
      if (outcome.sopInstanceUid !== undefined && Result.isFailure(Identifiers.uid(outcome.sopInstanceUid))) {
        yield* Effect.logWarning(`${Dimse.commandName(m)} ${m.messageId}: the outcome's SOP Instance UID is no UID`)
        return yield* answer(
          { status: Status.PROCESSING_FAILURE, errorComment: "the handler's SOP Instance UID is no UID" },
          undefined
        )
      }
      const listed = outcome.attributeIdentifierList?.length ?? 0
      if (listed > MAX_ATTRIBUTE_IDENTIFIERS) {
        yield* Effect.logWarning(
          `${Dimse.commandName(m)} ${m.messageId}: an Attribute Identifier List of ${listed} tags: answered 0x0110`
        )
        return yield* answer(
          { status: Status.PROCESSING_FAILURE, errorComment: "the response's Attribute Identifier List is too long" },
          undefined
        )
      }
      let reply: Uint8Array | undefined
      if (outcome.dataSet !== undefined && m._tag !== "NDeleteRq") {
        const encoded = DataSet.encode(outcome.dataSet, context.transferSyntax)
        if (Result.isFailure(encoded)) {
          yield* Effect.logWarning(`${Dimse.commandName(m)} ${m.messageId}: reply: ${encoded.failure.message}`)
          return yield* answer(
            { status: Status.PROCESSING_FAILURE, errorComment: "the reply data set cannot be encoded" },
            undefined
          )
        }
        reply = encoded.success
      }
      const answered = yield* answer(outcome, reply)
      if (answered && outcome.afterResponse !== undefined) yield* outcome.afterResponse
    })
  }
