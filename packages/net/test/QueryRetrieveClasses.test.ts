/**
 * `SOP_CLASSES.study.move` and the patient root's GET and MOVE are typed as strings, so a user proposing them writes
 * no non-null assertion (`SOP_CLASSES.study.move!`, which a newcomer's lint setup refuses); the worklist model has
 * FIND only, and a model chosen at run time may lack MOVE and GET. The assignments below are the test: before, each
 * failed to type-check (`string | undefined` is not assignable to `string`).
 */
import { assert, describe, it } from "@effect/vitest"
import { type Model, SOP_CLASSES } from "../src/services/QueryRetrieve.ts"

describe("QueryRetrieve.SOP_CLASSES", () => {
  it("types the study and patient roots' MOVE and GET as strings, a model's at run time as optional", () => {
    const studyMove: string = SOP_CLASSES.study.move
    const studyGet: string = SOP_CLASSES.study.get
    const patientMove: string = SOP_CLASSES.patient.move
    const patientGet: string = SOP_CLASSES.patient.get
    assert.deepStrictEqual(
      [studyMove, studyGet, patientMove, patientGet],
      [
        "1.2.840.10008.5.1.4.1.2.2.2",
        "1.2.840.10008.5.1.4.1.2.2.3",
        "1.2.840.10008.5.1.4.1.2.1.2",
        "1.2.840.10008.5.1.4.1.2.1.3"
      ]
    )
    const model = (name: string): Model => (name === "worklist" ? "worklist" : "study")
    const maybe: string | undefined = SOP_CLASSES[model("worklist")].move
    assert.isUndefined(maybe)
    assert.isUndefined(SOP_CLASSES.worklist.get)
  })
})
