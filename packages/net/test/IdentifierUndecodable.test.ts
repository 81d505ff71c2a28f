/**
 * A C-FIND, C-GET or C-MOVE whose identifier cannot be decoded is answered 0xA900 with the reason, and the reason is
 * logged: before, the peer and the SCP's log said only "identifier cannot be decoded" (a user's bundled SCP that
 * could not load dcmjs, or a query in an unknown character set, left nothing to go on).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, Stream } from "effect"
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import { SOP_CLASSES } from "../src/services/QueryRetrieve.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { testAe } from "./support.ts"

const contexts = [
  { abstractSyntax: SOP_CLASSES.study.find, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] },
  { abstractSyntax: SOP_CLASSES.study.move!, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }
]

const services = Layer.mergeAll(
  Layer.succeed(Scp.QueryService)({ find: () => Stream.empty }),
  Layer.succeed(Scp.RetrieveService)({ retrieve: () => Effect.succeed([]) })
)

// An identifier in a character set no decoder knows: encoded as given (its text is ASCII), refused as decoded.
const identifier = { SpecificCharacterSet: "ISO_IR 999", QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" }

describe("an identifier that cannot be decoded", () => {
  it.live("is answered 0xA900 with the reason, and the reason is logged", () =>
    Effect.gen(function* () {
      const warnings: Array<string> = []
      const capture = Logger.make(({ logLevel, message }) => {
        if (logLevel === "Warn") warnings.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
      })
      const finals = yield* Effect.scoped(
        Effect.gen(function* () {
          const server = yield* Scp.serve(yield* testAe({ aeTitle: "QR", contexts }), { port: 0 }).pipe(
            Effect.provide(services)
          )
          const channel = yield* Scu.connect(yield* testAe({ aeTitle: "SCU" }), {
            host: "127.0.0.1",
            port: server.port,
            calledAeTitle: "QR",
            contexts
          })
          const find = yield* Stream.runCollect(Scu.find(channel, { model: "study", identifier }))
          const move = yield* Stream.runCollect(
            Scu.move(channel, { model: "study", identifier, destination: "ELSEWHERE" })
          )
          return [find.at(-1)!, move.at(-1)!]
        })
      ).pipe(Effect.provide(Logger.layer([capture])))
      for (const final of finals) {
        assert.strictEqual(final.status, 0xa900)
        assert.include(final.errorComment ?? "", "ISO_IR 999")
      }
      const logged = warnings.filter((w) => w.includes("identifier cannot be decoded"))
      assert.strictEqual(logged.length, 2, warnings.join("\n"))
      for (const line of logged) assert.include(line, "ISO_IR 999")
    })
  )
})
