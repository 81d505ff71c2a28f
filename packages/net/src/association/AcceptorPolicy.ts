/**
 * What an acceptor (SCP) agrees to when an A-ASSOCIATE-RQ arrives, beyond the contexts of its
 * Application Entity (PS3.8 section 7.1.1, PS3.7 Annex D.3.3).
 *
 * A plain value of pure functions: which called and calling AE titles are recognised, whose
 * transfer syntax order wins, and the answers to extended negotiation and user identity. Checks
 * that need I/O (a directory lookup, a password store) run before negotiation, in the server, and
 * their results are captured by these functions. `AcceptorPolicyService` makes a policy a service
 * so an SCP is configured with a Layer.
 *
 * Not covered here: the negotiation itself, which lives in `Negotiation.ts`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import type { Pdu } from "@netdicom/wire"
import type * as Tls from "../upper/Tls.ts"
import type { ApplicationEntity, SupportedContext } from "./ApplicationEntity.ts"

/** A SOP Class Extended Negotiation sub-item (PS3.7 D.3.3.5). */
export type SopClassExtendedNegotiation = typeof Pdu.SopClassExtendedNegotiation.Type

/** A SOP Class Common Extended Negotiation sub-item (PS3.7 D.3.3.6). */
export type SopClassCommonExtendedNegotiation = typeof Pdu.SopClassCommonExtendedNegotiation.Type

/** A User Identity sub-item of an A-ASSOCIATE-RQ (PS3.7 D.3.3.7.1). */
export type UserIdentityRq = typeof Pdu.UserIdentityRq.Type

/** The acceptor's answer to a User Identity sub-item. */
export type UserIdentityDecision =
  { readonly _tag: "Accept"; readonly response?: Uint8Array } | { readonly _tag: "Reject" }

/** Who asks for an association: what a policy may check beyond the A-ASSOCIATE-RQ. */
export interface Requestor {
  /** The calling AE title, trimmed. */
  readonly callingAeTitle: string
  /** The peer's address, `host:port`. */
  readonly address: string
  /** Over TLS: the handshake's outcome and the peer's certificate, already checked against the server's CAs. */
  readonly tls: Tls.Session | undefined
}

/** AE titles recognised: a list (compared after trimming spaces and NULs) or a predicate on the trimmed title. */
export type AeTitleMatcher = ReadonlyArray<string> | ((title: string) => boolean)

/** The acceptor's rules for one A-ASSOCIATE-RQ. */
export interface AcceptorPolicy {
  /** Called AE titles we answer to; undefined accepts any. `defaultPolicy` sets our own title. */
  readonly calledAeTitles?: AeTitleMatcher | undefined
  /** Calling AE titles we accept; undefined accepts any. A title of only spaces/NULs is never accepted. */
  readonly callingAeTitles?: AeTitleMatcher | undefined
  /** Pick the first transfer syntax of the requestor's list we support, instead of the first of ours. */
  readonly preferRequestorOrder?: boolean
  /** Answers SOP Class Extended Negotiation sub-items; the default answers none. */
  readonly extendedNegotiation?: (
    items: ReadonlyArray<SopClassExtendedNegotiation>
  ) => ReadonlyArray<SopClassExtendedNegotiation>
  /**
   * Reads SOP Class Common Extended Negotiation sub-items (which have no answer on the wire) and
   * returns extra contexts to support on this association, for example a specialised SOP class
   * whose related general SOP class we store. The default adds none.
   */
  readonly commonExtendedNegotiation?: (
    items: ReadonlyArray<SopClassCommonExtendedNegotiation>
  ) => ReadonlyArray<SupportedContext>
  /** Decides on a User Identity sub-item; without it the item is ignored and no response is sent. */
  readonly userIdentity?: (item: UserIdentityRq) => UserIdentityDecision
  /** Reject (permanent, service user, no reason given) a request without a User Identity sub-item. */
  readonly requireUserIdentity?: boolean
  /**
   * Decides on who asks, before negotiation (e.g. a certificate subject bound to a calling AE title); false rejects
   * (permanent, service user, no reason given). The default accepts everyone.
   */
  readonly requestor?: (requestor: Requestor) => boolean
  /** Reject (permanent, service user, no reason given) instead of accepting with no usable context. */
  readonly rejectWhenNoneAccepted?: boolean
}

/** The default policy: answer to our own AE title only, accept any calling AE, prefer our transfer syntax order. */
export const defaultPolicy = (ae: ApplicationEntity): AcceptorPolicy => ({ calledAeTitles: [ae.aeTitle] })

/** The acceptor policy as a service, so SCPs are configured with a Layer. */
export class AcceptorPolicyService extends Context.Service<AcceptorPolicyService, AcceptorPolicy>()(
  "@netdicom/net/AcceptorPolicy"
) {}

/** A Layer providing this policy. */
export const layer = (policy: AcceptorPolicy): Layer.Layer<AcceptorPolicyService> =>
  Layer.succeed(AcceptorPolicyService, policy)
