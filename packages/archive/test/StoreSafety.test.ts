/**
 * The store's folder layout is not trusted: a study folder (or a file) below the root replaced by a symbolic link is
 * never followed by a C-STORE, a removal or the start-up check; `Archive.remove` leaves a file changed since it was
 * indexed; a FIFO swapped in for a file after the start-up check's walk is refused, not waited on.
 */
import { spawnSync } from "node:child_process"
import * as FsSync from "node:fs"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Logger, Option } from "effect"
import { Archive } from "../src/Archive.ts"
import { ArchiveIndex } from "../src/ArchiveIndex.ts"
import * as Header from "../src/Header.ts"
import { InstanceStore } from "../src/InstanceStore.ts"
import { instance, listFiles, tempDir, withArchive } from "./fixtures.ts"

const one = (n: number, patientName = `Doe^${n}`) =>
  instance({ patientId: `P${n}`, patientName, study: `1.9.${n}`, series: `1.9.${n}.1`, sop: `1.9.${n}.1.1` })

/** Runs `effect` with its log lines (level and text) collected into `lines`. */
const logged = <A, E, R>(lines: Array<string>, effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.provide(
      Logger.layer([Logger.make(({ logLevel, message }) => lines.push(`${logLevel} ${[message].flat().join(" ")}`))])
    )
  )

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("succeeded")
  const found = exit.cause.reasons.find(Cause.isFailReason)
  if (found === undefined) throw new Error(`no failure: ${String(exit.cause)}`)
  return found.error
}

const exists = (path: string) =>
  Effect.promise(() =>
    Fs.lstat(path).then(
      () => true,
      () => false
    )
  )

/** A folder outside the store, and the store's folder for `study` made a link to it. */
const linkStudy = (dir: string, study: string) =>
  Effect.promise(async () => {
    const outside = Path.join(dir, "outside")
    await Fs.mkdir(outside, { recursive: true })
    const folder = Path.join(dir, "files", study)
    await Fs.rm(folder, { recursive: true, force: true })
    await Fs.mkdir(Path.dirname(folder), { recursive: true })
    await Fs.symlink(outside, folder)
    return { outside, folder }
  })

describe("symbolic links below the store root", () => {
  it.effect(
    "a C-STORE into a study folder that is a link is refused (LinkInStore, 0xA700, logged), nothing written",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const { outside, folder } = yield* linkStudy(dir, "1.9.1")
        const lines: Array<string> = []
        const exit = yield* logged(
          lines,
          withArchive(
            dir,
            Archive.use((a) => Effect.exit(a.store(one(1))))
          )
        )
        const error = failureOf(exit)
        assert.strictEqual(error._tag, "LinkInStore")
        if (error._tag === "LinkInStore") {
          assert.strictEqual(error.path, folder)
          assert.strictEqual(error.status, 0xa700)
        }
        assert.deepStrictEqual(yield* Effect.promise(() => Fs.readdir(outside)), [])
        assert.isTrue(
          lines.some((l) => l.startsWith("Warn") && l.includes(`${folder} is a symbolic link`)),
          lines.join()
        )
        // nothing indexed either
        const stats = yield* withArchive(
          dir,
          ArchiveIndex.use((i) => i.stats)
        )
        assert.strictEqual(stats.instances, 0)
      })
  )

  it.effect("a C-STORE replacing a stored instance whose study folder became a link writes nothing through it", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const stored = yield* withArchive(
        dir,
        Archive.use((a) => a.store(one(2)))
      )
      // the real folder moved away, a link to it in its place: a re-store would have replaced the file over there
      const moved = Path.join(dir, "moved")
      yield* Effect.promise(async () => {
        await Fs.rename(Path.dirname(stored.record.filePath), moved)
        await Fs.symlink(moved, Path.dirname(stored.record.filePath))
      })
      const before = yield* Effect.promise(() => Fs.readFile(Path.join(moved, Path.basename(stored.record.filePath))))
      const exit = yield* withArchive(
        dir,
        Archive.use((a) => Effect.exit(a.store(one(2, "Roe^2"))))
      )
      assert.strictEqual(failureOf(exit)._tag, "LinkInStore")
      assert.deepStrictEqual(yield* Effect.promise(() => listFiles(moved)), [Path.basename(stored.record.filePath)])
      const after = yield* Effect.promise(() => Fs.readFile(Path.join(moved, Path.basename(stored.record.filePath))))
      assert.isTrue(before.equals(after))
    })
  )

  it.effect("the store removes nothing through a study folder that is a link", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const { outside, folder } = yield* linkStudy(dir, "1.9.3")
      const victim = Path.join(outside, "1.9.3.1.1.dcm")
      yield* Effect.promise(() => Fs.writeFile(victim, one(3)))
      const exit = yield* withArchive(
        dir,
        InstanceStore.use((s) => Effect.exit(s.remove(Path.join(folder, "1.9.3.1.1.dcm"))))
      )
      assert.strictEqual(failureOf(exit)._tag, "LinkInStore")
      assert.isTrue(yield* exists(victim))
    })
  )

  it.effect("reconcile does not read through a linked study folder: its entries go, the link is logged", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const stored = yield* withArchive(
        dir,
        Archive.use((a) => a.store(one(4)))
      )
      yield* withArchive(
        dir,
        Archive.use((a) => a.store(one(5)))
      )
      // study 1.9.4's folder now a link to a folder holding another copy (another Patient Name, a later time):
      // following it, reconcile indexed that copy
      const { folder, outside } = yield* linkStudy(dir, "1.9.4")
      yield* Effect.promise(async () => {
        await Fs.writeFile(Path.join(outside, Path.basename(stored.record.filePath)), one(4, "Outside^4"))
        await Fs.utimes(Path.join(outside, Path.basename(stored.record.filePath)), new Date(), Date.now() / 1000 + 60)
      })
      // and a new link beside it to a folder of files nobody stored
      const foreign = Path.join(dir, "foreign")
      yield* Effect.promise(async () => {
        await Fs.mkdir(foreign)
        await Fs.writeFile(Path.join(foreign, "1.9.6.1.1.dcm"), one(6))
        await Fs.symlink(foreign, Path.join(dir, "files", "1.9.6"))
      })
      const lines: Array<string> = []
      const report = yield* logged(
        lines,
        withArchive(
          dir,
          Archive.use((a) => a.reconcile())
        )
      )
      assert.deepStrictEqual(report.added, [])
      assert.deepStrictEqual(report.updated, [])
      assert.deepStrictEqual(report.removed, [{ sopInstanceUid: "1.9.4.1.1", path: stored.record.filePath }])
      assert.deepStrictEqual(report.failed.map((f) => f.path).sort(), [folder, Path.join(dir, "files", "1.9.6")].sort())
      assert.isTrue(report.failed.every((f) => f.reason.includes("symbolic link")))
      const warnings = lines.filter((l) => l.startsWith("Warn"))
      assert.isTrue(
        warnings.some((l) => l.includes(`the symbolic link ${folder}`)),
        warnings.join("\n")
      )
      assert.isTrue(
        warnings.some((l) => l.includes(`${Path.join(dir, "files", "1.9.6")}: a symbolic link`)),
        warnings.join("\n")
      )
      const uids = yield* withArchive(
        dir,
        Archive.use((a) => a.retrieve({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: ["1.9.4", "1.9.5", "1.9.6"] }))
      )
      assert.deepStrictEqual(
        uids.map((u) => u.sopInstanceUid),
        ["1.9.5.1.1"]
      )
    })
  )

  it.effect("reconcile skips a file that is a link to a file outside the store", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* withArchive(
        dir,
        Archive.use((a) => a.store(one(7)))
      )
      const outsideFile = Path.join(dir, "elsewhere.dcm")
      const link = Path.join(dir, "files", "1.9.7", "1.9.8.1.1.dcm")
      yield* Effect.promise(async () => {
        await Fs.writeFile(outsideFile, one(8))
        await Fs.symlink(outsideFile, link)
      })
      const report = yield* withArchive(
        dir,
        Archive.use((a) => a.reconcile())
      )
      assert.deepStrictEqual(report.added, [])
      assert.deepStrictEqual(
        report.failed.map((f) => f.path),
        [link]
      )
    })
  )
})

describe("Archive.remove", () => {
  it.effect("leaves a file changed since it was indexed where it is (logged), and drops the entry", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const stored = yield* withArchive(
        dir,
        Archive.use((a) => a.store(one(10)))
      )
      const path = stored.record.filePath
      // another instance copied over it while the archive runs
      const other = one(11)
      yield* Effect.promise(() => Fs.writeFile(path, other))
      const lines: Array<string> = []
      const removed = yield* logged(
        lines,
        withArchive(
          dir,
          Archive.use((a) => a.remove("1.9.10.1.1"))
        )
      )
      assert.isTrue(Option.isSome(removed))
      assert.isTrue(yield* exists(path))
      assert.isTrue((yield* Effect.promise(() => Fs.readFile(path))).equals(other))
      assert.isTrue(
        lines.some((l) => l.startsWith("Warn") && l.includes(`${path} changed since it was indexed`)),
        lines.join("\n")
      )
      const entry = yield* withArchive(
        dir,
        ArchiveIndex.use((i) => i.get("1.9.10.1.1"))
      )
      assert.isTrue(Option.isNone(entry))
      // the next start indexes what the file holds now
      const report = yield* withArchive(
        dir,
        Archive.use((a) => a.reconcile())
      )
      assert.deepStrictEqual(report.added, [path])
      const now = yield* withArchive(
        dir,
        ArchiveIndex.use((i) => i.get("1.9.11.1.1"))
      )
      assert.strictEqual(Option.getOrThrow(now).filePath, path)
    })
  )

  it.effect("still removes an unchanged file", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const stored = yield* withArchive(
        dir,
        Archive.use((a) => a.store(one(12)))
      )
      yield* withArchive(
        dir,
        Archive.use((a) => a.remove("1.9.12.1.1"))
      )
      assert.isFalse(yield* exists(stored.record.filePath))
      assert.isFalse(yield* exists(Path.dirname(stored.record.filePath)))
    })
  )
})

const mkfifo = (path: string) => {
  const made = spawnSync("mkfifo", [path])
  if (made.status !== 0) throw new Error(`mkfifo ${path}: ${made.stderr.toString()}`)
}

/**
 * At the test's end, a writer opened and closed on the FIFO: a read blocked in `open` (the failure this guards
 * against) is let go, so that a failing run does not leave a thread of the pool stuck.
 */
const releaseFifo = (path: string) =>
  Effect.addFinalizer(() =>
    Effect.sync(() => {
      try {
        FsSync.closeSync(FsSync.openSync(path, FsSync.constants.O_WRONLY | FsSync.constants.O_NONBLOCK))
      } catch {
        // no reader waiting (ENXIO), or gone: nothing to let go
      }
    })
  )

describe("a FIFO in the store", () => {
  it.live("Header.fromFile refuses a FIFO at once instead of waiting for a writer", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const fifo = Path.join(dir, "x.dcm")
      mkfifo(fifo)
      yield* releaseFifo(fifo)
      const exit = yield* Effect.exit(Header.fromFile(fifo).pipe(Effect.timeout("3 seconds")))
      const error = failureOf(exit)
      assert.strictEqual(error._tag, "StoreFailed")
      assert.include(String(error.message), "not a regular file")
    })
  )

  it.live("swapped in for a file between reconcile's walk and its read: refused, the check ends", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const stored = yield* withArchive(
        dir,
        Archive.use((a) => a.store(one(13)))
      )
      const path = stored.record.filePath
      yield* releaseFifo(path)
      // changed since indexed, so reconcile reads it
      yield* Effect.promise(() => Fs.utimes(path, new Date(), Date.now() / 1000 + 60))
      // reconcile logs "reading N new or changed file(s)" after its walk and before the reads: the swap goes there
      let swapped = false
      const swap = Logger.make(({ message }) => {
        if (!swapped && [message].flat().join(" ").startsWith("reading ")) {
          swapped = true
          FsSync.unlinkSync(path)
          mkfifo(path)
        }
      })
      const report = yield* withArchive(
        dir,
        Archive.use((a) => a.reconcile())
      ).pipe(Effect.provide(Logger.layer([swap])), Effect.timeout("5 seconds"))
      assert.isTrue(swapped)
      assert.deepStrictEqual(
        report.failed.map((f) => f.path),
        [path]
      )
      assert.include(report.failed[0]!.reason, "not a regular file")
    })
  )
})
