import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option } from "effect"
import { Archive } from "../src/Archive.ts"
import { FileSync, InstanceStore, makeDirectories, safeName } from "../src/InstanceStore.ts"
import { instance, listFiles, patch, tempDir, withArchive } from "./fixtures.ts"

const withStore = <A, E>(root: string, effect: Effect.Effect<A, E, InstanceStore>) =>
  Effect.provide(effect, InstanceStore.layer({ root }))

const chunks = (bytes: Uint8Array, size: number): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size))
  return out
}

async function* failingAfter(parts: ReadonlyArray<Uint8Array>, n: number): AsyncGenerator<Uint8Array> {
  let i = 0
  for (const part of parts) {
    if (i++ === n) throw new Error("peer aborted")
    yield part
  }
}

describe("InstanceStore", () => {
  it("keeps well-formed UIDs and hashes anything else", () => {
    assert.strictEqual(safeName("1.2.840.10008.1"), "1.2.840.10008.1")
    assert.strictEqual(safeName("1.2.3\0"), "1.2.3")
    for (const bad of ["../../etc/passwd", "..", ".", "", "1..2", "1.2.", "a/b", "1".repeat(65), "1.2\\3", "......"]) {
      const name = safeName(bad)
      assert.match(name, /^x[0-9a-f]{40}$/, bad)
    }
    assert.notStrictEqual(safeName("../a"), safeName("../b"))
  })

  it.effect("writes the bytes unchanged under <root>/<study>/<sop>.dcm and leaves no temporary file", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const root = Path.join(dir, "files")
      const bytes = new Uint8Array(100_000).map((_, i) => i % 251)
      const file = yield* withStore(
        root,
        InstanceStore.use((s) => s.write({ studyInstanceUid: "1.2.3", sopInstanceUid: "1.2.3.4" }, bytes))
      )
      assert.strictEqual(file.path, Path.join(root, "1.2.3", "1.2.3.4.dcm"))
      assert.strictEqual(file.size, bytes.length)
      assert.deepStrictEqual(new Uint8Array(yield* Effect.promise(() => Fs.readFile(file.path))), bytes)
      assert.deepStrictEqual(yield* Effect.promise(() => listFiles(root)), [Path.join("1.2.3", "1.2.3.4.dcm")])
    })
  )

  it.effect("syncs the file, then its folder, before a write is done; with sync: false neither", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const synced: Array<string> = []
      // what each fsync was given, by what the descriptor is (Linux: /proc/self/fd)
      const watch = (fd: number): Promise<void> =>
        Fs.readlink(`/proc/self/fd/${fd}`).then((target) => void synced.push(target))
      const bytes = new Uint8Array(5000).fill(7)
      const write = (root: string, sync: boolean | undefined, sop: string) =>
        Effect.provide(
          InstanceStore.use((s) => s.write({ studyInstanceUid: "1.2.3", sopInstanceUid: sop }, bytes)),
          InstanceStore.layer({ root, ...(sync === undefined ? {} : { sync }) })
        ).pipe(Effect.provideService(FileSync, watch))

      const durable = Path.join(dir, "durable")
      yield* write(durable, undefined, "1.2.3.4")
      // a new study folder: the root too, where the folder was made
      assert.strictEqual(synced.length, 3, synced.join())
      assert.strictEqual(synced[0], durable)
      // the temporary file (a hidden name beside the final one), before its rename
      assert.strictEqual(Path.dirname(synced[1]!), Path.join(durable, "1.2.3"))
      assert.isTrue(Path.basename(synced[1]!).startsWith(".1.2.3.4.dcm."), synced[1])
      assert.strictEqual(synced[2], Path.join(durable, "1.2.3"))
      synced.length = 0
      yield* write(durable, true, "1.2.3.5")
      assert.strictEqual(synced.length, 2, synced.join())

      synced.length = 0
      const fast = Path.join(dir, "fast")
      const file = yield* write(fast, false, "1.2.3.4")
      yield* write(fast, false, "1.2.3.5")
      assert.deepStrictEqual(synced, [])
      // written whole, under its name, all the same
      assert.deepStrictEqual(new Uint8Array(yield* Effect.promise(() => Fs.readFile(file.path))), bytes)
      assert.deepStrictEqual(yield* Effect.promise(() => listFiles(fast)), [
        Path.join("1.2.3", "1.2.3.4.dcm"),
        Path.join("1.2.3", "1.2.3.5.dcm")
      ])
    })
  )

  it.effect("streams chunks from an async iterable", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const bytes = new Uint8Array(300_000).map((_, i) => (i * 7) % 256)
      async function* source() {
        yield* chunks(bytes, 4096)
      }
      const file = yield* withStore(
        dir,
        InstanceStore.use((s) => s.write({ studyInstanceUid: "9", sopInstanceUid: "9.1" }, source()))
      )
      assert.deepStrictEqual(new Uint8Array(yield* Effect.promise(() => Fs.readFile(file.path))), bytes)
    })
  )

  it.effect("a failing source leaves nothing under the final name, and no temporary file", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const bytes = new Uint8Array(50_000).fill(1)
      const exit = yield* Effect.exit(
        withStore(
          dir,
          InstanceStore.use((s) =>
            s.write({ studyInstanceUid: "1.2", sopInstanceUid: "1.2.9" }, failingAfter(chunks(bytes, 1000), 10))
          )
        )
      )
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) assert.include(String(exit.cause), "StoreFailed")
      assert.deepStrictEqual(yield* Effect.promise(() => listFiles(dir)), [])
    })
  )

  it.effect("a failed replacement keeps the previous file intact", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const key = { studyInstanceUid: "1.2", sopInstanceUid: "1.2.9" }
      const first = new Uint8Array(5000).fill(3)
      const path = yield* withStore(
        dir,
        Effect.gen(function* () {
          const store = yield* InstanceStore
          const file = yield* store.write(key, first)
          const again = yield* Effect.exit(store.write(key, failingAfter(chunks(new Uint8Array(5000).fill(4), 100), 5)))
          assert.isTrue(Exit.isFailure(again))
          return file.path
        })
      )
      assert.deepStrictEqual(new Uint8Array(yield* Effect.promise(() => Fs.readFile(path))), first)
      assert.deepStrictEqual(yield* Effect.promise(() => listFiles(dir)), [Path.join("1.2", "1.2.9.dcm")])
    })
  )

  it.effect("a SOP Instance UID like ../../etc/passwd stays inside the root", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const root = Path.join(dir, "files")
      // dcmjs cleans UI values when writing, so the hostile UIDs are patched into the bytes
      const clean = instance({
        patientId: "P1",
        patientName: "Evil^Mallory",
        study: "2222222222222222",
        series: "1.2.3.1",
        sop: "3333333333333333"
      })
      const bytes = patch(patch(clean, "2222222222222222", "../../../outside"), "3333333333333333", "../../etc/passwd")
      const stored = yield* withArchive(
        dir,
        Archive.use((a) => a.store(bytes))
      )
      // dcmjs drops the characters a UID may not have when reading, which leaves dots only: hashed too
      assert.strictEqual(stored.record.sopInstanceUid, "....")
      const relative = Path.relative(root, stored.record.filePath)
      assert.isFalse(relative.startsWith(".."), relative)
      assert.match(relative, /^x[0-9a-f]{40}[/\\]x[0-9a-f]{40}\.dcm$/)
      assert.deepStrictEqual(yield* Effect.promise(() => listFiles(root)), [relative])
      assert.deepStrictEqual(
        (yield* Effect.promise(() => listFiles(dir))).filter((f) => !f.startsWith("index.sqlite")),
        [Path.join("files", relative)]
      )
      const found = yield* withArchive(
        dir,
        Archive.use((a) =>
          a.retrieve({
            QueryRetrieveLevel: "IMAGE",
            StudyInstanceUID: stored.record.studyInstanceUid,
            SeriesInstanceUID: "1.2.3.1",
            SOPInstanceUID: stored.record.sopInstanceUid
          })
        )
      )
      assert.strictEqual(found.length, 1)
      assert.strictEqual(found[0]?.filePath, stored.record.filePath)
    })
  )

  it.effect("a hostile key given to the store directly stays inside the root", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const root = Path.join(dir, "files")
      const file = yield* withStore(
        root,
        InstanceStore.use((s) =>
          s.write({ studyInstanceUid: "../../..", sopInstanceUid: "../../etc/passwd" }, new Uint8Array([1, 2, 3]))
        )
      )
      assert.strictEqual(Path.dirname(Path.dirname(file.path)), root)
      assert.deepStrictEqual(yield* Effect.promise(() => listFiles(dir)), [
        Path.join("files", Path.relative(root, file.path))
      ])
    })
  )

  it.effect("stores chunked Part 10 input without holding it whole, and the bytes round-trip", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const bytes = instance({ patientId: "P2", patientName: "Big^Bob", study: "1.5", series: "1.5.1", sop: "1.5.1.1" })
      const big = new Uint8Array(bytes.length)
      big.set(bytes)
      async function* source() {
        yield* chunks(big, 7)
      }
      const stored = yield* withArchive(
        dir,
        Archive.use((a) => a.store(source()))
      )
      assert.strictEqual(stored.record.sopInstanceUid, "1.5.1.1")
      assert.isTrue(Option.isNone(stored.replaced))
      assert.deepStrictEqual(new Uint8Array(yield* Effect.promise(() => Fs.readFile(stored.record.filePath))), bytes)
    })
  )

  it.effect("a truncated data set is refused, whole or streamed, and the copy already stored stays", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const spec = { patientId: "P3", patientName: "Cut^Carl", study: "1.6", series: "1.6.1", sop: "1.6.1.1" }
      const good = instance(spec)
      const first = yield* withArchive(
        dir,
        Archive.use((a) => a.store(good))
      )
      // Pixel Data comes last: 5 bytes short of its length, as a file cut off by a crash or a peer.
      const cut = good.subarray(0, good.length - 5)
      for (const source of [() => cut, () => chunks(cut, 64)[Symbol.iterator]()]) {
        const exit = yield* Effect.exit(
          withArchive(
            dir,
            Archive.use((a) => a.store(source()))
          )
        )
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          assert.include(String(exit.cause), "InvalidInstance")
          assert.match(String(exit.cause), /truncated or malformed data set: \(7fe0,0010\) needs \d+ bytes/)
        }
        // The good copy is untouched, and no temporary file is left beside it.
        assert.deepStrictEqual(new Uint8Array(yield* Effect.promise(() => Fs.readFile(first.record.filePath))), good)
        const files = yield* Effect.promise(() => listFiles(Path.join(dir, "files")))
        assert.deepStrictEqual(files, [Path.relative(Path.join(dir, "files"), first.record.filePath)])
      }
    })
  )

  it.effect("a malformed data set stops the copy at the problem, and leaves no study folder behind", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const good = instance({ patientId: "P4", patientName: "Bad^Bea", study: "1.7", series: "1.7.1", sop: "1.7.1.1" })
      // Pixel Data (7fe0,0010) OW made encapsulated, its first fragment of undefined length (PS3.5 A.4 forbids it),
      // and then 1 MiB more that a store must not bother writing.
      const at = Buffer.from(good).indexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57]))
      assert.isAbove(at, 0)
      const head = Buffer.concat([
        Buffer.from(good.subarray(0, at)),
        Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x42, 0, 0, 0xff, 0xff, 0xff, 0xff]),
        Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff])
      ])
      let pulled = 0
      function* source() {
        yield new Uint8Array(head)
        for (let i = 0; i < 16; i++) {
          pulled++
          yield new Uint8Array(64 << 10)
        }
      }
      const exit = yield* Effect.exit(
        withArchive(
          dir,
          Archive.use((a) => a.store(source()))
        )
      )
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) assert.match(String(exit.cause), /fragment of undefined length/)
      assert.isBelow(pulled, 3, `${pulled} chunks were read past the problem`)
      assert.deepStrictEqual(yield* Effect.promise(() => listFiles(Path.join(dir, "files"))), [])
      const left = yield* Effect.promise(() => Fs.readdir(Path.join(dir, "files")))
      assert.deepStrictEqual(left, [], "the study folder made for the refused instance is gone")
    })
  )

  it.effect("20,000 nested sequences are refused from the header, before dcmjs parses them", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const good = instance({ patientId: "P5", patientName: "Deep^Dan", study: "1.8", series: "1.8.1", sop: "1.8.1.1" })
      const at = Buffer.from(good).indexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57]))
      const open = Buffer.from([
        0x08, 0x00, 0x15, 0x11, 0x53, 0x51, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff
      ])
      const close = Buffer.from([0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0, 0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0])
      const levels = 20_000
      const bytes = Buffer.concat([
        Buffer.from(good.subarray(0, at)),
        ...Array.from({ length: levels }, () => open),
        ...Array.from({ length: levels }, () => close),
        Buffer.from(good.subarray(at))
      ])
      const started = Date.now()
      const exit = yield* Effect.exit(
        withArchive(
          dir,
          Archive.use((a) => a.store(chunks(new Uint8Array(bytes), 64 << 10)[Symbol.iterator]()))
        )
      )
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) assert.match(String(exit.cause), /nested too deep/)
      // A bound against hanging, not a speed target: dcmjs alone took 9-13 s over this.
      assert.isBelow(Date.now() - started, 3000)
    })
  )

  it.effect("an unreadable instance is refused before anything is written", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const exit = yield* Effect.exit(
        withArchive(
          dir,
          Archive.use((a) => a.store(new Uint8Array(500).fill(9)))
        )
      )
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) assert.include(String(exit.cause), "InvalidInstance")
      const files = yield* Effect.promise(() => listFiles(Path.join(dir, "files")))
      assert.deepStrictEqual(files, [])
    })
  )
})

describe("makeDirectories", () => {
  it("fails at once, typed, where Node's recursive mkdir would spin (a path under /proc)", async () => {
    const started = Date.now()
    const exit = await Effect.runPromiseExit(makeDirectories("/proc/netdicom-no-such/dir"))
    assert.isBelow(Date.now() - started, 1000)
    assert.isTrue(Exit.isFailure(exit))
    if (Exit.isFailure(exit)) assert.include(String(exit.cause), "StoreFailed")
  })

  it("fails with StoreFailed when a component is a file, and returns the first directory it made", async () => {
    const dir = await Fs.mkdtemp(Path.join(Os.tmpdir(), "netdicom-mkdirs-"))
    try {
      await Fs.writeFile(Path.join(dir, "file"), "x")
      const blocked = await Effect.runPromiseExit(makeDirectories(Path.join(dir, "file", "sub")))
      assert.isTrue(Exit.isFailure(blocked))
      if (Exit.isFailure(blocked)) assert.include(String(blocked.cause), "is not a directory")
      const made = await Effect.runPromise(makeDirectories(Path.join(dir, "a", "b")))
      assert.strictEqual(made, Path.join(dir, "a"))
      assert.isUndefined(await Effect.runPromise(makeDirectories(Path.join(dir, "a", "b"))))
    } finally {
      await Fs.rm(dir, { recursive: true, force: true })
    }
  })
})
