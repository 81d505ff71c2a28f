/**
 * A C-GET SCP that sends its final response ("Success, 3 completed") right behind its three C-STORE sub-operations,
 * before our answers to them (a window of 1 broken; the counts happen to be true). `netdicom get` compared the count
 * with the instances stored as the final response came, while the 2 MiB one was still being written: it said "the
 * peer counted 3 sub-operations completed, but only 2 instances were received and stored" and exited 1, then "3
 * files written", every instance on disk and answered Success. The count is now compared once the association has
 * ended (its handlers finished). A raw SCP on 127.0.0.1.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { spawnCommand } from "../../packages/cli/test/support.ts"
import { el, hostileGetScp } from "./hostile-get-support.ts"
import { CT } from "./support.ts"

const ids = (uid: string): Buffer => Buffer.concat([el(0x0008, 0x0016, "UI", CT), el(0x0008, 0x0018, "UI", uid)])
const tail = Buffer.concat([el(0x0010, 0x0010, "PN", "DOE^JOHN"), el(0x0020, 0x000d, "UI", "1.2.9")])

const SENT: ReadonlyArray<readonly [string, Buffer]> = [
  ["1.2.9.1.1", Buffer.concat([ids("1.2.9.1.1"), tail])],
  // 2 MiB: streamed to its file, still being written when the final response comes
  [
    "1.2.9.1.2",
    Buffer.concat([
      ids("1.2.9.1.2"),
      tail,
      Buffer.from([0xe0, 0x7f, 0x10, 0, 0x4f, 0x42, 0, 0, 0, 0, 0x20, 0]),
      Buffer.alloc(2 << 20)
    ])
  ],
  ["1.2.9.1.3", Buffer.concat([ids("1.2.9.1.3"), tail])]
]

describe("netdicom get: a final response sent right behind the sub-operations, before their answers", () => {
  it("every instance written and answered Success: no claim of fewer received, exit 0", async () => {
    const scp = await hostileGetScp(SENT, "withStores")
    const out = Fs.mkdtempSync(Path.join(Os.tmpdir(), "get-final-early-"))
    try {
      const { code, output } = await spawnCommand(
        ["get", "127.0.0.1", String(scp.port), "-k", "StudyInstanceUID=1.2.9", "--out", out],
        60_000
      ).done
      assert.deepStrictEqual(Fs.readdirSync(out).sort(), ["1.2.9.1.1.dcm", "1.2.9.1.2.dcm", "1.2.9.1.3.dcm"], output)
      assert.deepStrictEqual([...scp.answers.values()], [0, 0, 0], output)
      assert.notInclude(output, "the peer counted", output)
      assert.include(output, "3 files written", output)
      assert.strictEqual(code, 0, output)
    } finally {
      scp.close()
      Fs.rmSync(out, { recursive: true, force: true })
    }
  }, 90_000)
})
