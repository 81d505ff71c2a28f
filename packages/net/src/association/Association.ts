/**
 * An association as a scoped resource (PS3.8 sections 7.1-7.3, 9.2).
 *
 * `connect` opens the connection, negotiates and returns an `Association`; closing its scope
 * releases it (A-RELEASE-RQ, waiting for A-RELEASE-RP) when the scope succeeded and aborts it
 * when the scope failed or was interrupted. `accept` is the acceptor side used by `Server`.
 * Each association takes the upper layer's indications as they come (`UpperLayer.consume`, no fiber waiting for
 * them): P-DATA goes to the receiver the DIMSE layer installs, release and abort settle `ended`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import type { Pdu } from "@netdicom/wire"
import { openTcp, openTls } from "../upper/Transport.ts"
import type { Transport } from "../upper/Transport.ts"
import type * as Tls from "../upper/Tls.ts"
import * as UpperLayer from "../upper/UpperLayer.ts"
import type { ApplicationEntity } from "./ApplicationEntity.ts"
import { AcseTimeout, AssociationAborted, AssociationRejected, type AssociationError } from "./AssociationError.ts"
import type { Negotiated } from "./Negotiated.ts"
import * as Negotiation from "./Negotiation.ts"
import type { AcceptorPolicy } from "./AcceptorPolicy.ts"

/** How an association ended. */
export type Ending = { readonly _tag: "Released" } | { readonly _tag: "Aborted"; readonly error: AssociationAborted }

/** An established association. */
export interface Association {
  readonly role: "requestor" | "acceptor"
  readonly ae: ApplicationEntity
  readonly negotiated: Negotiated
  /** The peer's address, `host:port`. */
  readonly peer: string
  /** Over TLS: the protocol, cipher and the peer's certificate (its subject, issuer...); undefined over plain TCP. */
  readonly tls: Tls.Session | undefined
  /** Sends encoded P-DATA-TF PDUs in order; fails at once once the association is gone. */
  readonly sendPData: (pdus: ReadonlyArray<Uint8Array>) => Effect.Effect<void, AssociationAborted>
  /**
   * `sendPData` of a whole message begun now, from within a running effect: `undefined` once written at once (the
   * upper layer's `writePData`), otherwise the effect that does the rest and must be run.
   */
  readonly writePData: (pdus: ReadonlyArray<Uint8Array>) => Effect.Effect<void, AssociationAborted> | undefined
  /**
   * Installs the receiver of P-DATA (the DIMSE layer); PDUs wait until one is installed. A run receiver is handed the
   * P-DATA-TFs of one socket read in one call.
   */
  readonly receive: (handler: UpperLayer.PDataReceiver | UpperLayer.PDataRunReceiver) => Effect.Effect<void>
  /**
   * Installs what runs before we answer a peer's A-RELEASE-RQ (e.g. finishing operations); `idle`, when given and
   * true as the request comes, says the hook has nothing to do: the answer then goes at once, with no fiber.
   */
  readonly beforeRelease: (hook: Effect.Effect<void>, idle?: () => boolean) => Effect.Effect<void>
  /**
   * Requestor: at the idle timeout (`timeouts.idle`), when `quiet` says nothing is outstanding (the DIMSE layer
   * installs it), the association is released instead of aborted: an A-RELEASE-RQ, then an A-ABORT if no
   * A-RELEASE-RP comes within the ACSE timeout or P-DATA comes first. `quiet` returning true commits to the release.
   * Without it, or on an acceptor, the idle timeout aborts.
   */
  readonly releaseWhenIdle: (quiet: () => boolean) => Effect.Effect<void>
  /**
   * `receive(receiver)`, `beforeRelease(hook, idle)` and `releaseWhenIdle(quiet)` done at once as a plain call, from
   * within a running effect: how the DIMSE layer attaches its channel (every association's set-up).
   */
  readonly attachNow: (
    receiver: UpperLayer.PDataRunReceiver,
    hook: Effect.Effect<void>,
    idle: () => boolean,
    quiet: () => boolean
  ) => void
  /** Requests release and waits for the A-RELEASE-RP (requestor). */
  readonly release: Effect.Effect<void, AcseTimeout | AssociationAborted>
  /** Aborts (A-ABORT, service-user source) and waits for the connection to close. */
  readonly abort: Effect.Effect<void>
  /** Completes when the association has ended, released or aborted. */
  readonly ended: Effect.Effect<Ending>
  /**
   * Completes once the connection is closed: after an A-ABORT (ours or the provider's) the association has ended but
   * the connection waits in Sta13 for the peer's close, ARTIM bounding the wait (PS3.8 9.1.5, Table 9-10).
   */
  readonly disconnected: Effect.Effect<void>
  /**
   * Calls `observer` once the association has ended (at once if it has), on the turn that ended it, with no fiber
   * waiting meanwhile; returns what stops the call.
   */
  readonly whenEnded: (observer: (ending: Ending) => void) => () => void
}

const goneError = (ending: Ending | undefined): AssociationAborted =>
  ending?._tag === "Aborted"
    ? ending.error
    : new AssociationAborted({ by: "provider", source: 2, reason: 0, detail: "association already ended" })

// Runs the indication loop of an established association and builds the value users see.
const establish = (
  ul: UpperLayer.UpperLayer,
  ae: ApplicationEntity,
  role: "requestor" | "acceptor",
  negotiated: Negotiated
): Effect.Effect<Association, never, Scope.Scope> =>
  // In one synchronous run (no generator): every association's path.
  Effect.withFiber((fiber) => {
    const scope = Context.get(fiber.context as Context.Context<Scope.Scope>, Scope.Scope)
    const connection = ul.transport()
    const ended = Deferred.makeUnsafe<Ending>()
    // The receiver the DIMSE layer installs; P-DATA indicated before it is waits for it.
    let receiver: UpperLayer.PDataReceiver | undefined
    const receiverSet = Deferred.makeUnsafe<UpperLayer.PDataReceiver>()
    // The machine's: made in the same scope as this association.
    const timers = ul.timers
    let hook: Effect.Effect<void> = Effect.void
    let hookIdle: (() => boolean) | undefined = () => true
    let endingSeen: Ending | undefined
    let lastAbort: AssociationAborted | undefined
    let releasing = false
    // Set once the idle timeout has begun releasing (requestor, nothing outstanding).
    let idleReleasing = false
    let idleQuiet: (() => boolean) | undefined
    let aborting = false
    // Set once our A-RELEASE-RP answered the peer's A-RELEASE-RQ: Sta13, the peer to close the connection (AR-4).
    let answeredRelease = false
    // After our A-RELEASE-RP the connection is the peer's to close (ARTIM bounds the wait): closing it at once could
    // reset it with the A-RELEASE-RP unread.
    const peerCloses = Effect.suspend(() => (answeredRelease ? ul.closed : Effect.void))
    let observers: Array<(ending: Ending) => void> = []
    // Observers first: completing `ended` can resume its waiter at once, and a waiter closing the scope that holds the
    // DIMSE channel (an SCP's, after a peer's A-ABORT) removes the channel's observer before it would be called.
    const settle = (ending: Ending) => {
      endingSeen = ending
      const toCall = observers
      observers = []
      for (const observer of toCall) observer(ending)
      Deferred.doneUnsafe(ended, Effect.succeed(ending))
    }
    // Our A-RELEASE-RP to the peer's A-RELEASE-RQ releases the association (PS3.8 AR-4; only the peer's close is
    // left, ARTIM bounding it, and no P-DATA can come in Sta13): it ends for the user now, so a request of ours still
    // awaiting a response fails at once rather than at that close or at its DIMSE timeout, and a scope ending
    // meanwhile neither waits for the close nor sends an A-ABORT after the A-RELEASE-RP.
    const releaseAnswered = () => {
      if (endingSeen) return
      answeredRelease = true
      settle({ _tag: "Released" })
    }
    // The A-RELEASE-RP to a peer's A-RELEASE-RQ, once the hook has run; none once we have asked to abort.
    const answerRelease = Effect.suspend(() =>
      aborting ? Effect.void : Effect.andThen(ul.submit({ _tag: "ReleaseResponse" }), Effect.sync(releaseAnswered))
    )

    // The upper layer's indications, taken as they come (no fiber waits for them): P-DATA goes to the receiver,
    // release and abort settle `ended`.
    const consumer: UpperLayer.IndicationConsumer = (i, submit) => {
      switch (i._tag) {
        case "PData": {
          // After our idle release's A-RELEASE-RQ nothing was outstanding: a peer sending P-DATA now wants what the
          // release has ended (a request of its own), so the association is aborted rather than left half-served.
          if (idleReleasing) {
            submit({ _tag: "AbortRequest", detail: "P-DATA received after our A-RELEASE-RQ (idle timeout)" })
            return undefined
          }
          const handler = receiver
          if (handler !== undefined) return handler(i.pdu)
          // None installed yet: the P-DATA waits for one, or for the machine to finish (a handler that installs none,
          // and a peer that then closes or aborts: the end must still be taken, or the association never ends).
          return Effect.flatMap(Effect.race(Deferred.await(receiverSet), Effect.as(ul.closed, undefined)), (h) =>
            h === undefined ? Effect.void : (h(i.pdu) ?? Effect.void)
          )
        }
        case "ReleaseIndication":
          // A release collision (both sides asked) or the peer's request: answer it.
          // The hook (finishing operations) runs on its own fiber, so indications keep being taken:
          // a peer that aborts or closes meanwhile still ends the association.
          // An association we are aborting answers none: the A-ABORT is its end.
          if (!i.collision) {
            if (hookIdle?.() === true) {
              if (!aborting) {
                submit({ _tag: "ReleaseResponse" })
                releaseAnswered()
              }
              return undefined
            }
            return Effect.asVoid(Effect.forkIn(Effect.andThen(hook, answerRelease), scope))
          }
          if (role === "requestor") submit({ _tag: "ReleaseResponse" })
          return undefined
        case "ReleaseConfirm":
          if (role === "acceptor" && releasing) submit({ _tag: "ReleaseResponse" })
          return undefined
        case "Aborted":
          // Over for the user at once, though the connection may linger in Sta13 until the peer
          // closes it or ARTIM expires: outstanding requests must not wait for that.
          lastAbort = new AssociationAborted(i.abort)
          if (!endingSeen) settle({ _tag: "Aborted", error: lastAbort })
          return undefined
        case "Closed":
          if (!endingSeen) settle(lastAbort ? { _tag: "Aborted", error: lastAbort } : { _tag: "Released" })
          return undefined
        default:
          return undefined
      }
    }

    const receiveNow = (handler: UpperLayer.PDataReceiver | UpperLayer.PDataRunReceiver) => {
      // P-DATA queued as indications is taken one PDU at a time.
      const one = typeof handler === "function" ? handler : UpperLayer.onePDataAtATime(handler)
      receiver = one
      Deferred.doneUnsafe(receiverSet, Effect.succeed(one))
      ul.receivePDataNow(handler)
    }

    const association: Association = {
      role,
      ae,
      negotiated,
      peer: connection?.peer ?? "",
      tls: connection?.tls,
      sendPData: (pdus) => Effect.mapError(ul.sendPData(pdus), () => goneError(endingSeen)),
      writePData: (pdus) => {
        const rest = ul.writePData(pdus)
        return rest === undefined ? undefined : Effect.mapError(rest, () => goneError(endingSeen))
      },
      receive: (handler) => Effect.sync(() => receiveNow(handler)),
      beforeRelease: (h, idle) =>
        Effect.sync(() => {
          hook = h
          hookIdle = idle
        }),
      releaseWhenIdle: (quiet) =>
        Effect.sync(() => {
          idleQuiet = quiet
        }),
      attachNow: (handler, h, idle, quiet) => {
        receiveNow(handler)
        hook = h
        hookIdle = idle
        idleQuiet = quiet
      },
      release: Effect.suspend(() => {
        if (endingSeen) return endingSeen._tag === "Released" ? peerCloses : Effect.fail(endingSeen.error)
        // The idle timeout's release under way (its end bounded by the machine's timer): waited for, not asked again.
        if (idleReleasing) {
          return Effect.flatMap(Deferred.await(ended), (ending) =>
            ending._tag === "Aborted" ? Effect.fail(ending.error) : Effect.void
          )
        }
        releasing = true
        // The deadline is a timer, not a race of forked fibers.
        return Effect.andThen(
          ul.submit(RELEASE_REQUEST),
          Effect.flatMap(
            timers.awaitWithin(ended, ae.timeouts.acse, () =>
              Effect.andThen(
                ul.submit({ _tag: "AbortRequest" }),
                Effect.fail(new AcseTimeout({ waitingFor: "A-RELEASE-RP" }))
              )
            ),
            (ending) => (ending._tag === "Aborted" ? Effect.fail(ending.error) : Effect.void)
          )
        )
      }),
      abort: Effect.suspend(() => {
        if (endingSeen) return peerCloses
        const waitEnd = Deferred.await(ended).pipe(Effect.timeout(ae.timeouts.acse), Effect.ignore)
        // One A-ABORT: a second request (a scope closing while a timeout's abort is under way) only waits for it
        // (the machine would answer it in Sta13 with another A-ABORT PDU).
        if (aborting) return waitEnd
        aborting = true
        return Effect.andThen(ul.submit({ _tag: "AbortRequest" }), waitEnd)
      }),
      ended: Deferred.await(ended),
      disconnected: ul.closed,
      whenEnded: (observer) => {
        if (endingSeen !== undefined) {
          observer(endingSeen)
          return () => {}
        }
        observers.push(observer)
        return () => {
          observers = observers.filter((o) => o !== observer)
        }
      }
    }
    if (role === "requestor") {
      ul.releaseWhenIdle(() => {
        if (endingSeen !== undefined || releasing || aborting || idleQuiet?.() !== true) return false
        releasing = true
        idleReleasing = true
        return true
      })
    }
    return Effect.as(ul.consume(consumer), association)
  })

const RELEASE_REQUEST: UpperLayer.UserPrimitive = { _tag: "ReleaseRequest" }

/** What a requestor proposes: the peer's address and the association request. */
export interface ConnectOptions extends Negotiation.AssociateRequest {
  readonly host: string
  readonly port: number
  /** Connect over TLS with these settings (PS3.15 Annex B); plain TCP without. */
  readonly tls?: Tls.ClientOptions | undefined
}

// The next indication within the ACSE timeout; past it, the association is aborted and the wait fails.
const waitAcse = (ul: UpperLayer.UpperLayer, ae: ApplicationEntity, what: string) =>
  ul.indicationWithin(ae.timeouts.acse, () =>
    Effect.andThen(ul.submit({ _tag: "AbortRequest" }), Effect.fail(new AcseTimeout({ waitingFor: what })))
  )

// What the requestor does with the acceptor's answer: an established association, or the failure.
const answered = (
  ul: UpperLayer.UpperLayer,
  ae: ApplicationEntity,
  rq: Pdu.AAssociateRq,
  answer: UpperLayer.Indication
): Effect.Effect<Association, AssociationError | Negotiation.NegotiationError, Scope.Scope> => {
  switch (answer._tag) {
    case "AssociateAccepted": {
      const negotiated = Negotiation.evaluateAccept(ae, rq, answer.ac)
      if (Result.isFailure(negotiated)) {
        // Tell the peer (A-ABORT) before the connection goes with this scope: wait until it is sent.
        return ul
          .submit({ _tag: "AbortRequest" })
          .pipe(
            Effect.andThen(ul.indications.pipe(Effect.timeout("1 second"), Effect.ignore)),
            Effect.andThen(Effect.fail(negotiated.failure))
          )
      }
      // no more outstanding operations than we proposed, whatever the acceptor granted
      return establish(ul, ae, "requestor", Negotiation.withinProposedWindow(negotiated.success, rq))
    }
    case "AssociateRejected":
      return Effect.fail(new AssociationRejected(answer.rj))
    case "Aborted":
      if (answer.abort.connectFailed) return Effect.fail(answer.abort.connectFailed)
      return Effect.fail(new AssociationAborted(answer.abort))
    default:
      return Effect.fail(
        new AssociationAborted({ by: "provider", source: 2, reason: 2, detail: `unexpected ${answer._tag}` })
      )
  }
}

// The requestor's opening, effects chained without a generator (every association's path).
const open = (
  ae: ApplicationEntity,
  options: ConnectOptions
): Effect.Effect<Association, AssociationError | Negotiation.NegotiationError, Scope.Scope> =>
  Effect.suspend(() => {
    const built = Negotiation.buildRequestEncoded(ae, options)
    if (Result.isFailure(built)) return Effect.fail(built.failure)
    const { rq, encoded } = built.success
    const making = UpperLayer.make({
      role: "requestor",
      maxPduLength: ae.maxPduLength,
      artim: ae.timeouts.acse,
      idle: ae.timeouts.idle,
      // With no fiber for the connect: its outcome is stepped from the socket's event.
      open:
        options.tls === undefined
          ? openTcp(options.host, options.port, {
              writeTimeout: ae.timeouts.write,
              connectTimeout: ae.timeouts.connect
            })
          : openTls(options.host, options.port, {
              writeTimeout: ae.timeouts.write,
              connectTimeout: ae.timeouts.connect,
              tls: options.tls
            })
    })
    return Effect.flatMap(making, (ul) =>
      ul.submit({ _tag: "AssociateRequest", rq, encoded }).pipe(
        Effect.andThen(
          // Interrupted while the peer has not answered (Ctrl-C on a slow or frozen peer): A-ABORT (AA-1), sent
          // before the connection goes with this scope, within a second.
          waitAcse(ul, ae, "A-ASSOCIATE-AC").pipe(
            Effect.onInterrupt(() =>
              Effect.andThen(
                ul.submit({ _tag: "AbortRequest" }),
                ul.closed.pipe(Effect.timeout("1 second"), Effect.ignore)
              )
            )
          )
        ),
        Effect.flatMap((answer) => answered(ul, ae, rq, answer))
      )
    )
  })

/**
 * Opens an association as requestor, in the current scope: released when the scope closes
 * successfully, aborted when it fails or is interrupted.
 */
export const connect = (
  ae: ApplicationEntity,
  options: ConnectOptions
): Effect.Effect<Association, AssociationError | Negotiation.NegotiationError, Scope.Scope> =>
  Effect.withFiber<Association, AssociationError | Negotiation.NegotiationError, Scope.Scope>((fiber) => {
    const scope = Context.get(fiber.context as Context.Context<Scope.Scope>, Scope.Scope)
    // The association's own resources (its machine, its connection), closed after its release or abort, or at once
    // when the opening fails: one finalizer on the caller's scope for all of it.
    const inner = Scope.makeUnsafe()
    const closeInner = Effect.suspend(() => Scope.closeUnsafe(inner, Exit.void) ?? Effect.void)
    // The opening stays interruptible (a peer that never answers must not hold an interrupt until the ACSE timeout);
    // once it succeeded, the finalizer is added before anything can interrupt.
    return Effect.uninterruptibleMask((restore) =>
      Effect.matchCauseEffect(restore(Scope.provide(open(ae, options), inner)), {
        onFailure: (cause) => Effect.andThen(closeInner, Effect.failCause(cause)),
        onSuccess: (assoc) =>
          Effect.as(
            Scope.addFinalizerExit(scope, (exit) =>
              Effect.andThen(
                Exit.isSuccess(exit) ? Effect.catch(assoc.release, () => assoc.abort) : assoc.abort,
                closeInner
              )
            ),
            assoc
          )
      })
    )
  }).pipe(
    Effect.withLogSpan("association"),
    Effect.annotateLogs({ peer: `${options.host}:${options.port}`, called: options.calledAeTitle })
  )

/** What `accept` decided for an incoming association. */
export type Accepted =
  | { readonly _tag: "Established"; readonly association: Association }
  | { readonly _tag: "Rejected"; readonly why: string; readonly callingAeTitle: string }
  | { readonly _tag: "Failed"; readonly why: string }

/**
 * Runs the acceptor side on a connection that arrived: waits for the A-ASSOCIATE-RQ (ARTIM
 * bounds the wait), negotiates with `policy`, and accepts or rejects. `admit` is asked once the
 * A-ASSOCIATE-RQ has arrived and the policy would accept it; false rejects transiently with "local limit exceeded".
 * `onHeldBytes` is told the bytes of an unfinished PDU held after each read, for as long as it returns true.
 */
export const accept = (
  ae: ApplicationEntity,
  transport: Transport,
  policy: AcceptorPolicy,
  admit: () => boolean,
  onHeldBytes?: (bytes: number) => boolean
): Effect.Effect<Accepted, never, Scope.Scope> => {
  const making = UpperLayer.make({
    role: "acceptor",
    maxPduLength: ae.maxPduLength,
    artim: ae.timeouts.acse,
    idle: ae.timeouts.idle,
    transport,
    ...(onHeldBytes === undefined ? {} : { onHeldBytes })
  })
  // After a rejection, the peer's close (or ARTIM) ends it.
  const rejected = (
    ul: UpperLayer.UpperLayer,
    rq: Pdu.AAssociateRq,
    rj: Pdu.AAssociateRj,
    why: string
  ): Effect.Effect<Accepted> =>
    ul
      .submit({ _tag: "AssociateReject", rj })
      .pipe(
        Effect.andThen(
          ul.closed.pipe(Effect.timeout(Duration.sum(ae.timeouts.acse, Duration.seconds(1))), Effect.ignore)
        ),
        Effect.as<Accepted>({ _tag: "Rejected", why, callingAeTitle: rq.callingAeTitle.trim() })
      )
  // Effects chained without a generator (every association's path).
  return Effect.flatMap(making, (ul) =>
    Effect.flatMap(ul.indications, (first): Effect.Effect<Accepted, never, Scope.Scope> => {
      if (first._tag !== "AssociateIndication") {
        return Effect.as(ul.closed, {
          _tag: "Failed",
          why: first._tag === "Aborted" ? first.abort.detail : first._tag
        } as const)
      }
      const requestor = policy.requestor
      if (
        requestor !== undefined &&
        !requestor({ callingAeTitle: first.rq.callingAeTitle.trim(), address: transport.peer, tls: transport.tls })
      ) {
        return rejected(
          ul,
          first.rq,
          { _tag: "AAssociateRj", result: 1, source: 1, reason: 1 },
          "requestor refused by the policy"
        )
      }
      const decision = Negotiation.evaluateRequest(ae, first.rq, policy)
      if (decision._tag === "Reject") return rejected(ul, first.rq, decision.rj, decision.why)
      if (!admit()) {
        return rejected(
          ul,
          first.rq,
          { _tag: "AAssociateRj", result: 2, source: 3, reason: 2 },
          "too many associations"
        )
      }
      return Effect.andThen(
        ul.submit({ _tag: "AssociateAccept", ac: decision.ac, encoded: decision.encoded }),
        Effect.map(establish(ul, ae, "acceptor", decision.negotiated), (association): Accepted => ({
          _tag: "Established",
          association
        }))
      )
    })
  )
}
