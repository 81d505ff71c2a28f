import { assert, describe, it } from "@effect/vitest"
import * as StateTable from "../src/upper/StateTable.ts"
import type { ActionName, Event, State } from "../src/upper/StateTable.ts"

// PS3.8 Table 9-10, transcribed row by row from the standard, independently of the module's table.
// A state absent from a row is a pair the standard leaves empty.
const EXPECTED_ROWS = [
  "Evt1: Sta1=AE-1",
  "Evt2: Sta4=AE-2",
  "Evt3: Sta2=AA-1 Sta3=AA-8 Sta5=AE-3 Sta6=AA-8 Sta7=AA-8 Sta8=AA-8 Sta9=AA-8 Sta10=AA-8 Sta11=AA-8 Sta12=AA-8 Sta13=AA-6",
  "Evt4: Sta2=AA-1 Sta3=AA-8 Sta5=AE-4 Sta6=AA-8 Sta7=AA-8 Sta8=AA-8 Sta9=AA-8 Sta10=AA-8 Sta11=AA-8 Sta12=AA-8 Sta13=AA-6",
  "Evt5: Sta1=AE-5",
  "Evt6: Sta2=AE-6 Sta3=AA-8 Sta5=AA-8 Sta6=AA-8 Sta7=AA-8 Sta8=AA-8 Sta9=AA-8 Sta10=AA-8 Sta11=AA-8 Sta12=AA-8 Sta13=AA-7",
  "Evt7: Sta3=AE-7",
  "Evt8: Sta3=AE-8",
  "Evt9: Sta6=DT-1 Sta8=AR-7",
  "Evt10: Sta2=AA-1 Sta3=AA-8 Sta5=AA-8 Sta6=DT-2 Sta7=AR-6 Sta8=AA-8 Sta9=AA-8 Sta10=AA-8 Sta11=AA-8 Sta12=AA-8 Sta13=AA-6",
  "Evt11: Sta6=AR-1",
  "Evt12: Sta2=AA-1 Sta3=AA-8 Sta5=AA-8 Sta6=AR-2 Sta7=AR-8 Sta8=AA-8 Sta9=AA-8 Sta10=AA-8 Sta11=AA-8 Sta12=AA-8 Sta13=AA-6",
  "Evt13: Sta2=AA-1 Sta3=AA-8 Sta5=AA-8 Sta6=AA-8 Sta7=AR-3 Sta8=AA-8 Sta9=AA-8 Sta10=AR-10 Sta11=AR-3 Sta12=AA-8 Sta13=AA-6",
  "Evt14: Sta8=AR-4 Sta9=AR-9 Sta12=AR-4",
  "Evt15: Sta3=AA-1 Sta4=AA-2 Sta5=AA-1 Sta6=AA-1 Sta7=AA-1 Sta8=AA-1 Sta9=AA-1 Sta10=AA-1 Sta11=AA-1 Sta12=AA-1",
  "Evt16: Sta2=AA-2 Sta3=AA-3 Sta5=AA-3 Sta6=AA-3 Sta7=AA-3 Sta8=AA-3 Sta9=AA-3 Sta10=AA-3 Sta11=AA-3 Sta12=AA-3 Sta13=AA-2",
  "Evt17: Sta2=AA-5 Sta3=AA-4 Sta4=AA-4 Sta5=AA-4 Sta6=AA-4 Sta7=AA-4 Sta8=AA-4 Sta9=AA-4 Sta10=AA-4 Sta11=AA-4 Sta12=AA-4 Sta13=AR-5",
  "Evt18: Sta2=AA-2 Sta13=AA-2",
  "Evt19: Sta2=AA-1 Sta3=AA-8 Sta5=AA-8 Sta6=AA-8 Sta7=AA-8 Sta8=AA-8 Sta9=AA-8 Sta10=AA-8 Sta11=AA-8 Sta12=AA-8 Sta13=AA-7"
]

// "Next state is ..." of PS3.8 Tables 9-6 to 9-9, one action per line.
const EXPECTED_NEXT = `
AE-1 Sta4
AE-2 Sta5
AE-3 Sta6
AE-4 Sta1
AE-5 Sta2
AE-6 Sta3 Sta13
AE-7 Sta6
AE-8 Sta13
DT-1 Sta6
DT-2 Sta6
AR-1 Sta7
AR-2 Sta8
AR-3 Sta1
AR-4 Sta13
AR-5 Sta1
AR-6 Sta7
AR-7 Sta8
AR-8 Sta9 Sta10
AR-9 Sta11
AR-10 Sta12
AA-1 Sta13
AA-2 Sta1
AA-3 Sta1
AA-4 Sta1
AA-5 Sta1
AA-6 Sta13
AA-7 Sta13
AA-8 Sta13
`

const expectedCells = (): Map<string, string> => {
  const cells = new Map<string, string>()
  for (const row of EXPECTED_ROWS) {
    const [event, rest] = row.split(": ")
    for (const cell of (rest ?? "").split(" ")) {
      const [state, action] = cell.split("=")
      cells.set(`${state}+${event}`, action ?? "")
    }
  }
  return cells
}

const expectedNext = (): Map<string, ReadonlyArray<string>> =>
  new Map(
    EXPECTED_NEXT.trim()
      .split("\n")
      .map((line) => {
        const [name, ...next] = line.split(" ")
        return [name ?? "", next] as const
      })
  )

const grid: ReadonlyArray<{ readonly state: State; readonly event: Event }> = StateTable.states.flatMap((state) =>
  StateTable.events.map((event) => ({ state, event }))
)

describe("StateTable", () => {
  it("lists 13 states, 19 events and 28 actions in the standard's order", () => {
    assert.deepStrictEqual<ReadonlyArray<string>>(
      StateTable.states,
      Array.from({ length: 13 }, (_, i) => `Sta${i + 1}`)
    )
    assert.deepStrictEqual<ReadonlyArray<string>>(
      StateTable.events,
      Array.from({ length: 19 }, (_, i) => `Evt${i + 1}`)
    )
    assert.deepStrictEqual<ReadonlyArray<string>>(StateTable.actionNames, [...expectedNext().keys()])
    assert.deepStrictEqual(Object.keys(StateTable.actions), [...StateTable.actionNames])
    assert.deepStrictEqual(Object.keys(StateTable.transitions), [...StateTable.events])
    for (const name of StateTable.actionNames) assert.strictEqual(StateTable.actions[name].name, name)
  })

  it("describes every state, event and action", () => {
    for (const state of StateTable.states) assert.isTrue(StateTable.stateDescriptions[state].length > 0)
    for (const event of StateTable.events) assert.isTrue(StateTable.eventDescriptions[event].length > 0)
    for (const name of StateTable.actionNames) assert.isTrue(StateTable.actions[name].description.length > 0)
    assert.strictEqual(StateTable.stateDescriptions.Sta1, "Idle")
    assert.strictEqual(StateTable.eventDescriptions.Evt10, "P-DATA-TF PDU received")
    assert.strictEqual(StateTable.eventDescriptions.Evt19, "Unrecognized or invalid PDU received")
    assert.strictEqual(StateTable.actions["AA-6"].description, "Ignore PDU")
  })

  it("the expected table is well formed (19 rows, 123 defined cells)", () => {
    assert.strictEqual(EXPECTED_ROWS.length, 19)
    assert.strictEqual(expectedCells().size, 123)
  })

  it("every cell of the 13 x 19 grid matches the transcribed Table 9-10", () => {
    const expected = expectedCells()
    assert.strictEqual(grid.length, 247)
    let defined = 0
    for (const { state, event } of grid) {
      const action = StateTable.lookup(state, event)
      const want = expected.get(`${state}+${event}`)
      assert.strictEqual(action?.name, want, `${state} + ${event}`)
      if (action !== undefined) defined++
    }
    assert.strictEqual(defined, 123)
  })

  it("the transitions record holds only states, and lookup agrees with it", () => {
    for (const event of StateTable.events) {
      for (const key of Object.keys(StateTable.transitions[event])) {
        assert.include(StateTable.states as ReadonlyArray<string>, key, `${event} row`)
      }
    }
    for (const { state, event } of grid) {
      assert.strictEqual(StateTable.lookup(state, event)?.name, StateTable.transitions[event][state])
    }
  })

  it("every action has the next states of Tables 9-6 to 9-9", () => {
    const next = expectedNext()
    for (const name of StateTable.actionNames) {
      const action = StateTable.actions[name]
      assert.deepStrictEqual(action.nextStates, next.get(name), name)
      assert.isTrue(action.nextStates.length > 0, name)
      for (const state of action.nextStates) assert.include(StateTable.states as ReadonlyArray<string>, state)
      for (const state of action.nextStates) assert.isTrue(StateTable.isNextState(name, state))
    }
    assert.isFalse(StateTable.isNextState("AE-6", "Sta6"))
    assert.isFalse(StateTable.isNextState("AR-8", "Sta1"))
  })

  it("every action appears somewhere in the table", () => {
    const used = new Set(grid.map(({ state, event }) => StateTable.lookup(state, event)?.name))
    for (const name of StateTable.actionNames) assert.isTrue(used.has(name), name)
  })

  it("every state is reachable from Sta1 and Sta13 leads back to Sta1", () => {
    const reached = new Set<State>(["Sta1"])
    let frontier: ReadonlyArray<State> = ["Sta1"]
    while (frontier.length > 0) {
      const next: Array<State> = []
      for (const state of frontier) {
        for (const event of StateTable.events) {
          for (const to of StateTable.lookup(state, event)?.nextStates ?? []) {
            if (!reached.has(to)) {
              reached.add(to)
              next.push(to)
            }
          }
        }
      }
      frontier = next
    }
    assert.strictEqual(reached.size, 13)
    assert.strictEqual(StateTable.lookup("Sta13", "Evt17")?.nextStates[0], "Sta1")
  })

  it("famous cells", () => {
    const famous: ReadonlyArray<readonly [State, Event, ActionName]> = [
      ["Sta7", "Evt10", "AR-6"],
      ["Sta7", "Evt12", "AR-8"],
      ["Sta9", "Evt14", "AR-9"],
      ["Sta10", "Evt13", "AR-10"],
      ["Sta11", "Evt13", "AR-3"],
      ["Sta12", "Evt14", "AR-4"],
      ["Sta13", "Evt18", "AA-2"],
      ["Sta2", "Evt18", "AA-2"],
      ["Sta2", "Evt6", "AE-6"],
      ["Sta13", "Evt6", "AA-7"],
      ["Sta1", "Evt1", "AE-1"],
      ["Sta6", "Evt10", "DT-2"],
      ["Sta6", "Evt9", "DT-1"],
      ["Sta13", "Evt17", "AR-5"]
    ]
    for (const [state, event, name] of famous) {
      assert.strictEqual(StateTable.lookup(state, event)?.name, name, `${state} + ${event}`)
    }
    assert.deepStrictEqual(StateTable.lookup("Sta2", "Evt6")?.nextStates, ["Sta3", "Sta13"])
    assert.deepStrictEqual(StateTable.lookup("Sta7", "Evt12")?.nextStates, ["Sta9", "Sta10"])
    assert.deepStrictEqual(StateTable.actions["AA-2"].nextStates, ["Sta1"])
    assert.deepStrictEqual(StateTable.actions["AA-3"].nextStates, ["Sta1"])
  })

  it("some pairs are undefined", () => {
    assert.isUndefined(StateTable.lookup("Sta1", "Evt10"))
    assert.isUndefined(StateTable.lookup("Sta6", "Evt1"))
    assert.isUndefined(StateTable.lookup("Sta4", "Evt16"))
    assert.isUndefined(StateTable.lookup("Sta7", "Evt9"))
    assert.isUndefined(StateTable.lookup("Sta13", "Evt15"))
  })

  it("every undefined pair is handled by onUndefined", () => {
    let undefinedPairs = 0
    for (const { state, event } of grid) {
      if (StateTable.lookup(state, event) !== undefined) continue
      undefinedPairs++
      const handling = StateTable.onUndefined(state, event)
      if (state === "Sta1") {
        assert.deepStrictEqual(handling, { _tag: "Ignore" }, `${state} + ${event}`)
        continue
      }
      assert.strictEqual(handling._tag, "Apply", `${state} + ${event}`)
      if (handling._tag !== "Apply") continue
      const standIn: Event = state === "Sta4" ? "Evt15" : "Evt19"
      assert.strictEqual(handling.treatedAs, standIn)
      assert.strictEqual(handling.action, StateTable.lookup(state, standIn))
      // An undefined pair outside Sta1 always ends the association one way or another.
      assert.include(["AA-1", "AA-2", "AA-7", "AA-8"], handling.action.name)
    }
    assert.strictEqual(undefinedPairs, 247 - 123)
  })

  it("onUndefined picks AA-8 in association states, AA-1 in Sta2, AA-2 in Sta4, AA-7 in Sta13", () => {
    const name = (state: State, event: Event) => {
      const handling = StateTable.onUndefined(state, event)
      return handling._tag === "Apply" ? handling.action.name : "ignore"
    }
    assert.strictEqual(name("Sta1", "Evt17"), "ignore")
    assert.strictEqual(name("Sta1", "Evt19"), "ignore")
    assert.strictEqual(name("Sta2", "Evt9"), "AA-1")
    assert.strictEqual(name("Sta4", "Evt9"), "AA-2")
    assert.strictEqual(name("Sta6", "Evt7"), "AA-8")
    assert.strictEqual(name("Sta7", "Evt9"), "AA-8")
    assert.strictEqual(name("Sta10", "Evt14"), "AA-8")
    assert.strictEqual(name("Sta13", "Evt9"), "AA-7")
  })

  it("describeTransition renders one log line", () => {
    assert.strictEqual(
      StateTable.describeTransition("Sta6", "Evt10", "DT-2", "Sta6"),
      "Sta6 + Evt10 (P-DATA-TF PDU received) -> DT-2 -> Sta6"
    )
    assert.strictEqual(
      StateTable.describeTransition("Sta7", "Evt12", "AR-8", "Sta9"),
      "Sta7 + Evt12 (A-RELEASE-RQ PDU received) -> AR-8 -> Sta9"
    )
    assert.strictEqual(
      StateTable.describeTransition("Sta1", "Evt17", undefined, "Sta1"),
      "Sta1 + Evt17 (Transport connection closed indication) -> ignored -> Sta1"
    )
  })
})
