/**
 * A C-GET SCP need send no Pending C-GET-RSP (PS3.4 C.4.3.3: "may optionally"), only its C-STORE sub-operations and
 * the final response. Our SCU waited for the next C-GET-RSP within the DIMSE timeout however many sub-operations
 * arrived meanwhile, so a retrieve from such an SCP lasting longer than the DIMSE timeout (60 s by default) was
 * aborted mid-way, the rest of the instances lost. The wait now restarts while requests (or their data sets) keep
 * arriving; a peer that goes silent still fails it at the DIMSE timeout. A scripted SCP on 127.0.0.1.
 */
import type * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { Status } from "@netdicom/wire"
import { scriptedScp } from "../../packages/net/test/rawPeer.ts"
import { commandPdu, DATA, dribbleStore, GET, pdv, storeRq, storingGet } from "./scripted-get-support.ts"

type Script = (socket: Net.Socket, getId: number, answered: number) => void

// Runs a C-GET against a scripted SCP whose `onGet` starts the sub-operations and whose `onAnswer` goes on after our
// C-STORE-RSP number `answered`; DIMSE timeout 1 s.
const retrieve = (onGet: Script, onAnswer: Script) =>
  Effect.gen(function* () {
    let getId = 0
    let answered = 0
    const scp = yield* scriptedScp((socket, _pc, command) => {
      if (command.commandField === 0x0010) {
        getId = command.messageId!
        onGet(socket, getId, 0)
      } else if (command.commandField === 0x8001) onAnswer(socket, getId, ++answered)
    })
    return yield* storingGet(scp.port, { dimse: "1 second" })
  })

const finalRsp = (getId: number, completed: number) =>
  commandPdu(5, {
    _tag: "CGetRsp",
    messageIdBeingRespondedTo: getId,
    affectedSopClassUid: GET,
    status: 0,
    numberOfCompletedSuboperations: completed,
    numberOfFailedSuboperations: 0,
    numberOfWarningSuboperations: 0,
    hasIdentifier: false
  })

describe("a C-GET SCP sending no Pending responses", () => {
  it.live(
    "8 sub-operations 400 ms apart (3.2 s, DIMSE timeout 1 s): all stored, the C-GET ends Success",
    () =>
      Effect.gen(function* () {
        const TOTAL = 8
        const send = (socket: Net.Socket, n: number) =>
          setTimeout(() => socket.write(Buffer.concat([commandPdu(3, storeRq(n)), pdv(3, false, true, DATA)])), 400)
        const { exit, stored } = yield* retrieve(
          (socket) => send(socket, 1),
          (socket, getId, answered) =>
            answered < TOTAL ? send(socket, answered + 1) : socket.write(finalRsp(getId, TOTAL))
        )
        assert.strictEqual(stored.length, TOTAL)
        assert.isTrue(Exit.isSuccess(exit), String(exit))
        if (Exit.isSuccess(exit)) assert.strictEqual(exit.value.at(-1)?.status, Status.SUCCESS)
      }),
    30_000
  )

  it.live(
    "one sub-operation whose data set arrives over 2.8 s in 2-byte pieces 400 ms apart: stored, Success",
    () =>
      Effect.gen(function* () {
        const { exit, stored } = yield* retrieve(
          (socket) => dribbleStore(socket, 400),
          (socket, getId) => socket.write(finalRsp(getId, 1))
        )
        assert.deepStrictEqual(stored, ["1.2.3.1"])
        assert.isTrue(Exit.isSuccess(exit), String(exit))
      }),
    30_000
  )

  it.live(
    "a sub-operation, then silence: DimseTimeout about 1 s after the last sign of life (the deadline still holds)",
    () =>
      Effect.gen(function* () {
        const { exit, stored, ms } = yield* retrieve(
          (socket) => socket.write(Buffer.concat([commandPdu(3, storeRq(1)), pdv(3, false, true, DATA)])),
          () => {}
        )
        assert.deepStrictEqual(stored, ["1.2.3.1"])
        assert.isTrue(Exit.isFailure(exit))
        assert.include(String(exit), "DimseTimeout")
        assert.isBelow(ms, 4000)
      }),
    30_000
  )
})
