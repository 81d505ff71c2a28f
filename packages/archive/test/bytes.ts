/**
 * Data elements built byte by byte (PS3.5 7.1), for tests that feed the header reader exactly what a peer could send:
 * little endian, explicit or implicit VR, defined or undefined lengths.
 */
import { Buffer } from "node:buffer"

/** An element to write; `undefinedLength` for a sequence (or a lie) written with delimiters. */
export interface El {
  readonly tag: number
  readonly vr: string
  readonly value: Uint8Array
  /** An undefined length, for a sequence of items written with delimiters. */
  readonly undefinedLength?: boolean
}

/** VRs with a 4-byte length after two reserved bytes in explicit VR (PS3.5 Table 7.1-1). */
export const LONG_VRS = new Set(["OB", "OW", "OF", "SQ", "UC", "UR", "UT", "UN", "OD", "UV", "OL", "OV", "SV"])

export const u16 = (n: number) => Uint8Array.of(n & 0xff, (n >> 8) & 0xff)
export const u32 = (n: number) => Uint8Array.of(n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff)
export const cat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => new Uint8Array(Buffer.concat(parts))

/** One element, little endian, explicit or implicit VR. */
export const element = (e: El, explicit: boolean): Uint8Array => {
  const length = e.undefinedLength === true ? 0xffffffff : e.value.length
  const tag = cat([u16(e.tag >>> 16), u16(e.tag & 0xffff)])
  if (!explicit) return cat([tag, u32(length), e.value])
  const vr = Uint8Array.from([...e.vr].map((c) => c.charCodeAt(0) & 0xff))
  return LONG_VRS.has(e.vr) ? cat([tag, vr, u16(0), u32(length), e.value]) : cat([tag, vr, u16(length), e.value])
}

/** The Sequence Delimitation Item (FFFE,E0DD). */
export const SEQUENCE_END = cat([u16(0xfffe), u16(0xe0dd), u32(0)])
