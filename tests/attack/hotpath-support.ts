/**
 * Helpers for the hot-path attack tests (hotpath.test.ts): a raw SCP on 127.0.0.1 (port 0) that accepts
 * every proposed context and then misbehaves, an SCU Application Entity with short timeouts, and bounded waits.
 */
import * as Net from "node:net"
import { type Clock, Duration, Effect, Result } from "effect"
import { ApplicationEntity, Scu } from "@netdicom/net"
import { Dimse, PduCodec, type Pdu } from "@netdicom/wire"
import { CT, EXPLICIT, IMPLICIT, STUDY_FIND, VERIFICATION } from "./support.ts"

export interface RawScp {
  readonly port: number
  /** The connections accepted so far. */
  readonly sockets: ReadonlyArray<Net.Socket>
  readonly close: () => void
}

export interface RawScpOptions {
  /** The Maximum Length announced in the A-ASSOCIATE-AC (default 0, no limit). */
  readonly maxPduLength?: number
  /** The Asynchronous Operations Window granted both ways (default: none, i.e. one at a time). */
  readonly window?: number
  /** Stop reading right after sending the A-ASSOCIATE-AC (TCP receive window fills, our writes block). */
  readonly stopReading?: boolean
  /** Read at most about this many bytes a second after the association (default: as fast as they come). */
  readonly readBytesPerSecond?: number
  /** Answer C-ECHO-RQ and C-STORE-RQ (once its data set is complete) with Success. */
  readonly answer?: boolean
  /** Leave A-RELEASE-RQ unanswered (a peer that never sends its A-RELEASE-RP). */
  readonly ignoreRelease?: boolean
  /** PDUs to send right behind the A-ASSOCIATE-AC (an A-ABORT, a PDU unexpected in Sta6...). */
  readonly afterAc?: (rq: Pdu.AAssociateRq) => Uint8Array
  /** Each whole PDU after the association: type, body (after the 6-byte header), the socket. */
  readonly onPdu?: (socket: Net.Socket, type: number, body: Buffer) => void
}

/** A raw SCP: accepts every context of the RQ with its first proposed transfer syntax, then hands PDUs to `onPdu`. */
export const rawScp = (options: RawScpOptions = {}): Promise<RawScp> =>
  new Promise((resolve) => {
    const sockets: Array<Net.Socket> = []
    const server = Net.createServer((socket) => {
      sockets.push(socket)
      socket.on("error", () => {})
      let buffered: Buffer = Buffer.alloc(0)
      let associated = false
      const rate = options.readBytesPerSecond
      let budget = 0
      if (rate !== undefined) {
        // 20 times a second: a new budget, and reading resumes if it had stopped
        const tick = setInterval(() => {
          budget = rate / 20
          if (associated && !socket.destroyed) socket.resume()
        }, 50)
        socket.on("close", () => clearInterval(tick))
      }
      let answering: Dimse.Message | undefined
      socket.on("data", (chunk: Buffer) => {
        if (rate !== undefined && associated) {
          budget -= chunk.length
          if (budget <= 0) socket.pause()
        }
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
        while (buffered.length >= 6 && buffered.length >= 6 + buffered.readUInt32BE(2)) {
          const whole = buffered.subarray(0, 6 + buffered.readUInt32BE(2))
          buffered = buffered.subarray(whole.length)
          if (!associated) {
            const rq = PduCodec.decodePdu(new Uint8Array(whole))
            if (Result.isFailure(rq) || rq.success._tag !== "AAssociateRq") return void socket.destroy()
            associated = true
            socket.write(acFor(rq.success, options.maxPduLength ?? 0, undefined, options.window))
            if (options.afterAc !== undefined) socket.write(options.afterAc(rq.success))
            if (options.stopReading) {
              socket.pause()
              return
            }
          } else {
            const body = Buffer.from(whole.subarray(6))
            // A-RELEASE-RQ: A-RELEASE-RP, so our side's release does not wait for ARTIM
            if (whole[0] === 0x05 && options.ignoreRelease !== true)
              socket.write(Uint8Array.of(0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0))
            if (options.answer && whole[0] === 0x04) {
              const pc = body[4]!
              const m = commandOf(body)
              if (m !== undefined) answering = m
              const lastData = (body[5]! & 3) === 2
              if (answering?._tag === "CEchoRq" && m !== undefined) {
                socket.write(
                  pdataOf(pc, true, {
                    _tag: "CEchoRsp",
                    messageIdBeingRespondedTo: answering.messageId,
                    affectedSopClassUid: answering.affectedSopClassUid,
                    status: 0
                  })
                )
              } else if (answering?._tag === "CStoreRq" && lastData) {
                socket.write(
                  pdataOf(pc, true, {
                    _tag: "CStoreRsp",
                    messageIdBeingRespondedTo: answering.messageId,
                    affectedSopClassUid: answering.affectedSopClassUid,
                    affectedSopInstanceUid: answering.affectedSopInstanceUid,
                    status: 0
                  })
                )
              }
            }
            options.onPdu?.(socket, whole[0]!, body)
          }
        }
      })
    })
    server.listen(0, "127.0.0.1", () => {
      resolve({
        port: (server.address() as Net.AddressInfo).port,
        sockets,
        close: () => {
          for (const s of sockets) s.destroy()
          server.close()
        }
      })
    })
  })

/**
 * An A-ASSOCIATE-AC accepting every context of `rq` (with `transferSyntax`, else each context's first proposed),
 * granting an Asynchronous Operations Window of `window` both ways when given.
 */
export const acFor = (
  rq: Pdu.AAssociateRq,
  maxPduLength: number,
  transferSyntax?: string,
  window?: number
): Uint8Array =>
  Result.getOrThrow(
    PduCodec.encodePdu({
      _tag: "AAssociateAc",
      protocolVersion: 1,
      calledAeTitle: rq.calledAeTitle,
      callingAeTitle: rq.callingAeTitle,
      applicationContextName: rq.applicationContextName,
      presentationContexts: rq.presentationContexts.map((pc) => ({
        _tag: "PresentationContextAc" as const,
        id: pc.id,
        result: 0 as const,
        transferSyntax: transferSyntax ?? pc.transferSyntaxes[0] ?? IMPLICIT
      })),
      userInformation: [
        { _tag: "MaximumLength", maximumLength: maxPduLength },
        { _tag: "ImplementationClassUid", uid: "1.2.3.999" },
        ...(window === undefined
          ? []
          : [
              {
                _tag: "AsynchronousOperationsWindow" as const,
                maxOperationsInvoked: window,
                maxOperationsPerformed: window
              }
            ])
      ],
      unknownItems: []
    })
  )

/** One P-DATA-TF holding one whole command PDV. */
export const pdataOf = (pc: number, isCommand: boolean, m: Dimse.Message): Uint8Array =>
  PduCodec.encodePDataTf([
    { presentationContextId: pc, isCommand, isLast: true, data: Result.getOrThrow(Dimse.encode(m)) }
  ])

/** The raw SCP in the test's scope. */
export const scopedRawScp = (options: RawScpOptions = {}) =>
  Effect.acquireRelease(
    Effect.promise(() => rawScp(options)),
    (s) => Effect.sync(s.close)
  )

/** Our SCU's Application Entity, with short timeouts (overridable). */
export const scuAe = (timeouts: { readonly [K in keyof ApplicationEntity.Timeouts]?: Duration.Input } = {}) =>
  Result.getOrThrow(
    ApplicationEntity.make({
      aeTitle: "NETDICOM-SCU",
      timeouts: { acse: "1 second", connect: "2 seconds", dimse: "5 seconds", write: "2 seconds", ...timeouts }
    })
  )

/** Opens our SCU to 127.0.0.1:port proposing Verification (1), CT explicit (3) and Study FIND (5). */
export const connectScu = (port: number, ae = scuAe(), extra: Partial<Parameters<typeof Scu.connect>[1]> = {}) =>
  Scu.connect(ae, {
    host: "127.0.0.1",
    port,
    calledAeTitle: "NETDICOM-SCP",
    contexts: [
      { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
      { abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
      { abstractSyntax: STUDY_FIND, transferSyntaxes: [IMPLICIT] }
    ],
    ...extra
  })

/** The message of a raw P-DATA-TF body holding one whole command PDV, if it does. */
export const commandOf = (body: Buffer): Dimse.Message | undefined => {
  if (body.length < 6 || (body[5]! & 3) !== 3) return undefined
  const length = body.readUInt32BE(0)
  const decoded = Dimse.decode(new Uint8Array(body.subarray(6, 4 + length)))
  return Result.isSuccess(decoded) ? decoded.success : undefined
}

/** Races `effect` against a deadline: `Option.none()` when it has not completed within `ms`. */
export const within = <A, E, R>(ms: number, effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.timeoutOption(Duration.millis(ms)))

/** Polls `read` until `ok`, for at most `ms`; returns the last value read. */
export const waitFor = <A>(read: Effect.Effect<A>, ok: (a: A) => boolean, ms: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    let value = yield* read
    while (!ok(value) && Date.now() < deadline) {
      yield* Effect.sleep("25 millis")
      value = yield* read
    }
    return value
  })

/** A C-ECHO-RSP (Success) to `m`, on presentation context 1. */
export const echoRspFor = (m: Dimse.CEchoRq): Uint8Array =>
  pdataOf(1, true, {
    _tag: "CEchoRsp",
    messageIdBeingRespondedTo: m.messageId,
    affectedSopClassUid: m.affectedSopClassUid,
    status: 0
  })

/** The live clock, with its wall time stepped by `offset.ms` (as after a correction of the system time). */
export const steppedClock = (live: Clock.Clock, offset: { ms: number }): Clock.Clock => ({
  currentTimeMillisUnsafe: () => live.currentTimeMillisUnsafe() + offset.ms,
  currentTimeMillis: Effect.sync(() => live.currentTimeMillisUnsafe() + offset.ms),
  currentTimeNanosUnsafe: () => live.currentTimeNanosUnsafe() + BigInt(offset.ms) * 1_000_000n,
  currentTimeNanos: Effect.sync(() => live.currentTimeNanosUnsafe() + BigInt(offset.ms) * 1_000_000n),
  monotonicTimeNanosUnsafe: () => live.monotonicTimeNanosUnsafe(),
  monotonicTimeNanos: Effect.sync(() => live.monotonicTimeNanosUnsafe()),
  sleep: (duration) => live.sleep(duration)
})

/**
 * A raw SCP answering C-ECHOs: the n-th (from 1) after `delayMs(n)` milliseconds (0: at once), or never when it
 * gives undefined.
 */
export const scopedEchoScp = (delayMs: (nth: number) => number | undefined) => {
  let seen = 0
  return scopedRawScp({
    onPdu: (socket, type, raw) => {
      const m = type === 0x04 ? commandOf(raw) : undefined
      if (m === undefined || m._tag !== "CEchoRq") return
      const delay = delayMs(++seen)
      if (delay === undefined) return
      if (delay === 0) socket.write(echoRspFor(m))
      else setTimeout(() => socket.write(echoRspFor(m)), delay)
    }
  })
}
