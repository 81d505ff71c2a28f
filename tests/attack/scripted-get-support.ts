/**
 * A C-GET by our SCU against a scripted SCP (`rawPeer.scriptedScp`) on 127.0.0.1, for the attack tests of its waits:
 * the PDUs such an SCP writes (its C-STOREs of one small CT data set on presentation context 3, its C-GET-RSPs on 5)
 * and the SCU's side, which stores what arrives and collects the responses.
 */
import type * as Net from "node:net"
import { type Duration, Effect, Logger, Result, Stream } from "effect"
import { ApplicationEntity, QueryRetrieve, Scu } from "@netdicom/net"
import { Dimse, PduCodec, Status } from "@netdicom/wire"
import { CT, EXPLICIT, IMPLICIT, VERIFICATION } from "./support.ts"

export const GET = QueryRetrieve.SOP_CLASSES.study.get!

/** (0008,0018) UI "1.2.3" in Explicit VR Little Endian. */
export const DATA = Uint8Array.of(0x08, 0, 0x18, 0, 0x55, 0x49, 6, 0, 0x31, 0x2e, 0x32, 0x2e, 0x33, 0)

/** One PDV in a P-DATA-TF. */
export const pdv = (pc: number, isCommand: boolean, isLast: boolean, data: Uint8Array) =>
  PduCodec.encodePDataTf([{ presentationContextId: pc, isCommand, isLast, data }])

/** A command set in one P-DATA-TF. */
export const commandPdu = (pc: number, m: Dimse.Message) => pdv(pc, true, true, Result.getOrThrow(Dimse.encode(m)))

/**
 * Sub-operation 1's C-STORE-RQ now, then its data set in 2-byte PDVs `everyMs` apart (a slow link: the data set keeps
 * arriving for `DATA.length / 2 * everyMs`).
 */
export const dribbleStore = (socket: Net.Socket, everyMs: number): void => {
  socket.write(commandPdu(3, storeRq(1)))
  let at = 0
  const tick = setInterval(() => {
    if (socket.destroyed) return clearInterval(tick)
    at += 2
    socket.write(pdv(3, false, at === DATA.length, DATA.subarray(at - 2, at)))
    if (at === DATA.length) clearInterval(tick)
  }, everyMs)
}

/** A final C-MOVE-RSP (Success, `completed` sub-operations, none failed), on presentation context `pc`. */
export const moveFinalRsp = (pc: number, messageId: number, completed: number) =>
  commandPdu(pc, {
    _tag: "CMoveRsp",
    messageIdBeingRespondedTo: messageId,
    affectedSopClassUid: QueryRetrieve.SOP_CLASSES.study.move!,
    status: 0,
    numberOfCompletedSuboperations: completed,
    numberOfFailedSuboperations: 0,
    numberOfWarningSuboperations: 0,
    hasIdentifier: false
  })

/** The C-STORE-RQ of sub-operation `n` (message id 100 + n, SOP Instance UID 1.2.3.n). */
export const storeRq = (n: number): Dimse.Message => ({
  _tag: "CStoreRq",
  messageId: 100 + n,
  affectedSopClassUid: CT,
  affectedSopInstanceUid: `1.2.3.${n}`,
  priority: 0
})

/**
 * Our SCU's C-GET of study 1.2 from the SCP on `port`, with `timeouts`, cancelled when `cancelWhen` completes if
 * given; presentation contexts 1 (Verification), 3 (CT, where it takes C-STOREs) and 5 (the C-GET). Its outcome (the
 * responses or why not, bounded at 20 s), the SOP Instance UIDs it stored, and how long it took.
 */
export const storingGet = (
  port: number,
  timeouts: { readonly dimse: Duration.Input; readonly cancel?: Duration.Input },
  cancelWhen?: Effect.Effect<void>
) =>
  Effect.gen(function* () {
    const ae = Result.getOrThrow(
      ApplicationEntity.make({
        aeTitle: "NETDICOM-SCU",
        contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT], scu: true, scp: true }],
        timeouts
      })
    )
    const stored: Array<string> = []
    const started = Date.now()
    const exit = yield* Effect.scoped(
      Effect.gen(function* () {
        const channel = yield* Scu.connect(ae, {
          host: "127.0.0.1",
          port,
          calledAeTitle: "NETDICOM-SCP",
          contexts: [
            { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
            { abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
            { abstractSyntax: GET, transferSyntaxes: [IMPLICIT] }
          ],
          roles: [{ sopClassUid: CT, scu: true, scp: true }],
          onStore: (request) =>
            Effect.as(
              Effect.andThen(
                Stream.runDrain(request.dataSet).pipe(Effect.ignore),
                Effect.sync(() => stored.push(request.sopInstanceUid))
              ),
              { status: Status.SUCCESS }
            )
        })
        return yield* Stream.runCollect(
          Scu.get(channel, {
            model: "study",
            identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2" },
            ...(cancelWhen === undefined ? {} : { cancelWhen })
          })
        )
      })
    ).pipe(Effect.exit, Effect.timeout("20 seconds"), Effect.provide(Logger.layer([])))
    return { exit, stored, ms: Date.now() - started }
  })
