/**
 * DIMSE messages to P-DATA-TF PDUs (PS3.8 sections 9.3.5 and 9.3.5.1, Annex E; PS3.7 section 6.3.1).
 *
 * A message's command set and its data set travel as separate sequences of presentation data
 * values, each sequence ending with a PDV whose control header has the "last" bit set. Every PDU
 * this module makes holds exactly one PDV and is one allocation of the exact size:
 *
 * | offset | bytes | field                                                      |
 * |--------|-------|------------------------------------------------------------|
 * | 0      | 1     | PDU type 0x04                                              |
 * | 1      | 1     | reserved (0)                                               |
 * | 2      | 4     | PDU length (big endian) = 6 + fragment length              |
 * | 6      | 4     | PDV item length (big endian) = 2 + fragment length         |
 * | 10     | 1     | presentation context id                                    |
 * | 11     | 1     | message control header: bit 0 command, bit 1 last fragment |
 * | 12     | n     | the fragment                                               |
 *
 * A PDU never exceeds the peer's Maximum Length Received (PS3.8 D.1; 0 means no limit, and then
 * `DEFAULT_MAX_PDU_LENGTH` is used); we also never send PDUs above `MAX_SEND_PDU_LENGTH`, whatever
 * the peer allows. Fragments are kept to an even length, as some peers expect. `makeDataFragmenter`
 * fragments a data set delivered as chunks (a file read in pieces) without ever holding it whole.
 *
 * `fragmentMessageParts` and `makeDataPartFragmenter` make the same PDUs without copying the data:
 * as pieces of a vectored write (a header, then views of the data it carries).
 *
 * Not covered: writing the PDUs out (the association layer does that) and PDUs packing several PDVs.
 *
 * @since 0.1.0
 */
import * as Pdv from "./Pdv.ts"

/** The PDU length used when the peer announces 0 (no limit). */
export const DEFAULT_MAX_PDU_LENGTH = 65536

/** The largest PDU length we send, whatever the peer accepts (bounds the memory per PDU). */
export const MAX_SEND_PDU_LENGTH = 1 << 20

const HEADER = Pdv.PDU_HEADER_LENGTH + Pdv.PDV_HEADER_LENGTH

/** The PDU length to fragment for, given the peer's Maximum Length Received (0 = unlimited). */
export const effectiveMaxPduLength = (maxPduLength: number): number =>
  maxPduLength > 0 ? Math.min(Math.floor(maxPduLength), MAX_SEND_PDU_LENGTH) : DEFAULT_MAX_PDU_LENGTH

/** The most fragment bytes one PDU carries for this maximum PDU length: even, and at least 1. */
export const fragmentCapacity = (maxPduLength: number): number => {
  const n = Pdv.maxFragmentLength(effectiveMaxPduLength(maxPduLength))
  return n >= 2 ? n & ~1 : n
}

/**
 * Writes at `at` in `out` the 12-byte header of a P-DATA-TF PDU holding one PDV of `dataLength` fragment bytes (the
 * bytes themselves follow it): for PDUs laid out in a buffer their data was read into, with room left for headers.
 */
export const writeHeader = (
  out: Uint8Array,
  at: number,
  dataLength: number,
  presentationContextId: number,
  isCommand: boolean,
  isLast: boolean
): void => {
  const pduLength = Pdv.PDV_HEADER_LENGTH + dataLength
  const pdvLength = 2 + dataLength
  // big endian lengths, written byte by byte (no DataView per PDU)
  out[at] = 0x04
  out[at + 1] = 0
  out[at + 2] = pduLength >>> 24
  out[at + 3] = (pduLength >>> 16) & 0xff
  out[at + 4] = (pduLength >>> 8) & 0xff
  out[at + 5] = pduLength & 0xff
  out[at + 6] = pdvLength >>> 24
  out[at + 7] = (pdvLength >>> 16) & 0xff
  out[at + 8] = (pdvLength >>> 8) & 0xff
  out[at + 9] = pdvLength & 0xff
  out[at + 10] = presentationContextId
  // `Pdv.controlHeader`'s bits, without an object per PDU
  out[at + 11] = (isCommand ? Pdv.CONTROL_COMMAND : 0) | (isLast ? Pdv.CONTROL_LAST : 0)
}

/** The length of the header `writeHeader` writes before each PDU's fragment. */
export const HEADER_LENGTH = HEADER

/**
 * Frames in place a chunk of a data set laid out as `HEADER_LENGTH` free bytes, then `capacity` data bytes, then free
 * bytes again, and so on, with `dataLength` data bytes in all: writes each PDU's header into its gap and gives the view
 * of `bytes` that is those PDUs, one piece for a write. With `isLast`, the last PDU has the "last" bit and, at an odd
 * length, a trailing NUL (`capacity` is even, so the room for it is there). Of a whole data set, the PDUs are those
 * `fragmentDataSet` makes of the same bytes (padded to an even length) for the maximum PDU length whose
 * `fragmentCapacity` is `capacity`.
 */
export const frameInPlace = (
  bytes: Uint8Array,
  dataLength: number,
  capacity: number,
  presentationContextId: number,
  isLast: boolean
): Uint8Array => {
  const per = HEADER + capacity
  const count = Math.ceil(dataLength / capacity)
  let end = 0
  for (let i = 0; i < count; i++) {
    const at = i * per
    let length = Math.min(capacity, dataLength - i * capacity)
    const last = isLast && i === count - 1
    if (last && length % 2 === 1) bytes[at + HEADER + length++] = 0
    writeHeader(bytes, at, length, presentationContextId, false, last)
    end = at + HEADER + length
  }
  return bytes.subarray(0, end)
}

// A PDU of `size` bytes whose header announces `dataLength` fragment bytes.
const allocate = (
  size: number,
  dataLength: number,
  presentationContextId: number,
  isCommand: boolean,
  isLast: boolean
): Uint8Array => {
  const out = new Uint8Array(size)
  writeHeader(out, 0, dataLength, presentationContextId, isCommand, isLast)
  return out
}

/** One P-DATA-TF PDU holding one PDV, in one allocation of the exact size. */
export const encodePdv = (pdv: Pdv.Pdv): Uint8Array => {
  const out = allocate(HEADER + pdv.data.length, pdv.data.length, pdv.presentationContextId, pdv.isCommand, pdv.isLast)
  out.set(pdv.data, HEADER)
  return out
}

const fragmentBytes = (
  presentationContextId: number,
  maxPduLength: number,
  isCommand: boolean,
  bytes: Uint8Array
): Array<Uint8Array> => {
  const capacity = fragmentCapacity(maxPduLength)
  if (bytes.length === 0) return [encodePdv(Pdv.make(presentationContextId, isCommand, true, bytes))]
  const out: Array<Uint8Array> = []
  for (let at = 0; at < bytes.length; at += capacity) {
    const end = Math.min(at + capacity, bytes.length)
    out.push(encodePdv(Pdv.make(presentationContextId, isCommand, end === bytes.length, bytes.subarray(at, end))))
  }
  return out
}

/** The PDUs carrying an encoded command set; the last one has the "last" bit. */
export const fragmentCommand = (
  presentationContextId: number,
  maxPduLength: number,
  command: Uint8Array
): Array<Uint8Array> => fragmentBytes(presentationContextId, maxPduLength, true, command)

/** The PDUs carrying a whole data set held in memory; the last one has the "last" bit. */
export const fragmentDataSet = (
  presentationContextId: number,
  maxPduLength: number,
  dataSet: Uint8Array
): Array<Uint8Array> => fragmentBytes(presentationContextId, maxPduLength, false, dataSet)

/** The PDUs of a whole message: the command set's, then the data set's when there is one. */
export const fragmentMessage = (
  presentationContextId: number,
  maxPduLength: number,
  command: Uint8Array,
  dataSet?: Uint8Array
): Array<Uint8Array> => {
  const out = fragmentCommand(presentationContextId, maxPduLength, command)
  if (dataSet !== undefined) out.push(...fragmentDataSet(presentationContextId, maxPduLength, dataSet))
  return out
}

// The 12 header bytes of a PDU carrying one PDV of `dataLength` bytes (the bytes themselves follow it).
const header = (dataLength: number, presentationContextId: number, isCommand: boolean, isLast: boolean): Uint8Array =>
  allocate(HEADER, dataLength, presentationContextId, isCommand, isLast)

/**
 * The PDUs of a whole message as the pieces of one vectored write: each PDU is a 12-byte header followed by a view
 * of the bytes it carries, except a command set that fits one PDU and `COMMAND_COPY_MAX` bytes (every common
 * message's), which is copied behind its header into one piece. Concatenated, the pieces are exactly the PDUs
 * `fragmentMessage` makes. The views share `command` and `dataSet`: leave them unchanged until written.
 */
export const fragmentMessageParts = (
  presentationContextId: number,
  maxPduLength: number,
  command: Uint8Array,
  dataSet?: Uint8Array
): Array<Uint8Array> => messagePartsWithin(presentationContextId, fragmentCapacity(maxPduLength), command, dataSet)

/** The largest command set `messagePartsWithin` copies behind its PDU's header rather than giving as a view. */
export const COMMAND_COPY_MAX = 1024

/**
 * `fragmentMessageParts` for a `capacity` worked out once (`fragmentCapacity` of the maximum PDU length): for a sender
 * that fragments every message it sends for the same peer.
 */
export const messagePartsWithin = (
  presentationContextId: number,
  capacity: number,
  command: Uint8Array,
  dataSet?: Uint8Array
): Array<Uint8Array> => {
  // Every PDU's 12 header bytes in one zero-filled allocation, each PDU's header a view of it, written in one loop:
  // a C-STORE is several PDUs, each of which cost an allocation and two calls, mostly before V8 optimizes them.
  // A set of no bytes is still one PDU (with the "last" bit and no fragment bytes).
  const commandPdus = command.length === 0 ? 1 : Math.ceil(command.length / capacity)
  const dataPdus = dataSet === undefined ? 0 : dataSet.length === 0 ? 1 : Math.ceil(dataSet.length / capacity)
  const pdus = commandPdus + dataPdus
  // A command set of one PDU, small (every common message's), is copied behind its header: its PDU is then one piece,
  // one write of the socket's fewer (a C-STORE-RSP is a single write), for a copy of ~100-200 bytes.
  const copied = commandPdus === 1 && command.length <= COMMAND_COPY_MAX ? command.length : 0
  const headers = new Uint8Array(HEADER * pdus + copied)
  const out: Array<Uint8Array> = []
  for (let p = 0; p < pdus; p++) {
    const isCommand = p < commandPdus
    const bytes = isCommand ? command : dataSet!
    const at = (isCommand ? p : p - commandPdus) * capacity
    const end = Math.min(at + capacity, bytes.length)
    const dataLength = end - at
    const pduLength = Pdv.PDV_HEADER_LENGTH + dataLength
    const pdvLength = 2 + dataLength
    const h = p === 0 ? 0 : p * HEADER + copied
    // As `writeHeader` writes them, written out here: a call fewer per PDU of every message sent (Fragmenter.test
    // checks the parts against `fragmentMessage`'s PDUs).
    headers[h] = 0x04
    headers[h + 2] = pduLength >>> 24
    headers[h + 3] = (pduLength >>> 16) & 0xff
    headers[h + 4] = (pduLength >>> 8) & 0xff
    headers[h + 5] = pduLength & 0xff
    headers[h + 6] = pdvLength >>> 24
    headers[h + 7] = (pdvLength >>> 16) & 0xff
    headers[h + 8] = (pdvLength >>> 8) & 0xff
    headers[h + 9] = pdvLength & 0xff
    headers[h + 10] = presentationContextId
    headers[h + 11] = (isCommand ? Pdv.CONTROL_COMMAND : 0) | (end === bytes.length ? Pdv.CONTROL_LAST : 0)
    if (p === 0 && copied > 0) {
      headers.set(command, HEADER)
      out.push(headers.subarray(0, HEADER + copied))
      continue
    }
    out.push(headers.subarray(h, h + HEADER))
    if (dataLength > 0) out.push(bytes.subarray(at, end))
  }
  return out
}

/** Fragments one data set fed in chunks; `end` emits the last PDU and makes the fragmenter ready for another. */
export interface DataFragmenter {
  /** Copies a chunk into PDUs; returns the PDUs now complete (never the last one, which `end` gives). */
  readonly push: (chunk: Uint8Array) => Array<Uint8Array>
  /** Ends the data set: returns its last PDU (an empty one if no byte was pushed). */
  readonly end: () => Array<Uint8Array>
  /** Data bytes pushed since the data set began. */
  readonly bytesPushed: () => number
}

/**
 * A data set fragmenter that copies each byte once, into the PDU that sends it. It holds at most
 * one PDU's worth of data: a full PDU is only released once more data shows it is not the last.
 */
export const makeDataFragmenter = (presentationContextId: number, maxPduLength: number): DataFragmenter => {
  const capacity = fragmentCapacity(maxPduLength)
  let current: Uint8Array | undefined
  let fill = 0
  let pushed = 0

  // Makes room for `wanted` fragment bytes, growing geometrically up to one full PDU.
  const reserve = (wanted: number): Uint8Array => {
    if (current !== undefined && current.length - HEADER >= wanted) return current
    const previous = current === undefined ? 0 : current.length - HEADER
    const size = Math.min(capacity, Math.max(wanted, previous * 2, 4096))
    const next = allocate(HEADER + size, size, presentationContextId, false, false)
    if (current !== undefined) next.set(current.subarray(HEADER, HEADER + fill), HEADER)
    current = next
    return next
  }

  const push = (chunk: Uint8Array): Array<Uint8Array> => {
    const out: Array<Uint8Array> = []
    let at = 0
    pushed += chunk.length
    while (at < chunk.length) {
      if (current !== undefined && fill === capacity) {
        out.push(current)
        current = undefined
        fill = 0
      }
      const n = Math.min(capacity - fill, chunk.length - at)
      const target = reserve(fill + n)
      target.set(chunk.subarray(at, at + n), HEADER + fill)
      fill += n
      at += n
    }
    return out
  }

  const end = (): Array<Uint8Array> => {
    let last: Uint8Array
    if (current === undefined) {
      last = allocate(HEADER, 0, presentationContextId, false, true)
    } else if (fill === current.length - HEADER) {
      last = current
      last[11] = Pdv.controlHeader({ isCommand: false, isLast: true })
    } else {
      last = allocate(HEADER + fill, fill, presentationContextId, false, true)
      last.set(current.subarray(HEADER, HEADER + fill), HEADER)
    }
    current = undefined
    fill = 0
    pushed = 0
    return [last]
  }

  return { push, end, bytesPushed: () => pushed }
}

// Chunk parts under this many bytes are copied (coalesced) rather than referenced, so a stream of tiny
// chunks does not turn into a vectored write of thousands of pieces.
const SMALL_PART = 2048
const SCRATCH_SIZE = 16384

/**
 * As `makeDataFragmenter`, but copying only small parts: `push` and `end` return pieces for a vectored
 * write, each PDU a 12-byte header followed by views of the pushed chunks (parts under 2 KiB are
 * coalesced into a copy). Concatenated, the pieces are the PDUs `makeDataFragmenter` makes. It holds at
 * most one PDU's worth of views; pushed chunks must stay unchanged until the pieces are written.
 */
export const makeDataPartFragmenter = (presentationContextId: number, maxPduLength: number): DataFragmenter => {
  const capacity = fragmentCapacity(maxPduLength)
  let pieces: Array<Uint8Array> = []
  let fill = 0
  let pushed = 0
  let scratch: Uint8Array | undefined
  let scratchUsed = 0
  // Whether the current PDU's last piece is a view of `scratch` ending at `scratchUsed`, from `lastStart`.
  let lastIsScratch = false
  let lastStart = 0

  const addSmall = (bytes: Uint8Array): void => {
    if (scratch === undefined || scratch.length - scratchUsed < bytes.length) {
      scratch = new Uint8Array(SCRATCH_SIZE)
      scratchUsed = 0
      lastIsScratch = false
    }
    if (!lastIsScratch) {
      lastStart = scratchUsed
      pieces.push(scratch.subarray(lastStart, lastStart))
      lastIsScratch = true
    }
    scratch.set(bytes, scratchUsed)
    scratchUsed += bytes.length
    pieces[pieces.length - 1] = scratch.subarray(lastStart, scratchUsed)
  }

  const emit = (out: Array<Uint8Array>, isLast: boolean): void => {
    out.push(header(fill, presentationContextId, false, isLast))
    for (const piece of pieces) out.push(piece)
    pieces = []
    fill = 0
    lastIsScratch = false
  }

  const push = (chunk: Uint8Array): Array<Uint8Array> => {
    const out: Array<Uint8Array> = []
    pushed += chunk.length
    let at = 0
    while (at < chunk.length) {
      if (fill === capacity) emit(out, false)
      const n = Math.min(capacity - fill, chunk.length - at)
      const part = chunk.subarray(at, at + n)
      if (n < SMALL_PART) addSmall(part)
      else {
        pieces.push(part)
        lastIsScratch = false
      }
      fill += n
      at += n
    }
    return out
  }

  const end = (): Array<Uint8Array> => {
    const out: Array<Uint8Array> = []
    emit(out, true)
    pushed = 0
    return out
  }

  return { push, end, bytesPushed: () => pushed }
}

/** The PDUs of a message whose data set comes as chunks, produced lazily as the chunks are read. */
export function* fragmentStream(
  presentationContextId: number,
  maxPduLength: number,
  command: Uint8Array,
  dataSet: Iterable<Uint8Array>
): Generator<Uint8Array, void, undefined> {
  yield* fragmentCommand(presentationContextId, maxPduLength, command)
  const fragmenter = makeDataFragmenter(presentationContextId, maxPduLength)
  for (const chunk of dataSet) yield* fragmenter.push(chunk)
  yield* fragmenter.end()
}

/** As `fragmentStream`, for a data set read asynchronously (a file stream). */
export async function* fragmentAsyncStream(
  presentationContextId: number,
  maxPduLength: number,
  command: Uint8Array,
  dataSet: AsyncIterable<Uint8Array>
): AsyncGenerator<Uint8Array, void, undefined> {
  yield* fragmentCommand(presentationContextId, maxPduLength, command)
  const fragmenter = makeDataFragmenter(presentationContextId, maxPduLength)
  for await (const chunk of dataSet) yield* fragmenter.push(chunk)
  yield* fragmenter.end()
}
