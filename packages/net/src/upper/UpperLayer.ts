/**
 * The DICOM upper layer protocol machine (PS3.8 section 9.2), stepped by the events that drive it: its service to its
 * user (the association), and `make`.
 *
 * Each event — a PDU read from the transport (synchronously, from the socket's events), the ARTIM or idle timer,
 * a primitive of the local user — is looked up in `StateTable`, its action runs and one debug line per transition
 * is logged; an event arriving during a step is stepped after it, in order. Indications for the user come out of
 * `indications` (or go to a `consume`r). Fibers are started only to wait: the connect, a write that must wait, a
 * receiver's backpressure. No polling anywhere.
 *
 * A machine is one object per association, its code shared by all on the prototypes of the classes it is built from,
 * one module a concept: `MachineCore` (state, the stepping loop, indications, writes, timers), `MachineReader` (the
 * socket reader and PDU framing), `MachineActions` (the PS3.8 actions and the idle watch) and, here, the service.
 *
 * One deliberate shortcut: a P-DATA request (Evt9) in Sta6 or Sta8 is a self-loop (DT-1/AR-7), so
 * `sendPData` writes on the caller's fiber under the machine's write lock instead of being stepped.
 * A slow reader of indications then cannot block a writer, and data is written without a hop.
 * Received P-DATA is bounded: the transport is not read further while `pdataWindow` P-DATA
 * indications wait to be taken, so a slow consumer applies TCP backpressure to the peer.
 *
 * Not here: negotiation (what to accept) and DIMSE; this layer only moves PDUs and keeps state.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import { PduParser } from "@netdicom/wire"
import * as Events from "./MachineEvents.ts"
import { MachineActions } from "./MachineActions.ts"
import type { Deadline, UpperLayerOptions } from "./MachineCore.ts"
import {
  type Indication,
  type IndicationConsumer,
  NotEstablished,
  onePDataAtATime,
  type PDataReceiver,
  type PDataRunReceiver,
  type UserPrimitive
} from "./Primitives.ts"
import * as Table from "./StateTable.ts"
import type * as Timers from "./Timers.ts"
import type { Transport } from "./Transport.ts"

export type { UpperLayerOptions } from "./MachineCore.ts"
export type {
  AbortInfo,
  Indication,
  IndicationConsumer,
  PDataReceiver,
  PDataRunReceiver,
  UserPrimitive
} from "./Primitives.ts"
export { NotEstablished, onePDataAtATime } from "./Primitives.ts"

/** A running upper-layer machine. */
export interface UpperLayer {
  readonly state: Effect.Effect<Table.State>
  /** Issues a user primitive. */
  readonly submit: (primitive: UserPrimitive) => Effect.Effect<void>
  /**
   * Sends encoded P-DATA-TF PDUs (DT-1 / AR-7), in order, with backpressure, in one vectored write:
   * the pieces may split PDUs anywhere (a header, then views of the data), as long as they join into whole PDUs.
   */
  readonly sendPData: (pdus: ReadonlyArray<Uint8Array>) => Effect.Effect<void, NotEstablished>
  /**
   * `sendPData` of a whole DIMSE message begun now, from within a running effect: when the association is
   * established and nothing else is being written (no write waiting for its turn or for the socket to drain), the
   * PDUs are written at once and this returns `undefined` (no lock, no fiber step). Otherwise, or when the write must
   * wait for the socket to drain or failed, it returns the effect that does the rest as `sendPData` would.
   */
  readonly writePData: (pdus: ReadonlyArray<Uint8Array>) => Effect.Effect<void, NotEstablished> | undefined
  /** The next indication; after the machine reaches Sta1 it answers `Closed` for ever. */
  readonly indications: Effect.Effect<Indication>
  /**
   * The next indication if one comes within `duration` (on the machine's clock); otherwise stops waiting and runs
   * `orElse` instead (what `Effect.timeoutOrElse` does around `indications`, with a timer and no fiber forked).
   */
  readonly indicationWithin: <A, E>(
    duration: Duration.Duration,
    orElse: () => Effect.Effect<A, E>
  ) => Effect.Effect<Indication | A, E>
  /**
   * Hands every indication from now on (those queued first) to `consumer` as it comes, on the machine's turn, with
   * no fiber waiting for it; the last is `Closed`. Not to be mixed with `indications`.
   */
  readonly consume: (consumer: IndicationConsumer) => Effect.Effect<void>
  /** Completes when the machine has returned to Sta1 and the connection is closed. */
  readonly closed: Effect.Effect<void>
  /**
   * Installs the receiver of P-DATA in Sta6: it is then called by the reader (on the socket's event), in order,
   * instead of P-DATA indications being queued. Indications already queued still come out first. A run receiver is
   * handed the P-DATA-TFs of one read in one call.
   */
  readonly receivePData: (handler: PDataReceiver | PDataRunReceiver) => Effect.Effect<void>
  /** `receivePData` as a plain call. */
  readonly receivePDataNow: (handler: PDataReceiver | PDataRunReceiver) => void
  /** The taker of a `PData` indication says it has handled it (keeps P-DATA in order with `receivePData`). */
  readonly pdataHandled: Effect.Effect<void>
  /** The machine's timers (its Clock), cancelled with its scope: for the association's own deadlines. */
  readonly timers: Timers.Timers
  /**
   * Requestor: `quiet` is asked as the idle timeout expires in Sta6; true releases the association instead of aborting
   * it (an A-RELEASE-RQ, Evt11; an A-ABORT if it has not ended within the ARTIM time, a release collision included).
   * An acceptor's idle timeout always aborts (PS3.8 gives it no release of its own).
   */
  readonly releaseWhenIdle: (quiet: () => boolean) => void
  /** The connection, once there is one (a requestor's, after its connect succeeded). */
  readonly transport: () => Transport | undefined
}

// The machine with its user's service: what `make` returns, as an `UpperLayer`.
class Machine extends MachineActions implements UpperLayer {
  readonly state: Effect.Effect<Table.State> = Effect.sync(() => this.current)
  readonly indications: Effect.Effect<Indication> = this.nextIndication(undefined)
  readonly pdataHandled: Effect.Effect<void> = Effect.sync(() => {
    this.queuedPData--
  })
  readonly closed: Effect.Effect<void> = Effect.suspend(() =>
    this.finished
      ? Effect.void
      : Effect.callback<void>((resume) => {
          if (this.finished) return resume(Effect.void)
          const wake = () => resume(Effect.void)
          this.closedWaiters.push(wake)
          return Effect.sync(() => {
            this.closedWaiters = this.closedWaiters.filter((w) => w !== wake)
          })
        })
  )

  // An acceptor's machine steps Sta1 + Evt5 before anything is read.
  start(): void {
    const t = this.options.transport
    if (this.options.role === "acceptor" && t) {
      this.connection = t
      this.post({ evt: "Evt5" })
      this.attach(t)
    }
  }

  // Stepped at once, or, issued from within a step (a taker woken by an indication), once the events before it have
  // been: an A-ASSOCIATE-AC submitted is in effect (Sta6) when this completes.
  submit(p: UserPrimitive): Effect.Effect<void> {
    return Effect.suspend(() => {
      const input = Events.ofPrimitive(p)
      if (!this.stepping) {
        this.post(input)
        return Effect.void
      }
      // Issued by the one taker woken after a step, with nothing queued behind that step and no one else to wake or
      // resume (an acceptor's A-ASSOCIATE-AC, submitted as its A-ASSOCIATE-RQ is indicated): it would be stepped
      // next, so it is stepped now, with no wait (and no fiber suspended) for the loop to come to it.
      if (
        this.waking &&
        this.events.length === 0 &&
        this.takers.size === 0 &&
        this.submitters.size === 0 &&
        this.consumer === undefined &&
        !this.finished
      ) {
        this.waking = false
        this.stepOne(input)
        return Effect.void
      }
      // The waiter is registered with the queueing, in one synchronous run: the fiber may yield between two effects
      // (its operation budget), and the step under way would then step the primitive before anyone waited for it.
      return Effect.callback<void>((resume) => {
        if (!this.stepping) {
          this.post(input)
          return resume(Effect.void)
        }
        this.submitters.set(input, () => resume(Effect.void))
        this.post(input)
        return Effect.sync(() => {
          this.submitters.delete(input)
        })
      })
    })
  }

  sendPData(pdus: ReadonlyArray<Uint8Array>): Effect.Effect<void, NotEstablished> {
    return Effect.suspend(() => {
      const t = this.connection
      if ((this.current !== "Sta6" && this.current !== "Sta8") || t === undefined) {
        return Effect.fail(new NotEstablished({ state: this.current }))
      }
      // Without debug logging, no generator: this is every DIMSE message's path.
      const write = Effect.suspend(() => t.write(pdus))
      const writing = this.debug
        ? Effect.andThen(
            Effect.sync(() => {
              // The pieces of a vectored write: parse them back into PDUs to summarize them, each after its transition
              // (the self-loop DT-1 in Sta6, AR-7 in Sta8), as a received one is logged with DT-2.
              const parser = PduParser.make({ maxPduLength: 0 })
              const state = this.current
              const action = state === "Sta6" ? "DT-1" : "AR-7"
              for (const piece of pdus)
                for (const pdu of parser.push(piece).pdus) {
                  this.log(Table.describeTransition(state, "Evt9", action, state))
                  this.logPdu("sent", pdu)
                }
            }),
            this.touched(write)
          )
        : this.touched(write)
      return this.writeFailed(this.locked(writing))
    })
  }

  writePData(pdus: ReadonlyArray<Uint8Array>): Effect.Effect<void, NotEstablished> | undefined {
    const t = this.connection
    if (this.debug || this.writers > 0 || (this.current !== "Sta6" && this.current !== "Sta8") || t === undefined) {
      return this.sendPData(pdus)
    }
    // Nothing else is being written: straight to the transport, which nearly always takes it all at once.
    const rest = t.writeNow(pdus)
    if (rest === undefined) {
      // `markActivity()`, inlined: once per message written
      if (this.idleMillis !== undefined) this.lastActivity = this.timers.now()
      return undefined
    }
    // Written, but past the socket's limit (wait for it to drain, holding the write lock as `sendPData` would), or the
    // write failed.
    return this.writeFailed(this.locked(this.touched(rest)))
  }

  // `write`, then the idle activity marked, when there is an idle timeout.
  touched<E>(write: Effect.Effect<void, E>): Effect.Effect<void, E> {
    return this.idleMillis === undefined
      ? write
      : Effect.andThen(
          write,
          Effect.sync(() => this.markActivity())
        )
  }

  // A failed write ends the connection (Evt17); the sender learns only that the association is gone.
  writeFailed<E extends { readonly _tag: string }>(
    writing: Effect.Effect<void, E>
  ): Effect.Effect<void, NotEstablished> {
    return Effect.catch(writing, (e) =>
      Effect.andThen(this.writeFailedEvent(e), Effect.fail(new NotEstablished({ state: this.current })))
    )
  }

  // The next indication, or `deadline` once taken.
  nextIndication(deadline: undefined): Effect.Effect<Indication>
  nextIndication(deadline: Deadline): Effect.Effect<Indication | Deadline>
  nextIndication(deadline: Deadline | undefined): Effect.Effect<Indication | Deadline> {
    // Each wait looks again, as it registers, at what it waits for: the fiber may have yielded (its operation budget)
    // between its last look and the wait, and what it waits for come meanwhile, its wake-up gone to nobody.
    const outFilled = Effect.callback<void>((resume) => {
      if (this.out.length > 0 || this.finished) return resume(Effect.void)
      const wake = () => {
        this.takers.delete(wake)
        resume(Effect.void)
      }
      this.takers.add(wake)
      return Effect.sync(() => {
        this.takers.delete(wake)
      })
    })
    const taking: Effect.Effect<Indication | Deadline> = Effect.suspend(() => {
      const i = this.poll(deadline)
      return i === undefined ? Effect.andThen(outFilled, taking) : Effect.succeed(i)
    })
    return taking
  }

  indicationWithin<A, E>(
    duration: Duration.Duration,
    orElse: () => Effect.Effect<A, E>
  ): Effect.Effect<Indication | A, E> {
    return Effect.suspend(() => {
      const deadline: Deadline = { _tag: "Deadline" }
      const cancel = this.timers.after(Duration.toMillis(duration), () => this.indicate(deadline))
      // Interrupted, the timer stays armed until it fires (its mark is skipped) or the machine's scope closes.
      return Effect.flatMap(this.nextIndication(deadline), (i): Effect.Effect<Indication | A, E> => {
        if (i._tag === "Deadline") return orElse()
        cancel()
        return Effect.succeed(i)
      })
    })
  }

  consume(c: IndicationConsumer): Effect.Effect<void> {
    return Effect.sync(() => {
      this.consumer = c
      this.feedConsumer()
    })
  }

  releaseWhenIdle(quiet: () => boolean): void {
    this.idleQuiet = quiet
  }

  transport(): Transport | undefined {
    return this.connection
  }

  receivePData(handler: PDataReceiver | PDataRunReceiver): Effect.Effect<void> {
    return Effect.sync(() => this.receivePDataNow(handler))
  }

  receivePDataNow(handler: PDataReceiver | PDataRunReceiver): void {
    if (typeof handler === "function") {
      this.receiver = handler
      this.runReceiver = undefined
    } else {
      this.receiver = onePDataAtATime(handler)
      this.runReceiver = handler
    }
  }
}

/** Starts a machine in the current scope; closing the scope stops it and destroys the connection. */
export const make = (options: UpperLayerOptions): Effect.Effect<UpperLayer, never, Scope.Scope> =>
  // Made in one synchronous run (no generator, no fiber step per service read): this is every association's set-up.
  Effect.withFiber((fiber) => {
    // What the machine starts runs with the services of the fiber that made it (see `MachineCore`).
    const context = fiber.context as Context.Context<Scope.Scope>
    const machine = new Machine(options, context)
    // The machine's one finalizer, on the scope itself (no context to restore for it, unlike Effect.addFinalizer).
    const added = Scope.addFinalizerExit(Context.get(context, Scope.Scope), (exit) =>
      Effect.suspend(() => machine.finalize(exit))
    )
    return Effect.map(added, () => {
      machine.start()
      return machine
    })
  })
