// The PduParser before ac0e0d3 (closures), kept verbatim as the reference for PduParserDifferential.test.ts.
/**
 * An incremental PDU parser: push any chunking of a byte stream, get whole PDUs out (PS3.8 9.3.1).
 *
 * The size limit is checked on the 6-byte header, before any of the body is kept, and the parser
 * never allocates by a length it was sent: a PDU's bytes are joined only once they have all
 * arrived, and a PDU held whole inside one chunk is decoded in place (its PDV data are views).
 * With `pdvViews`, a P-DATA-TF spanning a few chunks is not joined either: a PDV whose data spans
 * chunks is handed out as several PDVs, one view per chunk, on the same presentation context and of
 * the same kind, only the last carrying the PDV's last-fragment bit (the same message, in more
 * fragments: PS3.8 E.2 gives fragment boundaries no meaning).
 * After an error the parser stays failed; PDUs decoded before the error are still returned.
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import { decodePdu, pduTypeName } from "../../src/PduCodec.ts"
import type { PDataTf, Pdu } from "../../src/Pdu.ts"
import type { Pdv } from "../../src/Pdv.ts"
import { PduDecodeError, PduTooLarge } from "../../src/PduError.ts"

/** Limits a parser enforces. */
export interface ParserOptions {
  /** The largest P-DATA-TF length field accepted: our Maximum Length (0 = no limit, PS3.8 D.1). */
  readonly maxPduLength: number
  /** The largest length field accepted for the other PDUs (association negotiation); default 1 MiB. */
  readonly maxControlPduLength?: number
  /**
   * Decode a P-DATA-TF that spans chunks in place, its PDV data as views (a PDV split at chunk boundaries into
   * several, see the module header), rather than joining its bytes into a fresh buffer; one spanning more than
   * `MAX_VIEW_CHUNKS` chunks (a peer dribbling bytes) is still joined. Default false: PDVs exactly as sent.
   */
  readonly pdvViews?: boolean
}

/** The most chunks a P-DATA-TF may span to be decoded as views with `pdvViews` (more are joined). */
export const MAX_VIEW_CHUNKS = 32

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

  // With `pdvViews`: a P-DATA-TF of `length` bytes after its header, spanning chunks, taken off as PDVs whose
  // data are views of the chunks. `undefined` (nothing taken) when it lies in one chunk, spans too many, or breaks
  // a rule of the PDV items: then the codec decodes the joined bytes, and says what is wrong.
  const takePDataViews = (length: number): PDataTf | undefined => {
    let need = 6 + length
    if (length === 0 || chunks[head]!.length >= need) return undefined
    for (let j = head; need > 0; j++) {
      if (j - head >= MAX_VIEW_CHUNKS) return undefined
      need -= chunks[j]!.length
    }
    // A cursor over chunks[head..]: chunk k, offset at (at may equal the chunk's length until the next read).
    let k = head
    let at = 6
    while (at >= chunks[k]!.length) at -= chunks[k++]!.length
    const u8 = (): number => {
      while (at >= chunks[k]!.length) {
        k++
        at = 0
      }
      return chunks[k]![at++]!
    }
    const pdvs: Array<Pdv> = []
    let remaining = length
    while (remaining > 0) {
      if (remaining < 4) return undefined
      const itemLength = ((u8() << 24) >>> 0) + (u8() << 16) + (u8() << 8) + u8()
      if (itemLength < 2 || itemLength > remaining - 4) return undefined
      remaining -= 4 + itemLength
      const presentationContextId = u8()
      const control = u8()
      const isCommand = (control & 0x01) !== 0
      const isLast = (control & 0x02) !== 0
      let left = itemLength - 2
      if (left === 0) {
        const c = chunks[k]!
        pdvs.push({ presentationContextId, isCommand, isLast, data: c.subarray(at, at) })
        continue
      }
      while (left > 0) {
        while (at >= chunks[k]!.length) {
          k++
          at = 0
        }
        const c = chunks[k]!
        const n = Math.min(c.length - at, left)
        left -= n
        pdvs.push({ presentationContextId, isCommand, isLast: isLast && left === 0, data: c.subarray(at, at + n) })
        at += n
      }
    }
    if (pdvs.length === 0) return undefined
    const last = chunks[k]!
    if (at >= last.length) head = k + 1
    else {
      chunks[k] = last.subarray(at)
      head = k
    }
    buffered -= 6 + length
    compact()
    return { _tag: "PDataTf", pdvs: pdvs as [Pdv, ...Array<Pdv>] }
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
        if (type === 0x04 && options.pdvViews === true) {
          const viewed = takePDataViews(length)
          if (viewed !== undefined) {
            pdus.push(viewed)
            continue
          }
        }
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
