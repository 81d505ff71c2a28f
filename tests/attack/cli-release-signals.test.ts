/**
 * `netdicom find` whose C-FIND is over, stuck releasing: the peer never answers the A-RELEASE-RQ. Ctrl-C pressed
 * then, twice, must abort the association at once (Signals: "a second signal aborts at once the associations the
 * command registered"), not leave the user waiting for the ACSE timeout (30 s) with every Ctrl-C ignored.
 * The peer is a raw SCP in this process on 127.0.0.1 (port 0).
 */
import { assert, describe, it } from "@effect/vitest"
import type { ChildProcess } from "node:child_process"
import { Dimse } from "@netdicom/wire"
import { spawnCommand } from "../../packages/cli/test/support.ts"
import { commandOf, pdataOf, rawScp } from "./hotpath-support.ts"

describe("Ctrl-C while netdicom find releases to a peer that never answers", () => {
  it("two Ctrl-C abort the association and end the command within seconds", async () => {
    const seen: Array<{ readonly what: string; readonly at: number }> = []
    let child: ChildProcess | undefined
    let secondAt = 0
    const interrupt = () => {
      if (child?.pid !== undefined && child.exitCode === null) process.kill(-child.pid, "SIGINT")
    }
    const scp = await rawScp({
      ignoreRelease: true,
      onPdu: (socket, type, body) => {
        if (type === 0x07) return void seen.push({ what: "A-ABORT", at: Date.now() })
        if (type === 0x05) {
          seen.push({ what: "A-RELEASE-RQ", at: Date.now() })
          // the release is under way: Ctrl-C, and again 300 ms later
          setTimeout(interrupt, 200)
          setTimeout(() => {
            secondAt = Date.now()
            interrupt()
          }, 500)
          return
        }
        const m = type === 0x04 ? commandOf(body) : undefined
        if (m?._tag !== "CFindRq") return
        seen.push({ what: m._tag, at: Date.now() })
        const final: Dimse.Message = {
          _tag: "CFindRsp",
          messageIdBeingRespondedTo: m.messageId,
          affectedSopClassUid: m.affectedSopClassUid,
          status: 0,
          hasIdentifier: false
        }
        socket.write(pdataOf(body[4]!, true, final))
      }
    })
    try {
      const command = spawnCommand(["find", "127.0.0.1", String(scp.port), "-k", "PatientName=*"], 60_000)
      child = command.child
      const { code, output } = await command.done
      const endedAt = Date.now()
      for (let i = 0; i < 100 && !seen.some((s) => s.what === "A-ABORT"); i++) {
        await new Promise((r) => setTimeout(r, 10))
      }
      assert.match(output, /^C-FIND: 0 matches, Success/m, output)
      assert.deepStrictEqual(
        seen.map((s) => s.what),
        ["CFindRq", "A-RELEASE-RQ", "A-ABORT"],
        output
      )
      assert.isAbove(secondAt, 0)
      assert.isBelow(endedAt - secondAt, 3_000, `ended ${endedAt - secondAt} ms after the second Ctrl-C (code ${code})`)
      assert.include([0, 130], code, output)
    } finally {
      scp.close()
    }
  }, 90_000)
})
