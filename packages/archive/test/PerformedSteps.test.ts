/**
 * The archive's MPPS table (`PerformedSteps`): steps kept across a reopen, beside the index's tables in the same file
 * (a new index, and one of a replaced schema, leave them alone), and read back with `list`.
 */
import * as Path from "node:path"
import { DatabaseSync } from "node:sqlite"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import { ArchiveIndex } from "../src/ArchiveIndex.ts"
import { PerformedSteps } from "../src/PerformedSteps.ts"
import { tempDir } from "./fixtures.ts"

const step = (status: string) => ({
  attributes: {
    PerformedProcedureStepStatus: status,
    PatientName: "DOE^JANE",
    PerformedSeriesSequence: [{ SeriesInstanceUID: "1.2.3.2", ReferencedImageSequence: [] }]
  },
  status,
  callingAeTitle: "MODALITY"
})

const withSteps = <A, E>(filename: string, f: (s: PerformedSteps["Service"]) => Effect.Effect<A, E>) =>
  Effect.scoped(
    Effect.flatMap(
      Layer.build(Layer.merge(ArchiveIndex.layer({ filename }), PerformedSteps.layer({ filename }))),
      (c) => f(Context.get(c, PerformedSteps))
    )
  )

describe("PerformedSteps", () => {
  it.effect("keeps each step's attributes and state across a reopen of the index's file", () =>
    Effect.gen(function* () {
      const filename = Path.join(yield* tempDir, "index.sqlite")
      yield* withSteps(filename, (s) =>
        Effect.gen(function* () {
          yield* s.create("1.2.3.1", step("IN PROGRESS"))
          yield* s.update("1.2.3.1", step("COMPLETED"))
          assert.isTrue(Option.isNone(yield* s.get("1.2.3.404")))
          const missing = yield* Effect.flip(s.update("1.2.3.404", step("COMPLETED")))
          assert.match(missing.message, /no MPPS 1\.2\.3\.404/)
        })
      )
      const listed = (yield* withSteps(filename, (s) => s.list())).filter((s) => s.sopInstanceUid === "1.2.3.1")
      assert.strictEqual(listed.length, 1)
      assert.deepStrictEqual(
        [listed[0]!.sopInstanceUid, listed[0]!.status, listed[0]!.callingAeTitle],
        ["1.2.3.1", "COMPLETED", "MODALITY"]
      )
      assert.strictEqual(listed[0]!.attributes["PatientName"], "DOE^JANE")
      assert.strictEqual(
        (listed[0]!.attributes["PerformedSeriesSequence"] as Array<Record<string, unknown>>)[0]!["SeriesInstanceUID"],
        "1.2.3.2"
      )
      // text that came in another character set is kept, as UTF-8
      yield* withSteps(filename, (s) =>
        Effect.gen(function* () {
          const latin = {
            ...step("IN PROGRESS"),
            attributes: { SpecificCharacterSet: "ISO_IR 100", PatientName: "Müller^Jürgen" }
          }
          yield* s.create("1.2.3.2", latin)
          const got = yield* s.get("1.2.3.2")
          assert.strictEqual(Option.getOrThrow(got)["PatientName"], "Müller^Jürgen")
        })
      )
      // a site reads them with any SQLite client
      const db = new DatabaseSync(filename, { readOnly: true })
      assert.deepStrictEqual(
        { ...db.prepare("SELECT sop_instance_uid, status FROM mpps ORDER BY sop_instance_uid").get() },
        {
          sop_instance_uid: "1.2.3.1",
          status: "COMPLETED"
        }
      )
      // the index's schema replaced (an older version found): its tables are dropped, the steps stay
      db.close()
      const old = new DatabaseSync(filename)
      old.exec("PRAGMA user_version = 1")
      old.close()
      const after = yield* withSteps(filename, (s) => s.get("1.2.3.1"))
      assert.isTrue(Option.isSome(after))
    })
  )
})
