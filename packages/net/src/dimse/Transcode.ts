/**
 * A data set to send, re-encoded into another native transfer syntax (`wire/Transcoder`, with dcmjs's data
 * dictionary for the VRs an implicit data set leaves out): bytes in memory are re-encoded at once, a stream chunk by
 * chunk as it is sent. Compressed and deflated syntaxes are not converted.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Transcoder } from "@netdicom/wire"
import * as Negotiation from "../association/Negotiation.ts"
import { dictionaryEntry } from "./Dcmjs.ts"
import { DataSourceFailed } from "./DimseError.ts"
import type { DataSource } from "./DimseChannel.ts"

/** The data dictionary's VR of a tag (dcmjs's codes), for `wire/Transcoder`. */
export const vrOf: Transcoder.VrLookup = (tag) => dictionaryEntry(tag)?.vr

const joined = (pieces: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (pieces.length === 1) return pieces[0]!
  let size = 0
  for (const p of pieces) size += p.length
  const bytes = new Uint8Array(size)
  let at = 0
  for (const p of pieces) {
    bytes.set(p, at)
    at += p.length
  }
  return bytes
}

const failed = (from: string, to: string, detail: string) =>
  new DataSourceFailed({ detail: `cannot re-encode the data set from ${from} to ${to}: ${detail}` })

/**
 * `source` (a data set in `from`) re-encoded in `to`; both must be native (`Transcoder.isNative`). Bytes fail at
 * once when they are not a well-formed data set, a stream when the bad part arrives.
 */
export const transcode = (source: DataSource, from: string, to: string): Effect.Effect<DataSource, DataSourceFailed> =>
  Effect.suspend((): Effect.Effect<DataSource, DataSourceFailed> => {
    const t = Transcoder.make(from, to, vrOf)
    if (t === undefined) return Effect.fail(failed(from, to, "not two different native transfer syntaxes"))
    if (source instanceof Uint8Array) {
      const pieces = [...t.push(source)]
      const end = t.finish()
      if (!("bytes" in end)) return Effect.fail(failed(from, to, end.detail))
      pieces.push(...end.bytes)
      return Effect.succeed(joined(pieces))
    }
    const body = source.pipe(
      Stream.mapEffect((chunk) => {
        const pieces = t.push(chunk)
        const problem = t.problem()
        return problem === undefined ? Effect.succeed(joined(pieces)) : Effect.fail(failed(from, to, problem.detail))
      })
    )
    const tail = Stream.suspend(() => {
      const end = t.finish()
      return "bytes" in end ? Stream.make(joined(end.bytes)) : Stream.fail(failed(from, to, end.detail))
    })
    return Effect.succeed(Stream.filter(Stream.concat(body, tail), (b) => b.length > 0))
  })

/**
 * `contexts` (one per SOP class and transfer syntax, as a sender of stored instances proposes them), followed, within
 * `room` contexts in all, by one context per SOP class proposed in a native syntax offering every native syntax
 * (Explicit VR Little Endian first): when the peer refuses an instance's own syntax but accepts another native one
 * there, the instance goes re-encoded instead of failing. The contexts given keep their places (and ids).
 */
export const withFallbacks = (
  contexts: ReadonlyArray<Negotiation.ProposedContext>,
  room: number = Negotiation.MAX_PRESENTATION_CONTEXTS
): ReadonlyArray<Negotiation.ProposedContext> => {
  const classes = new Set<string>()
  for (const c of contexts) if (c.transferSyntaxes.some(Transcoder.isNative)) classes.add(c.abstractSyntax)
  const fallbacks = [...classes].map((abstractSyntax) => ({
    abstractSyntax,
    transferSyntaxes: Transcoder.NATIVE_TRANSFER_SYNTAXES
  }))
  return [...contexts, ...fallbacks.slice(0, Math.max(0, room - contexts.length))]
}
