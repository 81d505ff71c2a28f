/**
 * The upper layer's service primitives as data (PS3.8 sections 7 and 9.2): what its user issues, what it indicates,
 * and how its user takes received P-DATA. `UpperLayer` re-exports them.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import type { Pdu } from "@netdicom/wire"
import type * as Table from "./StateTable.ts"
import type { ConnectFailed } from "./Transport.ts"

/**
 * Primitives the local user issues (PS3.8 section 9.2.1 events from the user). An A-ASSOCIATE-RQ or -AC may come with
 * its bytes (`encoded`, which must be `PduCodec.encodePdu` of it), already encoded by its maker to check it: they are
 * sent as they are rather than encoded again.
 */
export type UserPrimitive =
  | { readonly _tag: "AssociateRequest"; readonly rq: Pdu.AAssociateRq; readonly encoded?: Uint8Array }
  | { readonly _tag: "AssociateAccept"; readonly ac: Pdu.AAssociateAc; readonly encoded?: Uint8Array }
  | { readonly _tag: "AssociateReject"; readonly rj: Pdu.AAssociateRj }
  | { readonly _tag: "ReleaseRequest" }
  | { readonly _tag: "ReleaseResponse" }
  | { readonly _tag: "AbortRequest"; readonly detail?: string }

/** What the machine tells its user. */
export type Indication =
  | { readonly _tag: "AssociateIndication"; readonly rq: Pdu.AAssociateRq }
  | { readonly _tag: "AssociateAccepted"; readonly ac: Pdu.AAssociateAc }
  | { readonly _tag: "AssociateRejected"; readonly rj: Pdu.AAssociateRj }
  | { readonly _tag: "PData"; readonly pdu: Pdu.PDataTf }
  | { readonly _tag: "ReleaseIndication"; readonly collision: boolean }
  | { readonly _tag: "ReleaseConfirm" }
  | { readonly _tag: "Aborted"; readonly abort: AbortInfo }
  | { readonly _tag: "Closed" }

/** Why an association ended abnormally: an A-ABORT from the peer, or a provider abort (A-P-ABORT). */
export interface AbortInfo {
  /** "peer" for a received A-ABORT, "provider" for a protocol or transport failure, "user" for our own A-ABORT. */
  readonly by: "peer" | "provider" | "user"
  readonly source: number
  readonly reason: number
  readonly detail: string
  readonly connectFailed?: ConnectFailed
}

/**
 * Takes received P-DATA from the reader, synchronously on the socket's event; returns an effect to wait on before the
 * next PDU is taken (backpressure, logging), or `undefined` to go straight on.
 */
export type PDataReceiver = (pdu: Pdu.PDataTf) => Effect.Effect<void> | undefined

/**
 * A receiver of P-DATA that takes the P-DATA-TFs of one socket read in one call (the DIMSE layer's): `takeRun(pdus,
 * at, end)` takes `pdus[at]`, a P-DATA-TF, and goes on with the P-DATA-TFs right behind it before `end` while what it
 * ran for them was its own code (no handler started, no response delivered, no reader woken: nothing that could
 * have changed the association); it then sets `taken` to how many it took and returns an effect to wait on before
 * the next PDU is taken, or `undefined` to go straight on, as a `PDataReceiver` does for one.
 */
export interface PDataRunReceiver {
  readonly takeRun: (pdus: ReadonlyArray<Pdu.Pdu>, at: number, end: number) => Effect.Effect<void> | undefined
  /** How many PDUs the last `takeRun` took: at least one. */
  readonly taken: number
}

/** A run receiver as a receiver of one P-DATA-TF at a time (for P-DATA that was queued as an indication). */
export const onePDataAtATime =
  (receiver: PDataRunReceiver): PDataReceiver =>
  (pdu) =>
    receiver.takeRun([pdu], 0, 1)

/**
 * Takes each indication as it comes, synchronously, in place of `indications` (`UpperLayer.consume`): returns an
 * effect to wait on before the next is given (a `PData` counts as handled once it is done), or `undefined` to go
 * straight on. `submit` issues a primitive from within it.
 */
export type IndicationConsumer = (
  indication: Indication,
  submit: (primitive: UserPrimitive) => void
) => Effect.Effect<void> | undefined

/** A P-DATA request outside Sta6/Sta8, or after the connection is gone. */
export class NotEstablished extends Data.TaggedError("NotEstablished")<{ readonly state: Table.State }> {
  override get message(): string {
    return `no established association (state ${this.state})`
  }
}
