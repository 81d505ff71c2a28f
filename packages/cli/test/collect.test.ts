/**
 * `Files.collect`, what `netdicom store` sends of the paths it is given: folders walked recursively (sorted, hidden
 * entries skipped) from the folder listing's entry types; below a given path a symbolic link to a file is sent and
 * one to a folder is not followed (it could lead anywhere, `/` included) but reported; a path given is followed. A
 * link to nothing or in a loop is reported failed, a FIFO, socket or device (or a link to one) skipped.
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
  it("sends linked files, reports linked folders without following them, skips hidden entries, reports FIFOs and dangling links", async () => {
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
    fs.symlinkSync("circle", path.join(tree, "circle"))
    fs.symlinkSync("/dev/null", path.join(tree, "null.dcm"))
    assert.strictEqual(spawnSync("mkfifo", [path.join(tree, "pipe")]).status, 0)

    const r = await Effect.runPromise(Files.collect([tree]))
    assert.deepStrictEqual(r.files, [
      path.join(tree, "a", "c.dcm"),
      path.join(tree, "b.dcm"),
      path.join(tree, "linked.dcm")
    ])
    // a link to nothing or in a loop stood for a file that cannot be sent: failed, not passed over in silence
    // (tests/attack: these, and the FIFO, were dropped without a word, and the run could end "0 failed")
    assert.deepStrictEqual(
      r.missing.map((m) => [path.relative(tree, m.path), m.reason]),
      [
        ["circle", "a loop of symbolic links"],
        ["dangling", "a symbolic link to nothing"]
      ]
    )
    assert.deepStrictEqual(
      r.skipped.map((s) => [path.relative(tree, s.path), s.reason]),
      [
        [path.join("a", "loop"), "a symbolic link to a folder, not followed"],
        ["elsewhere", "a symbolic link to a folder, not followed"],
        ["null.dcm", "not a regular file (a device)"],
        ["pipe", "not a regular file (a FIFO)"]
      ]
    )

    // given on the command line, a link to a folder is followed
    const given = await Effect.runPromise(Files.collect([path.join(tree, "elsewhere"), path.join(root, "none")]))
    assert.deepStrictEqual(given.files, [path.join(tree, "elsewhere", "far.dcm")])
    assert.deepStrictEqual(given.skipped, [])
    assert.deepStrictEqual(given.missing, [{ path: path.join(root, "none"), reason: "no such file or folder" }])
  })
})
