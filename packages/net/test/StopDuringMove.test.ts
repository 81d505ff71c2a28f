/**
 * A Q/R SCP stopped (its server's scope closed, as `netdicom qrscp` on Ctrl-C) during a C-MOVE to a slow
 * destination: the sub-operation under way may finish, but no new one starts once the stop is asked for, and the
 * SCU gets the final response (those not started counted failed) before the association goes. Before, the loop went
 * on for the second the server gives its handlers, starting a sub-operation every 300 ms here.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Option, Result, Scope, Stream } from "effect"
import { Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as DataSet from "../src/dimse/DataSet.ts"
import { SOP_CLASSES, VERIFICATION } from "../src/services/QueryRetrieve.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { CT, retrieveOf, testAe } from "./support.ts"

const TS = [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN]
const INSTANCES = 8

const ctBytes = (uid: string) =>
  Result.getOrThrow(
    DataSet.encode(
      { SOPClassUID: CT, SOPInstanceUID: uid, PatientName: "DOE^JOHN", StudyInstanceUID: "1.2.3", Modality: "CT" },
      EXPLICIT_VR_LITTLE_ENDIAN
    )
  )

describe("a Q/R SCP stopped during a C-MOVE", () => {
  it.live("starts no sub-operation after the stop and sends its final response first", () =>
    Effect.gen(function* () {
      // The destination: takes each instance, then answers 300 ms later.
      const received: Array<string> = []
      const destAe = yield* testAe({
        aeTitle: "DEST",
        contexts: [
          { abstractSyntax: VERIFICATION, transferSyntaxes: TS },
          { abstractSyntax: CT, transferSyntaxes: TS }
        ]
      })
      const slowStorage = Layer.succeed(Scp.StorageService)({
        store: (request) =>
          Stream.runDrain(request.dataSet).pipe(
            Effect.andThen(Effect.sync(() => received.push(request.sopInstanceUid))),
            Effect.andThen(Effect.sleep("300 millis")),
            Effect.as({ status: Status.SUCCESS }),
            Effect.orElseSucceed(() => ({ status: 0xa700 }))
          )
      })
      const dest = yield* Scp.serve(destAe, { port: 0 }).pipe(Effect.provide(slowStorage))

      // The Q/R SCP, in a scope of its own that the test closes mid-way.
      const qrAe = yield* testAe({
        aeTitle: "QRSCP",
        contexts: [
          { abstractSyntax: VERIFICATION, transferSyntaxes: TS },
          { abstractSyntax: SOP_CLASSES.study.move!, transferSyntaxes: TS }
        ]
      })
      const sent = Array.from({ length: INSTANCES }, (_, i) => ctBytes(`1.2.3.${i + 1}`))
      const destinations = Layer.succeed(Scp.MoveDestinations)({
        lookup: (ae) => (ae.trim() === "DEST" ? Option.some({ host: "127.0.0.1", port: dest.port }) : Option.none())
      })
      const qrScope = yield* Scope.make()
      const qr = yield* Scp.serve(qrAe, { port: 0 }).pipe(
        Effect.provide(Layer.merge(retrieveOf(sent), destinations)),
        Scope.provide(qrScope)
      )

      const scuAe = yield* testAe({ aeTitle: "MOVESCU" })
      const channel = yield* Scu.connect(scuAe, {
        host: "127.0.0.1",
        port: qr.port,
        calledAeTitle: "QRSCP",
        contexts: [{ abstractSyntax: SOP_CLASSES.study.move!, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }]
      })
      const moving = yield* Effect.forkChild(
        Stream.runCollect(
          Scu.move(channel, {
            model: "study",
            destination: "DEST",
            identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" }
          })
        ).pipe(Effect.exit)
      )
      // Two instances in (the second one's answer 300 ms away): stop the Q/R SCP.
      for (let i = 0; i < 1000 && received.length < 2; i++) yield* Effect.sleep("5 millis")
      assert.strictEqual(received.length, 2)
      yield* Scope.close(qrScope, Exit.void)
      const responses = yield* Fiber.join(moving)
      // Whatever was under way has had its time.
      yield* Effect.sleep("1500 millis")
      assert.isAtMost(received.length, 3, `sub-operations started after the stop: ${received.join(", ")}`)
      assert.isTrue(Exit.isSuccess(responses), "no final response before the association went")
      if (Exit.isSuccess(responses)) {
        const final = responses.value.at(-1)!
        assert.strictEqual(final.status, Status.WARNING)
        assert.strictEqual(final.completed, received.length)
        assert.strictEqual(final.failed, INSTANCES - received.length)
        assert.strictEqual(final.failedSopInstanceUids.length, INSTANCES - received.length)
        assert.match(final.errorComment ?? "", /the SCP is stopping/)
      }
    })
  )
})
