/**
 * The SCP side of the DIMSE-C services, with the services the user provides as Layers
 * (PS3.4 Annexes A, B, C; PS3.7 section 9.1).
 *
 * Verification is built in: every C-ECHO is answered Success unless a `VerificationService` is given, whose status
 * answers it instead (a router saying whether its destination answers). `StorageService` takes instances;
 * `QueryService` answers C-FIND with a Stream of identifiers (a C-CANCEL stops it and answers FE00); `RetrieveService`
 * lists the instances for C-GET and C-MOVE, and this module runs the sub-operations: on the same association for C-GET,
 * to the destination from `MoveDestinations` for C-MOVE (over several associations, one after the other, when the
 * instances need more presentation contexts than one holds: `ContextParts`; a part whose association cannot be opened
 * fails its instances alone; the final response goes before the last one is released), with pending counts and the
 * final status (0000; B000 with the failed UIDs; A702 when all failed; A801 for an unknown destination, with no
 * association opened). A C-CANCEL ends the sub-operations with FE00 (a C-MOVE's without waiting for a destination that
 * is slow to accept its association, and giving a sub-operation under way a second to finish before it is counted
 * failed); a server stopping (the association's channel closing) starts no new sub-operation and sends the final
 * response, counting those not started as failed, before its associations are aborted. A query or retrieve service that
 * dies (a throw, a defect) is answered 0xC000 and logged, an instance's data set source that dies fails its
 * sub-operation alone; a storage handler that dies is answered 0x0110 (`StoreHandler`). Each C-FIND, C-GET and C-MOVE
 * answered is logged at Info once its final response is sent (model, level, matches or counts, status). A service that
 * is not provided is answered 0x0122, as is a request whose SOP class is not its presentation context's abstract syntax
 * or does not have its operation (a C-MOVE naming a FIND SOP class, a C-STORE naming Verification); one on a context
 * where we are not the SCP (role selection, PS3.7 D.3.3.4) is answered 0x0124. DIMSE-N requests go to the
 * `NormalizedService` (`Normalized`), which answers those it does not serve 0x0122 or 0x0211.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Dimse, Status } from "@netdicom/wire"
import type { AcceptorPolicy } from "../association/AcceptorPolicy.ts"
import { AssociationRejected } from "../association/AssociationError.ts"
import { NoAcceptableContext } from "../association/Negotiation.ts"
import type { ApplicationEntity } from "../association/ApplicationEntity.ts"
import * as Server from "../association/Server.ts"
import type { ListenFailed } from "../upper/Transport.ts"
import * as DataSet from "../dimse/DataSet.ts"
import * as ChannelOpen from "../dimse/ChannelOpen.ts"
import * as DimseChannel from "../dimse/DimseChannel.ts"
import * as GatherBounded from "../dimse/GatherBounded.ts"
import * as ContextParts from "../dimse/ContextParts.ts"
import { DataSourceFailed, NoAcceptedContext } from "../dimse/DimseError.ts"
import { NORMALIZED_SOP_CLASSES } from "./NormalizedClasses.ts"
import { ALL_QR_SOP_CLASSES, modelOf, type Model, VERIFICATION } from "./QueryRetrieve.ts"
import * as Scu from "./Scu.ts"
import type * as Tls from "../upper/Tls.ts"
import * as Normalized from "./Normalized.ts"
import { isServiceRequest, refusalOf, refuse } from "./Refusal.ts"
import { storeRequestHandler, type StorageHandler } from "./StoreHandler.ts"

/** What a `StorageService` is given and answers, here beside it (defined in `StoreHandler`). */
export type { StorageHandler, StoreOutcome, StoreRequest } from "./StoreHandler.ts"

/** Takes the instances C-STORE brings. */
export class StorageService extends Context.Service<StorageService, { readonly store: StorageHandler }>()(
  "@netdicom/net/StorageService"
) {}

/** A C-ECHO as a verification service sees it. */
export interface EchoRequest {
  readonly callingAeTitle: string
}

/** The status to answer a C-ECHO with (PS3.7 9.3.5.2: 0x0000, or a failure of PS3.7 Annex C), and a comment. */
export interface EchoOutcome {
  readonly status: number
  readonly errorComment?: string | undefined
}

/**
 * Answers C-ECHO with a status of its choosing, e.g. a router's failure while its destination does not answer.
 * Without it an SCP answers every C-ECHO 0x0000 at once; a service that dies is answered 0x0110 (processing
 * failure), logged at Error.
 */
export class VerificationService extends Context.Service<
  VerificationService,
  { readonly echo: (request: EchoRequest) => Effect.Effect<EchoOutcome> }
>()("@netdicom/net/VerificationService") {}

/** A query or retrieve refused with a status (e.g. 0xA900 identifier does not match, 0xC000 unable to process). */
export class QueryFailed extends Data.TaggedError("QueryFailed")<{
  readonly status: number
  readonly comment: string
}> {}

/** A C-FIND, C-GET or C-MOVE request as a service sees it. */
export interface QueryRequest {
  readonly model: Model
  readonly identifier: DataSet.Naturalized
  readonly callingAeTitle: string
}

/**
 * Answers C-FIND: a Stream of matching identifiers (only the requested keys). A private key of a match is written in
 * the VR the request gave it (Explicit VR: the request's `_vrMap`) unless the match's own `_vrMap` names one.
 */
export class QueryService extends Context.Service<
  QueryService,
  { readonly find: (request: QueryRequest) => Stream.Stream<DataSet.Naturalized, QueryFailed> }
>()("@netdicom/net/QueryService") {}

/** An instance a retrieve sends: identifiers, its transfer syntax, and its bare data set bytes on demand. */
export interface RetrievableInstance {
  readonly sopClassUid: string
  readonly sopInstanceUid: string
  readonly transferSyntax: string
  readonly dataSet: () => Stream.Stream<Uint8Array, DataSourceFailed>
}

/** Lists what a C-GET or C-MOVE retrieves. */
export class RetrieveService extends Context.Service<
  RetrieveService,
  { readonly retrieve: (request: QueryRequest) => Effect.Effect<ReadonlyArray<RetrievableInstance>, QueryFailed> }
>()("@netdicom/net/RetrieveService") {}

/** Where C-MOVE destinations are: AE title to host and port, and the TLS settings to reach it over TLS. */
export class MoveDestinations extends Context.Service<
  MoveDestinations,
  {
    readonly lookup: (aeTitle: string) => Option.Option<{
      readonly host: string
      readonly port: number
      readonly tls?: Tls.ClientOptions | undefined
    }>
  }
>()("@netdicom/net/MoveDestinations") {}

/** The DIMSE-N operations served per SOP class (`Normalized.layer`). */
export const NormalizedService = Normalized.NormalizedService

interface Services {
  readonly normalized?: Option.Option<Normalized.NormalizedService["Service"]>
  readonly verification?: Option.Option<VerificationService["Service"]>
  readonly storage: Option.Option<StorageService["Service"]>
  readonly query: Option.Option<QueryService["Service"]>
  readonly retrieve: Option.Option<RetrieveService["Service"]>
  readonly destinations: Option.Option<MoveDestinations["Service"]>
  /** The scope the SCP serves in, given to DIMSE-N handlers as `Normalized.ServingScope`. */
  readonly serving?: Scope.Scope
}

// A sub-operation's failure, short enough for an Error Comment: the transfer syntax the SCU did not accept is what
// it needs to know (a UID of a SOP Class would not fit beside it), or the SOP class, when no context has it. A stored
// data set that could not be read is said so without its detail, which names our files (the log has it).
// A SOP class the SCU accepted without the SCP role for it (a C-GET requester that took no role, PS3.7 D.3.3.4) is
// said so: its context is there, we may not send on it.
const subOperationFailure = (e: { readonly message: string }, target: DimseChannel.DimseChannel): string =>
  e instanceof NoAcceptedContext
    ? e.transferSyntax !== undefined
      ? `no context accepted for transfer syntax ${e.transferSyntax}`
      : target.association.negotiated.accepted.some((c) => c.abstractSyntax === e.sopClassUid)
        ? `SCU took no SCP role for ${e.sopClassUid}`
        : `no context accepted for ${e.sopClassUid}`
    : e instanceof DataSourceFailed
      ? "a stored data set could not be read"
      : e.message

// Why a C-MOVE destination took none of a part's instances, for the Error Comment (64 characters): a destination
// that answered is named as refusing, with the standard's reason, not as out of reach.
const destinationFailure = (destination: string, e: { readonly message: string }): string =>
  e instanceof NoAcceptableContext
    ? `${destination} accepted no context: ${e.resultTexts.join(", ")}`
    : e instanceof AssociationRejected
      ? `${destination} rejected the association: ${e.reasonText}`
      : `cannot reach ${destination}: ${e.message}`

const clampCount = (n: number): number | undefined => (n > 0xffff ? undefined : n)

/**
 * The most bytes of UIDs (each with its separator) a C-GET/C-MOVE final response's Failed SOP Instance UID List
 * holds: what an SCU of ours takes in a response's data set (`DimseChannel.MAX_RESPONSE_DATA_SET_BYTES`, 2 MiB) less
 * room for the element's header, some 32,000 UIDs of 64 characters or 55,000 of 37. Past it the list holds the first
 * ones that fit (the counts still count them all) and a warning is logged: a longer list made our SCU abort the
 * association and lose the final response.
 */
export const MAX_FAILED_UID_LIST_BYTES = DimseChannel.MAX_RESPONSE_DATA_SET_BYTES - 4096

// The first of `uids` that fit in MAX_FAILED_UID_LIST_BYTES.
const boundedUidList = (uids: ReadonlyArray<string>): Array<string> => {
  let bytes = 0
  let n = 0
  while (n < uids.length && bytes + uids[n]!.length + 1 <= MAX_FAILED_UID_LIST_BYTES) bytes += uids[n++]!.length + 1
  return uids.slice(0, n)
}

// A query or retrieve service of the user's that dies (a throw, a defect) fails its request as one that cannot be
// processed (0xC000), its defect logged, rather than ending the handler with no final response: the SCU would wait for
// its DIMSE timeout (a storage handler's death is answered 0x0110 likewise, `StoreHandler`).
const serviceDied = (service: "query" | "retrieve") => (defect: unknown) =>
  Effect.andThen(
    Effect.logError(`the ${service} service failed`, defect),
    Effect.fail(new QueryFailed({ status: Status.UNABLE_TO_PROCESS, comment: `the ${service} service failed` }))
  )

// A retrievable instance's data set source that dies (or throws when asked for its stream) fails that sub-operation
// alone, as a source failing with `DataSourceFailed` does.
const dataSetOf = (instance: RetrievableInstance): Stream.Stream<Uint8Array, DataSourceFailed> =>
  Stream.suspend(() => instance.dataSet()).pipe(
    Stream.catchDefect((defect) =>
      Stream.fail(new DataSourceFailed({ detail: defect instanceof Error ? defect.message : String(defect) }))
    )
  )

// One line at Info per C-FIND, C-GET or C-MOVE answered, once its final response is sent: what a Q/R SCP's log is
// read for (what was asked, how it ended; the peer and the association are the line's annotations). Before, only the
// association's acceptance and end were logged, and a C-MOVE that sent a study elsewhere left no trace.
const finalLine = (
  service: "C-FIND" | "C-GET" | "C-MOVE",
  m: { readonly affectedSopClassUid: string; readonly moveDestination?: string },
  level: string | undefined,
  outcome: string,
  status: number,
  comment: string | undefined
): string =>
  `${service}${m.moveDestination === undefined ? "" : ` to ${m.moveDestination}`} ` +
  `${modelOf(m.affectedSopClassUid)?.model ?? "unknown"} root${level ? ` ${level}` : ""}: ` +
  `${outcome ? `${outcome}, ` : ""}${Status.describe(status, service)} (${Status.format(status)})` +
  (comment ? `: ${comment}` : "")

// The request's level for that line, when it is one of PS3.4 C.3's: the peer's text is not quoted there.
const LEVELS = new Set(["PATIENT", "STUDY", "SERIES", "IMAGE"])
const levelOf = (identifier: DataSet.Naturalized): string | undefined => {
  const level = identifier["QueryRetrieveLevel"]
  return typeof level === "string" && LEVELS.has(level.trim()) ? level.trim() : undefined
}

const counts = (remaining: number, completed: number, failed: number, warning: number) => {
  const out: Record<string, number> = {}
  const put = (k: string, v: number) => {
    const c = clampCount(v)
    if (c !== undefined) out[k] = c
  }
  put("numberOfRemainingSuboperations", remaining)
  put("numberOfCompletedSuboperations", completed)
  put("numberOfFailedSuboperations", failed)
  put("numberOfWarningSuboperations", warning)
  return out
}

// How long a C-MOVE sub-operation under way when a C-CANCEL comes may still take before it is given up (failed).
const CANCELLED_SUB_OPERATION_GRACE = Duration.seconds(1)

/** The largest C-FIND/C-GET/C-MOVE identifier an SCP gathers; a larger one aborts the association. */
export const MAX_IDENTIFIER_BYTES = 1 << 20

// Gathers a request's identifier (bounded: `GatherBounded`) and decodes it.
const decodeIdentifier = (request: DimseChannel.IncomingRequest, channel: DimseChannel.DimseChannel) =>
  Effect.gen(function* () {
    const bytes = yield* GatherBounded.gather(request, channel, MAX_IDENTIFIER_BYTES, "identifier")
    if (bytes === undefined) {
      return yield* Effect.fail(
        new QueryFailed({ status: Status.UNABLE_TO_PROCESS, comment: "identifier not received" })
      )
    }
    return DataSet.decode(bytes, request.context.transferSyntax, {
      maxInflatedLength: DimseChannel.MAX_INFLATED_IDENTIFIER_BYTES,
      maxElements: DimseChannel.MAX_IDENTIFIER_ELEMENTS
    })
  })

// Why an identifier cannot be decoded: logged at Warn in full, and the reason (its start, 64 characters in all) as the
// final response's comment.
const undecodable = (decoded: Result.Result<DataSet.Naturalized, DataSet.DataSetError>): Effect.Effect<string> =>
  Result.isFailure(decoded)
    ? Effect.as(
        Effect.logWarning(`identifier cannot be decoded: ${decoded.failure.message}`),
        `identifier: ${decoded.failure.reason}`
      )
    : Effect.succeed("identifier cannot be decoded")

const vrMapOf = (identifier: DataSet.Naturalized): Readonly<Record<string, unknown>> | undefined => {
  const vrs = identifier["_vrMap"]
  return typeof vrs === "object" && vrs !== null && Object.keys(vrs).length > 0
    ? (vrs as Readonly<Record<string, unknown>>)
    : undefined
}

// A match with the request's VRs under its own (its own win).
const withRequestVrs = (
  match: DataSet.Naturalized,
  requestVrs: Readonly<Record<string, unknown>> | undefined
): DataSet.Naturalized => {
  if (requestVrs === undefined) return match
  const own = vrMapOf(match)
  return { ...match, _vrMap: own === undefined ? requestVrs : { ...requestVrs, ...own } }
}

// The Error Comment of an identifier past `DimseChannel.MAX_IDENTIFIER_ELEMENTS` (answered 0xC000, as too many keys).
const tooLarge = `identifier of more than ${DimseChannel.MAX_IDENTIFIER_ELEMENTS} elements`

const handleFind = (services: Services, request: DimseChannel.IncomingRequest, channel: DimseChannel.DimseChannel) =>
  Effect.gen(function* () {
    const m = request.message as Dimse.CFindRq
    // Matches the query service gave that could not be encoded: the final response then says the answer is not
    // whole (a failure), rather than a success the SCU would take for all there is.
    let unencodable = 0
    let answered = 0
    let level: string | undefined
    // The VRs the request gave its private keys (Explicit VR): a match naming those keys without VRs of its own is
    // written in them, as a service answering the keys asked for would expect.
    let requestVrs: Readonly<Record<string, unknown>> | undefined
    const respond = (status: number, identifier?: DataSet.Naturalized, errorComment?: string) =>
      Effect.gen(function* () {
        let bytes: Uint8Array | undefined
        if (identifier) {
          const encoded = DataSet.encode(withRequestVrs(identifier, requestVrs), request.context.transferSyntax)
          if (Result.isFailure(encoded)) {
            unencodable++
            return yield* Effect.logWarning(`match left out, not encodable: ${encoded.failure.message}`)
          }
          bytes = encoded.success
        }
        yield* channel.send(
          request.context,
          {
            _tag: "CFindRsp",
            messageIdBeingRespondedTo: m.messageId,
            affectedSopClassUid: m.affectedSopClassUid,
            status,
            hasIdentifier: bytes !== undefined,
            ...(errorComment ? { errorComment: Dimse.fitErrorComment(errorComment) } : {})
          },
          bytes
        )
        if (status === Status.PENDING) answered++
        else {
          const outcome = `${answered} match${answered === 1 ? "" : "es"}`
          yield* Effect.logInfo(finalLine("C-FIND", m, level, outcome, status, errorComment))
        }
      }).pipe(Effect.ignore)
    const gathered = yield* Effect.result(decodeIdentifier(request, channel))
    if (Result.isFailure(gathered)) return
    const identifier = gathered.success
    const model = modelOf(m.affectedSopClassUid)
    if (Result.isFailure(identifier) && identifier.failure.kind === "TooLarge") {
      return yield* respond(Status.UNABLE_TO_PROCESS, undefined, tooLarge)
    }
    if (Result.isFailure(identifier) || model === undefined) {
      return yield* respond(Status.IDENTIFIER_DOES_NOT_MATCH, undefined, yield* undecodable(identifier))
    }
    level = levelOf(identifier.success)
    requestVrs = vrMapOf(identifier.success)
    yield* Scu.logIdentifier(identifier.success)
    if (Option.isNone(services.query)) {
      return yield* respond(Status.SOP_CLASS_NOT_SUPPORTED, undefined, "no QueryService on this SCP")
    }
    let cancelled = false
    // Stopped when a C-CANCEL comes, not when the next match does: a query may take seconds to find one, longer than
    // the requester waits for its final response after cancelling.
    const query = services.query.value
    const matches = Stream.suspend(() =>
      query.find({
        model: model.model,
        identifier: identifier.success,
        callingAeTitle: channel.association.negotiated.peerAeTitle
      })
    ).pipe(
      Stream.catchDefect((defect) => Stream.fromEffect(serviceDied("query")(defect))),
      Stream.interruptWhen(request.cancelled)
    )
    const outcome = yield* Stream.runForEachWhile(matches, (match) =>
      Effect.gen(function* () {
        if (request.isCancelled()) {
          cancelled = true
          return false
        }
        yield* respond(Status.PENDING, match)
        return true
      })
    ).pipe(Effect.result)
    if (cancelled || request.isCancelled()) return yield* respond(Status.CANCEL)
    if (Result.isFailure(outcome)) return yield* respond(outcome.failure.status, undefined, outcome.failure.comment)
    if (unencodable > 0) {
      return yield* respond(Status.UNABLE_TO_PROCESS, undefined, `${unencodable} match(es) could not be encoded`)
    }
    yield* respond(Status.SUCCESS)
  })

const handleRetrieve = (
  ae: ApplicationEntity,
  services: Services,
  request: DimseChannel.IncomingRequest,
  channel: DimseChannel.DimseChannel
) =>
  Effect.gen(function* () {
    const m = request.message as Dimse.CGetRq | Dimse.CMoveRq
    const isMove = m._tag === "CMoveRq"
    let level: string | undefined
    // Sub-operations failed, by the reason the Error Comment would give: the first of each is logged at Warn, the
    // others at Debug and counted in one line with the final response (a C-GET of a large study whose SOP class the
    // SCU did not propose logged a line per instance).
    const failures = new Map<string, number>()
    const respond = (
      status: number,
      extra: Record<string, number>,
      failedUids?: ReadonlyArray<string>,
      comment?: string
    ) =>
      Effect.gen(function* () {
        let bytes: Uint8Array | undefined
        if (failedUids && failedUids.length > 0) {
          const listed = boundedUidList(failedUids)
          if (listed.length < failedUids.length) {
            yield* Effect.logWarning(
              `${isMove ? "C-MOVE" : "C-GET"} ${m.messageId}: the Failed SOP Instance UID List holds the first ` +
                `${listed.length} of the ${failedUids.length} failed (${MAX_FAILED_UID_LIST_BYTES} bytes at most)`
            )
          }
          const encoded = DataSet.encode(
            // an array: one joined string would be cut to the 64 characters of one UI value
            { FailedSOPInstanceUIDList: listed },
            request.context.transferSyntax
          )
          if (Result.isSuccess(encoded)) bytes = encoded.success
        }
        const base = {
          messageIdBeingRespondedTo: m.messageId,
          affectedSopClassUid: m.affectedSopClassUid,
          status,
          hasIdentifier: bytes !== undefined,
          ...extra,
          ...(comment ? { errorComment: Dimse.fitErrorComment(comment) } : {})
        }
        yield* channel.send(
          request.context,
          isMove ? { _tag: "CMoveRsp", ...base } : { _tag: "CGetRsp", ...base },
          bytes
        )
        if (status !== Status.PENDING) {
          for (const [reason, count] of failures) {
            if (count > 1)
              yield* Effect.logWarning(
                `${isMove ? "C-MOVE" : "C-GET"} ${m.messageId}: ${count} sub-operations failed: ${reason}`
              )
          }
          // a request refused before any sub-operation (A801, A900) has no counts
          const n = (k: string) => extra[k] ?? 0
          const outcome =
            Object.keys(extra).length === 0
              ? ""
              : `${n("numberOfCompletedSuboperations")} completed, ${n("numberOfWarningSuboperations")} warning(s), ` +
                `${n("numberOfFailedSuboperations")} failed`
          yield* Effect.logInfo(finalLine(isMove ? "C-MOVE" : "C-GET", m, level, outcome, status, comment))
        }
      }).pipe(Effect.ignore)

    const gathered = yield* Effect.result(decodeIdentifier(request, channel))
    if (Result.isFailure(gathered)) return
    const identifier = gathered.success
    const model = modelOf(m.affectedSopClassUid)
    if (Result.isFailure(identifier) && identifier.failure.kind === "TooLarge") {
      return yield* respond(Status.UNABLE_TO_PROCESS, {}, undefined, tooLarge)
    }
    if (Result.isFailure(identifier) || model === undefined) {
      return yield* respond(Status.IDENTIFIER_DOES_NOT_MATCH, {}, undefined, yield* undecodable(identifier))
    }
    level = levelOf(identifier.success)
    yield* Scu.logIdentifier(identifier.success)
    if (Option.isNone(services.retrieve)) {
      return yield* respond(Status.SOP_CLASS_NOT_SUPPORTED, {}, undefined, "no RetrieveService on this SCP")
    }
    let destination:
      { readonly host: string; readonly port: number; readonly tls?: Tls.ClientOptions | undefined } | undefined
    if (isMove) {
      const found = Option.flatMap(services.destinations, (d) => d.lookup(m.moveDestination))
      if (Option.isNone(found)) {
        return yield* respond(
          Status.MOVE_DESTINATION_UNKNOWN,
          {},
          undefined,
          `unknown destination ${m.moveDestination}`
        )
      }
      destination = found.value
    }
    // A C-CANCEL while the instances are being listed stops the listing: none is known, so no count is given.
    const retrieveService = services.retrieve.value
    const listed = yield* Effect.raceFirst(
      Effect.suspend(() =>
        retrieveService.retrieve({
          model: model.model,
          identifier: identifier.success,
          callingAeTitle: channel.association.negotiated.peerAeTitle
        })
      ).pipe(Effect.catchDefect(serviceDied("retrieve")), Effect.result),
      Effect.as(request.cancelled, undefined)
    )
    if (listed === undefined) return yield* respond(Status.CANCEL, {})
    if (Result.isFailure(listed)) return yield* respond(listed.failure.status, {}, undefined, listed.failure.comment)
    const instances = listed.success

    let completed = 0
    let failed = 0
    let warning = 0
    const failedUids: Array<string> = []
    // Why the first sub-operation failed, for the final response's Error Comment (the SCU sees no log of ours).
    let firstFailure: string | undefined
    const tally = (status: number | undefined, uid: string) => {
      const c = status === undefined ? "Failure" : Status.classify(status)
      if (c === "Success") completed++
      else if (c === "Warning") warning++
      else {
        failed++
        failedUids.push(uid)
      }
    }

    // The final status once every sub-operation has been tried (or counted failed).
    const finalStatus = () =>
      failed === 0 && warning === 0
        ? Status.SUCCESS
        : failed === instances.length && instances.length > 0
          ? Status.OUT_OF_RESOURCES_SUBOPERATIONS
          : Status.WARNING

    // A C-MOVE's sub-operations go to the destination over as many associations as their contexts need, one after
    // the other, a part (grouped by SOP class) each; a C-GET's over the requester's association, as they come.
    const parts: ReadonlyArray<ContextParts.Part<RetrievableInstance>> = isMove
      ? ContextParts.partsFor(instances, (x) => x, { fallbacks: true })
      : [{ items: instances, contexts: [] }]
    const ordered = parts.flatMap((part) => part.items)
    const total = ordered.length

    // Whether the operation stops before sub-operation `i` (of `ordered`), its final response sent: a C-CANCEL came,
    // or the server is stopping.
    const stopsAt = (i: number) =>
      Effect.gen(function* () {
        if (request.isCancelled()) {
          // Those not started are the Remaining count, not failures: the list holds only the sub-operations that
          // failed (PS3.4 C.4.2.1.4.2, C.4.3.1.3.1).
          yield* respond(Status.CANCEL, counts(total - i, completed, failed, warning), failedUids)
          return true
        }
        if (channel.isStopping()) {
          // The server is stopping: no new sub-operation; those not started count as failed, and the final
          // response says so before the association is aborted.
          const notStarted = ordered.slice(i).map((x) => x.sopInstanceUid)
          failed += notStarted.length
          failedUids.push(...notStarted)
          yield* respond(
            finalStatus(),
            counts(0, completed, failed, warning),
            failedUids,
            `the SCP is stopping: ${notStarted.length} sub-operation(s) not started`
          )
          return true
        }
        return false
      })

    // The pending response after sub-operation `i`, while some are left.
    const pendingAfter = (i: number) =>
      i < total - 1 ? respond(Status.PENDING, counts(total - i - 1, completed, failed, warning)) : Effect.void

    // Sub-operations `from` to `to` (excluded) over `target`; false when the operation stopped early.
    const runSubOps = (target: DimseChannel.DimseChannel, from: number, to: number) =>
      Effect.gen(function* () {
        for (let i = from; i < to; i++) {
          if (yield* stopsAt(i)) return false
          const inst = ordered[i]!
          const storing = Scu.store(target, {
            sopClassUid: inst.sopClassUid,
            sopInstanceUid: inst.sopInstanceUid,
            transferSyntax: inst.transferSyntax,
            dataSet: dataSetOf(inst),
            moveOriginator: { aeTitle: channel.association.negotiated.peerAeTitle, messageId: m.messageId }
          }).pipe(Effect.result)
          // A C-MOVE's destination may take its time (up to our DIMSE timeout) over a sub-operation: after a C-CANCEL
          // it gets a moment to finish, not that long, or the requester, whose cancel timeout is shorter (5 s by
          // default), aborts before our final response. A C-GET's sub-operation goes to the requester itself.
          const r = isMove
            ? yield* Effect.raceFirst(
                storing,
                Effect.andThen(request.cancelled, Effect.as(Effect.sleep(CANCELLED_SUB_OPERATION_GRACE), undefined))
              )
            : yield* storing
          if (r === undefined) {
            // Given up under way: not completed, nor remaining (it was invoked), so failed. The destination still
            // counts it outstanding, so its association is aborted, not released.
            yield* Effect.logWarning(
              `C-MOVE ${m.messageId}: cancelled while the sub-operation for ${inst.sopInstanceUid} was under way`
            )
            tally(undefined, inst.sopInstanceUid)
            yield* Effect.forkDetach(target.association.abort)
            return !(yield* stopsAt(i + 1))
          }
          if (Result.isFailure(r) && r.failure._tag === "AssociationAborted") {
            // The association the sub-operations go over is gone: every one left on it would fail the same way, with
            // a log line and a pending response each (for a study of thousands, after the requester of a C-GET
            // aborted). They fail together; a C-MOVE's next part, if any, goes over an association of its own.
            const left = to - i
            yield* Effect.logWarning(
              `${isMove ? "C-MOVE" : "C-GET"} ${m.messageId}: ${left} sub-operation(s) from ${inst.sopInstanceUid} ` +
                `not done: ${r.failure.message}`
            )
            firstFailure ??= subOperationFailure(r.failure, target)
            for (const rest of ordered.slice(i, to)) tally(undefined, rest.sopInstanceUid)
            yield* pendingAfter(to - 1)
            return true
          }
          if (Result.isFailure(r)) {
            const reason = subOperationFailure(r.failure, target)
            const before = failures.get(reason) ?? 0
            failures.set(reason, before + 1)
            const line = `sub-operation for ${inst.sopInstanceUid}: ${r.failure.message}`
            yield* before === 0 ? Effect.logWarning(line) : Effect.logDebug(line)
            firstFailure ??= reason
          } else if (Status.classify(r.success.status) === "Failure") {
            firstFailure ??= `the store SCP answered 0x${r.success.status.toString(16).padStart(4, "0")}`
          }
          tally(Result.isSuccess(r) ? r.success.status : undefined, inst.sopInstanceUid)
          yield* pendingAfter(i)
        }
        return true
      })

    const finish = Effect.suspend(() =>
      respond(
        finalStatus(),
        counts(0, completed, failed, warning),
        failedUids,
        failed > 0 && firstFailure !== undefined ? firstFailure : undefined
      )
    )

    if (!isMove) {
      if (yield* runSubOps(channel, 0, total)) yield* finish
      return
    }
    if (total === 0) return yield* respond(Status.SUCCESS, counts(0, 0, 0, 0))
    const moveDestination = (m as Dimse.CMoveRq).moveDestination
    let from = 0
    let finalSent = false
    for (const [n, part] of parts.entries()) {
      const to = from + part.items.length
      if (yield* stopsAt(from)) return
      const sent = yield* Effect.acquireUseRelease(
        Scope.make(),
        (partScope) =>
          Scope.provide(
            Effect.gen(function* () {
              // A C-CANCEL while the destination is being asked for an association (it may take our ACSE timeout to
              // answer) stops the asking: this part's instances are all still to be invoked.
              const target = yield* Effect.raceFirst(
                Scu.connect(ae, {
                  host: destination!.host,
                  port: destination!.port,
                  ...(destination!.tls === undefined ? {} : { tls: destination!.tls }),
                  calledAeTitle: moveDestination,
                  contexts: part.contexts
                }),
                Effect.as(request.cancelled, undefined)
              )
              if (target === undefined) return !(yield* stopsAt(from))
              const done = yield* runSubOps(target, from, to)
              // The final response goes before the last association is released: a destination slow to answer our
              // A-RELEASE-RQ (up to our ACSE timeout) does not hold it back.
              if (done && n === parts.length - 1) {
                yield* finish
                finalSent = true
              }
              return done
            }),
            partScope
          ),
        (partScope, exit) => {
          if (!Exit.isSuccess(exit)) return Scope.close(partScope, exit)
          // Once the final response is sent, the association's release (its A-RELEASE-RP awaited up to our ACSE
          // timeout) goes on without this handler, so that the requester's own release is not held back by it either.
          if (finalSent) return Effect.asVoid(Effect.forkDetach(Scope.close(partScope, exit)))
          // A part's association is released before the next one is opened; a C-CANCEL meanwhile is answered at once
          // (by `stopsAt`), the release going on beside it.
          return Effect.gen(function* () {
            const releasing = yield* Effect.forkDetach(Scope.close(partScope, exit))
            yield* Effect.interruptible(Effect.raceFirst(Fiber.join(releasing), request.cancelled))
          })
        }
      ).pipe(Effect.result)
      if (Result.isFailure(sent)) {
        // That part's instances fail; the next part still goes. The Error Comment holds 64 characters: the whole
        // reason goes to the log, as a partial failure's does.
        const reason = destinationFailure(moveDestination, sent.failure)
        const which = parts.length > 1 ? ` (association ${n + 1} of ${parts.length})` : ""
        const detail = reason.endsWith(sent.failure.message) ? "" : ` (${sent.failure.message})`
        yield* Effect.logWarning(
          `C-MOVE ${m.messageId}: ${part.items.length} instance(s)${which} not sent: ${reason}${detail}`
        )
        firstFailure ??= reason
        for (const x of part.items) tally(undefined, x.sopInstanceUid)
        yield* pendingAfter(to - 1)
      } else if (!sent.success) return
      from = to
    }
    if (!finalSent) yield* finish
  })

// A C-ECHO answered with the status of the user's `VerificationService`; one that dies is answered 0x0110 (as a
// storage handler's death is, `StoreHandler`), not left to the peer's DIMSE timeout.
const handleEcho = (
  verification: VerificationService["Service"],
  request: DimseChannel.IncomingRequest,
  channel: DimseChannel.DimseChannel,
  m: Dimse.CEchoRq
): Effect.Effect<void> => {
  const respond = (status: number, errorComment: string | undefined) =>
    channel
      .send(request.context, {
        _tag: "CEchoRsp",
        messageIdBeingRespondedTo: m.messageId,
        affectedSopClassUid: m.affectedSopClassUid,
        status,
        ...(errorComment ? { errorComment: Dimse.fitErrorComment(errorComment) } : {})
      })
      .pipe(Effect.ignore)
  const outcome = Effect.suspend(() =>
    verification.echo({ callingAeTitle: channel.association.negotiated.peerAeTitle })
  )
  return Effect.matchCauseEffect(outcome, {
    onFailure: (cause) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.failCause(cause)
        : Effect.andThen(
            Effect.logError("the verification service failed", cause),
            respond(Status.PROCESSING_FAILURE, "the verification service failed")
          ),
    onSuccess: (o) => respond(o.status, o.errorComment)
  })
}

// The SOP classes a C-STORE is refused for besides Verification (`Refusal`'s `hasOperation`: the Q/R and the DIMSE-N
// ones), for the handler's fast path.
const NOT_STORAGE_SOP_CLASSES: ReadonlySet<string> = new Set([...ALL_QR_SOP_CLASSES, ...NORMALIZED_SOP_CLASSES])

/**
 * The request handler of an SCP offering the given services. A request whose SOP class is not its presentation
 * context's, or on a context where we are not the SCP, is answered with a failure (0x0122, 0x0124) and not served.
 */
export const requestHandler = (ae: ApplicationEntity, services: Services): DimseChannel.RequestHandler => {
  const store = Option.isSome(services.storage)
    ? storeRequestHandler(services.storage.value.store)
    : storeRequestHandler(() =>
        Effect.succeed({ status: Status.SOP_CLASS_NOT_SUPPORTED, errorComment: "no StorageService on this SCP" })
      )
  const nHandler = Normalized.requestHandler(
    services.normalized !== undefined && Option.isSome(services.normalized)
      ? services.normalized.value.handlersFor
      : () => undefined
  )
  const serving = services.serving
  const normalized: DimseChannel.RequestHandler =
    serving === undefined
      ? nHandler
      : (request, channel) => Effect.provideService(nHandler(request, channel), Normalized.ServingScope, serving)
  const verification = Option.getOrUndefined(services.verification ?? Option.none())
  return (request, channel) => {
    const m = request.message
    // A C-STORE that `refusalOf` lets through (its context's own SOP class, not Verification's, a Q/R or DIMSE-N one,
    // where we are the SCP) written out: every instance received comes here.
    const context = request.context
    if (
      m._tag === "CStoreRq" &&
      m.affectedSopClassUid === context.abstractSyntax &&
      context.weAreScp &&
      m.affectedSopClassUid !== VERIFICATION &&
      !NOT_STORAGE_SOP_CLASSES.has(m.affectedSopClassUid)
    ) {
      return store(request, channel)
    }
    if (isServiceRequest(m)) {
      const refusal = refusalOf(m, request.context)
      if (refusal !== undefined) return refuse(request, channel, m, refusal)
    }
    switch (m._tag) {
      case "CEchoRq": {
        if (verification !== undefined) return handleEcho(verification, request, channel, m)
        // Answered as the handler is called, written at once when nothing else is being sent: then its effect is a
        // success already, and the channel runs no fiber for it.
        const rest = channel.sendNow(request.context, {
          _tag: "CEchoRsp",
          messageIdBeingRespondedTo: m.messageId,
          affectedSopClassUid: m.affectedSopClassUid,
          status: Status.SUCCESS
        })
        return rest === undefined ? Exit.void : Effect.ignore(rest)
      }
      case "CStoreRq":
        return store(request, channel)
      case "CFindRq":
        return handleFind(services, request, channel)
      case "CGetRq":
      case "CMoveRq":
        return handleRetrieve(ae, services, request, channel)
      default:
        // The DIMSE-N requests here, after the DIMSE-C ones: no call of their own on a C-STORE's path.
        if (Dimse.isNRequest(m)) return normalized(request, channel)
        return Effect.andThen(
          Stream.runDrain(request.dataSet).pipe(Effect.ignore),
          Effect.logWarning(`${Dimse.commandName(m)} is not handled by this SCP`)
        )
    }
  }
}

/** Serving options: where to listen, the limits and the acceptor policy (see `Server.ServeOptions`). */
export interface ScpOptions {
  readonly host?: string
  readonly port: number
  readonly maxAssociations?: number
  readonly maxPendingConnections?: number
  readonly maxPendingBytes?: number
  /** The acceptor policy; without it, the `AcceptorPolicyService` in context, else `defaultPolicy(ae)`. */
  readonly policy?: AcceptorPolicy
  /** Serve over TLS (see `Server.ServeOptions.tls`). */
  readonly tls?: Tls.ServerOptions | undefined
}

// The services an AE's contexts call for that are not in context: each is logged once as the server starts (their
// requests are answered 0x0122 with a comment naming the missing service).
const missingServices = (ae: ApplicationEntity, services: Services): ReadonlyArray<string> => {
  let storage = false
  let query = false
  let retrieve = false
  let normalized = false
  for (const c of ae.contexts) {
    if (c.abstractSyntax === VERIFICATION) continue
    // A DIMSE-N SOP class is served in either role (an SCU of Storage Commitment takes its N-EVENT-REPORTs).
    if (Normalized.isNormalizedSopClass(c.abstractSyntax)) normalized = true
    if (c.scp === false) continue
    const qr = modelOf(c.abstractSyntax)
    if (qr === undefined) storage ||= !Normalized.isNormalizedSopClass(c.abstractSyntax)
    else if (qr.op === "find") query = true
    else retrieve = true
  }
  const missing: Array<string> = []
  if (normalized && (services.normalized === undefined || Option.isNone(services.normalized))) {
    missing.push("NormalizedService (DIMSE-N)")
  }
  if (storage && Option.isNone(services.storage)) missing.push("StorageService (C-STORE)")
  if (query && Option.isNone(services.query)) missing.push("QueryService (C-FIND)")
  if (retrieve && Option.isNone(services.retrieve)) missing.push("RetrieveService (C-GET, C-MOVE)")
  return missing
}

/**
 * Serves Verification (answered by the `VerificationService` in context, else Success) and whichever of Storage,
 * Query, Retrieve and Normalized (DIMSE-N) services are in context, in the current scope. Each association gets its
 * own DIMSE channel.
 */
export const serve = (
  ae: ApplicationEntity,
  options: ScpOptions
): Effect.Effect<Server.Server, ListenFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const services: Services = {
      normalized: yield* Effect.serviceOption(Normalized.NormalizedService),
      verification: yield* Effect.serviceOption(VerificationService),
      storage: yield* Effect.serviceOption(StorageService),
      query: yield* Effect.serviceOption(QueryService),
      retrieve: yield* Effect.serviceOption(RetrieveService),
      destinations: yield* Effect.serviceOption(MoveDestinations),
      serving: yield* Effect.scope
    }
    const handler = requestHandler(ae, services)
    for (const name of missingServices(ae, services)) {
      yield* Effect.logWarning(
        `the AE accepts SOP classes of a service not provided: no ${name} in context, ` +
          `so such requests are answered 0x0122 (SOP Class not supported)`
      )
    }
    return yield* Server.serve(ae, {
      port: options.port,
      ...(options.host !== undefined ? { host: options.host } : {}),
      ...(options.maxAssociations !== undefined ? { maxAssociations: options.maxAssociations } : {}),
      ...(options.maxPendingConnections !== undefined ? { maxPendingConnections: options.maxPendingConnections } : {}),
      ...(options.maxPendingBytes !== undefined ? { maxPendingBytes: options.maxPendingBytes } : {}),
      ...(options.policy !== undefined ? { policy: options.policy } : {}),
      ...(options.tls !== undefined ? { tls: options.tls } : {}),
      // The channel ends with the association (not the connection's close), without a scope of its own.
      handler: (association) => ChannelOpen.serveUntilEnded(association, handler)
    })
  })
