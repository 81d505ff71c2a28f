/**
 * Errors of the upper-layer PDU codec (PS3.8 section 9.3).
 *
 * Every decode failure names the PDU (and the item, where there is one), the byte offset at which
 * the rule was broken, and the rule. The association layer maps them to A-ABORT with source 2
 * (service provider) and the PS3.8 Table 9-26 reason this module suggests.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/** A-ABORT provider reasons (PS3.8 Table 9-26) a decode error maps to. */
export type AbortReason =
  | 0 // reason not specified
  | 1 // unrecognized PDU
  | 2 // unexpected PDU
  | 4 // unrecognized PDU parameter
  | 5 // unexpected PDU parameter
  | 6 // invalid PDU parameter value

/** Bytes that break a rule of PS3.8 section 9.3: a malformed PDU or item. */
export class PduDecodeError extends Data.TaggedError("PduDecodeError")<{
  readonly pdu: string
  readonly item: string | undefined
  readonly offset: number
  readonly rule: string
  readonly abortReason: AbortReason
}> {
  override get message(): string {
    const where = this.item === undefined ? this.pdu : `${this.pdu} ${this.item}`
    return `${where} at byte ${this.offset}: ${this.rule}`
  }
}

/** A PDU whose length field exceeds the limit we accept, caught before its body is read. */
export class PduTooLarge extends Data.TaggedError("PduTooLarge")<{
  readonly pduType: number
  readonly length: number
  readonly limit: number
}> {
  override get message(): string {
    const pduType = `0x${this.pduType.toString(16).padStart(2, "0")}`
    return `PDU type ${pduType} of ${this.length} bytes exceeds the limit of ${this.limit}`
  }
}

/** A value that cannot be encoded as the standard says (an AE title of 17 bytes, an even context id...). */
export class PduEncodeError extends Data.TaggedError("PduEncodeError")<{
  readonly pdu: string
  readonly rule: string
}> {
  override get message(): string {
    return `${this.pdu}: ${this.rule}`
  }
}

/** Every error of the PDU codec. */
export type PduError = PduDecodeError | PduTooLarge | PduEncodeError
