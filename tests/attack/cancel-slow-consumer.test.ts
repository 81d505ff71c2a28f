/**
 * A C-FIND cancelled with `cancelWhen` while its consumer is slow. The channel aborted the association when the final
 * response had not been taken by the consumer within the cancel timeout of the C-CANCEL-RQ, though the peer had sent
 * it (8 matches and Success all in our buffers, the reader holding them back for a consumer taking 700 ms each): the
 * association was aborted "no final response within 2s of its C-CANCEL", the matches after the fourth lost. Only the
 * peer's silence counts now: while responses wait for the consumer, or it took one during the last wait, the wait
 * goes on. A peer that goes silent and never answers the C-CANCEL, its responses all read (nothing held back), still has
 * the association aborted at the cancel timeout.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Logger, Result, Stream } from "effect"
import { QueryRetrieve, Scu } from "@netdicom/net"
import { Dimse, PduCodec, Status } from "@netdicom/wire"
import { scriptedScp } from "../../packages/net/test/rawPeer.ts"
import { connectScu, scuAe } from "./hotpath-support.ts"
import { startScp } from "./support.ts"

const FIND = QueryRetrieve.SOP_CLASSES.study.find

const slowFind = (port: number) =>
  Effect.scoped(
    Effect.flatMap(connectScu(port, scuAe({ cancel: "2 seconds", dimse: "30 seconds" })), (channel) =>
      Effect.gen(function* () {
        const statuses = yield* Stream.runCollect(
          Scu.find(channel, {
            model: "study",
            identifier: { PatientID: "*" },
            cancelWhen: Effect.sleep("300 millis")
          }).pipe(Stream.tap(() => Effect.sleep("700 millis")))
        )
        const echo = yield* Scu.echo(channel)
        return { statuses: statuses.map((r) => r.status), echo: echo.status }
      })
    )
  ).pipe(Effect.exit, Effect.provide(Logger.layer([])))

describe("a C-FIND cancelled while its consumer is slow", () => {
  it.live(
    "8 matches and Success already received: all reach the consumer, the association goes on",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const server = yield* startScp({
            query: { find: () => Stream.fromIterable(Array.from({ length: 8 }, (_, i) => ({ PatientID: `P${i}` }))) }
          })
          const exit = yield* slowFind(server.port)
          assert.isTrue(Exit.isSuccess(exit), String(exit))
          if (!Exit.isSuccess(exit)) return
          assert.deepStrictEqual(exit.value.statuses, [...Array.from({ length: 8 }, () => Status.PENDING), 0])
          assert.strictEqual(exit.value.echo, Status.SUCCESS)
        })
      ),
    60_000
  )

  it.live(
    "3 pending responses, then silence (the C-CANCEL ignored): aborted at the cancel timeout, consumer or not",
    () =>
      Effect.gen(function* () {
        const scp = yield* scriptedScp((socket, pc, command) => {
          if (command.commandField !== 0x0020) return
          const pending: Dimse.Message = {
            _tag: "CFindRsp",
            messageIdBeingRespondedTo: command.messageId!,
            affectedSopClassUid: FIND,
            status: Status.PENDING,
            hasIdentifier: false
          }
          const pdu = PduCodec.encodePDataTf([
            { presentationContextId: pc, isCommand: true, isLast: true, data: Result.getOrThrow(Dimse.encode(pending)) }
          ])
          socket.write(Buffer.concat([pdu, pdu, pdu]))
        })
        const started = Date.now()
        const exit = yield* slowFind(scp.port)
        const ms = Date.now() - started
        assert.isTrue(Exit.isFailure(exit))
        assert.include(String(exit), "no final response to message 1 within 2s of its C-CANCEL")
        // the three were read at once (the reader held nothing back): the C-CANCEL at 300 ms, one wait of 2 s
        assert.isAbove(ms, 2000)
        assert.isBelow(ms, 5000)
      }),
    60_000
  )
})
