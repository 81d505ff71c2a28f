/**
 * Attack on sniffing a bare data set (`Part10.readMeta` with `sniff`, `Part10.readSendableMeta`): a whole Explicit VR
 * Little Endian data set without (0008,0018). Its first element also reads as Implicit VR, the last guess tried, whose
 * length is then the VR and length bytes ("UI" and 6: 411,989 bytes). That wrong guess's "value goes past the end"
 * was returned as the answer: the whole 1 KB file was reported truncated, 411,997 bytes needed. A cut the wrong guess
 * sees in a file read to its end is now one of the guesses' failures, not the verdict.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Result } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Part10 } from "@netdicom/net"

const le16 = (n: number) => [n & 0xff, n >> 8]
const le32 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24]

// (0008,0016) UI "12.345", then (0042,0011) OB of `size` bytes: whole, in Explicit VR Little Endian, no (0008,0018).
const noInstanceUid = (size: number) => {
  const head = [0x08, 0x00, 0x16, 0x00, 0x55, 0x49, ...le16(6), ...Buffer.from("12.345", "latin1")]
  const ob = [0x42, 0x00, 0x11, 0x00, 0x4f, 0x42, 0, 0, ...le32(size)]
  const out = new Uint8Array(head.length + ob.length + size).fill(0x31)
  out.set([...head, ...ob])
  return out
}

describe("sniff-wrong-guess-truncated", () => {
  it("a whole bare data set without (0008,0018) is not reported truncated by the Implicit VR guess", () => {
    const meta = Part10.readMeta(noInstanceUid(1000), { sniff: true })
    assert.isTrue(Result.isFailure(meta))
    if (Result.isFailure(meta)) {
      assert.strictEqual(meta.failure._tag, "UnrecognizedDataSet")
      assert.include(meta.failure.message, "Explicit VR Little Endian")
    }
  })

  it.effect("readSendableMeta on such files, small and past the first read, fails without a truncation", () =>
    Effect.gen(function* () {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "sniff-wrong-guess-"))
      try {
        for (const size of [1000, 200_000]) {
          const file = Path.join(dir, `f${size}`)
          Fs.writeFileSync(file, noInstanceUid(size))
          const exit = yield* Effect.exit(Part10.readSendableMeta(file))
          assert.isTrue(Exit.isFailure(exit))
          if (Exit.isFailure(exit)) {
            const error = Cause.findErrorOption(exit.cause)
            assert.isTrue(error._tag === "Some")
            if (error._tag === "Some") assert.strictEqual(error.value._tag, "NoFileMeta", String(error.value))
          }
        }
      } finally {
        Fs.rmSync(dir, { recursive: true, force: true })
      }
    })
  )
})
