import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Logger, References, Scope } from "effect"
import * as Association from "../src/association/Association.ts"
import * as Server from "../src/association/Server.ts"
import { IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import { CT, VERIFICATION, testAe } from "./support.ts"

const scp = testAe({
  aeTitle: "NETDICOM-SCP",
  contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }]
})
const scu = testAe({ aeTitle: "NETDICOM-SCU" })

describe("Association over TCP", () => {
  it.live("connects, negotiates and releases when the scope succeeds", () =>
    Effect.gen(function* () {
      const ae = yield* scp
      const ended = yield* Deferred.make<Association.Ending>()
      const server = yield* Server.serve(ae, {
        port: 0,
        handler: (a) => Effect.flatMap(a.ended, (e) => Deferred.succeed(ended, e))
      })
      const client = yield* scu
      const negotiated = yield* Effect.scoped(
        Effect.map(
          Association.connect(client, {
            host: "127.0.0.1",
            port: server.port,
            calledAeTitle: "NETDICOM-SCP",
            contexts: [
              { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] },
              { abstractSyntax: CT, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }
            ]
          }),
          (a) => a.negotiated
        )
      )
      assert.strictEqual(negotiated.accepted.length, 1)
      assert.strictEqual(negotiated.accepted[0]!.abstractSyntax, VERIFICATION)
      assert.deepStrictEqual(negotiated.rejected, [{ id: 3, abstractSyntax: CT, result: 3 }])
      assert.strictEqual(negotiated.peerMaxPduLength, ae.maxPduLength)
      assert.deepStrictEqual(yield* Deferred.await(ended), { _tag: "Released" })
    })
  )

  it.live("whenEnded: observers are called once on the end (not those stopped), and at once after it", () =>
    Effect.gen(function* () {
      const ae = yield* scp
      const seen: Array<string> = []
      const done = yield* Deferred.make<void>()
      const server = yield* Server.serve(ae, {
        port: 0,
        handler: (a) =>
          Effect.sync(() => {
            a.whenEnded((e) => seen.push(`first ${e._tag}`))
            const stop = a.whenEnded((e) => seen.push(`stopped ${e._tag}`))
            stop()
            a.whenEnded((e) => {
              seen.push(`second ${e._tag}`)
              // Ended now: an observer added from here is called at once.
              a.whenEnded((again) => seen.push(`late ${again._tag}`))
              Deferred.doneUnsafe(done, Effect.void)
            })
          })
      })
      yield* Effect.scoped(
        Association.connect(yield* scu, {
          host: "127.0.0.1",
          port: server.port,
          calledAeTitle: "NETDICOM-SCP",
          contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }]
        })
      )
      yield* Deferred.await(done)
      assert.deepStrictEqual(seen, ["first Released", "second Released", "late Released"])
    })
  )

  it.live("aborts when the scope fails", () =>
    Effect.gen(function* () {
      const ae = yield* scp
      const ended = yield* Deferred.make<Association.Ending>()
      const server = yield* Server.serve(ae, {
        port: 0,
        handler: (a) => Effect.flatMap(a.ended, (e) => Deferred.succeed(ended, e))
      })
      const client = yield* scu
      const scope = yield* Scope.make()
      yield* Scope.provide(
        Association.connect(client, {
          host: "127.0.0.1",
          port: server.port,
          calledAeTitle: "NETDICOM-SCP",
          contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }]
        }),
        scope
      )
      yield* Scope.close(scope, Exit.fail("boom"))
      const e = yield* Deferred.await(ended)
      assert.strictEqual(e._tag, "Aborted")
      if (e._tag === "Aborted") assert.deepStrictEqual([e.error.by, e.error.source], ["peer", 0])
    })
  )

  it.live("a wrong called AE title is rejected with source 1 reason 7", () =>
    Effect.gen(function* () {
      const server = yield* Server.serve(yield* scp, { port: 0, handler: () => Effect.void })
      const exit = yield* Effect.exit(
        Effect.scoped(
          Association.connect(yield* scu, {
            host: "127.0.0.1",
            port: server.port,
            calledAeTitle: "SOMEONE-ELSE",
            contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }]
          })
        )
      )
      assert.isTrue(Exit.isFailure(exit))
      const text = String(exit)
      assert.match(text, /AssociationRejected/)
      assert.match(text, /called AE title not recognized|reason: 7/)
    })
  )

  // The association's resources are held in a scope of its own, closed at once when the opening fails (Round 12: one
  // finalizer on the caller's scope, no child scope): interrupted while the A-ASSOCIATE-AC is awaited, the A-ABORT is
  // sent and the connection closed within about a second, while the caller's scope is still open (ARTIM, 10 s here,
  // would close it much later).
  it.live("an opening that fails (interrupted) closes the connection at once, not with the caller's scope", () =>
    Effect.gen(function* () {
      const connected = yield* Deferred.make<void>()
      const closed = yield* Deferred.make<void>()
      const server = Net.createServer((socket) => {
        socket.on("error", () => {})
        socket.on("close", () => Deferred.doneUnsafe(closed, Exit.void))
        socket.resume()
        Deferred.doneUnsafe(connected, Exit.void)
      })
      yield* Effect.acquireRelease(
        Effect.callback<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.sync(() => server.close())
      )
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      const client = yield* testAe({ aeTitle: "NETDICOM-SCU", timeouts: { acse: "10 seconds" } })
      const scope = yield* Scope.make()
      const opening = yield* Effect.forkChild(
        Scope.provide(
          Association.connect(client, {
            host: "127.0.0.1",
            port,
            calledAeTitle: "SILENT",
            contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }]
          }),
          scope
        )
      )
      yield* Deferred.await(connected)
      yield* Effect.sleep("50 millis")
      yield* Fiber.interrupt(opening)
      yield* Deferred.await(closed).pipe(Effect.timeout("4 seconds"))
      yield* Scope.close(scope, Exit.void)
    })
  )

  // The server's Info lines are built only when Info is enabled (its level read once, Round 12): at Info, an
  // association's accept and release are logged with its span and annotations; at Warn, neither.
  it.live("the server logs an association's accept and release at Info, in its span, with its annotations", () =>
    Effect.gen(function* () {
      for (const level of ["Info", "Warn"] as const) {
        const lines: Array<string> = []
        const logger = Logger.make(({ logLevel, message, fiber }) => {
          const spans = fiber.getRef(References.CurrentLogSpans).map(([label]) => label)
          const ann = fiber.getRef(References.CurrentLogAnnotations)
          lines.push(`${logLevel} [${spans.join(">")}] ${[message].flat().join(" ")} ${JSON.stringify(ann)}`)
        })
        const ended = yield* Deferred.make<void>()
        yield* Effect.scoped(
          Effect.gen(function* () {
            const server = yield* Server.serve(yield* scp, {
              port: 0,
              handler: (a) => Effect.andThen(a.ended, Deferred.succeed(ended, undefined))
            })
            yield* Effect.scoped(
              Association.connect(yield* scu, {
                host: "127.0.0.1",
                port: server.port,
                calledAeTitle: "NETDICOM-SCP",
                contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }]
              }).pipe(Effect.provideService(References.MinimumLogLevel, "Warn"))
            )
            yield* Deferred.await(ended)
            for (let i = 0; i < 100 && (yield* server.active) > 0; i++) yield* Effect.sleep("10 millis")
          }).pipe(Effect.provide(Logger.layer([logger])), Effect.provideService(References.MinimumLogLevel, level))
        )
        const accepted = lines.find((l) => l.includes("association accepted from NETDICOM-SCU: 1 context(s)"))
        const released = lines.find((l) => l.includes("association released"))
        if (level === "Warn") {
          assert.isUndefined(accepted, lines.join("\n"))
          assert.isUndefined(released, lines.join("\n"))
          continue
        }
        assert.isDefined(accepted, lines.join("\n"))
        assert.isDefined(released, lines.join("\n"))
        for (const line of [accepted!, released!]) {
          assert.match(line, /^Info \[association\] /)
          assert.match(line, /"peer":"127\.0\.0\.1:\d+","associationNumber":1/)
          // the span is "association" (its time), the annotation "associationNumber": no key named like the span
          assert.notMatch(line, /"association":/)
        }
      }
    })
  )

  it.live("connection refused is a typed ConnectFailed", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(
        Effect.scoped(
          Association.connect(yield* scu, {
            host: "127.0.0.1",
            port: 1,
            calledAeTitle: "ANY",
            contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }]
          })
        )
      )
      assert.match(String(exit), /ConnectFailed/)
    }).pipe(Effect.timeout(Duration.seconds(10)))
  )
})
