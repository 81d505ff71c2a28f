/** Part 10 files: File Meta Information read and written, SOP identifiers, the whole corpus, DCMTK, hostile bytes. */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { deflateRawSync } from "node:zlib"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Result, Stream } from "effect"
import * as ApplicationEntity from "../src/association/ApplicationEntity.ts"
import * as DataSet from "../src/dimse/DataSet.ts"
import * as Part10 from "../src/dimse/Part10.ts"
import * as Scu from "../src/services/Scu.ts"

const IMPLICIT = "1.2.840.10008.1.2"
const EXPLICIT = "1.2.840.10008.1.2.1"
const DEFLATED = "1.2.840.10008.1.2.1.99"
const BIG = "1.2.840.10008.1.2.2"
const CT = "1.2.840.10008.5.1.4.1.1.2"

const corpus = process.env["NETDICOM_CORPUS"] ?? path.resolve(import.meta.dirname, "../../../../shared/corpus")
const haveCorpus = fs.existsSync(corpus)
if (!haveCorpus) console.warn(`Part10.test.ts: no corpus at ${corpus} (set NETDICOM_CORPUS): skipping corpus cases`)

const dcmdump = (args: ReadonlyArray<string>) =>
  spawnSync("dcmdump", args, { encoding: "latin1", env: { ...process.env, TCP_NODELAY: "1" } })
const haveDcmdump = dcmdump(["--version"]).status === 0
if (!haveDcmdump) console.warn("Part10.test.ts: dcmdump (DCMTK) is not installed: skipping DCMTK cases")

/** A string value as dcmdump prints it: `[...]`, or hex bytes when the file says UN (`-Un`: UIDs as numbers). */
const dumped = (file: string, tag: string): string | undefined => {
  const out = dcmdump(["-q", "-Un", "+L", "+E", "+st", "0008,0018", "+P", tag, file]).stdout
  const line = out.split("\n").find((l) => l.startsWith(`(${tag})`)) ?? ""
  const text = /\[([^\]]*)\]/.exec(line)?.[1]
  const hex = /^\(\S+\) UN ([0-9a-f\\]+)/.exec(line)?.[1]
  const value =
    text ?? (hex === undefined ? undefined : Buffer.from(hex.split("\\").join(""), "hex").toString("latin1"))
  return value?.replace(/[\0 ]+$/, "")
}

const dcmjs = createRequire(import.meta.url)("dcmjs") as {
  readonly data: {
    readonly DicomMessage: { readFile(buffer: ArrayBuffer): { meta: object; dict: object } }
    readonly DicomMetaDictionary: { naturalizeDataset(dict: object): Record<string, unknown> }
  }
}

const ok = <A, E>(r: Result.Result<A, E>): A => {
  if (Result.isFailure(r)) assert.fail(`expected success, got ${String((r.failure as { message?: string }).message)}`)
  return r.success
}

const err = <A, E>(r: Result.Result<A, E>): E => {
  if (Result.isSuccess(r)) assert.fail("expected a failure")
  return r.failure
}

const listFiles = (dir: string): ReadonlyArray<string> =>
  fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((d) => (d.isDirectory() ? listFiles(path.join(dir, d.name)) : [path.join(dir, d.name)]))
    .filter((f) => f.endsWith(".dcm"))
    .sort()

const corpusFiles = haveCorpus ? listFiles(corpus) : []
const read = (file: string) => new Uint8Array(fs.readFileSync(file))

/** Files that must fail without `sniff`, and how. */
const EXPECTED_FAILURES: Record<string, string> = {
  "no_meta.dcm": "NoFileMeta",
  "ExplVR_BigEndNoMeta.dcm": "NoFileMeta",
  "ExplVR_LitEndNoMeta.dcm": "NoFileMeta",
  "meta_missing_tsyntax.dcm": "MissingTransferSyntax",
  // neither (0002,0002)/(0002,0003) nor (0008,0016)/(0008,0018)
  "empty_charset_LEI.dcm": "MissingSopIdentifiers"
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-part10-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const metaInput = (transferSyntaxUid: string): Part10.MetaInput => ({
  transferSyntaxUid,
  sopClassUid: CT,
  sopInstanceUid: "1.2.826.0.1.3680043.2.1125.77.1", // odd length: NUL-padded
  implementationClassUid: "1.2.826.0.1.3680043.9.7433.1.1",
  implementationVersionName: "NETDICOM_010", // even
  sourceAeTitle: "STORESCU" // even
})

const dataSet = {
  SOPClassUID: CT,
  SOPInstanceUID: "1.2.826.0.1.3680043.2.1125.77.1",
  PatientName: "DOE^JOHN",
  PatientID: "",
  StudyDescription: "Head",
  ReferencedStudySequence: [{ ReferencedSOPClassUID: "1.2.840.10008.3.1.2.3.1", ReferencedSOPInstanceUID: "1.2.3" }]
}

describe.skipIf(!haveCorpus)("readMeta on the corpus", () => {
  it("every file gives a transfer syntax and SOP UIDs, or a typed error; none throws", () => {
    assert.isAbove(corpusFiles.length, 40)
    for (const file of corpusFiles) {
      const name = path.basename(file)
      const r = Part10.readMeta(read(file))
      const expected = EXPECTED_FAILURES[name]
      if (expected !== undefined) {
        assert.strictEqual(err(r)._tag, expected, name)
        continue
      }
      const meta = ok(r)
      assert.isFalse(meta.sniffed)
      assert.match(meta.transferSyntaxUid, /^[0-9.]+$/, name)
      assert.match(meta.sopClassUid, /^[0-9.]+$/, name)
      assert.match(meta.sopInstanceUid, /^[0-9.]+$/, name)
      if (haveDcmdump) {
        assert.strictEqual(meta.transferSyntaxUid, dumped(file, "0002,0010"), `${name} transfer syntax`)
        const media = dumped(file, "0002,0003") || undefined
        const own = dumped(file, "0008,0018") || undefined
        assert.strictEqual(meta.mediaStorageSopInstanceUid, media ?? own, `${name} media storage instance`)
        // the data set's own UID when it has one (they differ in badVR.dcm, rtplan.dcm, chrJapMulti.dcm...)
        const parses = Result.isSuccess(
          Part10.sopIdentifiers(read(file).subarray(meta.dataSetOffset), meta.transferSyntaxUid)
        )
        assert.strictEqual(meta.sopInstanceUid, parses ? own : media, `${name} instance`)
      }
    }
  })

  it("a meta and a data set that disagree: both UIDs are reported", () => {
    const meta = ok(Part10.readMeta(read(path.join(corpus, "badVR.dcm"))))
    assert.strictEqual(meta.mediaStorageSopInstanceUid, "1.2.999.999.99.9.9999.9999.20030818153516")
    assert.strictEqual(meta.sopInstanceUid, "1.9.999.999.99.9.9999.9999.20030818153516")
  })

  it("sniffing reads files without File Meta Information; garbage stays a typed error", () => {
    const little = ok(Part10.readMeta(read(path.join(corpus, "ExplVR_LitEndNoMeta.dcm")), { sniff: true }))
    assert.deepStrictEqual(little, {
      transferSyntaxUid: EXPLICIT,
      mediaStorageSopClassUid: "1.2.840.10008.5.1.4.1.1.481.8",
      mediaStorageSopInstanceUid: "1.2.333.4444.5.6.7.8",
      sopClassUid: "1.2.840.10008.5.1.4.1.1.481.8",
      sopInstanceUid: "1.2.333.4444.5.6.7.8",
      dataSetOffset: 0,
      sniffed: true
    })
    const big = ok(Part10.readMeta(read(path.join(corpus, "ExplVR_BigEndNoMeta.dcm")), { sniff: true }))
    assert.strictEqual(big.transferSyntaxUid, BIG)
    assert.strictEqual(big.sopInstanceUid, "1.2.333.4444.5.6.7.8")
    // no_meta.dcm is CT_small's data set with one stray leading byte: no layout parses it
    assert.strictEqual(
      err(Part10.readMeta(read(path.join(corpus, "no_meta.dcm")), { sniff: true }))._tag,
      "UnrecognizedDataSet"
    )
    // an implicit VR data set written without meta
    const ct = read(path.join(corpus, "CT_small.dcm"))
    const implicit = ok(
      DataSet.encode(ok(DataSet.decode(ct.subarray(ok(Part10.readMeta(ct)).dataSetOffset), EXPLICIT)), IMPLICIT)
    )
    const sniffed = ok(Part10.readMeta(implicit, { sniff: true }))
    assert.strictEqual(sniffed.transferSyntaxUid, IMPLICIT)
    assert.strictEqual(sniffed.sopInstanceUid, "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322")
    // a meta group at offset 0, without preamble
    const noPreamble = ct.subarray(132)
    assert.strictEqual(err(Part10.readMeta(noPreamble))._tag, "NoFileMeta")
    assert.strictEqual(
      ok(Part10.readMeta(noPreamble, { sniff: true })).dataSetOffset,
      ok(Part10.readMeta(ct)).dataSetOffset - 132
    )
  })

  it("sopIdentifiers matches (0008,0016)/(0008,0018) of each data set, from a prefix, deflated too", () => {
    let checked = 0
    for (const file of corpusFiles) {
      const bytes = read(file)
      const meta = Part10.readMeta(bytes)
      if (Result.isFailure(meta)) continue
      const body = bytes.subarray(meta.success.dataSetOffset)
      const r = Part10.sopIdentifiers(body, meta.success.transferSyntaxUid)
      if (Result.isFailure(r)) {
        // the data set lacks them, or (SC_rgb_jpeg.dcm) is implicit VR under an explicit transfer syntax
        assert.include(["MissingSopIdentifiers", "MalformedDataSet"], r.failure._tag, path.basename(file))
        continue
      }
      if (haveDcmdump) {
        assert.strictEqual(r.success.sopClassUid, dumped(file, "0008,0016"), path.basename(file))
        assert.strictEqual(r.success.sopInstanceUid, dumped(file, "0008,0018"), path.basename(file))
      }
      if (meta.success.transferSyntaxUid !== DEFLATED) {
        // a prefix reaching past (0008,0018) is enough; one byte less is truncated
        const scanned = ok(DataSet.scan(body, meta.success.transferSyntaxUid, { until: 0x00080018 }))
        const end = scanned.find((e) => e.tag === 0x00080018)!.end
        assert.deepStrictEqual(
          ok(Part10.sopIdentifiers(body.subarray(0, end), meta.success.transferSyntaxUid)),
          r.success
        )
        const short = err(Part10.sopIdentifiers(body.subarray(0, end - 1), meta.success.transferSyntaxUid))
        assert.strictEqual(short._tag, "Truncated", path.basename(file))
      }
      checked++
    }
    assert.isAbove(checked, 40)
    const dfl = read(path.join(corpus, "image_dfl.dcm"))
    const meta = ok(Part10.readMeta(dfl))
    assert.strictEqual(meta.transferSyntaxUid, DEFLATED)
    const prefix = dfl.subarray(meta.dataSetOffset, meta.dataSetOffset + 400)
    assert.strictEqual(
      ok(Part10.sopIdentifiers(prefix, DEFLATED)).sopInstanceUid,
      "1.3.6.1.4.1.5962.1.1.0.0.0.977067309.6001.0"
    )
  })

  it.effect("readFileMeta gives what readMeta gives, plus the file size", () =>
    Effect.gen(function* () {
      for (const file of corpusFiles) {
        const fromFile = yield* Effect.result(Part10.readFileMeta(file))
        const fromBytes = Part10.readMeta(read(file))
        if (Result.isSuccess(fromBytes)) {
          assert.deepStrictEqual(
            ok(fromFile),
            {
              ...fromBytes.success,
              fileSize: fs.statSync(file).size,
              modifiedMs: fs.statSync(file).mtimeMs,
              changedMs: fs.statSync(file).ctimeMs
            },
            file
          )
        } else assert.strictEqual(err(fromFile)._tag, fromBytes.failure._tag, file)
      }
      const absent = path.join(tmp, "absent.dcm")
      const failed = yield* Effect.flip(Part10.readFileMeta(absent))
      assert.strictEqual(failed._tag, "FileReadFailed")
      // the path once, not again at the end of Node's message ("..., open '<path>'")
      assert.strictEqual(failed.message, `cannot read ${absent}: ENOENT: no such file or directory`)
      const notSendable = yield* Effect.flip(Scu.describeFile(absent))
      assert.strictEqual(notSendable.message, `cannot read ${absent}: ENOENT: no such file or directory`)
    })
  )
})

describe("readSendableMeta", () => {
  it.effect("a file that is neither Part 10 nor a bare data set says both, with the tag its first bytes read as", () =>
    Effect.gen(function* () {
      // a bare data set one stray byte off (as the corpus's no_meta.dcm): (0008,0005) CS "ISO_IR 100" after a space
      const element = Buffer.from([0x08, 0x00, 0x05, 0x00, 0x43, 0x53, 0x0a, 0x00, ...Buffer.from("ISO_IR 100")])
      const file = path.join(tmp, "stray-byte.dcm")
      fs.writeFileSync(file, Buffer.concat([Buffer.from(" "), element, Buffer.alloc(200, 0x20)]))
      const refused = yield* Effect.flip(Part10.readSendableMeta(file))
      assert.strictEqual(refused._tag, "NoFileMeta")
      assert.strictEqual(
        refused.message,
        'no File Meta Information: no "DICM" after the 128-byte preamble, and it is not a bare data set either: ' +
          "the first tag reads as (0820,…) or (2008,…), not a group 0001-0008 a data set starts with"
      )
      // without the stray byte it reads as a bare data set, and what it lacks for one is said
      fs.writeFileSync(file, element)
      const bare = yield* Effect.flip(Part10.readSendableMeta(file))
      assert.include(bare.message, "not a bare data set either: Explicit VR Little Endian: no SOP identifiers")
    })
  )
})

describe("readFileMeta reads only what it needs", () => {
  it.effect("a 4 GiB sparse file: the meta is found from its first bytes", () =>
    Effect.gen(function* () {
      const file = path.join(tmp, "huge.dcm")
      const head = new Uint8Array([...Part10.writeMeta(metaInput(EXPLICIT)), ...ok(DataSet.encode(dataSet, EXPLICIT))])
      fs.writeFileSync(file, head)
      fs.truncateSync(file, 4 * 1024 ** 3)
      const started = Date.now()
      const info = yield* Part10.readFileMeta(file)
      assert.isBelow(Date.now() - started, 2000)
      assert.strictEqual(info.fileSize, 4 * 1024 ** 3)
      assert.strictEqual(info.dataSetOffset, Part10.writeMeta(metaInput(EXPLICIT)).length)
      assert.strictEqual(info.sopInstanceUid, dataSet.SOPInstanceUID)
    })
  )

  it.effect("a meta group longer than 64 KiB: reads on as the group length says", () =>
    Effect.gen(function* () {
      const base = Part10.writeMeta(metaInput(EXPLICIT))
      // (0002,0102) Private Information, OB, 100 000 bytes, inside the group length
      const privateInfo = new Uint8Array(12 + 100_000)
      privateInfo.set([0x02, 0x00, 0x02, 0x01, 0x4f, 0x42, 0, 0])
      new DataView(privateInfo.buffer).setUint32(8, 100_000, true)
      const file = new Uint8Array([...base, ...privateInfo, ...ok(DataSet.encode(dataSet, EXPLICIT))])
      const view = new DataView(file.buffer)
      view.setUint32(140, view.getUint32(140, true) + privateInfo.length, true)
      const where = path.join(tmp, "long-meta.dcm")
      fs.writeFileSync(where, file)
      const info = yield* Part10.readFileMeta(where)
      assert.strictEqual(info.dataSetOffset, base.length + privateInfo.length)
      assert.strictEqual(info.transferSyntaxUid, EXPLICIT)
      const small = yield* Effect.flip(Part10.readFileMeta(where, { maxMetaLength: 50_000 }))
      assert.strictEqual(small._tag, "MalformedFileMeta")
    })
  )

  it.effect("a data set whose (0008,0018) lies past 64 KiB: reads on for the data set's own UIDs", () =>
    Effect.gen(function* () {
      // (0008,0006) SQ of 100 016 bytes: one item holding (0040,A160) UT of 100 000 bytes
      const sequence = new Uint8Array(12 + 8 + 12 + 100_000)
      const view = new DataView(sequence.buffer)
      sequence.set([0x08, 0x00, 0x06, 0x00, 0x53, 0x51, 0, 0])
      view.setUint32(8, 8 + 12 + 100_000, true)
      sequence.set([0xfe, 0xff, 0x00, 0xe0], 12)
      view.setUint32(16, 12 + 100_000, true)
      sequence.set([0x40, 0x00, 0x60, 0xa1, 0x55, 0x54, 0, 0], 20)
      view.setUint32(28, 100_000, true)
      const tail = ok(DataSet.encode({ SOPClassUID: CT, SOPInstanceUID: "1.2.3.4.5.6" }, EXPLICIT))
      const where = path.join(tmp, "late-uids.dcm")
      fs.writeFileSync(where, new Uint8Array([...Part10.writeMeta(metaInput(EXPLICIT)), ...sequence, ...tail]))
      const info = yield* Part10.readFileMeta(where)
      assert.strictEqual(info.sopInstanceUid, "1.2.3.4.5.6")
      assert.strictEqual(info.mediaStorageSopInstanceUid, metaInput(EXPLICIT).sopInstanceUid)
      assert.deepStrictEqual(info, {
        ...ok(Part10.readMeta(read(where))),
        fileSize: fs.statSync(where).size,
        modifiedMs: fs.statSync(where).mtimeMs,
        changedMs: fs.statSync(where).ctimeMs
      })
      // a prefix that stops short: the meta's UIDs stand in
      const prefix = ok(Part10.readMeta(read(where).subarray(0, 65536)))
      assert.strictEqual(prefix.sopInstanceUid, metaInput(EXPLICIT).sopInstanceUid)
    })
  )

  it.effect("streamDataSet streams the bytes after the meta, unchanged", () =>
    Effect.gen(function* () {
      const body = ok(DataSet.encode(dataSet, IMPLICIT))
      const where = path.join(tmp, "stream.dcm")
      fs.writeFileSync(where, new Uint8Array([...Part10.writeMeta(metaInput(IMPLICIT)), ...body]))
      const info = yield* Part10.readFileMeta(where)
      const chunks = yield* Stream.runCollect(Part10.streamDataSet(where, info, { chunkSize: 16 }))
      assert.isAbove(chunks.length, 1)
      assert.deepStrictEqual(new Uint8Array(Buffer.concat([...chunks])), body)
    })
  )

  it.effect("loadDataSet: small data sets as bytes (synchronous read), large ones as streams, both unchanged", () =>
    Effect.gen(function* () {
      const meta = Part10.writeMeta(metaInput(EXPLICIT))
      const sizes = [0, 10, Part10.SYNC_READ_LIMIT, Part10.SYNC_READ_LIMIT + 2, Part10.WHOLE_READ_LIMIT + 2]
      for (const size of sizes) {
        const body = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff)
        const where = path.join(tmp, `load-${size}.dcm`)
        fs.writeFileSync(where, Buffer.concat([meta, body]))
        const info = yield* Part10.readFileMeta(where).pipe(
          Effect.orElseSucceed(() => ({ dataSetOffset: meta.length }))
        )
        const loaded = yield* Part10.loadDataSet(where, info)
        if (size <= Part10.WHOLE_READ_LIMIT) {
          assert.instanceOf(loaded, Uint8Array, `${size} bytes come whole`)
          assert.deepStrictEqual(loaded, body)
        } else {
          assert.notInstanceOf(loaded, Uint8Array, `${size} bytes are streamed`)
          const chunks = yield* Stream.runCollect(loaded as Stream.Stream<Uint8Array, Part10.FileReadFailed>)
          assert.isAbove(chunks.length, 1)
          assert.isTrue(chunks.every((c) => c.length <= Part10.STREAM_CHUNK))
          assert.deepStrictEqual(new Uint8Array(Buffer.concat([...chunks])), body)
        }
      }
      const missing = yield* Effect.flip(Part10.loadDataSet(path.join(tmp, "no-such.dcm"), { dataSetOffset: 0 }))
      assert.strictEqual(missing._tag, "FileReadFailed")
    })
  )

  it.effect("a FIFO or a directory given as a file is refused at once, never read (no blocked event loop)", () =>
    Effect.gen(function* () {
      const fifo = path.join(tmp, "fifo.dcm")
      if (!fs.existsSync(fifo)) spawnSync("mkfifo", [fifo])
      for (const where of [fifo, tmp]) {
        if (!fs.existsSync(where)) continue
        const meta = yield* Effect.flip(Part10.readFileMeta(where))
        assert.strictEqual(meta._tag, "FileReadFailed", where)
        const data = yield* Effect.flip(Part10.loadDataSet(where, { dataSetOffset: 0 }))
        assert.strictEqual(data._tag, "FileReadFailed", where)
      }
    })
  )

  it.effect("writeFile writes the meta then the data set unchanged, small or large; a failed one leaves no file", () =>
    Effect.gen(function* () {
      const meta = metaInput(EXPLICIT)
      for (const size of [0, 3000, Part10.SYNC_WRITE_LIMIT * 2 + 5]) {
        const body = Uint8Array.from({ length: size }, (_, i) => (i * 13) & 0xff)
        const chunks = Array.from({ length: Math.ceil(size / 16000) }, (_, k) =>
          body.subarray(k * 16000, (k + 1) * 16000)
        )
        const where = path.join(tmp, `written-${size}.dcm`)
        const n = yield* Part10.writeFile(where, meta, Stream.fromIterable(chunks))
        assert.strictEqual(n, size)
        assert.deepStrictEqual(
          new Uint8Array(fs.readFileSync(where)),
          new Uint8Array([...Part10.writeMeta(meta), ...body])
        )
      }
      const broken = path.join(tmp, "broken.dcm")
      const failing = Stream.concat(
        Stream.make(new Uint8Array(Part10.SYNC_WRITE_LIMIT + 10)),
        Stream.fail("source gone" as const)
      )
      const e = yield* Effect.flip(Part10.writeFile(broken, meta, failing))
      assert.strictEqual(e, "source gone")
      assert.isFalse(fs.existsSync(broken), "the partial file is removed")
      const denied = yield* Effect.flip(Part10.writeFile(path.join(tmp, "no-dir", "x.dcm"), meta, Stream.empty))
      assert.strictEqual((denied as Part10.FileWriteFailed)._tag, "FileWriteFailed")
      // Given fragments (no stream), the only failure is the write's (its type says so: no `unknown` to narrow).
      const inferred = Part10.writeFile(path.join(tmp, "no-dir", "y.dcm"), meta, [new Uint8Array(4)])
      const fromArray: Effect.Effect<number, Part10.FileWriteFailed> = inferred
      assert.strictEqual((yield* Effect.flip(fromArray))._tag, "FileWriteFailed")
    })
  )

  it.effect("loadDataSet refuses a file changed since its meta was read (truncated, grown, rewritten)", () =>
    Effect.gen(function* () {
      const meta = Part10.writeMeta(metaInput(EXPLICIT))
      const where = path.join(tmp, "changing.dcm")
      const write = (n: number, v: number) => fs.writeFileSync(where, Buffer.concat([meta, Buffer.alloc(n, v)]))
      for (const [size, change] of [
        [100, () => fs.truncateSync(where, meta.length + 10)],
        [100, () => fs.appendFileSync(where, Buffer.alloc(50))],
        [2 << 20, () => fs.truncateSync(where, meta.length + 10)],
        [100, () => fs.utimesSync(where, new Date(), new Date(Date.now() + 5000))]
      ] as const) {
        write(size, 1)
        const info = yield* Part10.readFileMeta(where)
        yield* Part10.loadDataSet(where, info) // unchanged: it loads
        change()
        const e = yield* Effect.flip(Part10.loadDataSet(where, info))
        assert.strictEqual(e._tag, "FileReadFailed")
        assert.match(e.message, /changed since/)
      }
    })
  )

  it.live("readAhead gives each file's data set in order, reading the next one meanwhile", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const meta = Part10.writeMeta(metaInput(EXPLICIT))
        const files = [0, 1, 2, 3].map((k) => {
          const where = path.join(tmp, `ahead-${k}.dcm`)
          fs.writeFileSync(where, Buffer.concat([meta, Buffer.alloc(100 + k, k)]))
          return { path: where, dataSetOffset: meta.length }
        })
        const take = yield* Part10.readAhead(files)
        const first = yield* take(0)
        assert.deepStrictEqual(first, new Uint8Array(100).fill(0))
        // take(0) started reading file 1: once read, removing the file does not stop it from being sent
        yield* Effect.sleep("50 millis")
        fs.rmSync(files[1]!.path)
        assert.deepStrictEqual(yield* take(1), new Uint8Array(101).fill(1))
        assert.deepStrictEqual(yield* take(3), new Uint8Array(103).fill(3))
        assert.deepStrictEqual(yield* take(2), new Uint8Array(102).fill(2))
        assert.strictEqual((yield* Effect.flip(take(9)))._tag, "FileReadFailed")
      })
    )
  )

  it.live("readAhead of described small files reads the next one on a later turn, and still refuses changed ones", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const meta = Part10.writeMeta(metaInput(EXPLICIT))
        const paths = [0, 1, 2, 3].map((k) => {
          const where = path.join(tmp, `ahead-small-${k}.dcm`)
          fs.writeFileSync(where, Buffer.concat([meta, Buffer.alloc(100 + k, k)]))
          return where
        })
        const infos = yield* Effect.forEach(paths, (p) =>
          Effect.map(Part10.readFileMeta(p), (m) => ({ ...m, path: p }))
        )
        const take = yield* Part10.readAhead(infos)
        assert.deepStrictEqual(yield* take(0), new Uint8Array(100).fill(0))
        // file 1 is read on a later turn of the event loop: once read, its removal changes nothing
        yield* Effect.sleep("50 millis")
        fs.rmSync(paths[1]!)
        assert.deepStrictEqual(yield* take(1), new Uint8Array(101).fill(1))
        // file 2's read was scheduled by take(1) but has not run yet: taken at once, it is read then
        fs.appendFileSync(paths[2]!, Buffer.alloc(2))
        const changed = yield* Effect.flip(take(2))
        assert.strictEqual(changed._tag, "FileReadFailed")
        assert.match(changed.message, /changed since/)
        assert.deepStrictEqual(yield* take(3), new Uint8Array(103).fill(3))
      })
    )
  )

  it.live("readAhead mixes small files (read on a later turn) and large ones (loaded by a fiber), in order", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const meta = Part10.writeMeta(metaInput(EXPLICIT))
        // file 1 is past SYNC_READ_LIMIT: take(0) starts its load in a fiber while file 0 is read synchronously
        const sizes = [100, Part10.SYNC_READ_LIMIT + 2, 102, Part10.SYNC_READ_LIMIT + 4]
        const paths = sizes.map((size, k) => {
          const where = path.join(tmp, `ahead-mixed-${k}.dcm`)
          fs.writeFileSync(where, Buffer.concat([meta, Buffer.alloc(size, k + 1)]))
          return where
        })
        const infos = yield* Effect.forEach(paths, (p) =>
          Effect.map(Part10.readFileMeta(p), (m) => ({ ...m, path: p }))
        )
        const take = yield* Part10.readAhead(infos)
        for (const [k, size] of sizes.entries()) {
          const loaded = yield* take(k)
          const bytes = loaded instanceof Uint8Array ? loaded : yield* Stream.mkUint8Array(loaded)
          assert.deepStrictEqual(bytes, new Uint8Array(size).fill(k + 1), `file ${k}`)
        }
      })
    )
  )
})

describe("writeMeta", () => {
  it("writes one byte per code point, its low 8 bits, and pads an odd count (characters past U+FFFF too)", () => {
    // "A", "É" (U+00C9), "😀" (U+1F600, two UTF-16 code units: one byte, 0x3D from 0xD83D), then the pad
    const meta = Part10.writeMeta({ ...metaInput(EXPLICIT), sourceAeTitle: "A\u00c9\u{1f600}" })
    assert.strictEqual(
      Buffer.from(meta.subarray(meta.length - 12)).toString("hex"),
      "02001600" + "4145" + "0400" + "41c93d20"
    )
    assert.strictEqual(new DataView(meta.buffer).getUint32(140, true), meta.length - 144)
    // An even count of code points from an odd count of code units: no pad, the element as long as its code points.
    const even = Part10.writeMeta({ ...metaInput(EXPLICIT), sourceAeTitle: "AB\u{1f600}\u{1f600}" })
    assert.strictEqual(
      Buffer.from(even.subarray(even.length - 12)).toString("hex"),
      "02001600" + "4145" + "0400" + "41423d3d"
    )
    assert.strictEqual(new DataView(even.buffer).getUint32(140, true), even.length - 144)
  })

  it("writes netdicom's Implementation Class UID and Version Name when the caller gives none", () => {
    // a storage handler writing what it receives need not look them up (a newcomer had to find the constant)
    const meta = Part10.writeMeta({ transferSyntaxUid: EXPLICIT, sopClassUid: CT, sopInstanceUid: "1.2.3.4" })
    const read = ok(Part10.readMeta(meta))
    assert.strictEqual(read.implementationClassUid, ApplicationEntity.IMPLEMENTATION_CLASS_UID)
    assert.strictEqual(read.implementationVersionName, ApplicationEntity.IMPLEMENTATION_VERSION_NAME)
    // a class UID of the caller's own is not paired with netdicom's version name
    const own = ok(
      Part10.readMeta(
        Part10.writeMeta({
          transferSyntaxUid: EXPLICIT,
          sopClassUid: CT,
          sopInstanceUid: "1.2.3.4",
          implementationClassUid: "1.2.826.0.1.3680043.9.7433.1.1"
        })
      )
    )
    assert.strictEqual(own.implementationClassUid, "1.2.826.0.1.3680043.9.7433.1.1")
    assert.isUndefined(own.implementationVersionName)
  })

  it("is read back by readMeta, byte layout as PS3.10 7.1 says", () => {
    const meta = Part10.writeMeta(metaInput(EXPLICIT))
    assert.deepStrictEqual(
      [...meta.subarray(0, 128)],
      Array.from({ length: 128 }, () => 0)
    )
    assert.strictEqual(Buffer.from(meta.subarray(128, 132)).toString("latin1"), "DICM")
    const groupLength = new DataView(meta.buffer).getUint32(140, true)
    assert.strictEqual(groupLength, meta.length - 144)
    assert.strictEqual(Buffer.from(meta.subarray(144, 158)).toString("hex"), "020001004f4200000200000000" + "01")
    const text = Buffer.from(meta).toString("latin1")
    assert.include(text, "1.2.826.0.1.3680043.2.1125.77.1\0") // odd UID padded with NUL
    assert.include(text, "NETDICOM_010")
    assert.deepStrictEqual(ok(Part10.readMeta(meta)), {
      transferSyntaxUid: EXPLICIT,
      mediaStorageSopClassUid: CT,
      mediaStorageSopInstanceUid: "1.2.826.0.1.3680043.2.1125.77.1",
      sopClassUid: CT,
      sopInstanceUid: "1.2.826.0.1.3680043.2.1125.77.1",
      implementationClassUid: "1.2.826.0.1.3680043.9.7433.1.1",
      implementationVersionName: "NETDICOM_010",
      sourceAeTitle: "STORESCU",
      dataSetOffset: meta.length,
      sniffed: false,
      // no data set follows, so the SOP UIDs are the meta's
      sopFromMeta: true
    })
    const minimal = Part10.writeMeta({
      transferSyntaxUid: IMPLICIT,
      sopClassUid: CT,
      sopInstanceUid: "1.2",
      implementationClassUid: "1.2.3"
    })
    const read = ok(Part10.readMeta(minimal))
    assert.isUndefined(read.implementationVersionName)
    assert.isUndefined(read.sourceAeTitle)
    assert.strictEqual(
      Buffer.from(Part10.writeMeta({ ...metaInput(IMPLICIT), sourceAeTitle: "ODD" }))
        .toString("latin1")
        .slice(-4),
      "ODD "
    )
  })

  for (const ts of [IMPLICIT, EXPLICIT, BIG, DEFLATED]) {
    it(`writeMeta + a data set in ${ts} is a file dcmjs reads`, () => {
      const file = new Uint8Array([...Part10.writeMeta(metaInput(ts)), ...ok(DataSet.encode(dataSet, ts))])
      const { meta, dict } = dcmjs.data.DicomMessage.readFile(file.slice().buffer)
      const m = dcmjs.data.DicomMetaDictionary.naturalizeDataset(meta)
      const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict)
      assert.strictEqual(m["TransferSyntaxUID"], ts)
      assert.strictEqual(m["MediaStorageSOPInstanceUID"], dataSet.SOPInstanceUID)
      assert.strictEqual(ds["StudyDescription"], "Head")
      assert.strictEqual(
        (ds["ReferencedStudySequence"] as ReadonlyArray<Record<string, unknown>>)[0]!["ReferencedSOPInstanceUID"],
        "1.2.3"
      )
    })

    it.skipIf(!haveDcmdump)(`dcmdump parses writeMeta + a data set in ${ts}`, () => {
      const where = path.join(tmp, `written-${ts}.dcm`)
      fs.writeFileSync(where, new Uint8Array([...Part10.writeMeta(metaInput(ts)), ...ok(DataSet.encode(dataSet, ts))]))
      const r = dcmdump(["-Un", where])
      assert.strictEqual(r.status, 0, r.stderr)
      assert.notMatch(r.stderr, /^[EWF]:/m, r.stderr)
      assert.include(r.stdout, `(0002,0010) UI [${ts}]`)
      assert.include(r.stdout, "(0010,0010) PN [DOE^JOHN]")
      assert.include(r.stdout, "(0010,0020) LO (no value available)")
      assert.include(r.stdout, "(0008,1155) UI [1.2.3]")
      assert.match(r.stdout, /\(0002,0000\) UL \d+/)
    })
  }

  it.skipIf(!haveCorpus || !haveDcmdump)("a corpus data set behind a new meta stays byte-exact and parses", () => {
    for (const name of ["MR_small_implicit.dcm", "MR_small_bigendian.dcm", "image_dfl.dcm", "JPEG2000.dcm"]) {
      const original = read(path.join(corpus, name))
      const meta = ok(Part10.readMeta(original))
      const body = original.subarray(meta.dataSetOffset)
      const rewritten = new Uint8Array([
        ...Part10.writeMeta({ ...meta, implementationClassUid: "1.2.826.0.1.3680043.9.7433.1.1" }),
        ...body
      ])
      const again = ok(Part10.readMeta(rewritten))
      assert.deepStrictEqual(rewritten.subarray(again.dataSetOffset), body, name)
      const where = path.join(tmp, `rewritten-${name}`)
      fs.writeFileSync(where, rewritten)
      const r = dcmdump(["-q", where])
      assert.strictEqual(r.status, 0, `${name}: ${r.stderr}`)
    }
  })
})

describe("hostile and broken meta groups give typed errors", () => {
  const withMeta = (group: Uint8Array) => new Uint8Array([...new Uint8Array(128), 0x44, 0x49, 0x43, 0x4d, ...group])
  const good = Part10.writeMeta(metaInput(EXPLICIT))
  const patched = (at: number, value: number, size: 2 | 4 = 4) => {
    const copy = good.slice()
    const view = new DataView(copy.buffer)
    if (size === 4) view.setUint32(at, value, true)
    else view.setUint16(at, value, true)
    return copy
  }

  it("group length 0xffffffff", () => {
    assert.strictEqual(err(Part10.readMeta(patched(140, 0xffffffff)))._tag, "MalformedFileMeta")
  })

  it("group length past the end of the bytes: truncated, with what is needed", () => {
    const e = err(Part10.readMeta(patched(140, 10_000)))
    assert.strictEqual(e._tag, "Truncated")
    assert.strictEqual((e as Part10.Truncated).needed, 144 + 10_000)
  })

  it("an element length beyond its group, or beyond the bytes", () => {
    // (0002,0002) UI length at offset 158 + 6
    assert.strictEqual(err(Part10.readMeta(patched(164, 0xfff0, 2)))._tag, "MalformedFileMeta")
    const noGroupLength = withMeta(Uint8Array.from([0x02, 0x00, 0x10, 0x00, 0x55, 0x49, 0xf0, 0xff, 0x31, 0x2e]))
    assert.strictEqual(err(Part10.readMeta(noGroupLength))._tag, "Truncated")
    const ob = withMeta(Uint8Array.from([0x02, 0x00, 0x01, 0x00, 0x4f, 0x42, 0, 0, 0xff, 0xff, 0xff, 0xff]))
    assert.strictEqual(err(Part10.readMeta(ob))._tag, "MalformedFileMeta")
  })

  it("short, empty and odd inputs", () => {
    assert.strictEqual(err(Part10.readMeta(new Uint8Array(0)))._tag, "NoFileMeta")
    assert.strictEqual(err(Part10.readMeta(new Uint8Array(0), { sniff: true }))._tag, "UnrecognizedDataSet")
    assert.strictEqual(err(Part10.readMeta(withMeta(new Uint8Array(0))))._tag, "Truncated")
    assert.strictEqual(
      err(Part10.readMeta(withMeta(Uint8Array.from([0x02, 0x00, 0x00, 0x00, 0x55, 0x4c, 2, 0, 0, 0]))))._tag,
      "MalformedFileMeta"
    )
    assert.strictEqual(
      err(Part10.readMeta(withMeta(Uint8Array.from([0x08, 0x00, 0x05, 0x00, 0x43, 0x53, 0, 0]))))._tag,
      "NoFileMeta"
    )
    // a group length that covers a data set element
    assert.strictEqual(
      err(Part10.readMeta(new Uint8Array([...patched(140, good.length - 144 + 8), 8, 0, 0x16, 0, 0x55, 0x49, 0, 0])))
        ._tag,
      "MalformedFileMeta"
    )
    assert.strictEqual(err(Part10.sopIdentifiers(new Uint8Array(4), "1.2.3.4"))._tag, "UnsupportedTransferSyntax")
  })

  it("random damage never throws", () => {
    const file = new Uint8Array([...good, ...ok(DataSet.encode(dataSet, EXPLICIT))])
    let seed = 7
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    for (let i = 0; i < 2000; i++) {
      const damaged = file.slice(0, file.length - random(64))
      for (let k = 0; k < 1 + random(4); k++) damaged[128 + random(damaged.length - 128)] = random(256)
      for (const options of [undefined, { sniff: true }]) {
        const r = Part10.readMeta(damaged, options)
        if (Result.isFailure(r)) assert.isString(r.failure._tag)
      }
      const body = damaged.subarray(good.length)
      for (const ts of [IMPLICIT, EXPLICIT, BIG, DEFLATED]) {
        const r = Part10.sopIdentifiers(
          ts === DEFLATED ? new Uint8Array(deflateRawSync(body)).subarray(0, random(200)) : body,
          ts
        )
        if (Result.isFailure(r)) assert.isString(r.failure._tag)
      }
    }
  })
})
