/**
 * At Debug, the identifier of a C-FIND, C-GET or C-MOVE is logged on one line, by the SCU as it sends it and by the SCP
 * as it received it (`DataSet.summary`), as DCMTK's and pynetdicom's debug logs show the keys: before, `--debug`
 * said only "identifier on pc 1", and why a query matched nothing could not be read from either side's log.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, References, Stream } from "effect"
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as DataSet from "../src/dimse/DataSet.ts"
import { SOP_CLASSES } from "../src/services/QueryRetrieve.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { testAe } from "./support.ts"

const contexts = [{ abstractSyntax: SOP_CLASSES.worklist.find, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]

const query = {
  PatientName: "DOE*",
  PatientID: "",
  ScheduledProcedureStepSequence: [{ Modality: "MR", ScheduledProcedureStepStartDate: "20260101-20261231" }]
}

const findAt = (level: "Debug" | "Info") =>
  Effect.gen(function* () {
    const lines: Array<string> = []
    const capture = Logger.make(({ message }) => {
      lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
    })
    const find: Scp.QueryService["Service"]["find"] = () => Stream.make({ PatientName: "DOE^JOHN", PatientID: "7" })
    yield* Effect.scoped(
      Effect.gen(function* () {
        const server = yield* Scp.serve(yield* testAe({ aeTitle: "WORKLIST", contexts }), { port: 0 }).pipe(
          Effect.provide(Layer.succeed(Scp.QueryService)({ find }))
        )
        const channel = yield* Scu.connect(yield* testAe({ aeTitle: "MODALITY" }), {
          host: "127.0.0.1",
          port: server.port,
          calledAeTitle: "WORKLIST",
          contexts
        })
        yield* Stream.runDrain(Scu.find(channel, { model: "worklist", identifier: query }))
      })
    ).pipe(Effect.provideService(References.MinimumLogLevel, level), Effect.provide(Logger.layer([capture])))
    return lines.filter((l) => l.startsWith("identifier: "))
  })

describe("the identifier at Debug", () => {
  it.live("is logged by the SCU that sends it and the SCP that receives it, as keys and values", () =>
    Effect.gen(function* () {
      const expected =
        "identifier: PatientName=DOE* PatientID " +
        "ScheduledProcedureStepSequence[Modality=MR ScheduledProcedureStepStartDate=20260101-20261231]"
      assert.deepStrictEqual(yield* findAt("Debug"), [expected, expected])
    })
  )

  it.live("is not logged below Debug", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* findAt("Info"), [])
    })
  )

  it("summary: several values, Person Name groups, bytes, and a bound on the keys shown", () => {
    assert.strictEqual(
      DataSet.summary({
        ModalitiesInStudy: ["CT", "MR"],
        PatientName: { Alphabetic: "Yamada^Tarou", Ideographic: "山田^太郎" },
        NumberOfStudyRelatedInstances: 4,
        "00091010": new Uint8Array(3),
        _vrMap: {}
      }),
      "ModalitiesInStudy=CT\\MR PatientName=Yamada^Tarou=山田^太郎 NumberOfStudyRelatedInstances=4 00091010=(3 bytes)"
    )
    const many = Object.fromEntries(Array.from({ length: 45 }, (_, i) => [`Key${i}`, ""]))
    assert.match(DataSet.summary(many), /Key39 \(and 5 more keys\)$/)
  })
})
