/**
 * A server stopped (its scope closed, as Ctrl-C does) while a C-FIND's handler runs: the request is still answered
 * (0xC000, so the peer does not wait for its DIMSE timeout), and the interruption, which is the stop's own doing, is
 * logged at Warn without its cause, not at Error with an `InterruptError` as for a handler that died. Found by a
 * newcomer stopping an SCP of their own with Ctrl-C mid C-FIND.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Logger, Scope, Stream } from "effect"
import { IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import { SOP_CLASSES } from "../src/services/QueryRetrieve.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { testAe } from "./support.ts"

const contexts = [{ abstractSyntax: SOP_CLASSES.study.find, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }]

describe("a server stopped while a handler runs", () => {
  it.live("answers the request 0xC000 and logs the interruption at Warn, with no Error line", () =>
    Effect.gen(function* () {
      const lines: Array<{ readonly level: string; readonly text: string; readonly cause: string }> = []
      const capture = Logger.make(({ logLevel, message, cause }) => {
        const parts = Array.isArray(message) ? message : [message]
        lines.push({ level: logLevel, text: parts.map(String).join(" "), cause: String(cause) })
      })
      const query = Layer.succeed(Scp.QueryService)({
        find: () => Stream.concat(Stream.make({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" }), Stream.never)
      })
      const serverScope = yield* Scope.make()
      const server = yield* Scp.serve(yield* testAe({ aeTitle: "NETDICOM-SCP", contexts }), { port: 0 }).pipe(
        Effect.provide(Layer.merge(query, Logger.layer([capture]))),
        Scope.provide(serverScope)
      )
      const statuses: Array<number> = []
      yield* Effect.scoped(
        Effect.gen(function* () {
          const channel = yield* Scu.connect(yield* testAe({ aeTitle: "NETDICOM-SCU" }), {
            host: "127.0.0.1",
            port: server.port,
            calledAeTitle: "NETDICOM-SCP",
            contexts
          })
          let first = true
          return yield* Stream.runForEach(
            Scu.find(channel, {
              model: "study",
              identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "" }
            }).pipe(
              // the first match is in: stop the server under the running handler
              Stream.tap(() =>
                first ? ((first = false), Effect.forkDetach(Scope.close(serverScope, Exit.void))) : Effect.void
              )
            ),
            (r) => Effect.sync(() => statuses.push(r.status))
          )
        })
      ).pipe(Effect.result)
      // the match, then the final response the channel sent for the interrupted handler (the release may then fail)
      assert.deepStrictEqual(statuses, [0xff00, 0xc000])
      const errors = lines.filter((l) => l.level === "Error" || l.level === "Fatal").map((l) => l.text)
      assert.deepStrictEqual(errors, [])
      const warned = lines.find((l) => l.level === "Warn" && l.text.includes("interrupted by the association's close"))
      assert.isDefined(warned, lines.map((l) => `${l.level} ${l.text}`).join("\n"))
      assert.include(warned!.text, "C-FIND-RQ 1: answered 0xC000")
      assert.notInclude(warned!.cause, "InterruptError")
    })
  )
})
