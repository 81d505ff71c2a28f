/**
 * `DimseChannel.request` without `cancel`, its stream stopped by its consumer after the first pending response: the
 * peer goes on to its final response and counts the request outstanding until then. The window slot was given back
 * at once, so the next request (window 1) went out while the C-FIND was still outstanding; it is now kept until the
 * final response comes, the rest of the responses drained by the channel.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Stream } from "effect"
import { Scu } from "@netdicom/net"
import { Dimse, PduCodec } from "@netdicom/wire"
import { commandOf, connectScu, echoRspFor, scopedRawScp, scuAe } from "./hotpath-support.ts"
import { STUDY_FIND } from "./support.ts"

describe("a request stream stopped without C-CANCEL", () => {
  it.live("window 1: the next request waits for the final response of the stopped C-FIND", () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      const scp = yield* scopedRawScp({
        onPdu: (socket, type, body) => {
          const m = type === 0x04 ? commandOf(body) : undefined
          if (m === undefined) return
          if (m._tag === "CEchoRq") {
            seen.push("C-ECHO-RQ")
            return void socket.write(echoRspFor(m))
          }
          if (m._tag !== "CFindRq") return
          seen.push("C-FIND-RQ")
          const pc = body[4]!
          const rsp = (status: number) =>
            PduCodec.encodePDataTf([
              {
                presentationContextId: pc,
                isCommand: true,
                isLast: true,
                data: Result.getOrThrow(
                  Dimse.encode({
                    _tag: "CFindRsp",
                    messageIdBeingRespondedTo: m.messageId,
                    affectedSopClassUid: STUDY_FIND,
                    status,
                    hasIdentifier: false
                  })
                )
              }
            ])
          // Three pending responses 100 ms apart, then the final one.
          for (let n = 0; n < 4; n++) {
            setTimeout(() => {
              if (n === 3) seen.push("C-FIND final")
              if (!socket.destroyed) socket.write(rsp(n === 3 ? 0 : 0xff00))
            }, n * 100)
          }
        }
      })
      yield* Effect.scoped(
        Effect.gen(function* () {
          const channel = yield* connectScu(scp.port, scuAe({ dimse: "5 seconds" }))
          const context = channel.findContext(STUDY_FIND, "SCU")
          assert.isTrue(Result.isSuccess(context))
          if (Result.isFailure(context)) return
          const messageId = yield* channel.nextMessageId
          yield* channel
            .request(context.success, { _tag: "CFindRq", messageId, affectedSopClassUid: STUDY_FIND, priority: 0 })
            .pipe(Stream.take(1), Stream.runDrain)
          yield* Scu.echo(channel)
          yield* Scu.echo(channel)
        })
      )
      assert.deepStrictEqual(seen, ["C-FIND-RQ", "C-FIND final", "C-ECHO-RQ", "C-ECHO-RQ"])
    })
  )
})
