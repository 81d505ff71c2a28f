/**
 * The `netdicom` command against real archives on 127.0.0.1: Orthanc (store, find, move, get) and
 * DCMTK dcmqrscp (find, move, get). Skipped, with a message, where Orthanc or DCMTK is missing.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import {
  hasDcmtk,
  hasOrthanc,
  makeTempDir,
  removeDir,
  startDcmqrscp,
  startOrthanc,
  stopAll,
  type Dcmqrscp,
  type Orthanc
} from "../../../tests/support/peers.ts"
import { filesUnder, lines, netdicom, part10, startServer, writeFile, type Server } from "./support.ts"

const orthanc = hasOrthanc()
const dcmtk = hasDcmtk()
if (!orthanc) console.warn("peers.test.ts: Orthanc is not installed (apt-get install orthanc): skipping Orthanc cases")
if (!dcmtk) console.warn("peers.test.ts: DCMTK is not installed (apt-get install dcmtk): skipping dcmqrscp cases")

const temps: Array<string> = []
const temp = (prefix: string) => {
  const d = makeTempDir(`netdicom-cli-peers-${prefix}-`)
  temps.push(d)
  return d
}
const servers: Array<Server> = []
afterAll(async () => {
  await Promise.all(servers.map((s) => s.interrupt()))
  await stopAll()
  for (const d of temps) removeDir(d)
})

const STUDY = "1.2.826.0.1.3680043.10.1478.97.1"

/** Two CT instances of one study, written to a fresh folder. */
const studyFiles = () => {
  const dir = temp("src")
  for (let i = 1; i <= 2; i++) {
    writeFile(
      dir,
      `ct${i}.dcm`,
      part10({
        patientId: "PEER1",
        patientName: "PEER^ONE",
        study: STUDY,
        series: `${STUDY}.1`,
        sop: `${STUDY}.1.${i}`
      })
    )
  }
  return dir
}

/** Checks a find, a move to `dest` and a get against an archive holding `STUDY`. */
const queryRetrieve = async (port: number, aec: string, destOut: string) => {
  const found = await netdicom([
    "find",
    "127.0.0.1",
    String(port),
    "--aec",
    aec,
    "-k",
    `StudyInstanceUID=${STUDY}`,
    "-k",
    "PatientName"
  ])
  assert.strictEqual(found.code, 0, found.stdout + found.stderr)
  const matches = lines(found.stdout).map((l) => JSON.parse(l) as Record<string, { Value?: ReadonlyArray<unknown> }>)
  assert.strictEqual(matches.length, 1, found.stdout)
  assert.deepStrictEqual(matches[0]!["0020000D"]!.Value, [STUDY])

  const moved = await netdicom([
    "move",
    "127.0.0.1",
    String(port),
    "--aec",
    aec,
    "--dest",
    "DEST",
    "-k",
    `StudyInstanceUID=${STUDY}`
  ])
  assert.strictEqual(moved.code, 0, moved.stdout + moved.stderr)
  assert.strictEqual(filesUnder(destOut).length, 2, moved.stdout)

  const out = temp("get")
  const got = await netdicom([
    "get",
    "127.0.0.1",
    String(port),
    "--aec",
    aec,
    "-k",
    `StudyInstanceUID=${STUDY}`,
    "--out",
    out
  ])
  assert.strictEqual(got.code, 0, got.stdout + got.stderr)
  assert.strictEqual(filesUnder(out).length, 2, got.stdout)
}

describe.runIf(orthanc)("netdicom against Orthanc", () => {
  let o: Orthanc
  let destOut: string
  beforeAll(async () => {
    destOut = temp("dest")
    const dest = await startServer(["storescp", "0", "--out", destOut, "--aet", "DEST"])
    servers.push(dest)
    o = await startOrthanc({ modalities: { DEST: { aet: "DEST", port: dest.port } } })
  })

  it("store, then find, move and get", async () => {
    const stored = await netdicom(["store", "127.0.0.1", String(o.dicomPort), "--aec", o.aet, studyFiles()])
    assert.strictEqual(stored.code, 0, stored.stdout + stored.stderr)
    assert.match(stored.stdout, /2 sent, 0 warnings, 0 failed/)
    const stats = (await o.rest("/statistics")) as { CountInstances: number }
    assert.strictEqual(stats.CountInstances, 2)
    await queryRetrieve(o.dicomPort, o.aet, destOut)
  })
})

describe.runIf(dcmtk)("netdicom against DCMTK dcmqrscp", () => {
  let qr: Dcmqrscp
  let destOut: string
  beforeAll(async () => {
    destOut = temp("dest")
    const dest = await startServer(["storescp", "0", "--out", destOut, "--aet", "DEST"])
    servers.push(dest)
    qr = await startDcmqrscp({ peers: [{ aet: "DEST", port: dest.port }] })
  })

  it("store, then find, move and get", async () => {
    const stored = await netdicom(["store", "127.0.0.1", String(qr.port), "--aec", qr.aet, studyFiles()])
    assert.strictEqual(stored.code, 0, stored.stdout + stored.stderr)
    await queryRetrieve(qr.port, qr.aet, destOut)
  })
})
