/**
 * An A-ASSOCIATE-AC naming another Application Context than DICOM's. The acceptor may answer with another name than
 * the one proposed (PS3.8 7.1.1.2), but DICOM AEs use only the DICOM Application Context (PS3.7 A.2.1): our SCU took
 * the association all the same and sent DIMSE messages on it. It now refuses it as it refuses any AC that contradicts
 * its RQ: `InvalidAssociateAc`, and an A-ABORT to the peer.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Result } from "effect"
import * as Net from "node:net"
import { Scu } from "@netdicom/net"
import { PduCodec } from "@netdicom/wire"
import { connectScu, scuAe } from "./hotpath-support.ts"

// A raw SCP accepting every context, its AC naming `applicationContextName`; records the PDU types it gets after.
const scpNaming = (applicationContextName: string) =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<{ port: number; got: Array<number>; close: () => void }>((resolve) => {
          const sockets = new Set<Net.Socket>()
          const got: Array<number> = []
          const server = Net.createServer((socket) => {
            sockets.add(socket)
            socket.on("error", () => {})
            let buffered = Buffer.alloc(0)
            let first = true
            socket.on("data", (chunk: Buffer) => {
              buffered = Buffer.concat([buffered, chunk])
              while (buffered.length >= 6 && buffered.length >= 6 + buffered.readUInt32BE(2)) {
                const whole = buffered.subarray(0, 6 + buffered.readUInt32BE(2))
                buffered = buffered.subarray(whole.length)
                if (!first) {
                  got.push(whole[0]!)
                  continue
                }
                first = false
                const rq = Result.getOrThrow(PduCodec.decodePdu(new Uint8Array(whole)))
                if (rq._tag !== "AAssociateRq") return
                const ac = PduCodec.encodePdu({
                  ...rq,
                  _tag: "AAssociateAc",
                  applicationContextName,
                  presentationContexts: rq.presentationContexts.map((pc) => ({
                    _tag: "PresentationContextAc" as const,
                    id: pc.id,
                    result: 0 as const,
                    transferSyntax: pc.transferSyntaxes[0]!
                  }))
                })
                socket.write(Result.getOrThrow(ac))
              }
            })
          })
          server.listen(0, "127.0.0.1", () =>
            resolve({
              port: (server.address() as Net.AddressInfo).port,
              got,
              close: () => {
                for (const s of sockets) s.destroy()
                server.close()
              }
            })
          )
        })
    ),
    (s) => Effect.sync(s.close)
  )

describe("an A-ASSOCIATE-AC naming another application context", () => {
  it.live("1.2.3.4: the connect fails with InvalidAssociateAc, the peer gets an A-ABORT and no C-ECHO-RQ", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* scpNaming("1.2.3.4")
        const exit = yield* Effect.exit(Effect.scoped(Effect.flatMap(connectScu(scp.port, scuAe()), Scu.echo)))
        assert.isTrue(Exit.isFailure(exit), "the association was taken")
        assert.include(String(Exit.isFailure(exit) && exit.cause), "InvalidAssociateAc")
        assert.include(String(Exit.isFailure(exit) && exit.cause), "application context 1.2.3.4")
        yield* Effect.sleep("100 millis")
        assert.deepStrictEqual(scp.got, [0x07])
      })
    )
  )

  it.live("DICOM's: taken", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* scpNaming("1.2.840.10008.3.1.1.1")
        const exit = yield* Effect.exit(
          Effect.scoped(Effect.map(connectScu(scp.port, scuAe()), (c) => c.association.negotiated.accepted.length))
        )
        assert.isTrue(Exit.isSuccess(exit), String(Exit.isFailure(exit) && exit.cause))
      })
    )
  )
})
