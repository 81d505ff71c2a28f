/**
 * `netdicom get --out loop` (a symbolic link to itself, or a link to nowhere) went ahead with the C-GET and refused
 * every instance the SCP sent (0xA700 each, "0 files written"), where a file or FIFO given as --out is refused before
 * connecting: `makeDirectories` read a failing `stat` (ELOOP) as a missing folder, made it, took the EEXIST its
 * `mkdir` met as success, and said it had created the folder. Now anything but a folder there fails it, typed.
 *
 * And a server failing before it listens removes the folders it created: it took a link to nowhere (`--store
 * /srv/dicom` linked to a share not mounted) or a link loop for a folder it was about to create, and removed the
 * operator's link.
 */
import * as FsSync from "node:fs"
import * as Fs from "node:fs/promises"
import * as Net from "node:net"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { InstanceStore } from "@netdicom/archive"
import { tempDir } from "../../packages/archive/test/fixtures.ts"
import { netdicom } from "../../packages/cli/test/support.ts"

describe("makeDirectories on a path that is a symbolic link but no folder", () => {
  it.effect("a link to itself: StoreFailed, nothing said created", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const loop = Path.join(dir, "loop")
      yield* Effect.promise(() => Fs.symlink("loop", loop))
      const made = yield* Effect.result(InstanceStore.makeDirectories(loop))
      assert.isTrue(Result.isFailure(made), `succeeded: ${Result.isSuccess(made) ? made.success : ""}`)
      if (Result.isFailure(made)) assert.strictEqual(made.failure._tag, "StoreFailed")
      const below = yield* Effect.result(InstanceStore.makeDirectories(Path.join(loop, "study")))
      assert.isTrue(Result.isFailure(below), "a folder below the loop")
    })
  )

  it.effect("a link to nowhere: StoreFailed", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const dangling = Path.join(dir, "dangling")
      yield* Effect.promise(() => Fs.symlink(Path.join(dir, "gone"), dangling))
      const made = yield* Effect.result(InstanceStore.makeDirectories(dangling))
      assert.isTrue(Result.isFailure(made), `succeeded: ${Result.isSuccess(made) ? made.success : ""}`)
    })
  )

  it.effect("a link to a folder is that folder: nothing created; missing folders below it are made", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* Effect.promise(() => Fs.mkdir(Path.join(dir, "real")))
      const link = Path.join(dir, "link")
      yield* Effect.promise(() => Fs.symlink("real", link))
      assert.isUndefined(yield* InstanceStore.makeDirectories(link))
      const made = yield* InstanceStore.makeDirectories(Path.join(link, "a", "b"))
      assert.strictEqual(made, Path.join(link, "a"))
      assert.isTrue((yield* Effect.promise(() => Fs.stat(Path.join(dir, "real", "a", "b")))).isDirectory())
    })
  )
})

describe("a server given a link to nowhere as its folder, failing before it listens", () => {
  it("leaves the link where it was", async () => {
    const parent = await Fs.mkdtemp(Path.join(FsSync.realpathSync("/tmp"), "netdicom-out-link-"))
    const busy = Net.createServer(() => {})
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve))
    const port = (busy.address() as Net.AddressInfo).port
    try {
      const dangling = Path.join(parent, "dangling")
      await Fs.symlink(Path.join(parent, "share-not-mounted"), dangling)
      const loop = Path.join(parent, "loop")
      await Fs.symlink("loop", loop)
      for (const [command, flag, dir] of [
        ["qrscp", "--store", dangling],
        ["storescp", "--out", dangling],
        ["qrscp", "--store", loop],
        ["storescp", "--out", loop]
      ] as const) {
        const r = await netdicom([command, String(port), flag, dir])
        assert.strictEqual(r.code, 1, r.stderr)
        assert.isTrue(
          FsSync.lstatSync(dir, { throwIfNoEntry: false })?.isSymbolicLink() === true,
          `${command} ${flag} ${Path.basename(dir)} removed the link: ${r.stderr}`
        )
      }
    } finally {
      busy.close()
      await Fs.rm(parent, { recursive: true, force: true })
    }
  }, 60_000)
})
