/**
 * Proves the real-peer harness (tests/support/peers.ts): DCMTK storescp and dcmqrscp and Orthanc start on
 * OS-picked loopback ports, answer DCMTK SCUs (C-ECHO, C-STORE, C-FIND, C-MOVE of PS3.4 / PS3.7), and
 * are gone after stop(). Skips, with a warning, where DCMTK, Orthanc or the corpus are missing.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import {
  corpusDir,
  corpusFile,
  freePort,
  hasDcmtk,
  hasOrthanc,
  LOOPBACK,
  makeTempDir,
  missingDcmtkTools,
  part10Dataset,
  removeDir,
  run,
  startDcmqrscp,
  startOrthanc,
  startStorescp,
  stopAll,
  waitForPort
} from "./support/peers.ts"

const dcmtk = hasDcmtk()
const orthanc = hasOrthanc()
const ctSmall = corpusFile("CT_small.dcm")

if (!dcmtk) console.warn(`peers.test.ts: DCMTK tools missing (${missingDcmtkTools().join(", ")}): skipping DCMTK tests`)
if (!orthanc) console.warn("peers.test.ts: Orthanc not installed: skipping Orthanc tests")
if (ctSmall === undefined) {
  console.warn(`peers.test.ts: corpus file CT_small.dcm not found in ${corpusDir()} (set NETDICOM_CORPUS): skipping`)
}

const tempDirs: Array<string> = []
const tempDir = (prefix: string): string => {
  const dir = makeTempDir(prefix)
  tempDirs.push(dir)
  return dir
}

afterAll(async () => {
  await stopAll()
  for (const dir of tempDirs) removeDir(dir)
})

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Reads one attribute value with dcmdump (`(gggg,eeee) VR [value]`). */
const dumpValue = async (file: string, tag: string): Promise<string | undefined> => {
  const result = await run("dcmdump", ["-s", "+P", tag, file])
  return /\[([^\]]*)\]/.exec(result.stdout)?.[1]
}

describe("ports", () => {
  it("freePort returns a port that waitForPort sees accepting once something listens", async () => {
    const port = await freePort()
    assert.isTrue(port > 0 && port < 65536)

    const rejected = await waitForPort(port, 200).then(
      () => false,
      () => true
    )
    assert.isTrue(rejected, "nothing listens yet: waitForPort must time out")

    const net = await import("node:net")
    const server = net.createServer((socket) => socket.destroy())
    await new Promise<void>((resolve) => server.listen(port, LOOPBACK, resolve))
    try {
      await waitForPort(port, 2_000)
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  it.skipIf(!dcmtk)("run bounds a command by its timeout", async () => {
    const result = await run("sh", ["-c", "sleep 10"], { timeoutMs: 200 })
    assert.isTrue(result.timedOut)
    assert.strictEqual(result.signal, "SIGKILL")
  })
})

describe.skipIf(!dcmtk || ctSmall === undefined)("storescp", () => {
  it("answers echoscu and stores a file from storescu with an identical data set", async () => {
    const outDir = tempDir("netdicom-storescp-")
    const scp = await startStorescp({ outDir, extraArgs: ["+B"] })
    try {
      const echo = await run("echoscu", ["-aet", "ECHOSCU", "-aec", scp.aet, LOOPBACK, String(scp.port)])
      assert.strictEqual(echo.code, 0, echo.stderr)

      const store = await run("storescu", [
        "-aet",
        "STORESCU",
        "-aec",
        scp.aet,
        LOOPBACK,
        String(scp.port),
        ctSmall ?? ""
      ])
      assert.strictEqual(store.code, 0, store.stderr)

      const sopInstanceUid = await dumpValue(ctSmall ?? "", "0008,0018")
      assert.isDefined(sopInstanceUid)
      const files = scp.files()
      assert.strictEqual(files.length, 1, scp.logs())
      const received = files[0] ?? ""
      assert.strictEqual(path.basename(received), `CT.${sopInstanceUid}`)

      const sent = part10Dataset(fs.readFileSync(ctSmall ?? ""))
      const got = part10Dataset(fs.readFileSync(received))
      assert.isDefined(sent)
      assert.isDefined(got)
      // storescu (DCMTK) drops the file's trailing Data Set Trailing Padding (FFFC,FFFC) when it encodes the
      // data set for the wire; everything before it must arrive byte for byte (storescp runs with +B).
      const sentBytes = Buffer.from(sent ?? [])
      const gotBytes = Buffer.from(got ?? [])
      assert.isTrue(gotBytes.length > 0 && gotBytes.length <= sentBytes.length)
      assert.isTrue(sentBytes.subarray(0, gotBytes.length).equals(gotBytes), "data set differs")
      const rest = sentBytes.subarray(gotBytes.length)
      if (rest.length > 0) {
        assert.strictEqual(
          rest.subarray(0, 6).toString("latin1"),
          "\xfc\xff\xfc\xffOB",
          "only trailing padding may be missing"
        )
        assert.strictEqual(rest.readUInt32LE(8), rest.length - 12)
      }
      assert.include(scp.logs(), "Association Received")
    } finally {
      await scp.stop()
    }
    assert.isFalse(isAlive(scp.pid), "storescp still running after stop()")
  })
})

describe.skipIf(!dcmtk || !orthanc || ctSmall === undefined)("Orthanc", () => {
  it("answers echoscu, stores from storescu and reports the instance over REST", async () => {
    const server = await startOrthanc({ dir: tempDir("netdicom-orthanc-") })
    try {
      const system = (await server.rest("/system")) as { DicomAet?: string; DicomPort?: number; HttpPort?: number }
      assert.strictEqual(system.DicomAet, "ORTHANC")
      assert.strictEqual(system.DicomPort, server.dicomPort)
      assert.strictEqual(system.HttpPort, server.httpPort)

      const curl = await run("curl", ["-sf", `${server.httpUrl}/system`])
      assert.strictEqual(curl.code, 0, curl.stderr)
      assert.include(curl.stdout, '"DicomAet" : "ORTHANC"')

      const echo = await run("echoscu", ["-aet", "ECHOSCU", "-aec", server.aet, LOOPBACK, String(server.dicomPort)])
      assert.strictEqual(echo.code, 0, echo.stderr)

      const before = (await server.rest("/statistics")) as { CountInstances?: number }
      assert.strictEqual(before.CountInstances, 0)

      const store = await run("storescu", ["-aec", server.aet, LOOPBACK, String(server.dicomPort), ctSmall ?? ""])
      assert.strictEqual(store.code, 0, store.stderr)

      const after = (await server.rest("/statistics")) as { CountInstances?: number }
      assert.strictEqual(after.CountInstances, 1)
      const instances = (await server.rest("/instances")) as ReadonlyArray<string>
      assert.strictEqual(instances.length, 1)
    } finally {
      await server.stop()
    }
    assert.isFalse(isAlive(server.pid), "Orthanc still running after stop()")
  })
})

describe.skipIf(!dcmtk || ctSmall === undefined)("dcmqrscp", () => {
  it("stores a file, finds it at study level and moves it to a storescp", async () => {
    const outDir = tempDir("netdicom-move-dest-")
    const dest = await startStorescp({ outDir, aet: "MOVEDEST" })
    const qr = await startDcmqrscp({
      dir: tempDir("netdicom-dcmqrscp-"),
      aet: "QRSCP",
      peers: [{ aet: dest.aet, port: dest.port }]
    })
    try {
      const store = await qr.store([ctSmall ?? ""])
      assert.strictEqual(store.code, 0, store.stderr)

      const studyUid = await dumpValue(ctSmall ?? "", "0020,000d")
      assert.isDefined(studyUid)

      const find = await run("findscu", [
        "-v",
        "-S",
        "-aet",
        "FINDSCU",
        "-aec",
        qr.aet,
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        "StudyInstanceUID",
        LOOPBACK,
        String(qr.port)
      ])
      assert.strictEqual(find.code, 0, find.stderr)
      const findOutput = find.stdout + find.stderr
      assert.include(findOutput, "Find Response: 1 (Pending)")
      assert.notInclude(findOutput, "Find Response: 2 (Pending)")
      assert.include(findOutput, studyUid ?? "?")

      const move = await run("movescu", [
        "-S",
        "-aet",
        "MOVESCU",
        "-aec",
        qr.aet,
        "-aem",
        dest.aet,
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        `StudyInstanceUID=${studyUid}`,
        LOOPBACK,
        String(qr.port)
      ])
      assert.strictEqual(move.code, 0, move.stderr + qr.logs())
      assert.strictEqual(dest.files().length, 1, dest.logs())
    } finally {
      await qr.stop()
      await dest.stop()
    }
    assert.isFalse(isAlive(qr.pid), "dcmqrscp still running after stop()")
  })

  it("serves files preloaded with dcmqridx", async () => {
    const qr = await startDcmqrscp({ aet: "PRELOAD", preload: [ctSmall ?? ""] })
    try {
      const find = await run("findscu", [
        "-v",
        "-S",
        "-aec",
        qr.aet,
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        "StudyInstanceUID",
        LOOPBACK,
        String(qr.port)
      ])
      assert.strictEqual(find.code, 0, find.stderr)
      assert.include(find.stdout + find.stderr, "Find Response: 1 (Pending)")
    } finally {
      await qr.stop()
    }
    assert.isFalse(fs.existsSync(qr.dir), "own temp dir removed on stop()")
  })
})
