/** A storage handler is told the C-STORE-RQ's Priority, so that a router can pass it on with the data set. */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Result, Stream } from "effect"
import { Dimse, Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as DataSet from "../src/dimse/DataSet.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { CT, testAe } from "./support.ts"

const contexts = [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]

describe("StoreRequest.priority", () => {
  it.live("is the priority the SCU sent, MEDIUM when it gave none", () =>
    Effect.gen(function* () {
      const seen: Array<Dimse.Priority> = []
      const storage = Layer.succeed(Scp.StorageService)({
        store: (request) =>
          Stream.runDrain(request.dataSet).pipe(
            Effect.ignore,
            Effect.map(() => {
              seen.push(request.priority)
              return { status: Status.SUCCESS }
            })
          )
      })
      const server = yield* Scp.serve(yield* testAe({ aeTitle: "ROUTER", contexts }), { port: 0 }).pipe(
        Effect.provide(storage)
      )
      const dataSet = Result.getOrThrow(
        DataSet.encode({ SOPClassUID: CT, SOPInstanceUID: "1.2.3.4" }, EXPLICIT_VR_LITTLE_ENDIAN)
      )
      const input = { sopClassUid: CT, sopInstanceUid: "1.2.3.4", transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN, dataSet }
      const answers = yield* Effect.scoped(
        Effect.flatMap(
          Scu.connect(yield* testAe({ aeTitle: "MODALITY" }), {
            host: "127.0.0.1",
            port: server.port,
            calledAeTitle: "ROUTER",
            contexts
          }),
          (channel) =>
            Effect.all([
              Scu.store(channel, { ...input, priority: Dimse.PRIORITY_HIGH }),
              Scu.store(channel, { ...input, priority: Dimse.PRIORITY_LOW }),
              Scu.store(channel, input)
            ])
        )
      )
      assert.deepStrictEqual(
        answers.map((a) => a.status),
        [Status.SUCCESS, Status.SUCCESS, Status.SUCCESS]
      )
      assert.deepStrictEqual(seen, [Dimse.PRIORITY_HIGH, Dimse.PRIORITY_LOW, Dimse.PRIORITY_MEDIUM])
    })
  )
})
