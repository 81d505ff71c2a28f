import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { Identifiers } from "../src/index.ts"

describe("Identifiers", () => {
  it("validates AE titles as PS3.5 says", () => {
    assert.deepStrictEqual(Identifiers.aeTitle(" STORESCP "), Result.succeed("STORESCP"))
    for (const bad of ["", "A".repeat(17), "                ", "BACK\\SLASH", "TAB\tX", "ÄRZTE"]) {
      assert.isTrue(Result.isFailure(Identifiers.aeTitle(bad)), bad)
    }
  })

  it("compares AE titles after trimming spaces and NUL padding", () => {
    assert.isTrue(Identifiers.sameAeTitle("PACS\0\0\0\0", "  PACS  "))
    assert.isFalse(Identifiers.sameAeTitle("PACS", "PACS2"))
    assert.strictEqual(Identifiers.trimAeTitle(" ".repeat(16)), "")
  })

  it("validates UIDs", () => {
    assert.isTrue(Result.isSuccess(Identifiers.uid("1.2.840.10008.1.2.1")))
    for (const bad of ["", "1..2", "1.02", "1.2.a", "1".repeat(65), ".1"]) {
      assert.isTrue(Result.isFailure(Identifiers.uid(bad)), bad)
    }
  })

  it("hands out odd presentation context ids, at most 128", () => {
    assert.deepStrictEqual(Result.getOrThrow(Identifiers.presentationContextIds(3)), [1, 3, 5])
    assert.strictEqual(Result.getOrThrow(Identifiers.presentationContextIds(128)).at(-1), 255)
    assert.isTrue(Result.isFailure(Identifiers.presentationContextIds(129)))
    assert.isFalse(Identifiers.isPresentationContextId(2))
    assert.isFalse(Identifiers.isPresentationContextId(257))
  })
})
