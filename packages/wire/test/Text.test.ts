import { assert, describe, it } from "@effect/vitest"
import * as Identifiers from "../src/Identifiers.ts"
import * as Text from "../src/Text.ts"
import * as Uids from "../src/Uids.ts"

// A long run of padding followed by something else: `/[\0 ]+$/` backtracks from every start position over it
// (80,000 NULs then a letter took ~2 s); a loop takes microseconds.
const HOSTILE = `${"\0".repeat(200_000)}A`

const timed = (f: () => unknown): number => {
  const t0 = performance.now()
  f()
  return performance.now() - t0
}

describe("Text", () => {
  it("trims trailing padding only", () => {
    assert.strictEqual(Text.trimEnd("1.2.840\0", "\0 "), "1.2.840")
    assert.strictEqual(Text.trimEnd("A^B^^", "^"), "A^B")
    assert.strictEqual(Text.trimEnd("\0\0", "\0"), "")
    assert.strictEqual(Text.trimEnd("", "\0"), "")
    assert.strictEqual(Text.trimEnd(" x ", "\0"), " x ")
    assert.strictEqual(Text.trimBoth("  STORESCP\0 ", " \0"), "STORESCP")
    assert.strictEqual(Text.trimBoth("\0 \0", " \0"), "")
  })

  it("is linear in a long run of padding followed by anything else", () => {
    assert.isBelow(
      timed(() => Text.trimEnd(HOSTILE, "\0 ")),
      100
    )
    assert.isBelow(
      timed(() => Text.trimBoth(` ${HOSTILE}`, "\0 ")),
      100
    )
  })

  it("keeps AE titles and UIDs from a peer linear too", () => {
    assert.isBelow(
      timed(() => Identifiers.trimAeTitle(HOSTILE)),
      100
    )
    assert.isBelow(
      timed(() => Uids.transferSyntaxInfo(HOSTILE)),
      100
    )
    assert.strictEqual(Identifiers.trimAeTitle(" \0ANY-SCP \0"), "ANY-SCP")
    assert.strictEqual(Uids.uidName("1.2.840.10008.1.2\0"), Uids.uidName("1.2.840.10008.1.2"))
  })
})
