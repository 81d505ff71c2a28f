/**
 * An SCP that asks to release the association (A-RELEASE-RQ) while our C-GET is outstanding, and closes once we
 * answer. The C-GET failed at once and typed, but as "association aborted by provider: reason not specified —
 * association ended", which says neither that the association was released nor that the request was left
 * unanswered. The failure now says so.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Stream } from "effect"
import { Scu } from "@netdicom/net"
import { commandOf, connectScu, scopedRawScp, scuAe } from "./hotpath-support.ts"
import { CT, EXPLICIT, IMPLICIT, STUDY_FIND, VERIFICATION } from "./support.ts"
import { STUDY_GET } from "./archive-support.ts"

describe("the SCP releases the association with our C-GET outstanding", () => {
  it.live("the C-GET fails at once, saying the association was released before its final response", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* scopedRawScp({
          onPdu: (socket, type, body) => {
            // our A-RELEASE-RP: the release is done, the requestor of it closes (PS3.8 AR-3)
            if (type === 0x06) socket.end()
            if (type === 0x04 && commandOf(body)?._tag === "CGetRq") {
              socket.write(Uint8Array.of(0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0))
            }
          }
        })
        const started = Date.now()
        const exit = yield* Effect.exit(
          Effect.scoped(
            Effect.gen(function* () {
              const channel = yield* connectScu(scp.port, scuAe({ dimse: "5 seconds", acse: "3 seconds" }), {
                contexts: [VERIFICATION, CT, STUDY_FIND, STUDY_GET].map((abstractSyntax) => ({
                  abstractSyntax,
                  transferSyntaxes: [abstractSyntax === CT ? EXPLICIT : IMPLICIT]
                })),
                roles: [{ sopClassUid: CT, scu: true, scp: true }],
                onStore: (request) => Effect.as(Stream.runDrain(request.dataSet).pipe(Effect.ignore), { status: 0 })
              })
              return yield* Stream.runCollect(
                Scu.get(channel, {
                  model: "study",
                  identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2" }
                })
              )
            })
          )
        )
        assert.isTrue(Exit.isFailure(exit))
        assert.include(String(exit), "AssociationAborted")
        assert.include(String(exit), "released before the final response to C-GET-RQ")
        assert.isBelow(Date.now() - started, 2000)
      })
    )
  )
})
