/**
 * `netdicom mpps create|set` (MPPS SCU) against `netdicom qrscp` as MPPS SCP (PS3.4 F.7): a step created, ended
 * with the Performed Series Sequence of the files given, kept in the index across a restart and written to
 * `--mpps-dir`; Annex F's refusals as the command prints them (status, Error Comment, Error ID) with exit 1; a
 * `--file` of DICOM JSON, or a DICOM file DCMTK's dump2dcm made; a `--worklist` item mapped into the step; TLS.
 * DCMTK 3.6.7 has no MPPS tool (mppsscu came in 3.6.8) and Orthanc no MPPS SCP: no network interop test here.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { hasOpenssl, makeCertificates } from "../../../tests/support/certs.ts"
import { corpusFile, removeDir, which } from "../../../tests/support/peers.ts"
import { lines, netdicom, part10, testFixtures, writeFile } from "./support.ts"

const { temp, serve } = testFixtures("mpps")
const openssl = hasOpenssl()
const certs = openssl ? makeCertificates() : undefined
afterAll(() => {
  if (certs !== undefined) removeDir(certs.dir)
})

const STUDY = "1.2.826.0.1.3680043.10.1478.23"

type Json = Record<string, { readonly vr: string; readonly Value?: ReadonlyArray<unknown> }>
const readStep = (dir: string, uid: string): Json =>
  JSON.parse(fs.readFileSync(path.join(dir, `${uid}.json`), "utf8")) as Json
const value = (json: Json, tag: string): unknown => json[tag]?.Value?.[0]

describe("netdicom mpps against netdicom qrscp", () => {
  it("creates a step, ends it with its series, and is refused as Annex F says", async () => {
    const store = temp("store")
    const dir = path.join(temp("out"), "mpps")
    const args = ["qrscp", "0", "--store", store, "--mpps-dir", dir, "--aet", "RIS"]
    let scp = await serve(args)
    const at = (port: number) => ["127.0.0.1", String(port), "--aec", "RIS", "--aet", "CT1"]

    const created = await netdicom([
      "mpps",
      "create",
      ...at(scp.port),
      "--patient-id",
      "MPPS-1",
      "--patient-name",
      "DOE^JANE",
      "--modality",
      "CT",
      "--study-uid",
      STUDY,
      "-k",
      "ScheduledStepAttributesSequence.AccessionNumber=ACC1"
    ])
    assert.strictEqual(created.code, 0, created.stderr)
    const uid = created.stdout.trim()
    assert.match(uid, /^2\.25\.\d+$/)
    assert.match(created.stderr, new RegExp(`N-CREATE ${uid.replaceAll(".", "\\.")}: Success \\(0x0000\\)`))
    let json = readStep(dir, uid)
    assert.deepStrictEqual(
      [value(json, "00400252"), value(json, "00100020"), value(json, "00080060"), value(json, "00400241")],
      ["IN PROGRESS", "MPPS-1", "CT", "CT1"]
    )
    const scheduled = value(json, "00400270") as Json
    assert.deepStrictEqual([value(scheduled, "0020000D"), value(scheduled, "00080050")], [STUDY, "ACC1"])
    assert.match(scp.output(), new RegExp(`MPPS ${uid.replaceAll(".", "\\.")} created by CT1: IN PROGRESS`))

    // a second step, left IN PROGRESS across the restart
    const second = await netdicom(["mpps", "create", ...at(scp.port), "--uid", `${STUDY}.9`, "--step-id", "S9"])
    assert.strictEqual(second.code, 0, second.stderr)
    assert.strictEqual(second.stdout.trim(), `${STUDY}.9`)

    const duplicate = await netdicom(["mpps", "create", ...at(scp.port), "--uid", uid])
    assert.strictEqual(duplicate.code, 1)
    assert.match(duplicate.stderr, /duplicate SOP Instance \(0x0111\): the step exists \(IN PROGRESS\)/)
    const completedAtOnce = await netdicom([
      "mpps",
      "create",
      ...at(scp.port),
      "-k",
      "PerformedProcedureStepStatus=COMPLETED"
    ])
    assert.strictEqual(completedAtOnce.code, 1)
    assert.match(completedAtOnce.stderr, /invalid attribute value \(0x0106\): \(0040,0252\) is "COMPLETED"/)
    const unknown = await netdicom(["mpps", "set", ...at(scp.port), "--uid", "1.2.3.404", "--status", "COMPLETED"])
    assert.strictEqual(unknown.code, 1)
    assert.match(unknown.stderr, /N-SET 1\.2\.3\.404: Failure: no such SOP Instance \(0x0112\)/)
    const patient = await netdicom([
      "mpps",
      "set",
      ...at(scp.port),
      "--uid",
      uid,
      "--status",
      "COMPLETED",
      "-k",
      "PatientID=OTHER"
    ])
    assert.strictEqual(patient.code, 1)
    assert.match(patient.stderr, /\(0x0106\): N-SET may not change \(0010,0020\)/)

    // ended with the instances it made: two series
    const images = temp("images")
    for (const [n, series] of [
      [1, 1],
      [2, 1],
      [3, 2]
    ] as const) {
      writeFile(
        images,
        `${n}.dcm`,
        part10({
          patientId: "MPPS-1",
          patientName: "DOE^JANE",
          study: STUDY,
          series: `${STUDY}.${series}`,
          sop: `${STUDY}.${series}.${n}`
        })
      )
    }
    const done = await netdicom(["mpps", "set", ...at(scp.port), "--uid", uid, "--status", "COMPLETED", images])
    assert.strictEqual(done.code, 0, done.stderr)
    assert.match(done.stderr, /N-SET 2\.25\.\d+: Success \(0x0000\)/)
    json = readStep(dir, uid)
    assert.strictEqual(value(json, "00400252"), "COMPLETED")
    assert.match(String(value(json, "00400250")), /^\d{8}$/)
    const series = json["00400340"]!.Value as ReadonlyArray<Json>
    assert.deepStrictEqual(
      series.map((s) => [
        value(s, "0020000E"),
        value(s, "00080054"),
        (s["00081140"]!.Value as ReadonlyArray<Json>).map((i) => value(i, "00081155"))
      ]),
      [
        [`${STUDY}.1`, "CT1", [`${STUDY}.1.1`, `${STUDY}.1.2`]],
        [`${STUDY}.2`, "CT1", [`${STUDY}.2.3`]]
      ]
    )

    // kept in the index: after a restart the ended step is still ended, the other still open
    await scp.interrupt()
    scp = await serve(args)
    const late = await netdicom(["mpps", "set", ...at(scp.port), "--uid", uid, "--status", "DISCONTINUED"])
    assert.strictEqual(late.code, 1)
    assert.match(
      late.stderr,
      /processing failure \(0x0110\): Performed Procedure Step Object may no longer be updated \(Error ID A710\)/
    )
    const stop = await netdicom([
      "mpps",
      "set",
      ...at(scp.port),
      "--uid",
      `${STUDY}.9`,
      "--status",
      "DISCONTINUED",
      "-k",
      "PerformedProcedureStepDiscontinuationReasonCodeSequence.CodeValue=110514"
    ])
    assert.strictEqual(stop.code, 0, stop.stderr)
    assert.strictEqual(value(readStep(dir, `${STUDY}.9`), "00400252"), "DISCONTINUED")
    assert.deepStrictEqual(fs.readdirSync(dir).sort(), [`${STUDY}.9.json`, `${uid}.json`].sort())
  })

  it("takes a DICOM JSON --file under the flags and keys; a bad --uid or --file is one line, exit 1", async () => {
    const dir = path.join(temp("json-out"), "mpps")
    const scp = await serve(["qrscp", "0", "--store", temp("json-store"), "--db", ":memory:", "--mpps-dir", dir])
    const file = writeFile(
      temp("json"),
      "step.json",
      JSON.stringify({
        "00100020": { vr: "LO", Value: ["FROM-FILE"] },
        "00100010": { vr: "PN", Value: [{ Alphabetic: "FILE^PAT" }] },
        "00400270": { vr: "SQ", Value: [{ "0020000D": { vr: "UI", Value: [STUDY] } }] },
        "00400254": { vr: "LO", Value: ["FROM FILE"] }
      })
    )
    const at = ["127.0.0.1", String(scp.port)]
    const created = await netdicom(["mpps", "create", ...at, "--file", file, "--patient-name", "FLAG^PAT"])
    assert.strictEqual(created.code, 0, created.stderr)
    const json = readStep(dir, created.stdout.trim())
    assert.deepStrictEqual(
      [value(json, "00100020"), value(json, "00100010"), value(json, "00400254")],
      ["FROM-FILE", { Alphabetic: "FLAG^PAT" }, "FROM FILE"]
    )
    assert.strictEqual(value(value(json, "00400270") as Json, "0020000D"), STUDY)

    const badUid = await netdicom(["mpps", "set", ...at, "--uid", "1.2.x", "--status", "COMPLETED"])
    assert.strictEqual(badUid.code, 1)
    assert.deepStrictEqual(lines(badUid.stderr), [
      'netdicom mpps: --uid "1.2.x" is not a UID: it must be dot-separated numbers'
    ])
    const badFile = writeFile(temp("bad"), "bad.json", `{"PatientID": "X"}`)
    const refused = await netdicom(["mpps", "create", ...at, "--file", badFile])
    assert.strictEqual(refused.code, 1)
    assert.match(refused.stderr, /--file .*bad\.json: "PatientID" is not a DICOM JSON attribute/)
  })

  it("maps a worklist item (--worklist, as find prints it) into the step: study, accession, scheduled step", async () => {
    const dir = path.join(temp("wl-out"), "mpps")
    const scp = await serve(["qrscp", "0", "--store", temp("wl-store"), "--db", ":memory:", "--mpps-dir", dir])
    // one line of `netdicom find --model worklist` against DCMTK's wlmscpfs
    const item = {
      "00080005": { vr: "CS", Value: ["ISO_IR 192"] },
      "00080050": { vr: "SH", Value: ["A002"] },
      "00100010": { vr: "PN", Value: [{ Alphabetic: "Müller^Jürgen" }] },
      "00100020": { vr: "LO", Value: ["P002"] },
      "0020000D": { vr: "UI", Value: [STUDY] },
      "00321060": { vr: "LO", Value: ["CHEST CT"] },
      "00400100": {
        vr: "SQ",
        Value: [
          {
            "00080060": { vr: "CS", Value: ["MR"] },
            "00400001": { vr: "AE", Value: ["MR1"] },
            "00400007": { vr: "LO", Value: ["CT THORAX"] },
            "00400009": { vr: "SH", Value: ["SPS2"] }
          }
        ]
      },
      "00401001": { vr: "SH", Value: ["RP2"] }
    }
    const folder = temp("wl")
    const file = writeFile(folder, "item.json", `${JSON.stringify(item)}\n`)
    const at = ["127.0.0.1", String(scp.port), "--aet", "MR1"]
    const created = await netdicom(["mpps", "create", ...at, "--worklist", file])
    assert.strictEqual(created.code, 0, created.stderr)
    const json = readStep(dir, created.stdout.trim())
    assert.deepStrictEqual(
      [value(json, "00100010"), value(json, "00100020"), value(json, "00080060"), value(json, "00400241")],
      [{ Alphabetic: "Müller^Jürgen" }, "P002", "MR", "MR1"]
    )
    // the worklist's own attributes stay out of the step
    for (const tag of ["00400100", "00080050", "0020000D", "00401001", "00321060"]) {
      assert.isUndefined(json[tag], tag)
    }
    const scheduled = value(json, "00400270") as Json
    assert.deepStrictEqual(
      ["0020000D", "00080050", "00401001", "00321060", "00400009", "00400007"].map((t) => value(scheduled, t)),
      [STUDY, "A002", "RP2", "CHEST CT", "SPS2", "CT THORAX"]
    )
    assert.deepStrictEqual(scheduled["00081110"], { vr: "SQ" }) // Type 2, left out by the worklist: sent empty

    // find's output of several items is refused, naming how many
    const two = writeFile(folder, "two.json", `${JSON.stringify(item)}\n${JSON.stringify(item)}\n`)
    const refused = await netdicom(["mpps", "create", ...at, "--worklist", two])
    assert.strictEqual(refused.code, 1)
    assert.match(refused.stderr, /--worklist .*two\.json: 2 worklist items \(a DICOM JSON object a line\); give one/)
    // and so is find's output of none
    const none = await netdicom(["mpps", "create", ...at, "--worklist", writeFile(folder, "none.json", "")])
    assert.strictEqual(none.code, 1)
    assert.match(none.stderr, /--worklist .*none\.json: empty, no worklist item/)
  })

  const corpus = ["CT_small.dcm", "image_dfl.dcm", "rtplan.dcm", "reportsi_with_empty_number_tags.dcm"].map(corpusFile)
  it.skipIf(corpus.includes(undefined))(
    "ends a step with images, a deflated one too, and non-images (SR, RT Plan) in their own sequence",
    async () => {
      const dir = path.join(temp("kinds-out"), "mpps")
      const scp = await serve(["qrscp", "0", "--store", temp("kinds-store"), "--db", ":memory:", "--mpps-dir", dir])
      const folder = temp("kinds")
      for (const file of corpus) fs.copyFileSync(file!, path.join(folder, path.basename(file!)))
      const at = ["127.0.0.1", String(scp.port)]
      const created = await netdicom(["mpps", "create", ...at])
      assert.strictEqual(created.code, 0, created.stderr)
      const uid = created.stdout.trim()
      const done = await netdicom(["mpps", "set", ...at, "--uid", uid, "--status", "COMPLETED", folder])
      assert.strictEqual(done.code, 0, done.stderr)
      const referenced = (json: Json, tag: string) =>
        ((json[tag]?.Value ?? []) as ReadonlyArray<Json>).map((i) => [value(i, "00081150"), value(i, "00081155")])
      const series = readStep(dir, uid)["00400340"]!.Value as ReadonlyArray<Json>
      const images = series.flatMap((s) => referenced(s, "00081140"))
      const others = series.flatMap((s) => referenced(s, "00400220"))
      assert.sameDeepMembers(images, [
        ["1.2.840.10008.5.1.4.1.1.2", "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"],
        ["1.2.840.10008.5.1.4.1.1.7", "1.3.6.1.4.1.5962.1.1.0.0.0.977067309.6001.0"]
      ])
      assert.sameDeepMembers(others, [
        ["1.2.840.10008.5.1.4.1.1.481.5", "1.2.777.777.77.7.7777.7777.20030903150023"],
        ["1.2.840.10008.5.1.4.1.1.88.11", "1.2.276.0.7230010.3.1.4.1787205428.166.1117461927.10"]
      ])
    }
  )

  it.skipIf(which("dump2dcm") === undefined)(
    "takes a DICOM file DCMTK's dump2dcm made as --file; flags go over it",
    async () => {
      const dir = path.join(temp("dcm-out"), "mpps")
      const scp = await serve(["qrscp", "0", "--store", temp("dcm-store"), "--db", ":memory:", "--mpps-dir", dir])
      const folder = temp("dcm")
      const dump = writeFile(
        folder,
        "step.dump",
        [
          "(0008,0060) CS [MR]",
          "(0010,0010) PN [DCMTK^MADE]",
          "(0010,0020) LO [DUMP-1]",
          "(0040,0241) AE [DCMTKMOD]",
          "(0040,0244) DA [20261206]",
          "(0040,0245) TM [101500]",
          "(0040,0252) CS [IN PROGRESS]",
          "(0040,0253) SH [DS1]",
          "(0040,0270) SQ (Sequence with explicit length #=1)",
          "  (fffe,e000) na (Item with explicit length #=1)",
          `    (0020,000d) UI [${STUDY}]`,
          "  (fffe,e00d) na (ItemDelimitationItem for re-encoding)",
          "(fffe,e0dd) na (SequenceDelimitationItem for re-encoding)",
          ""
        ].join("\n")
      )
      const dcm = path.join(folder, "step.dcm")
      execFileSync("dump2dcm", ["-q", "+te", dump, dcm])
      const created = await netdicom([
        "mpps",
        "create",
        "127.0.0.1",
        String(scp.port),
        "--file",
        dcm,
        "--modality",
        "CT"
      ])
      assert.strictEqual(created.code, 0, created.stderr)
      const json = readStep(dir, created.stdout.trim())
      assert.deepStrictEqual(
        [value(json, "00100020"), value(json, "00400241"), value(json, "00400253"), value(json, "00080060")],
        ["DUMP-1", "DCMTKMOD", "DS1", "CT"]
      )
    }
  )

  it.skipIf(!openssl)("creates and ends a step over TLS", async () => {
    const c = certs!
    const dir = path.join(temp("tls-out"), "mpps")
    const scp = await serve([
      "qrscp",
      "0",
      "--store",
      temp("tls-store"),
      "--mpps-dir",
      dir,
      "--tls-key",
      c.server.key,
      "--tls-cert",
      c.server.cert
    ])
    const at = ["127.0.0.1", String(scp.port), "--tls-ca", c.ca]
    const created = await netdicom(["mpps", "create", ...at])
    assert.strictEqual(created.code, 0, created.stderr)
    const uid = created.stdout.trim()
    const done = await netdicom(["mpps", "set", ...at, "--uid", uid, "--status", "COMPLETED"])
    assert.strictEqual(done.code, 0, done.stderr)
    assert.strictEqual(value(readStep(dir, uid), "00400252"), "COMPLETED")
    const plain = await netdicom(["mpps", "create", "127.0.0.1", String(scp.port)])
    assert.strictEqual(plain.code, 1)
  })
})
