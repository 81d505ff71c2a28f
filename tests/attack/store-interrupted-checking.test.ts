/**
 * Ctrl-C while `netdicom store` checks its files, before it connects (a large file of small elements takes seconds
 * to walk): the command stops at once, says it was interrupted, and still ends with the summary, every file counted
 * (failed or not sent), and exits 130, as it does when Ctrl-C lands while it sends.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Part10 } from "@netdicom/net"
import { repoRoot } from "../support/peers.ts"
import { BIN } from "../../packages/cli/test/support.ts"
import { CT, EXPLICIT } from "./support.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-store-int-check-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const uid = (s: string) => Buffer.from(s.length % 2 === 0 ? s : `${s}\0`, "latin1")

const ui = (element: number, value: string): Buffer => {
  const v = uid(value)
  const header = Buffer.alloc(8)
  header.writeUInt16LE(0x0008, 0)
  header.writeUInt16LE(element, 2)
  header.write("UI", 4, "latin1")
  header.writeUInt16LE(v.length, 6)
  return Buffer.concat([header, v])
}

// A file whose data set is its identifiers and then `mib` MiB of empty private elements (8 bytes each).
const manyElements = (file: string, mib: number) => {
  const sop = "1.2.826.0.1.3680043.10.1478.112.1"
  const meta = Part10.writeMeta({
    transferSyntaxUid: EXPLICIT,
    sopClassUid: CT,
    sopInstanceUid: sop,
    implementationClassUid: "1.2.3.4"
  })
  const block = Buffer.alloc(1 << 20)
  for (let at = 0; at < block.length; at += 8) {
    block.writeUInt16LE(0x0009, at)
    block.writeUInt16LE(0x1010, at + 2)
    block.write("LO", at + 4, "latin1")
  }
  const fd = fs.openSync(file, "w")
  fs.writeSync(fd, Buffer.concat([meta, ui(0x0016, CT), ui(0x0018, sop)]))
  for (let i = 0; i < mib; i++) fs.writeSync(fd, block)
  fs.closeSync(fd)
}

describe("netdicom store interrupted while it checks its files", () => {
  it("stops, says so, ends with the summary and exits 130", async () => {
    const dir = path.join(tmp, "in")
    fs.mkdirSync(dir)
    // first a file that fails at once (its FAILED line says the check has begun), then the long one, then one more
    fs.writeFileSync(path.join(dir, "0-not-dicom.dcm"), "not DICOM")
    manyElements(path.join(dir, "1-many.dcm"), 384)
    fs.copyFileSync(path.join(dir, "0-not-dicom.dcm"), path.join(dir, "2-not-dicom.dcm"))
    // nothing listens on the port: the command never gets as far as connecting
    const child = spawn(process.execPath, [BIN, "store", "127.0.0.1", "9", dir], {
      cwd: repoRoot,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    let interruptedAt = 0
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()))
    const code = await new Promise<number | null>((resolve) => {
      const kill = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 60_000)
      child.stderr!.on("data", (d: Buffer) => {
        const first = interruptedAt === 0 && !stderr.includes("FAILED")
        stderr += d.toString()
        if (first && stderr.includes("FAILED")) {
          setTimeout(() => {
            interruptedAt = Date.now()
            process.kill(-child.pid!, "SIGINT")
          }, 100)
        }
      })
      child.on("close", (c) => {
        clearTimeout(kill)
        resolve(c)
      })
    })
    const took = Date.now() - interruptedAt
    assert.strictEqual(code, 130, stdout + stderr)
    assert.isAbove(interruptedAt, 0, "no FAILED line came")
    assert.isBelow(took, 2000, "the check went on after Ctrl-C")
    assert.include(stderr, "interrupted", stderr)
    const summary =
      stdout
        .split("\n")
        .filter((l) => l.trim() !== "")
        .at(-1) ?? ""
    assert.strictEqual(summary, "0 sent, 0 warnings, 3 failed", stdout + stderr)
  })
})
