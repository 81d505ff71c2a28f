/**
 * A storage handler that does its work as it is called and gives its outcome as `Effect.succeed` (an `Exit`) is
 * answered as it returns: no fiber runs for the request (counted through Effect's fiber runtime metrics service, by
 * the message annotation the handler's fibers start with). One returning any other effect runs in a fiber as before;
 * at Debug, where the send is logged, the response goes through the handler's fiber and its log context; a handler
 * function that throws as it is called is answered 0x0110 and the association goes on.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, Metric, References } from "effect"
import { Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import type { StorageHandler } from "../src/services/StoreHandler.ts"
import { CT, testAe } from "./support.ts"

const contexts = [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]

interface Line {
  readonly text: string
  readonly spans: ReadonlyArray<string>
  readonly annotations: Record<string, unknown>
}

// Five small C-STOREs (instances 1.2.3.1 to 1.2.3.5) to an SCP storing with `store`, one at a time: their statuses,
// the fibers started for C-STORE-RQs on the SCP, and its log lines.
const storeFive = (store: StorageHandler, level: "Debug" | "Info") =>
  Effect.gen(function* () {
    let storeFibers = 0
    const metrics: Metric.FiberRuntimeMetricsService = {
      recordFiberStart: (context) => {
        if (Context.get(context, References.CurrentLogAnnotations)["message"] === "C-STORE-RQ") storeFibers++
      },
      recordFiberEnd: () => {}
    }
    const lines: Array<Line> = []
    const capture = Logger.make(({ message, fiber }) => {
      lines.push({
        text: (Array.isArray(message) ? message : [message]).map(String).join(" "),
        spans: fiber.getRef(References.CurrentLogSpans).map(([label]) => label),
        annotations: { ...fiber.getRef(References.CurrentLogAnnotations) }
      })
    })
    const server = yield* Scp.serve(yield* testAe({ aeTitle: "NETDICOM-SCP", maxPduLength: 16384, contexts }), {
      port: 0
    }).pipe(
      Effect.provide(Layer.succeed(Scp.StorageService)({ store })),
      Effect.provide(Logger.layer([capture])),
      Effect.provideService(References.MinimumLogLevel, level),
      Effect.provideService(Metric.FiberRuntimeMetrics, metrics)
    )
    const statuses = yield* Effect.scoped(
      Effect.flatMap(
        Scu.connect(yield* testAe({ aeTitle: "NETDICOM-SCU" }), {
          host: "127.0.0.1",
          port: server.port,
          calledAeTitle: "NETDICOM-SCP",
          contexts
        }),
        (channel) =>
          Effect.forEach([1, 2, 3, 4, 5], (i) =>
            Effect.map(
              Scu.store(channel, {
                sopClassUid: CT,
                sopInstanceUid: `1.2.3.${i}`,
                transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
                dataSet: new Uint8Array(40_000)
              }),
              (r) => r.status
            )
          )
      )
    )
    return { statuses, storeFibers, lines }
  })

const ALL_STORED = [Status.SUCCESS, Status.SUCCESS, Status.SUCCESS, Status.SUCCESS, Status.SUCCESS]

describe("a storage handler giving its outcome as Effect.succeed", () => {
  it.live("is answered as it returns, with no fiber run for the request", () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      const { statuses, storeFibers } = yield* storeFive((request) => {
        seen.push(request.sopInstanceUid)
        return Effect.succeed({ status: request.dataSetReceived === undefined ? 0xa700 : Status.SUCCESS })
      }, "Info")
      assert.deepStrictEqual(statuses, ALL_STORED)
      assert.deepStrictEqual(seen, ["1.2.3.1", "1.2.3.2", "1.2.3.3", "1.2.3.4", "1.2.3.5"])
      assert.strictEqual(storeFibers, 0)
    })
  )

  it.live("one returning another effect runs in a fiber per request, as before", () =>
    Effect.gen(function* () {
      const { statuses, storeFibers } = yield* storeFive(() => Effect.sync(() => ({ status: Status.SUCCESS })), "Info")
      assert.deepStrictEqual(statuses, ALL_STORED)
      assert.strictEqual(storeFibers, 5)
    })
  )

  it.live("at Debug its response is logged in the handler's log context", () =>
    Effect.gen(function* () {
      const { statuses, lines } = yield* storeFive(() => Effect.succeed({ status: Status.SUCCESS }), "Debug")
      assert.deepStrictEqual(statuses, ALL_STORED)
      const sent = lines.filter((l) => l.text.startsWith("send C-STORE-RSP"))
      assert.strictEqual(sent.length, 5, lines.map((l) => l.text).join("\n"))
      for (const line of sent) {
        assert.include(line.spans, "dimse")
        assert.strictEqual(line.annotations["message"], "C-STORE-RQ")
      }
    })
  )

  it.live("a handler function that throws as it is called is answered 0x0110, and the association goes on", () =>
    Effect.gen(function* () {
      const { statuses, lines } = yield* storeFive((request) => {
        if (request.sopInstanceUid === "1.2.3.2") throw new Error("a bug in the handler")
        return Effect.succeed({ status: Status.SUCCESS })
      }, "Info")
      assert.deepStrictEqual(statuses, [
        Status.SUCCESS,
        Status.PROCESSING_FAILURE,
        Status.SUCCESS,
        Status.SUCCESS,
        Status.SUCCESS
      ])
      assert.isTrue(lines.some((l) => l.text.includes("the storage handler for 1.2.3.2 failed")))
    })
  )
})
