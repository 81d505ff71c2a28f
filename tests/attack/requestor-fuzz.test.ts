/**
 * Live fuzzing of the requestor: our SCU against a raw SCP answering each A-ASSOCIATE-RQ with a mutated
 * A-ASSOCIATE-AC (or a mutated RJ, A-ABORT, A-RELEASE-RQ, P-DATA, unknown PDU), the PDU length fixed or not. The live
 * fuzz of `fuzz.test.ts` attacks the acceptor only. Each connect-and-echo ends within its bound with success or a
 * typed error of the association, negotiation or DIMSE layers (an association made ends with the DIMSE timeout: the
 * SCP never answers); nothing escapes as a defect or an uncaught error. Passes on main: no defect found by it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Result } from "effect"
import fc from "fast-check"
import * as Net from "node:net"
import { ApplicationEntity, Scu } from "@netdicom/net"
import { PduCodec, type Pdu } from "@netdicom/wire"
import { IMPLICIT, promise, STUDY_FIND, VERIFICATION } from "./support.ts"

const acOf = (rq: Pdu.AAssociateRq): Uint8Array =>
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
        transferSyntax: pc.transferSyntaxes[0]!
      })),
      userInformation: [
        { _tag: "MaximumLength", maximumLength: 16384 },
        { _tag: "ImplementationClassUid", uid: "1.2.3.999" },
        { _tag: "AsynchronousOperationsWindow", maxOperationsInvoked: 2, maxOperationsPerformed: 2 },
        { _tag: "ScpScuRoleSelection", sopClassUid: STUDY_FIND, scuRole: 1, scpRole: 0 },
        { _tag: "ImplementationVersionName", name: "HOSTILE" },
        { _tag: "UserIdentityAc", serverResponse: new Uint8Array(6) }
      ],
      unknownItems: []
    })
  )

// The answer to the RQ: its AC (or another PDU) with bytes overwritten, cut or extended, the length field fixed or not.
const answer = fc.record({
  kind: fc.constantFrom("ac", "ac", "ac", "rj", "abort", "releaseRq", "pdata", "unknown"),
  edits: fc.array(fc.tuple(fc.nat(400), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
  delta: fc.integer({ min: -12, max: 12 }),
  fixLength: fc.boolean()
})
type Answer = typeof answer extends fc.Arbitrary<infer A> ? A : never

const bytesFor = (a: Answer, rq: Pdu.AAssociateRq): Uint8Array => {
  const seed =
    a.kind === "ac"
      ? acOf(rq)
      : a.kind === "rj"
        ? Uint8Array.of(3, 0, 0, 0, 0, 4, 0, 1, 1, 1)
        : a.kind === "abort"
          ? Uint8Array.of(7, 0, 0, 0, 0, 4, 0, 0, 2, 0)
          : a.kind === "releaseRq"
            ? Uint8Array.of(5, 0, 0, 0, 0, 4, 0, 0, 0, 0)
            : a.kind === "pdata"
              ? Uint8Array.of(4, 0, 0, 0, 0, 6, 0, 0, 0, 2, 1, 3)
              : Uint8Array.of(9, 0, 0, 0, 0, 4, 0, 0, 0, 0)
  const out = new Uint8Array(Math.max(1, seed.length + a.delta))
  out.set(seed.subarray(0, Math.min(seed.length, out.length)))
  // the first byte (PDU type) is left alone: the kinds pick it
  for (const [at, v] of a.edits) if (at > 0 && at < out.length) out[at] = v
  if (a.fixLength && out.length >= 6) new DataView(out.buffer).setUint32(2, out.length - 6, false)
  return out
}

// A raw SCP answering the n-th connection's A-ASSOCIATE-RQ with answers[n], then reading on without answering.
const hostileScp = (answers: ReadonlyArray<Answer>) =>
  new Promise<{ port: number; close: () => void }>((resolve) => {
    const sockets = new Set<Net.Socket>()
    let n = 0
    const server = Net.createServer((socket) => {
      sockets.add(socket)
      socket.on("error", () => {})
      const mine = answers[n++ % answers.length]!
      let buffered = Buffer.alloc(0)
      let first = true
      socket.on("data", (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk])
        while (buffered.length >= 6 && buffered.length >= 6 + buffered.readUInt32BE(2)) {
          const whole = buffered.subarray(0, 6 + buffered.readUInt32BE(2))
          buffered = buffered.subarray(whole.length)
          if (!first) continue
          first = false
          const rq = PduCodec.decodePdu(new Uint8Array(whole))
          if (Result.isSuccess(rq) && rq.success._tag === "AAssociateRq") socket.write(bytesFor(mine, rq.success))
        }
      })
    })
    server.listen(0, "127.0.0.1", () =>
      resolve({
        port: (server.address() as Net.AddressInfo).port,
        close: () => {
          for (const s of sockets) s.destroy()
          server.close()
        }
      })
    )
  })

const ae = Result.getOrThrow(
  ApplicationEntity.make({
    aeTitle: "NETDICOM-SCU",
    timeouts: { acse: "700 millis", connect: "2 seconds", dimse: "700 millis", write: "2 seconds", idle: "3 seconds" }
  })
)

// Every failure a connect-and-echo may end with.
const TYPED = new Set([
  "AssociationRejected",
  "AssociationAborted",
  "AcseTimeout",
  "ConnectFailed",
  "InvalidAssociateAc",
  "NoAcceptableContext",
  "DimseTimeout",
  "DimseProtocolError",
  "NoAcceptedContext"
])

describe("live fuzzing of the requestor", () => {
  it.live(
    "80 mutated answers to our A-ASSOCIATE-RQ: each connect-and-echo ends within 4 s, typed, nothing uncaught",
    () =>
      Effect.gen(function* () {
        const unhandled: Array<string> = []
        const onError = (e: unknown) => unhandled.push(String(e))
        process.on("uncaughtException", onError)
        process.on("unhandledRejection", onError)
        const answers = fc.sample(answer, { numRuns: 80, seed: 16 })
        const scp = yield* promise(() => hostileScp(answers))
        const outcomes = yield* Effect.forEach(
          answers,
          () =>
            Effect.gen(function* () {
              const started = Date.now()
              const exit = yield* Effect.exit(
                Effect.scoped(
                  Effect.flatMap(
                    Scu.connect(ae, {
                      host: "127.0.0.1",
                      port: scp.port,
                      calledAeTitle: "HOSTILE",
                      contexts: [
                        { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
                        { abstractSyntax: STUDY_FIND, transferSyntaxes: [IMPLICIT] }
                      ],
                      roles: [{ sopClassUid: STUDY_FIND, scu: true, scp: false }]
                    }),
                    Scu.echo
                  )
                )
              )
              const tag = Exit.isSuccess(exit)
                ? "success"
                : Cause.hasDies(exit.cause)
                  ? `defect: ${Cause.pretty(exit.cause)}`
                  : String((Cause.squash(exit.cause) as { readonly _tag?: string })._tag)
              return { tag, ms: Date.now() - started }
            }),
          { concurrency: 8 }
        )
        scp.close()
        process.off("uncaughtException", onError)
        process.off("unhandledRejection", onError)
        assert.deepStrictEqual(unhandled, [])
        for (const o of outcomes) {
          assert.isTrue(TYPED.has(o.tag), o.tag)
          assert.isBelow(o.ms, 4000, o.tag)
        }
        // the sample reaches both ends: some associations fail, some are made (and their C-ECHO times out)
        assert.isAbove(new Set(outcomes.map((o) => o.tag)).size, 3, outcomes.map((o) => o.tag).join(", "))
      }),
    30_000
  )
})
