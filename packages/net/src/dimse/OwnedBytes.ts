/**
 * Chunks a data set source hands over for good: nothing else holds them or will write to them, so
 * the sender may reference them until they are written instead of copying them.
 *
 * A stream's chunks are borrowed by default: a source may refill one buffer for every chunk, so the
 * sender copies what it keeps past the next pull. `Part10`'s file readers mark their fresh buffers
 * here, and those go to the socket as views.
 *
 * @since 0.2.0
 */

const owned = new WeakSet<Uint8Array>()

/** Marks a fresh buffer as handed over; returns it. */
export const handOver = (bytes: Uint8Array): Uint8Array => {
  owned.add(bytes)
  return bytes
}

/** Whether a chunk was handed over (else the sender must copy it before the source's next chunk). */
export const isHandedOver = (bytes: Uint8Array): boolean => owned.has(bytes)
