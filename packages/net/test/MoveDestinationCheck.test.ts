/**
 * `Scu.move` checks its destination as an AE title (1-16 characters, no backslash or control characters, not only
 * spaces) before anything is sent, failing with `InvalidIdentifier` and leaving the association as it was. Before,
 * an empty one went out and the peer (ours among them) aborted the association on a C-MOVE-RQ without a Move
 * Destination, and a long one failed as a `DimseProtocolError`, which says the peer broke PS3.7.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import { IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import { SOP_CLASSES, VERIFICATION } from "../src/services/QueryRetrieve.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { testAe } from "./support.ts"

const contexts = [
  { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] },
  { abstractSyntax: SOP_CLASSES.study.move!, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }
]

describe("Scu.move's destination", () => {
  it.live(
    "an AE title that cannot be one fails InvalidIdentifier before anything is sent; the association goes on",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          let asked = 0
          const retrieve = Layer.succeed(Scp.RetrieveService)({
            retrieve: () => Effect.sync(() => void asked++).pipe(Effect.as([]))
          })
          const server = yield* Scp.serve(yield* testAe({ aeTitle: "QR", contexts }), { port: 0 }).pipe(
            Effect.provide(retrieve)
          )
          const channel = yield* Scu.connect(yield* testAe({ aeTitle: "SCU" }), {
            host: "127.0.0.1",
            port: server.port,
            calledAeTitle: "QR",
            contexts
          })
          const identifier = { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" }
          for (const destination of ["", "   ", "SEVENTEEN-LETTERS", "BAD\\AE"]) {
            const e = yield* Effect.flip(
              Stream.runDrain(Scu.move(channel, { model: "study", identifier, destination }))
            )
            assert.strictEqual(e._tag, "InvalidIdentifier", `${JSON.stringify(destination)}: ${e.message}`)
            assert.include(e.message, "AE title")
          }
          assert.strictEqual(asked, 0)
          assert.strictEqual((yield* Scu.echo(channel)).status, 0)
          const moved = yield* Stream.runCollect(
            Scu.move(channel, { model: "study", identifier, destination: "ELSEWHERE" })
          )
          assert.strictEqual(moved.at(-1)!.status, 0xa801)
        })
      )
  )
})
