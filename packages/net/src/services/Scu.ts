/**
 * The SCU side of the DIMSE-C services (PS3.7 section 9.1; PS3.4 Annexes A, B, C):
 * C-ECHO, C-STORE, C-FIND, C-GET and C-MOVE over a `DimseChannel`.
 *
 * Each call picks the accepted presentation context for its SOP class (a typed
 * `NoAcceptedContext` when there is none; a C-STORE whose own native transfer syntax was not accepted goes
 * re-encoded on a context accepted with another native one), returns statuses as data, and fails only when the
 * exchange itself fails. C-FIND, C-GET and C-MOVE return Streams of pending responses ending
 * with the final one; stopping the Stream early sends C-CANCEL and waits for the final response, within
 * `timeouts.cancel` of the Application Entity (5 s by default), after which the association is aborted. A
 * `cancelWhen` effect sends the C-CANCEL when it completes and lets the Stream go on to the final response
 * (0xFE00 with its counts), within the same timeout.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as LogLevel from "effect/LogLevel"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Dimse, Identifiers, Status, Transcoder } from "@netdicom/wire"
import * as Association from "../association/Association.ts"
import { type ApplicationEntity, IMPLICIT_VR_LITTLE_ENDIAN } from "../association/ApplicationEntity.ts"
import type { AssociationError } from "../association/AssociationError.ts"
import type { NegotiationError } from "../association/Negotiation.ts"
import * as DataSet from "../dimse/DataSet.ts"
import * as DataSetCheck from "../dimse/DataSetCheck.ts"
import type { DataSetError } from "../dimse/DataSetError.ts"
import * as DimseChannel from "../dimse/DimseChannel.ts"
import { DimseProtocolError, type DimseFailure } from "../dimse/DimseError.ts"
import * as Part10 from "../dimse/Part10.ts"
import * as Transcode from "../dimse/Transcode.ts"
import type { AcceptedContext } from "../association/Negotiated.ts"
import { SOP_CLASSES, VERIFICATION, type Model } from "./QueryRetrieve.ts"
import * as Normalized from "./Normalized.ts"
import { notServed } from "./Refusal.ts"
import { storeRequestHandler, type StorageHandler } from "./StoreHandler.ts"

/** A final or intermediate status, with what the standard says it means. */
export interface StatusInfo {
  readonly status: number
  readonly category: Status.Category
  readonly meaning: string
  readonly errorComment: string | undefined
}

const info = (message: Dimse.Message, service: Status.Service): StatusInfo => {
  const status = "status" in message ? message.status : Status.SUCCESS
  return {
    status,
    category: Status.classify(status),
    meaning: Status.describe(status, service),
    errorComment: "errorComment" in message ? message.errorComment : undefined
  }
}

const logsDebug = (level: LogLevel.LogLevel): boolean => level === "Debug" || level === "Trace" || level === "All"

/**
 * Logs the identifier of a C-FIND, C-GET or C-MOVE at Debug (`DataSet.summary`, built only when Debug is on): what was
 * asked, as DCMTK's and pynetdicom's debug logs show it. The SCU logs what it sends, the SCP what it received.
 */
export const logIdentifier = (identifier: DataSet.Naturalized): Effect.Effect<void> =>
  Effect.withFiber((fiber) =>
    logsDebug(fiber.cache.minimumLogLevel) ? Effect.logDebug(`identifier: ${DataSet.summary(identifier)}`) : Effect.void
  )

/** C-ECHO: verifies the peer answers (PS3.4 Annex A). */
export const echo = (channel: DimseChannel.DimseChannel): Effect.Effect<StatusInfo, DimseFailure> =>
  // As `store`: no generator, the request begun within this step, its status made as the response is delivered, and
  // the log span only where a line inside it can be printed (a C-ECHO logs at Debug only).
  Effect.withFiber((fiber) => {
    const context = channel.findContext(VERIFICATION, "SCU")
    if (context._tag === "Failure") return Effect.fail(context.failure)
    const rq: Dimse.CEchoRq = { _tag: "CEchoRq", messageId: channel.takeMessageId(), affectedSopClassUid: VERIFICATION }
    const answered = channel.requestOneNow(context.success, rq, undefined, (rsp) => info(rsp.message, "C-ECHO"))
    return logsDebug(fiber.cache.minimumLogLevel) ? Effect.withLogSpan(answered, "C-ECHO") : answered
  })

/** What to store: the SOP identifiers, the data set's transfer syntax, and its bytes or a stream of them. */
export interface StoreInput {
  readonly sopClassUid: string
  readonly sopInstanceUid: string
  readonly transferSyntax: string
  readonly dataSet: DimseChannel.DataSource
  readonly priority?: Dimse.Priority
  readonly moveOriginator?: { readonly aeTitle: string; readonly messageId: number }
  /**
   * When no accepted context has the data set's own transfer syntax, but one has another native (uncompressed) one
   * and the data set is native too, send it re-encoded on that context (`Transcode`). Default true.
   */
  readonly transcode?: boolean
}

// The accepted context a native data set in `transferSyntax` can be re-encoded for, Explicit VR Little Endian first.
const transcodeContext = (channel: DimseChannel.DimseChannel, sopClassUid: string, transferSyntax: string) => {
  if (!Transcoder.isNative(transferSyntax)) return undefined
  for (const ts of Transcoder.NATIVE_TRANSFER_SYNTAXES) {
    const found = channel.findContext(sopClassUid, "SCU", [ts])
    if (Result.isSuccess(found)) return found.success
  }
  return undefined
}

// Whether the peer refused a context of `sopClassUid` with "transfer syntaxes not supported" (PS3.8 Table 9-18).
const refusedForSyntax = (channel: DimseChannel.DimseChannel, sopClassUid: string): boolean =>
  channel.association.negotiated.rejected.some((c) => c.abstractSyntax === sopClassUid && c.result === 4)

/**
 * C-STORE: sends a data set as it is, in its own transfer syntax (PS3.4 Annex B), or re-encoded into another native
 * one the peer accepted when it accepted none with its own (see `StoreInput.transcode`).
 */
export const store = (
  channel: DimseChannel.DimseChannel,
  input: StoreInput
): Effect.Effect<StatusInfo & { readonly sopInstanceUid: string }, DimseFailure> =>
  Effect.withFiber((fiber) => beginStore(logsDebug(fiber.cache.minimumLogLevel), channel, input))

/**
 * `store` begun now, for a caller already running in an effect (a generator's body, `Effect.suspend`): a data set in
 * bytes is sent as this is called when the window has a free slot, and the effect returned waits for the response
 * (a streamed data set, or one waiting for a slot, is sent once that effect runs). Begun several times before the
 * first is awaited, bytes go out as fast as the negotiated Asynchronous Operations Window allows with no fiber per
 * C-STORE; await the effects in any order. An effect never run holds no window slot unless its request was sent; one
 * run twice sends its request once, and each run gets the response. At Debug, where its log lines need a fiber, it
 * runs in one of its own, started now. Called outside a running effect, it is `store`.
 */
export const storeNow = (
  channel: DimseChannel.DimseChannel,
  input: StoreInput
): Effect.Effect<StatusInfo & { readonly sopInstanceUid: string }, DimseFailure> => {
  const fiber = Fiber.getCurrent()
  if (fiber === undefined) return store(channel, input)
  // `logsDebug` written out, the level read from the fiber's context cache (`getRef` is a look-up of four calls):
  // this is every C-STORE's path.
  const level = fiber.cache.minimumLogLevel
  if (level !== "Debug" && level !== "Trace" && level !== "All") return beginStore(false, channel, input)
  // Runs until it waits for the response (its "send" line logged, its request written); interrupting the wait
  // interrupts it.
  const running = Effect.runForkWith(fiber.context)(store(channel, input))
  return Effect.onInterrupt(Fiber.join(running), () => Fiber.interrupt(running))
}

// `store`'s work, begun by the fiber it runs in; `debug`: whether that fiber logs at Debug (then its log span is set).
// Without a generator: this is every C-STORE's path.
const beginStore = (
  debug: boolean,
  channel: DimseChannel.DimseChannel,
  input: StoreInput
): Effect.Effect<StatusInfo & { readonly sopInstanceUid: string }, DimseFailure> => {
  const context = channel.findContext(input.sopClassUid, "SCU", [input.transferSyntax])
  if (context._tag === "Failure") {
    const other =
      input.transcode === false ? undefined : transcodeContext(channel, input.sopClassUid, input.transferSyntax)
    if (other === undefined) {
      // No context for the SOP class at all is said so, the transfer syntax not being what was refused, unless the
      // peer refused a context of that class for its transfer syntaxes (result 4: it takes the class, not in those).
      const anyContext = channel.findContext(input.sopClassUid, "SCU")
      return Effect.fail(
        Result.isFailure(anyContext) && !refusedForSyntax(channel, input.sopClassUid)
          ? anyContext.failure
          : context.failure
      )
    }
    return Effect.logDebug(
      `C-STORE of ${input.sopInstanceUid}: re-encoded from ${input.transferSyntax} to ${other.transferSyntax}, ` +
        `the transfer syntax of accepted context ${other.id}`
    ).pipe(
      Effect.andThen(Transcode.transcode(input.dataSet, input.transferSyntax, other.transferSyntax)),
      Effect.flatMap((dataSet) => storeOn(channel, other, { ...input, dataSet })),
      Effect.withLogSpan("C-STORE")
    )
  }
  const answered = storeOn(channel, context.success, input)
  // The span only where a line inside it can be printed: a C-STORE of bytes logs at Debug only (a data set streamed
  // from the caller's own source may log at any level). Cold, the span was ~40 runtime calls of each C-STORE's ~340.
  return input.dataSet instanceof Uint8Array && !debug ? answered : Effect.withLogSpan(answered, "C-STORE")
}

const storeOn = (
  channel: DimseChannel.DimseChannel,
  context: AcceptedContext,
  input: StoreInput
): Effect.Effect<StatusInfo & { readonly sopInstanceUid: string }, DimseFailure> => {
  // Taken and sent now (within the caller's step), not as Effects of their own.
  const messageId = channel.takeMessageId()
  const priority = input.priority ?? Dimse.PRIORITY_MEDIUM
  const origin = input.moveOriginator
  const rq: Dimse.CStoreRq =
    origin === undefined
      ? {
          _tag: "CStoreRq",
          messageId,
          affectedSopClassUid: input.sopClassUid,
          affectedSopInstanceUid: input.sopInstanceUid,
          priority
        }
      : {
          _tag: "CStoreRq",
          messageId,
          affectedSopClassUid: input.sopClassUid,
          affectedSopInstanceUid: input.sopInstanceUid,
          priority,
          moveOriginatorApplicationEntityTitle: origin.aeTitle,
          moveOriginatorMessageId: origin.messageId
        }
  // The status made as the response is delivered: no Effect step of its own.
  return channel.requestOneNow(context, rq, input.dataSet, (rsp) => storeInfo(rsp.message, input.sopInstanceUid))
}

// `info` of a C-STORE response, with the instance it answers.
const storeInfo = (
  message: Dimse.Message,
  sopInstanceUid: string
): StatusInfo & { readonly sopInstanceUid: string } => {
  const status = "status" in message ? message.status : Status.SUCCESS
  return {
    status,
    category: Status.classify(status),
    meaning: Status.describe(status, "C-STORE"),
    errorComment: "errorComment" in message ? message.errorComment : undefined,
    sopInstanceUid
  }
}

/** A file that cannot be sent: unreadable, not DICOM, or without the identifiers a C-STORE needs. */
export class FileNotSendable extends Data.TaggedError("FileNotSendable")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    // a reason that names the file already ("cannot read x.dcm: ...") is not prefixed with it again
    return this.reason.includes(this.path) ? this.reason : `${this.path}: ${this.reason}`
  }
}

/** Options of `storeFile` and `storeFiles`. */
export interface FileOptions {
  /**
   * Send a bare data set without File Meta Information, its transfer syntax guessed from its first element, as
   * DCMTK's storescu does (`Part10.readSendableMeta`); default true. With false such a file is `FileNotSendable`
   * (no File Meta Information), as storescu's `--read-file-only` makes it.
   */
  readonly sniff?: boolean
  /**
   * Re-encode a native file for a peer that accepted its SOP class only in another native transfer syntax, as
   * `StoreInput.transcode`; default true. With false the file goes as its bytes are, or fails `NoAcceptedContext`
   * (a gateway that must forward what it received unchanged).
   */
  readonly transcode?: boolean
}

/**
 * What a file holds, read from its meta header: enough to propose a context and send it. A bare data set without
 * File Meta Information gets its transfer syntax guessed from its first element, as DCMTK's storescu does
 * (`Part10.readSendableMeta`), and `sniffed` set: refuse it yourself if you want only Part 10 files.
 */
export const describeFile = (path: string): Effect.Effect<Part10.FileMeta, FileNotSendable> => described(path)

const described = (path: string, options?: FileOptions): Effect.Effect<Part10.FileMeta, FileNotSendable> =>
  (options?.sniff === false ? Part10.readFileMeta(path) : Part10.readSendableMeta(path)).pipe(
    Effect.mapError((e) => new FileNotSendable({ path, reason: e.message }))
  )

/**
 * C-STORE of a Part 10 file, read from disk without decoding (small ones whole, large ones streamed): the meta
 * header stripped, the data set sent as is.
 */
export const storeFile = (
  channel: DimseChannel.DimseChannel,
  path: string,
  options?: FileOptions
): Effect.Effect<StatusInfo & { readonly sopInstanceUid: string }, DimseFailure | FileNotSendable> =>
  Effect.gen(function* () {
    const meta = yield* described(path, options)
    return yield* storeDescribedFile(channel, path, meta, options)
  })

/**
 * C-STORE of a Part 10 file whose meta header was read already (by `describeFile`, to choose the
 * presentation contexts): a small data set is read in one piece and sent in one write, a large one streamed.
 */
export const storeDescribedFile = (
  channel: DimseChannel.DimseChannel,
  path: string,
  meta: Part10.FileMeta,
  options?: { readonly transcode?: boolean }
): Effect.Effect<StatusInfo & { readonly sopInstanceUid: string }, DimseFailure | FileNotSendable> =>
  Effect.flatMap(loadChecked(path, meta), (loaded) => storeLoaded(channel, meta, loaded, options))

/**
 * A file's data set loaded for a C-STORE, once its structure is seen whole (`DataSetCheck`): a truncated file is
 * `FileNotSendable` here, not a data set the peer aborts on or never answers, taking the files after it down too.
 */
const loadChecked = (
  path: string,
  meta: Part10.FileMeta
): Effect.Effect<Uint8Array | Stream.Stream<Uint8Array, Part10.FileReadFailed>, FileNotSendable> =>
  Effect.flatMap(
    Effect.mapError(Part10.loadDataSet(path, meta), (e) => new FileNotSendable({ path, reason: e.message })),
    (loaded): Effect.Effect<Uint8Array | Stream.Stream<Uint8Array, Part10.FileReadFailed>, FileNotSendable> => {
      if (loaded instanceof Uint8Array) {
        const whole = DataSetCheck.checkBytes(loaded, meta.transferSyntaxUid)
        return Result.isSuccess(whole)
          ? Effect.succeed(loaded)
          : Effect.fail(new FileNotSendable({ path, reason: whole.failure.message }))
      }
      return DataSetCheck.check(path, meta.dataSetOffset, meta.transferSyntaxUid).pipe(
        Effect.mapError((e) => new FileNotSendable({ path, reason: e.message })),
        Effect.as(loaded)
      )
    }
  )

/**
 * C-STORE of a file's data set already loaded by `Part10.loadDataSet` or `Part10.readAhead` (bytes, or
 * a stream for a large file), with the SOP identifiers and transfer syntax from its meta header.
 */
export const storeLoaded = (
  channel: DimseChannel.DimseChannel,
  meta: Part10.FileMeta,
  loaded: Uint8Array | Stream.Stream<Uint8Array, Part10.FileReadFailed>,
  options?: { readonly transcode?: boolean }
): Effect.Effect<StatusInfo & { readonly sopInstanceUid: string }, DimseFailure> =>
  store(channel, loadedInput(meta, loaded, options))

/** `storeLoaded` begun now, as `storeNow`: several begun before the first is awaited fill the window. */
export const storeLoadedNow = (
  channel: DimseChannel.DimseChannel,
  meta: Part10.FileMeta,
  loaded: Uint8Array | Stream.Stream<Uint8Array, Part10.FileReadFailed>,
  options?: { readonly transcode?: boolean }
): Effect.Effect<StatusInfo & { readonly sopInstanceUid: string }, DimseFailure> =>
  storeNow(channel, loadedInput(meta, loaded, options))

const loadedInput = (
  meta: Part10.FileMeta,
  loaded: Uint8Array | Stream.Stream<Uint8Array, Part10.FileReadFailed>,
  options: { readonly transcode?: boolean } | undefined
): StoreInput =>
  options?.transcode === false
    ? {
        sopClassUid: meta.sopClassUid,
        sopInstanceUid: meta.sopInstanceUid,
        transferSyntax: meta.transferSyntaxUid,
        dataSet: Part10.asDataSource(loaded),
        transcode: false
      }
    : {
        sopClassUid: meta.sopClassUid,
        sopInstanceUid: meta.sopInstanceUid,
        transferSyntax: meta.transferSyntaxUid,
        dataSet: Part10.asDataSource(loaded)
      }

/**
 * C-STORE of many files on one association, as many outstanding at once as the negotiated
 * Asynchronous Operations Window allows (one at a time without one). Each file gets its own
 * result: a failure of one file never stops the others, unless the association itself is gone.
 */
export const storeFiles = (
  channel: DimseChannel.DimseChannel,
  paths: ReadonlyArray<string>,
  options?: FileOptions
): Effect.Effect<
  ReadonlyArray<{ readonly path: string; readonly result: Result.Result<StatusInfo, DimseFailure | FileNotSendable> }>
> => {
  const window = channel.association.negotiated.maxOperationsInvoked
  if (window !== 1) {
    return Effect.forEach(
      paths,
      (path) => Effect.map(Effect.result(storeFile(channel, path, options)), (result) => ({ path, result })),
      { concurrency: window === 0 ? 16 : window }
    )
  }
  // One at a time: the next file is described and read while this one is sent and answered.
  const prepare = (path: string) =>
    Effect.flatMap(described(path, options), (meta) =>
      Effect.map(loadChecked(path, meta), (loaded) => ({ meta, loaded }))
    )
  return Effect.scoped(
    Effect.gen(function* () {
      const out: Array<{ path: string; result: Result.Result<StatusInfo, DimseFailure | FileNotSendable> }> = []
      let next = paths.length > 0 ? yield* Effect.forkScoped(prepare(paths[0]!)) : undefined
      for (const [i, path] of paths.entries()) {
        const prepared = yield* Effect.result(Fiber.join(next!))
        next = i + 1 < paths.length ? yield* Effect.forkScoped(prepare(paths[i + 1]!)) : undefined
        const result = Result.isFailure(prepared)
          ? Result.fail(prepared.failure)
          : yield* Effect.result(storeLoaded(channel, prepared.success.meta, prepared.success.loaded, options))
        out.push({ path, result })
      }
      return out
    })
  )
}

/** One C-FIND response: pending ones carry a matching identifier. */
export interface FindResponse extends StatusInfo {
  readonly identifier: DataSet.Naturalized | undefined
}

const identifierBytes = (channel: DimseChannel.DimseChannel, sopClassUid: string, identifier: DataSet.Naturalized) =>
  Effect.gen(function* () {
    const context = yield* Effect.fromResult(channel.findContext(sopClassUid, "SCU"))
    const bytes = DataSet.encode(identifier, context.transferSyntax)
    // Ours, not the peer's: nothing was sent and the association goes on.
    if (Result.isFailure(bytes)) return yield* Effect.fail(bytes.failure)
    yield* logIdentifier(identifier)
    return { context, bytes: bytes.success }
  })

// A C-FIND, C-GET or C-MOVE: cancelled when its stream is stopped early, or once `cancelWhen` completes.
const requestOptions = (
  dataSet: Uint8Array,
  cancelWhen: Effect.Effect<void> | undefined,
  progress?: () => number
): DimseChannel.RequestOptions => ({
  dataSet,
  cancel: true,
  ...(cancelWhen === undefined ? {} : { cancelWhen }),
  ...(progress === undefined ? {} : { progress })
})

/** C-FIND: the matches as a Stream, ending with the final status (PS3.4 C.4.1). */
export const find = (
  channel: DimseChannel.DimseChannel,
  query: {
    readonly model: Model
    readonly identifier: DataSet.Naturalized
    readonly priority?: Dimse.Priority
    /** Cancels the query (C-CANCEL) once this completes; the stream still ends with the final response. */
    readonly cancelWhen?: Effect.Effect<void>
  }
): Stream.Stream<FindResponse, DimseFailure | DataSetError> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const sopClassUid = SOP_CLASSES[query.model].find
      const { context, bytes } = yield* identifierBytes(channel, sopClassUid, query.identifier)
      const messageId = yield* channel.nextMessageId
      const rq: Dimse.CFindRq = {
        _tag: "CFindRq",
        messageId,
        affectedSopClassUid: sopClassUid,
        priority: query.priority ?? Dimse.PRIORITY_MEDIUM
      }
      return channel.request(context, rq, requestOptions(bytes, query.cancelWhen)).pipe(
        Stream.mapEffect((r): Effect.Effect<FindResponse, DimseProtocolError> => {
          if (r.dataSet === undefined) return Effect.succeed({ ...info(r.message, "C-FIND"), identifier: undefined })
          // text in a character set that cannot be decoded is read as Latin-1 with a warning, not an abort (as
          // DCMTK and pynetdicom do): one odd match does not cut off the listing
          const decoded = DataSet.decodeWithWarnings(r.dataSet, context.transferSyntax, {
            maxInflatedLength: DimseChannel.MAX_INFLATED_IDENTIFIER_BYTES,
            maxElements: DimseChannel.MAX_IDENTIFIER_ELEMENTS
          })
          if (Result.isFailure(decoded)) {
            return Effect.fail(new DimseProtocolError({ detail: `C-FIND-RSP identifier: ${decoded.failure.message}` }))
          }
          const response = { ...info(r.message, "C-FIND"), identifier: decoded.success.dataset }
          return decoded.success.warnings.length === 0
            ? Effect.succeed(response)
            : Effect.as(
                Effect.forEach(decoded.success.warnings, (w) => Effect.logWarning(`C-FIND-RSP identifier: ${w}`)),
                response
              )
        })
      )
    })
  )

/** Progress of a C-GET or C-MOVE: sub-operation counts, and on the final response the failed UIDs. */
export interface RetrieveProgress extends StatusInfo {
  readonly remaining: number | undefined
  readonly completed: number | undefined
  readonly failed: number | undefined
  readonly warning: number | undefined
  readonly failedSopInstanceUids: ReadonlyArray<string>
}

const progressOf = (r: DimseChannel.Response, ts: string, service: Status.Service): RetrieveProgress => {
  const m = r.message as Dimse.CGetRsp | Dimse.CMoveRsp
  let failedSopInstanceUids: ReadonlyArray<string> = []
  // the list comes in the data set, or, from a DCMTK-based peer (Orthanc 1.10), in the command set's status detail
  const detail = r.dataSet ?? r.statusDetail
  if (detail) {
    const ds = DataSet.decodeWithWarnings(detail, r.dataSet ? ts : IMPLICIT_VR_LITTLE_ENDIAN, {
      maxInflatedLength: DimseChannel.MAX_INFLATED_IDENTIFIER_BYTES,
      maxElements: DimseChannel.MAX_IDENTIFIER_ELEMENTS
    })
    const list = Result.isSuccess(ds) ? ds.success.dataset["FailedSOPInstanceUIDList"] : undefined
    if (typeof list === "string") failedSopInstanceUids = list.split("\\").filter((s) => s.length > 0)
    else if (Array.isArray(list)) failedSopInstanceUids = list.map(String)
  }
  return {
    ...info(r.message, service),
    remaining: m.numberOfRemainingSuboperations,
    completed: m.numberOfCompletedSuboperations,
    failed: m.numberOfFailedSuboperations,
    warning: m.numberOfWarningSuboperations,
    failedSopInstanceUids
  }
}

interface RetrieveQuery {
  readonly model: Exclude<Model, "worklist">
  readonly identifier: DataSet.Naturalized
  readonly priority?: Dimse.Priority
  /** Cancels the retrieve (C-CANCEL) once this completes; the stream still ends with the final response. */
  readonly cancelWhen?: Effect.Effect<void>
}

/** A C-MOVE's query: its destination, and what shows its sub-operations' progress when the destination is ours. */
export interface MoveQuery extends RetrieveQuery {
  readonly destination: string
  /**
   * A count that grows as sub-operations arrive at the destination, when it is a storage SCP of the caller's (C-STOREs
   * begun and ended there, say): while it changes, the wait for the next C-MOVE-RSP restarts at the DIMSE timeout,
   * so a peer sending no Pending responses (PS3.4 C.4.2.3) may take longer than that as long as its sub-operations go
   * on. Without it the whole move between two responses is bound by the DIMSE timeout.
   */
  readonly progress?: () => number
}

// C-GET and C-MOVE differ only in their SOP class and command; the exchange is the same.
const retrieve = (
  channel: DimseChannel.DimseChannel,
  op: "get" | "move",
  query: RetrieveQuery & { readonly progress?: () => number },
  destination: string
): Stream.Stream<RetrieveProgress, DimseFailure | DataSetError> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const sopClassUid = SOP_CLASSES[query.model][op]
      const { context, bytes } = yield* identifierBytes(channel, sopClassUid, query.identifier)
      const messageId = yield* channel.nextMessageId
      const priority = query.priority ?? Dimse.PRIORITY_MEDIUM
      const rq: Dimse.CGetRq | Dimse.CMoveRq =
        op === "get"
          ? { _tag: "CGetRq", messageId, affectedSopClassUid: sopClassUid, priority }
          : { _tag: "CMoveRq", messageId, affectedSopClassUid: sopClassUid, priority, moveDestination: destination }
      const service = op === "get" ? "C-GET" : "C-MOVE"
      return channel
        .request(context, rq, requestOptions(bytes, query.cancelWhen, query.progress))
        .pipe(Stream.map((r) => progressOf(r, context.transferSyntax, service)))
    })
  )

/**
 * C-MOVE: asks the peer to send matches to `destination` (an AE title it knows) (PS3.4 C.4.2). A destination that
 * cannot be an AE title (empty or only spaces, over 16 characters, a backslash or control character) fails with
 * `InvalidIdentifier` before anything is sent; the association goes on.
 */
export const move = (
  channel: DimseChannel.DimseChannel,
  query: MoveQuery
): Stream.Stream<RetrieveProgress, DimseFailure | DataSetError | Identifiers.InvalidIdentifier> =>
  Stream.unwrap(
    Effect.map(Effect.fromResult(Identifiers.aeTitle(query.destination)), (destination) =>
      retrieve(channel, "move", query, destination)
    )
  )

/**
 * C-GET: the peer sends matches back over this association as C-STORE sub-operations, which the
 * storage handler given to `connect` receives (PS3.4 C.4.3). Propose the storage SOP classes with
 * an SCP role (`roles`) when connecting.
 */
export const get = (
  channel: DimseChannel.DimseChannel,
  query: RetrieveQuery
): Stream.Stream<RetrieveProgress, DimseFailure | DataSetError> => retrieve(channel, "get", query, "")

// The requests of a peer to an SCU that takes no C-STOREs: all refused.
const servesNothing = notServed("this SCU serves no requests")

/** Options of `connect`: the association's, and the requests this SCU takes from its peer. */
export interface ConnectOptions extends Association.ConnectOptions {
  /** Receives the C-STORE sub-operations of a C-GET. */
  readonly onStore?: StorageHandler
  /**
   * Receives the N-EVENT-REPORTs the peer sends as the SCP of a SOP class we are the SCU of (a Storage Commitment
   * SCP's result on the association of its N-ACTION, PS3.4 J.3.3).
   */
  readonly onEventReport?: Normalized.NHandler
}

/**
 * Opens an association and DIMSE on it, in the current scope (released when the scope
 * succeeds, aborted otherwise). `onStore` receives C-STORE sub-operations of a C-GET, `onEventReport` the peer's
 * N-EVENT-REPORTs. Any other request the peer sends (a C-ECHO-RQ, say, or a C-STORE-RQ when no `onStore` is given)
 * is refused with a failure response (0x0122, or 0x0124 on a context where we are not the SCP: `Refusal`), logged at
 * Warn. Left with no PDU for `timeouts.idle` while nothing is outstanding (no request awaiting its response, no data
 * set being sent or received, no handler running), the association is released rather than aborted (an A-RELEASE-RQ;
 * an A-ABORT if no A-RELEASE-RP comes within `timeouts.acse`): every call on the channel from then fails at once with
 * `AssociationAborted` (by "provider", detail "association released (idle for ...)"), the error any call on a
 * released association gets, nothing sent; open a new association for more. With something outstanding, the idle
 * timeout aborts.
 */
export const connect = (
  ae: ApplicationEntity,
  options: ConnectOptions
): Effect.Effect<DimseChannel.DimseChannel, AssociationError | NegotiationError, Scope.Scope> =>
  Effect.flatMap(Association.connect(ae, options), (association) => {
    const served = options.onStore ? storeRequestHandler(options.onStore) : servesNothing
    const onEventReport = options.onEventReport
    if (onEventReport === undefined) return DimseChannel.make(association, served)
    const reports = Normalized.requestHandler(() => ({ nEventReport: onEventReport }))
    return DimseChannel.make(association, (request, channel) =>
      request.message._tag === "NEventReportRq" ? reports(request, channel) : served(request, channel)
    )
  })

/** The DIMSE-N calls (`Normalized`), as an SCU makes them. */
export { nAction, nCreate, nDelete, nEventReport, nGet, nSet, type NResponse } from "./Normalized.ts"
