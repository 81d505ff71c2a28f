/**
 * `cancelWhen` on C-FIND and C-GET: the C-CANCEL goes out when it completes and the stream goes on to the final
 * response (0xFE00 with the sub-operation counts), which the caller sees; the association stays usable.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Layer, Stream } from "effect"
import { Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import { SOP_CLASSES, VERIFICATION } from "../src/services/QueryRetrieve.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { CT, connectGetScu, retrieveOf, testAe } from "./support.ts"

const TS = [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN]

const scpAe = testAe({
  aeTitle: "NETDICOM-SCP",
  contexts: [VERIFICATION, CT, SOP_CLASSES.study.find, SOP_CLASSES.study.get!].map((abstractSyntax) => ({
    abstractSyntax,
    transferSyntaxes: TS
  }))
})

describe("cancelWhen", () => {
  it.live("a C-FIND cancelled after 3 matches streams on to its final response, 0xFE00", () =>
    Effect.gen(function* () {
      const query = Layer.succeed(Scp.QueryService)({
        find: () =>
          Stream.range(1, 10_000).pipe(
            Stream.map((i) => ({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: `1.2.3.${i}` }))
          )
      })
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(Effect.provide(query))
      const ae = yield* testAe({ aeTitle: "NETDICOM-SCU" })
      const channel = yield* Scu.connect(ae, {
        host: "127.0.0.1",
        port: server.port,
        calledAeTitle: "NETDICOM-SCP",
        contexts: [VERIFICATION, SOP_CLASSES.study.find].map((abstractSyntax) => ({
          abstractSyntax,
          transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN]
        }))
      })
      const stop = yield* Deferred.make<void>()
      let seen = 0
      const all = yield* Stream.runCollect(
        Scu.find(channel, {
          model: "study",
          identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "" },
          cancelWhen: Deferred.await(stop)
        }).pipe(Stream.tap(() => (++seen === 3 ? Deferred.succeed(stop, undefined) : Effect.void)))
      )
      const final = all.at(-1)!
      assert.strictEqual(final.status, Status.CANCEL)
      assert.strictEqual(final.category, "Cancel")
      assert.isAtLeast(all.length, 4)
      assert.isBelow(all.length, 10_000)
      assert.strictEqual((yield* Scu.echo(channel)).status, Status.SUCCESS)
    })
  )

  it.live("a C-GET cancelled after its first sub-operation ends with 0xFE00 and the counts", () =>
    Effect.gen(function* () {
      const sent = Array.from({ length: 20 }, () => new Uint8Array(10_000))
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(Effect.provide(retrieveOf(sent)))
      const stop = yield* Deferred.make<void>()
      let stored = 0
      const channel = yield* connectGetScu(server.port, (req) =>
        Stream.runDrain(req.dataSet).pipe(
          Effect.orDie,
          Effect.andThen(Effect.sync(() => ++stored)),
          Effect.tap((n) => (n === 1 ? Deferred.succeed(stop, undefined) : Effect.void)),
          Effect.as({ status: Status.SUCCESS })
        )
      )
      const all = yield* Stream.runCollect(
        Scu.get(channel, {
          model: "study",
          identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" },
          cancelWhen: Deferred.await(stop)
        })
      )
      const final = all.at(-1)!
      assert.strictEqual(final.status, Status.CANCEL)
      assert.isAtLeast(final.completed ?? 0, 1)
      assert.strictEqual(final.completed, stored)
      assert.strictEqual((final.remaining ?? 0) + (final.completed ?? 0), 20)
      assert.isAbove(final.remaining ?? 0, 0)
      // Sub-operations not started are counted as remaining, not listed as failed.
      assert.strictEqual(final.failed, 0)
      assert.deepStrictEqual(final.failedSopInstanceUids, [])
    })
  )
})
