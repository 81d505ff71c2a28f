/**
 * A request's data set gathered into one buffer, up to a bound: the identifiers of C-FIND/C-GET/C-MOVE and the data
 * sets of DIMSE-N requests, which an SCP decodes whole.
 *
 * Past the bound the association is aborted: nothing sane is that large, and the rest would otherwise have to be read
 * and thrown away. Each chunk is copied as it arrives, since the receiver's buffers are lent for the pull only.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type * as DimseChannel from "./DimseChannel.ts"

/**
 * The data set of `request` as one buffer, or `undefined` when it did not arrive whole (the stream failed, or it
 * went past `limit` bytes: then a warning naming `what` is logged and the association aborted).
 */
export const gather = (
  request: DimseChannel.IncomingRequest,
  channel: DimseChannel.DimseChannel,
  limit: number,
  what: string
): Effect.Effect<Uint8Array | undefined> =>
  Effect.gen(function* () {
    const chunks: Array<Uint8Array> = []
    let size = 0
    const complete = yield* Stream.runForEachWhile(request.dataSet, (chunk) =>
      Effect.sync(() => {
        size += chunk.length
        if (size > limit) return false
        chunks.push(new Uint8Array(chunk))
        return true
      })
    ).pipe(
      Effect.map(() => size <= limit),
      Effect.orElseSucceed(() => false)
    )
    if (!complete) {
      if (size > limit) {
        yield* Effect.logWarning(`${what} over ${limit} bytes: aborting the association`)
        yield* Effect.forkDetach(channel.association.abort)
      }
      return undefined
    }
    const bytes = new Uint8Array(size)
    let at = 0
    for (const c of chunks) {
      bytes.set(c, at)
      at += c.length
    }
    return bytes
  })
