/**
 * A C-GET of 60,000 instances whose every sub-operation fails (the SCU proposed no context for their SOP class). Our
 * SCP listed every failed UID in its final response (~2.3 MB), over the 2 MiB an SCU of ours takes in a response's
 * data set: our own SCU aborted the association ("response data set over 2097152 bytes") and the final counts were
 * lost. And the SCP logged one Warn line per instance (60,000). The list now holds the first UIDs that fit in
 * `Scp.MAX_FAILED_UID_LIST_BYTES` (2 MiB less 4 KiB; the counts count them all, a warning says so), and a failure's reason is
 * logged at Warn once, the others at Debug, with one line counting them at the final response.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Stream } from "effect"
import { Scp, Scu } from "@netdicom/net"
import { Status } from "@netdicom/wire"
import { connectFailingGet, MR, uidOf } from "./failing-get-support.ts"

const COUNT = 60_000

// The SCP's and the SCU's Warn lines (one process).
const lines: Array<string> = []
const capture = Logger.layer([
  Logger.make(({ logLevel, message }) => {
    if (logLevel === "Warn") lines.push([message].flat().map(String).join(" "))
  })
])

describe("a C-GET failing 60,000 sub-operations", () => {
  it.live(
    "the SCU gets the final response, its list cut to fit; one Warn line for the reason, one counting",
    () =>
      Effect.gen(function* () {
        const channel = yield* connectFailingGet(COUNT)
        const all = yield* Stream.runCollect(
          Scu.get(channel, { model: "study", identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" } })
        )
        const final = all.at(-1)!
        assert.strictEqual(final.status, Status.OUT_OF_RESOURCES_SUBOPERATIONS)
        assert.strictEqual(final.failed, COUNT)
        const listed = Math.floor(Scp.MAX_FAILED_UID_LIST_BYTES / (uidOf(0).length + 1))
        assert.strictEqual(final.failedSopInstanceUids.length, listed)
        assert.strictEqual(final.failedSopInstanceUids[listed - 1], uidOf(listed - 1))
        const perInstance = lines.filter((l) => l.startsWith("sub-operation for "))
        assert.strictEqual(perInstance.length, 1, perInstance.slice(0, 3).join("\n"))
        assert.isTrue(lines.some((l) => l.endsWith(`${COUNT} sub-operations failed: no context accepted for ${MR}`)))
        assert.isTrue(lines.some((l) => l.includes(`holds the first ${listed} of the ${COUNT} failed`)))
      }).pipe(Effect.scoped, Effect.provide(capture)),
    120_000
  )
})
