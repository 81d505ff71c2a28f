/**
 * Errors of the association layer (PS3.8 sections 7.1-7.3, 9.3.4, 9.3.8).
 *
 * Each carries the standard's codes where there are some, so a caller can tell a permanent
 * rejection from a transient one, or a peer's abort from our own provider abort.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import { ConnectFailed } from "../upper/Transport.ts"

export { ConnectFailed }

const REJECT_REASONS: Record<number, Record<number, string>> = {
  1: {
    1: "no reason given",
    2: "application context name not supported",
    3: "calling AE title not recognized",
    7: "called AE title not recognized"
  },
  2: { 1: "no reason given", 2: "protocol version not supported" },
  3: { 1: "temporary congestion", 2: "local limit exceeded" }
}

const REJECT_SOURCES: Record<number, string> = {
  1: "service user",
  2: "service provider, ACSE",
  3: "service provider, presentation"
}

/** The peer answered A-ASSOCIATE-RJ (PS3.8 Table 9-21). */
export class AssociationRejected extends Data.TaggedError("AssociationRejected")<{
  readonly result: 1 | 2
  readonly source: 1 | 2 | 3
  readonly reason: number
}> {
  get permanent(): boolean {
    return this.result === 1
  }
  /** The reason in words (PS3.8 Table 9-21), without the result and source. */
  get reasonText(): string {
    return REJECT_REASONS[this.source]?.[this.reason] ?? `reason ${this.reason}`
  }
  override get message(): string {
    const why = this.reasonText
    const source = `source ${this.source}${REJECT_SOURCES[this.source] ? `: ${REJECT_SOURCES[this.source]}` : ""}`
    return `association rejected (${this.result === 1 ? "permanent" : "transient"}, ${source}): ${why}`
  }
}

const ABORT_REASONS: Record<number, string> = {
  0: "reason not specified",
  1: "unrecognized PDU",
  2: "unexpected PDU",
  4: "unrecognized PDU parameter",
  5: "unexpected PDU parameter",
  6: "invalid PDU parameter value"
}

/** The association was aborted: by the peer (A-ABORT) or by the provider (A-P-ABORT). */
export class AssociationAborted extends Data.TaggedError("AssociationAborted")<{
  /** "user" when we aborted it ourselves (our A-ABORT, an idle or DIMSE timeout). */
  readonly by: "peer" | "provider" | "user"
  readonly source: number
  readonly reason: number
  readonly detail: string
}> {
  override get message(): string {
    const source = this.source === 0 ? ": service user" : this.source === 2 ? ": service provider" : ""
    const who = this.by === "peer" ? `peer (source ${this.source}${source})` : this.by === "user" ? "us" : "provider"
    return `association aborted by ${who}: ${ABORT_REASONS[this.reason] ?? `reason ${this.reason}`} — ${this.detail}`
  }
}

/** No answer from the peer in time to an A-ASSOCIATE-RQ or A-RELEASE-RQ; the association was aborted. */
export class AcseTimeout extends Data.TaggedError("AcseTimeout")<{ readonly waitingFor: string }> {
  override get message(): string {
    return `timed out waiting for ${this.waitingFor}`
  }
}

/** Every error opening, using or closing an association. */
export type AssociationError = AssociationRejected | AssociationAborted | AcseTimeout | ConnectFailed
