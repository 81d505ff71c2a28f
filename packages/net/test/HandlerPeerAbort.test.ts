/**
 * A request handler still running, its request unanswered, when the peer aborts the association (an SCU whose DIMSE
 * timeout expired on a C-FIND the SCP's query service never answers): the handler is interrupted after the channel's
 * grace, with nothing logged at Error and no failure response sent, for nobody is left to answer. Found by a newcomer's
 * program: the SCP logged "handler for CFindRq was interrupted before answering C-FIND-RQ 1: answered 0xC000" at
 * Error, one second after the peer's A-ABORT, and tried to send that response on the aborted association.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, Result, Stream } from "effect"
import { IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import { SOP_CLASSES } from "../src/services/QueryRetrieve.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { testAe } from "./support.ts"

const contexts = [{ abstractSyntax: SOP_CLASSES.study.find, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }]

describe("a handler whose peer aborts before it answers", () => {
  it.live("is interrupted without an Error line or a response sent on the aborted association", () =>
    Effect.gen(function* () {
      const lines: Array<{ readonly level: string; readonly text: string }> = []
      const capture = Logger.make(({ logLevel, message }) => {
        const parts = Array.isArray(message) ? message : [message]
        lines.push({ level: logLevel, text: parts.map(String).join(" ") })
      })
      let interrupted = false
      const query = Layer.succeed(Scp.QueryService)({
        find: () =>
          Stream.fromEffect(
            Effect.onInterrupt(Effect.never, () =>
              Effect.sync(() => {
                interrupted = true
              })
            )
          )
      })
      const server = yield* Scp.serve(yield* testAe({ aeTitle: "NETDICOM-SCP", contexts }), { port: 0 }).pipe(
        Effect.provide(Layer.merge(query, Logger.layer([capture])))
      )
      const found = yield* Effect.scoped(
        Effect.gen(function* () {
          const channel = yield* Scu.connect(
            yield* testAe({ aeTitle: "NETDICOM-SCU", timeouts: { dimse: "300 millis" } }),
            { host: "127.0.0.1", port: server.port, calledAeTitle: "NETDICOM-SCP", contexts }
          )
          return yield* Stream.runCollect(
            Scu.find(channel, { model: "study", identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "" } })
          )
        })
      ).pipe(Effect.result)
      assert.isTrue(Result.isFailure(found) && found.failure._tag === "DimseTimeout")
      for (let waited = 0; !interrupted && waited < 5000; waited += 10) yield* Effect.sleep("10 millis")
      assert.isTrue(interrupted, "the handler is interrupted once the association is gone")
      for (let waited = 0; !lines.some((l) => l.text.includes("aborted")) && waited < 2000; waited += 10) {
        yield* Effect.sleep("10 millis")
      }
      const errors = lines.filter((l) => l.level === "Error" || l.level === "Fatal")
      assert.deepStrictEqual(
        errors.map((l) => l.text),
        []
      )
      assert.isTrue(lines.some((l) => l.level === "Info" && l.text.includes("association aborted by peer")))
    })
  )
})
