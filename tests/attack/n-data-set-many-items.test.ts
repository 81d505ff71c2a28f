/**
 * A DIMSE-N data set of many tiny sequence items: a Storage Commitment N-ACTION-RQ whose Referenced SOP Sequence holds
 * 100,000 items of one-character UIDs (2.8 MB, under the 8 MiB bound on its bytes), and a deflated one of 560,000 such
 * items (38 KB on the wire, 15.7 MB inflated, under the 16 MiB inflation bound). Decoded whole with dcmjs they held the
 * event loop ~1.4 s and ~7 s before the handler saw them (2026-12-06, load ~3). Now the decode stops past
 * `Normalized.MAX_N_DATA_SET_ELEMENTS` elements and items: the request is answered 0x0110 without the handler, at
 * once, and the association goes on. The same bound holds for an N-EVENT-REPORT an SCU takes (`onEventReport`) and
 * for a response our SCU gets: a deflated N-GET-RSP of 560,000 items took 9 s to succeed, now a DimseProtocolError.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Result } from "effect"
import { ApplicationEntity, Normalized, Scp, Scu, StorageCommitment } from "@netdicom/net"
import { PduCodec, Status } from "@netdicom/wire"
import { commandOf, pdataOf, scopedRawScp, scuAe } from "./hotpath-support.ts"
import { deflateRawSync } from "node:zlib"

const TS = [ApplicationEntity.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN]
const quiet = Logger.layer([])

const aeOf = (aeTitle: string, contexts: ReadonlyArray<ApplicationEntity.SupportedContext>) =>
  Result.getOrThrow(
    ApplicationEntity.make({
      aeTitle,
      contexts,
      timeouts: { acse: "5 seconds", connect: "5 seconds", dimse: "20 seconds", write: "5 seconds" }
    })
  )

// An Explicit VR Little Endian element of a short (even-padded) UI value.
const ui = (group: number, element: number, value: string): Buffer => {
  const v = Buffer.from(value.length % 2 === 1 ? `${value}\0` : value, "latin1")
  const h = Buffer.alloc(8)
  h.writeUInt16LE(group, 0)
  h.writeUInt16LE(element, 2)
  h.write("UI", 4, "latin1")
  h.writeUInt16LE(v.length, 6)
  return Buffer.concat([h, v])
}

// Action Information: a Transaction UID and a Referenced SOP Sequence (undefined length) of `n` items, each of
// defined length with a one-character Referenced SOP Class and Instance UID.
const actionInformation = (n: number): Uint8Array => {
  const body = Buffer.concat([ui(0x0008, 0x1150, "1"), ui(0x0008, 0x1155, "1")])
  const item = Buffer.alloc(8 + body.length)
  item.writeUInt16LE(0xfffe, 0)
  item.writeUInt16LE(0xe000, 2)
  item.writeUInt32LE(body.length, 4)
  body.copy(item, 8)
  const sequence = Buffer.alloc(12)
  sequence.writeUInt16LE(0x0008, 0)
  sequence.writeUInt16LE(0x1199, 2)
  sequence.write("SQ", 4, "latin1")
  sequence.writeUInt32LE(0xffffffff, 8)
  const end = Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0])
  return new Uint8Array(
    Buffer.concat([ui(0x0008, 0x1195, "2.25.1"), sequence, Buffer.concat(Array(n).fill(item)), end])
  )
}

const scpAe = aeOf("COMMIT-SCP", [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS }])

// Sends the N-ACTION-RQ with `bytes` as its data set on the context of `transferSyntax`; then a small one, to show the
// association goes on. Gives both responses' statuses, how long the first took and how many calls the handler got.
const ask = (transferSyntax: string, bytes: Uint8Array) =>
  Effect.gen(function* () {
    let handled = 0
    const layer = Normalized.layer({
      [StorageCommitment.SOP_CLASS]: {
        nAction: (rq) =>
          Effect.sync(() => {
            handled++
            const read = StorageCommitment.readActionInformation(rq.dataSet)
            return { status: Result.isSuccess(read) ? Status.SUCCESS : Status.PROCESSING_FAILURE }
          })
      }
    })
    const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(layer))
    const channel = yield* Scu.connect(
      aeOf("COMMIT-SCU", [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: [transferSyntax] }]),
      {
        host: "127.0.0.1",
        port: server.port,
        calledAeTitle: "COMMIT-SCP",
        contexts: [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: [transferSyntax] }]
      }
    )
    const context = Result.getOrThrow(channel.findContext(StorageCommitment.SOP_CLASS, "SCU"))
    assert.strictEqual(context.transferSyntax, transferSyntax)
    const started = performance.now()
    const big = yield* channel.requestOne(
      context,
      {
        _tag: "NActionRq",
        messageId: channel.takeMessageId(),
        requestedSopClassUid: StorageCommitment.SOP_CLASS,
        requestedSopInstanceUid: StorageCommitment.SOP_INSTANCE,
        actionTypeId: StorageCommitment.REQUEST_COMMITMENT,
        hasDataSet: true
      },
      bytes
    )
    const ms = performance.now() - started
    const small = yield* Scu.nAction(channel, {
      sopClassUid: StorageCommitment.SOP_CLASS,
      sopInstanceUid: StorageCommitment.SOP_INSTANCE,
      actionTypeId: StorageCommitment.REQUEST_COMMITMENT,
      dataSet: StorageCommitment.actionInformation({
        transactionUid: "2.25.2",
        references: [{ sopClassUid: "1.2.840.10008.5.1.4.1.1.2", sopInstanceUid: "1.2.3" }]
      })
    })
    return { big: big.status, small: small.status, ms, handled }
  }).pipe(Effect.provide(quiet))

describe("a DIMSE-N data set of many tiny items", () => {
  it.live(
    "100,000 items (2.8 MB): refused 0x0110 without the handler, the association goes on",
    () =>
      Effect.gen(function* () {
        const r = yield* ask(ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN, actionInformation(100_000))
        assert.deepStrictEqual([r.big, r.small, r.handled], [Status.PROCESSING_FAILURE, Status.SUCCESS, 1])
        assert.isBelow(r.ms, 1000)
      }),
    { timeout: 30_000 }
  )

  it.live(
    "deflated, 560,000 items in 38 KB: refused 0x0110 without the handler",
    () =>
      Effect.gen(function* () {
        const deflated = new Uint8Array(deflateRawSync(actionInformation(560_000)))
        assert.isBelow(deflated.length, 64 * 1024)
        const r = yield* ask(ApplicationEntity.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, deflated)
        assert.deepStrictEqual([r.big, r.small, r.handled], [Status.PROCESSING_FAILURE, Status.SUCCESS, 1])
        assert.isBelow(r.ms, 1000)
      }),
    { timeout: 30_000 }
  )

  it.live(
    "as many items as the bound allows are decoded and handed to the handler",
    () =>
      Effect.gen(function* () {
        // 1 Transaction UID + 1 sequence + 3 per item
        const items = Math.floor((Normalized.MAX_N_DATA_SET_ELEMENTS - 2) / 3)
        const r = yield* ask(ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN, actionInformation(items))
        assert.deepStrictEqual([r.big, r.small, r.handled], [Status.SUCCESS, Status.SUCCESS, 2])
      }),
    { timeout: 30_000 }
  )

  it.live(
    "a deflated N-GET-RSP of 560,000 items to our SCU: a DimseProtocolError at once",
    () =>
      Effect.gen(function* () {
        const deflated = new Uint8Array(deflateRawSync(actionInformation(560_000)))
        const scp = yield* scopedRawScp({
          onPdu: (socket, type, body) => {
            const rq = type === 0x04 ? commandOf(body) : undefined
            if (rq?._tag !== "NGetRq") return
            const pc = body[4]!
            socket.write(
              pdataOf(pc, true, {
                _tag: "NGetRsp",
                messageIdBeingRespondedTo: rq.messageId,
                affectedSopClassUid: rq.requestedSopClassUid,
                status: Status.SUCCESS,
                hasDataSet: true
              })
            )
            for (let at = 0; at < deflated.length; at += 16_000) {
              const data = deflated.subarray(at, at + 16_000)
              const isLast = at + 16_000 >= deflated.length
              socket.write(PduCodec.encodePDataTf([{ presentationContextId: pc, isCommand: false, isLast, data }]))
            }
          }
        })
        const channel = yield* Scu.connect(scuAe({ dimse: "20 seconds" }), {
          host: "127.0.0.1",
          port: scp.port,
          calledAeTitle: "X",
          contexts: [
            {
              abstractSyntax: StorageCommitment.SOP_CLASS,
              transferSyntaxes: [ApplicationEntity.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN]
            }
          ]
        })
        const started = performance.now()
        const failed = yield* Effect.flip(
          Scu.nGet(channel, {
            sopClassUid: StorageCommitment.SOP_CLASS,
            sopInstanceUid: StorageCommitment.SOP_INSTANCE
          })
        )
        assert.strictEqual(failed._tag, "DimseProtocolError")
        assert.isBelow(performance.now() - started, 1000)
      }).pipe(Effect.provide(quiet)),
    { timeout: 30_000 }
  )
})
