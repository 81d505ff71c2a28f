/**
 * Buffers lent to the sender by their source (a pool of file read buffers), to be given back once
 * nothing can read them any more: the sender has handed every view of them to the transport, and
 * the socket has taken those bytes (Node has called back for the writes that carried them).
 *
 * A lent chunk is referenced, like a handed-over one (`OwnedBytes`), never copied. Two holds keep its
 * buffer from going back: the sender's (until it calls `release`, once it holds no view of it that is
 * not yet written) and the transport's (one per write call carrying views of it, until Node calls
 * back). When both are gone, the source's `giveBack` runs and the buffer may be refilled. A chunk the
 * sender never releases (a failed send, a consumer that is not ours) is simply never given back: its
 * buffer is left to the garbage collector, which is always safe.
 *
 * Leases are found by the chunk's `ArrayBuffer`, so that views made of a chunk (`subarray`) carry it.
 *
 * @since 0.2.0
 */

interface Lease {
  senderHolds: boolean
  writes: number
  readonly giveBack: () => void
}

const leases = new WeakMap<ArrayBufferLike, Lease>()
// Leases not yet given back (a lease never released stays counted): while 0, the transport looks nothing up.
let outstanding = 0

// Views of at most this many bytes may live in V8's heap (no ArrayBuffer of their own until `.buffer` is
// read, which would allocate one): never lent, and not looked up.
const ON_HEAP_MAX = 64

const settle = (buffer: ArrayBufferLike, lease: Lease): void => {
  if (lease.senderHolds || lease.writes > 0) return
  leases.delete(buffer)
  outstanding--
  lease.giveBack()
}

/**
 * Lends `bytes` (the whole of a fresh or given-back buffer, or a view of it from offset 0): `giveBack`
 * runs once the sender has released it and the socket has taken every write that carried it.
 */
export const lend = (bytes: Uint8Array, giveBack: () => void): Uint8Array => {
  if (bytes.byteLength <= ON_HEAP_MAX || leases.has(bytes.buffer)) return bytes
  leases.set(bytes.buffer, { senderHolds: true, writes: 0, giveBack })
  outstanding++
  return bytes
}

/** Whether `bytes` is (a view of) a lent buffer not yet released by the sender. */
export const isLent = (bytes: Uint8Array): boolean =>
  outstanding > 0 && bytes.byteLength > ON_HEAP_MAX && leases.get(bytes.buffer)?.senderHolds === true

/** The sender holds no unwritten view of `bytes` any more. */
export const release = (bytes: Uint8Array): void => {
  const lease = leases.get(bytes.buffer)
  if (lease === undefined || !lease.senderHolds) return
  lease.senderHolds = false
  settle(bytes.buffer, lease)
}

/**
 * For the transport, before it writes `chunks`: the leases they carry, each held once until the
 * returned function is called (when Node has called back for the write), or `undefined` if none.
 */
export const holdForWrite = (chunks: ReadonlyArray<Uint8Array>): (() => void) | undefined => {
  if (outstanding === 0) return undefined
  let held: Array<ArrayBufferLike> | undefined
  for (const chunk of chunks) {
    if (chunk.byteLength <= ON_HEAP_MAX) continue
    const buffer = chunk.buffer
    const lease = leases.get(buffer)
    if (lease === undefined || (held !== undefined && held.includes(buffer))) continue
    lease.writes++
    ;(held ??= []).push(buffer)
  }
  if (held === undefined) return undefined
  const buffers = held
  return () => {
    for (const buffer of buffers) {
      const lease = leases.get(buffer)
      if (lease === undefined) continue
      lease.writes--
      settle(buffer, lease)
    }
  }
}

/**
 * Tracks the lent chunks a sender pushes into a fragmenter that holds back at most `heldBytes` of the
 * latest bytes pushed (one PDU's worth): `keep` notes a chunk as pushed, `written` (after the batch
 * holding everything emitted so far was handed to the transport) releases the chunks whose every byte
 * was emitted, `releaseAll` (once the message is sent, or has failed) the rest.
 */
export const tracker = (heldBytes: number) => {
  const pushed: Array<{ readonly chunk: Uint8Array; readonly end: number }> = []
  let total = 0
  return {
    /** Notes `chunk` (lent or not) as pushed; returns whether it is lent (else the caller decides to copy). */
    keep: (chunk: Uint8Array): boolean => {
      total += chunk.length
      if (!isLent(chunk)) return false
      pushed.push({ chunk, end: total })
      return true
    },
    written: (): void => {
      let i = 0
      while (i < pushed.length && pushed[i]!.end + heldBytes <= total) release(pushed[i++]!.chunk)
      if (i > 0) pushed.splice(0, i)
    },
    releaseAll: (): void => {
      for (const { chunk } of pushed) release(chunk)
      pushed.length = 0
    }
  }
}

/** Leases lent and not yet given back (for tests). */
export const outstandingLeases = (): number => outstanding
