/**
 * Received socket reads given back at once when every byte of them has been consumed, instead of when the garbage
 * collector finds their buffers dead (V8 frees a dead `ArrayBuffer` only at a collection, and holds tens of MiB of
 * them on a fast connection).
 *
 * The upper layer's reader `track`s each chunk it pushes into its PDU parser. A chunk's buffer is freed (detached:
 * its memory goes back at once; every view of it reads as empty from then on) only when all of these hold:
 * - the parser has moved past it (no byte of it is left unparsed);
 * - every PDV data view decoded from it has been released, and a view can be released only once it was lent
 *   (`lend`), i.e. handed to a consumer that promised to keep no view of it past `release`: a request's
 *   `dataSetLent` stream lends the fragments it yields, `Part10.writeFile` releases each once written;
 * - no other PDU was decoded from it in place (association PDUs may keep views of their bytes), and the chunk is the
 *   whole of its buffer (no other bytes of that buffer can be held elsewhere).
 * A view the receiver copied rather than passed on (`consumed`: a small fragment the inflow keeps as a copy, a command
 * once its command set is decoded, a response's data set once copied out) counts as released too. Anything else keeps
 * its buffer for the garbage collector, as before: a view never lent (a handler reading `dataSet`, a data set given
 * whole unless its handler gives it back with `releaseWhole`), a chunk another PDU was decoded from in place, a reader
 * logging PDUs at Debug. Releasing is thus opt-in, and only by the one holder of a view. A consumer
 * that reads lent views asynchronously (a write in the thread pool) `borrow`s them for the while: no chunk is freed
 * under it, and a view freed already (released by a second reader, against the contract) is refused, not read empty.
 *
 * @since 0.2.0
 */

interface Holder {
  /** Views decoded from the chunk and not yet released. */
  views: number
  /** The parser still holds bytes of the chunk. */
  inParser: boolean
  /** Something else may hold views of it: never freed here. */
  pinned: boolean
  /** Lent views of it being read right now (`borrow`): not freed until given back, whoever released them. */
  busy: number
}

// Reads this small are not worth tracking.
const SMALL_READ = 64

const holders = new WeakMap<ArrayBufferLike, Holder>()
// Views decoded from tracked chunks and not yet released, with their chunk's holder.
const counted = new WeakMap<Uint8Array, Holder>()
// Counted views lent to a consumer that releases them.
const lent = new WeakSet<Uint8Array>()
// Every view ever lent, with its chunk's holder (kept after release: a second reader of it must learn it is gone).
const everLent = new WeakMap<Uint8Array, Holder>()
let freedBuffers = 0

type Transferable = ArrayBuffer & { readonly transfer?: (length?: number) => ArrayBuffer }

const settle = (buffer: ArrayBufferLike, holder: Holder): void => {
  if (holder.views > 0 || holder.inParser || holder.pinned || holder.busy > 0) return
  holders.delete(buffer)
  const transfer = (buffer as Transferable).transfer
  if (transfer === undefined) return
  try {
    // A transfer to length 0 detaches the buffer: V8 frees its memory now, not at the next collection.
    transfer.call(buffer, 0)
    freedBuffers++
  } catch {
    // Not detachable (not ours to free): left to the garbage collector.
  }
}

/** A PDU the parser decoded, as far as tracking goes: its PDV data views, if it is a P-DATA-TF. */
export interface DecodedPdu {
  readonly _tag: string
  readonly pdvs?: ReadonlyArray<{ readonly data: Uint8Array }>
}

/**
 * For one reader feeding one parser: `took` after each chunk is pushed into the parser, with the chunk, what that push
 * returned and the bytes the parser still holds after it. `pinAll` gives up on every chunk tracked so far (the reader
 * logs PDUs, or stops).
 */
export const tracker = (): Tracker => new Tracker()

// A class rather than closures made per reader: V8 then compiles one version of its methods for every association.
class Tracker {
  // Chunks whose bytes the parser may still hold, with the stream offset where each ends.
  readonly #inParser: Array<{ readonly buffer: ArrayBufferLike; readonly holder: Holder; readonly end: number }> = []
  #total = 0

  // One call per read (the reader runs this on every socket read): the chunk registered, the views decoded counted,
  // and the chunks the parser has moved past settled.
  took(chunk: Uint8Array, pdus: ReadonlyArray<DecodedPdu>, buffered: number): void {
    const total = (this.#total += chunk.length)
    const buffer = chunk.buffer
    const inParser = this.#inParser
    if (
      chunk.byteLength > SMALL_READ &&
      chunk.byteOffset === 0 &&
      chunk.byteLength === buffer.byteLength &&
      buffer instanceof ArrayBuffer
    ) {
      const known = holders.get(buffer)
      if (known !== undefined) {
        // The same buffer read twice: whatever it is, it is not a socket read of ours alone.
        known.pinned = true
      } else {
        const holder: Holder = { views: 0, inParser: true, pinned: false, busy: 0 }
        holders.set(buffer, holder)
        inParser.push({ buffer, holder, end: total })
      }
    }
    let control = false
    for (const pdu of pdus) {
      if (pdu._tag !== "PDataTf" || pdu.pdvs === undefined) {
        control = true
        continue
      }
      for (const pdv of pdu.pdvs) {
        const data = pdv.data
        // Every view with bytes counts, however small (an empty one reads nothing, detached or not).
        if (data.byteLength === 0) continue
        const holder = holders.get(data.buffer)
        if (holder === undefined || counted.has(data)) continue
        holder.views++
        counted.set(data, holder)
      }
    }
    // Another PDU was decoded in place from some chunk the parser holds or has just left: none of them is freed.
    // Once per push, not per PDU: a read of thousands of 10-byte PDUs over thousands of held chunks was quadratic.
    if (control) for (const entry of inParser) entry.holder.pinned = true
    // The chunks the parser has moved past.
    let i = 0
    while (i < inParser.length && inParser[i]!.end <= total - buffered) {
      const { buffer: left, holder } = inParser[i++]!
      holder.inParser = false
      settle(left, holder)
    }
    if (i > 0) inParser.splice(0, i)
  }

  pinAll(): void {
    for (const entry of this.#inParser) entry.holder.pinned = true
    this.#inParser.length = 0
  }
}

/**
 * Lends `view` (a PDV data view handed to a consumer that will `release` it once done and keep no view of it after):
 * from then on `release` may free its chunk. A view not decoded from a tracked chunk is not lent (release ignores it).
 */
export const lend = (view: Uint8Array): Uint8Array => {
  const holder = counted.get(view)
  if (holder !== undefined) {
    lent.add(view)
    everLent.set(view, holder)
  }
  return view
}

/**
 * A consumer is about to read `views` asynchronously (a write handed to the thread pool): no chunk of a lent one is
 * freed until `giveBack`, even if another reader of the same views (a lent stream shared, against its contract,
 * with `Stream.broadcastN`) releases them meanwhile; a chunk freed under a native write was a use after free
 * (garbage written). Returns false, holding nothing, when a lent view was freed already: its bytes are gone.
 */
export const borrow = (views: ReadonlyArray<Uint8Array>): boolean => {
  for (let i = 0; i < views.length; i++) {
    const view = views[i]!
    const holder = everLent.get(view)
    if (holder === undefined) continue
    if ((view.buffer as ArrayBuffer & { readonly detached?: boolean }).detached === true) {
      giveBack(views.slice(0, i), false)
      return false
    }
    holder.busy++
  }
  return true
}

/** The consumer has read `views` (`borrow`): with `release`, it is done with them (`release` each). */
export const giveBack = (views: ReadonlyArray<Uint8Array>, releasing: boolean): void => {
  for (const view of views) {
    const holder = everLent.get(view)
    if (holder === undefined) continue
    holder.busy--
    if (releasing && lent.has(view)) release(view)
    else settle(view.buffer, holder)
  }
}

/**
 * The consumer of a lent `view` is done with it and holds no view of it: once every view of its chunk is released
 * (and the parser is past it), the chunk's memory is freed. Anything not lent is left alone.
 */
export const release = (view: Uint8Array): void => {
  if (!lent.has(view)) return
  lent.delete(view)
  const holder = counted.get(view)
  counted.delete(view)
  if (holder === undefined) return
  holder.views--
  settle(view.buffer, holder)
}

/**
 * For the receiver that was handed `view` and copied it instead of passing it on: nothing holds the view any more
 * (lent or not), so it counts as released.
 */
export const consumed = (view: Uint8Array): void => {
  const holder = counted.get(view)
  if (holder === undefined) return
  lent.delete(view)
  counted.delete(view)
  holder.views--
  settle(view.buffer, holder)
}

/**
 * For a handler given a data set whole (`StoreRequest.dataSetReceived`) that is done with it: it keeps no view of
 * those fragments and reads neither of the request's data set streams after this. Their socket reads may then be
 * freed at once (as `release` does for lent views) rather than at the next garbage collection, which on a fast
 * stream of small instances holds tens of MiB of them. Views the inflow copied, or that no tracked read holds, are
 * left alone; a chunk something else may hold a view of is not freed (see the module's rules).
 */
export const releaseWhole = (views: ReadonlyArray<Uint8Array>): void => {
  for (const view of views) {
    const holder = counted.get(view)
    if (holder === undefined) continue
    lent.add(view)
    everLent.set(view, holder)
    release(view)
  }
}

/** Buffers freed so far (for tests). */
export const freed = (): number => freedBuffers
