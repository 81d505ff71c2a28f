/**
 * The `netdicom` command end to end, run as a child process against its own servers on 127.0.0.1 (ports the OS
 * picked): C-ECHO, C-STORE of a folder with unreadable files among the good ones, bit-exact storage under
 * <study>/<instance>.dcm, C-FIND as DICOM JSON, C-GET and C-MOVE over the Q/R SCP, bad invocations, an
 * unreachable peer, Ctrl-C, and the demo.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import * as Sqlite from "node:sqlite"
import { corpusFile, freePort, part10Dataset, repoRoot, run } from "../../../tests/support/peers.ts"
import { Uids } from "@netdicom/wire"
import { ApplicationEntity, Part10, Scp } from "@netdicom/net"
import { Deferred, Effect, Exit, Fiber, Layer, References, Result, Scope } from "effect"
import {
  BIN,
  CT,
  EXPLICIT_LE,
  IMPLICIT_LE,
  MR,
  filesUnder,
  lines,
  netdicom,
  part10,
  startServer,
  testFixtures,
  writeFile,
  type Server
} from "./support.ts"

const { temp, serve } = testFixtures("cli")

const STUDY_A = "1.2.826.0.1.3680043.10.1478.99.1"
const STUDY_B = "1.2.826.0.1.3680043.10.1478.99.2"

/** Three good files (two studies, two transfer syntaxes), one not DICOM, one truncated. */
const sampleFolder = (): { dir: string; good: Record<string, Uint8Array> } => {
  const dir = temp("src")
  const a1 = part10({
    patientId: "P1",
    patientName: "DOE^JOHN",
    study: STUDY_A,
    series: `${STUDY_A}.1`,
    sop: `${STUDY_A}.1.1`
  })
  const a2 = part10({
    patientId: "P1",
    patientName: "DOE^JOHN",
    study: STUDY_A,
    series: `${STUDY_A}.1`,
    sop: `${STUDY_A}.1.2`,
    transferSyntax: IMPLICIT_LE
  })
  const b1 = part10({
    patientId: "P2",
    patientName: "ROE^JANE",
    study: STUDY_B,
    series: `${STUDY_B}.1`,
    sop: `${STUDY_B}.1.1`,
    sopClass: MR
  })
  writeFile(dir, "a1.dcm", a1)
  writeFile(path.join(dir, "nested"), "a2.dcm", a2)
  writeFile(path.join(dir, "nested", "deeper"), "b1.dcm", b1)
  writeFile(dir, "notes.txt", "this is not a DICOM file\n")
  writeFile(dir, "cut.dcm", b1.subarray(0, b1.length - 20))
  return { dir, good: { [`${STUDY_A}.1.1`]: a1, [`${STUDY_A}.1.2`]: a2, [`${STUDY_B}.1.1`]: b1 } }
}

describe("netdicom echo and store against netdicom storescp", () => {
  let scp: Server
  let out: string
  beforeAll(async () => {
    out = temp("storescp")
    scp = await serve(["storescp", "0", "--out", out, "--aet", "STORE-SCP"])
  })

  it("C-ECHO succeeds, repeated, and exits 0", async () => {
    const r = await netdicom(["echo", "127.0.0.1", String(scp.port), "--aec", "STORE-SCP", "--repeat", "3"])
    assert.strictEqual(r.code, 0, r.stderr)
    const echoes = lines(r.stdout).filter((l) => l.includes("Success (0x0000)"))
    assert.strictEqual(echoes.length, 3, r.stdout)
  })

  it("stores a folder: unreadable files fail with a reason and do not stop the batch; exit 1", async () => {
    const { dir, good } = sampleFolder()
    const r = await netdicom(["store", "127.0.0.1", String(scp.port), dir])
    assert.strictEqual(r.code, 1, r.stdout + r.stderr)
    assert.include(r.stdout, "3 sent, 0 warnings, 2 failed")
    const failures = lines(r.stderr).filter((l) => l.startsWith("FAILED "))
    assert.strictEqual(failures.length, 2, r.stderr)
    assert.match(r.stderr, /FAILED .*notes\.txt: no File Meta Information/)
    assert.match(r.stderr, /FAILED .*cut\.dcm: truncated/)
    // stored as <study>/<sop>.dcm, the data set bytes exactly as in the sent file
    for (const [sop, bytes] of Object.entries(good)) {
      const study = sop.startsWith(STUDY_A) ? STUDY_A : STUDY_B
      const stored = path.join(out, study, `${sop}.dcm`)
      assert.isTrue(fs.existsSync(stored), `${stored} missing; have ${filesUnder(out).join(", ")}`)
      const storedBytes = new Uint8Array(fs.readFileSync(stored))
      assert.deepStrictEqual(part10Dataset(storedBytes), part10Dataset(bytes))
    }
  })

  it("--associations 3 spreads a batch over three associations; every file arrives", async () => {
    const dir = temp("parallel")
    const study = "1.2.826.0.1.3680043.10.1478.96.1"
    for (let i = 1; i <= 7; i++) {
      writeFile(
        dir,
        `p${i}.dcm`,
        part10({ patientId: "PAR", patientName: "PAR^ALLEL", study, series: `${study}.1`, sop: `${study}.1.${i}` })
      )
    }
    const r = await netdicom(["store", "127.0.0.1", String(scp.port), dir, "--associations", "3"])
    assert.strictEqual(r.code, 0, r.stdout + r.stderr)
    assert.include(r.stdout, "7 sent, 0 warnings, 0 failed")
    assert.strictEqual(filesUnder(path.join(out, study)).length, 7)
  })

  it("a bare data set (no preamble, DICM or meta) is sent as storescu sends it, its transfer syntax guessed", async () => {
    const dir = temp("bare")
    const study = "1.2.826.0.1.3680043.10.1478.96.1"
    const bare: Record<string, { bytes: Uint8Array; syntax: string }> = {}
    for (const [n, syntax] of [
      [1, IMPLICIT_LE],
      [2, EXPLICIT_LE]
    ] as const) {
      const sop = `${study}.1.${n}`
      const file = part10({
        patientId: "BARE",
        patientName: "BARE^DATA",
        study,
        series: `${study}.1`,
        sop,
        transferSyntax: syntax
      })
      const offset = Result.getOrThrow(Part10.readMeta(file)).dataSetOffset
      bare[sop] = { bytes: file.subarray(offset), syntax }
      writeFile(dir, `${n}.raw`, file.subarray(offset))
    }
    const r = await netdicom(["store", "127.0.0.1", String(scp.port), dir])
    assert.strictEqual(r.code, 0, r.stdout + r.stderr)
    assert.include(r.stdout, "2 sent, 0 warnings, 0 failed")
    for (const [sop, { bytes, syntax }] of Object.entries(bare)) {
      const stored = new Uint8Array(fs.readFileSync(path.join(out, study, `${sop}.dcm`)))
      const meta = Result.getOrThrow(Part10.readMeta(stored))
      assert.strictEqual(meta.transferSyntaxUid, syntax)
      assert.deepStrictEqual(stored.subarray(meta.dataSetOffset), bytes)
    }
  })

  it("a refused file whose data set names no SOP instance says the request named its meta's UIDs", async () => {
    const dir = temp("no-sop-uids")
    const study = "1.2.826.0.1.3680043.10.1478.96.7"
    const spec = { patientId: "NOSOP", patientName: "NO^SOP", study, series: `${study}.1`, sop: `${study}.1.1` }
    writeFile(dir, "no-sop.dcm", part10({ ...spec, noSopUidsInDataSet: true }))
    writeFile(dir, "good.dcm", part10({ ...spec, sop: `${study}.1.2` }))
    const r = await netdicom(["store", "127.0.0.1", String(scp.port), dir])
    assert.strictEqual(r.code, 1, r.stdout + r.stderr)
    assert.include(r.stdout, "1 sent, 0 warnings, 1 failed")
    const failed = lines(r.stderr).filter((l) => l.startsWith("FAILED "))
    assert.strictEqual(failed.length, 1, r.stderr)
    // storescp refuses it, saying what the data set lacks (it stored it, answering Success, before)
    assert.include(failed[0]!, "no-sop.dcm: C-STORE: Error: cannot understand (0xC000): ")
    assert.include(failed[0]!, "no SOP Class UID and SOP Instance UID in the data set")
    // and the client says what it sent instead, for peers that refuse without a comment (DCMTK's storescp, Orthanc)
    assert.include(failed[0]!, "(the data set names no SOP Class/Instance UID, (0008,0016)/(0008,0018): the request")
    assert.isFalse(fs.existsSync(path.join(out, study, `${study}.1.1.dcm`)))
  })

  it("an instance sent again replaces its file; sent again under another study, it moves there", async () => {
    const [first, second] = ["1.2.826.0.1.3680043.10.1478.95.1", "1.2.826.0.1.3680043.10.1478.95.2"]
    const sop = `${first}.1.1`
    const send = async (study: string, patientName: string) => {
      const dir = temp("again")
      writeFile(dir, "x.dcm", part10({ patientId: "AG", patientName, study, series: `${study}.1`, sop }))
      const r = await netdicom(["store", "127.0.0.1", String(scp.port), dir])
      assert.strictEqual(r.code, 0, r.stdout + r.stderr)
    }
    await send(first, "AGAIN^ONE")
    await send(first, "AGAIN^TWO")
    assert.deepStrictEqual(filesUnder(path.join(out, first)), [`${sop}.dcm`])
    assert.isTrue(fs.readFileSync(path.join(out, first, `${sop}.dcm`)).includes("AGAIN^TWO"))
    await send(second, "AGAIN^THREE")
    assert.isFalse(fs.existsSync(path.join(out, first)), filesUnder(out).join(", "))
    assert.isTrue(fs.existsSync(path.join(out, second, `${sop}.dcm`)))
    assert.match(scp.output(), new RegExp(`${sop.replaceAll(".", "\\.")} received again`))
    // the move is said, with both files: the study folder it left and the one it went to
    const moved = `${sop} received again under another study: stored as ${path.join(out, second, `${sop}.dcm`)}, replacing ${path.join(out, first, `${sop}.dcm`)}`
    assert.include(scp.output(), moved)
  })

  it("the global --log-level sets what is logged: debug shows the PDUs, warn quiets a server", async () => {
    const r = await netdicom(["echo", "127.0.0.1", String(scp.port), "--aec", "STORE-SCP", "--log-level", "debug"])
    assert.strictEqual(r.code, 0, r.stderr)
    assert.match(r.stderr, /DEBUG .*sent A-ASSOCIATE-RQ/, r.stderr)
    const quiet = await serve(["storescp", "0", "--out", temp("quiet"), "--log-level", "warn"])
    const echoed = await netdicom(["echo", "127.0.0.1", String(quiet.port)])
    assert.strictEqual(echoed.code, 0, echoed.stderr)
    const loud = await serve(["storescp", "0", "--out", temp("loud")])
    assert.strictEqual((await netdicom(["echo", "127.0.0.1", String(loud.port)])).code, 0)
    for (let i = 0; i < 50 && !/association released/.test(loud.output()); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.match(loud.output(), /INFO .*association accepted/, loud.output())
    assert.notMatch(quiet.output(), /INFO/, quiet.output())
  })

  it("--window 4: the window is negotiated (storescp grants up to 8), C-STOREs overlap, every file arrives; less granted is said", async () => {
    const dir = temp("window")
    const study = "1.2.826.0.1.3680043.10.1478.96.2"
    for (let i = 1; i <= 12; i++) {
      writeFile(
        dir,
        `w${i}.dcm`,
        part10({ patientId: "WIN", patientName: "WIN^DOW", study, series: `${study}.1`, sop: `${study}.1.${i}` })
      )
    }
    const r = await netdicom(["store", "127.0.0.1", String(scp.port), dir, "--window", "4", "--debug"])
    assert.strictEqual(r.code, 0, r.stdout + r.stderr)
    assert.include(r.stdout, "12 sent, 0 warnings, 0 failed")
    assert.strictEqual(filesUnder(path.join(out, study)).length, 12)
    const log = r.stdout + r.stderr
    assert.match(
      log,
      /received A-ASSOCIATE-AC.*async-window=4\/4|received A-ASSOCIATE-AC.*async-window=4\/\d/,
      log.slice(0, 3000)
    )
    // a second C-STORE-RQ goes out before the first C-STORE-RSP comes back
    const events = lines(log).filter((l) => /send C-STORE-RQ|received C-STORE-RSP/.test(l))
    const firstAnswer = events.findIndex((l) => l.includes("received C-STORE-RSP"))
    assert.isAbove(firstAnswer, 1, events.slice(0, 6).join("\n"))
    // granted all it asked: nothing said about the window
    assert.notInclude(r.stderr, "the peer granted")
    // asked more than storescp's 8, or of a peer granting none (qrscp): said once, on stderr
    const more = await netdicom(["store", "127.0.0.1", String(scp.port), dir, "--window", "16", "--associations", "2"])
    assert.strictEqual(more.code, 0, more.stdout + more.stderr)
    assert.deepStrictEqual(
      lines(more.stderr).filter((l) => l.includes("granted")),
      ["--window 16: the peer granted 8"]
    )
    const qr = await serve(["qrscp", "0", "--store", temp("window-qr"), "--db", ":memory:"])
    const none = await netdicom(["store", "127.0.0.1", String(qr.port), dir, "--window", "4"])
    assert.strictEqual(none.code, 0, none.stdout + none.stderr)
    assert.include(none.stderr, "--window 4: the peer granted 1 (no window: one C-STORE at a time)")
    const bad = await netdicom(["store", "127.0.0.1", String(scp.port), dir, "--window", "0"])
    assert.strictEqual(bad.code, 1)
    assert.match(bad.stderr, /--window must be 1-65535/)
  })

  it("a folder of good files only: N sent, exit 0", async () => {
    const dir = temp("good")
    writeFile(
      dir,
      "x.dcm",
      part10({ patientId: "P9", patientName: "X^Y", study: "1.2.3.9", series: "1.2.3.9.1", sop: "1.2.3.9.1.1" })
    )
    const r = await netdicom(["store", "127.0.0.1", String(scp.port), dir, "--aec", "STORE-SCP"])
    assert.strictEqual(r.code, 0, r.stdout + r.stderr)
    assert.include(r.stdout, "1 sent, 0 warnings, 0 failed")
  })

  it("more than 128 presentation contexts needed: sent over one association per part, by SOP class", async () => {
    // 65 storage SOP classes in two transfer syntaxes each: 130 contexts, two more than an association holds
    const dir = temp("many")
    const classes = Uids.STORAGE_SOP_CLASSES.slice(0, 65)
    for (const [i, sopClass] of classes.entries()) {
      for (const [j, transferSyntax] of [EXPLICIT_LE, IMPLICIT_LE].entries()) {
        const n = 2 * i + j + 1
        writeFile(
          dir,
          `${n}.dcm`,
          part10({
            patientId: "M",
            patientName: "M^M",
            study: "1.2.3.97",
            series: "1.2.3.97.1",
            sop: `1.2.826.0.1.3680043.10.1478.97.${n}`,
            sopClass,
            modality: "OT",
            transferSyntax
          })
        )
      }
    }
    const r = await netdicom(["store", "127.0.0.1", String(scp.port), dir])
    assert.strictEqual(r.code, 0, r.stderr)
    assert.include(r.stdout, "130 sent, 0 warnings, 0 failed")
    assert.strictEqual(filesUnder(path.join(out, "1.2.3.97")).length, 130)
  })

  it("real files from the corpus arrive bit-exact (data set after the meta header)", async (ctx) => {
    const files = ["CT_small.dcm", "MR_small_jpeg_ls_lossless.dcm", "SC_rgb_rle.dcm", "image_dfl.dcm"]
      .map(corpusFile)
      .filter((f): f is string => f !== undefined)
    if (files.length === 0) {
      console.warn("cli.test.ts: corpus not found: skipping the corpus store test")
      return ctx.skip()
    }
    const r = await netdicom(["store", "127.0.0.1", String(scp.port), ...files])
    assert.strictEqual(r.code, 0, r.stdout + r.stderr)
    assert.include(r.stdout, `${files.length} sent, 0 warnings, 0 failed`)
    const stored = filesUnder(out).map((f) => new Uint8Array(fs.readFileSync(path.join(out, f))))
    for (const file of files) {
      const sent = Buffer.from(part10Dataset(new Uint8Array(fs.readFileSync(file)))!)
      // an odd-length (deflated) data set travels with one trailing NUL (PS3.5 A.5, 7.1: values are even)
      const expected = sent.length % 2 === 1 ? Buffer.concat([sent, Buffer.from([0])]) : sent
      assert.isTrue(
        stored.some((s) => Buffer.from(part10Dataset(s) ?? []).equals(expected)),
        `${file}: no stored file has its data set bytes`
      )
    }
  })

  it("the corpus's truncated files fail with a reason", async (ctx) => {
    const truncated = corpusFile("MR_truncated.dcm")
    if (truncated === undefined) return ctx.skip()
    const r = await netdicom(["store", "127.0.0.1", String(scp.port), truncated])
    assert.strictEqual(r.code, 1)
    assert.match(r.stderr, /FAILED .*MR_truncated\.dcm: truncated/)
    assert.include(r.stdout, "0 sent, 0 warnings, 1 failed")
  })

  it("a truncated data set from a client that does not check is refused by storescp (0xC000), nothing stored", async (ctx) => {
    const truncated = corpusFile("MR_truncated.dcm")
    if (truncated === undefined) return ctx.skip()
    const before = filesUnder(out)
    // Scu.storeFile (and so examples/store-file.ts) refuses such a file before sending it: this client sends it as is
    const client = path.join(repoRoot, "packages", "cli", "test", "storeUnchecked.ts")
    const r = await run(process.execPath, [client, "127.0.0.1", String(scp.port), "STORE-SCP", truncated], {
      cwd: repoRoot,
      timeoutMs: 30_000
    })
    assert.match(r.stdout, /status 0xc000/, r.stdout + r.stderr)
    assert.deepStrictEqual(filesUnder(out), before)
  })
})

describe("netdicom find, get and move against netdicom qrscp", () => {
  let qr: Server
  let dest: Server
  let destOut: string
  let store: string
  // the port `move --listen` takes the instances on, as the archive knows it (title MOVER)
  let moverPort: number
  let good: Record<string, Uint8Array>
  beforeAll(async () => {
    destOut = temp("dest")
    dest = await serve(["storescp", "0", "--out", destOut, "--aet", "DEST"])
    store = temp("archive")
    moverPort = await freePort()
    qr = await serve([
      "qrscp",
      "0",
      "--store",
      store,
      "--aet",
      "QRSCP",
      "--peer",
      `DEST=127.0.0.1:${dest.port}`,
      "--peer",
      `MOVER=127.0.0.1:${moverPort}`
    ])
    const sample = sampleFolder()
    const dir = sample.dir
    good = sample.good
    const r = await netdicom(["store", "127.0.0.1", String(qr.port), dir, "--aec", "QRSCP"])
    assert.include(r.stdout, "3 sent, 0 warnings, 2 failed")
  })

  it("C-FIND study root prints one DICOM JSON line per match", async () => {
    const r = await netdicom([
      "find",
      "127.0.0.1",
      String(qr.port),
      "--aec",
      "QRSCP",
      "-k",
      "PatientName=DOE*",
      "-k",
      "0010,0020",
      "-k",
      "StudyDescription"
    ])
    assert.strictEqual(r.code, 0, r.stderr)
    const matches = lines(r.stdout).map((l) => JSON.parse(l) as Record<string, { vr: string; Value?: Array<unknown> }>)
    assert.strictEqual(matches.length, 1, r.stdout)
    const m = matches[0]!
    assert.deepStrictEqual(m["00100010"], { vr: "PN", Value: [{ Alphabetic: "DOE^JOHN" }] })
    assert.deepStrictEqual(m["00100020"], { vr: "LO", Value: ["P1"] })
    assert.deepStrictEqual(m["0020000D"], { vr: "UI", Value: [STUDY_A] })
    assert.deepStrictEqual(m["00080052"], { vr: "CS", Value: ["STUDY"] })
    assert.include(r.stderr, "1 match")
  })

  it("a key of several values (backslash between them) matches each, however long together; get takes them all", async () => {
    // two 32-character UIDs: 65 with the backslash, past UI's 64, where dcmjs used to cut the key after the first
    const both = `StudyInstanceUID=${STUDY_A}\\${STUDY_B}`
    const found = await netdicom(["find", "127.0.0.1", String(qr.port), "--aec", "QRSCP", "-k", both])
    assert.strictEqual(found.code, 0, found.stderr)
    const studies = lines(found.stdout).map(
      (l) => (JSON.parse(l) as Record<string, { Value: Array<string> }>)["0020000D"]!
    )
    assert.sameMembers(
      studies.map((v) => v.Value[0]),
      [STUDY_A, STUDY_B]
    )
    const out = temp("get-both")
    const got = await netdicom(["get", "127.0.0.1", String(qr.port), "--aec", "QRSCP", "-k", both, "--out", out])
    assert.strictEqual(got.code, 0, got.stdout + got.stderr)
    assert.include(got.stdout, "3 completed, 0 warnings, 0 failed")
  })

  it("C-FIND patient root and a lower level", async () => {
    const patients = await netdicom([
      "find",
      "127.0.0.1",
      String(qr.port),
      "--model",
      "patient",
      "-k",
      "PatientID",
      "-k",
      "PatientName"
    ])
    assert.strictEqual(patients.code, 0, patients.stderr)
    const ids = lines(patients.stdout).map(
      (l) => (JSON.parse(l) as Record<string, { Value: Array<string> }>)["00100020"]!.Value[0]
    )
    assert.sameMembers(ids, ["P1", "P2"])
    const images = await netdicom([
      "find",
      "127.0.0.1",
      String(qr.port),
      "--level",
      "image",
      "-k",
      `StudyInstanceUID=${STUDY_A}`,
      "-k",
      `SeriesInstanceUID=${STUDY_A}.1`
    ])
    assert.strictEqual(images.code, 0, images.stderr)
    const sops = lines(images.stdout).map(
      (l) => (JSON.parse(l) as Record<string, { Value: Array<string> }>)["00080018"]!.Value[0]
    )
    assert.sameMembers(sops, [`${STUDY_A}.1.1`, `${STUDY_A}.1.2`])
  })

  it("a bad key or level is one line and exit 1", async () => {
    const r = await netdicom(["find", "127.0.0.1", String(qr.port), "-k", "NoSuchKeyword=1"])
    assert.strictEqual(r.code, 1)
    assert.strictEqual(lines(r.stderr).length, 1, r.stderr)
    assert.include(r.stderr, "NoSuchKeyword")
    const l = await netdicom(["find", "127.0.0.1", String(qr.port), "--level", "patient"])
    assert.strictEqual(l.code, 1)
    assert.include(l.stderr, "the study root model has the levels STUDY, SERIES, IMAGE")
    assert.include(l.stderr, "--level patient: ")
    assert.notInclude(l.stderr, "bad key")
  })

  it("C-GET writes <SOPInstanceUID>.dcm files with a meta header and the stored data set", async () => {
    const out = temp("get")
    const r = await netdicom(["get", "127.0.0.1", String(qr.port), "-k", `StudyInstanceUID=${STUDY_A}`, "--out", out])
    assert.strictEqual(r.code, 0, r.stdout + r.stderr)
    assert.include(r.stdout, "2 completed, 0 warnings, 0 failed")
    assert.include(r.stdout, "2 files written")
    assert.sameMembers([...filesUnder(out)], [`${STUDY_A}.1.1.dcm`, `${STUDY_A}.1.2.dcm`])
    for (const name of filesUnder(out)) {
      const got = new Uint8Array(fs.readFileSync(path.join(out, name)))
      const archived = new Uint8Array(fs.readFileSync(path.join(store, STUDY_A, name)))
      assert.strictEqual(Buffer.from(got.subarray(128, 132)).toString("latin1"), "DICM")
      assert.deepStrictEqual(part10Dataset(got), part10Dataset(archived))
    }
  })

  it("C-MOVE sends the study to the destination, with progress and final counts", async () => {
    const r = await netdicom([
      "move",
      "127.0.0.1",
      String(qr.port),
      "--dest",
      "DEST",
      "-k",
      `StudyInstanceUID=${STUDY_B}`
    ])
    assert.strictEqual(r.code, 0, r.stdout + r.stderr)
    assert.include(r.stdout, "C-MOVE Success")
    assert.include(r.stdout, "1 completed, 0 warnings, 0 failed")
    assert.deepStrictEqual([...filesUnder(destOut)], [path.join(STUDY_B, `${STUDY_B}.1.1.dcm`)])
  })

  it("move --listen takes the instances itself: a storage SCP for the move's duration writes them to --out", async () => {
    const out = temp("move-listen")
    const r = await netdicom([
      "move",
      "127.0.0.1",
      String(qr.port),
      "--aec",
      "QRSCP",
      "--aet",
      "MOVER",
      "--listen",
      String(moverPort),
      "--out",
      out,
      "-k",
      `StudyInstanceUID=${STUDY_A}`
    ])
    assert.strictEqual(r.code, 0, r.stdout + r.stderr)
    assert.include(r.stderr, `listening on 127.0.0.1:${moverPort} as MOVER`)
    assert.include(r.stdout, "C-MOVE Success")
    assert.include(r.stdout, "2 completed, 0 warnings, 0 failed")
    assert.include(r.stdout, `2 files written to ${out}`)
    // the bytes as the archive sent them: the data sets as stored (the archive keeps what it received)
    for (const sop of [`${STUDY_A}.1.1`, `${STUDY_A}.1.2`]) {
      const written = Part10.readMeta(new Uint8Array(fs.readFileSync(path.join(out, `${sop}.dcm`))))
      assert.isTrue(Result.isSuccess(written), sop)
      const sent = Result.getOrThrow(Part10.readMeta(good[sop]!))
      const kept = new Uint8Array(fs.readFileSync(path.join(out, `${sop}.dcm`)))
      assert.deepStrictEqual(
        kept.subarray(Result.getOrThrow(written).dataSetOffset),
        good[sop]!.subarray(sent.dataSetOffset),
        sop
      )
    }
    // the listener closed with the command: nothing listens on the port any more
    const again = await netdicom(["echo", "127.0.0.1", String(moverPort)])
    assert.strictEqual(again.code, 1)
  })

  it("move --listen exits 1 when the peer sends the instances elsewhere (its --dest address is not ours)", async () => {
    const out = temp("move-listen-elsewhere")
    const port = await freePort()
    const r = await netdicom([
      "move",
      "127.0.0.1",
      String(qr.port),
      "--aec",
      "QRSCP",
      "--dest",
      "DEST",
      "--listen",
      String(port),
      "--out",
      out,
      "-k",
      `StudyInstanceUID=${STUDY_B}`
    ])
    assert.strictEqual(r.code, 1, r.stdout + r.stderr)
    assert.include(r.stdout, "C-MOVE Success")
    assert.include(r.stdout, `0 files written to ${out}`)
    assert.include(r.stderr, "the peer counted 1 sub-operation completed, but only 0 instances were received here")
    assert.include(r.stderr, `does the peer map DEST to 127.0.0.1:${port}?`)
  })

  it("move: --dest or --listen, and --listen with --out", async () => {
    const k = ["-k", `StudyInstanceUID=${STUDY_B}`]
    const none = await netdicom(["move", "127.0.0.1", String(qr.port), ...k])
    assert.strictEqual(none.code, 1)
    assert.include(none.stderr, "--dest is required (or --listen PORT --out FOLDER")
    const noOut = await netdicom(["move", "127.0.0.1", String(qr.port), "--listen", String(moverPort), ...k])
    assert.strictEqual(noOut.code, 1)
    assert.include(noOut.stderr, "--listen needs --out FOLDER")
    const outOnly = await netdicom(["move", "127.0.0.1", String(qr.port), "--dest", "DEST", "--out", temp("o"), ...k])
    assert.strictEqual(outOnly.code, 1)
    assert.include(outOnly.stderr, "--out is for --listen PORT")
    // a port in use (the archive's own): one line, before any C-MOVE is sent
    const taken = await netdicom([
      "move",
      "127.0.0.1",
      String(qr.port),
      "--listen",
      String(qr.port),
      "--out",
      temp("t"),
      ...k
    ])
    assert.strictEqual(taken.code, 1)
    assert.strictEqual(lines(taken.stderr).length, 1, taken.stderr)
    assert.match(taken.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${qr.port}`))
  })

  it("C-MOVE to an unknown destination reports A801 and exits 1", async () => {
    const r = await netdicom([
      "move",
      "127.0.0.1",
      String(qr.port),
      "--dest",
      "NOWHERE",
      "-k",
      `StudyInstanceUID=${STUDY_B}`
    ])
    assert.strictEqual(r.code, 1)
    assert.include(r.stdout, "0xA801")
  })
})

describe("failures are one line, never a stack trace", () => {
  it("a bad flag", async () => {
    const r = await netdicom(["echo", "127.0.0.1", "104", "--no-such-flag"])
    assert.notStrictEqual(r.code, 0)
    assert.strictEqual(lines(r.stderr).length, 1, r.stderr)
    assert.include(r.stderr, "--no-such-flag")
    assert.notMatch(r.stderr + r.stdout, /\n\s+at /)
  })

  it("a bad --aet or --max-pdu names the flag at fault and what it takes", async () => {
    const aet = await netdicom(["echo", "127.0.0.1", "104", "--aet", "THIS-IS-WAY-TOO-LONG"])
    assert.strictEqual(aet.code, 1)
    assert.strictEqual(lines(aet.stderr).length, 1, aet.stderr)
    assert.include(aet.stderr, '--aet "THIS-IS-WAY-TOO-LONG" is not an AE title: it must be 1-16 characters')
    for (const value of ["-5", "100"]) {
      const pdu = await netdicom(["echo", "127.0.0.1", "104", "--max-pdu", value])
      assert.strictEqual(pdu.code, 1)
      assert.strictEqual(lines(pdu.stderr).length, 1, pdu.stderr)
      assert.include(pdu.stderr, `--max-pdu must be 0 (no limit) or 1024-4294967295 bytes, not ${value}`)
    }
  })

  it("a missing argument and a bad port number", async () => {
    const missing = await netdicom(["store", "127.0.0.1"])
    assert.notStrictEqual(missing.code, 0)
    assert.strictEqual(lines(missing.stderr).length, 1, missing.stderr)
    const badPort = await netdicom(["echo", "127.0.0.1", "70000"])
    assert.strictEqual(badPort.code, 1)
    assert.strictEqual(lines(badPort.stderr).length, 1, badPort.stderr)
    assert.include(badPort.stderr, "not a TCP port")
  })

  it("an unreachable peer", async () => {
    const port = await freePort()
    const file = writeFile(
      temp("unreachable"),
      "x.dcm",
      part10({ patientId: "P", patientName: "A^B", study: "1.2.3", series: "1.2.3.1", sop: "1.2.3.1.1" })
    )
    for (const command of ["echo", "find", "store", "get", "move"]) {
      const extra = { echo: [], find: [], store: [file], get: ["--out", temp("g")], move: ["--dest", "X"] }[command]!
      const r = await netdicom([command, "127.0.0.1", String(port), ...extra])
      assert.strictEqual(r.code, 1, `${command}: ${r.stderr}`)
      assert.strictEqual(lines(r.stderr).length, 1, `${command}: ${r.stderr}`)
      assert.match(r.stderr, new RegExp(`^netdicom ${command}: cannot connect to 127\\.0\\.0\\.1:${port}`))
    }
  })

  it("store to an unreachable peer still ends with the summary, its files counted as failed", async () => {
    const port = await freePort()
    const dir = temp("unreachable-store")
    for (const n of [1, 2]) {
      const sop = `1.2.3.1.${n}`
      writeFile(dir, `${n}.dcm`, part10({ patientId: "P", patientName: "A^B", study: "1.2.3", series: "1.2.3.1", sop }))
    }
    const r = await netdicom(["store", "127.0.0.1", String(port), dir])
    assert.strictEqual(r.code, 1, r.stderr)
    assert.match(r.stderr, /^netdicom store: cannot connect/)
    assert.deepStrictEqual(lines(r.stdout), ["0 sent, 0 warnings, 2 failed"], r.stdout)
  })

  it("a server gone mid-batch: the files left are named up to 10, then one line for the rest; --failed-list names all", async () => {
    const dir = temp("gone-mid-batch")
    const failedList = path.join(temp("gone-mid-batch-list"), "failed.txt")
    const count = 60
    for (let n = 1; n <= count; n++) {
      const sop = `1.2.826.0.1.3680043.10.1478.96.${n}`
      const spec = { patientId: "M", patientName: "M^M", study: "1.2.3.96", series: "1.2.3.96.1", sop }
      writeFile(dir, `${String(n).padStart(3, "0")}.dcm`, part10(spec))
    }
    const scpAe = Result.getOrThrow(
      ApplicationEntity.make({ aeTitle: "GONE", contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_LE] }] })
    )
    // an SCP in this process that stops (its associations aborted, its listener closed) after 20 instances
    const r = await Effect.runPromise(
      Effect.gen(function* () {
        const stop = Deferred.makeUnsafe<void>()
        let stored = 0
        const storage = Layer.succeed(Scp.StorageService)({
          store: () =>
            Effect.sync(() => {
              if (++stored === 20) Deferred.doneUnsafe(stop, Exit.void)
              return { status: 0 }
            })
        })
        const scope = yield* Scope.make()
        const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(storage), Scope.provide(scope))
        const store = ["store", "127.0.0.1", String(server.port), dir, "--aec", "GONE", "--failed-list", failedList]
        const run = yield* Effect.forkChild(Effect.promise(() => netdicom(store)))
        yield* Deferred.await(stop)
        yield* Scope.close(scope, Exit.void)
        return yield* Fiber.join(run)
      }).pipe(Effect.provideService(References.MinimumLogLevel, "None"))
    )
    assert.strictEqual(r.code, 1, r.stderr)
    const [sent, failed] = /^(\d+) sent, 0 warnings, (\d+) failed$/
      .exec(lines(r.stdout).at(-1) ?? "")!
      .slice(1)
      .map(Number)
    assert.strictEqual(sent! + failed!, count, r.stdout)
    const err = lines(r.stderr)
    const named = err.filter((l) => /^FAILED \S+\.dcm: not sent: cannot connect/.test(l))
    assert.strictEqual(named.length, 10, r.stderr)
    const more = err.filter((l) => /^FAILED \d+ more file\(s\): not sent: cannot connect/.test(l))
    assert.strictEqual(more.length, 1, r.stderr)
    // the rest of stderr: the instance(s) under way when the association was aborted, nothing per file left
    const others = err.filter((l) => !named.includes(l) && !more.includes(l))
    assert.isAtMost(others.length, 2, r.stderr)
    assert.strictEqual(named.length + Number(/^FAILED (\d+)/.exec(more[0]!)![1]) + others.length, failed, r.stderr)
    // every file not stored by path, the unnamed ones too: as many as failed, each a file given, none twice
    const listed = fs
      .readFileSync(failedList, "utf8")
      .split("\n")
      .filter((l) => l !== "")
    assert.strictEqual(listed.length, failed)
    assert.strictEqual(new Set(listed).size, listed.length)
    for (const l of listed) assert.isTrue(l.startsWith(dir) && fs.existsSync(l), l)
    for (const l of named) assert.include(listed, /^FAILED (\S+\.dcm):/.exec(l)![1])
  })

  it("store with no input files is an error, not 0 sent", async () => {
    const empty = temp("empty")
    const r = await netdicom(["store", "127.0.0.1", "104", empty])
    assert.strictEqual(r.code, 1, r.stdout + r.stderr)
    assert.strictEqual(lines(r.stderr).length, 1, r.stderr)
    assert.match(r.stderr, /^netdicom store: no input files/)
    assert.notInclude(r.stdout, "0 sent")
  })
})

describe("invocation details", () => {
  it("--help marks the required flags", async () => {
    for (const [command, flag] of [
      ["storescp", "--out"],
      ["qrscp", "--store"],
      ["get", "--out"]
    ] as const) {
      const r = await netdicom([command, "--help"])
      const line = lines(r.stdout).find((l) => l.trim().startsWith(`${flag} `))
      assert.match(line ?? "", /\(required\)/, `${command}: ${r.stdout}`)
    }
  })

  it("--help gives the default of each optional flag that has one", async () => {
    for (const [command, flag, value] of [
      ["echo", "--repeat", "1"],
      ["find", "--model", "study"],
      ["get", "--model", "study"],
      ["move", "--model", "study"],
      ["storescp", "--host", "127.0.0.1"],
      ["qrscp", "--host", "127.0.0.1"],
      ["store", "--associations", "1"],
      ["echo", "--aet", "NETDICOM"]
    ] as const) {
      const r = await netdicom([command, "--help"])
      const line = lines(r.stdout).find((l) => l.trim().startsWith(`${flag} `))
      assert.include(line ?? "", `(default ${value}`, `${command}: ${r.stdout}`)
    }
  })

  it("--help of each server says --tls-ca covers the --peer servers it connects to, not only qrscp's", async () => {
    for (const command of ["storescp", "qrscp"]) {
      const r = await netdicom([command, "--help"])
      const line = lines(r.stdout).find((l) => l.trim().startsWith("--tls-ca "))
      // storescp has no C-MOVE destinations: its --peer requesters are what its CAs check besides clients
      assert.include(line ?? "", "the servers this one connects to (--peer", `${command}: ${r.stdout}`)
    }
  })

  it("a folder that cannot be made or a path that cannot be read is said without JavaScript's 'Error: '", async () => {
    const dir = temp("not-a-folder")
    const file = writeFile(dir, "plain.txt", "a file, not a folder\n")
    const got = await netdicom(["get", "127.0.0.1", "1", "-k", "StudyInstanceUID=1.2.3", "--out", file])
    assert.strictEqual(got.code, 1)
    assert.strictEqual(got.stderr.trim(), `netdicom get: --out ${file}: ${file} is not a directory`)
    const below = path.join(file, "x.dcm")
    const stored = await netdicom(["store", "127.0.0.1", "1", below])
    assert.match(stored.stderr, new RegExp(`FAILED ${below.replace(/[.]/g, "\\.")}: ENOTDIR: `), stored.stderr)
    const qr = await netdicom(["qrscp", "0", "--store", path.join(file, "store")])
    assert.strictEqual(qr.code, 1)
    assert.notInclude(qr.stderr, "Error: ", qr.stderr)
    assert.include(qr.stderr, `cannot create ${path.join(file, "store")}: `)
  })

  it("echo HOST:PORT: the error says host and port are two arguments", async () => {
    const r = await netdicom(["echo", "127.0.0.1:104"])
    assert.notStrictEqual(r.code, 0)
    assert.strictEqual(lines(r.stderr).length, 1, r.stderr)
    assert.include(r.stderr, "host and port are two arguments")
  })

  it("a server that cannot listen leaves no --out or --store folder behind", async () => {
    const busy = net.createServer(() => {})
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve))
    const port = (busy.address() as net.AddressInfo).port
    try {
      const parent = temp("cannot-listen")
      const kept = path.join(parent, "kept")
      fs.mkdirSync(kept)
      for (const [command, flag, dir] of [
        ["storescp", "--out", path.join(parent, "x", "y")],
        ["qrscp", "--store", path.join(parent, "z")],
        ["storescp", "--out", kept]
      ] as const) {
        const r = await netdicom([command, String(port), flag, dir])
        assert.strictEqual(r.code, 1, r.stderr)
        assert.include(r.stderr, "cannot listen")
        if (dir === kept) assert.isTrue(fs.existsSync(kept), "a folder that was there before is kept")
        else assert.deepStrictEqual(fs.readdirSync(parent), ["kept"], `${command} left ${fs.readdirSync(parent)}`)
      }
    } finally {
      busy.close()
    }
  })
})

describe("--timeout", () => {
  it("a peer that accepts the connection but never answers: timed out after --timeout seconds, one line", async () => {
    const silent = net.createServer(() => {})
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve))
    const port = (silent.address() as net.AddressInfo).port
    try {
      const started = Date.now()
      const r = await netdicom(["echo", "127.0.0.1", String(port), "--timeout", "1"])
      assert.strictEqual(r.code, 1)
      assert.strictEqual(lines(r.stderr).length, 1, r.stderr)
      assert.include(r.stderr, "timed out waiting for A-ASSOCIATE-AC")
      assert.isBelow(Date.now() - started, 15_000)
    } finally {
      silent.close()
    }
  })
})

const connectable = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

describe("servers stop on Ctrl-C", () => {
  it("storescp exits 130 and its listener is closed", async () => {
    const server = await startServer(["storescp", "0", "--out", temp("sigint")])
    assert.isTrue(await connectable(server.port))
    const code = await server.interrupt()
    assert.strictEqual(code, 130)
    assert.isFalse(await connectable(server.port))
  })
})

describe("store interrupted by Ctrl-C", () => {
  it("says it was interrupted (no protocol error), ends with the summary, exits 130", async () => {
    const scp = await serve(["storescp", "0", "--out", temp("sigint-store-out")])
    const dir = temp("sigint-store")
    // first a 64 MiB file (a large private OB element after the pixel data), so that Ctrl-C lands mid-message
    const base = part10({
      patientId: "P",
      patientName: "A^B",
      study: "1.2.3.8",
      series: "1.2.3.8.1",
      sop: "1.2.3.8.1.0"
    })
    const size = 64 << 20
    const big = new Uint8Array(base.length + 12 + size)
    big.set(base)
    big.set([0xe1, 0x7f, 0x10, 0x10, 0x4f, 0x42, 0, 0], base.length)
    new DataView(big.buffer).setUint32(base.length + 8, size, true)
    writeFile(dir, "0-big.dcm", big)
    for (let i = 1; i <= 20; i++) {
      const sop = `1.2.3.8.1.${i}`
      writeFile(
        dir,
        `${i}.dcm`,
        part10({ patientId: "P", patientName: "A^B", study: "1.2.3.8", series: "1.2.3.8.1", sop })
      )
    }
    const child = spawn(process.execPath, [BIN, "store", "127.0.0.1", String(scp.port), dir, "--debug"], {
      cwd: repoRoot,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()))
    const code = await new Promise<number | null>((resolve) => {
      const kill = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 30_000)
      child.stderr!.on("data", (d: Buffer) => {
        const first = !/C-STORE/.test(stderr)
        stderr += d.toString()
        // a few C-STOREs in: Ctrl-C (SIGINT to the process group, as a terminal does)
        if (first && /C-STORE/.test(stderr)) setTimeout(() => process.kill(-child.pid!, "SIGINT"), 20)
      })
      child.on("close", (c) => {
        clearTimeout(kill)
        resolve(c)
      })
    })
    assert.strictEqual(code, 130, stdout + stderr)
    assert.notInclude(stderr, "protocol error")
    assert.include(stderr, "interrupted")
    const summary = lines(stdout).at(-1) ?? ""
    const m = /^(\d+) sent, \d+ warnings, (\d+) failed$/.exec(summary)
    assert.isNotNull(m, stdout)
    assert.strictEqual(Number(m![1]) + Number(m![2]), 21, summary)
    assert.isAbove(Number(m![2]), 0, summary)
  })
})

describe("qrscp on an index of an older schema", () => {
  it("makes the index anew and indexes the store's files again at start", async () => {
    const store = temp("old-schema-store")
    const first = await startServer(["qrscp", "0", "--store", store, "--aet", "QRSCP"])
    const { dir } = sampleFolder()
    const stored = await netdicom(["store", "127.0.0.1", String(first.port), dir, "--aec", "QRSCP"])
    assert.include(stored.stdout, "3 sent", stored.stdout)
    assert.strictEqual(await first.interrupt(), 130)
    const db = new Sqlite.DatabaseSync(path.join(store, "index.sqlite"))
    db.exec("PRAGMA user_version = 1")
    db.close()
    const again = await serve(["qrscp", "0", "--store", store, "--aet", "QRSCP"])
    assert.include(again.output(), "had schema version 1")
    const r = await netdicom(["find", "127.0.0.1", String(again.port), "--aec", "QRSCP", "-k", "PatientName=DOE*"])
    assert.strictEqual(r.code, 0, r.stderr)
    assert.strictEqual(lines(r.stdout).length, 1, r.stdout)
  })
})

describe("get interrupted by Ctrl-C", () => {
  it("cancels: prints the final Cancel status and what was written, leaves no partial file, exits 130", async () => {
    const qr = await serve(["qrscp", "0", "--store", temp("sigint-get-store"), "--db", ":memory:"])
    const dir = temp("sigint-get-in")
    // three 64 MiB instances (a large private OB element after the pixel data): Ctrl-C lands after the first
    for (const i of [1, 2, 3]) {
      const base = part10({
        patientId: "P",
        patientName: "A^B",
        study: "1.2.3.9",
        series: "1.2.3.9.1",
        sop: `1.2.3.9.1.${i}`
      })
      const size = 64 << 20
      const big = new Uint8Array(base.length + 12 + size)
      big.set(base)
      big.set([0xe1, 0x7f, 0x10, 0x10, 0x4f, 0x42, 0, 0], base.length)
      new DataView(big.buffer).setUint32(base.length + 8, size, true)
      writeFile(dir, `${i}.dcm`, big)
    }
    const stored = await netdicom(["store", "127.0.0.1", String(qr.port), dir])
    assert.strictEqual(stored.code, 0, stored.stdout + stored.stderr)
    const out = temp("sigint-get-out")
    const args = ["get", "127.0.0.1", String(qr.port), "-k", "StudyInstanceUID=1.2.3.9", "--out", out]
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: repoRoot,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()))
    const code = await new Promise<number | null>((resolve) => {
      const kill = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 30_000)
      child.stderr!.on("data", (d: Buffer) => {
        const first = !/C-GET: 2 remaining/.test(stderr)
        stderr += d.toString()
        // the first instance written, the others on their way: Ctrl-C (SIGINT to the process group)
        if (first && /C-GET: 2 remaining/.test(stderr)) process.kill(-child.pid!, "SIGINT")
      })
      child.on("close", (c) => {
        clearTimeout(kill)
        resolve(c)
      })
    })
    assert.strictEqual(code, 130, stdout + stderr)
    // the C-CANCEL's final response, as any final response is printed, then what is on disk
    const cancelled =
      /^C-GET Cancel: .*\(0xFE00\): ([123]) completed, 0 warnings, 0 failed(?:, [12] remaining)?$/m.exec(stdout)
    assert.isNotNull(cancelled, stdout + stderr)
    assert.strictEqual(
      lines(stdout).at(-1),
      `${cancelled![1]} file${cancelled![1] === "1" ? "" : "s"} written to ${out}`
    )
    assert.notInclude(stderr, "interrupted", "the association was aborted rather than released")
    assert.deepStrictEqual(
      fs.readdirSync(out).filter((name) => name.endsWith(".tmp")),
      [],
      "a partial file was left behind"
    )
  })
})

describe("servers with --sync none (files and index left to the operating system)", () => {
  it("storescp and qrscp store and answer as with the default; a bad --sync value is refused", async () => {
    const { dir, good } = sampleFolder()
    const out = temp("sync-none-out")
    const plain = await serve(["storescp", "0", "--out", out, "--sync", "none"])
    const stored = await netdicom(["store", "127.0.0.1", String(plain.port), dir])
    assert.include(stored.stdout, "3 sent, 0 warnings, 2 failed")
    const a1 = path.join(out, STUDY_A, `${STUDY_A}.1.1.dcm`)
    assert.deepStrictEqual(part10Dataset(new Uint8Array(fs.readFileSync(a1))), part10Dataset(good[`${STUDY_A}.1.1`]!))

    const archive = temp("sync-none-archive")
    const qr = await serve(["qrscp", "0", "--store", archive, "--sync", "none"])
    const sent = await netdicom(["store", "127.0.0.1", String(qr.port), dir])
    assert.include(sent.stdout, "3 sent, 0 warnings, 2 failed")
    const found = await netdicom(["find", "127.0.0.1", String(qr.port), "-k", `StudyInstanceUID=${STUDY_B}`])
    assert.strictEqual(found.code, 0, found.stdout + found.stderr)
    assert.strictEqual(lines(found.stdout).length, 1, found.stdout)

    const bad = await netdicom(["storescp", "0", "--out", temp("sync-bad"), "--sync", "sometimes"])
    assert.notStrictEqual(bad.code, 0)
    assert.match(bad.stderr, /--sync|sometimes/)
  })
})

describe("the demo", () => {
  it("runs and exits 0 by itself", async () => {
    const r = await run(
      path.join(repoRoot, "node_modules", ".bin", "node"),
      ["--disable-warning=ExperimentalWarning", path.join(repoRoot, "examples", "demo.ts")],
      {
        cwd: repoRoot,
        timeoutMs: 110_000
      }
    )
    assert.strictEqual(r.code, 0, r.stdout + r.stderr)
    assert.match(r.stdout, /C-ECHO/)
    assert.match(r.stdout, /C-FIND/)
    assert.match(r.stdout, /C-MOVE/)
    assert.match(r.stdout, /C-GET/)
  }, 120_000)
})
