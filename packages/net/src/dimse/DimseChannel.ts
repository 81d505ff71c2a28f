/**
 * DIMSE over one association (PS3.7 sections 7-9, PS3.8 Annex E): sending messages as P-DATA,
 * reassembling what arrives, matching responses to requests (by Message ID; one of another command than the request's
 * aborts the association), and handing requests to a handler.
 *
 * One message is sent at a time per association (command and data set together, under a lock),
 * so PDVs of two messages never interleave; a message half sent when its send fails or is
 * interrupted aborts the association. Data sets go out from bytes or from a stream without being
 * gathered, as vectored writes of PDU headers and views of the data. Receiving is synchronous code
 * run by the reader on the socket's events that returns an effect only where it must wait: incoming data sets reach
 * their handler through a bounded `Inflow` (views of the received PDUs), responses' identifiers
 * are gathered, bounded, and handlers running at once are capped. When the association ends,
 * every outstanding request fails at once with the reason.
 *
 * This module makes the channel; its parts are modules of their own, functions shared by every association over
 * one state record per channel (`ChannelState`), opened by `ChannelOpen`: the send path (`DimseSend`), the requests
 * we send and their responses (`Requests`, and `RequestStream` for those with several), the receive path
 * (`DimseReceiver`), the handlers of the requests we receive (`RequestHandlers`) and the channel's end (`ChannelEnd`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import type { Association } from "../association/Association.ts"
import type { DimseChannel, RequestHandler } from "./ChannelApi.ts"
import * as ChannelOpen from "./ChannelOpen.ts"

export type {
  DataSource,
  DimseChannel,
  IncomingRequest,
  RequestHandler,
  RequestOptions,
  Response
} from "./ChannelApi.ts"

export { MAX_RESPONSE_DATA_SET_BYTES } from "./DimseReceiver.ts"

/** What a data set may inflate to when it is decoded (deflated identifiers): a bound on bombs. */
export const MAX_INFLATED_IDENTIFIER_BYTES = 16 << 20

/**
 * The most data elements and sequence items a C-FIND/C-GET/C-MOVE identifier (request or response) may hold, every
 * level counted: one over is a data set that cannot be decoded. 16 MiB inflated of 8-byte elements is 2 million of
 * them, ~300-700 MB and 1-4 s of decoding; 20,000 cost ~13 MB and 35-80 ms.
 */
export const MAX_IDENTIFIER_ELEMENTS = 20_000

/** Starts DIMSE on an association in the current scope; `handler` receives the requests that arrive. */
export const make = (
  association: Association,
  handler?: RequestHandler
): Effect.Effect<DimseChannel, never, Scope.Scope> =>
  // In one synchronous run (no generator): every association's set-up.
  Effect.withFiber((fiber) => {
    // The services read once, from the context (a fiber step each saved: this is every association's set-up).
    const context = fiber.context as Context.Context<never>
    const opened = ChannelOpen.open(association, handler, context)
    // On the scope itself (no context to restore for it, unlike Effect.addFinalizer: see Timers).
    const finalized = Scope.addFinalizer(
      Context.get(context as Context.Context<Scope.Scope>, Scope.Scope),
      opened.finalizer
    )
    return Effect.andThen(
      opened.attach,
      Effect.map(finalized, () => opened.channel)
    )
  })
