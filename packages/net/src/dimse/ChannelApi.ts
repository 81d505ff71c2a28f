/**
 * The shapes of a DIMSE channel (PS3.7 sections 7-9): the channel's interface, the requests and responses it carries
 * and the handler an SCP gives it. `DimseChannel` re-exports them; the channel's modules below it use them from here.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Result from "effect/Result"
import type * as Stream from "effect/Stream"
import type { Dimse } from "@netdicom/wire"
import type { Association } from "../association/Association.ts"
import type { AssociationAborted } from "../association/AssociationError.ts"
import type { AcceptedContext } from "../association/Negotiated.ts"
import type { DataSourceFailed, DimseFailure, NoAcceptedContext } from "./DimseError.ts"

/** A data set to send: bytes in memory, or a stream of chunks (read from a file, say). */
export type DataSource = Uint8Array | Stream.Stream<Uint8Array, DataSourceFailed>

/** A response to one of our requests, with its data set (identifier) when it carries one. */
export interface Response {
  readonly message: Dimse.Message
  readonly status: number
  readonly dataSet: Uint8Array | undefined
  /**
   * The elements of other groups a peer put in the command set of a response without a data set (a DCMTK-based
   * peer's status detail: Orthanc 1.10's Failed SOP Instance UID List), in Implicit VR Little Endian.
   */
  readonly statusDetail?: Uint8Array
}

/** A request that arrived, for an SCP handler. */
export interface IncomingRequest {
  readonly context: AcceptedContext
  readonly message: Dimse.Message
  /** The data set as it arrives, in fragments; empty when the request has none. Must be consumed. */
  readonly dataSet: Stream.Stream<Uint8Array, AssociationAborted>
  /**
   * `dataSet` with its fragments lent (`ReceivedBytes`): for a consumer that keeps no view of a fragment once it has
   * released it (`Part10.writeFile` releases each once written), which frees the socket reads at once instead of at
   * the next garbage collection. Read this or `dataSet`, not both, by one consumer (not shared with a broadcast).
   */
  readonly dataSetLent: Stream.Stream<Uint8Array, AssociationAborted>
  /**
   * The whole data set, when it had arrived in full before the handler was called (a small one): its fragments
   * in order, views of the received PDUs. `dataSet` yields the same fragments; a handler may use either.
   */
  readonly dataSetReceived?: ReadonlyArray<Uint8Array>
  /** Completes when the peer sends C-CANCEL-RQ for this request. */
  readonly cancelled: Effect.Effect<void>
  readonly isCancelled: () => boolean
}

/** How `DimseChannel.request` sends a request and when it cancels it. */
export interface RequestOptions {
  readonly dataSet?: DataSource
  /** Send C-CANCEL-RQ when the stream is stopped before its final response. */
  readonly cancel?: boolean
  /**
   * Send C-CANCEL-RQ once this completes (a user's Ctrl-C, say) while the request is outstanding, and go on streaming
   * the responses to the final one (0xFE00 with its counts, usually); none within `timeouts.cancel` (at most
   * `timeouts.dimse`) aborts the association, as for `cancel`.
   */
  readonly cancelWhen?: Effect.Effect<void>
  /**
   * A count that grows as the request makes progress where this association does not see it (a C-MOVE's
   * sub-operations arriving at a storage SCP of ours): while it changes, the wait for the next response restarts at
   * the DIMSE timeout, as it does while the peer's own requests arrive (a C-GET's C-STORE sub-operations).
   */
  readonly progress?: () => number
}

/**
 * What a request handler does with each request; it answers through the channel. It is called as the request is
 * ready (on the socket's event) and its effect is run in a fiber of its own with the `dimse` log span and the
 * message's annotations; a handler that has done its work as it was called (answered with `sendNow`) may return
 * `Exit.void`, which runs no fiber.
 */
export type RequestHandler = (request: IncomingRequest, channel: DimseChannel) => Effect.Effect<void>

/** DIMSE on an association. */
export interface DimseChannel {
  readonly association: Association
  readonly nextMessageId: Effect.Effect<number>
  /** `nextMessageId`, taken now: for a caller already running in an effect (one Effect step fewer per request). */
  readonly takeMessageId: () => number
  /** Sends one message and its data set, if any. */
  readonly send: (
    context: AcceptedContext,
    message: Dimse.Message,
    dataSet?: DataSource
  ) => Effect.Effect<void, DimseFailure>
  /**
   * `send` of a message in one write (no data set, or a small one in bytes), begun now, for a caller already running
   * in an effect: with nothing else being sent it is written as this is called and `undefined` is returned (no
   * Effect step, no lock); otherwise the effect that does the rest (waits its turn or for the socket to drain) or
   * fails. A reply's path: an SCP answers this way.
   */
  readonly sendNow: (
    context: AcceptedContext,
    message: Dimse.Message,
    dataSet?: Uint8Array
  ) => Effect.Effect<void, DimseFailure> | undefined
  /**
   * Sends a request and streams its responses, ending with the final one. When the stream is
   * stopped before the final response and `cancel` is set, a C-CANCEL-RQ is sent and the final
   * response still awaited, within `timeouts.cancel` (at most `timeouts.dimse`): past it the association is
   * aborted, and what is sent on it after fails with `AssociationAborted` saying so.
   */
  readonly request: (
    context: AcceptedContext,
    message: Dimse.Message,
    options?: RequestOptions
  ) => Stream.Stream<Response, DimseFailure>
  /** Sends a request that has exactly one (final) response and waits for it. */
  readonly requestOne: (
    context: AcceptedContext,
    message: Dimse.Message,
    dataSet?: DataSource
  ) => Effect.Effect<Response, DimseFailure>
  /**
   * `requestOne` begun now, for a caller already running in an effect (a `suspend`): a message in one write is sent
   * as this is called when a window slot is free, and the effect returned waits for the response; otherwise (the
   * window full, a data set in parts, another message being sent) it takes its slot and is sent once the effect runs,
   * so that an effect never run holds no slot. The effect may be run more than once, at once or later: the request
   * leaves once, and every run gets its outcome. With `onResponse`, the effect gives what it makes of the response,
   * applied as the response is delivered (no Effect step of its own; one that throws fails the effect with the
   * defect).
   */
  readonly requestOneNow: {
    (context: AcceptedContext, message: Dimse.Message, dataSet?: DataSource): Effect.Effect<Response, DimseFailure>
    <A>(
      context: AcceptedContext,
      message: Dimse.Message,
      dataSet: DataSource | undefined,
      onResponse: (response: Response) => A
    ): Effect.Effect<A, DimseFailure>
  }
  /** The accepted context for a SOP class in a role, optionally with one of the given transfer syntaxes. */
  readonly findContext: (
    sopClassUid: string,
    role: "SCU" | "SCP",
    transferSyntaxes?: ReadonlyArray<string>
  ) => Result.Result<AcceptedContext, NoAcceptedContext>
  /**
   * True once the channel is closing (its scope ends: a server shutting down), a second before its request handlers
   * are interrupted: a handler of several steps (C-GET/C-MOVE sub-operations) starts no new one and sends its final
   * response.
   */
  readonly isStopping: () => boolean
}
