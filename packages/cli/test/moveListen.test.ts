/**
 * `netdicom move --listen` against a C-MOVE SCP that sends no Pending responses (PS3.4 C.4.2.3) and whose
 * sub-operations, spread over longer than the DIMSE timeout, go to the command's own listener: each one arriving
 * restarts the command's wait for the final response, so the move ends Success with every instance written. A
 * scripted SCP on 127.0.0.1 (`rawPeer.scriptedScp`) whose sub-operations our library's SCU sends.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { ApplicationEntity, Scu } from "@netdicom/net"
import { freePort } from "../../../tests/support/peers.ts"
import { scriptedScp } from "../../net/test/rawPeer.ts"
import { moveFinalRsp } from "../../../tests/attack/scripted-get-support.ts"
import { CT, EXPLICIT_LE, filesUnder, netdicom, part10, testFixtures, writeFile } from "./support.ts"

const { temp } = testFixtures("move-listen")
const STUDY = "1.2.826.0.1.3680043.10.1478.97.1"
const subAe = Result.getOrThrow(ApplicationEntity.make({ aeTitle: "SCRIPTED" }))

describe("netdicom move --listen, the peer sending no Pending responses", () => {
  it.live(
    "3 sub-operations 1.2 s apart, --timeout 2: each restarts the wait, the move ends Success",
    () =>
      Effect.gen(function* () {
        const listen = yield* Effect.promise(() => freePort())
        const src = temp("src")
        const files = [1, 2, 3].map((n) =>
          writeFile(
            src,
            `${n}.dcm`,
            part10({ patientId: "P", patientName: "A^B", study: STUDY, series: `${STUDY}.1`, sop: `${STUDY}.1.${n}` })
          )
        )
        // the sub-operations on one association of ours to the listener, 1.2 s apart, then the final response
        const subOperations = Effect.scoped(
          Effect.gen(function* () {
            const channel = yield* Scu.connect(subAe, {
              host: "127.0.0.1",
              port: listen,
              calledAeTitle: "MOVER",
              contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_LE] }]
            })
            for (const file of files) {
              yield* Effect.sleep("1200 millis")
              yield* Scu.storeFile(channel, file)
            }
          })
        )
        const scp = yield* scriptedScp((socket, pc, command) => {
          if (command.commandField !== 0x0021) return
          void Effect.runPromise(subOperations).then(() => socket.write(moveFinalRsp(pc, command.messageId!, 3)))
        })
        const out = temp("out")
        const r = yield* Effect.promise(() =>
          netdicom([
            "move",
            "127.0.0.1",
            String(scp.port),
            "--aet",
            "MOVER",
            "--listen",
            String(listen),
            "--out",
            out,
            "--timeout",
            "2",
            "-k",
            `StudyInstanceUID=${STUDY}`
          ])
        )
        assert.strictEqual(r.code, 0, r.stdout + r.stderr)
        assert.include(r.stdout, "C-MOVE Success")
        assert.include(r.stdout, `3 files written to ${out}`)
        assert.deepStrictEqual(
          [...filesUnder(out)].sort(),
          [1, 2, 3].map((n) => `${STUDY}.1.${n}.dcm`)
        )
      }),
    60_000
  )
})
