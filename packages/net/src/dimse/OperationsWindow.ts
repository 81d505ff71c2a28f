/**
 * The Asynchronous Operations Window of one association as our requests use it (PS3.7 D.3.3.3): at most `size`
 * requests outstanding at once. A slot is taken synchronously when one is free and nobody waits (every request of
 * an SCU that waits for each answer: no fiber step, no lock), otherwise waited for in the order asked; a slot given
 * back goes straight to the longest waiting taker.
 *
 * Each taker brings a `Holder`, whose `slot` says whether it holds a slot: set as the slot is taken or handed over
 * (so a taker interrupted right after cannot lose it), cleared as it is given back (so it is given back once).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"

/** Whoever takes a slot. */
export interface Holder {
  slot: boolean
}

/** Slots for outstanding requests. */
export interface OperationsWindow {
  /** Takes a slot for `holder` now if one is free and nobody is waiting for one. */
  readonly tryTake: (holder: Holder) => boolean
  /** Waits for a slot for `holder`, in the order asked; an interrupted wait takes none. */
  readonly take: (holder: Holder) => Effect.Effect<void>
  /** Gives `holder`'s slot back, if it holds one: to the longest waiting taker (resumed at once), else the window. */
  readonly release: (holder: Holder) => void
  /** Slots taken and not given back. */
  readonly inUse: () => number
}

interface Waiter {
  readonly holder: Holder
  readonly resume: (done: Effect.Effect<void>) => void
}

/** A window of `size` slots. */
export const make = (size: number): OperationsWindow => {
  let used = 0
  // Waiting takers, oldest first (a Set keeps insertion order).
  const waiting = new Set<Waiter>()
  const tryTake = (holder: Holder): boolean => {
    if (holder.slot) return true
    if (used >= size || waiting.size > 0) return false
    used++
    holder.slot = true
    return true
  }
  const take = (holder: Holder): Effect.Effect<void> =>
    Effect.suspend(() =>
      tryTake(holder)
        ? Effect.void
        : Effect.callback<void>((resume) => {
            // Given back meanwhile (this fiber yielded, its operation budget, between the look above and this wait,
            // and the release found nobody waiting): take it now rather than wait for a release that may never come.
            if (tryTake(holder)) return resume(Effect.void)
            const waiter: Waiter = { holder, resume }
            waiting.add(waiter)
            return Effect.sync(() => {
              waiting.delete(waiter)
            })
          })
    )
  const release = (holder: Holder): void => {
    if (!holder.slot) return
    holder.slot = false
    const first = waiting.values().next()
    if (first.done === true) {
      used--
      return
    }
    // Handed over: the slot stays taken, by the waiter now.
    waiting.delete(first.value)
    first.value.holder.slot = true
    first.value.resume(Effect.void)
  }
  return { tryTake, take, release, inUse: () => used }
}
