/**
 * An incoming data set on its way to the handler of its request: the receiver pushes fragments as
 * they arrive (synchronously, from the reader on the socket's events), the handler reads them as a Stream.
 *
 * Bounded: once `limit` bytes wait unread, `push` returns an effect that completes when the handler
 * has taken them, and the receiver waits on it, so the transport is not read further (TCP
 * backpressure). A pull takes every fragment waiting at once. Once the handler is done, `discard`
 * drops whatever is still buffered and whatever still arrives, so an unread data set never stalls
 * the association.
 *
 * @since 0.2.0
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { pipeArguments } from "effect/Pipeable"
import * as Stream from "effect/Stream"
import type { AssociationAborted } from "../association/AssociationError.ts"
import * as ReceivedBytes from "../upper/ReceivedBytes.ts"

/** One data set arriving. */
export interface Inflow {
  /** Adds a fragment; returns an effect to wait on while the buffer is over its limit, else `undefined`. */
  readonly push: (fragment: Uint8Array) => Effect.Effect<void> | undefined
  /** The data set is complete. */
  readonly end: () => void
  /** The data set will never complete: the stream fails after the fragments already buffered. */
  readonly fail: (error: AssociationAborted) => void
  /** The handler is done: buffered and later fragments are dropped. */
  readonly discard: () => void
  /** Bytes buffered, not yet read (with each fragment's `fragmentCost`). */
  readonly buffered: () => number
  /**
   * The whole data set, when it has ended and nothing of it was read yet: its fragments in order (the stream
   * still yields them); otherwise `undefined`.
   */
  readonly complete: () => ReadonlyArray<Uint8Array> | undefined
  /** The fragments, for one reader. */
  readonly stream: Stream.Stream<Uint8Array, AssociationAborted>
  /**
   * The same fragments, lent (`ReceivedBytes.lend`): the reader must keep no view of a fragment past releasing it
   * (`ReceivedBytes.release`), which may free the socket read it came from. Use this or `stream`, not both. Once
   * `complete` has handed the fragments out whole, they are not lent.
   */
  readonly lentStream: Stream.Stream<Uint8Array, AssociationAborted>
}

// A buffered fragment holds at most this many times its length of the buffer it is a view of.
const PINNED_RATIO = 8

type Fragments = Stream.Stream<Uint8Array, AssociationAborted>

// Any stream's variance marker: what makes an object a Stream (`Stream.isStream`).
const streamVariance = Stream.empty[Stream.TypeId]

// A request's data set stream, made for every request but built (`Stream.fromPull`, what Effect's stream functions
// read as `channel`) only when a stream function is applied to it: a small instance's handler given the data set
// whole never reads the stream, and building the two streams of each request took ~14 calls per message. One
// object of a class (one call to make, methods on its prototype) rather than getters on the request's object
// literal, which made the request slower to build before V8 optimized it (Round 6).
class PulledStream implements Fragments {
  declare readonly [Stream.TypeId]: Fragments[typeof Stream.TypeId]
  // Declared, set in the constructor: class fields would cost a call of their own per object.
  declare private readonly build: () => Fragments
  declare private built: Fragments | undefined
  constructor(build: () => Fragments) {
    this.build = build
    this.built = undefined
  }
  get channel(): Fragments["channel"] {
    return (this.built ??= this.build()).channel
  }
  pipe() {
    return pipeArguments(this, arguments)
  }
}
Object.defineProperty(PulledStream.prototype, Stream.TypeId, { value: streamVariance })

/**
 * A new inflow holding at most about `limit` unread bytes before `push` asks the receiver to wait. Each fragment
 * counts `fragmentCost` bytes more than its length (what holding it costs beyond its bytes: a view, a slot), so
 * that a peer sending tiny fragments cannot make the inflow hold hundreds of thousands of them.
 */
export const make = (limit: number, fragmentCost = 0): Inflow => {
  let fragments: Array<Uint8Array> = []
  let bytes = 0
  let ended = false
  let discarded = false
  let pulled = false
  // `complete` handed the fragments out: someone else may keep them.
  let handedWhole = false
  let failure: AssociationAborted | undefined
  let dataWaiter: Deferred.Deferred<void> | undefined
  let roomWaiter: Deferred.Deferred<void> | undefined

  // The waiter is cleared before it is completed: completing it may resume the waiting fiber at once,
  // and that fiber must not find the completed waiter still in place (it would wait on it again, and spin).
  const wakeReader = () => {
    const waiter = dataWaiter
    dataWaiter = undefined
    if (waiter !== undefined) Deferred.doneUnsafe(waiter, Exit.void)
  }
  const wakeReceiver = () => {
    const waiter = roomWaiter
    roomWaiter = undefined
    if (waiter !== undefined) Deferred.doneUnsafe(waiter, Exit.void)
  }

  const push = (fragment: Uint8Array): Effect.Effect<void> | undefined => {
    if (ended || discarded || failure !== undefined || fragment.length === 0) return undefined
    // A fragment much smaller than the buffer it is a view of (a socket read) is kept as a copy: as a view it would
    // hold the whole buffer while counting only its own bytes (a peer's 1-byte PDVs, each alone in a read among
    // empty PDVs, held ~50 MB per association under a 256 KiB limit).
    if (fragment.byteLength * PINNED_RATIO < fragment.buffer.byteLength) {
      fragments.push(new Uint8Array(fragment))
      // Copied: the receiver passed the view on to us alone, and nothing reads it any more.
      ReceivedBytes.consumed(fragment)
    } else fragments.push(fragment)
    bytes += fragment.length + fragmentCost
    // Looked at here: nobody waits for most fragments (a small data set arrives before its handler starts).
    if (dataWaiter !== undefined) wakeReader()
    if (bytes < limit) return undefined
    roomWaiter ??= Deferred.makeUnsafe<void>()
    return Deferred.await(roomWaiter)
  }

  type Pull = Effect.Effect<readonly [Uint8Array, ...Array<Uint8Array>], AssociationAborted | Cause.Done>
  // Made once a stream is built (most requests never build one).
  let pull: Pull | undefined
  const takeOrWait = (): Pull => {
    if (fragments.length > 0) {
      const taken = fragments as unknown as readonly [Uint8Array, ...Array<Uint8Array>]
      pulled = true
      fragments = []
      bytes = 0
      if (roomWaiter !== undefined) wakeReceiver()
      return Effect.succeed(taken)
    }
    if (failure !== undefined) return Effect.fail(failure)
    if (ended || discarded) return Cause.done()
    dataWaiter ??= Deferred.makeUnsafe<void>()
    return Effect.andThen(Deferred.await(dataWaiter), pullOf())
  }
  const pullOf = (): Pull => (pull ??= Effect.suspend(takeOrWait))

  return {
    push,
    end: () => {
      ended = true
      if (dataWaiter !== undefined) wakeReader()
    },
    fail: (error) => {
      if (ended || discarded) return
      failure = error
      wakeReader()
      wakeReceiver()
    },
    discard: () => {
      discarded = true
      fragments = []
      bytes = 0
      if (dataWaiter !== undefined) wakeReader()
      if (roomWaiter !== undefined) wakeReceiver()
    },
    buffered: () => bytes,
    complete: () => {
      if (!ended || pulled || discarded || failure !== undefined) return undefined
      handedWhole = true
      return fragments
    },
    stream: new PulledStream(() => Stream.fromPull(Effect.succeed(pullOf()))),
    lentStream: new PulledStream(() =>
      Stream.fromPull(
        Effect.succeed(
          Effect.map(pullOf(), (taken) => {
            if (!handedWhole) for (const fragment of taken) ReceivedBytes.lend(fragment)
            return taken
          })
        )
      )
    )
  }
}
