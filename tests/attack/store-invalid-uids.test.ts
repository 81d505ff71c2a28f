/**
 * `netdicom store` proposes one presentation context per SOP class and transfer syntax its files hold, read from each
 * file. A file whose Transfer Syntax UID (0002,0010) or SOP Class UID is no UID (a letter in it, 65 characters, 64 KiB
 * of digits) made the A-ASSOCIATE-RQ unencodable, so the whole run failed ("invalid A-ASSOCIATE-RQ: transfer syntax
 * of context 3: UID ...", the 64 KiB value printed in full) and the good files beside it were not sent. Such a file
 * is now refused on its own when inspected (PS3.5 9.1: a UID is digits and dots, at most 64 characters), with its
 * value shortened in the reason, and the others are sent.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { CT, EXPLICIT_LE, netdicom, part10, startServer } from "../../packages/cli/test/support.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-store-invalid-uids-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

/** An Explicit VR Little Endian element with a 16-bit length, its UI value padded with a NUL to an even length. */
const element = (group: number, elem: number, vr: string, value: Buffer): Buffer => {
  const padded = value.length % 2 === 1 ? Buffer.concat([value, Buffer.of(0)]) : value
  const header = Buffer.alloc(8)
  header.writeUInt16LE(group, 0)
  header.writeUInt16LE(elem, 2)
  header.write(vr, 4, "latin1")
  header.writeUInt16LE(padded.length, 6)
  return Buffer.concat([header, padded])
}

/** A dcmjs-written file whose File Meta Information is written again by hand with the given UIDs. */
const file = (name: string, sop: string, uids: { readonly sopClass?: string; readonly ts?: string } = {}): string => {
  const sopClass = uids.sopClass ?? CT
  const original = Buffer.from(
    part10({ patientId: "P", patientName: "A^B", study: "1.2.3", series: "1.2.3.1", sop, sopClass })
  )
  const dataSet = original.subarray(132 + 12 + original.readUInt32LE(140))
  const version = Buffer.from([2, 0, 1, 0, 0x4f, 0x42, 0, 0, 2, 0, 0, 0, 0, 1]) // (0002,0001) OB 00 01
  const body = Buffer.concat([
    version,
    element(2, 2, "UI", Buffer.from(sopClass, "latin1")),
    element(2, 3, "UI", Buffer.from(sop, "latin1")),
    element(2, 0x10, "UI", Buffer.from(uids.ts ?? EXPLICIT_LE, "latin1")),
    element(2, 0x12, "UI", Buffer.from("1.2.3.4", "latin1"))
  ])
  const groupLength = Buffer.from([2, 0, 0, 0, 0x55, 0x4c, 4, 0, 0, 0, 0, 0])
  groupLength.writeUInt32LE(body.length, 8)
  const target = path.join(tmp, name)
  fs.writeFileSync(target, Buffer.concat([Buffer.alloc(128), Buffer.from("DICM"), groupLength, body, dataSet]))
  return target
}

describe("netdicom store with files whose UIDs are no UIDs", () => {
  it("each such file is refused on its own, the good ones are sent", async () => {
    const dir = path.join(tmp, "in")
    fs.mkdirSync(dir)
    const good = [file("in/a-good.dcm", "1.2.3.1.1"), file("in/z-good.dcm", "1.2.3.1.2")]
    const longTs = "1.2".repeat(10_000) + "1" // 30,001 characters of digits and dots
    const bad = [
      file("in/b-ts-letter.dcm", "1.2.3.1.3", { ts: "1.2.840.10008.1.2.1x" }),
      file("in/c-ts-65.dcm", "1.2.3.1.4", { ts: "1.2.840.10008.1.2.1." + "1".repeat(45) }),
      file("in/d-ts-long.dcm", "1.2.3.1.5", { ts: longTs }),
      file("in/e-class-letter.dcm", "1.2.3.1.6", { sopClass: "1.2.840.10008.5.1.4.1.1.x" })
    ]
    const out = path.join(tmp, "out")
    const server = await startServer(["storescp", "0", "--out", out])
    try {
      const r = await netdicom(["store", "127.0.0.1", String(server.port), dir])
      const text = r.stdout + r.stderr
      assert.match(text, /2 sent, 0 warnings, 4 failed/, text.slice(0, 2000))
      for (const f of bad) assert.include(text, `FAILED ${f}`)
      for (const f of good) assert.notInclude(text, `FAILED ${f}`)
      assert.notInclude(text, "invalid A-ASSOCIATE-RQ")
      assert.isBelow(text.length, 4000, "the 30,000-character value is not printed whole")
      assert.strictEqual(r.code, 1)
    } finally {
      await server.interrupt()
    }
  }, 60_000)
})
