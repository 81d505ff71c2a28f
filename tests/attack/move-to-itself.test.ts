/**
 * A C-MOVE whose destination is the archive SCP itself (`--destination` naming its own AE title and port): it sends
 * each instance to itself over a second association, which stores it again over the very file it is reading. Checked:
 * every sub-operation completes, the counts of every response add up (PS3.4 C.4.2.1.5), nothing is duplicated or lost
 * in the index, and a second such move does the same. (Found sound; kept as a regression test.)
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { Scu } from "@netdicom/net"
import { Status } from "@netdicom/wire"
import { instance } from "../../packages/archive/test/fixtures.ts"
import { connectArchive, startArchiveScp } from "./archive-support.ts"

const COUNT = 30

describe("a C-MOVE to the archive itself", () => {
  it.live("every instance re-stored over itself, counts adding up, twice", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const destinations: Record<string, number> = {}
        const scp = yield* startArchiveScp({ destinations })
        destinations["ARCHIVE"] = scp.port
        for (let i = 1; i <= COUNT; i++) {
          // 300 KB each: read in several chunks while the same file is being replaced
          const bytes = instance({
            patientId: "P",
            patientName: "X",
            study: "1.2.5",
            series: "1.2.5.1",
            sop: `1.2.5.1.${i}`,
            extra: { ImageComments: "x".repeat(300_000) }
          })
          yield* scp.archive.store(bytes).pipe(Effect.orDie)
        }
        for (let round = 0; round < 2; round++) {
          const responses = yield* Effect.scoped(
            Effect.flatMap(connectArchive(scp.port), (channel) =>
              Stream.runCollect(
                Scu.move(channel, {
                  model: "study",
                  destination: "ARCHIVE",
                  identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.5" }
                })
              )
            )
          )
          for (const r of responses) {
            assert.strictEqual((r.remaining ?? 0) + (r.completed ?? 0) + (r.failed ?? 0) + (r.warning ?? 0), COUNT)
          }
          const final = responses.at(-1)!
          assert.deepStrictEqual([final.status, final.completed, final.failed], [Status.SUCCESS, COUNT, 0])
        }
        const found = yield* Effect.scoped(
          Effect.flatMap(connectArchive(scp.port), (channel) =>
            Stream.runCollect(
              Scu.find(channel, {
                model: "study",
                identifier: {
                  QueryRetrieveLevel: "IMAGE",
                  StudyInstanceUID: "1.2.5",
                  SeriesInstanceUID: "1.2.5.1",
                  SOPInstanceUID: ""
                }
              })
            )
          )
        )
        const uids = found.flatMap((r) => (r.identifier === undefined ? [] : [String(r.identifier["SOPInstanceUID"])]))
        assert.strictEqual(new Set(uids).size, COUNT)
        assert.strictEqual(uids.length, COUNT)
      })
    )
  )
})
