/**
 * requestOne's one deadline timer per channel, with several requests outstanding (Asynchronous Operations Window
 * 4/4): C-ECHOs answered out of order, before their deadline, succeed; the oldest unanswered one times out on time
 * (not early because the timer was armed for an answered one, not late because it was armed for a later one).
 */
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option, Result } from "effect"
import { ApplicationEntity, Scu } from "@netdicom/net"
import { PduCodec, type Pdu } from "@netdicom/wire"
import { acFor, commandOf, connectScu, pdataOf, within } from "./hotpath-support.ts"

// A raw SCP granting a window of 4/4; `answer` says after how many ms to answer the C-ECHO of message id n (never:
// undefined).
const windowScp = (answer: (id: number) => number | undefined) =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<{ port: number; close: () => void }>((resolve) => {
          const sockets: Array<Net.Socket> = []
          const server = Net.createServer((socket) => {
            sockets.push(socket)
            socket.on("error", () => {})
            let buffered = Buffer.alloc(0)
            let associated = false
            socket.on("data", (chunk: Buffer) => {
              buffered = Buffer.concat([buffered, chunk])
              while (buffered.length >= 6 && buffered.length >= 6 + buffered.readUInt32BE(2)) {
                const whole = buffered.subarray(0, 6 + buffered.readUInt32BE(2))
                buffered = buffered.subarray(whole.length)
                if (!associated) {
                  associated = true
                  const rq = Result.getOrThrow(PduCodec.decodePdu(new Uint8Array(whole))) as Pdu.AAssociateRq
                  socket.write(acFor(rq, 16384, undefined, 4))
                  continue
                }
                if (whole[0] === 0x05) socket.write(Uint8Array.of(0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0))
                if (whole[0] !== 0x04) continue
                const m = commandOf(Buffer.from(whole.subarray(6)))
                if (m?._tag !== "CEchoRq") continue
                const after = answer(m.messageId)
                if (after === undefined) continue
                setTimeout(() => {
                  if (socket.destroyed) return
                  socket.write(
                    pdataOf(1, true, {
                      _tag: "CEchoRsp",
                      messageIdBeingRespondedTo: m.messageId,
                      affectedSopClassUid: m.affectedSopClassUid,
                      status: 0
                    })
                  )
                }, after)
              }
            })
          })
          server.listen(0, "127.0.0.1", () =>
            resolve({
              port: (server.address() as Net.AddressInfo).port,
              close: () => {
                for (const s of sockets) s.destroy()
                server.close()
              }
            })
          )
        })
    ),
    (s) => Effect.sync(s.close)
  )

const windowAe = ApplicationEntity.make({
  aeTitle: "NETDICOM-SCU",
  maxOperationsInvoked: 4,
  maxOperationsPerformed: 4,
  timeouts: { acse: "2 seconds", connect: "2 seconds", dimse: "1 second", write: "2 seconds" }
})

describe("requestOne's deadlines with four requests outstanding", () => {
  it.live("answered out of order in time: all succeed; the unanswered one times out after 1 s, not before", () =>
    Effect.gen(function* () {
      // ids 1..4: 1 answered at 700 ms, 2 never, 3 at 100 ms, 4 at 400 ms
      const scp = yield* windowScp((id) => [700, undefined, 100, 400][id - 1])
      const ae = Result.getOrThrow(windowAe)
      const outcome = yield* within(
        8000,
        Effect.scoped(
          Effect.gen(function* () {
            const channel = yield* connectScu(scp.port, ae)
            assert.strictEqual(channel.association.negotiated.maxOperationsInvoked, 4)
            const started = Date.now()
            const timed = (e: Effect.Effect<unknown, unknown>) =>
              Effect.map(Effect.exit(e), (exit) => ({ exit, at: Date.now() - started }))
            return yield* Effect.all(
              [1, 2, 3, 4].map(() => timed(Scu.echo(channel))),
              { concurrency: "unbounded" }
            )
          })
        )
      )
      assert.isTrue(Option.isSome(outcome), "nothing hangs")
      const results = Option.getOrThrow(outcome)
      for (const i of [0, 2, 3]) {
        assert.isTrue(Exit.isSuccess(results[i]!.exit), `C-ECHO ${i + 1} answered in time: ${String(results[i]!.exit)}`)
      }
      const lost = results[1]!
      assert.isTrue(Exit.isFailure(lost.exit))
      assert.isAtLeast(lost.at, 900, `timed out after ${lost.at} ms, before its deadline`)
      assert.isBelow(lost.at, 2500, `timed out after ${lost.at} ms, long after its deadline`)
    })
  )
})
