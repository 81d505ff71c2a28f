/**
 * Presentation Data Values (PS3.8 section 9.3.5.1 and Annex E.2).
 *
 * A PDV is one fragment of a DIMSE message: a command set or a data set, sent on a presentation
 * context. Its message control header says which of the two it carries and whether it is the last
 * fragment. This module only describes PDVs; PDU framing lives in `PduCodec`.
 *
 * @since 0.1.0
 */

/** One presentation data value; `data` is usually a view into a received buffer (no copy). */
export interface Pdv {
  readonly presentationContextId: number
  readonly isCommand: boolean
  readonly isLast: boolean
  readonly data: Uint8Array
}

/** Bytes in front of every PDV's data: 4 bytes item length, 1 byte context id, 1 byte control header. */
export const PDV_HEADER_LENGTH = 6

/** Bytes in front of the first PDV of a P-DATA-TF PDU: type, reserved, 4 bytes length. */
export const PDU_HEADER_LENGTH = 6

/** Bit 0 of the message control header: 1 for a command, 0 for a data set. */
export const CONTROL_COMMAND = 0x01

/** Bit 1 of the message control header: 1 for the last fragment. */
export const CONTROL_LAST = 0x02

/** Builds a PDV. */
export const make = (presentationContextId: number, isCommand: boolean, isLast: boolean, data: Uint8Array): Pdv => ({
  presentationContextId,
  isCommand,
  isLast,
  data
})

/** The message control header byte for a PDV. */
export const controlHeader = (pdv: Pick<Pdv, "isCommand" | "isLast">): number =>
  (pdv.isCommand ? CONTROL_COMMAND : 0) | (pdv.isLast ? CONTROL_LAST : 0)

/** The largest PDV data fragment that fits a P-DATA-TF PDU whose length field may be `maxPduLength`. */
export const maxFragmentLength = (maxPduLength: number): number => Math.max(1, maxPduLength - PDV_HEADER_LENGTH)
