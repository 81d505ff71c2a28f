/**
 * A long-running archive must not keep something per private tag it has seen. The index's budget of attributes per
 * row looks up each attribute's limit once the row is over budget, and kept every answer, private tags included: a
 * peer storing instances of 30,000 distinct private tags each (300 KB) grew the server's heap by some megabytes per
 * instance, never given back (found by a soak of `netdicom qrscp`, attack32).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Archive } from "../../packages/archive/src/Archive.ts"
import { limitsKept } from "../../packages/archive/src/internal/IndexBudget.ts"
import { find, tempDir, withArchive } from "../../packages/archive/test/fixtures.ts"
import { part10File, text } from "../support/elements.ts"

const SC = "1.2.840.10008.5.1.4.1.1.7"
const PRIVATES = 30_000

// Instance k: 30,000 private LO values in its own odd group (0009, 000B, ...), ~360,000 of JSON: over the row's budget.
const instance = (k: number): Uint8Array => {
  const sop = `9.9.1.${k + 1}`
  return part10File(SC, sop, [
    text(8, 0x16, "UI", SC),
    text(8, 0x18, "UI", sop),
    ...Array.from({ length: PRIVATES }, (_, i) => text(0x0009 + 2 * k, 0x1000 + i, "LO", "AB")),
    text(0x10, 0x10, "PN", "Private^Tags"),
    text(0x10, 0x20, "LO", "PRIVTAGS"),
    text(0x20, 0x0d, "UI", "9.9"),
    text(0x20, 0x0e, "UI", "9.9.1"),
    text(0x20, 0x13, "IS", String(k + 1))
  ])
}

describe("the index's limits looked up per attribute", () => {
  it.effect(
    "are not kept for private tags: instances of distinct ones leave nothing behind",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        yield* withArchive(
          dir,
          Effect.gen(function* () {
            const archive = yield* Archive
            const before = limitsKept()
            for (let k = 0; k < 3; k++) yield* archive.store(instance(k))
            const kept = limitsKept() - before
            // without the fix: 90,000, one per private tag stored
            assert.isBelow(kept, 1000, `limits kept: ${kept}`)
            // and the instances are still indexed and found as before
            const images = yield* find({
              QueryRetrieveLevel: "IMAGE",
              StudyInstanceUID: "9.9",
              SeriesInstanceUID: "9.9.1"
            })
            assert.strictEqual(images.length, 3)
            const studies = yield* find({ QueryRetrieveLevel: "STUDY", PatientName: "Private*", PatientID: "" })
            assert.strictEqual(studies.length, 1)
            assert.strictEqual(studies[0]?.["PatientID"], "PRIVTAGS")
          })
        )
      }),
    { timeout: 120_000 }
  )
})
