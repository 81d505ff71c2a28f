/**
 * `netdicom get` against a peer whose final C-GET-RSP counts sub-operations it never performed: "Success, 5
 * completed" with no C-STORE sent. The command printed the peer's counts, "0 files written", and exited 0, so a
 * script took the retrieve for done. The instances are the command's to count: it now says what it received and
 * exits 1; a final whose counts match what arrived still exits 0.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import type { Dimse } from "@netdicom/wire"
import { spawnCommand } from "../../packages/cli/test/support.ts"
import { commandOf, pdataOf, rawScp } from "./hotpath-support.ts"

const tmp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdicom-get-claims-"))
afterAll(() => Fs.rmSync(tmp, { recursive: true, force: true }))

// A raw SCP answering a C-GET-RQ at once with a final response claiming `completed` sub-operations.
const claimingScp = (completed: number) =>
  rawScp({
    onPdu: (socket, type, body) => {
      const m = type === 0x04 ? commandOf(body) : undefined
      if (m?._tag !== "CGetRq") return
      const final: Dimse.Message = {
        _tag: "CGetRsp",
        messageIdBeingRespondedTo: m.messageId,
        affectedSopClassUid: m.affectedSopClassUid,
        status: 0,
        numberOfCompletedSuboperations: completed,
        numberOfFailedSuboperations: 0,
        numberOfWarningSuboperations: 0,
        hasIdentifier: false
      }
      socket.write(pdataOf(body[4]!, true, final))
    }
  })

const get = async (completed: number) => {
  const scp = await claimingScp(completed)
  try {
    const out = Fs.mkdtempSync(Path.join(tmp, "out-"))
    const args = ["get", "127.0.0.1", String(scp.port), "-k", "StudyInstanceUID=1.2.3", "--out", out]
    return await spawnCommand(args, 60_000).done
  } finally {
    scp.close()
  }
}

describe("netdicom get: a final response counting instances never sent", () => {
  it("Success with 5 completed and nothing received: says so and exits 1", async () => {
    const { code, output } = await get(5)
    assert.match(output, /C-GET Success.*\(0x0000\): 5 completed/, output)
    assert.include(output, "the peer counted 5 sub-operations completed, but only 0 instances were received", output)
    assert.include(output, "0 files written")
    assert.strictEqual(code, 1, output)
  }, 90_000)

  it("Success with 0 completed (nothing matched): exit 0", async () => {
    const { code, output } = await get(0)
    assert.notInclude(output, "the peer counted", output)
    assert.strictEqual(code, 0, output)
  }, 90_000)
})
