/**
 * The DICOM Upper Layer state machine as data (PS3.8 section 9.2).
 *
 * Covers the machine states (section 9.2.1, Tables 9-1 to 9-5), the actions with their possible next
 * states (section 9.2.2, Tables 9-6 to 9-9) and the events with the full state transition table
 * (section 9.2.3, Table 9-10). States, events and actions carry the standard's own names (`Sta6`,
 * `Evt10`, `DT-2`) so each entry can be checked against the standard line by line.
 *
 * Nothing here performs an action: this module only answers "which action for this state and event",
 * plus the policy for pairs the standard leaves undefined and a one-line rendering for transition logs.
 * The runtime that runs actions, owns the ARTIM timer and picks between the next states of AE-6 and
 * AR-8 lives elsewhere.
 *
 * @since 0.1.0
 */

/** Every machine state of PS3.8 Tables 9-1 to 9-5, in the standard's order. */
export const states = [
  "Sta1",
  "Sta2",
  "Sta3",
  "Sta4",
  "Sta5",
  "Sta6",
  "Sta7",
  "Sta8",
  "Sta9",
  "Sta10",
  "Sta11",
  "Sta12",
  "Sta13"
] as const

/** A machine state, `Sta1` to `Sta13`. */
export type State = (typeof states)[number]

/** Every event of PS3.8 Table 9-10, in the standard's order. */
export const events = [
  "Evt1",
  "Evt2",
  "Evt3",
  "Evt4",
  "Evt5",
  "Evt6",
  "Evt7",
  "Evt8",
  "Evt9",
  "Evt10",
  "Evt11",
  "Evt12",
  "Evt13",
  "Evt14",
  "Evt15",
  "Evt16",
  "Evt17",
  "Evt18",
  "Evt19"
] as const

/** A state machine event, `Evt1` to `Evt19`. */
export type Event = (typeof events)[number]

/** Every action name of PS3.8 Tables 9-6 to 9-9, in the standard's order. */
export const actionNames = [
  "AE-1",
  "AE-2",
  "AE-3",
  "AE-4",
  "AE-5",
  "AE-6",
  "AE-7",
  "AE-8",
  "DT-1",
  "DT-2",
  "AR-1",
  "AR-2",
  "AR-3",
  "AR-4",
  "AR-5",
  "AR-6",
  "AR-7",
  "AR-8",
  "AR-9",
  "AR-10",
  "AA-1",
  "AA-2",
  "AA-3",
  "AA-4",
  "AA-5",
  "AA-6",
  "AA-7",
  "AA-8"
] as const

/** An action name: `AE-1`..`AE-8`, `DT-1`..`DT-2`, `AR-1`..`AR-10`, `AA-1`..`AA-8`. */
export type ActionName = (typeof actionNames)[number]

/** One action of Tables 9-6 to 9-9: what it does and the state(s) the machine may move to after it. */
export interface Action {
  readonly name: ActionName
  readonly description: string
  readonly nextStates: ReadonlyArray<State>
}

/** The definition of each state (Tables 9-1 to 9-5). */
export const stateDescriptions: Readonly<Record<State, string>> = {
  // Table 9-1, no association
  Sta1: "Idle",
  // Table 9-2, association establishment
  Sta2: "Transport connection open (Awaiting A-ASSOCIATE-RQ PDU)",
  Sta3: "Awaiting local A-ASSOCIATE response primitive (from local user)",
  Sta4: "Awaiting transport connection opening to complete (from local transport service)",
  Sta5: "Awaiting A-ASSOCIATE-AC or A-ASSOCIATE-RJ PDU",
  // Table 9-3, data transfer
  Sta6: "Association established and ready for data transfer",
  // Table 9-4, association release
  Sta7: "Awaiting A-RELEASE-RP PDU",
  Sta8: "Awaiting local A-RELEASE response primitive (from local user)",
  Sta9: "Release collision requestor side; awaiting A-RELEASE response (from local user)",
  Sta10: "Release collision acceptor side; awaiting A-RELEASE-RP PDU",
  Sta11: "Release collision requestor side; awaiting A-RELEASE-RP PDU",
  Sta12: "Release collision acceptor side; awaiting A-RELEASE response primitive (from local user)",
  // Table 9-5, waiting for transport connection close
  Sta13: "Awaiting Transport Connection Close Indication (Association no longer exists)"
}

/** A short description of each event (the row headings of Table 9-10). */
export const eventDescriptions: Readonly<Record<Event, string>> = {
  Evt1: "A-ASSOCIATE request (local user)",
  Evt2: "Transport connect confirmation",
  Evt3: "A-ASSOCIATE-AC PDU received",
  Evt4: "A-ASSOCIATE-RJ PDU received",
  Evt5: "Transport connection indication",
  Evt6: "A-ASSOCIATE-RQ PDU received",
  Evt7: "A-ASSOCIATE response primitive (accept)",
  Evt8: "A-ASSOCIATE response primitive (reject)",
  Evt9: "P-DATA request primitive",
  Evt10: "P-DATA-TF PDU received",
  Evt11: "A-RELEASE request primitive",
  Evt12: "A-RELEASE-RQ PDU received",
  Evt13: "A-RELEASE-RP PDU received",
  Evt14: "A-RELEASE response primitive",
  Evt15: "A-ABORT request primitive",
  Evt16: "A-ABORT PDU received",
  Evt17: "Transport connection closed indication",
  Evt18: "ARTIM timer expired",
  Evt19: "Unrecognized or invalid PDU received"
}

const action = (name: ActionName, description: string, ...nextStates: ReadonlyArray<State>): Action => ({
  name,
  description,
  nextStates
})

/** Every action with its definition and possible next states (Tables 9-6 to 9-9). */
export const actions: Readonly<Record<ActionName, Action>> = {
  // Table 9-6, association establishment related actions
  "AE-1": action("AE-1", "Issue TRANSPORT CONNECT request primitive to local transport service", "Sta4"),
  "AE-2": action("AE-2", "Send A-ASSOCIATE-RQ-PDU", "Sta5"),
  "AE-3": action("AE-3", "Issue A-ASSOCIATE confirmation (accept) primitive", "Sta6"),
  "AE-4": action("AE-4", "Issue A-ASSOCIATE confirmation (reject) primitive and close transport connection", "Sta1"),
  "AE-5": action("AE-5", "Issue Transport connection response primitive; start ARTIM timer", "Sta2"),
  "AE-6": action(
    "AE-6",
    "Stop ARTIM timer and if A-ASSOCIATE-RQ acceptable by service-provider: issue A-ASSOCIATE indication " +
      "primitive (next state Sta3); otherwise: issue A-ASSOCIATE-RJ-PDU and start ARTIM timer (next state Sta13)",
    "Sta3",
    "Sta13"
  ),
  "AE-7": action("AE-7", "Send A-ASSOCIATE-AC PDU", "Sta6"),
  "AE-8": action("AE-8", "Send A-ASSOCIATE-RJ PDU and start ARTIM timer", "Sta13"),
  // Table 9-7, data transfer related actions
  "DT-1": action("DT-1", "Send P-DATA-TF PDU", "Sta6"),
  "DT-2": action("DT-2", "Send P-DATA indication primitive", "Sta6"),
  // Table 9-8, association release related actions
  "AR-1": action("AR-1", "Send A-RELEASE-RQ PDU", "Sta7"),
  "AR-2": action("AR-2", "Issue A-RELEASE indication primitive", "Sta8"),
  "AR-3": action("AR-3", "Issue A-RELEASE confirmation primitive, and close transport connection", "Sta1"),
  "AR-4": action("AR-4", "Issue A-RELEASE-RP PDU and start ARTIM timer", "Sta13"),
  "AR-5": action("AR-5", "Stop ARTIM timer", "Sta1"),
  "AR-6": action("AR-6", "Issue P-DATA indication", "Sta7"),
  "AR-7": action("AR-7", "Issue P-DATA-TF PDU", "Sta8"),
  "AR-8": action(
    "AR-8",
    "Issue A-RELEASE indication (release collision): if association-requestor, next state is Sta9; " +
      "if not, next state is Sta10",
    "Sta9",
    "Sta10"
  ),
  "AR-9": action("AR-9", "Send A-RELEASE-RP PDU", "Sta11"),
  "AR-10": action("AR-10", "Issue A-RELEASE confirmation primitive", "Sta12"),
  // Table 9-9, association abort related actions
  "AA-1": action(
    "AA-1",
    "Send A-ABORT PDU (service-user source) and start (or restart if already started) ARTIM timer",
    "Sta13"
  ),
  "AA-2": action("AA-2", "Stop ARTIM timer if running. Close transport connection", "Sta1"),
  "AA-3": action(
    "AA-3",
    "If (service-user initiated abort): issue A-ABORT indication and close transport connection; " +
      "otherwise (service-provider initiated abort): issue A-P-ABORT indication and close transport connection",
    "Sta1"
  ),
  "AA-4": action("AA-4", "Issue A-P-ABORT indication primitive", "Sta1"),
  "AA-5": action("AA-5", "Stop ARTIM timer", "Sta1"),
  "AA-6": action("AA-6", "Ignore PDU", "Sta13"),
  "AA-7": action("AA-7", "Send A-ABORT PDU", "Sta13"),
  "AA-8": action(
    "AA-8",
    "Send A-ABORT PDU (service-provider source), issue an A-P-ABORT indication, and start ARTIM timer",
    "Sta13"
  )
}

/**
 * PS3.8 Table 9-10, one row per event: the action for each state where the pair is defined.
 * A state missing from a row is a pair the standard does not define (see `onUndefined`).
 */
export const transitions: Readonly<Record<Event, Readonly<Partial<Record<State, ActionName>>>>> = {
  Evt1: { Sta1: "AE-1" },
  Evt2: { Sta4: "AE-2" },
  Evt3: {
    Sta2: "AA-1",
    Sta3: "AA-8",
    Sta5: "AE-3",
    Sta6: "AA-8",
    Sta7: "AA-8",
    Sta8: "AA-8",
    Sta9: "AA-8",
    Sta10: "AA-8",
    Sta11: "AA-8",
    Sta12: "AA-8",
    Sta13: "AA-6"
  },
  Evt4: {
    Sta2: "AA-1",
    Sta3: "AA-8",
    Sta5: "AE-4",
    Sta6: "AA-8",
    Sta7: "AA-8",
    Sta8: "AA-8",
    Sta9: "AA-8",
    Sta10: "AA-8",
    Sta11: "AA-8",
    Sta12: "AA-8",
    Sta13: "AA-6"
  },
  Evt5: { Sta1: "AE-5" },
  Evt6: {
    Sta2: "AE-6",
    Sta3: "AA-8",
    Sta5: "AA-8",
    Sta6: "AA-8",
    Sta7: "AA-8",
    Sta8: "AA-8",
    Sta9: "AA-8",
    Sta10: "AA-8",
    Sta11: "AA-8",
    Sta12: "AA-8",
    Sta13: "AA-7"
  },
  Evt7: { Sta3: "AE-7" },
  Evt8: { Sta3: "AE-8" },
  Evt9: { Sta6: "DT-1", Sta8: "AR-7" },
  Evt10: {
    Sta2: "AA-1",
    Sta3: "AA-8",
    Sta5: "AA-8",
    Sta6: "DT-2",
    Sta7: "AR-6",
    Sta8: "AA-8",
    Sta9: "AA-8",
    Sta10: "AA-8",
    Sta11: "AA-8",
    Sta12: "AA-8",
    Sta13: "AA-6"
  },
  Evt11: { Sta6: "AR-1" },
  Evt12: {
    Sta2: "AA-1",
    Sta3: "AA-8",
    Sta5: "AA-8",
    Sta6: "AR-2",
    Sta7: "AR-8",
    Sta8: "AA-8",
    Sta9: "AA-8",
    Sta10: "AA-8",
    Sta11: "AA-8",
    Sta12: "AA-8",
    Sta13: "AA-6"
  },
  Evt13: {
    Sta2: "AA-1",
    Sta3: "AA-8",
    Sta5: "AA-8",
    Sta6: "AA-8",
    Sta7: "AR-3",
    Sta8: "AA-8",
    Sta9: "AA-8",
    Sta10: "AR-10",
    Sta11: "AR-3",
    Sta12: "AA-8",
    Sta13: "AA-6"
  },
  Evt14: { Sta8: "AR-4", Sta9: "AR-9", Sta12: "AR-4" },
  Evt15: {
    Sta3: "AA-1",
    Sta4: "AA-2",
    Sta5: "AA-1",
    Sta6: "AA-1",
    Sta7: "AA-1",
    Sta8: "AA-1",
    Sta9: "AA-1",
    Sta10: "AA-1",
    Sta11: "AA-1",
    Sta12: "AA-1"
  },
  Evt16: {
    Sta2: "AA-2",
    Sta3: "AA-3",
    Sta5: "AA-3",
    Sta6: "AA-3",
    Sta7: "AA-3",
    Sta8: "AA-3",
    Sta9: "AA-3",
    Sta10: "AA-3",
    Sta11: "AA-3",
    Sta12: "AA-3",
    Sta13: "AA-2"
  },
  Evt17: {
    Sta2: "AA-5",
    Sta3: "AA-4",
    Sta4: "AA-4",
    Sta5: "AA-4",
    Sta6: "AA-4",
    Sta7: "AA-4",
    Sta8: "AA-4",
    Sta9: "AA-4",
    Sta10: "AA-4",
    Sta11: "AA-4",
    Sta12: "AA-4",
    Sta13: "AR-5"
  },
  Evt18: { Sta2: "AA-2", Sta13: "AA-2" },
  Evt19: {
    Sta2: "AA-1",
    Sta3: "AA-8",
    Sta5: "AA-8",
    Sta6: "AA-8",
    Sta7: "AA-8",
    Sta8: "AA-8",
    Sta9: "AA-8",
    Sta10: "AA-8",
    Sta11: "AA-8",
    Sta12: "AA-8",
    Sta13: "AA-7"
  }
}

/** The action Table 9-10 defines for `event` in `state`, or `undefined` when the standard defines none. */
export const lookup = (state: State, event: Event): Action | undefined => {
  const name = transitions[event][state]
  return name === undefined ? undefined : actions[name]
}

/**
 * What to do with a pair Table 9-10 leaves undefined: ignore it, or apply the table's action for a
 * stand-in event (`treatedAs`) in the same state.
 */
export type UndefinedHandling =
  { readonly _tag: "Ignore" } | { readonly _tag: "Apply"; readonly treatedAs: Event; readonly action: Action }

const IGNORE: UndefinedHandling = { _tag: "Ignore" }

/**
 * The handling of an event in a state where Table 9-10 defines no action (our choice; PS3.8 only says
 * such a pair is not defined). The answer depends on the state alone:
 *
 * - `Sta1`: ignore. There is no association and no connection, so nothing is owed to anyone.
 * - `Sta4`: treat as `Evt15` (A-ABORT request), i.e. AA-2: no PDU can be exchanged yet, so the pending
 *   transport connection is closed and the machine goes back to `Sta1`.
 * - every other state: treat as `Evt19` (unrecognized or invalid PDU), as pynetdicom and DCMTK do with
 *   an unexpected event: AA-8 (A-ABORT, A-P-ABORT indication, ARTIM, `Sta13`) in `Sta3` and `Sta5` to
 *   `Sta12`, AA-1 in `Sta2`, AA-7 in `Sta13`.
 *
 * The runtime should also report the misuse (for local primitives) to its caller.
 */
export const onUndefined = (state: State, _event: Event): UndefinedHandling => {
  if (state === "Sta1") return IGNORE
  const treatedAs: Event = state === "Sta4" ? "Evt15" : "Evt19"
  const name = transitions[treatedAs][state]
  return name === undefined ? IGNORE : { _tag: "Apply", treatedAs, action: actions[name] }
}

/** Whether `next` is one of the states `action` may lead to. */
export const isNextState = (action: ActionName, next: State): boolean => actions[action].nextStates.includes(next)

/**
 * One log line for a transition, e.g. `Sta6 + Evt10 (P-DATA-TF PDU received) -> DT-2 -> Sta6`;
 * an `undefined` action renders as `ignored`.
 */
export const describeTransition = (state: State, event: Event, action: ActionName | undefined, next: State): string =>
  `${state} + ${event} (${eventDescriptions[event]}) -> ${action ?? "ignored"} -> ${next}`
