/**
 * The errors of the archive layer: one tagged class per kind of failure, one union (`ArchiveError`).
 *
 * Query errors carry the C-FIND/C-GET/C-MOVE failure status an SCP should answer with (PS3.4 C.4.1.1.4,
 * C.4.2.1.5, C.4.3.1.4 and Annex C.4 status tables): 0xA900 "Identifier does not match SOP Class" and 0xC000
 * "Unable to process". Storage errors map to C-STORE statuses (PS3.4 B.2.3): 0xA700 "Out of resources" for I/O
 * failures and 0xC000 "Cannot understand" for data sets that cannot be parsed or lack their UIDs.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/** C-FIND/C-GET/C-MOVE failure status "Identifier does not match SOP Class". */
export const STATUS_IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0xa900

/** C-FIND/C-GET/C-MOVE failure status "Unable to process"; C-STORE "Cannot understand" shares the range. */
export const STATUS_UNABLE_TO_PROCESS = 0xc000

/** C-STORE failure status "Refused: Out of resources". */
export const STATUS_OUT_OF_RESOURCES = 0xa700

/** A file system operation of the instance store failed (write, fsync, rename, read, unlink). */
export class StoreFailed extends Data.TaggedError("StoreFailed")<{
  readonly operation: string
  readonly path: string
  readonly cause: unknown
}> {
  /** The C-STORE status an SCP should answer with. */
  get status(): number {
    return STATUS_OUT_OF_RESOURCES
  }
  override get message(): string {
    return `${this.operation} ${this.path}: ${describe(this.cause)}`
  }
}

/**
 * A symbolic link below the store root where the archive expects a folder or file of its own (a study folder
 * replaced by a link, say): never followed, so that nothing is written, read or removed outside the root through it.
 * The root itself may be a link (the operator chose it). A C-STORE refused for it gets 0xA700, as other store
 * failures.
 */
export class LinkInStore extends Data.TaggedError("LinkInStore")<{
  /** What was about to be done (`write`, `unlink`, `read`). */
  readonly operation: string
  /** The link. */
  readonly path: string
}> {
  /** The C-STORE status an SCP should answer with. */
  get status(): number {
    return STATUS_OUT_OF_RESOURCES
  }
  override get message(): string {
    // the reason first: an Error Comment (64 characters) keeps the start
    return `symbolic link below the store root, not followed: ${this.path} (${this.operation})`
  }
}

/** The bytes are not a Part 10 file dcmjs can read, or a required UID is missing. */
export class InvalidInstance extends Data.TaggedError("InvalidInstance")<{
  readonly reason: string
  readonly path?: string
}> {
  /** The C-STORE status an SCP should answer with. */
  get status(): number {
    return STATUS_UNABLE_TO_PROCESS
  }
  override get message(): string {
    return this.path === undefined ? this.reason : `${this.path}: ${this.reason}`
  }
}

/** An SQLite statement failed (or the database could not be opened). */
export class IndexFailed extends Data.TaggedError("IndexFailed")<{
  readonly operation: string
  readonly cause: unknown
}> {
  /** The status an SCP should answer with. */
  get status(): number {
    return STATUS_UNABLE_TO_PROCESS
  }
  override get message(): string {
    return `${this.operation}: ${describe(this.cause)}`
  }
}

/**
 * The identifier does not fit the information model: unknown or missing Query/Retrieve Level, a level the model
 * lacks, or a unique key of a higher level that is absent or not a single value (PS3.4 C.4.1.2.1, C.4.2.2.1).
 */
export class IdentifierDoesNotMatchSopClass extends Data.TaggedError("IdentifierDoesNotMatchSopClass")<{
  readonly reason: string
  readonly keyword?: string
}> {
  /** The failure status an SCP should answer with (0xA900). */
  get status(): number {
    return STATUS_IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS
  }
  override get message(): string {
    return this.reason
  }
}

/**
 * A valid identifier this archive does not process: relational queries (a non-unique key of another level with a
 * value), or a key value whose matching is not supported (PS3.4 C.4.1.2.2 is an extended negotiation option).
 */
export class UnableToProcess extends Data.TaggedError("UnableToProcess")<{
  readonly reason: string
  readonly keyword?: string
}> {
  /** The failure status an SCP should answer with (0xC000). */
  get status(): number {
    return STATUS_UNABLE_TO_PROCESS
  }
  override get message(): string {
    return this.reason
  }
}

/** Errors of a C-FIND or retrieve identifier. */
/**
 * An instance whose Series Instance UID is indexed under another study, or whose Study Instance UID under another
 * patient: indexing it would move that series (study), other instances and all, under its own parent. A UID reused
 * by a peer (by mistake or on purpose) would re-parent others' data, so the store is refused (PS3.4 B.2.3 has no
 * status for it: 0xC000, "cannot understand", as for other instances the archive cannot take), unless the instance
 * is the only one of that series (study): a re-store correcting its own attributes moves nobody else's data.
 */
export class UidConflict extends Data.TaggedError("UidConflict")<{
  /** "Series" when the series is in another study, "Study" when the study is under another patient. */
  readonly level: "Series" | "Study"
  readonly uid: string
  /** The parent it is indexed under: a Study Instance UID, or a Patient ID ("" for a patient without one). */
  readonly indexedUnder: string
  /** The parent the instance names. */
  readonly instanceSays: string
}> {
  /** The C-STORE status an SCP should answer with (0xC000). */
  get status(): number {
    return STATUS_UNABLE_TO_PROCESS
  }
  override get message(): string {
    return this.level === "Series"
      ? `Series Instance UID belongs to another study: series ${this.uid} is in study ${this.indexedUnder}, ` +
          `the instance says ${this.instanceSays}`
      : `Study Instance UID belongs to another patient: study ${this.uid} is under Patient ID ` +
          `"${this.indexedUnder}", the instance says "${this.instanceSays}"`
  }
}

export type QueryError = IdentifierDoesNotMatchSopClass | UnableToProcess

/** Every error of the archive layer. */
export type ArchiveError = StoreFailed | LinkInStore | InvalidInstance | IndexFailed | UidConflict | QueryError

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))
