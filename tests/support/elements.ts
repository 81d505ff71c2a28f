/**
 * Data elements written by hand, Explicit VR Little Endian (PS3.5 7.1.2), for tests that need exact bytes: a file
 * meta group or a data set dcmjs would not write as it is.
 */
import { Buffer } from "node:buffer"

/** VRs with a 4-byte length after two reserved bytes (PS3.5 Table 7.1-1). */
const LONG = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"])

/** One element: tag, VR, length, value (the value as given: pad it to an even length yourself). */
export const element = (group: number, elem: number, vr: string, value: Buffer): Buffer => {
  const long = LONG.has(vr)
  const header = Buffer.alloc(long ? 12 : 8)
  header.writeUInt16LE(group, 0)
  header.writeUInt16LE(elem, 2)
  header.write(vr, 4, "latin1")
  if (long) header.writeUInt32LE(value.length, 8)
  else header.writeUInt16LE(value.length, 6)
  return Buffer.concat([header, value])
}

/** A UI value, padded with a NUL to an even length. */
export const uid = (s: string): Buffer => Buffer.from(s.length % 2 === 0 ? s : `${s}\0`, "latin1")

/** A text element, its value padded to an even length (a NUL for UI, a space otherwise, PS3.5 6.2). */
export const text = (group: number, elem: number, vr: string, value: string): Buffer => {
  const bytes = Buffer.from(value, "utf8")
  return element(
    group,
    elem,
    vr,
    bytes.length % 2 === 0 ? bytes : Buffer.concat([bytes, Buffer.of(vr === "UI" ? 0 : 0x20)])
  )
}

/** An item of defined length (FFFE,E000) holding `body`. */
export const item = (body: Buffer): Buffer => {
  const head = Buffer.alloc(8)
  head.writeUInt16LE(0xfffe, 0)
  head.writeUInt16LE(0xe000, 2)
  head.writeUInt32LE(body.length, 4)
  return Buffer.concat([head, body])
}

/**
 * A Part 10 file (PS3.10 7.1): preamble, "DICM", the File Meta Information (its group length, version, SOP class
 * and instance, transfer syntax) and `dataSet` as given, in `transferSyntax` (Explicit VR Little Endian by default).
 */
export const part10File = (
  sopClassUid: string,
  sopInstanceUid: string,
  dataSet: ReadonlyArray<Buffer>,
  transferSyntax = "1.2.840.10008.1.2.1"
): Buffer => {
  const meta = Buffer.concat([
    element(2, 1, "OB", Buffer.of(0, 1)),
    text(2, 2, "UI", sopClassUid),
    text(2, 3, "UI", sopInstanceUid),
    text(2, 0x10, "UI", transferSyntax)
  ])
  const length = Buffer.alloc(4)
  length.writeUInt32LE(meta.length, 0)
  const preamble = Buffer.alloc(132)
  preamble.write("DICM", 128, "latin1")
  return Buffer.concat([preamble, element(2, 0, "UL", length), meta, ...dataSet])
}
