/**
 * A C-MOVE of a study whose instances need more presentation contexts than one association holds (one per SOP class
 * and stored transfer syntax, 128 at most). A peer can no longer store instances of made-up SOP classes over the CT
 * context (a C-STORE whose Affected SOP Class UID is not its context's abstract syntax is refused 0x0122), but an
 * archive can still hold instances of 129 SOP classes in one study (each stored on its own context, or files copied
 * into the store): every C-MOVE of such a study used to fail whole (A702, "129 presentation contexts proposed"), its
 * real instances with it; then the 128 contexts of the most instances were proposed and the instances left out
 * failed. Now the instances go over several associations to the destination, one after the other, and all arrive.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { Scu } from "@netdicom/net"
import * as Part10 from "../../packages/archive/src/Part10.ts"
import { instance } from "../../packages/archive/test/fixtures.ts"
import { connectArchive, startArchiveScp } from "./archive-support.ts"
import { commandOf, scopedRawScp } from "./hotpath-support.ts"
import { associated, associateRq, command, pdata, promise } from "./support.ts"

const bare = (file: Uint8Array) => file.subarray(Part10.dataSetOffset(file)!)
const REAL = 10
const MADE_UP = 129

describe("a C-MOVE needing more than 128 presentation contexts", () => {
  it.live("every instance goes, over more than one association", () =>
    Effect.gen(function* () {
      // the destination accepts every context and answers every C-STORE with Success
      const dest = yield* scopedRawScp({ answer: true })
      const scp = yield* startArchiveScp({ destinations: { DEST: dest.port } })
      for (let i = 1; i <= REAL; i++) {
        yield* scp.archive.store(
          instance({ patientId: "P", patientName: "X", study: "1.2.5", series: "1.2.5.1", sop: `1.2.5.1.${i}` })
        )
      }
      // over the network, on the CT context: C-STOREs of made-up SOP classes, each refused (0122)
      const peer = yield* promise(() => associated(scp.port, associateRq({ calledAeTitle: "ARCHIVE" })))
      for (let i = 1; i <= MADE_UP; i++) {
        const sopClass = `1.2.826.0.1.3680043.10.999.${i}`
        const sop = `1.2.5.2.${i}`
        peer.send(
          pdata(
            3,
            true,
            true,
            command({
              _tag: "CStoreRq",
              messageId: i,
              affectedSopClassUid: sopClass,
              affectedSopInstanceUid: sop,
              priority: 0
            })
          )
        )
        peer.send(
          pdata(
            3,
            false,
            true,
            bare(instance({ patientId: "P", patientName: "X", study: "1.2.5", series: "1.2.5.2", sop, sopClass }))
          )
        )
        const rsp = yield* promise(() => peer.next(3000))
        assert.isTrue(typeof rsp !== "string" && rsp.type === 0x04)
        const answer = typeof rsp !== "string" ? commandOf(rsp.body) : undefined
        assert.strictEqual(answer !== undefined && "status" in answer ? answer.status : undefined, 0x0122)
      }
      peer.destroy()
      // into the archive directly, then
      for (let i = 1; i <= MADE_UP; i++) {
        const sopClass = `1.2.826.0.1.3680043.10.999.${i}`
        yield* scp.archive.store(
          instance({
            patientId: "P",
            patientName: "X",
            study: "1.2.5",
            series: "1.2.5.2",
            sop: `1.2.5.2.${i}`,
            sopClass
          })
        )
      }
      const responses = yield* Effect.scoped(
        Effect.gen(function* () {
          const channel = yield* connectArchive(scp.port, { dimse: "20 seconds" })
          return yield* Stream.runCollect(
            Scu.move(channel, {
              model: "study",
              identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.5" },
              destination: "DEST"
            })
          )
        })
      )
      const final = responses.at(-1)!
      // 138 contexts needed (the CT instances share one), each with its fallback: more than one association
      assert.deepStrictEqual(
        { status: final.status, completed: final.completed, failed: final.failed },
        { status: 0, completed: REAL + MADE_UP, failed: 0 }
      )
      assert.isAbove(dest.sockets.length, 1)
    })
  )
})
