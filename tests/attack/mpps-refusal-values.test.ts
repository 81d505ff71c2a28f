/**
 * An MPPS SCU sending a Performed Procedure Step Status our encoder will not write back (CS text in Latin-1,
 * "FINI\xe9" under ISO_IR 100): the SCP refused it 0x0106 and echoed the value in the response's data set (PS3.7
 * C.4.3), which then failed to encode, so the SCU got 0x0110 "the reply data set cannot be encoded" instead of the
 * standard's status, for N-CREATE and N-SET alike. The refusal now goes without a data set it cannot encode; the
 * status and the Error Comment naming the attribute stay.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Result } from "effect"
import { Mpps, MppsScp, Scu } from "@netdicom/net"
import { Status } from "@netdicom/wire"
import { element, inProgress, serveAndConnect } from "./mpps-support.ts"

const latinStatus = new Uint8Array(
  Buffer.concat([
    element(0x00080005, "CS", Buffer.from("ISO_IR 100")),
    element(0x00400252, "CS", Buffer.from("FINI\xe9", "latin1"))
  ])
)

describe("an MPPS status value that cannot be written back", () => {
  it.live("is refused 0x0106 on N-CREATE and N-SET, not 0x0110", () =>
    Effect.gen(function* () {
      const store = MppsScp.memoryStore()
      const { channel } = yield* serveAndConnect(store)
      const created = yield* Scu.nCreate(channel, {
        sopClassUid: Mpps.SOP_CLASS,
        sopInstanceUid: "1.2.3.4",
        dataSet: inProgress
      })
      assert.strictEqual(created.status, Status.SUCCESS)
      const context = Result.getOrThrow(channel.findContext(Mpps.SOP_CLASS, "SCU"))
      const set = yield* channel.requestOne(
        context,
        {
          _tag: "NSetRq",
          messageId: channel.takeMessageId(),
          requestedSopClassUid: Mpps.SOP_CLASS,
          requestedSopInstanceUid: "1.2.3.4"
        },
        latinStatus
      )
      const create = yield* channel.requestOne(
        context,
        {
          _tag: "NCreateRq",
          messageId: channel.takeMessageId(),
          affectedSopClassUid: Mpps.SOP_CLASS,
          affectedSopInstanceUid: "1.2.3.5",
          hasDataSet: true
        },
        latinStatus
      )
      for (const r of [set, create]) {
        const m = r.message as { readonly status: number; readonly errorComment?: string }
        assert.strictEqual(m.status, 0x0106, JSON.stringify(r.message))
        assert.include(m.errorComment, "(0040,0252)")
      }
      assert.strictEqual(store.steps.get("1.2.3.4")?.status, "IN PROGRESS")
      assert.isFalse(store.steps.has("1.2.3.5"))
    }).pipe(Effect.scoped, Effect.provide(Logger.layer([])))
  )
})
