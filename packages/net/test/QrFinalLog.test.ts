/**
 * A Q/R SCP logs one line at Info per C-FIND, C-GET or C-MOVE it answered, once its final response is sent: the
 * model, the level, the matches or sub-operation counts and the final status (a C-MOVE with its destination). Before,
 * only the association's acceptance and end were logged at Info, and a study moved elsewhere left no trace.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, Stream } from "effect"
import { EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import { SOP_CLASSES } from "../src/services/QueryRetrieve.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { CT, testAe } from "./support.ts"

const contexts = [
  { abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] },
  { abstractSyntax: SOP_CLASSES.study.find, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] },
  { abstractSyntax: SOP_CLASSES.study.get!, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] },
  { abstractSyntax: SOP_CLASSES.study.move!, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }
]

const services = Layer.mergeAll(
  Layer.succeed(Scp.QueryService)({
    find: () => Stream.make({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.1" }, { StudyInstanceUID: "1.2.2" })
  }),
  Layer.succeed(Scp.RetrieveService)({
    retrieve: () =>
      Effect.succeed([
        {
          sopClassUid: CT,
          sopInstanceUid: "1.2.3.1",
          transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
          dataSet: () => Stream.make(new Uint8Array(0))
        }
      ])
  })
)

describe("a Q/R SCP's log at Info", () => {
  it.live("has one line per C-FIND, C-GET and C-MOVE, with what it answered", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const capture = Logger.make(({ logLevel, message }) => {
        if (logLevel === "Info") lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
      })
      yield* Effect.scoped(
        Effect.gen(function* () {
          const server = yield* Scp.serve(yield* testAe({ aeTitle: "NETDICOM-SCP", contexts }), { port: 0 }).pipe(
            Effect.provide(services)
          )
          const scu = yield* testAe({
            aeTitle: "NETDICOM-SCU",
            contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN], scu: true, scp: true }]
          })
          const channel = yield* Scu.connect(scu, {
            host: "127.0.0.1",
            port: server.port,
            calledAeTitle: "NETDICOM-SCP",
            contexts: contexts.slice(0, 3),
            roles: [{ sopClassUid: CT, scu: true, scp: true }],
            onStore: (request) => Effect.as(Stream.runDrain(request.dataSet).pipe(Effect.ignore), { status: 0 })
          })
          const study = { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2" }
          yield* Stream.runDrain(Scu.find(channel, { model: "study", identifier: study }))
          yield* Stream.runDrain(Scu.get(channel, { model: "study", identifier: study }))
          const other = yield* Scu.connect(yield* testAe({ aeTitle: "MOVER" }), {
            host: "127.0.0.1",
            port: server.port,
            calledAeTitle: "NETDICOM-SCP",
            contexts: [contexts[3]!]
          })
          yield* Stream.runDrain(Scu.move(other, { model: "study", identifier: study, destination: "NOWHERE" }))
        })
      ).pipe(Effect.provide(Logger.layer([capture])))
      const qr = lines.filter((l) => /^C-(FIND|GET|MOVE)/.test(l))
      assert.deepStrictEqual(qr, [
        "C-FIND study root STUDY: 2 matches, Success: matching is complete (0x0000)",
        "C-GET study root STUDY: 1 completed, 0 warning(s), 0 failed, Success: sub-operations complete, no failures " +
          "(0x0000)",
        "C-MOVE to NOWHERE study root STUDY: Refused: Move Destination unknown (0xA801): unknown destination NOWHERE"
      ])
    })
  )
})
