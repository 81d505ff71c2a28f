/**
 * `Files.collect`, what `netdicom store` sends of the paths it is given: folders walked recursively (sorted, hidden
 * entries skipped) from the folder listing's entry types; below a given path a symbolic link to a file is sent and
 * one to a folder is not followed (it could lead anywhere, `/` included) but reported; a path given is followed.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import { makeTempDir, removeDir } from "../../../tests/support/peers.ts"
import * as Files from "../src/Files.ts"

const root = makeTempDir("netdicom-collect-")
afterAll(() => removeDir(root))

const touch = (file: string) => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, "x")
}

describe("Files.collect", () => {
  it("sends linked files, reports linked folders without following them, skips hidden entries and FIFOs", async () => {
    const tree = path.join(root, "tree")
    const outside = path.join(root, "outside")
    touch(path.join(outside, "far.dcm"))
    touch(path.join(tree, "b.dcm"))
    touch(path.join(tree, "a", "c.dcm"))
    touch(path.join(tree, ".hidden", "h.dcm"))
    touch(path.join(tree, ".h.dcm"))
    fs.symlinkSync(path.join(outside, "far.dcm"), path.join(tree, "linked.dcm"))
    fs.symlinkSync(outside, path.join(tree, "elsewhere"))
    fs.symlinkSync(tree, path.join(tree, "a", "loop"))
    fs.symlinkSync(path.join(root, "nothing"), path.join(tree, "dangling"))
    assert.strictEqual(spawnSync("mkfifo", [path.join(tree, "pipe")]).status, 0)

    const r = await Effect.runPromise(Files.collect([tree]))
    assert.deepStrictEqual(r.files, [
      path.join(tree, "a", "c.dcm"),
      path.join(tree, "b.dcm"),
      path.join(tree, "linked.dcm")
    ])
    assert.deepStrictEqual(r.missing, [])
    assert.deepStrictEqual(
      r.skipped.map((s) => path.relative(tree, s.path)),
      [path.join("a", "loop"), "elsewhere"]
    )
    assert.match(r.skipped[0]!.reason, /symbolic link to a folder, not followed/)

    // given on the command line, a link to a folder is followed
    const given = await Effect.runPromise(Files.collect([path.join(tree, "elsewhere"), path.join(root, "none")]))
    assert.deepStrictEqual(given.files, [path.join(tree, "elsewhere", "far.dcm")])
    assert.deepStrictEqual(given.skipped, [])
    assert.deepStrictEqual(given.missing, [{ path: path.join(root, "none"), reason: "no such file or folder" }])
  })
})
