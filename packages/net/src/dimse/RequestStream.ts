/**
 * A request with several responses (C-FIND, C-GET, C-MOVE; PS3.7 9.1.2-9.1.4, 9.3.2-9.3.4) as a stream of them, ending
 * with the final one (internal): its inbox a bounded queue (a consumer slower than the peer holds the association back,
 * not our memory), its C-CANCEL-RQ sent when the stream is stopped early (`cancel`) or when `cancelWhen` completes,
 * and the rest of its responses awaited within the cancel timeout, or drained by a fiber of the channel.
 */
import type * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { Status, type Dimse } from "@netdicom/wire"
import type { AcceptedContext } from "../association/Negotiated.ts"
import type { RequestOptions, Response } from "./ChannelApi.ts"
import type { ChannelState, Sent } from "./ChannelState.ts"
import type { DimseFailure } from "./DimseError.ts"
import { messageIdOf } from "./DimseReceiver.ts"
import { beginWhole, isWhole, send, sendInParts } from "./DimseSend.ts"
import type * as OperationsWindow from "./OperationsWindow.ts"
import { nextResponse, withinDimseTimeout } from "./Requests.ts"

// Responses waiting for their consumer, per request: past this the association is not read further.
const RESPONSE_WINDOW = 2

/** `DimseChannel.request`: sends a request and streams its responses, ending with the final one. */
export const request = (
  ch: ChannelState,
  context: AcceptedContext,
  message: Dimse.Message,
  options?: RequestOptions
): Stream.Stream<Response, DimseFailure> =>
  Stream.callback<Response, DimseFailure>(
    (out) =>
      Effect.gen(function* () {
        const id = messageIdOf(message) ?? 0
        // Bounded: a consumer slower than the peer holds the association back, not our memory.
        const inbox = yield* Queue.bounded<Response, DimseFailure | Cause.Done>(RESPONSE_WINDOW)
        let finished = false
        // Set once a C-CANCEL-RQ went out for it (`cancelWhen`), so that it goes once.
        let cancelSent = false
        const { cancel: cancelTimeout, dimse } = ch.association.ae.timeouts
        const cancelWithin = Duration.min(cancelTimeout, dimse)
        const noFinalAfterCancel = () =>
          ch.rx.gone === undefined
            ? ch.protocolAbort(
                `no final response to message ${id} within ${Duration.format(cancelWithin)} of its C-CANCEL`
              )
            : Effect.void
        const holder: OperationsWindow.Holder = { slot: false }
        const mark: Sent = { sent: false }
        // Set when the rest of the responses are left to a fiber of the channel, which gives the slot back.
        let handedOff = false
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            if (!handedOff) ch.window.release(holder)
          })
        )
        yield* ch.window.take(holder)
        yield* Effect.addFinalizer(() =>
          Effect.gen(function* () {
            // Only a request the peer may have seen is cancelled (one stopped before its write began is not).
            if (!finished && mark.sent && (options?.cancel || cancelSent) && ch.rx.gone === undefined) {
              if (!cancelSent) {
                cancelSent = true
                yield* send(ch, context, { _tag: "CCancelRq", messageIdBeingRespondedTo: id }).pipe(Effect.ignore)
              }
              // Still wait for the final response, so the association stays in step. None within the cancel
              // timeout (at most the DIMSE timeout) aborts the association: the peer still counts the request
              // outstanding, so its window slot cannot be given back to the next request, and a user who
              // stopped the request (Ctrl-C) is not kept waiting for a peer that has stopped answering.
              yield* Effect.gen(function* () {
                while (true) {
                  const r = yield* Queue.take(inbox)
                  if (Status.isFinal(r.status)) return
                }
              }).pipe(Effect.timeoutOrElse({ duration: cancelWithin, orElse: noFinalAfterCancel }), Effect.ignore)
            } else if (!finished && mark.sent && ch.rx.gone === undefined) {
              // Stopped without a C-CANCEL: the peer goes on to its final response and counts the request
              // outstanding until then. The rest is drained by a fiber of the channel, which gives the window
              // slot back with the final response (none within the DIMSE timeout aborts the association).
              handedOff = true
              ch.runFork(
                Effect.gen(function* () {
                  while (true) {
                    const r = yield* withinDimseTimeout(ch, Queue.take(inbox), id, message)
                    if (Status.isFinal(r.status)) return
                  }
                }).pipe(
                  Effect.ignore,
                  Effect.ensuring(
                    Effect.suspend(() => {
                      ch.pending.delete(id)
                      ch.window.release(holder)
                      return Queue.shutdown(inbox)
                    })
                  )
                )
              )
              return
            }
            ch.pending.delete(id)
            // Nobody takes from it any more: let a dispatcher blocked on it go on.
            yield* Queue.shutdown(inbox)
          })
        )
        // Registered for its responses once it holds a slot and its finalizer is in place (one given up while
        // waiting for a slot leaves nothing behind).
        ch.pending.set(id, { _tag: "Stream", message, contextId: context.id, queue: inbox })
        if (ch.rx.gone !== undefined || ch.closed) return yield* Effect.fail(ch.goneError())
        if (ch.releasing !== undefined) return yield* Effect.fail(ch.releasing)
        const dataSet = options?.dataSet
        yield* isWhole(dataSet)
          ? Effect.suspend(() => beginWhole(ch, context, message, dataSet, mark) ?? Effect.void)
          : sendInParts(ch, context, message, dataSet, mark)
        const cancelWhen = options?.cancelWhen
        if (cancelWhen !== undefined) {
          // Cancelled while outstanding: C-CANCEL-RQ once, then the responses go on to the final one, which must
          // come within the cancel timeout (this fiber ends with the stream's scope, once the final came).
          yield* Effect.forkScoped(
            Effect.gen(function* () {
              yield* cancelWhen
              if (finished || cancelSent || ch.rx.gone !== undefined) return
              cancelSent = true
              yield* send(ch, context, { _tag: "CCancelRq", messageIdBeingRespondedTo: id }).pipe(Effect.ignore)
              // Only the peer's silence counts: while responses wait for a slow consumer (the reader holding back
              // those behind them, the final one perhaps), or the data set of the sub-operation under way at the
              // C-CANCEL (a C-GET's C-STORE) still arrives, it waits again. A prompt consumer leaves the inbox
              // empty, and a new sub-operation after the C-CANCEL counts for nothing, so a peer flooding Pending
              // responses or sub-operations after the C-CANCEL is still aborted.
              const requests = ch.rx.requestsArrived
              let fragments = ch.rx.requestFragmentsArrived
              yield* Effect.sleep(cancelWithin)
              while (!finished) {
                const arriving = ch.rx.requestsArrived === requests && ch.rx.requestFragmentsArrived !== fragments
                if (Queue.sizeUnsafe(inbox) === 0 && !arriving) break
                fragments = ch.rx.requestFragmentsArrived
                yield* Effect.sleep(cancelWithin)
              }
              if (!finished) yield* noFinalAfterCancel()
            })
          )
        }
        while (true) {
          const r = yield* nextResponse(ch, inbox, id, message, options?.progress)
          if (Status.isFinal(r.status)) {
            finished = true
            yield* Queue.offer(out, r)
            yield* Queue.end(out)
            return
          }
          yield* Queue.offer(out, r)
        }
      }).pipe(Effect.catch((e: DimseFailure) => Queue.fail(out, e))),
    { bufferSize: RESPONSE_WINDOW }
  )
