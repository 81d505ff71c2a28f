/**
 * Interoperability of the `netdicom` command with DCMTK 3.6.7 (PS3.4 Annexes A, B, C over PS3.7/PS3.8):
 * `echoscu`, `storescu`, `findscu -S`, `getscu` and `movescu` against `netdicom qrscp`, and `netdicom store` to
 * DCMTK's `storescp`. Every DCMTK tool runs with TCP_NODELAY=1 on 127.0.0.1. Skipped, with a message, where
 * DCMTK is not installed.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import {
  corpusFile,
  freePort,
  hasDcmtk,
  makeTempDir,
  missingDcmtkTools,
  part10Dataset,
  removeDir,
  run,
  startDcmqrscp,
  startStorescp,
  stopAll
} from "../../../tests/support/peers.ts"
import { MR, filesUnder, lines, netdicom, part10, startServer, writeFile, type Server } from "./support.ts"

const dcmtk = hasDcmtk()
if (!dcmtk)
  console.warn(`dcmtk.test.ts: DCMTK tools missing (${missingDcmtkTools().join(", ")}): skipping DCMTK interop`)

const temps: Array<string> = []
const temp = (prefix: string): string => {
  const dir = makeTempDir(`netdicom-cli-dcmtk-${prefix}-`)
  temps.push(dir)
  return dir
}
const servers: Array<Server> = []

afterAll(async () => {
  await Promise.all(servers.map((s) => s.interrupt()))
  await stopAll()
  for (const dir of temps) removeDir(dir)
})

const STUDY = "1.2.826.0.1.3680043.10.1478.98.1"
const STUDY_MR = "1.2.826.0.1.3680043.10.1478.98.2"

describe.runIf(dcmtk)("DCMTK SCUs against netdicom qrscp", () => {
  let qr: Server
  let destOut: string
  let store: string
  const files: Array<string> = []
  beforeAll(async () => {
    destOut = temp("dest")
    const dest = await startServer(["storescp", "0", "--out", destOut, "--aet", "DEST"])
    servers.push(dest)
    store = temp("archive")
    qr = await startServer(["qrscp", "0", "--store", store, "--aet", "QRSCP", "--peer", `DEST=127.0.0.1:${dest.port}`])
    servers.push(qr)
    const src = temp("src")
    for (let i = 1; i <= 3; i++) {
      const bytes = part10({
        patientId: "DC1",
        patientName: "DCMTK^ONE",
        study: STUDY,
        series: `${STUDY}.1`,
        sop: `${STUDY}.1.${i}`
      })
      files.push(writeFile(src, `ct${i}.dcm`, bytes))
    }
    const mr = part10({
      patientId: "DC2",
      patientName: "DCMTK^TWO",
      study: STUDY_MR,
      series: `${STUDY_MR}.1`,
      sop: `${STUDY_MR}.1.1`,
      sopClass: MR
    })
    files.push(writeFile(src, "mr.dcm", mr))
  })

  it("echoscu", async () => {
    const r = await run("echoscu", ["-aec", "QRSCP", "127.0.0.1", String(qr.port)])
    assert.strictEqual(r.code, 0, r.stdout + r.stderr)
  })

  it("storescu, then the archive has the files bit-exact", async () => {
    const r = await run("storescu", ["-aec", "QRSCP", "127.0.0.1", String(qr.port), ...files])
    assert.strictEqual(r.code, 0, r.stdout + r.stderr)
    for (const file of files) {
      const sent = part10Dataset(new Uint8Array(fs.readFileSync(file)))!
      const name = path.basename(file) === "mr.dcm" ? path.join(STUDY_MR, `${STUDY_MR}.1.1.dcm`) : undefined
      const stored = filesUnder(store)
        .filter((f) => f.endsWith(".dcm"))
        .map((f) => ({ f, bytes: part10Dataset(new Uint8Array(fs.readFileSync(path.join(store, f)))) }))
      assert.isTrue(
        stored.some((s) => s.bytes !== undefined && Buffer.from(s.bytes).equals(Buffer.from(sent))),
        `${file} not stored bit-exact (have ${stored.map((s) => s.f).join(", ")})`
      )
      if (name !== undefined) assert.isTrue(fs.existsSync(path.join(store, name)))
    }
  })

  it("findscu -S finds the study", async () => {
    const r = await run("findscu", [
      "-S",
      "-aec",
      "QRSCP",
      "-k",
      "QueryRetrieveLevel=STUDY",
      "-k",
      "PatientName=DCMTK*",
      "-k",
      "StudyInstanceUID",
      "-k",
      "NumberOfStudyRelatedInstances",
      "127.0.0.1",
      String(qr.port)
    ])
    assert.strictEqual(r.code, 0, r.stdout + r.stderr)
    const out = r.stdout + r.stderr
    assert.include(out, STUDY)
    assert.include(out, STUDY_MR)
    assert.match(out, /\(0020,1208\) IS \[3\s*\]/)
  })

  it("getscu fetches the study over its association", async () => {
    const out = temp("getscu")
    const r = await run("getscu", [
      "-S",
      "-aec",
      "QRSCP",
      "-od",
      out,
      "-k",
      "QueryRetrieveLevel=STUDY",
      "-k",
      `StudyInstanceUID=${STUDY}`,
      "127.0.0.1",
      String(qr.port)
    ])
    assert.strictEqual(r.code, 0, r.stdout + r.stderr)
    const got = filesUnder(out)
    assert.strictEqual(got.length, 3, `${got.join(", ")}\n${r.stdout}${r.stderr}`)
    const sent = files.slice(0, 3).map((f) => Buffer.from(part10Dataset(new Uint8Array(fs.readFileSync(f)))!))
    for (const f of got) {
      const data = Buffer.from(part10Dataset(new Uint8Array(fs.readFileSync(path.join(out, f))))!)
      assert.isTrue(
        sent.some((s) => s.equals(data)),
        `${f} differs from what was stored`
      )
    }
  })

  it("movescu has the study sent to a netdicom storescp", async () => {
    const r = await run("movescu", [
      "-S",
      "-aec",
      "QRSCP",
      "-aem",
      "DEST",
      "-k",
      "QueryRetrieveLevel=STUDY",
      "-k",
      `StudyInstanceUID=${STUDY_MR}`,
      "127.0.0.1",
      String(qr.port)
    ])
    assert.strictEqual(r.code, 0, r.stdout + r.stderr)
    assert.deepStrictEqual([...filesUnder(destOut)], [path.join(STUDY_MR, `${STUDY_MR}.1.1.dcm`)])
  })

  // PS3.4 C.2.2.2: a UID key allows single value and list of UID matching, no wildcards. The identifier's
  // "<study prefix>*" was read as the prefix itself (dcmjs keeps only digits and dots of a UI value), so each tool got
  // Success with nothing found or sent; now 0xA900 naming the key, and nothing reaches DEST.
  it("movescu, getscu and findscu with a wildcard in StudyInstanceUID: refused 0xA900, naming the key", async () => {
    const before = filesUnder(destOut).length
    const tools = [
      ["movescu", ["-aem", "DEST"]],
      ["getscu", ["-od", temp("getscu-wildcard")]],
      ["findscu", ["-k", "PatientName"]]
    ] as const
    for (const [tool, extra] of tools) {
      const key = `StudyInstanceUID=${STUDY.slice(0, -2)}*`
      const args = ["-v", "-S", "-aec", "QRSCP", ...extra, "-k", "QueryRetrieveLevel=STUDY", "-k", key]
      const r = await run(tool, [...args, "127.0.0.1", String(qr.port)])
      const out = r.stdout + r.stderr
      assert.notMatch(out, /Response \(Success\)|Response: \d+ \(Pending\)/, `${tool}:\n${out}`)
      assert.match(out, /DoesNotMatchSOPClass|Does Not Match SOP Class|a900/i, `${tool}:\n${out}`)
    }
    assert.strictEqual(filesUnder(destOut).length, before)
    const refusals = qr
      .output()
      .split("\n")
      .filter((l) => l.includes("wildcards are not allowed in a UID key"))
    assert.isAtLeast(refusals.length, 3, qr.output())
    for (const line of refusals) assert.include(line, "StudyInstanceUID")
  })
})

describe.runIf(dcmtk)("netdicom against DCMTK SCPs", () => {
  it("netdicom store to DCMTK storescp: every file arrives", async () => {
    const out = temp("storescp")
    const scp = await startStorescp({ outDir: out, aet: "STORESCP" })
    const src = temp("store-src")
    const good = writeFile(
      src,
      "ct.dcm",
      part10({ patientId: "S1", patientName: "A^B", study: "1.2.3.4", series: "1.2.3.4.1", sop: "1.2.3.4.1.1" })
    )
    const jpeg = corpusFile("SC_rgb_jpeg_dcmtk.dcm")
    const ct = corpusFile("CT_small.dcm")
    const extra = [jpeg, ct].filter((f): f is string => f !== undefined)
    const r = await netdicom(["store", "127.0.0.1", String(scp.port), "--aec", "STORESCP", good, ...extra])
    // storescp +xa accepts every transfer syntax it knows, so all arrive
    assert.strictEqual(r.code, 0, r.stdout + r.stderr)
    assert.include(r.stdout, `${1 + extra.length} sent, 0 warnings, 0 failed`)
    // storescp decodes and re-encodes what it writes, so compare what it kept: the files are named by SOP Instance UID
    const received = scp.files().map((f) => path.basename(f))
    for (const uid of [
      "1.2.3.4.1.1",
      ...(ct !== undefined ? ["1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"] : [])
    ]) {
      assert.isTrue(
        received.some((name) => name.endsWith(`.${uid}`)),
        `${uid} not received (${received.join(", ")})`
      )
    }
    assert.strictEqual(received.length, 1 + extra.length)
    await scp.stop()
  })

  it("netdicom store of an Explicit VR file to a storescp accepting Implicit VR only sends it re-encoded", async () => {
    const out = temp("storescp-implicit")
    // +xi after the harness's +xa: Implicit VR Little Endian only
    const scp = await startStorescp({ outDir: out, aet: "IMPLICIT", extraArgs: ["+xi"] })
    const src = temp("store-implicit-src")
    const file = writeFile(
      src,
      "ct.dcm",
      part10({ patientId: "TC2", patientName: "RE^ENCODED", study: "1.2.3.7", series: "1.2.3.7.1", sop: "1.2.3.7.1.1" })
    )
    const r = await netdicom(["store", "127.0.0.1", String(scp.port), "--aec", "IMPLICIT", file])
    assert.strictEqual(r.code, 0, r.stdout + r.stderr)
    assert.include(r.stdout, "1 sent, 0 warnings, 0 failed")
    const received = scp.files()
    assert.strictEqual(received.length, 1)
    // storescp writes what it received in the transfer syntax it arrived in
    const dump = await run("dcmdump", ["-M", received[0]!])
    assert.strictEqual(dump.code, 0, dump.stderr)
    assert.match(dump.stdout, /\(0002,0010\) UI =LittleEndianImplicit/)
    assert.include(dump.stdout, "RE^ENCODED")
    await scp.stop()
  })

  it("netdicom echo, and a transfer syntax storescp refuses fails with the reason", async () => {
    const out = temp("storescp-strict")
    // +x= after the harness's +xa: accept uncompressed transfer syntaxes only
    const scp = await startStorescp({ outDir: out, aet: "STRICT", extraArgs: ["+x="] })
    const echo = await netdicom(["echo", "127.0.0.1", String(scp.port), "--aec", "STRICT"])
    assert.strictEqual(echo.code, 0, echo.stderr)
    const jpeg = corpusFile("SC_rgb_jpeg_dcmtk.dcm")
    if (jpeg !== undefined) {
      const r = await netdicom(["store", "127.0.0.1", String(scp.port), "--aec", "STRICT", jpeg])
      assert.strictEqual(r.code, 1)
      assert.include(r.stdout, "0 sent, 0 warnings, 1 failed")
      assert.match(lines(r.stderr)[0] ?? "", /FAILED .*the peer did not accept .* transfer syntax not supported/)
    }
    await scp.stop()
  })
})

const CT_SMALL = corpusFile("CT_small.dcm")
if (dcmtk && CT_SMALL === undefined) {
  console.warn("dcmtk.test.ts: corpus CT_small.dcm not found (set NETDICOM_CORPUS): skipping move --listen")
}

describe.runIf(dcmtk && CT_SMALL !== undefined)("netdicom move --listen against DCMTK dcmqrscp", () => {
  it("dcmqrscp sends the study to the command's own listener, which writes what it was sent", async () => {
    const port = await freePort()
    const qr = await startDcmqrscp({ aet: "MOVEQR", peers: [{ aet: "MOVER", port }], preload: [CT_SMALL!] })
    const out = temp("move-listen")
    const study = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
    const sop = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
    const r = await netdicom([
      "move",
      "127.0.0.1",
      String(qr.port),
      "--aec",
      "MOVEQR",
      "--aet",
      "MOVER",
      "--listen",
      String(port),
      "--out",
      out,
      "-k",
      `StudyInstanceUID=${study}`
    ])
    assert.strictEqual(r.code, 0, r.stdout + r.stderr)
    assert.include(r.stdout, "1 completed, 0 warnings, 0 failed")
    assert.include(r.stdout, `1 file written to ${out}`)
    const written = fs.readFileSync(path.join(out, `${sop}.dcm`))
    // dcmqrscp sends the data set of the copy it holds, without the corpus file's trailing padding (fffc,fffc: 126
    // bytes and a 12-byte header): the pixel data's last 4 KiB as in the corpus file
    const original = fs.readFileSync(CT_SMALL!)
    const pixelsEnd = original.length - 126 - 12
    assert.isTrue(written.includes(original.subarray(pixelsEnd - 4096, pixelsEnd)), "the pixel data as sent")
    assert.strictEqual((await run("dcmdump", ["-q", path.join(out, `${sop}.dcm`)])).code, 0)
  })
})

const JAPANESE = corpusFile("charset/chrH32.dcm")
if (dcmtk && JAPANESE === undefined) {
  console.warn("dcmtk.test.ts: corpus charset/chrH32.dcm not found (set NETDICOM_CORPUS): skipping the charset find")
}

describe.runIf(dcmtk && JAPANESE !== undefined)("netdicom find against DCMTK dcmqrscp: character sets", () => {
  it("ISO 2022 IR 13\\ISO 2022 IR 87 matches decode; an unknown character set is one warning, not an abort", async () => {
    const src = temp("charset-src")
    const unknown = writeFile(
      src,
      "unknown.dcm",
      part10({
        patientId: "U1",
        patientName: "ODD^CHARSET",
        study: "1.2.826.0.1.3680043.10.1478.98.9",
        series: "1.2.826.0.1.3680043.10.1478.98.9.1",
        sop: "1.2.826.0.1.3680043.10.1478.98.9.1.1",
        specificCharacterSet: "ISO_IR 999"
      })
    )
    const others = ["charset/chrFren.dcm", "charset/chrI2.dcm", "charset/chrX1.dcm"]
      .map(corpusFile)
      .filter((f): f is string => f !== undefined)
    const qr = await startDcmqrscp({ aet: "CHARSETQR", preload: [unknown, JAPANESE!, ...others] })
    try {
      const args = ["find", "127.0.0.1", String(qr.port), "--aec", "CHARSETQR", "-k", "PatientName", "-k", "PatientID"]
      const r = await netdicom([...args, "-k", "SpecificCharacterSet"])
      assert.strictEqual(r.code, 0, r.stdout + r.stderr + qr.logs())
      type Match = Record<string, { vr: string; Value?: Array<unknown> }>
      const matches = lines(r.stdout).map((l) => JSON.parse(l) as Match)
      assert.strictEqual(matches.length, 2 + others.length, r.stdout + r.stderr)
      const names = matches.map((m) => m["00100010"]?.Value?.[0])
      assert.deepInclude(names, { Alphabetic: "ﾔﾏﾀﾞ^ﾀﾛｳ", Ideographic: "山田^太郎", Phonetic: "やまだ^たろう" })
      assert.deepInclude(names, { Alphabetic: "ODD^CHARSET" })
      assert.notInclude(r.stderr, "DIMSE protocol error")
      assert.include(r.stderr, "ISO_IR 999")
    } finally {
      await qr.stop()
    }
  })
})
