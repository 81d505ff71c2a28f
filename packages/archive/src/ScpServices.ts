/**
 * The archive behind `@netdicom/net`'s SCP: Layers providing `Scp.StorageService` (PS3.4 Annex B, Storage SCP
 * at Level 2: every attribute kept), `Scp.QueryService` (C.4.1 C-FIND) and `Scp.RetrieveService` (C.4.2 C-MOVE,
 * C.4.3 C-GET) on the `Archive` in context.
 *
 * Storage writes a File Meta Information (PS3.10 7.1, with our Implementation Class UID and the calling AE as
 * Source AE Title) followed by the data set exactly as it arrives, streamed through `Archive.store`, which writes
 * it atomically and fsyncs before indexing. The C-STORE is answered 0000 only once that is done; a failure is
 * answered with the error's status (A700 out of resources for I/O and index failures, C000 cannot understand for
 * bytes that do not parse or whose UIDs contradict the request) and its reason as the Error Comment. Queries map
 * archive errors to A900 and C000. Retrieve streams each file from disk after its meta header, never decoded.
 * `plainStorageLayer` stores the same way into a `PlainStore` (no index, no query: `netdicom storescp`).
 *
 * Leaves out: the Modality Worklist model (answered C000), and transcoding: an instance is sent in the transfer
 * syntax it was stored in.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { ApplicationEntity, DimseError, Part10, ReceivedBytes, Scp } from "@netdicom/net"
import type { QueryRetrieve, StoreHandler } from "@netdicom/net"
import { Text } from "@netdicom/wire"
import { Archive } from "./Archive.ts"
import { STATUS_OUT_OF_RESOURCES, STATUS_UNABLE_TO_PROCESS } from "./ArchiveError.ts"
import type { ArchiveError } from "./ArchiveError.ts"
import type { RetrieveItem } from "./ArchiveIndex.ts"
import type { InstanceBytes } from "./InstanceStore.ts"
import type { StoreOptions } from "./internal/Storing.ts"
import { PlainStore } from "./PlainStore.ts"
import type { Dataset } from "./Header.ts"
import type { InformationModel } from "./Levels.ts"

/** C-STORE success (PS3.4 B.2.3). */
const SUCCESS = 0x0000

/** Options of the SCP services. */
export interface ScpServicesOptions {
  /** Written as (0002,0012) of stored files (default netdicom's). */
  readonly implementationClassUid?: string
  /** Written as (0002,0013) of stored files (default netdicom's). */
  readonly implementationVersionName?: string
  /** Returned for RetrieveAETitle (0008,0054) when a C-FIND asks for it. */
  readonly retrieveAeTitle?: string
}

const unpad = (uid: string): string => Text.trimEnd(uid, "\0 ")

// An index that fails to take an instance (a full disk, an I/O error) is a resource of ours failing, as a file that
// cannot be written is: 0xA700, which an SCU may send again later, not the 0xC000 (cannot understand) the same error
// answers a C-FIND with, which tells it the data set is at fault.
const statusOf = (e: ArchiveError): number =>
  e._tag === "InvalidInstance"
    ? STATUS_UNABLE_TO_PROCESS
    : e._tag === "StoreFailed" || e._tag === "IndexFailed"
      ? STATUS_OUT_OF_RESOURCES
      : e.status

/** What the storage handler needs of a store: where the instance went, and the file of an earlier copy it replaced. */
type Store = (
  bytes: InstanceBytes,
  options: StoreOptions
) => Effect.Effect<{ readonly filePath: string; readonly replaced: Option.Option<string> }, ArchiveError>

/** A storage handler writing each instance into the archive; exported for SCUs receiving C-GET sub-operations. */
export const storageHandler = (
  archive: Archive["Service"],
  options?: ScpServicesOptions
): StoreHandler.StorageHandler =>
  handlerOn(
    (bytes, storeOptions) =>
      Effect.map(archive.store(bytes, storeOptions), (stored) => ({
        filePath: stored.record.filePath,
        replaced: Option.map(stored.replaced, (earlier) => earlier.filePath)
      })),
    options
  )

/** A storage handler writing each instance into a store without an index (`PlainStore`). */
export const plainStorageHandler = (
  plain: PlainStore["Service"],
  options?: ScpServicesOptions
): StoreHandler.StorageHandler =>
  handlerOn(
    (bytes, storeOptions) =>
      Effect.map(plain.store(bytes, storeOptions), (stored) => ({
        filePath: stored.filePath,
        replaced: stored.replaced
      })),
    options
  )

const handlerOn = (store: Store, options: ScpServicesOptions | undefined): StoreHandler.StorageHandler => {
  const implementationClassUid = options?.implementationClassUid ?? ApplicationEntity.IMPLEMENTATION_CLASS_UID
  const implementationVersionName = options?.implementationVersionName ?? ApplicationEntity.IMPLEMENTATION_VERSION_NAME
  return (request) =>
    Effect.gen(function* () {
      const sopClassUid = unpad(request.sopClassUid)
      const sopInstanceUid = unpad(request.sopInstanceUid)
      const meta = Part10.writeMeta({
        transferSyntaxUid: unpad(request.transferSyntax),
        sopClassUid,
        sopInstanceUid,
        implementationClassUid,
        implementationVersionName,
        ...(request.callingAeTitle.trim() !== "" ? { sourceAeTitle: request.callingAeTitle.trim() } : {})
      })
      // A data set that arrived whole before the handler ran (a small one) is stored as one buffer: one write, one
      // walk, where its fragments one by one cost a thread-pool round trip and several fiber steps each. Its
      // fragments, copied into that buffer, are given back at once (`releaseWhole`). Otherwise, lent fragments,
      // given back once written and walked: their socket reads are freed at once, not at the next garbage
      // collection. The archive keeps no view of a fragment past that (see `StoreOptions.release`).
      const received = request.dataSetReceived
      const whole = received === undefined ? undefined : joined(meta, received)
      if (received !== undefined) ReceivedBytes.releaseWhole(received)
      const stored = yield* (
        whole !== undefined
          ? store(whole, { sopInstanceUid, sopClassUid })
          : Effect.flatMap(
              Stream.toAsyncIterableEffect(Stream.concat(Stream.make(meta), request.dataSetLent)),
              (bytes) => store(bytes, { sopInstanceUid, sopClassUid, release: ReceivedBytes.release })
            )
      ).pipe(Effect.result)
      if (stored._tag === "Success") {
        const { filePath, replaced } = stored.success
        // an earlier copy in another file was under another study (the files are <study>/<instance>.dcm): say where
        // the instance went, as a re-sent, corrected study is what this is
        yield* Option.isNone(replaced)
          ? Effect.logDebug(`stored ${sopInstanceUid} as ${filePath}`)
          : replaced.value === filePath
            ? Effect.logInfo(`${sopInstanceUid} received again: its earlier copy was replaced`)
            : Effect.logInfo(
                `${sopInstanceUid} received again under another study: stored as ${filePath}, ` +
                  `replacing ${replaced.value}`
              )
        return { status: SUCCESS }
      }
      // whatever the store did not read must still be taken off the association
      yield* Stream.runForEach(request.dataSetLent, (fragment) =>
        Effect.sync(() => ReceivedBytes.release(fragment))
      ).pipe(Effect.ignore)
      const e = stored.failure
      // the data set stopped coming (the association ended under it): nothing was refused, nothing kept
      if (e._tag === "StoreFailed" && e.operation === "read source")
        yield* Effect.logWarning(
          `C-STORE of ${sopInstanceUid} not stored: its data set did not arrive whole (${causeText(e.cause)})`
        )
      else yield* Effect.logWarning(`C-STORE of ${sopInstanceUid} refused: ${e.message}`)
      return { status: statusOf(e), errorComment: commentOf(e) }
    })
}

/** The File Meta Information and a data set's fragments in one buffer. */
const joined = (meta: Uint8Array, fragments: ReadonlyArray<Uint8Array>): Uint8Array => {
  let size = meta.length
  for (const f of fragments) size += f.length
  const out = new Uint8Array(size)
  out.set(meta, 0)
  let at = meta.length
  for (const f of fragments) {
    out.set(f, at)
    at += f.length
  }
  return out
}

// A refusal's Error Comment for the peer: what failed and why, never a path of ours (the log has the whole message).
// A file system error's message names our file after its reason, and the comment keeps only 64 characters: the
// reason went, the path stayed.
const commentOf = (e: ArchiveError): string => {
  switch (e._tag) {
    case "StoreFailed": {
      const code = codeOf(e.cause)
      const text = causeText(e.cause)
      // Node's "ENOSPC: no space left on device, write": the part before the system call (and its paths)
      const reason = code !== undefined && text.startsWith(`${code}:`) ? text.split(",")[0]! : code
      return reason === undefined ? `${e.operation} failed` : `${e.operation} failed: ${reason}`
    }
    case "LinkInStore":
      return `symbolic link below the store root, not followed (${e.operation})`
    case "InvalidInstance":
      return e.reason
    default:
      return e.message
  }
}

const codeOf = (cause: unknown): string | undefined =>
  typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
    ? cause.code
    : undefined

/** A failure's own message, without its stack. */
const causeText = (cause: unknown): string =>
  typeof cause === "object" && cause !== null && "message" in cause ? String(cause.message) : String(cause)

/** `Scp.StorageService` on the archive in context. */
export const storageLayer = (options?: ScpServicesOptions): Layer.Layer<Scp.StorageService, never, Archive> =>
  Layer.effect(
    Scp.StorageService,
    Effect.gen(function* () {
      return Scp.StorageService.of({ store: storageHandler(yield* Archive, options) })
    })
  )

/** `Scp.StorageService` on the store without an index in context (`netdicom storescp`). */
export const plainStorageLayer = (options?: ScpServicesOptions): Layer.Layer<Scp.StorageService, never, PlainStore> =>
  Layer.effect(
    Scp.StorageService,
    Effect.gen(function* () {
      return Scp.StorageService.of({ store: plainStorageHandler(yield* PlainStore, options) })
    })
  )

const informationModel = (model: QueryRetrieve.Model): InformationModel | undefined =>
  model === "patient" ? "PatientRoot" : model === "study" ? "StudyRoot" : undefined

const queryFailed = (e: ArchiveError): Scp.QueryFailed =>
  new Scp.QueryFailed({ status: statusOf(e), comment: e.message })

const noWorklist = new Scp.QueryFailed({
  status: STATUS_UNABLE_TO_PROCESS,
  comment: "this archive keeps no Modality Worklist"
})

/** `Scp.QueryService` (C-FIND, patient and study root) on the archive in context. */
export const queryLayer = (options?: ScpServicesOptions): Layer.Layer<Scp.QueryService, never, Archive> =>
  Layer.effect(
    Scp.QueryService,
    Effect.gen(function* () {
      const archive = yield* Archive
      return Scp.QueryService.of({
        find: (request) => {
          const model = informationModel(request.model)
          if (model === undefined) return Stream.fail(noWorklist)
          return archive
            .find(request.identifier, {
              model,
              ...(options?.retrieveAeTitle !== undefined ? { retrieveAETitle: options.retrieveAeTitle } : {})
            })
            .pipe(Stream.map(writable), Stream.mapError(queryFailed))
        }
      })
    })
  )

// A key naming an element by its tag (a private element's, one the dictionary lacks).
const HEX_KEY = /^[0-9A-Fa-f]{8}$/

const isBytes = (value: unknown): boolean => value instanceof ArrayBuffer || ArrayBuffer.isView(value)

/**
 * A match as the wire can carry it: the index keeps a private element's value but not its VR, and a key the request
 * gave no VR for (UN) can carry bytes only, so such a key whose stored value is text or a number goes back
 * zero-length, as a key the SCP does not keep does (PS3.4 C.4.1.1.3.2): written as it was, the match could not be
 * encoded and was left out of the answer, failing the C-FIND (0xC000).
 */
const writable = (match: Dataset): Dataset => {
  const vrMap = match["_vrMap"] as Readonly<Record<string, unknown>> | undefined
  let out: Record<string, unknown> | undefined
  for (const key of Object.keys(match)) {
    if (!HEX_KEY.test(key) || typeof vrMap?.[key] === "string") continue
    const value = match[key]
    if (value === "" || value === undefined || value === null || isBytes(value)) continue
    ;(out ??= { ...match })[key] = ""
  }
  return out ?? match
}

/**
 * The bare data set of a stored file: read its meta, stream the rest. The file must still hold what the index listed:
 * a C-STORE of the same instance may have replaced it since, in another transfer syntax or SOP class, and its
 * bytes would then go out on a context negotiated for the listed one. Nor is it read through a symbolic link below
 * the store root (`Archive.fileOf`).
 */
const dataSetOf = (
  archive: Archive["Service"],
  item: RetrieveItem
): Stream.Stream<Uint8Array, DimseError.DataSourceFailed> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const path = yield* archive.fileOf(item)
      const meta = yield* Part10.readFileMeta(path)
      return meta.transferSyntaxUid === item.transferSyntaxUid && meta.sopClassUid === item.sopClassUid
        ? Part10.streamDataSet(path, meta)
        : yield* Effect.fail(
            new DimseError.DataSourceFailed({
              detail: `${item.sopInstanceUid} was replaced in ${meta.transferSyntaxUid} since it was listed`
            })
          )
    })
  ).pipe(
    Stream.mapError((e) => (e._tag === "DataSourceFailed" ? e : new DimseError.DataSourceFailed({ detail: e.message })))
  )

/** `Scp.RetrieveService` (C-GET and C-MOVE, patient and study root) on the archive in context. */
export const retrieveLayer: Layer.Layer<Scp.RetrieveService, never, Archive> = Layer.effect(
  Scp.RetrieveService,
  Effect.gen(function* () {
    const archive = yield* Archive
    return Scp.RetrieveService.of({
      retrieve: (request) => {
        const model = informationModel(request.model)
        if (model === undefined) return Effect.fail(noWorklist)
        return archive.retrieve(request.identifier, { model }).pipe(
          Effect.mapError(queryFailed),
          Effect.map((items) =>
            items.map((item): Scp.RetrievableInstance => ({
              sopClassUid: item.sopClassUid,
              sopInstanceUid: item.sopInstanceUid,
              transferSyntax: item.transferSyntaxUid,
              dataSet: () => dataSetOf(archive, item)
            }))
          )
        )
      }
    })
  })
)

/** Storage, Query and Retrieve on the archive in context. */
export const layer = (
  options?: ScpServicesOptions
): Layer.Layer<Scp.StorageService | Scp.QueryService | Scp.RetrieveService, never, Archive> =>
  Layer.mergeAll(storageLayer(options), queryLayer(options), retrieveLayer)
