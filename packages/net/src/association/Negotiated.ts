/**
 * What an association agreed on: accepted presentation contexts with their roles, the peer's
 * limits and identifiers (PS3.8 section 9.3.3, PS3.7 Annex D.3.3).
 *
 * Roles are given from our side: `weAreScu` means we may send requests on this context,
 * `weAreScp` that we may answer them. Without a role selection item the requestor is SCU only
 * and the acceptor SCP only (PS3.7 D.3.3.4).
 *
 * @since 0.1.0
 */
import type { Pdu } from "@netdicom/wire"

/** An accepted presentation context. */
export interface AcceptedContext {
  readonly id: number
  readonly abstractSyntax: string
  readonly transferSyntax: string
  readonly weAreScu: boolean
  readonly weAreScp: boolean
}

/** A presentation context the acceptor did not accept, with its result (PS3.8 Table 9-18). */
export interface RejectedContext {
  readonly id: number
  readonly abstractSyntax: string
  readonly result: 1 | 2 | 3 | 4
}

/** Everything negotiated, from our side of the association. */
export interface Negotiated {
  readonly localAeTitle: string
  readonly peerAeTitle: string
  readonly accepted: ReadonlyArray<AcceptedContext>
  readonly rejected: ReadonlyArray<RejectedContext>
  /** The largest P-DATA-TF the peer receives; 0 = no limit. */
  readonly peerMaxPduLength: number
  readonly peerImplementationClassUid: string | undefined
  readonly peerImplementationVersionName: string | undefined
  /** Operations we may have outstanding towards the peer, and the peer towards us (1 = no asynchrony). */
  readonly maxOperationsInvoked: number
  readonly maxOperationsPerformed: number
  /** SOP Class Extended Negotiation items agreed (the acceptor's answer). */
  readonly extendedNegotiation: ReadonlyArray<typeof Pdu.SopClassExtendedNegotiation.Type>
  /** The acceptor's User Identity response, when one was asked for and given. */
  readonly userIdentityResponse: Uint8Array | undefined
}
