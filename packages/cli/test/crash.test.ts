/**
 * What a killed process leaves: `netdicom qrscp` restarted after SIGKILL finds the instances a crash or a hand left in
 * its store unindexed (and forgets those deleted), and removes the temporary files of writes cut short; `netdicom
 * storescp` and `netdicom get` remove theirs, never those of a `get` still running into the same folder.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { repoRoot } from "../../../tests/support/peers.ts"
import { BIN, lines, netdicom, part10, testFixtures, writeFile, type Server } from "./support.ts"

const { temp, serve } = testFixtures("crash")
const kill = async (server: Server): Promise<void> => {
  const closed = new Promise((resolve) => server.child.on("close", resolve))
  process.kill(-server.child.pid!, "SIGKILL")
  await closed
}

const STUDY = "1.2.826.0.1.3680043.10.1478.77.1"
const instance = (n: number, patientName = "DOE^JOHN") =>
  part10({ patientId: "P1", patientName, study: STUDY, series: `${STUDY}.1`, sop: `${STUDY}.1.${n}` })

/** A pid no process has (one that ran and exited), as a killed process leaves in its temporary files' names. */
const deadPid = (): number => spawnSync(process.execPath, ["-e", ""]).pid!

/** Writes a hidden file last modified long ago (before any process of the test started). */
const leftover = (dir: string, name: string): string => {
  const file = writeFile(dir, name, "partial")
  fs.utimesSync(file, new Date(0), new Date(0))
  return file
}

const sops = async (port: number): Promise<ReadonlyArray<string>> => {
  const r = await netdicom([
    "find",
    "127.0.0.1",
    String(port),
    "--level",
    "IMAGE",
    "-k",
    `StudyInstanceUID=${STUDY}`,
    "-k",
    `SeriesInstanceUID=${STUDY}.1`,
    "-k",
    "SOPInstanceUID"
  ])
  assert.strictEqual(r.code, 0, r.stdout + r.stderr)
  return lines(r.stdout)
    .map((l) => (JSON.parse(l) as Record<string, { Value: Array<string> }>)["00080018"]!.Value[0]!)
    .sort()
}

describe("qrscp restarted after SIGKILL", () => {
  it("indexes files the index does not have, forgets those gone, removes temporary files", async () => {
    const store = temp("store")
    const src = temp("src")
    for (const n of [1, 2]) writeFile(src, `${n}.dcm`, instance(n))
    const first = await serve(["qrscp", "0", "--store", store])
    const stored = await netdicom(["store", "127.0.0.1", String(first.port), src])
    assert.strictEqual(stored.code, 0, stored.stdout + stored.stderr)
    await kill(first)
    const folder = path.join(store, STUDY)
    // renamed into the store, not indexed yet (or copied in by hand while the server was down); one deleted by hand
    writeFile(folder, `${STUDY}.1.3.dcm`, instance(3))
    fs.rmSync(path.join(folder, `${STUDY}.1.1.dcm`))
    const dead = deadPid()
    const killed = leftover(folder, `.${STUDY}.1.4.dcm.${dead}-0123abcd.0123456789ab.tmp`)
    const earlier = leftover(folder, `.${STUDY}.1.5.dcm.0123456789ab.tmp`)
    const again = await serve(["qrscp", "0", "--store", store])
    assert.deepStrictEqual(await sops(again.port), [`${STUDY}.1.2`, `${STUDY}.1.3`])
    assert.match(again.output(), /reconciled .*: 2 file\(s\); 1 indexed, 0 indexed again .*1 entry removed/)
    assert.isFalse(fs.existsSync(killed), "a temporary file of a killed write was left")
    assert.isFalse(fs.existsSync(earlier), "a temporary file of an earlier version was left")
    // a C-GET of the instance found at start-up sends it
    const out = temp("get-out")
    const got = await netdicom([
      "get",
      "127.0.0.1",
      String(again.port),
      "-k",
      `StudyInstanceUID=${STUDY}`,
      "--out",
      out
    ])
    assert.strictEqual(got.code, 0, got.stdout + got.stderr)
    assert.sameMembers(fs.readdirSync(out), [`${STUDY}.1.2.dcm`, `${STUDY}.1.3.dcm`])
  })
})

describe("storescp restarted after SIGKILL", () => {
  it("removes the temporary files of killed writes, not those of a live process or a stranger", async () => {
    const out = temp("storescp-out")
    const folder = path.join(out, STUDY)
    const killed = leftover(folder, `.${STUDY}.1.4.dcm.${deadPid()}-0123abcd.0123456789ab.tmp`)
    const live = leftover(folder, `.${STUDY}.1.5.dcm.${process.pid}-0123abcd.0123456789ab.tmp`)
    const stranger = leftover(folder, ".notes.tmp")
    const scp = await serve(["storescp", "0", "--out", out])
    assert.isFalse(fs.existsSync(killed))
    assert.isTrue(fs.existsSync(live))
    assert.isTrue(fs.existsSync(stranger))
    assert.include(scp.output(), "removed 1 temporary file(s)")
  })
})

describe("get into a folder with temporary files", () => {
  it("removes its own of a killed get, keeps others", async () => {
    const qr = await serve(["qrscp", "0", "--store", temp("get-store"), "--db", ":memory:"])
    const src = temp("get-src")
    writeFile(src, "1.dcm", instance(1))
    assert.strictEqual((await netdicom(["store", "127.0.0.1", String(qr.port), src])).code, 0)
    const out = temp("get-leftovers")
    const dead = deadPid()
    const killed = leftover(out, `.${STUDY}.1.9.dcm.${dead}-0123abcd.0123456789ab.tmp`)
    const earlier = leftover(out, `.${STUDY}.1.8.0123abcd.tmp`)
    const live = leftover(out, `.${STUDY}.1.7.dcm.${process.pid}-0123abcd.0123456789ab.tmp`)
    const stranger = leftover(out, ".notes.0123abcd.tmp")
    const r = await netdicom(["get", "127.0.0.1", String(qr.port), "-k", `StudyInstanceUID=${STUDY}`, "--out", out])
    assert.strictEqual(r.code, 0, r.stdout + r.stderr)
    assert.isFalse(fs.existsSync(killed))
    assert.isFalse(fs.existsSync(earlier))
    assert.isTrue(fs.existsSync(live))
    assert.isTrue(fs.existsSync(stranger))
    assert.isTrue(fs.existsSync(path.join(out, `${STUDY}.1.1.dcm`)))
  })

  it("two gets into one folder: the second, started while the first is mid-file, keeps its file", async () => {
    const qr = await serve(["qrscp", "0", "--store", temp("concurrent-store"), "--db", ":memory:"])
    const src = temp("concurrent-src")
    // a 48 MiB instance (a large private OB element after the pixel data), and a small one in another study
    const base = instance(1)
    const size = 48 << 20
    const big = new Uint8Array(base.length + 12 + size)
    big.set(base)
    big.set([0xe1, 0x7f, 0x10, 0x10, 0x4f, 0x42, 0, 0], base.length)
    new DataView(big.buffer).setUint32(base.length + 8, size, true)
    writeFile(src, "big.dcm", big)
    const other = "1.2.826.0.1.3680043.10.1478.77.2"
    writeFile(
      src,
      "small.dcm",
      part10({ patientId: "P2", patientName: "X", study: other, series: `${other}.1`, sop: `${other}.1.1` })
    )
    assert.strictEqual((await netdicom(["store", "127.0.0.1", String(qr.port), src])).code, 0)
    const out = temp("concurrent-out")
    const first = spawn(
      process.execPath,
      [BIN, "get", "127.0.0.1", String(qr.port), "-k", `StudyInstanceUID=${STUDY}`, "--out", out],
      { cwd: repoRoot, detached: true, stdio: ["ignore", "pipe", "pipe"] }
    )
    let firstOutput = ""
    first.stdout!.on("data", (d: Buffer) => (firstOutput += d.toString()))
    first.stderr!.on("data", (d: Buffer) => (firstOutput += d.toString()))
    const firstExit = new Promise<number | null>((resolve) => first.on("close", resolve))
    // the first get's temporary file appears: stop it there (a stalled transfer), and age the file
    const tmp = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no temporary file appeared:\n${firstOutput}`)), 30_000)
      const poll = setInterval(() => {
        const name = fs.readdirSync(out).find((n) => n.endsWith(".tmp"))
        if (name === undefined) return
        process.kill(-first.pid!, "SIGSTOP")
        clearInterval(poll)
        clearTimeout(timer)
        resolve(path.join(out, name))
      }, 1)
    })
    try {
      assert.isTrue(fs.existsSync(tmp), "the first get finished before it could be stopped")
      fs.utimesSync(tmp, new Date(0), new Date(0))
      const second = await netdicom([
        "get",
        "127.0.0.1",
        String(qr.port),
        "-k",
        `StudyInstanceUID=${other}`,
        "--out",
        out
      ])
      assert.strictEqual(second.code, 0, second.stdout + second.stderr)
      assert.isTrue(fs.existsSync(tmp), "the second get removed the first one's temporary file")
    } finally {
      process.kill(-first.pid!, "SIGCONT")
    }
    assert.strictEqual(await firstExit, 0, firstOutput)
    assert.sameMembers(fs.readdirSync(out), [`${STUDY}.1.1.dcm`, `${other}.1.1.dcm`])
    assert.isAbove(fs.statSync(path.join(out, `${STUDY}.1.1.dcm`)).size, size)
  }, 60_000)
})
