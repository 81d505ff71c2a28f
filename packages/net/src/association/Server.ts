/**
 * An acceptor: listens, runs each association in its own fiber under the server's scope, up to a
 * limit (PS3.8 section 7.1; the limit answers A-ASSOCIATE-RJ transient, "local limit exceeded").
 *
 * The handler gets each established association and runs for as long as it likes; the association
 * ends when the peer releases or aborts, or when the handler's scope closes (then it is aborted).
 * Closing the server's scope stops listening and aborts the associations still open.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as References from "effect/References"
import type * as Scope from "effect/Scope"
import { listenTcp, type ListenFailed } from "../upper/Transport.ts"
import type { AcceptorPolicy } from "./AcceptorPolicy.ts"
import { AcceptorPolicyService, defaultPolicy } from "./AcceptorPolicy.ts"
import { accept, type Association } from "./Association.ts"
import type { ApplicationEntity } from "./ApplicationEntity.ts"

/** How to serve. */
export interface ServeOptions {
  /** Defaults to 127.0.0.1; "0.0.0.0" listens on every interface. */
  readonly host?: string
  /** 0 picks a free port. */
  readonly port: number
  /** Associations open at once; more are rejected transiently (default 64). */
  readonly maxAssociations?: number
  /** Connections that have not sent their A-ASSOCIATE-RQ yet; more are closed (default 4 x maxAssociations). */
  readonly maxPendingConnections?: number
  /** The acceptor policy; without it, the `AcceptorPolicyService` in context, else `defaultPolicy(ae)`. */
  readonly policy?: AcceptorPolicy
  /** Runs for each established association; when it returns, the association is waited on until it ends. */
  readonly handler: (association: Association) => Effect.Effect<void>
}

/** A running server. */
export interface Server {
  readonly port: number
  /** Associations open now. */
  readonly active: Effect.Effect<number>
  /** Connections that have not sent an A-ASSOCIATE-RQ yet. */
  readonly pending: Effect.Effect<number>
}

/** Starts a server in the current scope. */
export const serve = (ae: ApplicationEntity, options: ServeOptions): Effect.Effect<Server, ListenFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const tcp = yield* listenTcp(options.host ?? "127.0.0.1", options.port, { writeTimeout: ae.timeouts.write })
    const policy =
      options.policy ?? Option.getOrElse(yield* Effect.serviceOption(AcceptorPolicyService), () => defaultPolicy(ae))
    const limit = options.maxAssociations ?? 64
    const maxPending = options.maxPendingConnections ?? 4 * limit
    // `active` counts associations admitted (their A-ASSOCIATE-RQ came and was not refused for load);
    // `pending` counts connections that have sent no A-ASSOCIATE-RQ yet, bounded by ARTIM and maxPending.
    let active = 0
    let pending = 0
    let serial = 0

    // Info lines are built only when they will be printed (the level is the server's, read once): these run per
    // association.
    const level = yield* References.MinimumLogLevel
    const info = LogLevel.isGreaterThanOrEqualTo("Info", level)

    // Serves an established association: the handler, then the wait for its end.
    const serveAssociation = (assoc: Association): Effect.Effect<void> => {
      const handled = options
        .handler(assoc)
        .pipe(
          Effect.catchCause((cause) =>
            Effect.andThen(Effect.logError("association handler failed", cause), assoc.abort)
          )
        )
      const ended = Effect.flatMap(assoc.ended, (ending) =>
        info ? Effect.logInfo(ending._tag === "Released" ? "association released" : ending.error.message) : Effect.void
      )
      return Effect.andThen(handled, ended).pipe(
        // Server shutdown: tell the peer with an A-ABORT rather than just dropping the connection.
        Effect.onInterrupt(() => assoc.abort.pipe(Effect.timeout("1 second"), Effect.ignore))
      )
    }

    // Each connection: effects chained without a generator (every association's path).
    const onConnection = (transport: Parameters<Parameters<typeof tcp.run>[0]>[0]): Effect.Effect<void> => {
      if (pending >= maxPending) {
        return Effect.andThen(
          Effect.logWarning(`more than ${maxPending} connections without an A-ASSOCIATE-RQ: closing one`),
          transport.destroy
        )
      }
      pending++
      let waiting = true
      let admitted = false
      const admit = () => {
        waiting = false
        pending--
        if (active >= limit) return false
        active++
        admitted = true
        return true
      }
      const counted = Effect.sync(() => {
        if (waiting) pending--
        if (admitted) active--
      })
      const served = Effect.flatMap(accept(ae, transport, policy, admit), (outcome) => {
        // A rejection is logged as an acceptance is: an integrator whose modality is turned away looks for it here.
        // A connection that never became an association (no A-ASSOCIATE-RQ, a malformed one) stays at Debug.
        if (outcome._tag === "Rejected") {
          return info
            ? Effect.logInfo(`association from ${outcome.callingAeTitle} rejected: ${outcome.why}`)
            : Effect.void
        }
        if (outcome._tag !== "Established") return Effect.logDebug(`association not established: ${outcome.why}`)
        const assoc = outcome.association
        return info
          ? Effect.andThen(
              Effect.logInfo(
                `association accepted from ${assoc.negotiated.peerAeTitle}: ` +
                  `${assoc.negotiated.accepted.length} context(s)`
              ),
              serveAssociation(assoc)
            )
          : serveAssociation(assoc)
      })
      // The counts are given back once the association's scope has closed.
      return Effect.ensuring(Effect.scoped(served), counted).pipe(
        Effect.onInterrupt(() => Effect.logDebug("association interrupted by server shutdown")),
        Effect.withLogSpan("association"),
        Effect.annotateLogs({ peer: transport.peer, association: ++serial })
      )
    }

    yield* Effect.forkScoped(tcp.run(onConnection))
    // Run first as the scope closes (finalizers run last added first): no connection is taken while the open
    // associations are being aborted, so a peer reconnecting meanwhile is refused, not accepted and then dropped.
    yield* Effect.addFinalizer(() => tcp.stopListening)
    return { port: tcp.port, active: Effect.sync(() => active), pending: Effect.sync(() => pending) }
  })
