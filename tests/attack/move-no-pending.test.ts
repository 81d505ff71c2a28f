/**
 * A C-MOVE SCP need send no Pending C-MOVE-RSP (PS3.4 C.4.2.3: "may optionally"), and its sub-operations go to
 * another association, so our SCU saw nothing between the C-MOVE-RQ and the final response and aborted a move longer
 * than the DIMSE timeout mid-way. A caller whose own storage SCP is the destination (`netdicom move --listen`) sees
 * the sub-operations arrive: given as `progress`, they restart the wait. A peer (and a destination) gone silent
 * still fails it at the DIMSE timeout. A scripted SCP on 127.0.0.1.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Logger, Result, Stream } from "effect"
import { ApplicationEntity, QueryRetrieve, Scu } from "@netdicom/net"
import { Status } from "@netdicom/wire"
import { scriptedScp } from "../../packages/net/test/rawPeer.ts"
import { moveFinalRsp } from "./scripted-get-support.ts"
import { IMPLICIT } from "./support.ts"

const MOVE = QueryRetrieve.SOP_CLASSES.study.move!

// The final C-MOVE-RSP, `afterMs` after the C-MOVE-RQ, with no Pending response before it.
const lateFinal = (afterMs: number) =>
  scriptedScp((socket, pc, command) => {
    if (command.commandField !== 0x0021) return
    setTimeout(() => {
      if (socket.destroyed) return
      socket.write(moveFinalRsp(pc, command.messageId!, 3))
    }, afterMs)
  })

// Our SCU's C-MOVE (DIMSE timeout 1 s) against the SCP on `port`, with `progress` if given: its outcome and duration.
const moving = (port: number, progress?: () => number) =>
  Effect.gen(function* () {
    const ae = Result.getOrThrow(ApplicationEntity.make({ aeTitle: "NETDICOM-SCU", timeouts: { dimse: "1 second" } }))
    const started = Date.now()
    const exit = yield* Effect.scoped(
      Effect.gen(function* () {
        const channel = yield* Scu.connect(ae, {
          host: "127.0.0.1",
          port,
          calledAeTitle: "NETDICOM-SCP",
          contexts: [{ abstractSyntax: MOVE, transferSyntaxes: [IMPLICIT] }]
        })
        return yield* Stream.runCollect(
          Scu.move(channel, {
            model: "study",
            destination: "MOVER",
            identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2" },
            ...(progress === undefined ? {} : { progress })
          })
        )
      })
    ).pipe(Effect.exit, Effect.timeout("20 seconds"), Effect.provide(Logger.layer([])))
    return { exit, ms: Date.now() - started }
  })

// A count growing every `everyMs` until `untilMs` from now, as sub-operations arriving at our storage SCP would.
const ticking = (everyMs: number, untilMs: number) => {
  let n = 0
  const started = Date.now()
  const timer = setInterval(() => {
    if (Date.now() - started >= untilMs) clearInterval(timer)
    else n++
  }, everyMs)
  return { progress: () => n, stop: () => clearInterval(timer) }
}

describe("a C-MOVE SCP sending no Pending responses", () => {
  it.live(
    "final response 3 s after the request, sub-operations arriving meanwhile (DIMSE timeout 1 s): Success",
    () =>
      Effect.gen(function* () {
        const scp = yield* lateFinal(3000)
        const sub = ticking(300, 10_000)
        const { exit } = yield* moving(scp.port, sub.progress)
        sub.stop()
        assert.isTrue(Exit.isSuccess(exit), String(exit))
        if (Exit.isSuccess(exit)) {
          assert.strictEqual(exit.value.at(-1)?.status, Status.SUCCESS)
          assert.strictEqual(exit.value.at(-1)?.completed, 3)
        }
      }),
    30_000
  )

  it.live("the same without progress: DimseTimeout after about 1 s, as before", () =>
    Effect.gen(function* () {
      const scp = yield* lateFinal(3000)
      const { exit, ms } = yield* moving(scp.port)
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(exit), "DimseTimeout")
      assert.isBelow(ms, 2800)
    })
  )

  it.live("progress that stops: DimseTimeout about 1 s after its last change (the deadline still holds)", () =>
    Effect.gen(function* () {
      const scp = yield* lateFinal(8000)
      const sub = ticking(300, 1500)
      const { exit, ms } = yield* moving(scp.port, sub.progress)
      sub.stop()
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(exit), "DimseTimeout")
      assert.isAbove(ms, 1500)
      assert.isBelow(ms, 6000)
    })
  )
})
