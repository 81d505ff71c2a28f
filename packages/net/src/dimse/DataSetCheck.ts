/**
 * A structural check of the data set in a Part 10 file before it is sent (PS3.5 section 7: data elements, 7.5
 * nesting of sequences and items, A.4 encapsulated pixel data; PS3.10 7.1 the file meta information it follows):
 * `netdicom store` checks every file before it connects, `Scu.storeFile` and `Scu.storeFiles` each before its
 * C-STORE.
 *
 * The file's element headers go through `ElementWalker` (the walk a storage SCP here makes of what it receives, with
 * dcmjs's data dictionary telling the sequences of defined length in Implicit VR), read through a block buffer, and
 * the values it passes over are seeked past, not read: a 1 GB file is checked in a few reads, and a truncated one is
 * reported as such instead of being sent and failing on the peer. Nothing is decoded. Deflated data sets (PS3.5 A.5)
 * are not walked.
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { ElementWalker } from "@netdicom/wire"
import * as Part10 from "./Part10.ts"
import { vrOf } from "./Transcode.ts"

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

// The block every walk reads into: a step reads and walks a block synchronously (the walker copies what it keeps),
// so walks taking turns never see each other's bytes.
const scratch = new Uint8Array(BLOCK)

// Blocks a step walks before it lets other fibers run (a Ctrl-C among them): 1 MiB, a file of small elements in
// ~10 ms. A small file is walked in one step.
const BLOCKS_PER_STEP = 16

interface Walk {
  readonly fd: number
  readonly size: number
  readonly offset: number
  readonly transferSyntax: string
  readonly walker: ElementWalker.ElementWalker
  pos: number
  found: Found
}

// Walks on for up to `blocks` blocks read; true once the data set is walked (or seen to be whole) to its end.
const walkSome = (w: Walk, blocks: number): boolean => {
  const { fd, size, offset, transferSyntax, walker } = w
  let read = 0
  while (w.pos < size && walker.seen() === undefined) {
    const skip = Math.min(walker.skippable(), size - w.pos)
    if (skip > 0) {
      walker.pass(skip)
      w.pos += skip
      continue
    }
    if (read === blocks) return false
    const bytesRead = readAt(fd, scratch, Math.min(BLOCK, size - w.pos), w.pos)
    if (bytesRead === 0) break
    read++
    const bytes = scratch.subarray(0, bytesRead)
    if (w.pos === offset) {
      const ids = Part10.sopIdentifiers(bytes, transferSyntax)
      if (Result.isSuccess(ids))
        w.found = { sopClassUid: ids.success.sopClassUid, sopInstanceUid: ids.success.sopInstanceUid }
    }
    walker.push(bytes)
    w.pos += bytesRead
  }
  return true
}

const failure = (cause: unknown): DataSetTruncated =>
  cause instanceof DataSetTruncated ? cause : new DataSetTruncated({ detail: `cannot read: ${String(cause)}` })

// Opens a regular file without blocking (a FIFO in a file's place opens at once with O_NONBLOCK, and is refused).
// Throws; called only inside `check`'s `Effect.try`, whose `failure` makes it a `DataSetTruncated`.
const openRegular = (path: string): { readonly fd: number; readonly size: number } => {
  const fd = Fs.openSync(path, Fs.constants.O_RDONLY | Fs.constants.O_NONBLOCK)
  try {
    const stat = Fs.fstatSync(fd)
    if (!stat.isFile()) throw new DataSetTruncated({ detail: "cannot read: not a regular file" })
    return { fd, size: stat.size }
  } catch (cause) {
    Fs.closeSync(fd)
    throw cause
  }
}

const walkToEnd = (w: Walk): Effect.Effect<Found, DataSetTruncated> =>
  Effect.flatMap(
    Effect.try({ try: () => walkSome(w, BLOCKS_PER_STEP), catch: failure }),
    (done): Effect.Effect<Found, DataSetTruncated> => {
      if (!done) return Effect.andThen(Effect.yieldNow, walkToEnd(w))
      const problem = w.walker.finish()
      return problem === undefined
        ? Effect.succeed(w.found)
        : Effect.fail(new DataSetTruncated({ detail: problem.detail }))
    }
  )

/**
 * Checks that the data set starting at `offset` in `path`, in `transferSyntax`, is whole, and gives the SOP Class
 * and Instance UIDs at its top level (not looked for in a deflated data set, which is not walked).
 *
 * The reads are synchronous: a block of a file just listed comes from the page cache in microseconds, where each
 * asynchronous open, stat, read and close is a thread-pool round trip (with them, checking 1,000 small files took
 * longer than sending them). The walk lets other fibers run every `BLOCKS_PER_STEP` blocks. The open does not block
 * on what is not a regular file (O_NONBLOCK), which is refused.
 */
export const check = (path: string, offset: number, transferSyntax: string): Effect.Effect<Found, DataSetTruncated> =>
  Effect.acquireUseRelease(
    Effect.try({ try: () => openRegular(path), catch: failure }),
    ({ fd, size }) =>
      walkToEnd({
        fd,
        size,
        offset,
        transferSyntax,
        walker: ElementWalker.make(transferSyntax, { vrOf }),
        pos: offset,
        found: {}
      }),
    ({ fd }) => Effect.sync(() => Fs.closeSync(fd))
  )

/** `check` of a data set already in memory (a small file loaded whole): the same walk, no file read. */
export const checkBytes = (bytes: Uint8Array, transferSyntax: string): Result.Result<void, DataSetTruncated> => {
  const walker = ElementWalker.make(transferSyntax, { vrOf })
  walker.push(bytes)
  const problem = walker.finish()
  return problem === undefined
    ? Result.succeed(undefined)
    : Result.fail(new DataSetTruncated({ detail: problem.detail }))
}
