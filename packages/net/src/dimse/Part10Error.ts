/**
 * The errors of reading and writing Part 10 files (internal: `Part10` re-exports them).
 */
import * as Data from "effect/Data"

/** The bytes have no preamble and "DICM" at offset 128 (or "DICM" is not followed by group 0002). */
export class NoFileMeta extends Data.TaggedError("NoFileMeta")<{ readonly reason: string }> {
  override get message(): string {
    return `no File Meta Information: ${this.reason}`
  }
}

/** The File Meta Information has no (0002,0010) Transfer Syntax UID, or an empty one. */
export class MissingTransferSyntax extends Data.TaggedError("MissingTransferSyntax")<{ readonly reason: string }> {
  override get message(): string {
    return `no Transfer Syntax UID: ${this.reason}`
  }
}

/** The File Meta Information is not what PS3.10 7.1 says: bad VR, lengths past its group, a hostile group length. */
export class MalformedFileMeta extends Data.TaggedError("MalformedFileMeta")<{
  readonly reason: string
  readonly offset: number
}> {
  override get message(): string {
    return `malformed File Meta Information at offset ${this.offset}: ${this.reason}`
  }
}

/** The bytes end before what is needed; `needed` (when known) counts from the start of the bytes given. */
export class Truncated extends Data.TaggedError("Truncated")<{
  readonly part: "file meta" | "data set"
  readonly reason: string
  readonly needed?: number
}> {
  override get message(): string {
    const needed = this.needed === undefined ? "" : ` (${this.needed} bytes needed)`
    return `truncated ${this.part}: ${this.reason}${needed}`
  }
}

/** Without a File Meta Information, the first element gave no transfer syntax under which the data set parses. */
export class UnrecognizedDataSet extends Data.TaggedError("UnrecognizedDataSet")<{ readonly reason: string }> {
  override get message(): string {
    return `cannot tell the encoding of the data set: ${this.reason}`
  }
}

/** The data set's element structure is broken before (0008,0018). */
export class MalformedDataSet extends Data.TaggedError("MalformedDataSet")<{
  readonly reason: string
  readonly offset?: number
}> {
  override get message(): string {
    return `malformed data set${this.offset === undefined ? "" : ` at offset ${this.offset}`}: ${this.reason}`
  }
}

/** No SOP Class UID (0008,0016) or SOP Instance UID (0008,0018) where they must be. */
export class MissingSopIdentifiers extends Data.TaggedError("MissingSopIdentifiers")<{ readonly reason: string }> {
  override get message(): string {
    return `no SOP identifiers: ${this.reason}`
  }
}

/** A transfer syntax whose element layout is unknown (a private one). */
export class UnsupportedTransferSyntax extends Data.TaggedError("UnsupportedTransferSyntax")<{
  readonly transferSyntaxUid: string
}> {
  override get message(): string {
    return `unknown transfer syntax ${this.transferSyntaxUid}`
  }
}

/** Opening, sizing or reading a file failed. */
export class FileReadFailed extends Data.TaggedError("FileReadFailed")<{
  readonly path: string
  readonly cause: unknown
}> {
  override get message(): string {
    const text = this.cause instanceof Error ? this.cause.message : String(this.cause)
    // Node ends a system error with the call and the path ("ENOENT: no such file or directory, open 'x.dcm'")
    return `cannot read ${this.path}: ${text.replace(/, \w+ '[^']*'$/, "")}`
  }
}

/** Creating or writing a file failed. */
export class FileWriteFailed extends Data.TaggedError("FileWriteFailed")<{
  readonly path: string
  readonly cause: unknown
}> {
  override get message(): string {
    return `cannot write ${this.path}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

export const readFailed =
  (path: string) =>
  (cause: unknown): FileReadFailed =>
    new FileReadFailed({ path, cause })

/** Every error of reading or writing Part 10 files. */
export type Part10Error =
  | NoFileMeta
  | MissingTransferSyntax
  | MalformedFileMeta
  | Truncated
  | UnrecognizedDataSet
  | MalformedDataSet
  | MissingSopIdentifiers
  | UnsupportedTransferSyntax
  | FileReadFailed
  | FileWriteFailed
