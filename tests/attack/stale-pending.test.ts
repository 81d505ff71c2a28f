/**
 * A C-FIND that waits for a window slot and is given up before it gets one was never sent, yet its message id stayed
 * registered for responses (`request` registered it before waiting for the slot) until the association ended:
 * responses a peer sent with that id went into a queue nobody read (17 of them would block the association's
 * reader) instead of being dropped as responses to an unknown message.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Logger, Result, Stream } from "effect"
import { Scu } from "@netdicom/net"
import { Dimse, PduCodec } from "@netdicom/wire"
import { commandOf, connectScu, echoRspFor, scopedRawScp, scuAe } from "./hotpath-support.ts"
import { STUDY_FIND } from "./support.ts"

describe("a streamed request given up while waiting for a window slot", () => {
  it.live("leaves no message id registered: a response with it is dropped as unknown", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const capture = Logger.make(({ message }) => {
        lines.push(Array.isArray(message) ? message.join(" ") : String(message))
      })
      let release: (() => void) | undefined
      const scp = yield* scopedRawScp({
        onPdu: (socket, type, body) => {
          const m = type === 0x04 ? commandOf(body) : undefined
          // The first C-ECHO is answered only later, with a stray C-FIND-RSP for message 2 (never sent) before it.
          if (m?._tag !== "CEchoRq") return
          const stray = Result.getOrThrow(
            Dimse.encode({
              _tag: "CFindRsp",
              messageIdBeingRespondedTo: 2,
              affectedSopClassUid: STUDY_FIND,
              status: 0xff00,
              hasIdentifier: false
            })
          )
          release = () => {
            socket.write(
              PduCodec.encodePDataTf([{ presentationContextId: 5, isCommand: true, isLast: true, data: stray }])
            )
            socket.write(echoRspFor(m))
          }
        }
      })
      yield* Effect.scoped(
        Effect.gen(function* () {
          const channel = yield* connectScu(scp.port, scuAe())
          // Message 1, a C-ECHO, holds the only slot.
          const echo = yield* Effect.forkScoped(Scu.echo(channel))
          yield* Effect.sleep("50 millis")
          // Message 2, a C-FIND, waits for the slot and is given up.
          yield* Scu.find(channel, { model: "study", identifier: { PatientName: "*" } }).pipe(
            Stream.runDrain,
            Effect.timeout(Duration.millis(50)),
            Effect.ignore
          )
          release?.()
          yield* Effect.ignore(Fiber.join(echo))
          yield* Effect.sleep("50 millis")
        })
      ).pipe(Effect.provide(Logger.layer([capture])))
      assert.isTrue(
        lines.some((l) => l.includes("response to unknown message 2 dropped")),
        `log lines: ${lines.join(" | ")}`
      )
    })
  )
})
