/**
 * A diagnostic for the profile runs (env `BENCH_COUNT_TICKS=1`): counts the event-loop hops the process schedules
 * (`setImmediate`, which Effect's scheduler uses to resume fibers; `setTimeout`, which every `Effect.sleep` and
 * timeout arms) and the socket writes it makes, by wrapping the globals and `net.Socket.prototype` before anything
 * else is loaded. Reported per operation, they show how many scheduler turns and timers one DIMSE exchange costs.
 */
import * as Net from "node:net"

/** Counts so far. */
export interface Ticks {
  readonly setImmediate: number
  readonly setTimeout: number
  readonly socketWrites: number
}

const counts = { setImmediate: 0, setTimeout: 0, socketWrites: 0 }

/** Starts counting (once). */
export const install = (): void => {
  const immediate = globalThis.setImmediate
  const timeout = globalThis.setTimeout
  globalThis.setImmediate = ((...args: Parameters<typeof immediate>) => {
    counts.setImmediate++
    return immediate(...args)
  }) as typeof immediate
  globalThis.setTimeout = ((...args: Parameters<typeof timeout>) => {
    counts.setTimeout++
    return timeout(...args)
  }) as typeof timeout
  const proto = Net.Socket.prototype as unknown as { _writeGeneric: (...args: Array<unknown>) => unknown }
  const writeGeneric = proto._writeGeneric
  proto._writeGeneric = function (this: unknown, ...args: Array<unknown>) {
    counts.socketWrites++
    return writeGeneric.apply(this, args)
  }
}

/** A copy of the counts now. */
export const snapshot = (): Ticks => ({ ...counts })

/** The counts since `from`. */
export const since = (from: Ticks): Ticks => ({
  setImmediate: counts.setImmediate - from.setImmediate,
  setTimeout: counts.setTimeout - from.setTimeout,
  socketWrites: counts.socketWrites - from.socketWrites
})
