/**
 * Part10.readAhead (a small file's read ahead now a setImmediate callback, not a fiber) against files that change
 * between the scan (readFileMeta) and the read: removed, replaced by a FIFO or a directory, grown, rewritten with
 * the same size. Each must come out as a typed FileReadFailed (never a defect, never a hang on the FIFO), and
 * the files around it must still load as they are.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { Part10 } from "@netdicom/net"
import { CT, EXPLICIT } from "./support.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-read-ahead-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const write = (name: string, body: Uint8Array) => {
  const meta = Part10.writeMeta({
    transferSyntaxUid: EXPLICIT,
    sopClassUid: CT,
    sopInstanceUid: `1.2.3.${name.length}`,
    implementationClassUid: "1.2.3.4"
  })
  const where = path.join(tmp, `${name}.dcm`)
  fs.writeFileSync(where, Buffer.concat([meta, body]))
  return where
}

describe("readAhead and files changed after their scan", () => {
  it.live("removed, FIFO, directory, grown, rewritten: typed failures; the others load", () =>
    Effect.gen(function* () {
      const names = ["ok0", "gone", "fifo", "dir", "grown", "rewritten", "ok6"]
      const bodies = names.map((_, i) => new Uint8Array(1000 + i * 2).fill(i + 1))
      const paths = names.map((name, i) => write(name, bodies[i]!))
      const scanned = yield* Effect.forEach(paths, (p) =>
        Effect.map(Part10.readFileMeta(p), (meta) => ({ ...meta, path: p }))
      )
      // the changes, after the scan
      fs.rmSync(paths[1]!)
      fs.rmSync(paths[2]!)
      execFileSync("mkfifo", [paths[2]!])
      fs.rmSync(paths[3]!)
      fs.mkdirSync(paths[3]!)
      fs.appendFileSync(paths[4]!, Buffer.alloc(10))
      const rewritten = fs.readFileSync(paths[5]!)
      fs.writeFileSync(paths[5]!, rewritten.fill(9, rewritten.length - 100))
      fs.utimesSync(paths[5]!, new Date(), new Date(Date.now() + 5000))
      const outcomes = yield* Effect.scoped(
        Effect.gen(function* () {
          const take = yield* Part10.readAhead(scanned)
          const out: Array<Exit.Exit<unknown, Part10.FileReadFailed>> = []
          for (let i = 0; i < scanned.length; i++) {
            // a turn of the event loop, so the read ahead of i + 1 runs in its callback
            yield* Effect.sleep("5 millis")
            out.push(yield* Effect.exit(take(i)))
          }
          return out
        })
      ).pipe(Effect.timeout("10 seconds"))
      for (const i of [0, 6]) {
        const exit = outcomes[i]!
        assert.isTrue(Exit.isSuccess(exit), `${names[i]} loads`)
        if (Exit.isSuccess(exit)) assert.deepStrictEqual(exit.value, bodies[i])
      }
      for (const i of [1, 2, 3, 4, 5]) {
        const exit = outcomes[i]!
        assert.isTrue(Exit.isFailure(exit), `${names[i]} fails`)
        if (Exit.isFailure(exit)) {
          assert.isFalse(Cause.hasDies(exit.cause), `${names[i]}: a typed failure, not a defect`)
          const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
          assert.strictEqual(failure?._tag === "Fail" ? failure.error._tag : undefined, "FileReadFailed")
        }
      }
    })
  )
})
