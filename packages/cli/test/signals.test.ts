/**
 * How `netdicom` ends on signals: the exit code names the signal (SIGINT 130, SIGTERM 143), and Ctrl-C on a C-FIND
 * against a peer that never answers its C-CANCEL ends within the cancel timeout (5 s), not the DIMSE timeout (60 s),
 * or at once on a second Ctrl-C. The peer is a raw SCP in this process on 127.0.0.1 (port 0).
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Dimse } from "@netdicom/wire"
import { commandOf, pdataOf, rawScp } from "../../../tests/attack/hotpath-support.ts"
import { repoRoot } from "../../../tests/support/peers.ts"
import { BIN, startServer } from "./support.ts"

const temps: Array<string> = []
const temp = (prefix: string): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `netdicom-${prefix}-`))
  temps.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of temps) fs.rmSync(dir, { recursive: true, force: true })
})

describe("the exit code names the signal", () => {
  it("storescp: SIGTERM exits 143, SIGINT 130", async () => {
    const terminated = await startServer(["storescp", "0", "--out", temp("sigterm")])
    assert.strictEqual(await terminated.stop("SIGTERM"), 143, terminated.output())
    const interrupted = await startServer(["storescp", "0", "--out", temp("sigint")])
    assert.strictEqual(await interrupted.stop("SIGINT"), 130, interrupted.output())
  })
})

interface Seen {
  readonly what: string
  readonly at: number
}

/**
 * `netdicom find` against an SCP that sends one pending response and then nothing, whatever comes (C-CANCEL
 * included): Ctrl-C (SIGINT to the process group) once the pending response is out, and again `againAfterMs` later
 * when given. Resolves with the exit code, the output, when the first Ctrl-C was sent and what the SCP saw.
 */
const findInterrupted = async (againAfterMs?: number) => {
  const seen: Array<Seen> = []
  let child: ReturnType<typeof spawn> | undefined
  let interruptedAt = 0
  const interrupt = () => {
    if (child?.pid !== undefined && child.exitCode === null) process.kill(-child.pid, "SIGINT")
  }
  const scp = await rawScp({
    onPdu: (socket, type, body) => {
      if (type === 0x07) return void seen.push({ what: "A-ABORT", at: Date.now() })
      const m = type === 0x04 ? commandOf(body) : undefined
      if (m === undefined) return
      seen.push({ what: m._tag, at: Date.now() })
      if (m._tag !== "CFindRq") return
      const pending: Dimse.Message = {
        _tag: "CFindRsp",
        messageIdBeingRespondedTo: m.messageId,
        affectedSopClassUid: m.affectedSopClassUid,
        status: 0xff00,
        hasIdentifier: false
      }
      socket.write(pdataOf(body[4]!, true, pending))
      setTimeout(() => {
        interruptedAt = Date.now()
        interrupt()
        if (againAfterMs !== undefined) setTimeout(interrupt, againAfterMs)
      }, 200)
    }
  })
  try {
    child = spawn(process.execPath, [BIN, "find", "127.0.0.1", String(scp.port), "-k", "PatientName=*"], {
      cwd: repoRoot,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout!.on("data", (d: Buffer) => (output += d.toString()))
    child.stderr!.on("data", (d: Buffer) => (output += d.toString()))
    const started = child
    const code = await new Promise<number | null>((resolve) => {
      const kill = setTimeout(() => process.kill(-started.pid!, "SIGKILL"), 90_000)
      started.on("close", (c) => {
        clearTimeout(kill)
        resolve(c)
      })
    })
    const endedAt = Date.now()
    // the A-ABORT may still be on its way to the SCP's socket
    for (let i = 0; i < 100 && !seen.some((s) => s.what === "A-ABORT"); i++) await new Promise((r) => setTimeout(r, 10))
    return { code, output, interruptedAt, endedAt, seen }
  } finally {
    scp.close()
  }
}

describe("Ctrl-C on find against a peer that never answers the C-CANCEL", () => {
  it("aborts the association 5 s after the C-CANCEL and exits 130", async () => {
    const r = await findInterrupted()
    assert.strictEqual(r.code, 130, r.output)
    assert.deepStrictEqual(
      r.seen.map((s) => s.what),
      ["CFindRq", "CCancelRq", "A-ABORT"],
      r.output
    )
    const cancel = r.seen[1]!.at
    const abort = r.seen[2]!.at
    assert.isAtLeast(abort - cancel, 4_500, "aborted before the cancel timeout")
    assert.isBelow(abort - cancel, 15_000, "waited for the DIMSE timeout")
    assert.isBelow(r.endedAt - r.interruptedAt, 15_000)
  }, 60_000)

  it("a second Ctrl-C aborts at once", async () => {
    const r = await findInterrupted(300)
    assert.strictEqual(r.code, 130, r.output)
    assert.deepStrictEqual(
      r.seen.map((s) => s.what),
      ["CFindRq", "CCancelRq", "A-ABORT"],
      r.output
    )
    assert.isBelow(r.seen[2]!.at - r.seen[1]!.at, 3_000, "the second Ctrl-C did not abort at once")
    assert.isBelow(r.endedAt - r.interruptedAt, 4_000, r.output)
  }, 60_000)
})
