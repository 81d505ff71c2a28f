/**
 * A DIMSE-N handler whose outcome cannot go out as given: an Error ID or a status out of US range, an Affected SOP
 * Instance UID of 150 characters (answered Success without it before), an Attribute Identifier List of 100,000 tags (a 400 KB command set, over the 64 KiB
 * any receiver of ours takes). Before, the response's encoding failed, the failure was ignored, and the request was
 * never answered: the SCU waited out its DIMSE timeout and aborted (the 100,000 tags: the SCU aborted on the command
 * set). Now each is answered 0x0110 at once, its `afterResponse` not run, and the association goes on. An
 * `afterResponse` that dies after a good response adds no second response. And our N-GET asking for 20,000
 * attributes failed only once our own SCP had aborted the association on its command set; now it fails before sending.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Result } from "effect"
import { ApplicationEntity, type DimseChannel, Normalized, Scp, Scu } from "@netdicom/net"
import { Status } from "@netdicom/wire"

const MPPS = "1.2.840.10008.3.1.2.3.3"
const IMPLICIT = ApplicationEntity.IMPLICIT_VR_LITTLE_ENDIAN
const aeOf = (aeTitle: string) =>
  Result.getOrThrow(
    ApplicationEntity.make({
      aeTitle,
      contexts: [{ abstractSyntax: MPPS, transferSyntaxes: [IMPLICIT] }],
      timeouts: { acse: "3 seconds", connect: "3 seconds", dimse: "3 seconds", write: "3 seconds" }
    })
  )
const target = { sopClassUid: MPPS, sopInstanceUid: "1.2.3" }

describe("a DIMSE-N outcome that cannot be encoded", () => {
  it.live(
    "is answered 0x0110 at once, without its afterResponse; the association goes on",
    () =>
      Effect.gen(function* () {
        let afterRuns = 0
        const after = Effect.sync(() => void afterRuns++)
        const server = yield* Scp.serve(aeOf("SCP"), { port: 0 }).pipe(
          Effect.provide(
            Normalized.layer({
              [MPPS]: {
                nGet: (rq) =>
                  Effect.succeed(
                    rq.attributeIdentifierList?.[0] === 1
                      ? {
                          status: 0,
                          attributeIdentifierList: Array.from({ length: 100_000 }, (_, i) => 0x00100000 + i),
                          afterResponse: after
                        }
                      : { status: 0 }
                  ),
                nDelete: () => Effect.succeed({ status: 0x0110, errorId: 70_000, afterResponse: after }),
                nAction: () => Effect.succeed({ status: 0x1_0000, afterResponse: after }),
                nCreate: () => Effect.succeed({ status: 0, sopInstanceUid: "1.2".repeat(50), afterResponse: after }),
                nSet: () => Effect.succeed({ status: 0, afterResponse: Effect.die("after the response") })
              }
            })
          )
        )
        const channel = yield* Scu.connect(aeOf("SCU"), {
          host: "127.0.0.1",
          port: server.port,
          calledAeTitle: "SCP",
          contexts: [{ abstractSyntax: MPPS, transferSyntaxes: [IMPLICIT] }]
        })
        const calls: ReadonlyArray<readonly [string, Effect.Effect<Normalized.NResponse, unknown>]> = [
          ["100,000 attribute identifiers", Scu.nGet(channel, { ...target, attributes: [1] })],
          ["Error ID 70000", Scu.nDelete(channel, target)],
          ["status 0x10000", Scu.nAction(channel, { ...target, actionTypeId: 1 })],
          ["a 100-character UID", Scu.nCreate(channel, { sopClassUid: MPPS })]
        ]
        for (const [name, call] of calls) {
          const started = Date.now()
          const rsp = yield* call
          assert.deepStrictEqual([name, rsp.status], [name, Status.PROCESSING_FAILURE])
          assert.isBelow(Date.now() - started, 1500, name)
        }
        assert.strictEqual(afterRuns, 0)
        // a good response, then its afterResponse dies: one response, and the association goes on
        const set = yield* Scu.nSet(channel, { ...target, dataSet: { PatientName: "DOE" } })
        assert.strictEqual(set.status, Status.SUCCESS)
        const get = yield* Scu.nGet(channel as DimseChannel.DimseChannel, target)
        assert.strictEqual(get.status, Status.SUCCESS)
      }).pipe(Effect.provide(Logger.layer([]))),
    20_000
  )

  it.live(
    "an N-GET asking for 20,000 attributes fails typed without sending; the association goes on",
    () =>
      Effect.gen(function* () {
        let asked = 0
        const server = yield* Scp.serve(aeOf("SCP"), { port: 0 }).pipe(
          Effect.provide(Normalized.layer({ [MPPS]: { nGet: () => Effect.sync(() => (asked++, { status: 0 })) } }))
        )
        const channel = yield* Scu.connect(aeOf("SCU"), {
          host: "127.0.0.1",
          port: server.port,
          calledAeTitle: "SCP",
          contexts: [{ abstractSyntax: MPPS, transferSyntaxes: [IMPLICIT] }]
        })
        const attributes = Array.from({ length: 20_000 }, (_, i) => 0x00100000 + i)
        const failed = yield* Effect.flip(Scu.nGet(channel, { ...target, attributes }))
        assert.strictEqual(failed._tag, "DimseProtocolError")
        const fits = Array.from({ length: Normalized.MAX_ATTRIBUTE_IDENTIFIERS }, (_, i) => 0x00100000 + i)
        const rsp = yield* Scu.nGet(channel, { ...target, attributes: fits })
        assert.deepStrictEqual([rsp.status, asked], [Status.SUCCESS, 1])
      }).pipe(Effect.provide(Logger.layer([]))),
    20_000
  )
})
