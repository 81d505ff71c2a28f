/**
 * `Levels.MAX_FIND_KEYS` counted the identifier's top-level keys only: one sequence key whose item held 30,000
 * sub-keys passed as one key, and every stored item of that sequence came back cut to those 30,000 keys, written by
 * dcmjs (the empty-element fast path is for top-level elements only) in every response. Keys in sequence items now
 * count towards the bound. What is asserted is counted (responses, keys), never timed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { Scu } from "@netdicom/net"
import { Levels } from "@netdicom/archive"
import { instance } from "../../packages/archive/test/fixtures.ts"
import { connectArchive, startArchiveScp } from "./archive-support.ts"

const STUDIES = 3

const itemOf = (keys: number) => {
  const item: Record<string, unknown> = {}
  const vrMap: Record<string, string> = {}
  for (let e = 0; e < keys; e++) {
    const key = `0009${(0x1000 + e).toString(16).toUpperCase()}`
    item[key] = ""
    vrMap[key] = "LO"
  }
  return { ...item, _vrMap: vrMap }
}

const archiveWithSequences = Effect.gen(function* () {
  const scp = yield* startArchiveScp()
  for (let i = 1; i <= STUDIES; i++) {
    yield* scp.archive.store(
      instance({
        patientId: `P${i}`,
        patientName: `N${i}`,
        study: `1.2.6.${i}`,
        series: `1.2.6.${i}.1`,
        sop: `1.2.6.${i}.1.1`,
        extra: {
          ProcedureCodeSequence: [
            { CodeValue: "A", CodingSchemeDesignator: "L" },
            { CodeValue: "B", CodingSchemeDesignator: "L" }
          ]
        }
      })
    )
  }
  return scp
})

describe("C-FIND keys in sequence items", () => {
  it.live("a sequence key is matched with its sub-keys under the bound", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* archiveWithSequences
        const channel = yield* connectArchive(scp.port)
        const identifier = {
          QueryRetrieveLevel: "STUDY",
          StudyInstanceUID: "",
          ProcedureCodeSequence: [{ CodeValue: "", CodingSchemeDesignator: "" }]
        }
        const responses = yield* Stream.runCollect(Scu.find(channel, { model: "study", identifier }))
        assert.strictEqual(responses.length, STUDIES + 1)
        const items = responses[0]?.identifier?.["ProcedureCodeSequence"]
        assert.isTrue(Array.isArray(items))
        assert.strictEqual((items as Array<unknown>).length, 2)
      })
    )
  )

  it.live("an item of more keys than the bound is refused with 0xC000 and no match", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* archiveWithSequences
        const channel = yield* connectArchive(scp.port)
        for (const keys of [Levels.MAX_FIND_KEYS, 30_000]) {
          const identifier = {
            QueryRetrieveLevel: "STUDY",
            StudyInstanceUID: "",
            ProcedureCodeSequence: [itemOf(keys)]
          }
          const responses = yield* Stream.runCollect(Scu.find(channel, { model: "study", identifier }))
          assert.strictEqual(responses.length, 1, `${keys} keys in an item: ${responses.length} responses`)
          assert.strictEqual(responses[0]?.status, 0xc000)
        }
      })
    )
  )
})
