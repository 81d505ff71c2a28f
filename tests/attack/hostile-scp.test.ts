/**
 * Our SCU against a hostile SCP: a raw node:net server on 127.0.0.1 (port 0) that accepts the association and
 * then misbehaves. The SCU must fail with typed errors within its timeouts and must not buffer without bound.
 *
 * Finding: `DimseChannel.request` puts responses in an unbounded queue (`Queue.unbounded` per request) and the
 * association loop offers to it without waiting, so a C-FIND consumer that is slower than the SCP lets pending
 * responses, each with an identifier of up to 16 MiB, pile up in memory. Expected: backpressure (stop reading)
 * or a bound after which the association is aborted.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Result, Stream } from "effect"
import * as Net from "node:net"
import { ApplicationEntity, Scu } from "@netdicom/net"
import { Dimse, PduCodec, type Pdu } from "@netdicom/wire"
import { IMPLICIT, mb, STUDY_FIND, VERIFICATION } from "./support.ts"
import { acFor } from "./hotpath-support.ts"

interface Hostile {
  readonly port: number
  readonly close: () => void
}

/** Accepts every context of the RQ with Implicit VR LE, then hands each later PDU to `onPdu`. */
const hostileScp = (
  onPdu: (socket: Net.Socket, type: number, body: Buffer) => void,
  ac: (rq: Pdu.AAssociateRq) => Uint8Array = (rq) => acFor(rq, 0, IMPLICIT)
): Promise<Hostile> =>
  new Promise((resolve) => {
    const sockets = new Set<Net.Socket>()
    const server = Net.createServer((socket) => {
      sockets.add(socket)
      socket.on("error", () => {})
      let buffered = Buffer.alloc(0)
      let associated = false
      socket.on("data", (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk])
        while (buffered.length >= 6 && buffered.length >= 6 + buffered.readUInt32BE(2)) {
          const whole = buffered.subarray(0, 6 + buffered.readUInt32BE(2))
          buffered = buffered.subarray(whole.length)
          if (!associated) {
            const rq = PduCodec.decodePdu(new Uint8Array(whole))
            if (Result.isSuccess(rq) && rq.success._tag === "AAssociateRq") {
              associated = true
              socket.write(ac(rq.success))
            }
          } else onPdu(socket, whole[0]!, Buffer.from(whole.subarray(6)))
        }
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as Net.AddressInfo
      resolve({
        port: address.port,
        close: () => {
          for (const s of sockets) s.destroy()
          server.close()
        }
      })
    })
  })

const pdu = (pcId: number, isCommand: boolean, isLast: boolean, data: Uint8Array) =>
  PduCodec.encodePDataTf([{ presentationContextId: pcId, isCommand, isLast, data }])

const scuAe = () =>
  Result.getOrThrow(
    ApplicationEntity.make({
      aeTitle: "NETDICOM-SCU",
      timeouts: {
        acse: "500 millis",
        connect: "2 seconds",
        dimse: "1500 millis",
        write: "2 seconds",
        idle: "3 seconds"
      }
    })
  )

const connect = (port: number) =>
  Scu.connect(scuAe(), {
    host: "127.0.0.1",
    port,
    calledAeTitle: "HOSTILE",
    contexts: [
      { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
      { abstractSyntax: STUDY_FIND, transferSyntaxes: [IMPLICIT] }
    ]
  })

describe("our SCU against a hostile SCP", () => {
  // After our own A-ABORT (AA-8, Sta13) the upper layer waits for the peer to close, up to ARTIM; the DIMSE
  // layer fails outstanding requests only when the association has ended. A peer that breaks the protocol and
  // keeps the socket open makes the caller wait ARTIM (30 s by default) for an error already known.
  it.live(
    "the SCP answers C-ECHO with an oversized PDU and keeps the socket open: the request fails within 1 s, not ARTIM",
    () =>
      Effect.gen(function* () {
        const scp = yield* Effect.acquireRelease(
          Effect.promise(() =>
            hostileScp((socket) => socket.write(Uint8Array.from([4, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 2, 1, 3])))
          ),
          (s) => Effect.sync(s.close)
        )
        const ae = Result.getOrThrow(
          ApplicationEntity.make({ aeTitle: "NETDICOM-SCU", timeouts: { acse: "2500 millis", dimse: "10 seconds" } })
        )
        const started = Date.now()
        const failedAfter = yield* Effect.scoped(
          Effect.gen(function* () {
            const channel = yield* Scu.connect(ae, {
              host: "127.0.0.1",
              port: scp.port,
              calledAeTitle: "HOSTILE",
              contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] }]
            })
            const exit = yield* Effect.exit(Scu.echo(channel))
            assert.isTrue(Exit.isFailure(exit))
            return Date.now() - started
          })
        ).pipe(Effect.orDie)
        assert.isBelow(failedAfter, 1000, `C-ECHO failed after ${failedAfter} ms (ARTIM 2.5 s)`)
      }),
    10_000
  )

  it.live(
    "the SCP never answers C-ECHO: DimseTimeout within the DIMSE timeout (1.5 s)",
    () =>
      Effect.gen(function* () {
        const scp = yield* Effect.acquireRelease(
          Effect.promise(() => hostileScp(() => {})),
          (s) => Effect.sync(s.close)
        )
        const started = Date.now()
        const exit = yield* Effect.exit(Effect.scoped(Effect.flatMap(connect(scp.port), Scu.echo)))
        assert.isTrue(Exit.isFailure(exit))
        assert.isBelow(Date.now() - started, 5000)
      }),
    10_000
  )

  it.live(
    "the SCP answers with a P-DATA-TF of length 0xFFFFFFFF: the SCU fails typed, quickly",
    () =>
      Effect.gen(function* () {
        const scp = yield* Effect.acquireRelease(
          Effect.promise(() =>
            hostileScp((socket) => socket.write(Uint8Array.from([4, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, 1, 3])))
          ),
          (s) => Effect.sync(s.close)
        )
        const started = Date.now()
        const exit = yield* Effect.exit(Effect.scoped(Effect.flatMap(connect(scp.port), Scu.echo)))
        assert.isTrue(Exit.isFailure(exit))
        assert.isBelow(Date.now() - started, 3000)
      }),
    10_000
  )

  it.live(
    "a C-FIND-RSP identifier of 20 MiB (over the 16 MiB bound): the SCU aborts, fails typed",
    () =>
      Effect.gen(function* () {
        const scp = yield* Effect.acquireRelease(
          Effect.promise(() =>
            hostileScp((socket, type, body) => {
              if (type !== 4 || (body[5]! & 1) === 0) return
              const rq = Dimse.decode(new Uint8Array(body.subarray(6)))
              if (Result.isFailure(rq) || rq.success._tag !== "CFindRq") return
              const rsp = Result.getOrThrow(
                Dimse.encode({
                  _tag: "CFindRsp",
                  messageIdBeingRespondedTo: rq.success.messageId,
                  affectedSopClassUid: STUDY_FIND,
                  status: 0xff00,
                  hasIdentifier: true
                })
              )
              socket.write(pdu(body[4]!, true, true, rsp))
              const chunk = pdu(body[4]!, false, false, new Uint8Array(64 << 10))
              for (let i = 0; i < 20 * 16; i++) socket.write(chunk)
            })
          ),
          (s) => Effect.sync(s.close)
        )
        const exit = yield* Effect.exit(
          Effect.scoped(
            Effect.gen(function* () {
              const channel = yield* connect(scp.port)
              return yield* Stream.runCollect(Scu.find(channel, { model: "study", identifier: { PatientName: "*" } }))
            })
          )
        )
        assert.isTrue(Exit.isFailure(exit))
      }),
    10_000
  )

  it.live(
    "pending C-FIND-RSPs with 4 MiB identifiers flood a slow consumer: SCU memory stays under 64 MB",
    () =>
      Effect.gen(function* () {
        const identifier = new Uint8Array(4 << 20)
        // an Implicit VR LE private OB element (0009,1010) filling the identifier: decodes fine
        new DataView(identifier.buffer).setUint16(0, 0x0009, true)
        new DataView(identifier.buffer).setUint16(2, 0x1010, true)
        new DataView(identifier.buffer).setUint32(4, identifier.length - 8, true)
        let flood: (() => void) | undefined
        const scp = yield* Effect.acquireRelease(
          Effect.promise(() =>
            hostileScp((socket, type, body) => {
              if (type !== 4 || (body[5]! & 1) === 0) return
              const rq = Dimse.decode(new Uint8Array(body.subarray(6)))
              if (Result.isFailure(rq) || rq.success._tag !== "CFindRq") return
              const pc = body[4]!
              const rsp = Result.getOrThrow(
                Dimse.encode({
                  _tag: "CFindRsp",
                  messageIdBeingRespondedTo: rq.success.messageId,
                  affectedSopClassUid: STUDY_FIND,
                  status: 0xff00,
                  hasIdentifier: true
                })
              )
              // 24 pending responses (96 MiB), written as fast as the SCU reads them
              const pdus = function* () {
                for (let n = 0; n < 24; n++) {
                  yield pdu(pc, true, true, rsp)
                  for (let at = 0; at < identifier.length; at += 64 << 10) {
                    const end = Math.min(at + (64 << 10), identifier.length)
                    yield pdu(pc, false, end === identifier.length, identifier.subarray(at, end))
                  }
                }
              }
              const it = pdus()
              flood = () => {
                for (let next = it.next(); !next.done; next = it.next()) {
                  if (!socket.write(next.value)) {
                    socket.once("drain", () => flood?.())
                    return
                  }
                }
              }
              flood()
            })
          ),
          (s) => Effect.sync(s.close)
        )
        const before = process.memoryUsage().arrayBuffers
        let peak = before
        const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 20)
        yield* Effect.exit(
          Effect.scoped(
            Effect.gen(function* () {
              const channel = yield* connect(scp.port)
              // a consumer that takes two responses, thinking 0.7 s over each
              yield* Scu.find(channel, { model: "study", identifier: { PatientName: "*" } }).pipe(
                Stream.take(2),
                Stream.runForEach(() => Effect.sleep(Duration.millis(700)))
              )
            })
          )
        )
        clearInterval(sampler)
        assert.isBelow(mb(peak - before), 64, `SCU ArrayBuffers grew ${mb(peak - before)} MB`)
      }),
    20_000
  )
})
