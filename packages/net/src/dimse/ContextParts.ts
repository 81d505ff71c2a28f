/**
 * Stored instances to send (a C-MOVE's sub-operations, `netdicom store`'s files) split into parts whose presentation
 * contexts fit one association each (PS3.8 7.1.1.13: ids 1-255, odd, so 128 at most): one context per SOP class and
 * transfer syntax the instances are stored in, and, where asked, a fallback context per SOP class in every native
 * syntax (`Transcode.withFallbacks`). Pure: it opens no association.
 *
 * Instances that fit one association stay one part, in their order; otherwise they are grouped by SOP class, a
 * class's instances in one part where its contexts fit (a class needing more than an association holds is cut,
 * context by context).
 *
 * @since 0.1.0
 */
import { Transcoder } from "@netdicom/wire"
import * as Negotiation from "../association/Negotiation.ts"
import * as Transcode from "./Transcode.ts"

/** What the context of a stored instance depends on: its SOP class and the transfer syntax it is stored in. */
export interface Stored {
  readonly sopClassUid: string
  readonly transferSyntax: string
}

/** Instances that go over one association, and the contexts they need there (at most the room given). */
export interface Part<A> {
  readonly items: ReadonlyArray<A>
  readonly contexts: ReadonlyArray<Negotiation.ProposedContext>
}

/** How the parts are cut. */
export interface Options {
  /** Contexts an association holds; PS3.8 allows 128. */
  readonly room?: number
  /** Leave room in each part for `Transcode.withFallbacks`' context per SOP class, and add them to its contexts. */
  readonly fallbacks?: boolean
}

/** The key of a stored instance's own context. */
export const contextKey = (stored: Stored): string => `${stored.sopClassUid}|${stored.transferSyntax}`

/** One presentation context per SOP class and transfer syntax the instances hold, in the order first met. */
export const contextsFor = <A>(
  items: ReadonlyArray<A>,
  storedOf: (item: A) => Stored
): ReadonlyArray<Negotiation.ProposedContext> => {
  const seen = new Map<string, Negotiation.ProposedContext>()
  for (const item of items) {
    const stored = storedOf(item)
    const key = contextKey(stored)
    if (!seen.has(key)) seen.set(key, { abstractSyntax: stored.sopClassUid, transferSyntaxes: [stored.transferSyntax] })
  }
  return [...seen.values()]
}

// The contexts an instance takes a place for: its own, and its class's fallback when fallbacks are asked for and it
// is stored in a native syntax (a compressed one cannot be re-encoded, `withFallbacks` adds none for it).
const keysOf = (stored: Stored, fallbacks: boolean): ReadonlyArray<string> =>
  fallbacks && Transcoder.isNative(stored.transferSyntax)
    ? [contextKey(stored), `${stored.sopClassUid}|fallback`]
    : [contextKey(stored)]

/**
 * The instances in parts whose contexts fit an association each: all of them, in their order, when they fit one;
 * otherwise grouped by SOP class. No instance is left out and none is in two parts.
 */
export const partsFor = <A>(
  items: ReadonlyArray<A>,
  storedOf: (item: A) => Stored,
  options: Options = {}
): ReadonlyArray<Part<A>> => {
  const room = options.room ?? Negotiation.MAX_PRESENTATION_CONTEXTS
  const fallbacks = options.fallbacks ?? false
  const part = (items: ReadonlyArray<A>): Part<A> => {
    const own = contextsFor(items, storedOf)
    return { items, contexts: fallbacks ? Transcode.withFallbacks(own, room) : own }
  }
  if (items.length === 0) return []
  const all = new Set(items.flatMap((item) => keysOf(storedOf(item), fallbacks)))
  if (all.size <= room) return [part(items)]

  const byClass = new Map<string, Array<A>>()
  for (const item of items) {
    const sopClassUid = storedOf(item).sopClassUid
    const same = byClass.get(sopClassUid)
    if (same === undefined) byClass.set(sopClassUid, [item])
    else same.push(item)
  }
  const parts: Array<Array<A>> = []
  let current: Array<A> = []
  let keys = new Set<string>()
  const next = () => {
    if (current.length > 0) parts.push(current)
    current = []
    keys = new Set()
  }
  for (const classItems of byClass.values()) {
    const classKeys = new Set(classItems.flatMap((item) => keysOf(storedOf(item), fallbacks)))
    // a class starts a new part when its contexts would not fit beside those taken (one needing more than `room`
    // is cut below, instance by instance)
    if (keys.size + classKeys.size > room) next()
    for (const item of classItems) {
      const added = keysOf(storedOf(item), fallbacks).filter((k) => !keys.has(k))
      if (keys.size + added.length > room) next()
      for (const k of keysOf(storedOf(item), fallbacks)) keys.add(k)
      current.push(item)
    }
  }
  next()
  return parts.map(part)
}
