/**
 * The error of encoding, decoding or scanning a data set (internal: `DataSet` re-exports it).
 */
import { Uids } from "@netdicom/wire"
import * as Data from "effect/Data"

/**
 * What went wrong with a data set. `TooLarge`: more elements and items than the decoder was allowed to read
 * (`DecodeOptions.maxElements`), a bound on work rather than a fault of the bytes.
 */
export type DataSetErrorKind =
  "UnsupportedTransferSyntax" | "Truncated" | "Malformed" | "TooLarge" | "CharacterSet" | "InvalidValue"

/** A data set that could not be encoded or decoded in a transfer syntax. */
export class DataSetError extends Data.TaggedError("DataSetError")<{
  readonly transferSyntaxUid: string
  readonly kind: DataSetErrorKind
  readonly reason: string
  /** Byte offset in the data set where the problem is (scan and decode). */
  readonly offset?: number
  /** For `Truncated`: how many bytes from the start of the data set the element in question needs. */
  readonly needed?: number
  readonly cause?: unknown
}> {
  override get message(): string {
    const at = this.offset === undefined ? "" : ` at offset ${this.offset}`
    return `data set (${Uids.describeUid(this.transferSyntaxUid)}): ${this.kind}${at}: ${this.reason}`
  }
}
