/**
 * `PlainStore`, the store without an index behind `netdicom storescp`: the archive's layout, replacement and move of
 * an instance received again, refusals (cut data set, UIDs not the request's, a study folder that is a link), and
 * big-endian and deflated data sets (from the corpus, read in place; skipped when absent).
 */
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import * as FsSync from "node:fs"
import { InstanceStore } from "../src/InstanceStore.ts"
import { PlainStore } from "../src/PlainStore.ts"
import * as Part10 from "../src/Part10.ts"
import { corpusFile } from "../../../tests/support/peers.ts"
import { instance, listFiles, tempDir, withoutSopUids } from "./fixtures.ts"

const a = { patientId: "P1", patientName: "Doe^Jane", study: "7.1", series: "7.1.1", sop: "7.1.1.1" }

/** `effect` on a fresh store under `<dir>/files`. */
const inStore = <A, E>(effect: (dir: string) => Effect.Effect<A, E, PlainStore | InstanceStore>) =>
  Effect.gen(function* () {
    const dir = yield* tempDir
    return yield* Effect.provide(effect(dir), Layer.fresh(PlainStore.layerFrom({ root: Path.join(dir, "files") })))
  })

function* pieces(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.slice(at, at + size)
}

describe("PlainStore", () => {
  it.effect("stores the bytes unchanged at <study>/<instance>.dcm, whole or chunked", () =>
    inStore((dir) =>
      Effect.gen(function* () {
        const plain = yield* PlainStore
        const bytes = instance(a)
        const released: Array<Uint8Array> = []
        const stored = yield* plain.store(pieces(bytes, 100), { release: (c) => released.push(c) })
        assert.strictEqual(stored.filePath, Path.join(dir, "files", "7.1", "7.1.1.1.dcm"))
        assert.isTrue(Option.isNone(stored.replaced))
        assert.isTrue(FsSync.readFileSync(stored.filePath).equals(Buffer.from(bytes)))
        assert.strictEqual(released.length, Math.ceil(bytes.length / 100))
        const other = instance({ ...a, sop: "7.1.1.2" })
        yield* plain.store(other, { sopInstanceUid: "7.1.1.2", sopClassUid: "1.2.840.10008.5.1.4.1.1.2" })
        assert.deepStrictEqual(yield* Effect.promise(() => listFiles(Path.join(dir, "files"))), [
          Path.join("7.1", "7.1.1.1.dcm"),
          Path.join("7.1", "7.1.1.2.dcm")
        ])
      })
    )
  )

  it.effect("an instance received again replaces its file; again under another study, moves it", () =>
    inStore((dir) =>
      Effect.gen(function* () {
        const plain = yield* PlainStore
        const first = yield* plain.store(instance(a))
        const again = yield* plain.store(instance({ ...a, patientName: "Doe^Janet" }))
        assert.deepStrictEqual(again.replaced, Option.some(first.filePath))
        assert.strictEqual(again.filePath, first.filePath)
        const moved = yield* plain.store(instance({ ...a, study: "7.2", series: "7.2.1" }))
        assert.deepStrictEqual(moved.replaced, Option.some(first.filePath))
        // the earlier file and the study folder it leaves empty are gone
        assert.deepStrictEqual(yield* Effect.promise(() => listFiles(Path.join(dir, "files"))), [
          Path.join("7.2", "7.1.1.1.dcm")
        ])
        assert.isFalse(FsSync.existsSync(Path.join(dir, "files", "7.1")))
      })
    )
  )

  it.effect("a file changed since it was stored is left in place when its instance moves", () =>
    inStore((dir) =>
      Effect.gen(function* () {
        const plain = yield* PlainStore
        const first = yield* plain.store(instance(a))
        yield* Effect.promise(() => Fs.appendFile(first.filePath, "changed"))
        yield* plain.store(instance({ ...a, study: "7.2", series: "7.2.1" }))
        assert.deepStrictEqual(yield* Effect.promise(() => listFiles(Path.join(dir, "files"))), [
          Path.join("7.1", "7.1.1.1.dcm"),
          Path.join("7.2", "7.1.1.1.dcm")
        ])
      })
    )
  )

  it.effect("refuses a cut data set, UIDs the request did not name, a study folder that is a link", () =>
    inStore((dir) =>
      Effect.gen(function* () {
        const plain = yield* PlainStore
        const bytes = instance(a)
        const cut = yield* Effect.flip(plain.store(bytes.subarray(0, bytes.length - 10)))
        assert.strictEqual(cut._tag, "InvalidInstance")
        assert.match(cut.message, /truncated or malformed data set/)
        const chunkedCut = yield* Effect.flip(plain.store(pieces(bytes.subarray(0, bytes.length - 10), 64)))
        assert.match(chunkedCut.message, /truncated or malformed data set/)
        const wrongSop = yield* Effect.flip(plain.store(bytes, { sopInstanceUid: "7.1.1.9" }))
        assert.strictEqual(wrongSop.message, "SOP Instance UID is 7.1.1.1, the request said 7.1.1.9")
        const wrongClass = yield* Effect.flip(plain.store(bytes, { sopClassUid: "1.2.3" }))
        assert.match(
          wrongClass.message,
          /^SOP Class UID is 1\.2\.840\.10008\.5\.1\.4\.1\.1\.2, the request said 1\.2\.3/
        )
        assert.deepStrictEqual(yield* Effect.promise(() => listFiles(Path.join(dir, "files"))), [])
        const outside = Path.join(dir, "outside")
        yield* Effect.promise(() => Fs.mkdir(outside))
        yield* Effect.promise(() => Fs.symlink(outside, Path.join(dir, "files", "7.1")))
        const link = yield* Effect.flip(plain.store(bytes))
        assert.strictEqual(link._tag, "LinkInStore")
        assert.deepStrictEqual(FsSync.readdirSync(outside), [])
      })
    )
  )

  it.effect("refuses, for a C-STORE, a data set naming no SOP instance of its own (the meta alone has it)", () =>
    inStore((dir) =>
      Effect.gen(function* () {
        const plain = yield* PlainStore
        const bytes = withoutSopUids(instance(a))
        const options = { sopInstanceUid: "7.1.1.1", sopClassUid: "1.2.840.10008.5.1.4.1.1.2" }
        const refused = yield* Effect.flip(plain.store(bytes, options))
        assert.strictEqual(refused._tag, "InvalidInstance")
        assert.strictEqual(refused.message, "no SOP Class UID and SOP Instance UID in the data set")
        assert.deepStrictEqual(yield* Effect.promise(() => listFiles(Path.join(dir, "files"))), [])
      })
    )
  )

  it.effect("accepts big-endian and deflated data sets (corpus)", () =>
    inStore(() =>
      Effect.gen(function* () {
        const plain = yield* PlainStore
        for (const name of ["MR_small_bigendian.dcm", "image_dfl.dcm"]) {
          const file = corpusFile(name)
          if (file === undefined) continue
          const bytes = new Uint8Array(FsSync.readFileSync(file))
          for (const source of [bytes, pieces(bytes, 999)]) {
            const stored = yield* plain.store(source)
            assert.isTrue(FsSync.readFileSync(stored.filePath).equals(Buffer.from(bytes)), name)
            assert.isTrue(stored.filePath.startsWith(Path.dirname(Path.dirname(stored.filePath))))
          }
          // a deflated data set cut short is refused: it is walked inflated
          const cut = yield* Effect.flip(plain.store(bytes.subarray(0, (Part10.dataSetOffset(bytes) ?? 0) + 200)))
          assert.strictEqual(cut._tag, "InvalidInstance", name)
        }
      })
    )
  )
})
