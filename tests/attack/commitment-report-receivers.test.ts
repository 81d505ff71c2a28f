/**
 * The Storage Commitment SCP's report on a new association, to requesters that misbehave (StorageCommitmentScp):
 * - with its layer provided to `Scp.serve` alone (its scope closed once the server is up), a report that could not go
 *   on the request's association was forked into the closed scope: a fiber that never started, so no line said it was
 *   dropped and its place among the reports under way was never given back; after `maxOutstanding` such requests every
 *   N-ACTION was answered 0x0213 for good. Now it runs in the scope of the server (`Normalized.ServingScope`) and is
 *   sent; a report meeting a closed scope (the server stopping) is said dropped, its place freed;
 * - a report the requester's listener answers with a failure status was logged at Info as "sent"; now a Warn line says
 *   it was refused;
 * - a listener that accepts and never answers holds its place until the DIMSE timeout only, and a server stopped with
 *   a report under way stops at once, a Warn line saying the report was abandoned;
 * - stopped with many reports under way to a listener that never answers the A-ASSOCIATE-RQ, the SCP interrupted them
 *   one after another, each waiting up to 1 s for its socket to close: `netdicom qrscp` took 18 s to exit on Ctrl-C
 *   with 16 under way. Now together: about 1 s.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Logger, Option, Result, Scope } from "effect"
import * as Net from "node:net"
import { ApplicationEntity, Normalized, Scp, Scu, StorageCommitment, StorageCommitmentScp } from "@netdicom/net"
import { Status } from "@netdicom/wire"

const CT = "1.2.840.10008.5.1.4.1.1.2"
const TS = [ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN]
const timeouts = { acse: "3 seconds", connect: "3 seconds", dimse: "2 seconds", write: "3 seconds" } as const
const scpAe = Result.getOrThrow(
  ApplicationEntity.make({
    aeTitle: "COMMIT-SCP",
    contexts: [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS, scu: false, scp: true }],
    timeouts
  })
)
// the requester: its reports taken on associations it accepts, with the SCU role
const scuAe = Result.getOrThrow(
  ApplicationEntity.make({
    aeTitle: "MODALITY",
    contexts: [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS, scu: true, scp: true }],
    timeouts
  })
)

const capture = () => {
  const lines: Array<string> = []
  const layer = Logger.layer([
    Logger.make(({ logLevel, message }) => void lines.push(`${logLevel} ${[message].flat().map(String).join(" ")}`))
  ])
  return { lines, layer }
}

const options = (port: number, maxOutstanding: number): StorageCommitmentScp.Options => ({
  ae: scpAe,
  decide: (references) => Effect.succeed({ committed: references, failed: [] }),
  destinations: () => Option.some({ host: "127.0.0.1", port }),
  maxOutstanding
})

// The requester's listener for reports, answering each as `answer` does.
const listener = (answer: Normalized.NHandler) =>
  Scp.serve(scuAe, { port: 0, policy: {} }).pipe(
    Effect.provide(Normalized.layer({ [StorageCommitment.SOP_CLASS]: { nEventReport: answer } }))
  )

// One N-ACTION on an association released as soon as its response came: the report must go elsewhere.
const askAndRelease = (port: number, transactionUid: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const channel = yield* Scu.connect(scuAe, {
        host: "127.0.0.1",
        port,
        calledAeTitle: "COMMIT-SCP",
        contexts: [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS }]
      })
      return yield* Scu.nAction(channel, {
        sopClassUid: StorageCommitment.SOP_CLASS,
        sopInstanceUid: StorageCommitment.SOP_INSTANCE,
        actionTypeId: StorageCommitment.REQUEST_COMMITMENT,
        dataSet: StorageCommitment.actionInformation({
          transactionUid,
          references: [{ sopClassUid: CT, sopInstanceUid: "1.2.3.1" }]
        })
      })
    })
  )

const until = (lines: ReadonlyArray<string>, pattern: RegExp, seconds = 10) =>
  Effect.gen(function* () {
    for (let i = 0; i < seconds * 50 && !lines.some((l) => pattern.test(l)); i++) yield* Effect.sleep("20 millis")
    assert.isTrue(
      lines.some((l) => pattern.test(l)),
      `no line ${pattern}:\n${lines.join("\n")}`
    )
  })

// A listener that accepts connections and never says a word; its sockets destroyed when it ends.
const mute = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<{ readonly server: Net.Server; readonly sockets: Array<Net.Socket> }>((resolve) => {
        const sockets: Array<Net.Socket> = []
        const server = Net.createServer((socket) => {
          socket.on("error", () => {})
          sockets.push(socket)
        })
        server.listen(0, "127.0.0.1", () => resolve({ server, sockets }))
      })
  ),
  ({ server, sockets }) =>
    Effect.sync(() => {
      for (const socket of sockets) socket.destroy()
      server.close()
    })
)

describe("a Storage Commitment report to a requester that misbehaves", () => {
  it.live(
    "with its layer provided to Scp.serve alone, a report that cannot go on the request's association goes on a new one",
    () => {
      const { lines, layer } = capture()
      return Effect.gen(function* () {
        let taken = 0
        const taking = yield* listener(() => Effect.sync(() => (taken++, { status: Status.SUCCESS })))
        // the layer's own scope closes as soon as the server is up; the reports run in the server's
        const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(
          Effect.provide(StorageCommitmentScp.layer(options(taking.port, 1)))
        )
        // one place (maxOutstanding 1): each report must have given it back for the next request to be served
        for (const uid of ["2.25.31", "2.25.32", "2.25.33"]) {
          const rsp = yield* askAndRelease(server.port, uid)
          assert.strictEqual(rsp.status, Status.SUCCESS, `${uid}:\n${lines.join("\n")}`)
          yield* until(lines, new RegExp(`report ${uid.replaceAll(".", "\\.")} .*sent to MODALITY .*new association`))
        }
        assert.strictEqual(taken, 3)
        assert.isFalse(
          lines.some((l) => /dropped/.test(l)),
          lines.join("\n")
        )
      }).pipe(Effect.provide(layer))
    }
  )

  it.live(
    "a listener answering a failure status is said to refuse it; one never answering holds its place until the DIMSE timeout",
    () => {
      const { lines, layer } = capture()
      return Effect.gen(function* () {
        const refusing = yield* listener(() => Effect.succeed({ status: 0x0110 }))
        const silent = yield* listener(() => Effect.never)
        let target = refusing.port
        const scope = yield* Scope.make()
        const context = yield* Layer.build(
          StorageCommitmentScp.layer({
            ...options(0, 1),
            destinations: () => Option.some({ host: "127.0.0.1", port: target })
          })
        ).pipe(Scope.provide(scope))
        const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(context), Scope.provide(scope))
        assert.strictEqual((yield* askAndRelease(server.port, "2.25.41")).status, Status.SUCCESS)
        yield* until(lines, /WARN.*report 2\.25\.41 .*refused by MODALITY .*0x0110/i)
        target = silent.port
        assert.strictEqual((yield* askAndRelease(server.port, "2.25.42")).status, Status.SUCCESS)
        // its place is held while the listener is silent...
        yield* Effect.sleep("300 millis")
        assert.strictEqual((yield* askAndRelease(server.port, "2.25.43")).status, 0x0213)
        // ...until the DIMSE timeout (2 s)
        yield* until(lines, /report 2\.25\.42 .*not delivered.*DIMSE timeout/i)
        assert.strictEqual((yield* askAndRelease(server.port, "2.25.44")).status, Status.SUCCESS)
        // stopping with that one under way: at once, said
        yield* Effect.sleep("300 millis")
        const started = Date.now()
        yield* Scope.close(scope, Exit.void)
        assert.isBelow(Date.now() - started, 1000)
        yield* until(lines, /report 2\.25\.44 .*abandoned/)
      }).pipe(Effect.provide(layer))
    }
  )

  it.live("a server stopped with 16 reports under way to a listener that never answers stops in about a second", () => {
    const { lines, layer } = capture()
    return Effect.gen(function* () {
      const { server: silent } = yield* mute
      const port = (silent.address() as Net.AddressInfo).port
      const scope = yield* Scope.make()
      // reports that would wait 30 s for the A-ASSOCIATE-AC: only the stop ends them
      const patient = Result.getOrThrow(
        ApplicationEntity.make({ aeTitle: "COMMIT-SCP", timeouts: { ...timeouts, acse: "30 seconds" } })
      )
      const context = yield* Layer.build(StorageCommitmentScp.layer({ ...options(port, 16), ae: patient })).pipe(
        Scope.provide(scope)
      )
      const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(context), Scope.provide(scope))
      const uids = Array.from({ length: 16 }, (_, i) => `2.25.6${i}`)
      for (const uid of uids) assert.strictEqual((yield* askAndRelease(server.port, uid)).status, Status.SUCCESS)
      // all 16 waiting for the listener's A-ASSOCIATE-AC
      yield* Effect.sleep("300 millis")
      const started = Date.now()
      yield* Scope.close(scope, Exit.void)
      const took = Date.now() - started
      assert.isBelow(took, 3000, lines.join("\n"))
      for (const uid of uids) yield* until(lines, new RegExp(`report ${uid.replaceAll(".", "\\.")} .*abandoned`), 1)
    }).pipe(Effect.provide(layer))
  })
})
