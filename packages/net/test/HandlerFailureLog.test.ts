/**
 * A request handler that fails is logged at Error ("handler for <message> failed", with its cause) in the handler's
 * own log context (the `dimse` span, the message's annotations, the server's), whether it failed within its fork or
 * after suspending, and the association goes on; one interrupted from outside (the association aborted) is not.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Duration, Effect, Logger, References } from "effect"
import { Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as Server from "../src/association/Server.ts"
import * as DimseChannel from "../src/dimse/DimseChannel.ts"
import { VERIFICATION } from "../src/services/QueryRetrieve.ts"
import * as Scu from "../src/services/Scu.ts"
import { testAe } from "./support.ts"

interface Line {
  readonly level: string
  readonly text: string
  readonly cause: string
  readonly spans: ReadonlyArray<string>
  readonly annotations: Record<string, unknown>
}

const contexts = [{ abstractSyntax: VERIFICATION, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]

// Set once the fourth C-ECHO's handler has been interrupted.
let interrupted = false

// Answers each C-ECHO, then: the first dies at once (its fiber ends within its fork), the second dies after a sleep
// (its fiber tracked by the channel), the third ends well, the fourth waits until interrupted.
const handler: DimseChannel.RequestHandler = (request, channel) => {
  const m = request.message
  if (m._tag !== "CEchoRq") return Effect.void
  const answer = channel.send(request.context, {
    _tag: "CEchoRsp",
    messageIdBeingRespondedTo: m.messageId,
    affectedSopClassUid: m.affectedSopClassUid,
    status: Status.SUCCESS
  })
  const then =
    m.messageId === 1
      ? Effect.die("dies at once")
      : m.messageId === 2
        ? Effect.andThen(Effect.sleep(Duration.millis(20)), Effect.die("dies later"))
        : m.messageId === 4
          ? Effect.onInterrupt(Effect.never, () =>
              Effect.sync(() => {
                interrupted = true
              })
            )
          : Effect.void
  return Effect.andThen(Effect.orDie(answer), then)
}

describe("a request handler that fails", () => {
  it.live("is logged at Error with its cause in the handler's log context, within its fork or after", () =>
    Effect.gen(function* () {
      const lines: Array<Line> = []
      const capture = Logger.make(({ logLevel, message, cause, fiber }) => {
        const parts = Array.isArray(message) ? message : [message]
        lines.push({
          level: logLevel,
          text: parts.map(String).join(" "),
          cause: Cause.pretty(cause),
          spans: fiber.getRef(References.CurrentLogSpans).map(([label]) => label),
          annotations: { ...fiber.getRef(References.CurrentLogAnnotations) }
        })
      })
      const server = yield* Server.serve(yield* testAe({ aeTitle: "NETDICOM-SCP", contexts }), {
        port: 0,
        handler: (association) =>
          Effect.scoped(
            Effect.gen(function* () {
              yield* DimseChannel.make(association, handler)
              yield* association.ended
            })
          )
      }).pipe(Effect.annotateLogs({ server: "test" }), Effect.provide(Logger.layer([capture])))
      const channel = yield* Scu.connect(yield* testAe({ aeTitle: "NETDICOM-SCU" }), {
        host: "127.0.0.1",
        port: server.port,
        calledAeTitle: "NETDICOM-SCP",
        contexts
      })
      for (let i = 0; i < 3; i++) assert.strictEqual((yield* Scu.echo(channel)).status, Status.SUCCESS)
      const failed = () => lines.filter((l) => l.text.includes("handler for CEchoRq failed"))
      for (let waited = 0; failed().length < 2 && waited < 2000; waited += 10) yield* Effect.sleep("10 millis")
      const [first, second, ...rest] = failed()
      assert.strictEqual(rest.length, 0, "the handler that ended well is not logged")
      for (const [line, id, why] of [
        [first, 1, "dies at once"],
        [second, 2, "dies later"]
      ] as const) {
        assert.isDefined(line)
        assert.strictEqual(line!.level, "Error")
        assert.include(line!.cause, why)
        assert.strictEqual(line!.spans[0], "dimse")
        assert.include(line!.annotations, { message: "C-ECHO-RQ", messageId: id, server: "test" })
      }
      // the fourth's handler outlives the association, whose end interrupts it: not a failure to log
      assert.strictEqual((yield* Scu.echo(channel)).status, Status.SUCCESS)
      yield* channel.association.abort
      for (let waited = 0; !interrupted && waited < 5000; waited += 10) yield* Effect.sleep("10 millis")
      assert.isTrue(interrupted)
      yield* Effect.sleep("50 millis")
      assert.strictEqual(
        failed().length,
        2,
        failed()
          .map((l) => l.text)
          .join("\n")
      )
    })
  )
})
