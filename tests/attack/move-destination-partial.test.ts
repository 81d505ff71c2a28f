/**
 * C-MOVEs whose destination takes only part of what it is sent: one accepting CT but not MR (every MR sub-operation
 * fails), one answering every C-STORE with a warning, and two C-MOVEs of the same study at once on one association
 * (Asynchronous Operations Window of 2). In every pending and final response the counts add up to the instances
 * (PS3.4 C.4.2.1.5), and the final response's Error Comment says why the failures failed: before, an MR refused by
 * the destination was reported "no context accepted for transfer syntax 1.2.840.10008.1.2", as if Implicit VR were
 * what it refused; now "no context accepted for <the SOP class>". Conversely, an MR proposed only in the compressed
 * syntax it is stored in and refused by the destination for that syntax (result 4, as DCMTK's storescp answers) is
 * reported "no context accepted for transfer syntax <it>", not as a refused SOP class.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Result, Stream } from "effect"
import { ApplicationEntity, DataSet, Scp, Scu } from "@netdicom/net"
import { Status } from "@netdicom/wire"
import { CT, EXPLICIT, IMPLICIT, VERIFICATION } from "./support.ts"
import { STUDY_MOVE } from "./archive-support.ts"

const MR = "1.2.840.10008.5.1.4.1.1.4"

const JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"

// An instance as stored in `transferSyntax` (its bytes are Implicit VR's: one the destination refuses is never sent).
const instanceOf = (sopClassUid: string, n: number, transferSyntax = IMPLICIT): Scp.RetrievableInstance => {
  const sopInstanceUid = `1.2.826.0.1.3680043.10.1314.${n}`
  const bytes = Result.getOrThrow(
    DataSet.encode({ SOPClassUID: sopClassUid, SOPInstanceUID: sopInstanceUid, StudyInstanceUID: "1.2.9" }, IMPLICIT)
  )
  return { sopClassUid, sopInstanceUid, transferSyntax, dataSet: () => Stream.make(bytes) }
}
const instances = [instanceOf(CT, 1), instanceOf(MR, 2), instanceOf(CT, 3), instanceOf(MR, 4)]

// A storage SCP accepting `classes`, answering each C-STORE with `status`, and the SOP Instance UIDs it was sent.
const destination = (classes: ReadonlyArray<string>, status: number) =>
  Effect.gen(function* () {
    const stored: Array<string> = []
    const ae = Result.getOrThrow(
      ApplicationEntity.make({
        aeTitle: "DEST",
        contexts: classes.map((abstractSyntax) => ({ abstractSyntax, transferSyntaxes: [EXPLICIT, IMPLICIT] }))
      })
    )
    const storage = Layer.succeed(Scp.StorageService)({
      store: (request) =>
        Stream.runDrain(request.dataSet).pipe(
          Effect.ignore,
          Effect.andThen(Effect.sync(() => stored.push(request.sopInstanceUid))),
          Effect.as({ status })
        )
    })
    const server = yield* Scp.serve(ae, { port: 0, policy: {} }).pipe(Effect.provide(storage))
    return { port: server.port, stored }
  })

// The Q/R SCP (a window of 2) moving `moved` to DEST on `destPort`.
const moveScp = (destPort: number, moved: ReadonlyArray<Scp.RetrievableInstance> = instances) =>
  Effect.gen(function* () {
    const ae = Result.getOrThrow(
      ApplicationEntity.make({
        aeTitle: "NETDICOM-SCP",
        maxOperationsPerformed: 2,
        contexts: [VERIFICATION, STUDY_MOVE].map((abstractSyntax) => ({
          abstractSyntax,
          transferSyntaxes: [EXPLICIT, IMPLICIT]
        }))
      })
    )
    const services = Layer.merge(
      Layer.succeed(Scp.RetrieveService)({ retrieve: () => Effect.succeed(moved) }),
      Layer.succeed(Scp.MoveDestinations)({
        lookup: (t) => (t.trim() === "DEST" ? Option.some({ host: "127.0.0.1", port: destPort }) : Option.none())
      })
    )
    return yield* Scp.serve(ae, { port: 0 }).pipe(Effect.provide(services))
  })

// `count` C-MOVEs of the study to DEST at once on one association: each one's responses.
const moves = (port: number, count: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const ae = Result.getOrThrow(
        ApplicationEntity.make({
          aeTitle: "NETDICOM-SCU",
          maxOperationsInvoked: count,
          timeouts: { dimse: "10 seconds" }
        })
      )
      const channel = yield* Scu.connect(ae, {
        host: "127.0.0.1",
        port,
        calledAeTitle: "NETDICOM-SCP",
        contexts: [{ abstractSyntax: STUDY_MOVE, transferSyntaxes: [EXPLICIT] }]
      })
      const one = Stream.runCollect(
        Scu.move(channel, {
          model: "study",
          destination: "DEST",
          identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.9" }
        })
      )
      return yield* Effect.all(
        Array.from({ length: count }, () => one),
        { concurrency: "unbounded" }
      )
    })
  )

const addsUp = (responses: ReadonlyArray<Scu.RetrieveProgress>) => {
  for (const r of responses) {
    const sum = (r.remaining ?? 0) + (r.completed ?? 0) + (r.failed ?? 0) + (r.warning ?? 0)
    assert.strictEqual(sum, instances.length, `counts of a response with status 0x${r.status.toString(16)}`)
  }
}

describe("a C-MOVE destination taking part of what it is sent", () => {
  it.live("accepting CT, not MR: the MR sub-operations fail, the comment names the SOP class refused", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dest = yield* destination([CT], Status.SUCCESS)
        const scp = yield* moveScp(dest.port)
        const [responses] = yield* moves(scp.port, 1)
        addsUp(responses!)
        const final = responses!.at(-1)!
        assert.deepStrictEqual([final.status, final.completed, final.failed, final.warning], [Status.WARNING, 2, 2, 0])
        assert.deepStrictEqual(final.failedSopInstanceUids, [
          instances[1]!.sopInstanceUid,
          instances[3]!.sopInstanceUid
        ])
        assert.strictEqual(final.errorComment, `no context accepted for ${MR}`)
        assert.deepStrictEqual(dest.stored, [instances[0]!.sopInstanceUid, instances[2]!.sopInstanceUid])
      })
    )
  )

  // The SCP proposes MR only in JPEG-LS, the syntax its one MR instance is stored in; the destination takes MR in the
  // uncompressed syntaxes only and refuses that context with "transfer syntaxes not supported" (as DCMTK's storescp
  // does): the refused transfer syntax is the reason, not the SOP class, which the destination does take.
  it.live("accepting MR but not in the syntax its instance is stored in: the comment names that syntax", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dest = yield* destination([CT, MR], Status.SUCCESS)
        const moved = [instanceOf(CT, 1), instanceOf(MR, 2, JPEG_LS_LOSSLESS)]
        const scp = yield* moveScp(dest.port, moved)
        const [responses] = yield* moves(scp.port, 1)
        const final = responses!.at(-1)!
        assert.deepStrictEqual([final.status, final.completed, final.failed], [Status.WARNING, 1, 1])
        assert.deepStrictEqual(final.failedSopInstanceUids, [moved[1]!.sopInstanceUid])
        assert.strictEqual(final.errorComment, `no context accepted for transfer syntax ${JPEG_LS_LOSSLESS}`)
        assert.deepStrictEqual(dest.stored, [moved[0]!.sopInstanceUid])
      })
    )
  )

  it.live("answering every C-STORE with a warning: counted as warnings, final B000, none failed", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dest = yield* destination([CT, MR], 0xb007)
        const scp = yield* moveScp(dest.port)
        const [responses] = yield* moves(scp.port, 1)
        addsUp(responses!)
        const final = responses!.at(-1)!
        assert.deepStrictEqual(
          [final.status, final.completed, final.failed, final.warning],
          [Status.WARNING, 0, 0, instances.length]
        )
        assert.deepStrictEqual(final.failedSopInstanceUids, [])
      })
    )
  )

  it.live("the same C-MOVE twice at once on one association: each counts its own, the destination gets both", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dest = yield* destination([CT, MR], Status.SUCCESS)
        const scp = yield* moveScp(dest.port)
        const both = yield* moves(scp.port, 2)
        for (const responses of both) {
          addsUp(responses)
          const final = responses.at(-1)!
          assert.deepStrictEqual([final.status, final.completed, final.failed], [Status.SUCCESS, instances.length, 0])
        }
        assert.strictEqual(dest.stored.length, 2 * instances.length)
      })
    )
  )
})
