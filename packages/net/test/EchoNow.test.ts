/**
 * `Scp`'s C-ECHO is answered as its handler is called (no fiber when the response is written at once); at Debug,
 * where the send is logged, it goes through the handler's fiber as before, its line in the handler's log context
 * (the `dimse` span, the message's annotations).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, References } from "effect"
import { Status } from "@netdicom/wire"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { VERIFICATION, testAe } from "./support.ts"

const contexts = [{ abstractSyntax: VERIFICATION, transferSyntaxes: ["1.2.840.10008.1.2"] }]

interface Line {
  readonly text: string
  readonly spans: ReadonlyArray<string>
  readonly annotations: Record<string, unknown>
}

const echoes = (level: "Debug" | "Info") =>
  Effect.gen(function* () {
    const lines: Array<Line> = []
    const capture = Logger.make(({ message, fiber }) => {
      lines.push({
        text: (Array.isArray(message) ? message : [message]).map(String).join(" "),
        spans: fiber.getRef(References.CurrentLogSpans).map(([label]) => label),
        annotations: { ...fiber.getRef(References.CurrentLogAnnotations) }
      })
    })
    const server = yield* Scp.serve(yield* testAe({ aeTitle: "NETDICOM-SCP", contexts }), { port: 0 }).pipe(
      Effect.provide(Logger.layer([capture])),
      Effect.provideService(References.MinimumLogLevel, level)
    )
    const statuses = yield* Effect.scoped(
      Effect.flatMap(
        Scu.connect(yield* testAe({ aeTitle: "NETDICOM-SCU" }), {
          host: "127.0.0.1",
          port: server.port,
          calledAeTitle: "NETDICOM-SCP",
          contexts
        }),
        (channel) => Effect.forEach([1, 2, 3], () => Effect.map(Scu.echo(channel), (r) => r.status))
      )
    )
    return { statuses, lines }
  })

describe("Scp's C-ECHO", () => {
  it.live("is answered as its handler is called, every time", () =>
    Effect.gen(function* () {
      const { statuses } = yield* echoes("Info")
      assert.deepStrictEqual(statuses, [Status.SUCCESS, Status.SUCCESS, Status.SUCCESS])
    })
  )

  it.live("at Debug its response is logged in the handler's log context", () =>
    Effect.gen(function* () {
      const { statuses, lines } = yield* echoes("Debug")
      assert.deepStrictEqual(statuses, [Status.SUCCESS, Status.SUCCESS, Status.SUCCESS])
      const sent = lines.filter((l) => l.text.startsWith("send C-ECHO-RSP"))
      assert.strictEqual(sent.length, 3, lines.map((l) => l.text).join("\n"))
      for (const line of sent) {
        assert.include(line.spans, "dimse")
        assert.strictEqual(line.annotations["message"], "C-ECHO-RQ")
      }
      assert.deepStrictEqual(
        sent.map((l) => l.annotations["messageId"]),
        [1, 2, 3]
      )
    })
  )
})
