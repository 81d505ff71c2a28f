/**
 * A hostile C-GET SCP whose C-STORE sub-operations carry data sets broken in their structure: cut short (an element
 * longer than what follows), in Implicit VR on a context accepted as Explicit VR (lying about its syntax), a
 * sequence of undefined length never closed. `netdicom get` wrote each as given, answered it Success and counted it
 * received, where `storescp` and `qrscp` refuse such a data set 0xC000 (their walk of its element headers). Now the
 * command walks what it writes the same way: each is answered a failure, its file removed, and the command fails
 * naming them; a well-formed one beside them is kept. A raw SCP on 127.0.0.1.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { spawnCommand } from "../../packages/cli/test/support.ts"
import { el, hostileGetScp } from "./hostile-get-support.ts"
import { CT } from "./support.ts"

const ids = (uid: string, explicit = true): Buffer =>
  Buffer.concat([el(0x0008, 0x0016, "UI", CT, explicit), el(0x0008, 0x0018, "UI", uid, explicit)])

const tail = (explicit = true): Buffer =>
  Buffer.concat([
    el(0x0010, 0x0010, "PN", "DOE^JOHN", explicit),
    el(0x0020, 0x000d, "UI", "1.2.9", explicit),
    el(0x0020, 0x000e, "UI", "1.2.9.1", explicit)
  ])

// (0010,0010) PN announcing 256 bytes where 4 follow
const cutShort = Buffer.concat([
  ids("1.2.9.1.1"),
  Buffer.from([0x10, 0, 0x10, 0, 0x50, 0x4e, 0, 1]),
  Buffer.from("DOE^")
])
// the same elements in Implicit VR Little Endian, on the Explicit VR context
const implicitOnExplicit = Buffer.concat([ids("1.2.9.1.2", false), tail(false)])
// (0040,0275) SQ of undefined length, one item of undefined length, neither delimited
const unclosed = Buffer.concat([
  ids("1.2.9.1.3"),
  tail(),
  Buffer.from([0x40, 0, 0x75, 0x02, 0x53, 0x51, 0, 0, 0xff, 0xff, 0xff, 0xff]),
  Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff]),
  el(0x0040, 0x0009, "SH", "SPS1")
])
const good = Buffer.concat([ids("1.2.9.1.4"), tail()])
// 2 MiB, so not given whole to the handler but streamed to its file: (7FE0,0010) OB announcing 3 MiB
const bigCutShort = Buffer.concat([
  ids("1.2.9.1.5"),
  tail(),
  Buffer.from([0xe0, 0x7f, 0x10, 0, 0x4f, 0x42, 0, 0, 0, 0, 0x30, 0]),
  Buffer.alloc(2 << 20)
])
// the same, whole
const bigGood = Buffer.concat([
  ids("1.2.9.1.6"),
  tail(),
  Buffer.from([0xe0, 0x7f, 0x10, 0, 0x4f, 0x42, 0, 0, 0, 0, 0x20, 0]),
  Buffer.alloc(2 << 20)
])

const SENT: ReadonlyArray<readonly [string, Buffer]> = [
  ["1.2.9.1.1", cutShort],
  ["1.2.9.1.2", implicitOnExplicit],
  ["1.2.9.1.3", unclosed],
  ["1.2.9.1.4", good],
  ["1.2.9.1.5", bigCutShort],
  ["1.2.9.1.6", bigGood]
]

describe("netdicom get: C-STOREs whose data set is broken in its structure", () => {
  it("each answered a failure, no file kept for it, the well-formed one kept, the command fails", async () => {
    const scp = await hostileGetScp(SENT, "afterAnswers")
    const out = Fs.mkdtempSync(Path.join(Os.tmpdir(), "get-malformed-"))
    try {
      const { code, output } = await spawnCommand(
        ["get", "127.0.0.1", String(scp.port), "-k", "StudyInstanceUID=1.2.9", "--out", out],
        60_000
      ).done
      const files = Fs.readdirSync(out).sort()
      assert.deepStrictEqual(files, ["1.2.9.1.4.dcm", "1.2.9.1.6.dcm"], output)
      assert.strictEqual(scp.answers.get("1.2.9.1.4"), 0, output)
      assert.strictEqual(scp.answers.get("1.2.9.1.6"), 0, output)
      for (const uid of ["1.2.9.1.1", "1.2.9.1.2", "1.2.9.1.3", "1.2.9.1.5"]) {
        const status = scp.answers.get(uid)
        assert.isTrue(status !== undefined && (status & 0xf000) === 0xc000, `${uid} answered ${status}: ${output}`)
      }
      assert.notStrictEqual(code, 0, output)
    } finally {
      scp.close()
      Fs.rmSync(out, { recursive: true, force: true })
    }
  }, 90_000)
})
