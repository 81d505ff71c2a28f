/**
 * An SCU that aborts while its C-STORE's data set is still arriving at the archive SCP: the server's log says the
 * data set did not arrive whole, not "refused: read source <temporary file>: association aborted by provider" (what
 * a new user saw, with a temporary path that means nothing to them and "provider" where the peer had aborted).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import * as Part10 from "../../packages/archive/src/Part10.ts"
import { instance } from "../../packages/archive/test/fixtures.ts"
import { startArchiveScp } from "./archive-support.ts"
import { associated, associateRq, pdata, promise, storeRqPdata } from "./support.ts"
import { waitFor } from "./hotpath-support.ts"

const A_ABORT = Uint8Array.from([7, 0, 0, 0, 0, 4, 0, 0, 0, 0])

describe("the archive SCP when the SCU aborts mid-C-STORE", () => {
  it.live("logs that the data set did not arrive whole, without the temporary file's path", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const capture = Logger.make(({ message }) => {
        lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
      })
      const scp = yield* startArchiveScp().pipe(Effect.provide(Logger.layer([capture])))
      const file = instance({ patientId: "P", patientName: "A^B", study: "1.2.3", series: "1.2.3.1", sop: "1.2.3" })
      const dataSet = file.subarray(Part10.dataSetOffset(file)!)
      const peer = yield* promise(() => associated(scp.port, associateRq({ calledAeTitle: "ARCHIVE" })))
      peer.send(storeRqPdata())
      peer.send(pdata(3, false, false, dataSet.subarray(0, dataSet.length >> 1)))
      yield* Effect.sleep("100 millis")
      peer.send(A_ABORT)
      const seen = yield* waitFor(
        Effect.sync(() => lines.filter((l) => l.includes("1.2.3"))),
        (found) => found.length > 0,
        3000
      )
      peer.destroy()
      assert.isNotEmpty(seen, `no line about the C-STORE: ${lines.join(" | ")}`)
      assert.isTrue(
        seen.some((l) => l.includes("did not arrive whole")),
        seen.join(" | ")
      )
      assert.isFalse(
        seen.some((l) => l.includes(".tmp")),
        seen.join(" | ")
      )
    })
  )
})
