/**
 * The local Application Entity: who we are and what we offer when we negotiate (PS3.7 Annex D,
 * PS3.8 section 7.1).
 *
 * A plain value, validated once by `make`: the AE title, the abstract syntaxes we support with
 * their transfer syntaxes (in order of preference) and the roles we take for each, our maximum
 * PDU length, implementation identifiers and timeouts. Negotiation and the runtime read it.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { Identifiers } from "@netdicom/wire"

/** Our implementation class UID (under a UID root for test and open-source use) and version name. */
export const IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.10.1478.1"
export const IMPLEMENTATION_VERSION_NAME = "NETDICOM_010"

/** The transfer syntaxes every DICOM AE must support, Implicit VR LE first (PS3.5 10.1). */
export const IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
export const EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
export const EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
export const DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"

/** Transfer syntaxes that need no codec: the defaults proposed and accepted. */
export const UNCOMPRESSED_TRANSFER_SYNTAXES: ReadonlyArray<string> = [
  EXPLICIT_VR_LITTLE_ENDIAN,
  IMPLICIT_VR_LITTLE_ENDIAN,
  EXPLICIT_VR_BIG_ENDIAN
]

/** What we support for one abstract syntax (SOP class). */
export interface SupportedContext {
  readonly abstractSyntax: string
  /** In order of preference; the acceptor picks the first of its own list the requestor proposed. */
  readonly transferSyntaxes: ReadonlyArray<string>
  /** We act as SCU for this SOP class (default true). */
  readonly scu?: boolean
  /** We act as SCP for this SOP class (default true on an acceptor, false on a requestor). */
  readonly scp?: boolean
}

/** Timeouts, each applying to one wait; each positive (`make` refuses zero or less), `Duration.infinity` for none. */
export interface Timeouts {
  /** TCP connect. */
  readonly connect: Duration.Duration
  /** Waiting for the peer's A-ASSOCIATE-AC/RJ or A-RELEASE-RP; also the ARTIM timer (PS3.8 9.1.5). */
  readonly acse: Duration.Duration
  /** Waiting for a DIMSE response. */
  readonly dimse: Duration.Duration
  /**
   * Waiting for the final response of a C-FIND, C-GET or C-MOVE after we sent its C-CANCEL-RQ (never longer than
   * `dimse`); past it the association is aborted. A peer answers a C-CANCEL at once, or after the one sub-operation
   * under way: seconds, where `dimse` is sized for a peer that works on a request.
   */
  readonly cancel: Duration.Duration
  /**
   * An association with no PDU in either direction for this long is aborted; one we requested, with nothing
   * outstanding on it, is released instead (`Scu.connect`).
   */
  readonly idle: Duration.Duration
  /** A write the peer does not take within this is abandoned and the connection destroyed. */
  readonly write: Duration.Duration
}

/** The local Application Entity. */
export interface ApplicationEntity {
  readonly aeTitle: string
  readonly contexts: ReadonlyArray<SupportedContext>
  /** The largest P-DATA-TF we receive (our Maximum Length sub-item); 0 = no limit. */
  readonly maxPduLength: number
  readonly implementationClassUid: string
  readonly implementationVersionName: string
  readonly timeouts: Timeouts
  /** Asynchronous Operations Window we offer: outstanding operations invoked/performed (1/1 = none). */
  readonly maxOperationsInvoked: number
  readonly maxOperationsPerformed: number
}

/** Default timeouts: 10 s connect, 30 s ACSE and write, 60 s DIMSE, 5 s after a C-CANCEL, 10 min idle. */
export const defaultTimeouts: Timeouts = {
  connect: Duration.seconds(10),
  acse: Duration.seconds(30),
  dimse: Duration.seconds(60),
  cancel: Duration.seconds(5),
  idle: Duration.minutes(10),
  write: Duration.seconds(30)
}

const timeouts = (given: { readonly [K in keyof Timeouts]?: Duration.Input }): Timeouts | string => {
  const out: Record<string, Duration.Duration> = {}
  for (const k of Object.keys(defaultTimeouts) as Array<keyof Timeouts>) {
    const v = given[k]
    if (v === undefined) {
      out[k] = defaultTimeouts[k]
      continue
    }
    const d = Duration.fromInput(v)
    if (Option.isNone(d)) return `${k} timeout ${String(v)} is not a duration`
    // A zero or negative wait would end every association, or every request, at once: none is Duration.infinity.
    if (!Duration.isGreaterThan(d.value, Duration.zero)) {
      return `${k} timeout ${Duration.format(d.value)} is not positive (Duration.infinity for none)`
    }
    out[k] = d.value
  }
  return out as unknown as Timeouts
}

/** A configuration the standard forbids. */
export class InvalidApplicationEntity extends Data.TaggedError("InvalidApplicationEntity")<{ readonly rule: string }> {
  override get message(): string {
    return `invalid Application Entity: ${this.rule}`
  }
}

/** What `make` takes: only the AE title is required. */
export interface ApplicationEntityOptions {
  readonly aeTitle: string
  readonly contexts?: ReadonlyArray<SupportedContext>
  readonly maxPduLength?: number
  readonly implementationClassUid?: string
  readonly implementationVersionName?: string
  readonly timeouts?: { readonly [K in keyof Timeouts]?: Duration.Input }
  readonly maxOperationsInvoked?: number
  readonly maxOperationsPerformed?: number
}

/** Validates and completes an Application Entity. */
export const make = (options: ApplicationEntityOptions): Result.Result<ApplicationEntity, InvalidApplicationEntity> => {
  const title = Identifiers.aeTitle(options.aeTitle)
  if (Result.isFailure(title)) return Result.fail(new InvalidApplicationEntity({ rule: title.failure.message }))
  const maxPduLength = options.maxPduLength ?? 262144
  if (!Number.isInteger(maxPduLength) || maxPduLength < 0 || maxPduLength > 0xffffffff) {
    return Result.fail(
      new InvalidApplicationEntity({
        rule: `maximum PDU length ${maxPduLength}: must be 0 (no limit) or 1024-4294967295`
      })
    )
  }
  if (maxPduLength !== 0 && maxPduLength < 1024) {
    return Result.fail(new InvalidApplicationEntity({ rule: `maximum PDU length ${maxPduLength} is below 1024` }))
  }
  for (const c of options.contexts ?? []) {
    for (const uid of [c.abstractSyntax, ...c.transferSyntaxes]) {
      const r = Identifiers.uid(uid)
      if (Result.isFailure(r)) return Result.fail(new InvalidApplicationEntity({ rule: r.failure.message }))
    }
    if (c.transferSyntaxes.length === 0) {
      return Result.fail(new InvalidApplicationEntity({ rule: `${c.abstractSyntax} has no transfer syntax` }))
    }
  }
  const t = timeouts(options.timeouts ?? {})
  if (typeof t === "string") return Result.fail(new InvalidApplicationEntity({ rule: t }))
  return Result.succeed({
    aeTitle: title.success,
    contexts: options.contexts ?? [],
    maxPduLength,
    implementationClassUid: options.implementationClassUid ?? IMPLEMENTATION_CLASS_UID,
    implementationVersionName: options.implementationVersionName ?? IMPLEMENTATION_VERSION_NAME,
    timeouts: t,
    maxOperationsInvoked: options.maxOperationsInvoked ?? 1,
    maxOperationsPerformed: options.maxOperationsPerformed ?? 1
  })
}
