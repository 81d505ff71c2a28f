/**
 * A peer that negotiated an Asynchronous Operations Window of 16 (PS3.7 D.3.3.3) and uses all of it: 16 C-FINDs whose
 * queries take long, then a C-CANCEL-RQ for each. The receiver stopped reading once the 16th request made the
 * handlers running reach their cap (max(window, 16)), so the C-CANCELs, though allowed, were never read: no final
 * response, no abort, the association stuck until the idle timeout. The reader now waits only once a request beyond
 * the cap has come. The same for a window of 20 (cap 20). From a raw peer on 127.0.0.1.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, Result, Stream } from "effect"
import { ApplicationEntity, Scp } from "@netdicom/net"
import { Dimse, Status } from "@netdicom/wire"
import { associated, associateRq, command, IMPLICIT, pdata, pdvsOf, promise, STUDY_FIND, type Peer } from "./support.ts"

// (0008,0052) CS "STUDY" in Implicit VR Little Endian.
const IDENTIFIER = Uint8Array.of(0x08, 0, 0x52, 0, 6, 0, 0, 0, 0x53, 0x54, 0x55, 0x44, 0x59, 0x20)

// An SCP performing up to `window` operations at once, whose queries never find anything nor end.
const serveWithWindow = (window: number) =>
  Effect.gen(function* () {
    const ae = Result.getOrThrow(
      ApplicationEntity.make({
        aeTitle: "NETDICOM-SCP",
        contexts: [{ abstractSyntax: STUDY_FIND, transferSyntaxes: [IMPLICIT] }],
        maxOperationsPerformed: window,
        timeouts: { dimse: "20 seconds" }
      })
    )
    return yield* Scp.serve(ae, { port: 0 }).pipe(
      Effect.provide(Layer.succeed(Scp.QueryService)({ find: () => Stream.never })),
      Effect.provide(Logger.layer([]))
    )
  })

// The C-FIND-RSPs (id, status) the peer receives until `count` came, the connection ends or `ms` pass.
const answers = async (peer: Peer, count: number, ms: number) => {
  const out: Array<[number, number]> = []
  const deadline = Date.now() + ms
  while (out.length < count) {
    const pdu = await peer.next(Math.max(1, deadline - Date.now()))
    if (typeof pdu === "string") return out
    if (pdu.type !== 0x04) continue
    const m = Result.getOrThrow(Dimse.decode(new Uint8Array(pdvsOf(pdu.body)[0]!.data)))
    if (m._tag === "CFindRsp") out.push([m.messageIdBeingRespondedTo, m.status])
  }
  return out
}

describe("a peer using all of its Asynchronous Operations Window, then cancelling", () => {
  for (const window of [16, 20]) {
    it.live(`window ${window}: ${window} C-FINDs then ${window} C-CANCEL-RQs: each C-FIND ends 0xFE00`, () =>
      Effect.gen(function* () {
        const server = yield* serveWithWindow(window)
        const rq = associateRq({
          presentationContexts: [
            { _tag: "PresentationContextRq", id: 5, abstractSyntax: STUDY_FIND, transferSyntaxes: [IMPLICIT] }
          ],
          userInformation: [
            { _tag: "MaximumLength", maximumLength: 16384 },
            { _tag: "ImplementationClassUid", uid: "1.2.3.4" },
            { _tag: "AsynchronousOperationsWindow", maxOperationsInvoked: window, maxOperationsPerformed: 1 }
          ]
        })
        const peer = yield* promise(() => associated(server.port, rq))
        const ids = Array.from({ length: window }, (_, i) => i + 1)
        const finds = ids.flatMap((messageId) => [
          pdata(5, true, true, command({ _tag: "CFindRq", messageId, affectedSopClassUid: STUDY_FIND, priority: 0 })),
          pdata(5, false, true, IDENTIFIER)
        ])
        peer.send(Buffer.concat(finds))
        yield* Effect.sleep("200 millis")
        peer.send(
          Buffer.concat(
            ids.map((id) => pdata(5, true, true, command({ _tag: "CCancelRq", messageIdBeingRespondedTo: id })))
          )
        )
        const got = yield* promise(() => answers(peer, window, 3000))
        peer.destroy()
        assert.deepStrictEqual(
          [...got].sort((a, b) => a[0] - b[0]),
          ids.map((id) => [id, Status.CANCEL])
        )
      })
    )
  }
})
