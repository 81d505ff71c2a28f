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
