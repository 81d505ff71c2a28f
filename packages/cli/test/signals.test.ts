/**
 * How `netdicom` ends on signals: the exit code names the signal (SIGINT 130, SIGTERM 143); Ctrl-C (or SIGTERM) on
 * a C-FIND or C-MOVE cancels it, prints the final Cancel response and releases the association; against a peer that
 * never answers its C-CANCEL it ends within the cancel timeout (5 s), not the DIMSE timeout (60 s), or at once on a
 * second Ctrl-C. The peer is a raw SCP in this process on 127.0.0.1 (port 0).
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import type { ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Dimse } from "@netdicom/wire"
import { commandOf, pdataOf, rawScp } from "../../../tests/attack/hotpath-support.ts"
import { spawnCommand, startServer } from "./support.ts"

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
 * `netdicom find` (or `move`, with `move`) against an SCP that sends one pending response and then nothing until
 * a C-CANCEL, which it answers with a final 0xFE00 (counts for C-MOVE) when `answerCancel`, and ignores otherwise:
 * `signal` (to the process group) once the pending response is out, and again `againAfterMs` later when given.
 * Resolves with the exit code, the output, when the first signal was sent and what the SCP saw.
 */
const interrupted = async (
  options: {
    readonly againAfterMs?: number
    readonly answerCancel?: boolean
    readonly move?: boolean
    readonly signal?: "SIGINT" | "SIGTERM"
  } = {}
) => {
  const seen: Array<Seen> = []
  let child: ChildProcess | undefined
  let interruptedAt = 0
  const interrupt = () => {
    if (child?.pid !== undefined && child.exitCode === null) process.kill(-child.pid, options.signal ?? "SIGINT")
  }
  let outstanding: { readonly pc: number; readonly request: Dimse.Message } | undefined
  const scp = await rawScp({
    onPdu: (socket, type, body) => {
      if (type === 0x07) return void seen.push({ what: "A-ABORT", at: Date.now() })
      if (type === 0x05) return void seen.push({ what: "A-RELEASE-RQ", at: Date.now() })
      const m = type === 0x04 ? commandOf(body) : undefined
      if (m === undefined) return
      seen.push({ what: m._tag, at: Date.now() })
      if (m._tag === "CCancelRq" && options.answerCancel && outstanding !== undefined) {
        const rq = outstanding.request as Dimse.CFindRq | Dimse.CMoveRq
        const final: Dimse.Message =
          rq._tag === "CMoveRq"
            ? {
                _tag: "CMoveRsp",
                messageIdBeingRespondedTo: rq.messageId,
                affectedSopClassUid: rq.affectedSopClassUid,
                status: 0xfe00,
                hasIdentifier: false,
                numberOfRemainingSuboperations: 3,
                numberOfCompletedSuboperations: 2,
                numberOfFailedSuboperations: 0,
                numberOfWarningSuboperations: 0
              }
            : {
                _tag: "CFindRsp",
                messageIdBeingRespondedTo: rq.messageId,
                affectedSopClassUid: rq.affectedSopClassUid,
                status: 0xfe00,
                hasIdentifier: false
              }
        socket.write(pdataOf(outstanding.pc, true, final))
        return
      }
      if (m._tag !== "CFindRq" && m._tag !== "CMoveRq") return
      outstanding = { pc: body[4]!, request: m }
      const pending: Dimse.Message =
        m._tag === "CMoveRq"
          ? {
              _tag: "CMoveRsp",
              messageIdBeingRespondedTo: m.messageId,
              affectedSopClassUid: m.affectedSopClassUid,
              status: 0xff00,
              hasIdentifier: false,
              numberOfRemainingSuboperations: 4,
              numberOfCompletedSuboperations: 1,
              numberOfFailedSuboperations: 0,
              numberOfWarningSuboperations: 0
            }
          : {
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
        if (options.againAfterMs !== undefined) setTimeout(interrupt, options.againAfterMs)
      }, 200)
    }
  })
  try {
    const args = options.move
      ? ["move", "127.0.0.1", String(scp.port), "-k", "StudyInstanceUID=1.2.3", "--dest", "ELSEWHERE"]
      : ["find", "127.0.0.1", String(scp.port), "-k", "PatientName=*"]
    const command = spawnCommand(args, 90_000)
    child = command.child
    const { code, output } = await command.done
    const endedAt = Date.now()
    // the A-ABORT or A-RELEASE-RQ may still be on its way to the SCP's socket
    const ended = () => seen.some((s) => s.what === "A-ABORT" || s.what === "A-RELEASE-RQ")
    for (let i = 0; i < 100 && !ended(); i++) await new Promise((r) => setTimeout(r, 10))
    return { code, output, interruptedAt, endedAt, seen }
  } finally {
    scp.close()
  }
}

const findInterrupted = (againAfterMs?: number) => interrupted(againAfterMs === undefined ? {} : { againAfterMs })

describe("Ctrl-C on find and move against a peer that answers the C-CANCEL", () => {
  it("find: prints the final Cancel status, releases the association and exits 130", async () => {
    const r = await interrupted({ answerCancel: true })
    assert.strictEqual(r.code, 130, r.output)
    assert.deepStrictEqual(
      r.seen.map((s) => s.what),
      ["CFindRq", "CCancelRq", "A-RELEASE-RQ"],
      r.output
    )
    // (this SCP's pending response carries no identifier: counted apart)
    assert.match(
      r.output,
      /^C-FIND: 0 matches \(and 1 pending response without an identifier\), Cancel: matching terminated due to Cancel request \(0xFE00\)$/m
    )
    assert.isBelow(r.endedAt - r.interruptedAt, 4_000, r.output)
  }, 60_000)

  it("move: SIGTERM prints the final Cancel status with its counts (those not started too), releases and exits 143", async () => {
    const r = await interrupted({ answerCancel: true, move: true, signal: "SIGTERM" })
    assert.strictEqual(r.code, 143, r.output)
    assert.deepStrictEqual(
      r.seen.map((s) => s.what),
      ["CMoveRq", "CCancelRq", "A-RELEASE-RQ"],
      r.output
    )
    assert.match(
      r.output,
      /^C-MOVE Cancel: sub-operations terminated due to Cancel indication \(0xFE00\): 2 completed, 0 warnings, 0 failed, 3 remaining$/m
    )
  }, 60_000)
})

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
