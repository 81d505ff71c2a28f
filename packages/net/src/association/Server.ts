/**
 * An acceptor: listens, runs each association in its own fiber under the server's scope, up to a
 * limit (PS3.8 section 7.1; the limit answers A-ASSOCIATE-RJ transient, "local limit exceeded").
 *
 * The handler gets each established association and runs for as long as it likes; the association
 * ends when the peer releases or aborts, or when the handler's scope closes (then it is aborted). Its place is given
 * back once its connection has closed: after an A-ABORT of ours, when the peer closes it or ARTIM expires (Sta13).
 * Closing the server's scope stops listening and aborts the associations still open.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as References from "effect/References"
import type * as Scope from "effect/Scope"
import { listenTcp, listenTls, ListenFailed, type Transport } from "../upper/Transport.ts"
import type * as Tls from "../upper/Tls.ts"
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
  /**
   * Serve over TLS with these settings (PS3.15 Annex B; port 2762 by convention): each connection's handshake must
   * complete within the ACSE timeout (ARTIM's), and a failed one is logged and dropped before any association.
   */
  readonly tls?: Tls.ServerOptions | undefined
  /** Associations open at once; more are rejected transiently (default 64). */
  readonly maxAssociations?: number
  /**
   * Connections without an association (no A-ASSOCIATE-RQ yet, or rejected and not yet closed by the peer), default
   * 4 x maxAssociations; past it the oldest of them is closed.
   */
  readonly maxPendingConnections?: number
  /**
   * Bytes of unfinished PDUs (A-ASSOCIATE-RQs, mostly) that the connections without an association may hold
   * together (default 16 MiB; each alone may hold one A-ASSOCIATE-RQ of up to 256 KiB,
   * `PduParser.ACCEPTOR_CONTROL_LIMIT`); past it the one holding the most is closed.
   */
  readonly maxPendingBytes?: number
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
  /** Connections without an association: no A-ASSOCIATE-RQ yet, or rejected and not yet closed by the peer. */
  readonly pending: Effect.Effect<number>
  /** The bytes of unfinished PDUs those connections hold. */
  readonly pendingBytes: Effect.Effect<number>
}

// A limit given that is not a whole number from 1 (0, negative, fractional, NaN) would make a server that turns every
// peer away or none: refused before listening, naming the option.
const invalidLimit = (options: ServeOptions): ListenFailed | undefined => {
  for (const name of ["maxAssociations", "maxPendingConnections", "maxPendingBytes"] as const) {
    const value = options[name]
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 1)) {
      return new ListenFailed({ detail: `${name} must be a whole number from 1, not ${value}` })
    }
  }
  return undefined
}

// The accepted line's TLS part: the protocol, and the client certificate's subject when one was presented.
const overTls = (tls: Tls.Session | undefined): string => {
  if (tls === undefined) return ""
  const subject = tls.peerCertificate?.subject.replaceAll("\n", ", ")
  return ` over ${tls.protocol}${subject === undefined ? "" : ` (client certificate ${subject})`}`
}

/** Starts a server in the current scope; a limit that is not a whole number from 1 fails it as `ListenFailed`. */
export const serve = (ae: ApplicationEntity, options: ServeOptions): Effect.Effect<Server, ListenFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const invalid = invalidLimit(options)
    if (invalid !== undefined) return yield* invalid
    const host = options.host ?? "127.0.0.1"
    const tcp = yield* options.tls === undefined
      ? listenTcp(host, options.port, { writeTimeout: ae.timeouts.write })
      : listenTls(host, options.port, {
          writeTimeout: ae.timeouts.write,
          handshakeTimeout: ae.timeouts.acse,
          tls: options.tls
        })
    const policy =
      options.policy ?? Option.getOrElse(yield* Effect.serviceOption(AcceptorPolicyService), () => defaultPolicy(ae))
    const limit = options.maxAssociations ?? 64
    const maxPending = options.maxPendingConnections ?? 4 * limit
    // `active` counts associations admitted (their A-ASSOCIATE-RQ came and was not refused for load);
    // `waiting` holds the connections without an association, oldest first: no A-ASSOCIATE-RQ yet, or rejected and
    // waiting for the peer to close; each bounded by ARTIM, all by maxPending.
    let active = 0
    const waiting = new Set<Transport>()
    // What each of them holds of an unfinished PDU, as its reader last told, and their sum.
    const maxPendingBytes = options.maxPendingBytes ?? 16 * 1024 * 1024
    const held = new Map<Transport, number>()
    let heldTotal = 0
    const leave = (transport: Transport) => {
      waiting.delete(transport)
      const bytes = held.get(transport)
      if (bytes === undefined) return
      heldTotal -= bytes
      held.delete(transport)
    }
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    // Past the budget the connection holding the most is closed: a client's A-ASSOCIATE-RQ of some kilobytes outlasts
    // a flood of large unfinished ones.
    const closeLargest = () => {
      let largest: Transport | undefined
      let most = -1
      for (const [transport, bytes] of held) {
        if (bytes > most) {
          most = bytes
          largest = transport
        }
      }
      if (largest === undefined) return
      leave(largest)
      const peer = largest.peer
      runFork(
        Effect.andThen(
          Effect.logWarning(
            `connections without an association hold more than ${maxPendingBytes} bytes: closing ${peer}'s (${most})`
          ),
          largest.destroy
        )
      )
    }
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
      // Then the connection's close: after an A-ABORT (the peer's PDU out of place, the handler's abort, the idle
      // timeout) the connection waits in Sta13 for the peer to close it, ARTIM bounding the wait (PS3.8 Table 9-10,
      // AA-1/AA-8), rather than being dropped with the association's scope as soon as the association has ended.
      return Effect.andThen(Effect.andThen(handled, ended), assoc.disconnected).pipe(
        // Server shutdown: tell the peer with an A-ABORT rather than just dropping the connection.
        Effect.onInterrupt(() => assoc.abort.pipe(Effect.timeout("1 second"), Effect.ignore))
      )
    }

    // Each connection: effects chained without a generator (every association's path).
    const onConnection = (transport: Transport): Effect.Effect<void> => {
      // Past the bound the oldest waiting connection makes room: closing the newest instead let a peer holding that
      // many silent connections (reopening each one ARTIM closed) keep out every client, whose A-ASSOCIATE-RQ
      // follows its connect at once.
      let evicted: Effect.Effect<void> | undefined
      const oldest = waiting.size >= maxPending ? waiting.values().next().value : undefined
      if (oldest !== undefined) {
        leave(oldest)
        evicted = Effect.andThen(
          Effect.logWarning(
            `more than ${maxPending} connections without an association: closing the oldest (${oldest.peer})`
          ),
          oldest.destroy
        )
      }
      waiting.add(transport)
      let admitted = false
      // Asked once the policy would accept the A-ASSOCIATE-RQ: a rejected connection, waiting for the peer to close
      // it, takes no association place and stays among the waiting ones, where a flood of them is bounded.
      const admit = () => {
        if (active >= limit) return false
        leave(transport)
        active++
        admitted = true
        return true
      }
      const counted = Effect.sync(() => {
        leave(transport)
        if (admitted) active--
      })
      const onHeldBytes = (bytes: number): boolean => {
        if (!waiting.has(transport)) return false
        heldTotal += bytes - (held.get(transport) ?? 0)
        held.set(transport, bytes)
        while (heldTotal > maxPendingBytes && held.size > 0) closeLargest()
        return waiting.has(transport)
      }
      const served = Effect.flatMap(accept(ae, transport, policy, admit, onHeldBytes), (outcome) => {
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
                  `${assoc.negotiated.accepted.length} context(s)${overTls(assoc.tls)}`
              ),
              serveAssociation(assoc)
            )
          : serveAssociation(assoc)
      })
      // The counts are given back once the association's scope has closed.
      const run = evicted === undefined ? Effect.scoped(served) : Effect.andThen(evicted, Effect.scoped(served))
      return Effect.ensuring(run, counted).pipe(
        Effect.onInterrupt(() => Effect.logDebug("association interrupted by server shutdown")),
        Effect.withLogSpan("association"),
        Effect.annotateLogs({ peer: transport.peer, associationNumber: ++serial })
      )
    }

    yield* Effect.forkScoped(tcp.run(onConnection))
    // Run first as the scope closes (finalizers run last added first): no connection is taken while the open
    // associations are being aborted, so a peer reconnecting meanwhile is refused, not accepted and then dropped.
    yield* Effect.addFinalizer(() => tcp.stopListening)
    return {
      port: tcp.port,
      active: Effect.sync(() => active),
      pending: Effect.sync(() => waiting.size),
      pendingBytes: Effect.sync(() => heldTotal)
    }
  })
