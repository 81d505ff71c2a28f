/**
 * A C-FIND stopped by its consumer sends C-CANCEL-RQ and waits, within the DIMSE timeout, for the final response that
 * must follow. An SCP that never sends it still counts the C-FIND outstanding; its window slot was given back anyway
 * and the association went on, so the next request went out as a second outstanding one (window 1), to a peer
 * already out of step. No final response within the DIMSE timeout is a DIMSE timeout: the association is aborted.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option, Result, Stream } from "effect"
import { Scu } from "@netdicom/net"
import { Dimse, PduCodec } from "@netdicom/wire"
import { commandOf, connectScu, echoRspFor, scopedRawScp, scuAe, within } from "./hotpath-support.ts"
import { STUDY_FIND } from "./support.ts"

describe("C-CANCEL without a final response", () => {
  it.live("the SCP ignores C-CANCEL: no second request goes out, the association is aborted at the DIMSE timeout", () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      const scp = yield* scopedRawScp({
        onPdu: (socket, type, body) => {
          const m = type === 0x04 ? commandOf(body) : undefined
          if (m === undefined) return
          seen.push(m._tag)
          if (m._tag === "CEchoRq") return void socket.write(echoRspFor(m))
          if (m._tag !== "CFindRq") return
          const rsp = Result.getOrThrow(
            Dimse.encode({
              _tag: "CFindRsp",
              messageIdBeingRespondedTo: m.messageId,
              affectedSopClassUid: STUDY_FIND,
              status: 0xff00,
              hasIdentifier: true
            })
          )
          const identifier = Uint8Array.of(0x10, 0x00, 0x10, 0x00, 0x02, 0x00, 0x00, 0x00, 0x41, 0x20)
          socket.write(
            PduCodec.encodePDataTf([
              { presentationContextId: body[4]!, isCommand: true, isLast: true, data: rsp },
              { presentationContextId: body[4]!, isCommand: false, isLast: true, data: identifier }
            ])
          )
        }
      })
      const echo = yield* Effect.scoped(
        Effect.gen(function* () {
          const channel = yield* connectScu(scp.port, scuAe({ dimse: "1 second" }))
          yield* Scu.find(channel, { model: "study", identifier: { PatientName: "*" } }).pipe(
            Stream.take(1),
            Stream.runDrain,
            Effect.ignore
          )
          return yield* within(4000, Effect.exit(Scu.echo(channel)))
        })
      )
      assert.deepStrictEqual(seen, ["CFindRq", "CCancelRq"], "a request went out while the C-FIND was outstanding")
      assert.isTrue(Option.isSome(echo) && Exit.isFailure(echo.value), "the C-ECHO did not fail")
    })
  )
})
