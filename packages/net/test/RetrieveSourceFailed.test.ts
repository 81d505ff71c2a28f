/**
 * A C-GET whose stored data set cannot be read (a file removed by hand): the final response says so in its Error
 * Comment without the reason's detail, which names the SCP's files (the SCP's log has it).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import { EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import { DataSourceFailed } from "../src/dimse/DimseError.ts"
import { SOP_CLASSES } from "../src/services/QueryRetrieve.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { CT, connectGetScu, testAe } from "./support.ts"

describe("a C-GET sub-operation whose data set cannot be read", () => {
  it.live("fails with an Error Comment that names no file of the SCP", () =>
    Effect.gen(function* () {
      const retrieve = Layer.succeed(Scp.RetrieveService)({
        retrieve: () =>
          Effect.succeed([
            {
              sopClassUid: CT,
              sopInstanceUid: "1.2.3.1",
              transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
              dataSet: () =>
                Stream.fail(new DataSourceFailed({ detail: "cannot read /srv/archive/secret/1.2.3.1.dcm: ENOENT" }))
            }
          ])
      })
      const contexts = [
        { abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] },
        { abstractSyntax: SOP_CLASSES.study.get!, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }
      ]
      const server = yield* Scp.serve(yield* testAe({ aeTitle: "NETDICOM-SCP", contexts }), { port: 0 }).pipe(
        Effect.provide(retrieve)
      )
      const channel = yield* connectGetScu(server.port, () => Effect.succeed({ status: 0 }))
      const all = yield* Stream.runCollect(
        Scu.get(channel, { model: "study", identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" } })
      )
      const last = all.at(-1)!
      assert.strictEqual(last.failed, 1)
      assert.strictEqual(last.errorComment, "a stored data set could not be read")
    }).pipe(Effect.scoped)
  )
})
