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
import { decodePdu, pduTypeName } from "./PduCodec.ts"
import type { PDataTf, Pdu } from "./Pdu.ts"
import type { Pdv } from "./Pdv.ts"
import { PduDecodeError, PduTooLarge } from "./PduError.ts"

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

/**
 * What one push yields: the whole PDUs found, the error that stopped parsing, if any, and the bytes the parser holds
 * after it (`buffered`, without a second call).
 */
export interface PushResult {
  readonly pdus: ReadonlyArray<Pdu>
  readonly error: PduDecodeError | PduTooLarge | undefined
  readonly buffered: number
}

/** A stateful parser; see the module header. */
export interface PduParser {
  push(chunk: Uint8Array): PushResult
  /** Bytes received and not yet part of a whole PDU (0 at a PDU boundary). */
  readonly buffered: number
}

const DEFAULT_CONTROL_LIMIT = 1 << 20

/**
 * The control-PDU limit for an acceptor (`maxControlPduLength`), 256 KiB: the only large PDU an acceptor receives is
 * the A-ASSOCIATE-RQ, decoded in one go once whole, at ~40-50 ms of the event loop per MiB of sub-items. PS3.8 sets
 * no limit, and neither do DCMTK (dcmnet/libsrc/dulfsm.cc, `readPDUHead`: only a P-DATA-TF is held to the maximum
 * length, `readPDU` allocates the length field's size for any other) nor pynetdicom (pynetdicom/dul.py,
 * `_read_pdu_data` reads the length field's bytes whatever the type). A real one stays well under it: 128 contexts
 * of 20 transfer syntaxes each, every UID of 64 characters, take 184 KB.
 */
export const ACCEPTOR_CONTROL_LIMIT = 256 * 1024

// Reads shorter than this that leave the PDU under way unfinished, once it spans more than MAX_VIEW_CHUNKS reads, are
// copied into a buffer of the parser's own, grown by doubling from GATHER_MIN to GATHER_MAX (then another is begun):
// kept as they came, a PDU dribbled one byte per read held a Buffer (~200 bytes) per byte until it was whole.
const SMALL_CHUNK = 1024
const GATHER_MIN = 4096
const GATHER_MAX = 64 * 1024
const NO_PDUS: ReadonlyArray<Pdu> = []

/** Makes a parser with the given limits. */
export const make = (options: ParserOptions): PduParser => new Parser(options)

// A class rather than closures made per parser: V8 then compiles one version of its methods for every
// association (optimized code made for one closure is made again once a second exists).
class Parser implements PduParser {
  readonly #maxPduLength: number
  readonly #controlLimit: number
  readonly #pdvViews: boolean
  // Received chunks not yet consumed are chunks[head..]; a head index (not `shift`) keeps a PDU that
  // arrived one byte at a time linear to take apart.
  #chunks: Array<Uint8Array> = []
  #head = 0
  #buffered = 0
  #failed: PduDecodeError | PduTooLarge | undefined = undefined
  // Bytes the PDU under way still lacks once its header was read and it was found unfinished, else 0.
  #missing = 0
  // Small reads gathered (the first `#gatheredLength` bytes of `#gathered`), not yet in `#chunks`: they follow them.
  #gathered: Uint8Array | undefined = undefined
  #gatheredLength = 0

  constructor(options: ParserOptions) {
    this.#maxPduLength = options.maxPduLength
    this.#controlLimit = options.maxControlPduLength ?? DEFAULT_CONTROL_LIMIT
    this.#pdvViews = options.pdvViews === true
  }

  get buffered(): number {
    return this.#buffered
  }

  #byteAt(i: number): number {
    const chunks = this.#chunks
    for (let k = this.#head; k < chunks.length; k++) {
      const c = chunks[k]!
      if (i < c.length) return c[i]!
      i -= c.length
    }
    return 0
  }

  #compact(): void {
    const head = this.#head
    if (head === this.#chunks.length) {
      this.#chunks = []
      this.#head = 0
    } else if (head > 64 && head * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(head)
      this.#head = 0
    }
  }

  // Removes and returns the first n buffered bytes, joining chunks only when the PDU spans them.
  #take(n: number): Uint8Array {
    const chunks = this.#chunks
    const first = chunks[this.#head]!
    if (first.length >= n) {
      const out = first.subarray(0, n)
      if (first.length === n) this.#head++
      else chunks[this.#head] = first.subarray(n)
      this.#buffered -= n
      this.#compact()
      return out
    }
    const out = new Uint8Array(n)
    let at = 0
    while (at < n) {
      const c = chunks[this.#head]!
      const k = Math.min(c.length, n - at)
      out.set(k === c.length ? c : c.subarray(0, k), at)
      at += k
      if (k === c.length) this.#head++
      else chunks[this.#head] = c.subarray(k)
    }
    this.#buffered -= n
    this.#compact()
    return out
  }

  // With `pdvViews`: a P-DATA-TF of `length` bytes after its header, spanning chunks, taken off as PDVs whose
  // data are views of the chunks. `undefined` (nothing taken) when it lies in one chunk, spans too many, or breaks
  // a rule of the PDV items: then the codec decodes the joined bytes, and says what is wrong.
  #takePDataViews(length: number): PDataTf | undefined {
    const chunks = this.#chunks
    const head = this.#head
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
      let itemLength: number
      let presentationContextId: number
      let control: number
      const c = chunks[k]!
      if (at + 6 <= c.length) {
        // The item's header in this chunk (the usual case): read in place, without a call per byte.
        itemLength = ((c[at]! << 24) >>> 0) + (c[at + 1]! << 16) + (c[at + 2]! << 8) + c[at + 3]!
        if (itemLength < 2 || itemLength > remaining - 4) return undefined
        presentationContextId = c[at + 4]!
        control = c[at + 5]!
        at += 6
      } else {
        itemLength = ((u8() << 24) >>> 0) + (u8() << 16) + (u8() << 8) + u8()
        if (itemLength < 2 || itemLength > remaining - 4) return undefined
        presentationContextId = u8()
        control = u8()
      }
      remaining -= 4 + itemLength
      const isCommand = (control & 0x01) !== 0
      const isLast = (control & 0x02) !== 0
      let left = itemLength - 2
      if (left === 0) {
        // no view of the read (see the one-chunk path below)
        pdvs.push({ presentationContextId, isCommand, isLast, data: new Uint8Array(0) })
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
    if (at >= last.length) this.#head = k + 1
    else {
      chunks[k] = last.subarray(at)
      this.#head = k
    }
    this.#buffered -= 6 + length
    // `#compact`'s usual cases, here: every chunk taken, or a head too short to be worth cutting off
    if (this.#head === chunks.length) {
      this.#chunks = []
      this.#head = 0
    } else if (this.#head > 64) this.#compact()
    return { _tag: "PDataTf", pdvs: pdvs as [Pdv, ...Array<Pdv>] }
  }

  #check(type: number, length: number): PduDecodeError | PduTooLarge | undefined {
    if (type < 0x01 || type > 0x07) {
      return new PduDecodeError({
        pdu: pduTypeName(type),
        item: undefined,
        offset: 0,
        rule: "unrecognized PDU type",
        abortReason: 1
      })
    }
    const limit = type === 0x04 ? this.#maxPduLength : this.#controlLimit
    if (limit > 0 && length > limit) return new PduTooLarge({ pduType: type, length, limit })
    return undefined
  }

  // A P-DATA-TF whole in the first chunk, of `length` bytes after its header, taken off in one pass: its PDVs views of
  // the chunk, as `decodePdu` would give them. `undefined` (nothing taken) when a PDV item breaks a rule (no item, a
  // length under 2 or past the PDU's end): then `decodePdu` decodes it and says what is wrong.
  #takePDataInPlace(first: Uint8Array, length: number): PDataTf | undefined {
    const end = 6 + length
    const pdvs: Array<Pdv> = []
    let at = 6
    while (at < end) {
      if (end - at < 4) return undefined
      const itemLength = ((first[at]! << 24) >>> 0) + (first[at + 1]! << 16) + (first[at + 2]! << 8) + first[at + 3]!
      at += 4
      if (itemLength < 2 || itemLength > end - at) return undefined
      const control = first[at + 1]!
      pdvs.push({
        presentationContextId: first[at]!,
        isCommand: (control & 0x01) !== 0,
        isLast: (control & 0x02) !== 0,
        // an empty PDV holds no view of the read: the read may be freed (detached) while it is still queued, and a
        // view of a detached buffer cannot even be copied (`new Uint8Array(view)` throws)
        data: itemLength === 2 ? new Uint8Array(0) : first.subarray(at + 2, at + itemLength)
      })
      at += itemLength
    }
    if (pdvs.length === 0) return undefined
    this.#buffered -= end
    if (first.length !== end) this.#chunks[this.#head] = first.subarray(end)
    else if (++this.#head === this.#chunks.length) {
      // `#compact`'s usual case, here: the chunks all taken (one call fewer per PDU)
      this.#chunks = []
      this.#head = 0
    } else this.#compact()
    return { _tag: "PDataTf", pdvs: pdvs as [Pdv, ...Array<Pdv>] }
  }

  // Copies a small read into the gathering buffer, growing it (or handing it to `#chunks` once at its largest).
  #gather(chunk: Uint8Array): void {
    let buffer = this.#gathered
    const used = this.#gatheredLength
    if (buffer === undefined || used + chunk.length > buffer.length) {
      if (buffer !== undefined && buffer.length >= GATHER_MAX) {
        this.#chunks.push(buffer.subarray(0, used))
        buffer = undefined
      }
      const kept = buffer === undefined ? 0 : used
      let size = buffer === undefined ? GATHER_MIN : buffer.length * 2
      while (size < kept + chunk.length) size *= 2
      const grown = new Uint8Array(Math.min(size, GATHER_MAX))
      if (buffer !== undefined) grown.set(buffer.subarray(0, used))
      this.#gathered = grown
      this.#gatheredLength = kept
      buffer = grown
    }
    buffer.set(chunk, this.#gatheredLength)
    this.#gatheredLength += chunk.length
  }

  push(chunk: Uint8Array): PushResult {
    if (this.#failed !== undefined) return { pdus: NO_PDUS, error: this.#failed, buffered: this.#buffered }
    if (chunk.length < SMALL_CHUNK && chunk.length < this.#missing) {
      this.#gather(chunk)
      this.#missing -= chunk.length
      this.#buffered += chunk.length
      return { pdus: NO_PDUS, error: undefined, buffered: this.#buffered }
    }
    this.#missing = 0
    if (this.#gathered !== undefined) {
      this.#chunks.push(this.#gathered.subarray(0, this.#gatheredLength))
      this.#gathered = undefined
      this.#gatheredLength = 0
    }
    if (chunk.length > 0) {
      this.#chunks.push(chunk)
      this.#buffered += chunk.length
    }
    const pdus: Array<Pdu> = []
    while (this.#buffered >= 6) {
      // The common case in one pass: a P-DATA-TF within our limit, whole in the first chunk.
      const first = this.#chunks[this.#head]!
      if (first.length >= 6 && first[0] === 0x04) {
        const length = ((first[2]! << 24) >>> 0) + (first[3]! << 16) + (first[4]! << 8) + first[5]!
        if (first.length >= 6 + length && (this.#maxPduLength === 0 || length <= this.#maxPduLength)) {
          const inPlace = this.#takePDataInPlace(first, length)
          if (inPlace !== undefined) {
            pdus.push(inPlace)
            continue
          }
        }
      }
      // The header from the first chunk when it holds it (a PDU spanning reads, usually), else byte by byte.
      const inFirst = first.length >= 6
      const type = inFirst ? first[0]! : this.#byteAt(0)
      const length = inFirst
        ? ((first[2]! << 24) >>> 0) + (first[3]! << 16) + (first[4]! << 8) + first[5]!
        : ((this.#byteAt(2) << 24) >>> 0) + (this.#byteAt(3) << 16) + (this.#byteAt(4) << 8) + this.#byteAt(5)
      // A P-DATA-TF within our limit (the usual PDU spanning reads) needs no call to be found acceptable.
      const bad =
        type === 0x04 && (this.#maxPduLength === 0 || length <= this.#maxPduLength)
          ? undefined
          : this.#check(type, length)
      if (bad !== undefined) {
        this.#failed = bad
        return { pdus, error: bad, buffered: this.#buffered }
      }
      if (this.#buffered < 6 + length) {
        // Gathered from now on only when the PDU spans more reads than it may as views: it is joined anyway, so the
        // PDUs come out as without gathering.
        if (this.#chunks.length - this.#head > MAX_VIEW_CHUNKS) this.#missing = 6 + length - this.#buffered
        break
      }
      if (type === 0x04 && this.#pdvViews) {
        const viewed = this.#takePDataViews(length)
        if (viewed !== undefined) {
          pdus.push(viewed)
          continue
        }
      }
      const decoded = decodePdu(this.#take(6 + length))
      if (Result.isFailure(decoded)) {
        this.#failed = decoded.failure
        return { pdus, error: decoded.failure, buffered: this.#buffered }
      }
      pdus.push(decoded.success)
    }
    return { pdus, error: undefined, buffered: this.#buffered }
  }
}
