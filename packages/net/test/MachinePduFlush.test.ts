/**
 * A PDU of the upper layer's own (A-ASSOCIATE-RQ, -AC, A-RELEASE-RQ, -RP, A-ABORT) is followed by a wait for the
 * peer, so it is flushed as it is written rather than at the end of the tick (the socket gathers a tick's writes):
 * what the writer does next in the same tick (an acceptor making its DIMSE channel after the A-ASSOCIATE-AC) then
 * overlaps the peer's answer instead of delaying the PDU. P-DATA is still gathered.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Net from "node:net"
import { Deferred, Duration, Effect, Result } from "effect"
import { PduCodec, type Pdu } from "@netdicom/wire"
import * as Transport from "../src/upper/Transport.ts"
import * as UpperLayer from "../src/upper/UpperLayer.ts"
import { associateAc, associateRq } from "./rawPeer.ts"

const FIVE_SECONDS = Duration.seconds(5)
const encode = (pdu: Pdu.Pdu) => Result.getOrThrow(PduCodec.encodePdu(pdu))

// A server's first connection as a Transport, and the file descriptor of the raw client at the other end, read
// here synchronously (the client's own reads run only once the test's synchronous run is over).
const connected = Effect.gen(function* () {
  const server = yield* Transport.listenTcp("127.0.0.1", 0, { writeTimeout: FIVE_SECONDS })
  const got = yield* Deferred.make<Transport.Transport>()
  const release = yield* Deferred.make<void>()
  yield* Effect.forkScoped(server.run((t) => Effect.andThen(Deferred.succeed(got, t), Deferred.await(release))))
  const client = Net.createConnection({ host: "127.0.0.1", port: server.port })
  client.on("error", () => {})
  yield* Effect.addFinalizer(() => Effect.sync(() => client.destroy()))
  yield* Effect.callback<void>((resume) => void client.once("connect", () => resume(Effect.void)))
  const fd = (client as unknown as { readonly _handle: { readonly fd: number } })._handle.fd
  // What the kernel holds for the client now: the bytes, or none (the socket is non-blocking).
  const inKernel = (): Array<number> => {
    const buffer = Buffer.alloc(64)
    try {
      return [...buffer.subarray(0, Fs.readSync(fd, buffer))]
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EAGAIN") return []
      throw e
    }
  }
  return { t: yield* Deferred.await(got), inKernel }
})

// A memory transport that takes each write at once, logging writes (by PDU type) and flushes in order.
const logged = Effect.gen(function* () {
  const [memory, theirs] = yield* Transport.memoryPair()
  const log: Array<string> = []
  const ours: Transport.Transport = {
    ...memory,
    writeNow: (chunks) => {
      log.push(`write ${chunks[0]![0]}`)
      Effect.runSync(memory.write(chunks))
      return undefined
    },
    flush: () => void log.push("flush")
  }
  return { ours, theirs, log }
})

describe("the upper layer's own PDUs are flushed as they are written", () => {
  it.live("a socket transport's flush hands the tick's writes to the kernel at once", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { t, inKernel } = yield* connected
        const [gathered, flushed] = yield* Effect.sync(() => {
          assert.isUndefined(t.writeNow([Uint8Array.of(1, 2)]))
          const gathered = inKernel()
          assert.isUndefined(t.writeNow([Uint8Array.of(3)]))
          t.flush?.()
          return [gathered, inKernel()] as const
        })
        assert.deepStrictEqual(gathered, [])
        assert.deepStrictEqual(flushed, [1, 2, 3])
      })
    )
  )

  it.effect("a requestor flushes its A-ASSOCIATE-RQ and A-RELEASE-RQ, not a P-DATA", () =>
    Effect.gen(function* () {
      const { ours, theirs, log } = yield* logged
      const rq = associateRq()
      const ul = yield* UpperLayer.make({
        role: "requestor",
        maxPduLength: 16384,
        artim: "30 seconds",
        connect: Effect.succeed(ours)
      })
      yield* ul.submit({ _tag: "AssociateRequest", rq })
      assert.deepStrictEqual(log, ["write 1", "flush"])
      yield* theirs.write([encode(associateAc(rq))])
      assert.strictEqual((yield* ul.indications)._tag, "AssociateAccepted")
      const pdata = encode({
        _tag: "PDataTf",
        pdvs: [{ presentationContextId: 1, isCommand: true, isLast: true, data: new Uint8Array([0, 0, 0, 0]) }]
      })
      assert.isUndefined(ul.writePData([pdata]))
      yield* ul.submit({ _tag: "ReleaseRequest" })
      assert.deepStrictEqual(log, ["write 1", "flush", "write 4", "write 5", "flush"])
    })
  )

  it.effect("an acceptor flushes its A-ASSOCIATE-AC", () =>
    Effect.gen(function* () {
      const { ours, theirs, log } = yield* logged
      const ul = yield* UpperLayer.make({ role: "acceptor", maxPduLength: 16384, artim: "30 seconds", transport: ours })
      yield* theirs.write([encode(associateRq())])
      const indication = yield* ul.indications
      if (indication._tag !== "AssociateIndication") return assert.fail(indication._tag)
      yield* ul.submit({ _tag: "AssociateAccept", ac: associateAc(indication.rq) })
      assert.deepStrictEqual(log, ["write 2", "flush"])
    })
  )
})
