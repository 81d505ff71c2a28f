/**
 * Errors of the DIMSE layer (PS3.7 sections 7-9). A non-success status is not one of them: it is
 * data on the response. These are the ways a message exchange itself can fail.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import { Uids } from "@netdicom/wire"
import type { AssociationAborted } from "../association/AssociationError.ts"

/** `CT Image Storage (1.2.840.10008.5.1.4.1.1.2)`, or the bare UID when the standard does not name it. */
const named = (uid: string): string => {
  const name = Uids.uidName(uid)
  return name === undefined ? uid : `${name} (${uid})`
}

/** No accepted presentation context for this SOP class, in this role (and transfer syntax, when one is needed). */
export class NoAcceptedContext extends Data.TaggedError("NoAcceptedContext")<{
  readonly sopClassUid: string
  readonly role: "SCU" | "SCP"
  readonly transferSyntax: string | undefined
}> {
  override get message(): string {
    const ts = this.transferSyntax ? ` with transfer syntax ${named(this.transferSyntax)}` : ""
    return `no accepted presentation context for ${named(this.sopClassUid)} as ${this.role}${ts}`
  }
}

/** No response within the DIMSE timeout; the association was aborted. */
export class DimseTimeout extends Data.TaggedError("DimseTimeout")<{ readonly waitingFor: string }> {
  override get message(): string {
    return `DIMSE timeout waiting for ${this.waitingFor}`
  }
}

/** The peer broke PS3.7: a malformed or unexpected message, or a broken fragment sequence. */
export class DimseProtocolError extends Data.TaggedError("DimseProtocolError")<{ readonly detail: string }> {
  override get message(): string {
    return `DIMSE protocol error: ${this.detail}`
  }
}

/** A data set source failed while it was being sent (a file read error, say); the association was aborted. */
export class DataSourceFailed extends Data.TaggedError("DataSourceFailed")<{ readonly detail: string }> {
  override get message(): string {
    return `data set source failed: ${this.detail}`
  }
}

/** Every way a DIMSE exchange fails. */
export type DimseFailure = AssociationAborted | NoAcceptedContext | DimseTimeout | DimseProtocolError | DataSourceFailed
