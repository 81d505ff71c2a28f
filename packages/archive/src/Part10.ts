/**
 * Where the data set starts in a stored Part 10 file (PS3.10 7.1): after the 128 byte preamble, the
 * `DICM` prefix and the File Meta Information group, whose group length (0002,0000) comes first.
 *
 * Writing the wrapper is `Part10.writeMeta` of `@netdicom/net`: the storage SCP puts it in front of a
 * received bare data set. A C-GET/C-MOVE SCP sends the bare data set again from `dataSetOffset`; the
 * data set bytes are never touched, so a deflated or encapsulated data set is stored and sent as it came.
 *
 * @since 0.1.0
 */

const PREAMBLE_LENGTH = 128

/**
 * Where the data set starts in Part 10 bytes: after the File Meta Information group, whose length (0002,0000)
 * must come first. Undefined when the bytes do not start that way (or are too short to tell).
 */
export const dataSetOffset = (bytes: Uint8Array): number | undefined => {
  const at = PREAMBLE_LENGTH + 4
  if (bytes.length < at + 12) return undefined
  if (String.fromCharCode(...bytes.subarray(PREAMBLE_LENGTH, at)) !== "DICM") return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const isGroupLength = view.getUint16(at, true) === 0x0002 && view.getUint16(at + 2, true) === 0x0000
  if (!isGroupLength || String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!) !== "UL") return undefined
  return at + 12 + view.getUint32(at + 8, true)
}
