/**
 * A C-GET whose every sub-operation fails at once: the SCU proposes no context for the SOP class of the instances
 * matched (here MR, where it offers CT only), so the SCP fails each without a C-STORE, and its final response lists
 * every one in the Failed SOP Instance UID List. dcmjs wrote that list value by value into a stream growing in
 * pieces of 256 bytes, finding its place from the first piece each time: time grew with the square of the UIDs
 * (20,000 ~4 s, 40,000 ~12 s), all of it holding the SCP's event loop, for any peer allowed a C-GET on a large study.
 * With 30,000 here the event loop (SCP and SCU in this process) was held ~6.9 s at once; now ~0.35 s, since
 * `DataSet.encode` writes a top-level UI element of many values itself.
 */
import { monitorEventLoopDelay } from "node:perf_hooks"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Stream } from "effect"
import { DataSet, Scu } from "@netdicom/net"
import { connectFailingGet, uidOf } from "./failing-get-support.ts"
import { DEFLATED, EXPLICIT, IMPLICIT } from "./support.ts"

const COUNT = 30_000

describe("a C-GET failing 30,000 sub-operations at once", () => {
  it.live("the final response lists them all, the event loop never held 1 s", () =>
    Effect.gen(function* () {
      const channel = yield* connectFailingGet(COUNT)
      // the longest the event loop (the SCP's and the SCU's, one process) was held
      const delay = monitorEventLoopDelay({ resolution: 10 })
      delay.enable()
      const all = yield* Stream.runCollect(
        Scu.get(channel, { model: "study", identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" } })
      )
      delay.disable()
      const heldMs = Math.round(delay.max / 1e6)
      const final = all.at(-1)!
      assert.strictEqual(final.failed, COUNT)
      assert.strictEqual(final.failedSopInstanceUids.length, COUNT)
      assert.strictEqual(final.failedSopInstanceUids[COUNT - 1], uidOf(COUNT - 1))
      assert.isBelow(heldMs, 1000, `the event loop was held ${heldMs} ms at once`)
    }).pipe(Effect.scoped)
  )
})

describe("a UI element of many values written by DataSet.encode itself", () => {
  it("decodes back the same in every syntax, past 64 KiB (UN in Explicit VR) too, among other elements", () => {
    for (const count of [17, 2_000]) {
      const uids = Array.from({ length: count }, (_, i) => uidOf(i))
      const dataset = { QueryRetrieveLevel: "STUDY", StudyInstanceUID: uids, PatientName: "A^B", PatientID: "" }
      for (const ts of [IMPLICIT, EXPLICIT, "1.2.840.10008.1.2.2", DEFLATED]) {
        const back = DataSet.decode(Result.getOrThrow(DataSet.encode(dataset, ts)), ts)
        assert.isTrue(Result.isSuccess(back), `${count} UIDs in ${ts}`)
        if (Result.isFailure(back)) continue
        assert.deepStrictEqual(back.success["StudyInstanceUID"], uids, `${count} UIDs in ${ts}`)
        assert.strictEqual(back.success["PatientName"], "A^B")
        assert.strictEqual(back.success["QueryRetrieveLevel"], "STUDY")
      }
    }
  })
})
