/**
 * The send path of a DIMSE channel (internal; PS3.7 sections 7-9, PS3.8 Annex E): a message's command set encoded and
 * its data set fragmented into P-DATA-TF PDUs for the peer's maximum length, and written whole (one write, without
 * the send lock when nothing else is sending), in parts (a large data set in bytes, in batches) or streamed (a
 * stream's chunks or a file's reads, in batches of at least 256 KiB). One message is sent at a time per
 * association, so PDVs of two messages never interleave; a message half sent when its send fails or is interrupted
 * aborts the association.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { CommandSet, Dimse, Fragmenter, Identifiers } from "@netdicom/wire"
import { AssociationAborted } from "../association/AssociationError.ts"
import type { AcceptedContext } from "../association/Negotiated.ts"
import * as LentBytes from "../upper/LentBytes.ts"
import type { DataSource } from "./ChannelApi.ts"
import type { ChannelState, Sent } from "./ChannelState.ts"
import { DataSourceFailed, DimseProtocolError, type DimseFailure } from "./DimseError.ts"
import * as FileIo from "./FileIo.ts"
import * as OwnedBytes from "./OwnedBytes.ts"

// How long a failed send waits for the association's reason for ending.
const ENDING_WAIT = Duration.millis(200)

/** A streamed data set is written in batches of PDUs of at least this many bytes (and a whole one is one write). */
export const SEND_BATCH_BYTES = 256 << 10

// A file sent from its reads in batches of PDUs (not framed: a peer's max PDU over ~64 KiB) writes this many bytes of
// it (three reads of `Part10.STREAM_CHUNK`) in one turn of the event loop before it yields the turn: a turn and a
// vectored write of five or six pieces per 256 KiB cost ~20% of the SCU's instructions per 32 MiB instance
// (docs/performance.md, Round 20 (large)). Below the transport's 1 MiB write buffer limit, so that the corked batches
// of one turn do not make the sender wait for a drain. Framed reads (one piece per write) keep a read per turn: three
// took the bench's SCU peak at max PDU 16384 from 62 to 67 MiB, two to 64-65.
const SEND_TURN_BYTES = 768 << 10

const PAD = Uint8Array.of(0)

// Data set fragments must have even lengths (PS3.5 7.1, A.5): an odd data set gets a trailing NUL.
const padEven = (bytes: Uint8Array | undefined): Uint8Array | undefined => {
  if (bytes === undefined || bytes.length % 2 === 0) return bytes
  const out = new Uint8Array(bytes.length + 1)
  out.set(bytes)
  return out
}

// The UIDs a response echoes from its request, optional in every response (PS3.7 9.3, "U(=)").
const ECHOED_UIDS = ["affectedSopClassUid", "affectedSopInstanceUid"] as const

// Encodes a message's command set. A response whose echoed UIDs cannot be written (the decoder takes any Latin-1 text
// up to 64 characters, the encoder refuses control characters) goes without those that are not UIDs, rather than
// leave its request unanswered.
// The bytes, or why not: a common message (C-STORE, C-ECHO) in one pass and no `Result` (every message sent).
const encodeCommand = (message: Dimse.Message): Uint8Array | CommandSet.CommandSetError => {
  const common = Dimse.encodeCommon(message)
  if (common !== undefined) return common
  const encoded = Dimse.encode(message)
  if (Result.isSuccess(encoded)) return encoded.success
  if (!("messageIdBeingRespondedTo" in message)) return encoded.failure
  const fields: Record<string, unknown> = { ...message }
  let dropped = false
  for (const key of ECHOED_UIDS) {
    const value = fields[key]
    if (typeof value === "string" && Result.isFailure(Identifiers.uid(value))) {
      delete fields[key]
      dropped = true
    }
  }
  if (!dropped) return encoded.failure
  const again = Dimse.encode(fields as unknown as Dimse.Message)
  return Result.isSuccess(again) ? again.success : again.failure
}

/**
 * A failed send means the association is ending: fail with its reason (a write deadline, a reset...), which the
 * machine settles a moment later.
 */
const fail = <A>(ch: ChannelState, sending: Effect.Effect<A, unknown>): Effect.Effect<A, DimseFailure> =>
  Effect.catch(sending, () =>
    Effect.flatMap(Effect.option(Effect.timeout(ch.association.ended, ENDING_WAIT)), (ending) =>
      Effect.fail(ending._tag === "Some" && ending.value._tag === "Aborted" ? ending.value.error : ch.goneError())
    )
  )

/** Whether a data set goes in one write: none, or bytes of at most `SEND_BATCH_BYTES`. */
export const isWhole = (dataSet: DataSource | undefined): dataSet is Uint8Array | undefined =>
  dataSet === undefined || (dataSet instanceof Uint8Array && dataSet.length <= SEND_BATCH_BYTES)

/** `DimseChannel.send`: one message and its data set, if any. */
export const send = (
  ch: ChannelState,
  context: AcceptedContext,
  message: Dimse.Message,
  dataSet?: DataSource
): Effect.Effect<void, DimseFailure> =>
  isWhole(dataSet) ? sendWhole(ch, context, message, dataSet) : sendInParts(ch, context, message, dataSet)

/** `DimseChannel.sendNow`: a reply without a data set (a C-STORE-RSP, a C-ECHO-RSP) goes straight to `beginWhole`. */
export const sendNow = (
  ch: ChannelState,
  context: AcceptedContext,
  message: Dimse.Message,
  dataSet?: Uint8Array
): Effect.Effect<void, DimseFailure> | undefined =>
  dataSet === undefined || isWhole(dataSet)
    ? beginWhole(ch, context, message, dataSet)
    : sendInParts(ch, context, message, dataSet)

// Counted from before the lock is asked for to after it is given back (`ChannelState.lockedSends`).
const underSendLock = <E>(ch: ChannelState, sending: Effect.Effect<void, E>): Effect.Effect<void, E> =>
  Effect.suspend(() => {
    ch.lockedSends++
    return Effect.ensuring(
      ch.sendLock.withPermits(1)(sending),
      Effect.sync(() => {
        ch.lockedSends--
      })
    )
  })

/**
 * The common case, a message in one write, begun now (from within a running effect): `undefined` once written,
 * otherwise the effect that does the rest (waits its turn, waits for the socket to drain) or fails.
 */
export const beginWhole = (
  ch: ChannelState,
  context: AcceptedContext,
  message: Dimse.Message,
  dataSet: Uint8Array | undefined,
  inbox?: Sent
): Effect.Effect<void, DimseFailure> | undefined => {
  // Once the channel has decided to abort (a DIMSE timeout, a protocol error), nothing more goes out: a handler
  // that decision woke does not answer before the A-ABORT.
  const gone = ch.rx.gone
  if (gone !== undefined) return Effect.fail(gone)
  const command = encodeCommand(message)
  if (!(command instanceof Uint8Array)) {
    return Effect.fail(new DimseProtocolError({ detail: `cannot encode ${message._tag}: ${command.rule}` }))
  }
  const unanswered = ch.unanswered
  if (!unanswered.sending(message)) return Effect.logWarning(unanswered.notSent(message))
  // `padEven` only for an odd data set (every message sent comes here).
  const even = dataSet === undefined || dataSet.length % 2 === 0 ? dataSet : padEven(dataSet)
  const parts = Fragmenter.messagePartsWithin(context.id, ch.capacity, command, even)
  if (ch.debug) {
    return Effect.andThen(
      Effect.logDebug(`send ${Dimse.summarize(message)} on pc ${context.id}`),
      underSendLock(ch, sendingNow(ch, parts, inbox))
    )
  }
  if (ch.lockedSends > 0) return underSendLock(ch, sendingNow(ch, parts, inbox))
  // Nobody else is sending: the whole message goes to the upper layer now, without the lock.
  if (inbox !== undefined) inbox.sent = true
  const rest = ch.association.writePData(parts)
  // Written, but the socket must drain first (or the upper layer is busy writing): finish holding the lock,
  // which is free (nothing ran since it was seen free), as a message sent under it would.
  return rest === undefined ? undefined : underSendLock(ch, fail(ch, rest))
}

// `association.sendPData`, marking a request's inbox sent as its write begins; once the channel is gone (it may
// have gone while this waited for the send lock, or between a large message's batches), nothing is written and
// `fail` is not asked why: the channel's own reason is the answer.
const sendingNow = (ch: ChannelState, parts: ReadonlyArray<Uint8Array>, inbox: Sent | undefined) =>
  Effect.suspend(() => {
    const gone = ch.rx.gone
    if (gone !== undefined) return Effect.fail(gone)
    if (inbox !== undefined) inbox.sent = true
    return fail(ch, ch.association.sendPData(parts))
  })

const sendWhole = (
  ch: ChannelState,
  context: AcceptedContext,
  message: Dimse.Message,
  dataSet: Uint8Array | undefined
): Effect.Effect<void, DimseFailure> => Effect.suspend(() => beginWhole(ch, context, message, dataSet) ?? Effect.void)

/**
 * A message whose data set goes in parts: a large one in bytes in batches, or a stream's chunks or a file's reads
 * (`FileIo.chunkReaderOf`) in batches of PDUs of at least `SEND_BATCH_BYTES`, the command with the first.
 */
export const sendInParts = (
  ch: ChannelState,
  context: AcceptedContext,
  message: Dimse.Message,
  dataSet: DataSource,
  inbox?: Sent
): Effect.Effect<void, DimseFailure> => {
  // The channel's state under the names the body below was written with (moved from `DimseChannel.make` unchanged).
  const { rx, unanswered, debug, capacity, maxPdu, association } = ch
  const underSendLock = <E>(sending: Effect.Effect<void, E>) => underSendLockOf(ch, sending)
  const sendingNow = (parts: ReadonlyArray<Uint8Array>, inbox: Sent | undefined) => sendingNowOf(ch, parts, inbox)
  const guardHalfSent = <E>(started: () => boolean, sending: Effect.Effect<void, E>) =>
    guardHalfSentOf(ch, started, sending)
  const fail = <A>(sending: Effect.Effect<A, unknown>) => failOf(ch, sending)
  return Effect.gen(function* () {
    if (rx.gone !== undefined) return yield* Effect.fail(rx.gone)
    const command = encodeCommand(message)
    if (!(command instanceof Uint8Array)) {
      return yield* Effect.fail(new DimseProtocolError({ detail: `cannot encode ${message._tag}: ${command.rule}` }))
    }
    if (!unanswered.sending(message)) return yield* Effect.logWarning(unanswered.notSent(message))
    if (debug) yield* Effect.logDebug(`send ${Dimse.summarize(message)} on pc ${context.id}`)
    yield* underSendLock(
      Effect.gen(function* () {
        if (dataSet instanceof Uint8Array) {
          const parts = Fragmenter.messagePartsWithin(context.id, capacity, command, padEven(dataSet))
          // A large data set goes in batches, so that the write deadline sees the peer's progress.
          let at = 0
          yield* guardHalfSent(
            () => at > 0,
            Effect.whileLoop({
              while: () => at < parts.length,
              body: () =>
                Effect.suspend(() => {
                  const from = at
                  let bytes = 0
                  while (at < parts.length && bytes < SEND_BATCH_BYTES) bytes += parts[at++]!.length
                  return sendingNow(parts.slice(from, at), inbox)
                }),
              step: () => {}
            })
          )
          return
        }
        // PDUs go out in batches of at least SEND_BATCH_BYTES, the command with the first: a small
        // data set is one write, a large one a write per batch instead of one per chunk read.
        let batch: Array<Uint8Array> = Fragmenter.messagePartsWithin(context.id, capacity, command)
        let batchBytes = 0
        // Lent chunks (pooled file reads) go back once every view of them was handed to the transport.
        const lent = LentBytes.tracker(capacity)
        const flush = Effect.suspend(() => {
          const pdus = batch
          batch = []
          batchBytes = 0
          return Effect.map(sendingNow(pdus, inbox), () => lent.written())
        })
        const fragmenter = Fragmenter.makeDataPartFragmenter(context.id, maxPdu)
        let started = false
        // A chunk into the batch; whether the batch is full.
        const add = (chunk: Uint8Array): boolean => {
          // A borrowed chunk (the source may refill it) is copied; a handed-over or lent one is referenced.
          const kept = lent.keep(chunk) || OwnedBytes.isHandedOver(chunk) ? chunk : new Uint8Array(chunk)
          for (const pdu of fragmenter.push(kept)) {
            batch.push(pdu)
            batchBytes += pdu.length
          }
          return batchBytes >= SEND_BATCH_BYTES
        }
        // Framed reads (`FileIo.Frame`) come as whole PDUs once their headers are written in: one piece per write.
        const frame = { gap: Fragmenter.HEADER_LENGTH, capacity }
        // The file's last PDUs, held until the end's check says the file is as its meta was read.
        let lastFramed: { readonly pdus: Uint8Array; readonly bytes: Uint8Array } | undefined
        // A file the library reads (`FileIo.chunkReaderOf`): its chunks go out from the reads themselves, an effect
        // run only where the fiber must wait (a read from the disk, the socket to drain, the end's check), instead
        // of a stream's pull per chunk.
        const sendReads = (reads: FileIo.ChunkReader<DataSourceFailed>) => {
          let ended = false
          // Up to the end, a failed read, or a write that must wait (its wait, then the next turn).
          const turn = Effect.callback<void, DimseFailure>((resume) => {
            let stopped = false
            let later: ReturnType<typeof setImmediate> | undefined
            const run = (): void => {
              later = undefined
              // the file's data bytes written in this turn of the event loop
              let turnBytes = 0
              while (!stopped) {
                // Gone between two batches (a DIMSE timeout, a protocol error): nothing more is written.
                if (rx.gone !== undefined) {
                  stopped = true
                  ended = true
                  return resume(Effect.fail(rx.gone))
                }
                const next = reads.take()
                if (next === undefined) return reads.whenReady(run)
                if (next._tag !== "Chunk") {
                  stopped = true
                  ended = true
                  return resume(next._tag === "End" ? Effect.void : Effect.fail(next.error))
                }
                let release = lent.written
                if (reads.framed) {
                  const framed = Fragmenter.frameInPlace(next.bytes, next.data, capacity, context.id, next.last)
                  if (next.last) {
                    lastFramed = { pdus: framed, bytes: next.bytes }
                    continue
                  }
                  batch.push(framed)
                  release = () => LentBytes.release(next.bytes)
                } else if (!add(next.bytes)) continue
                started = true
                const pdus = batch
                batch = []
                batchBytes = 0
                if (inbox !== undefined) inbox.sent = true
                const rest = association.writePData(pdus)
                if (rest !== undefined) {
                  stopped = true
                  // released however the wait ends: a framed chunk is tracked by nothing else
                  return resume(Effect.ensuring(fail(rest), Effect.sync(release)))
                }
                release()
                turnBytes += next.data
                if (!reads.framed && turnBytes < SEND_TURN_BYTES) continue
                // The next batches on the event loop's next turn: these leave first (the socket is uncorked at the
                // end of this tick, one vectored write), so reads from the page cache do not pile batches up until
                // the socket must drain, and the other connections get their turn.
                later = setImmediate(run)
                return
              }
            }
            run()
            return Effect.sync(() => {
              stopped = true
              if (later !== undefined) clearImmediate(later)
              reads.whenReady(undefined)
            })
          })
          return Effect.whileLoop({ while: () => !ended, body: () => turn, step: () => {} })
        }
        const reader = FileIo.chunkReaderOf(dataSet)
        const chunks =
          reader === undefined
            ? Stream.runForEach(dataSet, (chunk) => {
                if (!add(chunk)) return Effect.void
                started = true
                return flush
              })
            : Effect.scoped(Effect.flatMap(reader(frame), sendReads))
        yield* guardHalfSent(
          () => started,
          Effect.gen(function* () {
            yield* chunks
            if (lastFramed !== undefined) batch.push(lastFramed.pdus)
            else {
              // An odd-length data set (a deflated bit stream, PS3.5 A.5) goes out with one trailing NUL.
              if (fragmenter.bytesPushed() % 2 === 1) batch.push(...fragmenter.push(PAD))
              batch.push(...fragmenter.end())
            }
            yield* flush
          }).pipe(
            Effect.ensuring(
              Effect.sync(() => {
                lent.releaseAll()
                if (lastFramed !== undefined) LentBytes.release(lastFramed.bytes)
              })
            )
          )
        )
      })
    )
  })
}

const underSendLockOf = underSendLock
const sendingNowOf = sendingNow
const failOf = fail

// A half-sent message cannot be taken back: once part of it has gone, a failure or an interruption
// of the rest aborts the association, so no other message lands inside it.
const guardHalfSentOf = <E>(
  ch: ChannelState,
  started: () => boolean,
  sending: Effect.Effect<void, E>
): Effect.Effect<void, E> =>
  Effect.onExit(sending, (exit) =>
    Exit.isSuccess(exit) || !started() || ch.rx.gone !== undefined
      ? Effect.void
      : Cause.hasInterruptsOnly(exit.cause)
        ? ch.protocolAbort(
            "a message was interrupted half sent",
            "interrupted: aborting the association (a message was half sent)"
          )
        : endedBy(exit.cause) !== undefined
          ? Effect.sync(() => {
              ch.rx.gone ??= endedBy(exit.cause)
            })
          : sourceFailed(exit.cause) !== undefined
            ? ch.protocolAbort(
                `our data set failed half sent: ${sourceFailed(exit.cause)!.message}`,
                `${sourceFailed(exit.cause)!.message}: aborting the association (a message was half sent)`
              )
            : ch.protocolAbort(`a message failed half sent: ${Cause.pretty(exit.cause).split("\n")[0]}`)
  )

// Our own data set source failing (a file changed while read, a router's incoming data set cut off) is no protocol
// error of anyone's: the association is aborted all the same, and the log says whose data set failed.
const sourceFailed = (cause: Cause.Cause<unknown>): DataSourceFailed | undefined => {
  const error = Cause.findErrorOption(cause)
  return error._tag === "Some" && error.value instanceof DataSourceFailed ? error.value : undefined
}

// The peer's A-ABORT, when that is what ended the association under a message being sent: not a protocol error
// of ours, and nothing is left to abort. (Any other failure still aborts: the association may not have ended.)
const endedBy = (cause: Cause.Cause<unknown>): AssociationAborted | undefined => {
  const error = Cause.findErrorOption(cause)
  return error._tag === "Some" && error.value instanceof AssociationAborted && error.value.by === "peer"
    ? error.value
    : undefined
}
