/**
 * `Scu.store`'s log span: set only where a line inside it can be printed (it costs ~40 runtime calls of a cold
 * C-STORE's ~340). A C-STORE of bytes logs at Debug only, so its span is there when Debug is; a data set streamed from
 * the caller's own source may log at any level, so it always gets one.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, References, Stream } from "effect"
import { Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { CT, testAe, VERIFICATION } from "./support.ts"

interface Line {
  readonly text: string
  readonly spans: ReadonlyArray<string>
}

// The SCU's log lines (the SCP logs elsewhere) of `store` (or `echo`, with no data set) on a new association, at
// `level`.
const scuLines = (level: "Debug" | "Info", dataSet: Scu.StoreInput["dataSet"] | "echo") =>
  Effect.gen(function* () {
    const lines: Array<Line> = []
    const capture = Logger.make(({ message, fiber }) => {
      lines.push({
        text: (Array.isArray(message) ? message : [message]).map(String).join(" "),
        spans: fiber.getRef(References.CurrentLogSpans).map(([label]) => label)
      })
    })
    const contexts = [
      { abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] },
      { abstractSyntax: VERIFICATION, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }
    ]
    const storage = Layer.succeed(Scp.StorageService)({ store: () => Effect.succeed({ status: Status.SUCCESS }) })
    const scpAe = yield* testAe({ aeTitle: "NETDICOM-SCP", contexts })
    const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(storage))
    const scuAe = yield* testAe({ aeTitle: "NETDICOM-SCU" })
    const r = yield* Effect.gen(function* () {
      const channel = yield* Scu.connect(scuAe, {
        host: "127.0.0.1",
        port: server.port,
        calledAeTitle: "NETDICOM-SCP",
        contexts
      })
      if (dataSet === "echo") return yield* Scu.echo(channel)
      return yield* Scu.store(channel, {
        sopClassUid: CT,
        sopInstanceUid: "1.2.3.4",
        transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
        dataSet
      })
    }).pipe(Effect.provideService(References.MinimumLogLevel, level), Effect.provide(Logger.layer([capture])))
    assert.strictEqual(r.status, Status.SUCCESS)
    return lines
  })

describe("Scu.store's log span", () => {
  it.live("at Debug, the lines a C-STORE of bytes logs carry its span", () =>
    Effect.gen(function* () {
      const lines = yield* scuLines("Debug", new Uint8Array(64))
      const sent = lines.find((l) => l.text.startsWith("send ") && l.text.includes("C-STORE-RQ"))
      assert.isDefined(sent)
      assert.strictEqual(sent!.spans[0], "C-STORE")
    })
  )

  it.live("at Debug, the lines a C-ECHO logs carry its span", () =>
    Effect.gen(function* () {
      const lines = yield* scuLines("Debug", "echo")
      const sent = lines.find((l) => l.text.startsWith("send ") && l.text.includes("C-ECHO-RQ"))
      assert.isDefined(sent)
      assert.strictEqual(sent!.spans[0], "C-ECHO")
    })
  )

  it.live("at Info, a line the caller's own data set source logs carries the span", () =>
    Effect.gen(function* () {
      const source = Stream.fromEffect(Effect.as(Effect.logInfo("reading the source"), new Uint8Array(64)))
      const lines = yield* scuLines("Info", source)
      const read = lines.find((l) => l.text === "reading the source")
      assert.isDefined(read)
      assert.strictEqual(read!.spans[0], "C-STORE")
    })
  )
})
