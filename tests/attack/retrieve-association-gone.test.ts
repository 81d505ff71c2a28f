/**
 * A C-GET whose requester aborts once the first sub-operation reaches it, and a C-MOVE whose destination stops
 * answering: every sub-operation left used to be tried in turn, each failing at once with a warning line and a pending
 * response (200 lines for a study of 200 instances; for a large study, as many as the handler's second of grace after
 * the association ended allowed). They now fail together: one line, and the final response (C-MOVE) with every
 * instance counted.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Result, Stream } from "effect"
import { DataSet, Scu } from "@netdicom/net"
import { instance } from "../../packages/archive/test/fixtures.ts"
import { connectArchive, startArchiveScp, STUDY_GET } from "./archive-support.ts"
import { scopedRawScp, waitFor } from "./hotpath-support.ts"
import { associated, associateRq, command, CT, EXPLICIT, IMPLICIT, pdata, promise, VERIFICATION } from "./support.ts"

const A_ABORT = Uint8Array.from([7, 0, 0, 0, 0, 4, 0, 0, 0, 0])
const COUNT = 200

const capturing = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ message }) => {
    lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
  })
  return { lines, layer: Logger.layer([logger]) }
}

const fill = (archive: { readonly store: (bytes: Uint8Array) => Effect.Effect<unknown, unknown> }) =>
  Effect.forEach(
    Array.from({ length: COUNT }, (_, i) => `1.2.5.1.${i + 1}`),
    (sop) =>
      Effect.ignore(
        archive.store(instance({ patientId: "P", patientName: "X", study: "1.2.5", series: "1.2.5.1", sop }))
      ),
    { discard: true }
  )

describe("C-GET and C-MOVE sub-operations once their association is gone", () => {
  it.live("a C-GET requester aborting after the first sub-operation: one line, not one per instance", () =>
    Effect.gen(function* () {
      const log = capturing()
      const scp = yield* startArchiveScp().pipe(Effect.provide(log.layer))
      yield* fill(scp.archive)
      const rq = associateRq({
        calledAeTitle: "ARCHIVE",
        presentationContexts: [
          { _tag: "PresentationContextRq", id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
          { _tag: "PresentationContextRq", id: 3, abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
          { _tag: "PresentationContextRq", id: 5, abstractSyntax: STUDY_GET, transferSyntaxes: [IMPLICIT] }
        ],
        userInformation: [
          { _tag: "MaximumLength", maximumLength: 16384 },
          { _tag: "ImplementationClassUid", uid: "1.2.3.4" },
          { _tag: "ScpScuRoleSelection", sopClassUid: CT, scuRole: 1, scpRole: 1 }
        ]
      })
      const identifier = Result.getOrThrow(
        DataSet.encode({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.5" }, IMPLICIT)
      )
      const peer = yield* promise(() => associated(scp.port, rq))
      peer.send(
        pdata(5, true, true, command({ _tag: "CGetRq", messageId: 1, affectedSopClassUid: STUDY_GET, priority: 0 }))
      )
      peer.send(pdata(5, false, true, identifier))
      const first = yield* promise(() => peer.next(3000))
      assert.isTrue(typeof first !== "string" && first.type === 0x04, "the first sub-operation's C-STORE-RQ")
      peer.send(A_ABORT)
      peer.destroy()
      const ended = yield* waitFor(
        Effect.sync(() => log.lines.filter((l) => l.includes("not done"))),
        (found) => found.length > 0,
        3000
      )
      yield* Effect.sleep("300 millis")
      const perInstance = log.lines.filter((l) => l.includes("sub-operation for"))
      assert.deepStrictEqual(perInstance, [], `${perInstance.length} lines, one per instance`)
      assert.lengthOf(ended, 1)
      assert.include(ended[0], `${COUNT} sub-operation(s)`)
    })
  )

  it.live("a C-MOVE destination aborting after the first sub-operation: the final response counts them all", () =>
    Effect.gen(function* () {
      const log = capturing()
      // accepts, then aborts the association when the first C-STORE-RQ arrives
      const dest = yield* scopedRawScp({ onPdu: (socket, type) => void (type === 0x04 && socket.end(A_ABORT)) })
      const scp = yield* startArchiveScp({ destinations: { DEST: dest.port } }).pipe(Effect.provide(log.layer))
      yield* fill(scp.archive)
      const responses = yield* Effect.scoped(
        Effect.gen(function* () {
          const channel = yield* connectArchive(scp.port, { dimse: "5 seconds" })
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
      assert.strictEqual(final.status, 0xa702)
      assert.strictEqual(final.failed, COUNT)
      assert.isAtMost(responses.length, 3, "pending responses")
      assert.isAtMost(log.lines.filter((l) => l.includes("sub-operation")).length, 2)
    })
  )
})
