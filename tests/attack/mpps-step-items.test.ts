/**
 * An MPPS step of many sequence items: dcmjs's encoder takes time growing with the square of a data set's items
 * (10,000: 0.5 s, 35,000: 1.7 s, 70,000: 6 s, measured on this machine), and the SCP encoded a step whole on every
 * N-SET, in the store (and, since the byte bound, once more to measure it), all on the event loop: an N-CREATE of
 * 70,000 empty Performed Series items (560 KiB on the wire) made each 100-byte N-SET after it stall the whole server
 * ~4 s, and N-SETs naming new sequences grew the step further. A step is now held to `MppsScp.MAX_STEP_ELEMENTS`
 * attributes and items, counted before anything is encoded; past it the request is refused 0x0213.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { Mpps, MppsScp, Scu } from "@netdicom/net"
import { Status } from "@netdicom/wire"
import { inProgress, serveAndConnect } from "./mpps-support.ts"

// `n` items of one attribute each: 2n attributes and items
const items = (n: number, keyword: string) => Array.from({ length: n }, (_, i) => ({ [keyword]: String(i) }))

describe("an MPPS step of too many sequence items", () => {
  it.live("is refused 0x0213 past MAX_STEP_ELEMENTS, on N-CREATE and on the N-SET that would pass it", () =>
    Effect.gen(function* () {
      const store = MppsScp.memoryStore()
      const { channel } = yield* serveAndConnect(store)
      const target = { sopClassUid: Mpps.SOP_CLASS }
      const half = MppsScp.MAX_STEP_ELEMENTS / 4 // 2 elements an item: half the bound
      const big = yield* Scu.nCreate(channel, {
        ...target,
        sopInstanceUid: "1.2.3.5",
        dataSet: { ...inProgress, PerformedSeriesSequence: items(half * 2 + 1, "SeriesInstanceUID") }
      })
      assert.strictEqual(big.status, 0x0213)
      assert.isFalse(store.steps.has("1.2.3.5"))

      const created = yield* Scu.nCreate(channel, {
        ...target,
        sopInstanceUid: "1.2.3.4",
        dataSet: { ...inProgress, PerformedSeriesSequence: items(half, "SeriesInstanceUID") }
      })
      assert.strictEqual(created.status, Status.SUCCESS)
      const more = yield* Scu.nSet(channel, {
        ...target,
        sopInstanceUid: "1.2.3.4",
        dataSet: { ProcedureCodeSequence: items(half, "CodeValue") }
      })
      assert.strictEqual(more.status, 0x0213)
      assert.isFalse("ProcedureCodeSequence" in store.steps.get("1.2.3.4")!.attributes)
      // replacing the sequence (N-SET replaces an attribute whole) is no growth
      const replaced = yield* Scu.nSet(channel, {
        ...target,
        sopInstanceUid: "1.2.3.4",
        dataSet: { PerformedSeriesSequence: items(10, "SeriesInstanceUID") }
      })
      assert.strictEqual(replaced.status, Status.SUCCESS)
    }).pipe(Effect.scoped, Effect.provide(Logger.layer([])))
  )
})
