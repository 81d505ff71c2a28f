/**
 * `netdicom find` against a peer whose pending C-FIND-RSPs carry no identifier (a pending response carries the
 * match, PS3.7 9.1.2): the command printed "C-FIND: 0 matches, Success" as if nothing had matched. It now says
 * how many pending responses came without an identifier.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Dimse } from "@netdicom/wire"
import { spawnCommand } from "../../packages/cli/test/support.ts"
import { commandOf, pdataOf, rawScp } from "./hotpath-support.ts"

describe("netdicom find: pending responses without an identifier", () => {
  it("are counted apart in the summary line, not taken for no match", async () => {
    const scp = await rawScp({
      onPdu: (socket, type, body) => {
        const m = type === 0x04 ? commandOf(body) : undefined
        if (m?._tag !== "CFindRq") return
        const respond = (status: number): Dimse.Message => ({
          _tag: "CFindRsp",
          messageIdBeingRespondedTo: m.messageId,
          affectedSopClassUid: m.affectedSopClassUid,
          status,
          hasIdentifier: false
        })
        socket.write(pdataOf(body[4]!, true, respond(0xff00)))
        socket.write(pdataOf(body[4]!, true, respond(0xff00)))
        socket.write(pdataOf(body[4]!, true, respond(0)))
      }
    })
    try {
      const { code, output } = await spawnCommand(
        ["find", "127.0.0.1", String(scp.port), "-k", "PatientName=*"],
        60_000
      ).done
      assert.include(output, "C-FIND: 0 matches (and 2 pending responses without an identifier), Success", output)
      assert.strictEqual(code, 0, output)
    } finally {
      scp.close()
    }
  }, 90_000)
})
