/**
 * `netdicom store` fed hostile files, in one run with a good one, to `netdicom storescp` on 127.0.0.1: truncated,
 * empty, a File Meta Information group length that lies (4 GiB, 0), a Pixel Data length of 3 GiB in a 7 KB file, a
 * 10 GiB sparse file of zeros, sequences nested 100,000 deep, encapsulated Pixel Data never delimited, an unknown
 * transfer syntax, a million elements, text; and beside them a link to nothing, a link in a loop, a FIFO and a link to
 * a device. Each is refused with a clear reason, the good files are sent, the run ends in seconds. A link to nothing or
 * in a loop, a FIFO and a device inside a folder were dropped without a word (the run could end "0 failed" with a
 * linked instance never sent); they are now reported (FAILED, and SKIPPED for what is no file at all). A file name
 * holding a line break and ESC forged a summary line and reached the terminal; its FAILED line is now escaped. And the corpus
 * (../shared/corpus), read in place: every file is sent or refused with its reason, none lost between the two.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { lines, netdicom, part10, startServer, testFixtures, writeFile } from "../../packages/cli/test/support.ts"
import { corpusDir, corpusFile } from "../support/peers.ts"

const { temp } = testFixtures("store-hostile")
const servers: Array<{ readonly interrupt: () => Promise<unknown> }> = []
afterAll(async () => {
  for (const s of servers) await s.interrupt()
})

const storescp = async () => {
  const server = await startServer(["storescp", "0", "--out", temp("out"), "--sync", "none"])
  servers.push(server)
  return server.port
}

const u16 = (b: Buffer, at: number, n: number) => b.writeUInt16LE(n, at)
const u32 = (b: Buffer, at: number, n: number) => b.writeUInt32LE(n, at)

// The hostile files, made from a small generated CT (Explicit VR Little Endian): name -> [bytes, the reason expected].
const hostile = (good: Buffer): ReadonlyArray<readonly [string, Buffer, RegExp]> => {
  const metaEnd = 144 + good.readUInt32LE(140)
  const pixel = good.indexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00]), metaEnd)
  const head = good.subarray(0, pixel)
  const metaLies = Buffer.from(good)
  u32(metaLies, 140, 0xfffffff0)
  const metaZero = Buffer.from(good)
  u32(metaZero, 140, 0)
  const pixelLie = Buffer.concat([good.subarray(0, pixel + 12), Buffer.alloc(1000)])
  u32(pixelLie, pixel + 8, 0xc0000000)
  const depth = 100_000
  const nested = Buffer.alloc(depth * 20)
  for (let k = 0; k < depth; k++) {
    const o = k * 20
    u16(nested, o, 0x0009)
    u16(nested, o + 2, 0x1010)
    nested.write("SQ", o + 4, "latin1")
    u32(nested, o + 8, 0xffffffff)
    u16(nested, o + 12, 0xfffe)
    u16(nested, o + 14, 0xe000)
    u32(nested, o + 16, 0xffffffff)
  }
  const encapsulated = Buffer.alloc(24)
  u16(encapsulated, 0, 0x7fe0)
  u16(encapsulated, 2, 0x0010)
  encapsulated.write("OB", 4, "latin1")
  u32(encapsulated, 8, 0xffffffff)
  u16(encapsulated, 12, 0xfffe)
  u16(encapsulated, 14, 0xe000)
  u32(encapsulated, 16, 4)
  const ts = good.indexOf("1.2.840.10008.1.2.1\0", 0, "latin1")
  const unknownTs = Buffer.from(good)
  unknownTs.write("1.2.3.4.5.6.7.8.9.1", ts, "latin1")
  return [
    ["truncated.dcm", good.subarray(0, good.length - 7), /truncated or malformed data set: \(7fe0,0010\) needs/],
    ["empty.dcm", Buffer.alloc(0), /no File Meta Information: only 0 bytes/],
    ["dicm-only.dcm", Buffer.concat([Buffer.alloc(128), Buffer.from("DICM")]), /truncated file meta/],
    ["meta-length-lies.dcm", metaLies, /group length 4294967280 exceeds the limit/],
    ["meta-length-zero.dcm", metaZero, /no Transfer Syntax UID/],
    ["pixel-3gib.dcm", pixelLie, /\(7fe0,0010\) needs 3221225472 bytes/],
    ["nested.dcm", Buffer.concat([head, nested]), /sequences nested too deep/],
    ["encapsulated.dcm", Buffer.concat([head, encapsulated]), /\(7fe0,0010\) has no sequence delimiter/],
    ["unknown-ts.dcm", unknownTs, /did not accept .* in 1\.2\.3\.4\.5\.6\.7\.8\.9\.1/],
    ["notes.txt", Buffer.from("hello\n"), /no "DICM" after the 128-byte preamble|only 6 bytes/]
  ]
}

describe("netdicom store fed hostile files", () => {
  it("each refused with its reason, the good ones sent, links and FIFOs reported, in seconds", async () => {
    const port = await storescp()
    const dir = temp("hostile")
    const spec = { patientId: "P1", patientName: "Doe^J", study: "1.2.3", series: "1.2.3.9" }
    const good = Buffer.from(part10({ ...spec, sop: "1.2.3.1" }))
    writeFile(dir, "good-1.dcm", good)
    writeFile(dir, "good-2.dcm", part10({ ...spec, sop: "1.2.3.2" }))
    const cases = hostile(good)
    for (const [name, bytes] of cases) writeFile(dir, name, bytes)
    // 10 GiB of zeros, sparse (no disk used)
    fs.closeSync(fs.openSync(path.join(dir, "sparse.dcm"), "w"))
    fs.truncateSync(path.join(dir, "sparse.dcm"), 10 * 1024 ** 3)
    fs.symlinkSync(path.join(dir, "gone.dcm"), path.join(dir, "dangling.dcm"))
    fs.symlinkSync("circle.dcm", path.join(dir, "circle.dcm"))
    fs.symlinkSync("/dev/zero", path.join(dir, "zero.dcm"))
    assert.strictEqual(spawnSync("mkfifo", [path.join(dir, "pipe.dcm")]).status, 0)
    // a file name holding a line break and ESC: its FAILED line must stay one line, escaped
    writeFile(dir, "odd\n9 sent, 0 warnings, 0 failed\u001b[2J.dcm", "not DICOM")

    const started = Date.now()
    const r = await netdicom(["store", "127.0.0.1", String(port), dir, "--aec", "STORESCP"], 120_000)
    const took = Date.now() - started
    const out = r.stdout + r.stderr
    assert.strictEqual(r.code, 1, out)
    assert.isBelow(took, 30_000, `took ${took} ms`)
    const failed = lines(r.stderr).filter((l) => l.startsWith("FAILED "))
    for (const [name, , reason] of cases) {
      const line = failed.find((l) => l.startsWith(`FAILED ${path.join(dir, name)}: `))
      assert.isDefined(line, `${name} not refused:\n${out}`)
      assert.match(line!, reason, line)
    }
    assert.include(failed, `FAILED ${path.join(dir, "dangling.dcm")}: a symbolic link to nothing`, out)
    assert.include(failed, `FAILED ${path.join(dir, "circle.dcm")}: a loop of symbolic links`, out)
    assert.isDefined(
      failed.find((l) => l.startsWith(`FAILED ${path.join(dir, "sparse.dcm")}: `)),
      out
    )
    assert.include(lines(r.stderr), `SKIPPED ${path.join(dir, "pipe.dcm")}: not a regular file (a FIFO)`, out)
    assert.include(lines(r.stderr), `SKIPPED ${path.join(dir, "zero.dcm")}: not a regular file (a device)`, out)
    assert.include(
      failed.map((l) => l.split(": ")[0]),
      `FAILED ${path.join(dir, "odd\\x0a9 sent, 0 warnings, 0 failed\\x1b[2J.dcm")}`,
      out
    )
    assert.notInclude(out, "\u001b", out)
    // the ten above, the sparse file, the two links and the odd name
    assert.deepStrictEqual(lines(r.stdout), [`2 sent, 0 warnings, ${cases.length + 4} failed`], out)
  }, 150_000)

  it.skipIf(corpusFile("CT_small.dcm") === undefined)(
    "the corpus, read in place: every file sent or refused with its reason",
    async () => {
      const port = await storescp()
      const corpus = corpusDir()
      const walked: Array<string> = []
      const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
          if (e.name.startsWith(".")) continue
          const p = path.join(d, e.name)
          if (e.isDirectory()) walk(p)
          else walked.push(p)
        }
      }
      walk(corpus)
      const r = await netdicom(["store", "127.0.0.1", String(port), corpus, "--aec", "STORESCP"], 120_000)
      const out = r.stdout + r.stderr
      const summary = /^(\d+) sent, (\d+) warnings, (\d+) failed$/.exec(lines(r.stdout).at(-1) ?? "")
      assert.isNotNull(summary, out)
      const failed = lines(r.stderr).filter((l) => l.startsWith("FAILED "))
      for (const l of failed) assert.match(l, /^FAILED \S.*: \S/, l)
      assert.strictEqual(failed.length, Number(summary![3]), out)
      assert.strictEqual(Number(summary![1]) + Number(summary![3]), walked.length, out)
      assert.isAbove(Number(summary![1]), 0, out)
    },
    150_000
  )
})
