/**
 * An incremental PDU parser: push any chunking of a byte stream, get whole PDUs out (PS3.8 9.3.1).
 *
 * The size limit is checked on the 6-byte header, before any of the body is kept, and the parser
 * never allocates by a length it was sent: a PDU's bytes are joined only once they have all
 * arrived, and a PDU held whole inside one chunk is decoded in place (its PDV data are views).
 * After an error the parser stays failed; PDUs decoded before the error are still returned.
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import { decodePdu, pduTypeName } from "./PduCodec.ts"
import type { Pdu } from "./Pdu.ts"
import { PduDecodeError, PduTooLarge } from "./PduError.ts"

/** Limits a parser enforces. */
export interface ParserOptions {
  /** The largest P-DATA-TF length field accepted: our Maximum Length (0 = no limit, PS3.8 D.1). */
  readonly maxPduLength: number
  /** The largest length field accepted for the other PDUs (association negotiation); default 1 MiB. */
  readonly maxControlPduLength?: number
}

/** What one push yields: the whole PDUs found, and the error that stopped parsing, if any. */
export interface PushResult {
  readonly pdus: ReadonlyArray<Pdu>
  readonly error: PduDecodeError | PduTooLarge | undefined
}

/** A stateful parser; see the module header. */
export interface PduParser {
  push(chunk: Uint8Array): PushResult
  /** Bytes received and not yet part of a whole PDU (0 at a PDU boundary). */
  readonly buffered: number
}

const DEFAULT_CONTROL_LIMIT = 1 << 20
const NO_PDUS: ReadonlyArray<Pdu> = []

/** Makes a parser with the given limits. */
export const make = (options: ParserOptions): PduParser => {
  const controlLimit = options.maxControlPduLength ?? DEFAULT_CONTROL_LIMIT
  // Received chunks not yet consumed are chunks[head..]; a head index (not `shift`) keeps a PDU that
  // arrived one byte at a time linear to take apart.
  let chunks: Array<Uint8Array> = []
  let head = 0
  let buffered = 0
  let failed: PduDecodeError | PduTooLarge | undefined

  const byteAt = (i: number): number => {
    for (let k = head; k < chunks.length; k++) {
      const c = chunks[k]!
      if (i < c.length) return c[i]!
      i -= c.length
    }
    return 0
  }

  const compact = () => {
    if (head === chunks.length) {
      chunks = []
      head = 0
    } else if (head > 64 && head * 2 > chunks.length) {
      chunks = chunks.slice(head)
      head = 0
    }
  }

  // Removes and returns the first n buffered bytes, joining chunks only when the PDU spans them.
  const take = (n: number): Uint8Array => {
    const first = chunks[head]!
    if (first.length >= n) {
      const out = first.subarray(0, n)
      if (first.length === n) head++
      else chunks[head] = first.subarray(n)
      buffered -= n
      compact()
      return out
    }
    const out = new Uint8Array(n)
    let at = 0
    while (at < n) {
      const c = chunks[head]!
      const k = Math.min(c.length, n - at)
      out.set(k === c.length ? c : c.subarray(0, k), at)
      at += k
      if (k === c.length) head++
      else chunks[head] = c.subarray(k)
    }
    buffered -= n
    compact()
    return out
  }

  const check = (type: number, length: number): PduDecodeError | PduTooLarge | undefined => {
    if (type < 0x01 || type > 0x07) {
      return new PduDecodeError({
        pdu: pduTypeName(type),
        item: undefined,
        offset: 0,
        rule: "unrecognized PDU type",
        abortReason: 1
      })
    }
    const limit = type === 0x04 ? options.maxPduLength : controlLimit
    if (limit > 0 && length > limit) return new PduTooLarge({ pduType: type, length, limit })
    return undefined
  }

  return {
    get buffered() {
      return buffered
    },
    push(chunk) {
      if (failed !== undefined) return { pdus: NO_PDUS, error: failed }
      if (chunk.length > 0) {
        chunks.push(chunk)
        buffered += chunk.length
      }
      const pdus: Array<Pdu> = []
      while (buffered >= 6) {
        const type = byteAt(0)
        const length = ((byteAt(2) << 24) >>> 0) + (byteAt(3) << 16) + (byteAt(4) << 8) + byteAt(5)
        const bad = check(type, length)
        if (bad !== undefined) {
          failed = bad
          return { pdus, error: bad }
        }
        if (buffered < 6 + length) break
        const decoded = decodePdu(take(6 + length))
        if (Result.isFailure(decoded)) {
          failed = decoded.failure
          return { pdus, error: decoded.failure }
        }
        pdus.push(decoded.success)
      }
      return { pdus, error: undefined }
    }
  }
}
