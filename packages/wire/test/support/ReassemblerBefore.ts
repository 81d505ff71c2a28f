// The Reassembler before its one-pass `pushInto` (a class), kept verbatim as the reference for ReassemblerDifferential.test.ts.
/**
 * Presentation data values back to DIMSE messages (PS3.8 section 9.3.5.1 and Annex E; PS3.7
 * section 6.3.1).
 *
 * A pure state machine: `step(state, pdv)` returns the next state and the events the PDV
 * completes. Command fragments are gathered (up to `maxCommandLength`) and decoded when the last
 * one arrives, giving a `Command` event; data set fragments are passed on as `DataFragment` events
 * holding views of the received bytes, never gathered, so a large C-STORE is not held in memory.
 * `make()` wraps the machine in a small mutable object for callers that prefer `push(pdv)`.
 *
 * Any packing is accepted: several PDVs per PDU, a command PDV followed by a data PDV in the same
 * PDU, element headers split across PDVs, empty PDVs (an empty non-last data PDV yields no event).
 * A protocol error is a `ReassemblyError`, after which the association is expected to be aborted:
 * a data PDV before any command, or after a command announcing no data set; a PDV on another
 * presentation context than the message in progress; a command PDV while a data set is pending
 * (a command fragment after the command was complete, or interleaving with a data set in
 * progress); an oversized or undecodable command set. A command set that decodes but is not a
 * valid DIMSE-C message is not an error here: the event carries the `DimseError` for the layer
 * above, which can answer it with a failure status.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"
import * as CS from "../../src/CommandSet.ts"
import * as Dimse from "../../src/Dimse.ts"
import * as CommonCommands from "../../src/internal/CommonCommands.ts"
import type { Pdv } from "../../src/Pdv.ts"

/** The largest command set accepted by default (64 KiB; real ones are a few hundred bytes). */
export const DEFAULT_MAX_COMMAND_LENGTH = 64 * 1024

/** Why a PDV breaks the message sequence of PS3.7 section 6.3.1. */
export type Reason =
  | "DataBeforeCommand"
  | "UnexpectedDataSet"
  | "ContextMismatch"
  | "CommandAfterCommand"
  | "Interleaved"
  | "CommandTooLarge"
  | "InvalidCommandSet"

/** A PDV that breaks the message sequence; the association should be aborted. */
export class ReassemblyError extends Data.TaggedError("ReassemblyError")<{
  readonly reason: Reason
  readonly presentationContextId: number
  readonly detail: string
  readonly cause?: CS.CommandSetError
}> {
  override get message(): string {
    return `${this.reason} on presentation context ${this.presentationContextId}: ${this.detail}`
  }
}

/** A whole command set has arrived. `hasDataSet` says whether data set fragments follow. */
export interface Command {
  readonly _tag: "Command"
  readonly presentationContextId: number
  readonly command: CS.CommandSet
  readonly message: Result.Result<Dimse.Message, Dimse.DimseError>
  readonly hasDataSet: boolean
}

/** A fragment of the data set that follows the last command; `data` is a view, not a copy. */
export interface DataFragment {
  readonly _tag: "DataFragment"
  readonly presentationContextId: number
  readonly data: Uint8Array
  readonly isLast: boolean
  /** The command before it announced no data set (PS3.7 says none belongs); the receiver drains it. */
  readonly unannounced?: boolean
}

/** What the reassembler emits. */
export type Event = Command | DataFragment

/** Between messages. `after` says what ended the previous one, for precise errors. */
export interface Idle {
  readonly _tag: "Idle"
  readonly after: "nothing" | "no-data-set" | "data-set"
}

/** Command fragments received, the last not yet. */
export interface InCommand {
  readonly _tag: "InCommand"
  readonly presentationContextId: number
  readonly fragments: ReadonlyArray<Uint8Array>
  readonly length: number
}

/** A command announced a data set; `started` once a fragment of it has come. */
export interface InDataSet {
  readonly _tag: "InDataSet"
  readonly presentationContextId: number
  readonly started: boolean
  /** Draining a data set the command did not announce. */
  readonly unannounced?: boolean
}

/** The state of the reassembler. */
export type State = Idle | InCommand | InDataSet

/** The state before the first PDV of an association. */
export const initial: State = { _tag: "Idle", after: "nothing" }

/** The next state and the events one PDV produced. */
export interface Step {
  readonly state: State
  readonly events: ReadonlyArray<Event>
}

/** Tunables of the reassembler. */
export interface Options {
  /** Command sets longer than this are a protocol error (default `DEFAULT_MAX_COMMAND_LENGTH`). */
  readonly maxCommandLength?: number
}

const IDLE_AFTER_DATA: Idle = { _tag: "Idle", after: "data-set" }

const concat = (fragments: ReadonlyArray<Uint8Array>, length: number): Uint8Array => {
  if (fragments.length === 1) return fragments[0]!
  const out = new Uint8Array(length)
  let at = 0
  for (const f of fragments) {
    out.set(f, at)
    at += f.length
  }
  return out
}

// Fragments shorter than this are merged as they are gathered (see `gather`).
const SMALL_FRAGMENT = 4096

/**
 * Appends `data` to `fragments` (changed in place), for a caller gathering a message's fragments. Small fragments
 * are merged as they come, the last two while the last is at least as long as the one before it and that one is
 * under 4 KiB (a binary counter): tiny fragments (a peer's 1-byte PDVs) end up as a few copies of up to 8 KiB, each
 * byte copied at most 13 times, and the array stays short; larger fragments stay the views they are.
 */
export const gatherInto = (fragments: Array<Uint8Array>, data: Uint8Array): void => {
  fragments.push(data)
  while (fragments.length >= 2) {
    const last = fragments[fragments.length - 1]!
    const before = fragments[fragments.length - 2]!
    if (last.length < before.length || before.length >= SMALL_FRAGMENT) break
    const joined = new Uint8Array(before.length + last.length)
    joined.set(before)
    joined.set(last, before.length)
    fragments.length -= 2
    fragments.push(joined)
  }
}

/** `gatherInto` on a copy of `fragments`: neither argument is changed. */
export const gather = (fragments: ReadonlyArray<Uint8Array>, data: Uint8Array): Array<Uint8Array> => {
  const out = [...fragments]
  gatherInto(out, data)
  return out
}

const fail = (reason: Reason, presentationContextId: number, detail: string, cause?: CS.CommandSetError) =>
  Result.fail(
    new ReassemblyError(
      cause === undefined ? { reason, presentationContextId, detail } : { reason, presentationContextId, detail, cause }
    )
  )

const stepCommand = (state: State, pdv: Pdv, maxCommandLength: number): Result.Result<Step, ReassemblyError> => {
  const pc = pdv.presentationContextId
  if (state._tag === "InDataSet") {
    return state.started
      ? fail("Interleaved", pc, "a command PDV arrived while a data set was still incomplete")
      : fail("CommandAfterCommand", pc, "a command PDV arrived after the command was complete, before its data set")
  }
  if (state._tag === "InCommand" && state.presentationContextId !== pc) {
    return fail(
      "ContextMismatch",
      pc,
      `the command in progress is on presentation context ${state.presentationContextId}`
    )
  }
  const before = state._tag === "InCommand" ? state : { fragments: [], length: 0 }
  const length = before.length + pdv.data.length
  if (length > maxCommandLength) {
    return fail("CommandTooLarge", pc, `command set of more than ${maxCommandLength} bytes`)
  }
  // Gathered without copying the array whole for each PDV: a command in 65,535 1-byte PDVs took 22 s (quadratic).
  const fragments = pdv.data.length === 0 ? before.fragments : gather(before.fragments, pdv.data)
  if (!pdv.isLast) {
    return Result.succeed({ state: { _tag: "InCommand", presentationContextId: pc, fragments, length }, events: [] })
  }

  const bytes = concat(fragments, length)
  // The common messages (C-STORE, C-ECHO) in one pass, to the same command set and message.
  const common = CommonCommands.decode(bytes)
  let command: CS.CommandSet
  let message: Result.Result<Dimse.Message, Dimse.DimseError>
  if (common !== undefined) {
    command = common.command
    message = Result.succeed(common.message)
  } else {
    const decoded = CS.decode(bytes)
    if (Result.isFailure(decoded)) {
      return fail("InvalidCommandSet", pc, decoded.failure.message, decoded.failure)
    }
    command = decoded.success
    message = Dimse.fromCommandSet(command)
  }
  const hasDataSet = CS.announcesDataSet(command)
  const event: Command = { _tag: "Command", presentationContextId: pc, command, message, hasDataSet }
  const next: State = hasDataSet
    ? { _tag: "InDataSet", presentationContextId: pc, started: false }
    : { _tag: "Idle", after: "no-data-set" }
  return Result.succeed({ state: next, events: [event] })
}

const stepData = (state: State, pdv: Pdv): Result.Result<Step, ReassemblyError> => {
  const pc = pdv.presentationContextId
  switch (state._tag) {
    case "Idle":
      if (state.after === "no-data-set") {
        // A data set where none belongs: pass it on marked, so the receiver drains it and stays in step.
        const event: DataFragment = {
          _tag: "DataFragment",
          presentationContextId: pc,
          data: pdv.data,
          isLast: pdv.isLast,
          unannounced: true
        }
        const next: State = pdv.isLast
          ? { _tag: "Idle", after: "no-data-set" }
          : { _tag: "InDataSet", presentationContextId: pc, started: true, unannounced: true }
        return Result.succeed({ state: next, events: [event] })
      }
      return fail("DataBeforeCommand", pc, "a data PDV arrived with no command before it")
    case "InCommand":
      return fail("DataBeforeCommand", pc, "a data PDV arrived before the command set was complete")
    case "InDataSet": {
      if (state.presentationContextId !== pc) {
        return fail(
          "ContextMismatch",
          pc,
          `the data set in progress is on presentation context ${state.presentationContextId}`
        )
      }
      const flag = state.unannounced ? { unannounced: true } : {}
      if (pdv.isLast) {
        const event: DataFragment = {
          _tag: "DataFragment",
          presentationContextId: pc,
          data: pdv.data,
          isLast: true,
          ...flag
        }
        return Result.succeed({
          state: state.unannounced ? { _tag: "Idle", after: "no-data-set" } : IDLE_AFTER_DATA,
          events: [event]
        })
      }
      const next: InDataSet = state.started ? state : { ...state, started: true }
      if (pdv.data.length === 0) return Result.succeed({ state: next, events: [] })
      const event: DataFragment = {
        _tag: "DataFragment",
        presentationContextId: pc,
        data: pdv.data,
        isLast: false,
        ...flag
      }
      return Result.succeed({ state: next, events: [event] })
    }
  }
}

/** Feeds one PDV to the machine: the next state and the events it completes, or a protocol error. */
export const step = (state: State, pdv: Pdv, options?: Options): Result.Result<Step, ReassemblyError> =>
  pdv.isCommand
    ? stepCommand(state, pdv, options?.maxCommandLength ?? DEFAULT_MAX_COMMAND_LENGTH)
    : stepData(state, pdv)

/** True when no message is in progress (the association may be released). */
export const isIdle = (state: State): boolean => state._tag === "Idle"

/** A mutable reassembler for one association. After an error its state is left as it was. */
export interface Reassembler {
  /** Feeds one PDV; the events it completes, or a protocol error. */
  readonly push: (pdv: Pdv) => Result.Result<ReadonlyArray<Event>, ReassemblyError>
  /** Feeds the PDVs of one P-DATA-TF PDU in order; stops at the first error. */
  readonly pushAll: (pdvs: ReadonlyArray<Pdv>) => Result.Result<ReadonlyArray<Event>, ReassemblyError>
  /** The current state. */
  readonly state: () => State
}

/** A reassembler starting in the `initial` state. */
export const make = (options?: Options): Reassembler => {
  let state: State = initial
  const push = (pdv: Pdv): Result.Result<ReadonlyArray<Event>, ReassemblyError> => {
    const r = step(state, pdv, options)
    if (Result.isFailure(r)) return Result.fail(r.failure)
    state = r.success.state
    return Result.succeed(r.success.events)
  }
  const pushAll = (pdvs: ReadonlyArray<Pdv>): Result.Result<ReadonlyArray<Event>, ReassemblyError> => {
    const events: Array<Event> = []
    for (const pdv of pdvs) {
      const r = push(pdv)
      if (Result.isFailure(r)) return r
      events.push(...r.success)
    }
    return Result.succeed(events)
  }
  return { push, pushAll, state: () => state }
}
