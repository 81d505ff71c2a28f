/**
 * A-ASSOCIATE negotiation as pure functions, no I/O (PS3.8 sections 7.1 and 9.3.2-9.3.4, PS3.7
 * Annex D.3.3).
 *
 * - Requestor: `buildRequest` turns what we want into an A-ASSOCIATE-RQ; `evaluateAccept` checks
 *   the A-ASSOCIATE-AC against it and yields the `Negotiated` outcome, or a typed error on which
 *   the runtime aborts.
 * - Acceptor: `evaluateRequest` answers an A-ASSOCIATE-RQ with an A-ASSOCIATE-AC (and the
 *   outcome) or an A-ASSOCIATE-RJ, following the Application Entity and an `AcceptorPolicy`.
 *
 * Choices the standard leaves open:
 * - An RQ with no presentation context, or with an even, duplicate or out-of-range (not 1-255)
 *   context id, is rejected permanent / service user / no reason given (1, 1, 1). PS3.8 9.3.2.2
 *   makes such an RQ malformed but names no reject reason; DCMTK's parser and pynetdicom's
 *   `PresentationContext` refuse such ids outright, and a reject tells the peer more than an abort.
 * - A rejected presentation context still carries a Transfer Syntax sub-item: the first one the
 *   requestor proposed for it (as pynetdicom does; DCMTK sends Implicit VR Little Endian), or Implicit VR
 *   Little Endian when that one could not be written back (not ASCII). PS3.8 9.3.3.2 says the value is not
 *   tested on receipt.
 * - A called or calling AE title with a control, non-ASCII or backslash character (PS3.5 AE) is rejected
 *   (1, 7) or (1, 3): it could not be echoed in the AC nor written in a command. A role item whose SOP Class
 *   UID is empty or not ASCII is left unanswered, and an AC that cannot be encoded all the same (its User
 *   Information past 65,535 bytes) is rejected (1, 1) rather than never sent.
 * - A context whose roles leave us neither SCU nor SCP is answered 1 (user rejection).
 * - The protocol version is checked before the application context name, as DCMTK's upper layer
 *   does, then the called AE, the calling AE, the context ids, and user identity.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"
import { Identifiers, Pdu, PduCodec, Uids } from "@netdicom/wire"
import type {
  AcceptorPolicy,
  AeTitleMatcher,
  SopClassCommonExtendedNegotiation,
  SopClassExtendedNegotiation,
  UserIdentityRq
} from "./AcceptorPolicy.ts"
import type { ApplicationEntity, SupportedContext } from "./ApplicationEntity.ts"
import type { AcceptedContext, Negotiated, RejectedContext } from "./Negotiated.ts"

/** The most presentation contexts one A-ASSOCIATE-RQ may propose (ids 1, 3, ... 255; PS3.8 9.3.2.2). */
export const MAX_PRESENTATION_CONTEXTS = 128

/** The protocol version we send: bit 0 set (PS3.8 Table 9-11). */
export const PROTOCOL_VERSION = 1

// ---- errors ----

/** More presentation contexts were asked for than an association holds. */
export class TooManyPresentationContexts extends Data.TaggedError("TooManyPresentationContexts")<{
  readonly count: number
}> {
  override get message(): string {
    return `${this.count} presentation contexts proposed; an association holds at most ${MAX_PRESENTATION_CONTEXTS}`
  }
}

/** The association we were asked to request cannot be put in an A-ASSOCIATE-RQ. */
export class InvalidAssociateRequest extends Data.TaggedError("InvalidAssociateRequest")<{
  readonly reason: string
}> {
  override get message(): string {
    return `invalid A-ASSOCIATE-RQ: ${this.reason}`
  }
}

/** The peer's A-ASSOCIATE-AC contradicts our A-ASSOCIATE-RQ; the runtime aborts the association. */
export class InvalidAssociateAc extends Data.TaggedError("InvalidAssociateAc")<{ readonly reason: string }> {
  override get message(): string {
    return `invalid A-ASSOCIATE-AC: ${this.reason}`
  }
}

/** The acceptor accepted none of the proposed presentation contexts. */
export class NoAcceptableContext extends Data.TaggedError("NoAcceptableContext")<{
  readonly rejected: ReadonlyArray<RejectedContext>
}> {
  /** Each distinct result in words ("transfer syntaxes not supported"), without the SOP classes. */
  get resultTexts(): ReadonlyArray<string> {
    return [...new Set(this.rejected.map((c) => RESULT_TEXT[c.result] ?? `result ${c.result}`))]
  }
  override get message(): string {
    const results = this.rejected
      .map((c) => `${Uids.describeUid(c.abstractSyntax)}: ${RESULT_TEXT[c.result] ?? `result ${c.result}`}`)
      .join("; ")
    return `no presentation context accepted (${results})`
  }
}

const RESULT_TEXT: Record<number, string> = {
  1: "rejected by the user",
  2: "rejected, no reason given",
  3: "abstract syntax not supported",
  4: "transfer syntaxes not supported"
}

/** Any failure of negotiation. */
export type NegotiationError =
  TooManyPresentationContexts | InvalidAssociateRequest | InvalidAssociateAc | NoAcceptableContext

/**
 * The smallest non-zero Maximum Length a peer may announce (our own AE refuses less too). PS3.8 sets no
 * floor, but a peer announcing a handful of bytes would make every data set a million PDUs: refused.
 */
export const MIN_PEER_MAX_PDU_LENGTH = 1024

// ---- shared helpers ----

type UserItem = Pdu.UserItem
type ItemOf<T extends UserItem["_tag"]> = Extract<UserItem, { readonly _tag: T }>
type RoleSelection = ItemOf<"ScpScuRoleSelection">

// Plain loops rather than `find`/`filter` with a predicate: a call fewer per item, on every association's set-up.
const findItem = <T extends UserItem["_tag"]>(items: ReadonlyArray<UserItem>, tag: T): ItemOf<T> | undefined => {
  for (const item of items) if (item._tag === tag) return item as ItemOf<T>
  return undefined
}

const filterItems = <T extends UserItem["_tag"]>(items: ReadonlyArray<UserItem>, tag: T): Array<ItemOf<T>> => {
  const found: Array<ItemOf<T>> = []
  for (const item of items) if (item._tag === tag) found.push(item as ItemOf<T>)
  return found
}

// The first role selection item per SOP class (PS3.7 D.3.3.4 allows one per SOP class).
const rolesBySopClass = (items: ReadonlyArray<UserItem>): Map<string, RoleSelection> => {
  const roles = new Map<string, RoleSelection>()
  for (const item of filterItems(items, "ScpScuRoleSelection")) {
    if (!roles.has(item.sopClassUid)) roles.set(item.sopClassUid, item)
  }
  return roles
}

const padAeTitle = (title: string): string => title.padEnd(16, " ")

// Whether a UID the peer sent can be written back in a PDU (the parser takes any Latin-1 text up to 64 characters).
const writableUid = (uid: string): boolean => {
  if (uid.length === 0) return false
  for (let i = 0; i < uid.length; i++) if (uid.charCodeAt(i) > 0x7e) return false
  return true
}

const implementationItems = (ae: ApplicationEntity): { classUid: UserItem; versionName: Array<UserItem> } => ({
  classUid: { _tag: "ImplementationClassUid", uid: ae.implementationClassUid },
  versionName:
    ae.implementationVersionName.length > 0
      ? [{ _tag: "ImplementationVersionName", name: ae.implementationVersionName }]
      : []
})

// ---- requestor ----

/** One presentation context to propose: an abstract syntax and its transfer syntaxes, preferred first. */
export interface ProposedContext {
  readonly abstractSyntax: string
  readonly transferSyntaxes: ReadonlyArray<string>
}

/** A role selection to propose: the roles we (the requestor) offer to take for a SOP class (PS3.7 D.3.3.4). */
export interface ProposedRole {
  readonly sopClassUid: string
  readonly scu: boolean
  readonly scp: boolean
}

/** What a requestor asks for; the calling AE title, Maximum Length and implementation come from the AE. */
export interface AssociateRequest {
  readonly calledAeTitle: string
  readonly contexts: ReadonlyArray<ProposedContext>
  readonly roles?: ReadonlyArray<ProposedRole>
  readonly extendedNegotiation?: ReadonlyArray<SopClassExtendedNegotiation>
  readonly commonExtendedNegotiation?: ReadonlyArray<SopClassCommonExtendedNegotiation>
  readonly userIdentity?: UserIdentityRq
  /** Outstanding operations we invoke; default the AE's. With performed, 1/1 sends no window item. */
  readonly maxOperationsInvoked?: number
  /** Outstanding operations we perform; default the AE's. */
  readonly maxOperationsPerformed?: number
}

// The error for an invalid UID, or undefined.
const badUid = (value: string, what: string): InvalidAssociateRequest | undefined => {
  const checked = Identifiers.uid(value)
  return Result.isFailure(checked)
    ? new InvalidAssociateRequest({ reason: `${what}: ${checked.failure.message}` })
    : undefined
}

const isU16 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffff

/**
 * Builds the A-ASSOCIATE-RQ for `request`: contexts numbered 1, 3, 5, ...; AE titles validated
 * and padded to 16; User Information with Maximum Length, Implementation Class UID, the
 * Asynchronous Operations Window (only when not 1/1), role selections, Implementation Version
 * Name, extended negotiation and user identity, in item type order.
 */
export const buildRequest = (
  ae: ApplicationEntity,
  request: AssociateRequest
): Result.Result<Pdu.AAssociateRq, NegotiationError> => Result.map(buildRequestEncoded(ae, request), (b) => b.rq)

/** `buildRequest`, with the A-ASSOCIATE-RQ's bytes as encoded to check it (sent as they are: encoded once). */
export const buildRequestEncoded = (
  ae: ApplicationEntity,
  request: AssociateRequest
): Result.Result<{ readonly rq: Pdu.AAssociateRq; readonly encoded: Uint8Array }, NegotiationError> => {
  const called = Identifiers.aeTitle(request.calledAeTitle)
  if (Result.isFailure(called)) {
    return Result.fail(new InvalidAssociateRequest({ reason: `called ${called.failure.message}` }))
  }
  const calling = Identifiers.aeTitle(ae.aeTitle)
  if (Result.isFailure(calling)) {
    return Result.fail(new InvalidAssociateRequest({ reason: `calling ${calling.failure.message}` }))
  }
  const count = request.contexts.length
  if (count === 0) return Result.fail(new InvalidAssociateRequest({ reason: "no presentation context proposed" }))
  const ids = Identifiers.presentationContextIds(count)
  if (Result.isFailure(ids)) return Result.fail(new TooManyPresentationContexts({ count }))

  const presentationContexts: Array<Pdu.PresentationContextRq> = []
  for (const [i, context] of request.contexts.entries()) {
    const id = ids.success[i]!
    const badAbstractSyntax = badUid(context.abstractSyntax, `abstract syntax of context ${id}`)
    if (badAbstractSyntax !== undefined) return Result.fail(badAbstractSyntax)
    const [first, ...rest] = context.transferSyntaxes
    if (first === undefined) {
      return Result.fail(new InvalidAssociateRequest({ reason: `context ${id} has no transfer syntax` }))
    }
    for (const ts of context.transferSyntaxes) {
      const bad = badUid(ts, `transfer syntax of context ${id}`)
      if (bad !== undefined) return Result.fail(bad)
    }
    presentationContexts.push({
      _tag: "PresentationContextRq",
      id,
      abstractSyntax: context.abstractSyntax,
      transferSyntaxes: [first, ...rest]
    })
  }

  const roles: Array<UserItem> = []
  for (const role of request.roles ?? []) {
    const bad = badUid(role.sopClassUid, "role selection SOP class")
    if (bad !== undefined) return Result.fail(bad)
    roles.push({
      _tag: "ScpScuRoleSelection",
      sopClassUid: role.sopClassUid,
      scuRole: role.scu ? 1 : 0,
      scpRole: role.scp ? 1 : 0
    })
  }

  const invoked = request.maxOperationsInvoked ?? ae.maxOperationsInvoked
  const performed = request.maxOperationsPerformed ?? ae.maxOperationsPerformed
  if (!isU16(invoked) || !isU16(performed)) {
    return Result.fail(
      new InvalidAssociateRequest({ reason: `asynchronous operations window ${invoked}/${performed} is not 0-65535` })
    )
  }
  const versionName = ae.implementationVersionName
  if (versionName.length > 16) {
    return Result.fail(new InvalidAssociateRequest({ reason: `implementation version name "${versionName}" > 16` }))
  }

  const implementation = implementationItems(ae)
  const userInformation: Array<UserItem> = [
    { _tag: "MaximumLength", maximumLength: ae.maxPduLength },
    implementation.classUid,
    ...(invoked === 1 && performed === 1
      ? []
      : [
          {
            _tag: "AsynchronousOperationsWindow" as const,
            maxOperationsInvoked: invoked,
            maxOperationsPerformed: performed
          }
        ]),
    ...roles,
    ...implementation.versionName,
    ...(request.extendedNegotiation ?? []),
    ...(request.commonExtendedNegotiation ?? []),
    ...(request.userIdentity === undefined ? [] : [request.userIdentity])
  ]

  const rq: Pdu.AAssociateRq = {
    _tag: "AAssociateRq",
    protocolVersion: PROTOCOL_VERSION,
    calledAeTitle: padAeTitle(called.success),
    callingAeTitle: padAeTitle(calling.success),
    applicationContextName: Pdu.DICOM_APPLICATION_CONTEXT,
    presentationContexts,
    userInformation,
    unknownItems: []
  }
  // The caller's extended negotiation and user identity items are taken as given: what cannot be encoded (a
  // non-ASCII SOP class UID, a field past 65,535 bytes) would leave nothing to send and the peer's answer awaited
  // until the ACSE timeout.
  const encodable = PduCodec.encodePdu(rq)
  if (Result.isFailure(encodable)) {
    return Result.fail(new InvalidAssociateRequest({ reason: encodable.failure.message }))
  }
  return Result.succeed({ rq, encoded: encodable.success })
}

// Requestor roles per PS3.7 D.3.3.4: without a role item on both sides, the requestor is SCU
// only; otherwise it takes each role both sides set to 1.
const requestorRoles = (
  proposed: RoleSelection | undefined,
  answered: RoleSelection | undefined
): { weAreScu: boolean; weAreScp: boolean } =>
  proposed === undefined || answered === undefined
    ? { weAreScu: true, weAreScp: false }
    : {
        weAreScu: proposed.scuRole === 1 && answered.scuRole === 1,
        weAreScp: proposed.scpRole === 1 && answered.scpRole === 1
      }

/**
 * Evaluates the A-ASSOCIATE-AC answering `rq` (the request we sent). A protocol version without bit 0, an Application
 * Context other than DICOM's (PS3.7 A.2.1), a context id we did not propose, a duplicate answer, or an acceptance with
 * a transfer syntax we did not propose for that context is an `InvalidAssociateAc`; a context left unanswered counts as
 * rejected with result 2. No accepted context is `NoAcceptableContext`.
 */
export const evaluateAccept = (
  ae: ApplicationEntity,
  rq: Pdu.AAssociateRq,
  ac: Pdu.AAssociateAc
): Result.Result<Negotiated, NegotiationError> => {
  // PS3.8 9.3.3: the acceptor's protocol version names with bit 0 the version it supports; without it, not ours.
  if ((ac.protocolVersion & 1) === 0) {
    const reason = `protocol version 0x${ac.protocolVersion.toString(16)} does not have bit 0 set`
    return Result.fail(new InvalidAssociateAc({ reason }))
  }
  // PS3.8 7.1.1.2 lets the acceptor name another application context than proposed; DIMSE runs only in DICOM's.
  if (ac.applicationContextName !== Pdu.DICOM_APPLICATION_CONTEXT) {
    const reason = `application context ${ac.applicationContextName} is not DICOM's (${Pdu.DICOM_APPLICATION_CONTEXT})`
    return Result.fail(new InvalidAssociateAc({ reason }))
  }
  const proposed = new Map(rq.presentationContexts.map((pc) => [pc.id, pc]))
  const answers = new Map<number, Pdu.PresentationContextAc>()
  for (const pc of ac.presentationContexts) {
    const ours = proposed.get(pc.id)
    if (ours === undefined) {
      return Result.fail(new InvalidAssociateAc({ reason: `presentation context ${pc.id} was not proposed` }))
    }
    if (answers.has(pc.id)) {
      return Result.fail(new InvalidAssociateAc({ reason: `presentation context ${pc.id} answered twice` }))
    }
    if (pc.result === 0 && (pc.transferSyntax === undefined || !ours.transferSyntaxes.includes(pc.transferSyntax))) {
      const ts = pc.transferSyntax ?? "(none)"
      const reason = `presentation context ${pc.id} accepted with transfer syntax ${ts}, which was not proposed for it`
      return Result.fail(new InvalidAssociateAc({ reason }))
    }
    answers.set(pc.id, pc)
  }

  const proposedRoles = rolesBySopClass(rq.userInformation)
  const answeredRoles = rolesBySopClass(ac.userInformation)
  const accepted: Array<AcceptedContext> = []
  const rejected: Array<RejectedContext> = []
  for (const pc of rq.presentationContexts) {
    const answer = answers.get(pc.id)
    if (answer === undefined) {
      rejected.push({ id: pc.id, abstractSyntax: pc.abstractSyntax, result: 2 })
    } else if (answer.result === 0) {
      const roles = requestorRoles(proposedRoles.get(pc.abstractSyntax), answeredRoles.get(pc.abstractSyntax))
      accepted.push({ id: pc.id, abstractSyntax: pc.abstractSyntax, transferSyntax: answer.transferSyntax!, ...roles })
    } else {
      rejected.push({ id: pc.id, abstractSyntax: pc.abstractSyntax, result: answer.result })
    }
  }
  if (accepted.length === 0) return Result.fail(new NoAcceptableContext({ rejected }))
  const peerMax = findItem(ac.userInformation, "MaximumLength")?.maximumLength ?? 0
  if (peerMax !== 0 && peerMax < MIN_PEER_MAX_PDU_LENGTH) {
    return Result.fail(
      new InvalidAssociateAc({ reason: `Maximum Length ${peerMax} is below ${MIN_PEER_MAX_PDU_LENGTH}` })
    )
  }

  const window = findItem(ac.userInformation, "AsynchronousOperationsWindow")
  return Result.succeed({
    localAeTitle: ae.aeTitle,
    peerAeTitle: Identifiers.trimAeTitle(rq.calledAeTitle),
    accepted,
    rejected,
    peerMaxPduLength: findItem(ac.userInformation, "MaximumLength")?.maximumLength ?? 0,
    peerImplementationClassUid: findItem(ac.userInformation, "ImplementationClassUid")?.uid,
    peerImplementationVersionName: findItem(ac.userInformation, "ImplementationVersionName")?.name,
    maxOperationsInvoked: window?.maxOperationsInvoked ?? 1,
    maxOperationsPerformed: window?.maxOperationsPerformed ?? 1,
    extendedNegotiation: filterItems(ac.userInformation, "SopClassExtendedNegotiation"),
    userIdentityResponse: findItem(ac.userInformation, "UserIdentityAc")?.serverResponse
  })
}

/**
 * `negotiated` with an Asynchronous Operations Window no larger than `rq` proposed, either way (0 meaning unlimited;
 * no window item meaning 1/1, PS3.7 D.3.3.3). `evaluateAccept` reports what the acceptor answered; an association
 * uses this: an acceptor granting 65535 (or unlimited) to a requestor that asked for none would otherwise have it keep
 * 65,535 requests outstanding, each holding its data set until answered, and have it run as many of the acceptor's.
 */
export const withinProposedWindow = (negotiated: Negotiated, rq: Pdu.AAssociateRq): Negotiated => {
  const proposed = findItem(rq.userInformation, "AsynchronousOperationsWindow")
  const invoked = minWindow(negotiated.maxOperationsInvoked, proposed?.maxOperationsInvoked ?? 1)
  const performed = minWindow(negotiated.maxOperationsPerformed, proposed?.maxOperationsPerformed ?? 1)
  return invoked === negotiated.maxOperationsInvoked && performed === negotiated.maxOperationsPerformed
    ? negotiated
    : { ...negotiated, maxOperationsInvoked: invoked, maxOperationsPerformed: performed }
}

// ---- acceptor ----

/** The acceptor's answer to an A-ASSOCIATE-RQ; an acceptance has its A-ASSOCIATE-AC's bytes (encoded to check it). */
export type AcceptorDecision =
  | {
      readonly _tag: "Accept"
      readonly ac: Pdu.AAssociateAc
      readonly encoded: Uint8Array
      readonly negotiated: Negotiated
    }
  | { readonly _tag: "Reject"; readonly rj: Pdu.AAssociateRj; readonly why: string }

const reject = (source: 1 | 2 | 3, reason: number, why: string): AcceptorDecision => ({
  _tag: "Reject",
  rj: { _tag: "AAssociateRj", result: 1, source, reason },
  why
})

const recognised = (matcher: AeTitleMatcher | undefined, title: string): boolean =>
  matcher === undefined
    ? true
    : typeof matcher === "function"
      ? matcher(title)
      : matcher.some((t) => Identifiers.sameAeTitle(t, title))

// min of two window sizes where 0 means unlimited.
const minWindow = (a: number, b: number): number => (a === 0 ? b : b === 0 ? a : Math.min(a, b))

const pickTransferSyntax = (
  proposed: ReadonlyArray<string>,
  ours: ReadonlyArray<string>,
  preferRequestorOrder: boolean
): string | undefined =>
  preferRequestorOrder ? proposed.find((ts) => ours.includes(ts)) : ours.find((ts) => proposed.includes(ts))

// Our answer to a proposed role item: the requestor may be SCU only if we act as SCP, and SCP
// only if we act as SCU; a role it did not propose is never granted (PS3.7 D.3.3.4).
const answerRole = (proposed: RoleSelection, supported: SupportedContext | undefined): RoleSelection => ({
  _tag: "ScpScuRoleSelection",
  sopClassUid: proposed.sopClassUid,
  scuRole: proposed.scuRole === 1 && supported !== undefined && (supported.scp ?? true) ? 1 : 0,
  scpRole: proposed.scpRole === 1 && supported !== undefined && (supported.scu ?? true) ? 1 : 0
})

/**
 * Answers an A-ASSOCIATE-RQ as the acceptor. Rejections (all permanent): protocol version
 * without bit 0 (source 2, reason 2); application context not DICOM's (1, 2); called AE not
 * recognised or not a valid AE title (1, 7); calling AE not recognised, not valid or blank (1, 3); no context, or
 * an even, duplicate or out-of-range context id (1, 1); user identity refused or required and missing
 * (1, 1). Each context is answered 0, 1 (no role left for us), 3 (abstract syntax not
 * supported) or 4 (no common transfer syntax).
 */
export const evaluateRequest = (
  ae: ApplicationEntity,
  rq: Pdu.AAssociateRq,
  policy: AcceptorPolicy
): AcceptorDecision => {
  if ((rq.protocolVersion & 1) === 0) {
    return reject(2, 2, `protocol version 0x${rq.protocolVersion.toString(16)} does not have bit 0 set`)
  }
  if (rq.applicationContextName !== Pdu.DICOM_APPLICATION_CONTEXT) {
    return reject(1, 2, `application context ${rq.applicationContextName} is not supported`)
  }
  const called = Identifiers.trimAeTitle(rq.calledAeTitle)
  // AE titles are echoed in the AC and the calling one is written in commands (a C-MOVE's originator): one with a
  // control, non-ASCII or backslash character could be written in neither.
  if (called.length > 0 && Result.isFailure(Identifiers.aeTitle(called))) {
    return reject(1, 7, `called AE title "${called}" is not a valid AE title`)
  }
  if (!recognised(policy.calledAeTitles, called)) return reject(1, 7, `called AE title "${called}" not recognised`)
  const calling = Identifiers.trimAeTitle(rq.callingAeTitle)
  if (calling.length === 0) return reject(1, 3, "calling AE title is blank")
  if (Result.isFailure(Identifiers.aeTitle(calling))) {
    return reject(1, 3, `calling AE title "${calling}" is not a valid AE title`)
  }
  if (!recognised(policy.callingAeTitles, calling)) return reject(1, 3, `calling AE title "${calling}" not recognised`)

  if (rq.presentationContexts.length === 0) return reject(1, 1, "no presentation context proposed")
  const peerMax = findItem(rq.userInformation, "MaximumLength")?.maximumLength ?? 0
  if (peerMax !== 0 && peerMax < MIN_PEER_MAX_PDU_LENGTH) {
    return reject(1, 1, `Maximum Length ${peerMax} is below ${MIN_PEER_MAX_PDU_LENGTH}`)
  }
  const ids = new Set<number>()
  for (const pc of rq.presentationContexts) {
    if (!Identifiers.isPresentationContextId(pc.id)) {
      return reject(1, 1, `presentation context id ${pc.id} is not an odd number 1-255`)
    }
    if (ids.has(pc.id)) return reject(1, 1, `presentation context id ${pc.id} proposed twice`)
    ids.add(pc.id)
  }

  const identity = findItem(rq.userInformation, "UserIdentityRq")
  if (identity === undefined && policy.requireUserIdentity === true) {
    return reject(1, 1, "user identity required but not given")
  }
  let identityResponse: Uint8Array | undefined
  if (identity !== undefined && policy.userIdentity !== undefined) {
    const decision = policy.userIdentity(identity)
    if (decision._tag === "Reject") return reject(1, 1, `user identity (type ${identity.identityType}) refused`)
    // PS3.7 D.3.3.7.2: a positive response, empty for identity types 1 and 2.
    if (identity.positiveResponseRequested) identityResponse = decision.response ?? new Uint8Array(0)
  }

  const extra = policy.commonExtendedNegotiation?.(filterItems(rq.userInformation, "SopClassCommonExtendedNegotiation"))
  const supported = [...ae.contexts, ...(extra ?? [])]
  const supportFor = (abstractSyntax: string) => supported.find((c) => c.abstractSyntax === abstractSyntax)

  const roleAnswers = new Map<string, RoleSelection>()
  for (const [uid, proposed] of rolesBySopClass(rq.userInformation)) {
    // an item whose UID could not be written back names no SOP class we support: left unanswered
    if (writableUid(uid)) roleAnswers.set(uid, answerRole(proposed, supportFor(uid)))
  }

  const preferRequestorOrder = policy.preferRequestorOrder === true
  const answers: Array<Pdu.PresentationContextAc> = []
  const accepted: Array<AcceptedContext> = []
  const rejected: Array<RejectedContext> = []
  for (const pc of rq.presentationContexts) {
    const refuse = (result: 1 | 3 | 4) => {
      const first = pc.transferSyntaxes[0]
      const transferSyntax =
        first !== undefined && writableUid(first) ? first : Uids.TransferSyntax.ImplicitVRLittleEndian
      answers.push({ _tag: "PresentationContextAc", id: pc.id, result, transferSyntax })
      rejected.push({ id: pc.id, abstractSyntax: pc.abstractSyntax, result })
    }
    const support = supportFor(pc.abstractSyntax)
    if (support === undefined) {
      refuse(3)
      continue
    }
    const transferSyntax = pickTransferSyntax(pc.transferSyntaxes, support.transferSyntaxes, preferRequestorOrder)
    if (transferSyntax === undefined) {
      refuse(4)
      continue
    }
    const role = roleAnswers.get(pc.abstractSyntax)
    const requestorScu = role === undefined ? true : role.scuRole === 1
    const requestorScp = role === undefined ? false : role.scpRole === 1
    const weAreScp = requestorScu && (support.scp ?? true)
    const weAreScu = requestorScp && (support.scu ?? true)
    if (!weAreScu && !weAreScp) {
      refuse(1)
      continue
    }
    answers.push({ _tag: "PresentationContextAc", id: pc.id, result: 0, transferSyntax })
    accepted.push({ id: pc.id, abstractSyntax: pc.abstractSyntax, transferSyntax, weAreScu, weAreScp })
  }
  if (accepted.length === 0 && policy.rejectWhenNoneAccepted === true) {
    return reject(1, 1, "no presentation context accepted")
  }

  const window = findItem(rq.userInformation, "AsynchronousOperationsWindow")
  // The AC's invoked: what the requestor may invoke (we perform); performed: what it performs (we invoke).
  const windowAnswer =
    window === undefined
      ? undefined
      : {
          _tag: "AsynchronousOperationsWindow" as const,
          maxOperationsInvoked: minWindow(window.maxOperationsInvoked, ae.maxOperationsPerformed),
          maxOperationsPerformed: minWindow(window.maxOperationsPerformed, ae.maxOperationsInvoked)
        }
  const extendedNegotiation =
    policy.extendedNegotiation?.(filterItems(rq.userInformation, "SopClassExtendedNegotiation")) ?? []

  const implementation = implementationItems(ae)
  const userInformation: Array<UserItem> = [
    { _tag: "MaximumLength", maximumLength: ae.maxPduLength },
    implementation.classUid,
    ...(windowAnswer === undefined ? [] : [windowAnswer]),
    ...roleAnswers.values(),
    ...implementation.versionName,
    ...extendedNegotiation,
    ...(identityResponse === undefined ? [] : [{ _tag: "UserIdentityAc" as const, serverResponse: identityResponse }])
  ]

  const ac: Pdu.AAssociateAc = {
    _tag: "AAssociateAc",
    protocolVersion: PROTOCOL_VERSION,
    // Echoed, normalised to space padding (PS3.8 9.3.3: reserved, not tested on receipt).
    calledAeTitle: padAeTitle(called),
    callingAeTitle: padAeTitle(calling),
    applicationContextName: Pdu.DICOM_APPLICATION_CONTEXT,
    presentationContexts: answers,
    userInformation,
    unknownItems: []
  }
  const negotiated: Negotiated = {
    localAeTitle: called.length > 0 ? called : ae.aeTitle,
    peerAeTitle: calling,
    accepted,
    rejected,
    peerMaxPduLength: findItem(rq.userInformation, "MaximumLength")?.maximumLength ?? 0,
    peerImplementationClassUid: findItem(rq.userInformation, "ImplementationClassUid")?.uid,
    peerImplementationVersionName: findItem(rq.userInformation, "ImplementationVersionName")?.name,
    maxOperationsInvoked: windowAnswer?.maxOperationsPerformed ?? 1,
    maxOperationsPerformed: windowAnswer?.maxOperationsInvoked ?? 1,
    extendedNegotiation,
    userIdentityResponse: identityResponse
  }
  // What cannot be encoded would never reach the peer, which would wait for an answer while we held the association
  // (role items for thousands of SOP classes answered past the 65,535 bytes of the User Information item, a
  // policy's extended negotiation): refused instead.
  const encodable = PduCodec.encodePdu(ac)
  if (Result.isFailure(encodable))
    return reject(1, 1, `the A-ASSOCIATE-AC cannot be encoded: ${encodable.failure.message}`)
  return { _tag: "Accept", ac, encoded: encodable.success, negotiated }
}
