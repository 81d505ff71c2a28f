/**
 * "The very tick after" the A-ASSOCIATE-AC: a peer that sends, in the same write as its AC, a C-STORE-RQ (a C-GET
 * sub-operation, say) and then its A-RELEASE-RQ. Until `DimseChannel.make` installs its hook, the association's
 * release check says idle; the C-STORE's handler must still answer before the A-RELEASE-RP, and the scope must end
 * at once, without an abort.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Net from "node:net"
import { Effect, Exit, Result } from "effect"
import { PduCodec } from "@netdicom/wire"
import { acFor, connectScu, scopedRawScp, scuAe } from "./hotpath-support.ts"
import { command, CT } from "./support.ts"

const RELEASE_RQ = Uint8Array.of(0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0)
// (0008,0018) UI "1.2.3" in explicit VR little endian
const DATA = Uint8Array.of(0x08, 0, 0x18, 0, 0x55, 0x49, 6, 0, 0x31, 0x2e, 0x32, 0x2e, 0x33, 0)

// A whole C-STORE-RQ (message 7, CT) with its data set on context `ct`, then an A-RELEASE-RQ: one write.
const storeAndRelease = (ct: number): Buffer =>
  Buffer.concat([
    PduCodec.encodePDataTf([
      {
        presentationContextId: ct,
        isCommand: true,
        isLast: true,
        data: command({
          _tag: "CStoreRq",
          messageId: 7,
          affectedSopClassUid: CT,
          affectedSopInstanceUid: "1.2.3",
          priority: 0
        })
      },
      { presentationContextId: ct, isCommand: false, isLast: true, data: DATA }
    ]),
    RELEASE_RQ
  ])

describe("a C-STORE-RQ and an A-RELEASE-RQ right behind the A-ASSOCIATE-AC", () => {
  it.live("the SCP role not granted: the refusal goes before the A-RELEASE-RP", () =>
    Effect.gen(function* () {
      const seen: Array<number> = []
      const scp = yield* scopedRawScp({
        ignoreRelease: true,
        afterAc: (rq) => storeAndRelease(rq.presentationContexts.find((pc) => pc.abstractSyntax === CT)!.id),
        onPdu: (socket, type) => {
          seen.push(type)
          if (type === 0x06) socket.end()
        }
      })
      const started = Date.now()
      const exit = yield* Effect.exit(
        Effect.scoped(
          Effect.andThen(
            connectScu(scp.port, scuAe({ acse: "3 seconds" }), {
              roles: [{ sopClassUid: CT, scu: true, scp: true }],
              onStore: () => Effect.as(Effect.sleep("300 millis"), { status: 0 })
            }),
            Effect.sleep("600 millis")
          )
        )
      )
      const took = Date.now() - started
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      assert.deepStrictEqual(seen, [0x04, 0x06])
      assert.isBelow(took, 2000, `took ${took} ms`)
    })
  )

  it.live("with the SCP role granted and a handler still running: the C-STORE-RSP first, then the A-RELEASE-RP", () =>
    Effect.gen(function* () {
      const seen: Array<number> = []
      const server = Net.createServer((socket) => {
        socket.on("error", () => {})
        let buffered = Buffer.alloc(0)
        let associated = false
        socket.on("data", (chunk: Buffer) => {
          buffered = Buffer.concat([buffered, chunk])
          while (buffered.length >= 6 && buffered.length >= 6 + buffered.readUInt32BE(2)) {
            const whole = buffered.subarray(0, 6 + buffered.readUInt32BE(2))
            buffered = buffered.subarray(whole.length)
            if (associated) {
              seen.push(whole[0]!)
              if (whole[0] === 0x06) socket.end()
              continue
            }
            associated = true
            const rq = Result.getOrThrow(PduCodec.decodePdu(new Uint8Array(whole)))
            if (rq._tag !== "AAssociateRq") return void socket.destroy()
            const ac = Result.getOrThrow(PduCodec.decodePdu(acFor(rq, 0)))
            if (ac._tag !== "AAssociateAc") return void socket.destroy()
            const withRole = Result.getOrThrow(
              PduCodec.encodePdu({
                ...ac,
                userInformation: [
                  ...ac.userInformation,
                  { _tag: "ScpScuRoleSelection", sopClassUid: CT, scuRole: 1, scpRole: 1 }
                ]
              })
            )
            const ct = rq.presentationContexts.find((pc) => pc.abstractSyntax === CT)!.id
            socket.write(Buffer.concat([withRole, storeAndRelease(ct)]))
          }
        })
      })
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()))),
        () => Effect.sync(() => server.close())
      )
      const port = (server.address() as Net.AddressInfo).port
      let stored = 0
      const exit = yield* Effect.exit(
        Effect.scoped(
          Effect.andThen(
            connectScu(port, scuAe({ acse: "3 seconds" }), {
              roles: [{ sopClassUid: CT, scu: true, scp: true }],
              onStore: () =>
                Effect.as(Effect.sleep("300 millis"), { status: 0 }).pipe(Effect.tap(() => Effect.sync(() => stored++)))
            }),
            Effect.sleep("600 millis")
          )
        )
      )
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      assert.strictEqual(stored, 1, "the handler ran")
      assert.deepStrictEqual(seen, [0x04, 0x06])
    })
  )
})
