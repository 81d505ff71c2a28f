import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Sqlite from "../src/Sqlite.ts"
import { tempDir } from "./fixtures.ts"

// What node:sqlite throws inside the wrapper comes out as the archive's IndexFailed, never as a defect.
describe("Sqlite: a throw is an IndexFailed", () => {
  it.effect("a transaction whose body throws is rolled back, and use fails with IndexFailed", () =>
    Effect.gen(function* () {
      const db = yield* Sqlite.open({ filename: ":memory:" })
      yield* Sqlite.use("create", () => db.exec("CREATE TABLE t (x INTEGER UNIQUE)"))
      const error = yield* Effect.flip(
        Sqlite.use("insert twice", () =>
          db.transaction(() => {
            db.run("INSERT INTO t (x) VALUES (?)", [1])
            db.transaction(() => db.run("INSERT INTO t (x) VALUES (?)", [1]))
          })
        )
      )
      assert.strictEqual(error._tag, "IndexFailed")
      assert.strictEqual(error.operation, "insert twice")
      assert.match(String(error.cause), /UNIQUE/)
      const rows = yield* Sqlite.use("count", () => db.get("SELECT COUNT(*) AS n FROM t"))
      assert.strictEqual(Number(rows?.["n"]), 0)
      // the connection is usable again: the failed transaction was closed
      yield* Sqlite.use("insert once", () => db.transaction(() => db.run("INSERT INTO t (x) VALUES (?)", [2])))
      const after = yield* Sqlite.use("count", () => db.get("SELECT COUNT(*) AS n FROM t"))
      assert.strictEqual(Number(after?.["n"]), 1)
    })
  )

  it.effect("commits wait for the disk (synchronous FULL) unless opened with sync: false (NORMAL)", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const level = (sync: boolean | undefined, name: string) =>
        Effect.scoped(
          Effect.gen(function* () {
            const db = yield* Sqlite.open({
              filename: Path.join(dir, name),
              ...(sync === undefined ? {} : { sync })
            })
            const row = yield* Sqlite.use("pragma", () => db.get("PRAGMA synchronous"))
            return Number(row?.["synchronous"])
          })
        )
      assert.strictEqual(yield* level(undefined, "a.sqlite"), 2)
      assert.strictEqual(yield* level(true, "b.sqlite"), 2)
      assert.strictEqual(yield* level(false, "c.sqlite"), 1)
    })
  )

  it.effect("opening a file that is no database fails with IndexFailed (the first PRAGMA throws)", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const filename = Path.join(dir, "not-a-database.sqlite")
      yield* Effect.promise(() => Fs.writeFile(filename, new Uint8Array(4096).fill(0x5a)))
      const error = yield* Effect.flip(Effect.scoped(Sqlite.open({ filename })))
      assert.strictEqual(error._tag, "IndexFailed")
      assert.strictEqual(error.operation, `open ${filename}`)
    })
  )
})
