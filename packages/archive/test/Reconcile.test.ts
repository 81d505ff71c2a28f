/**
 * `Archive.reconcile`: at start-up the index comes to agree with the store's files (a file renamed in but not indexed
 * before a crash, files copied in, deleted or changed by hand, two files of one SOP Instance UID), reading only files
 * whose size or modification time changed; temporary files of killed writes are removed; an index of schema version
 * 2 (no modification times) still opens.
 */
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import * as Sqlite from "node:sqlite"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { Archive } from "../src/Archive.ts"
import { ArchiveIndex } from "../src/ArchiveIndex.ts"
import * as TempFiles from "../src/TempFiles.ts"
import { find, instance, tempDir, withArchive } from "./fixtures.ts"

const one = (n: number, extra: { readonly patientName?: string; readonly sop?: string } = {}) =>
  instance({
    patientId: `P${n}`,
    patientName: extra.patientName ?? `Doe^${n}`,
    study: `1.7.${n}`,
    series: `1.7.${n}.1`,
    sop: extra.sop ?? `1.7.${n}.1.1`
  })

const reconcile = (dir: string) =>
  withArchive(
    dir,
    Archive.use((a) => a.reconcile())
  )
/** What C-FIND and C-GET see: each indexed instance with its study's Patient Name, as "SOP Instance UID name". */
const images = (dir: string) =>
  withArchive(
    dir,
    Effect.gen(function* () {
      const archive = yield* Archive
      const studies = yield* find({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "", PatientName: "" })
      const names = new Map(studies.map((d) => [d["StudyInstanceUID"], JSON.stringify(d["PatientName"] ?? null)]))
      const items = yield* archive.retrieve({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: [...names.keys()] })
      return items.map((i) => `${i.sopInstanceUid} ${names.get(i.studyInstanceUid)}`).sort()
    })
  )

/** A file as a process killed between rename and indexing (or a user copying it in) leaves it. */
const putInStore = (dir: string, study: string, name: string, bytes: Uint8Array) =>
  Effect.promise(async () => {
    const folder = Path.join(dir, "files", study)
    await Fs.mkdir(folder, { recursive: true })
    await Fs.writeFile(Path.join(folder, name), bytes)
    return Path.join(folder, name)
  })

const storeOne = (dir: string, bytes: Uint8Array) =>
  withArchive(
    dir,
    Archive.use((a) => a.store(bytes))
  ).pipe(Effect.map((s) => s.record.filePath))

const empty = { added: [], updated: [], removed: [], duplicates: [], failed: [], leftovers: [], stillLeftOut: 0 }

describe("Archive.reconcile", () => {
  it.effect("indexes a file in the store the index does not have, and reads nothing once in sync", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* storeOne(dir, one(1))
      const path = yield* putInStore(dir, "1.7.2", "1.7.2.1.1.dcm", one(2))
      // a time a Date gives exactly (stat's mtimeMs has the nanoseconds a Date would round off)
      yield* Effect.promise(() => Fs.utimes(path, 1_000_000, 1_000_000))
      assert.deepStrictEqual(yield* images(dir), ['1.7.1.1.1 [{"Alphabetic":"Doe^1"}]'])
      const report = yield* reconcile(dir)
      assert.deepStrictEqual(report, { ...empty, files: 2, added: [path] })
      assert.deepStrictEqual(yield* images(dir), [
        '1.7.1.1.1 [{"Alphabetic":"Doe^1"}]',
        '1.7.2.1.1 [{"Alphabetic":"Doe^2"}]'
      ])
      // the same size and modification time: not read (garbage of that size goes unnoticed, as in make or rsync)
      const stat = yield* Effect.promise(() => Fs.stat(path))
      yield* Effect.promise(async () => {
        await Fs.writeFile(path, new Uint8Array(stat.size))
        await Fs.utimes(path, 1_000_000, 1_000_000)
      })
      assert.deepStrictEqual(yield* reconcile(dir), { ...empty, files: 2 })
    })
  )

  it.effect("removes the entry of a file that is gone", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const gone = yield* storeOne(dir, one(1))
      yield* storeOne(dir, one(2))
      yield* Effect.promise(() => Fs.rm(gone))
      const report = yield* reconcile(dir)
      assert.deepStrictEqual(report, { ...empty, files: 1, removed: [{ sopInstanceUid: "1.7.1.1.1", path: gone }] })
      assert.deepStrictEqual(yield* images(dir), ['1.7.2.1.1 [{"Alphabetic":"Doe^2"}]'])
      const listed = yield* withArchive(
        dir,
        Archive.use((a) => a.retrieve({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: ["1.7.1", "1.7.2"] }))
      )
      assert.deepStrictEqual(
        listed.map((i) => i.sopInstanceUid),
        ["1.7.2.1.1"]
      )
      const stats = yield* withArchive(
        dir,
        ArchiveIndex.use((i) => i.stats)
      )
      assert.deepStrictEqual(stats, { patients: 1, studies: 1, series: 1, instances: 1 })
    })
  )

  it.effect("indexes again a file whose size or modification time changed, and drops the UID it no longer holds", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = yield* storeOne(dir, one(1))
      const other = yield* storeOne(dir, one(2))
      // changed in place: another Patient Name (same size, a later time)
      yield* Effect.promise(async () => {
        await Fs.writeFile(path, one(1, { patientName: "Roe^1" }))
        await Fs.utimes(path, new Date(), new Date(Date.now() + 5000))
      })
      // changed in place into another instance
      yield* Effect.promise(() => Fs.writeFile(other, one(2, { sop: "1.7.2.1.9" })))
      const report = yield* reconcile(dir)
      assert.deepStrictEqual(report, {
        ...empty,
        files: 2,
        updated: [path, other],
        removed: [{ sopInstanceUid: "1.7.2.1.1", path: other }]
      })
      assert.deepStrictEqual(yield* images(dir), [
        '1.7.1.1.1 [{"Alphabetic":"Roe^1"}]',
        '1.7.2.1.9 [{"Alphabetic":"Doe^2"}]'
      ])
      assert.deepStrictEqual(yield* reconcile(dir), { ...empty, files: 2 })
    })
  )

  it.effect("of two files of one SOP Instance UID, keeps the one at the store's path, then the one modified last", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const stored = yield* storeOne(dir, one(1))
      const old = yield* putInStore(dir, "1.7.1", "older-copy.dcm", one(1, { patientName: "Old^Copy" }))
      yield* Effect.promise(() => Fs.utimes(old, new Date(0), new Date(0)))
      const first = yield* reconcile(dir)
      assert.deepStrictEqual(first, {
        ...empty,
        files: 2,
        duplicates: [{ path: old, sopInstanceUid: "1.7.1.1.1", kept: stored }]
      })
      // a copy under another name, newer: the file at the store's own path is still the one kept
      const copy = yield* putInStore(dir, "1.7.9", "newer-copy.dcm", one(1, { patientName: "New^Copy" }))
      yield* Effect.promise(() => Fs.utimes(copy, new Date(), new Date(Date.now() + 60_000)))
      const second = yield* reconcile(dir)
      // the older copy, recorded as left out at the first reconcile, is not read again
      assert.deepStrictEqual(second, {
        ...empty,
        files: 3,
        duplicates: [{ path: copy, sopInstanceUid: "1.7.1.1.1", kept: stored }],
        stillLeftOut: 1
      })
      assert.deepStrictEqual(yield* images(dir), ['1.7.1.1.1 [{"Alphabetic":"Doe^1"}]'])
      // a re-store into another study cut short before its indexing: both files are at their study's own path,
      // and the later one is kept, as the C-STORE would have left it
      const moved = yield* putInStore(
        dir,
        "1.7.8",
        "1.7.1.1.1.dcm",
        instance({ patientId: "P1", patientName: "Moved^Study", study: "1.7.8", series: "1.7.8.1", sop: "1.7.1.1.1" })
      )
      yield* Effect.promise(() => Fs.utimes(moved, new Date(), new Date(Date.now() + 120_000)))
      const third = yield* reconcile(dir)
      assert.deepStrictEqual(third, {
        ...empty,
        files: 4,
        added: [moved],
        duplicates: [{ path: stored, sopInstanceUid: "1.7.1.1.1", kept: moved }],
        stillLeftOut: 2
      })
      assert.deepStrictEqual(yield* images(dir), ['1.7.1.1.1 [{"Alphabetic":"Moved^Study"}]'])
      const files = yield* Effect.promise(() => Promise.all([old, stored, copy, moved].map((p) => Fs.stat(p))))
      assert.strictEqual(files.length, 4, "the files not indexed stay on disk")
      // the file kept is removed: those left out for it are read again
      yield* Effect.promise(() => Fs.rm(moved))
      const fourth = yield* reconcile(dir)
      assert.deepStrictEqual(fourth.removed, [{ sopInstanceUid: "1.7.1.1.1", path: moved }])
      assert.deepStrictEqual(fourth.added, [stored])
      assert.sameDeepMembers(
        [...fourth.duplicates],
        [
          { path: old, sopInstanceUid: "1.7.1.1.1", kept: stored },
          { path: copy, sopInstanceUid: "1.7.1.1.1", kept: stored }
        ]
      )
      assert.deepStrictEqual(yield* images(dir), ['1.7.1.1.1 [{"Alphabetic":"Doe^1"}]'])
    })
  )

  it.effect("looks at the files of entries outside the store one by one: kept while there, removed once gone", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const elsewhere = Path.join(dir, "elsewhere")
      yield* Effect.promise(() => Fs.mkdir(elsewhere))
      const kept = Path.join(elsewhere, "kept.dcm")
      const gone = Path.join(elsewhere, "gone")
      yield* Effect.promise(() => Promise.all([Fs.writeFile(kept, one(1)), Fs.writeFile(gone, one(2))]))
      yield* withArchive(
        dir,
        ArchiveIndex.use((i) => Effect.andThen(i.indexFile(kept), i.indexFile(gone)))
      )
      assert.deepStrictEqual(yield* reconcile(dir), { ...empty, files: 0 })
      yield* Effect.promise(() => Fs.rm(gone))
      assert.deepStrictEqual(yield* reconcile(dir), {
        ...empty,
        files: 0,
        removed: [{ sopInstanceUid: "1.7.2.1.1", path: gone }]
      })
      assert.deepStrictEqual(yield* images(dir), ['1.7.1.1.1 [{"Alphabetic":"Doe^1"}]'])
    })
  )

  it.effect("logs and skips a file that is not an instance, and goes on", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* storeOne(dir, one(1))
      const junk = yield* putInStore(dir, "junk", "notes.dcm", new TextEncoder().encode("not DICOM at all"))
      const good = yield* putInStore(dir, "1.7.2", "z.dcm", one(2))
      const report = yield* reconcile(dir)
      assert.deepStrictEqual(report.added, [good])
      assert.deepStrictEqual(
        report.failed.map((f) => f.path),
        [junk]
      )
      assert.strictEqual((yield* images(dir)).length, 2)
      // recorded: not read (nor warned about) again until it changes
      assert.deepStrictEqual(yield* reconcile(dir), { ...empty, files: 3, stillLeftOut: 1 })
      yield* Effect.promise(() => Fs.appendFile(junk, " still not"))
      assert.deepStrictEqual(
        (yield* reconcile(dir)).failed.map((f) => f.path),
        [junk]
      )
      yield* Effect.promise(() => Fs.rm(junk))
      assert.deepStrictEqual(yield* reconcile(dir), { ...empty, files: 2 })
      const recorded = yield* withArchive(
        dir,
        ArchiveIndex.use((i) => i.leftOut)
      )
      assert.deepStrictEqual(recorded, [])
    })
  )

  it.effect("adopts a whole store into a new index, and then owes no indexing", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      for (const n of [1, 2, 3]) yield* storeOne(dir, one(n))
      yield* Effect.promise(() => Fs.rm(Path.join(dir, "index.sqlite")))
      const report = yield* reconcile(dir)
      assert.strictEqual(report.added.length, 3)
      const owed = yield* withArchive(
        dir,
        ArchiveIndex.use((i) => Effect.succeed(i.indexingOwed))
      )
      assert.isFalse(owed)
    })
  )

  it.effect("removes temporary files of killed writes, not those of a live writer or written since the start", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* storeOne(dir, one(1))
      const dead = spawnSync(process.execPath, ["-e", ""]).pid!
      const folder = Path.join(dir, "files", "1.7.1")
      const at = (name: string) => Path.join(folder, name)
      const live = TempFiles.temporaryName("1.7.1.1.2.dcm")
      const names = {
        deadOwner: `.1.7.1.1.3.dcm.${dead}-0123abcd.0123456789ab.tmp`,
        deadAside: `.1.7.1.1.1.dcm.${dead}-0123abcd.0123456789ab.aside`,
        legacy: ".1.7.1.1.4.dcm.0123456789ab.tmp",
        ourPidEarlierProcess: `.1.7.1.1.5.dcm.${process.pid}-ffffffff.0123456789ab.tmp`,
        liveOtherProcess: `.1.7.1.1.6.dcm.${process.ppid}-0123abcd.0123456789ab.tmp`,
        live,
        notOurs: ".notes.tmp"
      }
      yield* Effect.promise(async () => {
        for (const name of Object.values(names)) {
          await Fs.writeFile(at(name), "x")
          await Fs.utimes(at(name), new Date(0), new Date(0))
        }
      })
      // killed after the start: left for the next start
      const recent = at(`.1.7.1.1.7.dcm.${dead}-0123abcd.0123456789ab.tmp`)
      yield* Effect.promise(() => Fs.writeFile(recent, "x"))
      const startedAt = Date.now() - 60_000
      const report = yield* withArchive(
        dir,
        Archive.use((a) => a.reconcile({ startedAt }))
      )
      assert.sameMembers(
        [...report.leftovers],
        [names.deadOwner, names.deadAside, names.legacy, names.ourPidEarlierProcess].map(at)
      )
      const left = yield* Effect.promise(() => Fs.readdir(folder))
      assert.sameMembers(left, [
        "1.7.1.1.1.dcm",
        names.liveOtherProcess,
        names.live,
        names.notOurs,
        Path.basename(recent)
      ])
      assert.deepStrictEqual(report.added, [])
    })
  )

  it.effect("removes a study folder a killed write left empty", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* storeOne(dir, one(1))
      const dead = spawnSync(process.execPath, ["-e", ""]).pid!
      const tmp = yield* putInStore(dir, "1.7.5", `.1.7.5.1.1.dcm.${dead}-0123abcd.0123456789ab.tmp`, one(5))
      yield* Effect.promise(() => Fs.utimes(tmp, new Date(0), new Date(0)))
      const report = yield* reconcile(dir)
      assert.deepStrictEqual(report.leftovers, [tmp])
      const exists = yield* Effect.promise(() =>
        Fs.stat(Path.dirname(tmp)).then(
          () => true,
          () => false
        )
      )
      assert.isFalse(exists)
    })
  )

  it.effect("opens an index of schema version 2 with its entries, and records their files' times once", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      for (const n of [1, 2]) yield* storeOne(dir, one(n))
      // the previous version's schema: the same tables without file_mtime
      yield* Effect.sync(() => {
        const db = new Sqlite.DatabaseSync(Path.join(dir, "index.sqlite"))
        db.exec("ALTER TABLE instance DROP COLUMN file_mtime; PRAGMA user_version = 2")
        db.close()
      })
      const opened = yield* withArchive(
        dir,
        Effect.gen(function* () {
          const index = yield* ArchiveIndex
          return { replaced: index.replacedSchema, files: yield* index.files }
        })
      )
      assert.strictEqual(opened.replaced, undefined)
      assert.deepStrictEqual(
        opened.files.map((f) => [f.sopInstanceUid, f.fileModifiedMs]),
        [
          ["1.7.1.1.1", undefined],
          ["1.7.2.1.1", undefined]
        ]
      )
      assert.strictEqual((yield* images(dir)).length, 2)
      const first = yield* reconcile(dir)
      assert.strictEqual(first.updated.length, 2)
      assert.deepStrictEqual(yield* reconcile(dir), { ...empty, files: 2 })
      const version = yield* Effect.sync(() => {
        const db = new Sqlite.DatabaseSync(Path.join(dir, "index.sqlite"))
        const row = db.prepare("PRAGMA user_version").get()
        db.close()
        return row?.["user_version"]
      })
      assert.strictEqual(version, 3)
    })
  )

  it.effect("a stored instance's entry records its file's size and modification time", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const path = yield* storeOne(dir, one(1))
      const stat = yield* Effect.promise(() => Fs.stat(path))
      const files = yield* withArchive(
        dir,
        ArchiveIndex.use((i) => i.files)
      )
      assert.deepStrictEqual(files, [
        { sopInstanceUid: "1.7.1.1.1", filePath: path, fileSize: stat.size, fileModifiedMs: stat.mtimeMs }
      ])
    })
  )
  it.effect("says at info how many files it is about to read, and nothing of the kind when in sync", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* storeOne(dir, one(1))
      yield* putInStore(dir, "1.7.2", "1.7.2.1.1.dcm", one(2))
      yield* putInStore(dir, "1.7.3", "1.7.3.1.1.dcm", one(3))
      const lines: Array<string> = []
      const capture = Logger.make(({ message }) => {
        lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
      })
      const logged = (effect: Effect.Effect<unknown, unknown>) =>
        Effect.orDie(effect).pipe(Effect.provide(Logger.layer([capture])))
      yield* logged(reconcile(dir))
      assert.isTrue(
        lines.some((l) => l.startsWith("reading 2 new or changed file(s) in ")),
        lines.join("\n")
      )
      lines.length = 0
      yield* logged(reconcile(dir))
      assert.isFalse(
        lines.some((l) => l.startsWith("reading ")),
        lines.join("\n")
      )
    })
  )
})
