/**
 * Answering C-STORE-RQ (PS3.4 Annex B.2.3): shared by the Storage SCP and by a C-GET SCU, which
 * receives its sub-operations as C-STOREs on its own association.
 *
 * The handler gets the data set as a stream of fragments in the negotiated transfer syntax,
 * with the SOP identifiers from the command, and returns the status to answer with. A C-STORE on
 * a context where we did not negotiate the SCP role is answered 0x0124, one whose SOP class is not the context's
 * 0x0122, each with a comment saying so, without calling the handler; any other request is refused the same way
 * (`Refusal`), so that the peer does not wait for its DIMSE timeout.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import { Dimse, Status } from "@netdicom/wire"
import type { AssociationAborted } from "../association/AssociationError.ts"
import type * as DimseChannel from "../dimse/DimseChannel.ts"
import type { DimseFailure } from "../dimse/DimseError.ts"
import { notServed } from "./Refusal.ts"

/** One instance arriving. */
export interface StoreRequest {
  readonly sopClassUid: string
  readonly sopInstanceUid: string
  readonly transferSyntax: string
  readonly callingAeTitle: string
  /** The C-STORE-RQ's Priority (PS3.7 Table 9.3-1): what a router passes on to `Scu.store` with the data set. */
  readonly priority: Dimse.Priority
  readonly moveOriginator: { readonly aeTitle: string; readonly messageId: number } | undefined
  /** The bare data set as it arrives; consume it fully. */
  readonly dataSet: Stream.Stream<Uint8Array, AssociationAborted>
  /**
   * `dataSet` with its fragments lent: for a consumer that keeps no view of a fragment once it has released it
   * (`ReceivedBytes.release`). `Part10.writeFile(path, meta, request.dataSetLent)` releases each fragment once
   * written, so a large instance's socket reads are freed as it goes instead of at the next garbage collection.
   * Read this or `dataSet`, not both, and by one consumer (not shared with `Stream.broadcastN`: a writer that
   * meets a fragment another has freed fails); a handler that keeps fragments reads `dataSet`.
   */
  readonly dataSetLent: Stream.Stream<Uint8Array, AssociationAborted>
  /**
   * The whole bare data set, when it had arrived in full before the handler was called (small instances): its
   * fragments in order. `dataSet` then yields the same fragments; a handler may use either, and need not read
   * `dataSet` when it uses this.
   */
  readonly dataSetReceived?: ReadonlyArray<Uint8Array>
}

/** The status to answer with, and an optional comment (PS3.7 C.4.1). */
export interface StoreOutcome {
  readonly status: number
  readonly errorComment?: string | undefined
}

/**
 * What the user provides to take instances: called once per request, as it is handled, and its effect run at once.
 * A handler that does its work as it is called (discarding, or a small instance written synchronously) may return its
 * outcome as `Effect.succeed(outcome)` (an `Exit`): the response is then written as it returns, and no fiber runs for
 * it.
 */
export type StorageHandler = (request: StoreRequest) => Effect.Effect<StoreOutcome>

// Answers now: called from within the handler's running effect, the response is written at once when nothing else
// is being sent (no Effect step, no lock), else the effect returned finishes it. A failed send is not the handler's
// failure: the association is ending, and its own error says why.
// A plain function of the request (not a closure made per request): one call per answer.
const respond = (
  request: DimseChannel.IncomingRequest,
  channel: DimseChannel.DimseChannel,
  m: Dimse.CStoreRq,
  status: number,
  errorComment?: string
): Effect.Effect<void> => {
  const rest = answer(request, channel, m, status, errorComment)
  return rest === undefined ? Effect.void : Effect.ignore(rest)
}

// The response written now (`undefined`), or the effect that finishes sending it (`DimseChannel.sendNow`).
const answer = (
  request: DimseChannel.IncomingRequest,
  channel: DimseChannel.DimseChannel,
  m: Dimse.CStoreRq,
  status: number,
  errorComment: string | undefined
): Effect.Effect<void, DimseFailure> | undefined =>
  channel.sendNow(request.context, {
    _tag: "CStoreRsp",
    messageIdBeingRespondedTo: m.messageId,
    status,
    affectedSopClassUid: m.affectedSopClassUid,
    affectedSopInstanceUid: m.affectedSopInstanceUid,
    ...(errorComment ? { errorComment: Dimse.fitErrorComment(errorComment) } : {})
  } satisfies Dimse.CStoreRsp)

// What a C-GET SCU answers any other request (a C-ECHO-RQ from the C-GET's SCP, say): refused (`Refusal`).
const notStore = notServed("this SCU serves only C-STORE")

/**
 * A request handler answering C-STORE-RQ with `handler`, and refusing anything else (0x0122, or 0x0124 on a context
 * where we are not the SCP: `Refusal.notServed`).
 */
export const storeRequestHandler =
  (handler: StorageHandler): DimseChannel.RequestHandler =>
  (request, channel) => {
    const m = request.message
    if (m._tag !== "CStoreRq") return notStore(request, channel)
    if (!request.context.weAreScp) {
      return Effect.gen(function* () {
        yield* Stream.runDrain(request.dataSet).pipe(Effect.ignore)
        yield* Effect.logWarning(`C-STORE on context ${request.context.id} without the SCP role refused`)
        return yield* respond(request, channel, m, Status.NOT_AUTHORIZED, "no SCP role negotiated for this SOP class")
      })
    }
    if (m.affectedSopClassUid !== request.context.abstractSyntax) {
      // A C-GET's sub-operation reaches us here unchecked (an SCP's requests are checked by `Scp.requestHandler`):
      // an instance of a SOP class we did not accept on this context is refused, as an SCP refuses it.
      return Effect.gen(function* () {
        yield* Stream.runDrain(request.dataSet).pipe(Effect.ignore)
        yield* Effect.logWarning(
          `C-STORE of ${m.affectedSopInstanceUid} (${m.affectedSopClassUid}) on context ${request.context.id} ` +
            `(${request.context.abstractSyntax}) refused: not its SOP class`
        )
        return yield* respond(
          request,
          channel,
          m,
          Status.SOP_CLASS_NOT_SUPPORTED,
          `not the SOP class of presentation context ${request.context.id}`
        )
      })
    }
    const received = request.dataSetReceived
    // Called as the request is handled (the channel calls this as it is, and runs the effect at once): a throw in it is
    // that handler's defect, answered as one below.
    let outcome: Effect.Effect<StoreOutcome>
    try {
      outcome = handler({
        sopClassUid: m.affectedSopClassUid,
        sopInstanceUid: m.affectedSopInstanceUid,
        transferSyntax: request.context.transferSyntax,
        callingAeTitle: channel.association.negotiated.peerAeTitle,
        priority: m.priority,
        moveOriginator:
          m.moveOriginatorApplicationEntityTitle !== undefined
            ? { aeTitle: m.moveOriginatorApplicationEntityTitle, messageId: m.moveOriginatorMessageId ?? 0 }
            : undefined,
        dataSet: request.dataSet,
        dataSetLent: request.dataSetLent,
        ...(received !== undefined ? { dataSetReceived: received } : {})
      })
    } catch (thrown) {
      outcome = Effect.die(thrown)
    }
    // A handler that did its work as it was called and gave its outcome (`Effect.succeed`, an `Exit`) is answered now;
    // written at once, its effect is `Exit.void`, and the channel runs no fiber for it.
    if (Exit.isExit(outcome) && outcome._tag === "Success") {
      // The success of an `Effect<StoreOutcome>` (`isExit` narrows to `Exit<unknown>`).
      const given = outcome.value as StoreOutcome
      const rest = answer(request, channel, m, given.status, given.errorComment)
      return rest === undefined ? Exit.void : Effect.ignore(rest)
    }
    // A handler that died (a throw, a defect) is answered 0x0110, processing failure, rather than leaving the peer
    // waiting for a response until its timeout; interrupted (the association is gone), there is no one to answer.
    // One step for both outcomes (not a catch, then a flatMap): this runs once per instance.
    return Effect.matchCauseEffect(outcome, {
      onFailure: (cause) =>
        Cause.hasInterruptsOnly(cause)
          ? Effect.failCause(cause)
          : Effect.flatMap(Effect.logError(`the storage handler for ${m.affectedSopInstanceUid} failed`, cause), () =>
              respond(request, channel, m, Status.PROCESSING_FAILURE, "the storage handler failed")
            ),
      onSuccess: (o) => respond(request, channel, m, o.status, o.errorComment)
    })
  }
