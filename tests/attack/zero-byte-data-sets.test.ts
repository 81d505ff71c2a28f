/**
 * Data sets of 0 bytes (a last data PDV with no data), thousands of them in a burst. The PDU parser gave such a PDV a
 * view of 0 bytes into the socket read it came in; the receiver does not count empty views (they read nothing), so
 * that read could be freed (its buffer detached) once the PDU's other views were given back, and the receiver later
 * copying the empty view (`new Uint8Array(view)`) threw "Cannot perform Construct on a detached or out-of-bounds
 * ArrayBuffer": our SCU aborted the association as an internal error after a few thousand pending C-FIND-RSPs with
 * empty identifiers (3,000 passed, 10,000 did not). An empty PDV now holds no view of the read. The SCP side held
 * (5,000 C-STORE-RQs and 5,000 C-FIND-RQs with empty data sets, in one burst): a guard.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Ref, Result, Stream } from "effect"
import { Scu } from "@netdicom/net"
import { Dimse, PduCodec, Status } from "@netdicom/wire"
import { commandOf, pdataOf, scopedRawScp, scuAe } from "./hotpath-support.ts"
import { associated, CT, IMPLICIT, pdvsOf, promise, startScp, STUDY_FIND } from "./support.ts"

const COUNT = 10_000

describe("thousands of 0-byte data sets in a burst", () => {
  it.live("SCU: pending C-FIND-RSPs with empty identifiers each come as an empty match, the query ends Success", () =>
    Effect.gen(function* () {
      const scp = yield* scopedRawScp({
        onPdu: (socket, type, body) => {
          const m = type === 0x04 ? commandOf(body) : undefined
          if (m?._tag !== "CFindRq") return
          const pc = body[4]!
          const rsp = (status: number, hasIdentifier: boolean) =>
            pdataOf(pc, true, {
              _tag: "CFindRsp",
              messageIdBeingRespondedTo: m.messageId,
              affectedSopClassUid: m.affectedSopClassUid,
              status,
              hasIdentifier
            })
          const empty = PduCodec.encodePDataTf([
            { presentationContextId: pc, isCommand: false, isLast: true, data: new Uint8Array(0) }
          ])
          const chunks: Array<Uint8Array> = []
          for (let i = 0; i < COUNT; i++) chunks.push(rsp(0xff00, true), empty)
          chunks.push(rsp(0, false))
          socket.write(Buffer.concat(chunks))
        }
      })
      const exit = yield* Effect.scoped(
        Effect.gen(function* () {
          const channel = yield* Scu.connect(scuAe({ dimse: "30 seconds" }), {
            host: "127.0.0.1",
            port: scp.port,
            calledAeTitle: "NETDICOM-SCP",
            contexts: [{ abstractSyntax: STUDY_FIND, transferSyntaxes: [IMPLICIT] }]
          })
          return yield* Effect.exit(
            Stream.runFold(
              Scu.find(channel, { model: "study", identifier: { PatientName: "*" } }),
              () => ({ empty: 0, last: -1 }),
              (acc, r) => ({
                empty: acc.empty + (r.identifier !== undefined && Object.keys(r.identifier).length === 0 ? 1 : 0),
                last: r.status
              })
            )
          )
        })
      )
      assert.isTrue(Exit.isSuccess(exit), Exit.isFailure(exit) ? String(exit.cause) : "")
      if (Exit.isSuccess(exit)) assert.deepStrictEqual(exit.value, { empty: COUNT, last: 0 })
    })
  )

  it.live(
    "SCP: C-STORE-RQs and C-FIND-RQs with empty data sets are each answered, the association goes on",
    () =>
      Effect.gen(function* () {
        const stored = yield* Ref.make(0)
        const server = yield* startScp({
          storage: {
            store: (request) =>
              Effect.as(
                Stream.runDrain(request.dataSet).pipe(Effect.ignore, Effect.andThen(Ref.update(stored, (n) => n + 1))),
                { status: Status.SUCCESS }
              )
          }
        })
        const peer = yield* promise(() => associated(server.port))
        const empty = PduCodec.encodePDataTf([
          { presentationContextId: 3, isCommand: false, isLast: true, data: new Uint8Array(0) }
        ])
        const emptyFind = PduCodec.encodePDataTf([
          { presentationContextId: 5, isCommand: false, isLast: true, data: new Uint8Array(0) }
        ])
        const chunks: Array<Uint8Array> = []
        for (let i = 1; i <= COUNT; i++) {
          if (i % 2 === 1) {
            chunks.push(
              pdataOf(5, true, { _tag: "CFindRq", messageId: i, affectedSopClassUid: STUDY_FIND, priority: 0 }),
              emptyFind
            )
            continue
          }
          chunks.push(
            pdataOf(3, true, {
              _tag: "CStoreRq",
              messageId: i,
              affectedSopClassUid: CT,
              affectedSopInstanceUid: `1.2.3.${i}`,
              priority: 0
            }),
            empty
          )
        }
        peer.send(Buffer.concat(chunks))
        const statuses: Array<number> = []
        while (statuses.length < COUNT) {
          const p = yield* promise(() => peer.next(10_000))
          if (typeof p === "string" || p.type !== 0x04) {
            assert.fail(
              `after ${statuses.length} responses: ${typeof p === "string" ? p : `PDU 0x${p.type.toString(16)}`}`
            )
            return
          }
          for (const pdv of pdvsOf(p.body)) {
            const m = Dimse.decode(new Uint8Array(pdv.data))
            if (Result.isSuccess(m) && (m.success._tag === "CStoreRsp" || m.success._tag === "CFindRsp"))
              statuses.push(m.success.status)
          }
        }
        peer.destroy()
        assert.strictEqual(statuses.length, COUNT)
      }),
    60_000
  )
})
