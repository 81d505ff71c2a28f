/**
 * A structural check of the data set in a Part 10 file before it is sent (PS3.5 section 7: data
 * elements, 7.5 nesting of sequences and items, A.4 encapsulated pixel data; PS3.10 7.1 the file
 * meta information it follows).
 *
 * The file's element headers go through `ElementWalker` (the walk a storage SCP here makes of what it
 * receives), read through a block buffer, and the values it passes over are seeked past, not read: a
 * 1 GB file is checked in a few reads, and a truncated one is reported as such instead of being sent and
 * failing on the peer. Nothing is decoded. Deflated data sets (PS3.5 A.5) are not walked.
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { Part10 } from "@netdicom/net"
import { ElementWalker } from "@netdicom/wire"

/** The data set is not whole: an element or a sequence ends past the end of the file. */
export class DataSetTruncated extends Data.TaggedError("DataSetTruncated")<{ readonly detail: string }> {
  override get message(): string {
    return `truncated or malformed data set: ${this.detail}`
  }
}

const BLOCK = 64 * 1024

/** The SOP identifiers found at the top level of a data set, when they are there. */
export interface Found {
  sopClassUid?: string
  sopInstanceUid?: string
}

// Reads up to `length` bytes at `position` into `into`, as many as the file has.
const readAt = (fd: number, into: Uint8Array, length: number, position: number): number => {
  let at = 0
  while (at < length) {
    const n = Fs.readSync(fd, into, at, length - at, position + at)
    if (n === 0) break
    at += n
  }
  return at
}

// The block every walk reads into: the walks are synchronous, one at a time, and the walker copies what it keeps.
const scratch = new Uint8Array(BLOCK)

// Walks the data set from `offset` to the end of the file; the SOP identifiers come from its first block.
const walkFile = (fd: number, size: number, offset: number, transferSyntax: string): Found => {
  const walker = ElementWalker.make(transferSyntax)
  const block = scratch
  let found: Found = {}
  let pos = offset
  while (pos < size && walker.seen() === undefined) {
    const skip = Math.min(walker.skippable(), size - pos)
    if (skip > 0) {
      walker.pass(skip)
      pos += skip
      continue
    }
    const bytesRead = readAt(fd, block, Math.min(block.length, size - pos), pos)
    if (bytesRead === 0) break
    const bytes = block.subarray(0, bytesRead)
    if (pos === offset) {
      const ids = Part10.sopIdentifiers(bytes, transferSyntax)
      if (Result.isSuccess(ids))
        found = { sopClassUid: ids.success.sopClassUid, sopInstanceUid: ids.success.sopInstanceUid }
    }
    walker.push(bytes)
    pos += bytesRead
  }
  const problem = walker.finish()
  if (problem !== undefined) throw new DataSetTruncated({ detail: problem.detail })
  return found
}

/**
 * Checks that the data set starting at `offset` in `path`, in `transferSyntax`, is whole, and gives the SOP Class
 * and Instance UIDs at its top level (not looked for in a deflated data set, which is not walked).
 *
 * The reads are synchronous: a block of a file just listed comes from the page cache in microseconds, where each
 * asynchronous open, stat, read and close is a thread-pool round trip (with them, checking 1,000 small files took
 * longer than sending them). The open does not block on what is not a regular file (O_NONBLOCK), which is refused.
 */
export const check = (path: string, offset: number, transferSyntax: string): Effect.Effect<Found, DataSetTruncated> =>
  Effect.try({
    try: () => {
      const fd = Fs.openSync(path, Fs.constants.O_RDONLY | Fs.constants.O_NONBLOCK)
      try {
        const stat = Fs.fstatSync(fd)
        if (!stat.isFile()) throw new DataSetTruncated({ detail: "cannot read: not a regular file" })
        return walkFile(fd, stat.size, offset, transferSyntax)
      } finally {
        Fs.closeSync(fd)
      }
    },
    catch: (cause) =>
      cause instanceof DataSetTruncated ? cause : new DataSetTruncated({ detail: `cannot read: ${String(cause)}` })
  })
