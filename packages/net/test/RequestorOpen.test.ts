/**
 * A requestor's connect with no fiber (Round 19): `Transport.openTcp` tells its outcome by callback and returns what
 * abandons it, and `Association.connect` opens its connection that way (the machine's `open`). A connect abandoned
 * while the handshake is unanswered is stopped and never told; one that connected is closed; through
 * `Association.connect`, the connect timeout still ends an unanswered handshake, and an opening interrupted in Sta4
 * (waiting for the connect) ends at once rather than at the connect timeout. All on 127.0.0.1, ports the OS picks.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import { Context, Deferred, Duration, Effect, Exit, Fiber, Scope } from "effect"
import * as Association from "../src/association/Association.ts"
import { IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as Timers from "../src/upper/Timers.ts"
import * as Transport from "../src/upper/Transport.ts"
import { VERIFICATION, testAe } from "./support.ts"

const FIVE_SECONDS = Duration.seconds(5)

// A listener that never accepts, its backlog full: the kernel drops further SYNs, so a connect to it waits (the
// kernel's own retries take ~2 minutes). Python makes one in a few lines; Node always accepts.
const python = spawnSync("python3", ["-c", "print(1)"]).status === 0
if (!python) console.warn("RequestorOpen.test.ts: python3 not found: skipping the unanswered-handshake tests")
const unanswered = Effect.gen(function* () {
  const script = [
    "import socket, sys, time",
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)",
    "port = s.getsockname()[1]",
    "fill = [socket.socket() for _ in range(4)]",
    "for f in fill: f.setblocking(False); f.connect_ex(('127.0.0.1', port))",
    "print(port, flush=True); time.sleep(30)"
  ].join("\n")
  const child = spawn("python3", ["-c", script], { stdio: ["ignore", "pipe", "inherit"] })
  yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
  return yield* Effect.callback<number>((resume) => {
    child.stdout.once("data", (b: Buffer) => resume(Effect.succeed(Number(b.toString().trim()))))
  })
})

const timersHere = Effect.map(Effect.context<never>(), (c: Context.Context<never>) => Timers.makeUnsafe(c))

const echoContexts = [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }]

describe("a requestor's connect without a fiber", () => {
  it.live("openTcp tells the connection once the socket connects; abandoning it then closes the connection", () =>
    Effect.gen(function* () {
      const server = yield* Transport.listenTcp("127.0.0.1", 0, { writeTimeout: FIVE_SECONDS })
      const accepted = yield* Deferred.make<Transport.Transport>()
      const release = yield* Deferred.make<void>()
      yield* Effect.forkScoped(
        server.run((t) => Effect.andThen(Deferred.succeed(accepted, t), Deferred.await(release)))
      )
      const timers = yield* timersHere
      const told: Array<Transport.Opened | Transport.ConnectFailed> = []
      const outcome = yield* Deferred.make<Transport.Opened | Transport.ConnectFailed>()
      const abandon = Transport.openTcp("127.0.0.1", server.port, {
        writeTimeout: FIVE_SECONDS,
        connectTimeout: FIVE_SECONDS
      })(timers, (o) => {
        told.push(o)
        Deferred.doneUnsafe(outcome, Exit.succeed(o))
      })
      // Told from the socket's event, not before the opener returned.
      assert.strictEqual(told.length, 0)
      const opened = yield* Deferred.await(outcome)
      assert.strictEqual(opened._tag, "Opened")
      if (opened._tag !== "Opened") return
      const peer = yield* Deferred.await(accepted)
      yield* opened.transport.write([new Uint8Array([1, 2, 3])])
      assert.deepStrictEqual([...(yield* peer.read)[0]!], [1, 2, 3])
      abandon()
      abandon()
      // The server's end sees the connection gone.
      const end = yield* Effect.flip(peer.read).pipe(Effect.timeout("2 seconds"))
      assert.strictEqual(end._tag, "TransportClosed")
      assert.strictEqual(told.length, 1)
      yield* Deferred.succeed(release, undefined)
    }).pipe(Effect.scoped)
  )

  it.live("openTcp to an impossible port tells a ConnectFailed before it returns", () =>
    Effect.gen(function* () {
      const timers = yield* timersHere
      const told: Array<Transport.Opened | Transport.ConnectFailed> = []
      const abandon = Transport.openTcp("127.0.0.1", 70000, {
        writeTimeout: FIVE_SECONDS,
        connectTimeout: FIVE_SECONDS
      })(timers, (o) => told.push(o))
      assert.strictEqual(told.length, 1)
      assert.strictEqual(told[0]!._tag, "ConnectFailed")
      abandon()
      assert.strictEqual(told.length, 1)
    })
  )

  it.live.skipIf(!python)("openTcp abandoned while the handshake is unanswered is never told (no timeout after)", () =>
    Effect.gen(function* () {
      const port = yield* unanswered
      const timers = yield* timersHere
      const told: Array<Transport.Opened | Transport.ConnectFailed> = []
      const abandon = Transport.openTcp("127.0.0.1", port, {
        writeTimeout: FIVE_SECONDS,
        connectTimeout: Duration.millis(300)
      })(timers, (o) => told.push(o))
      yield* Effect.sleep("100 millis")
      abandon()
      // Past the connect timeout: its timer was cancelled, and the destroyed socket's close is not told either.
      yield* Effect.sleep("600 millis")
      assert.deepStrictEqual(told, [])
    }).pipe(Effect.scoped)
  )

  it.live.skipIf(!python)("Association.connect: an unanswered handshake ends at the connect timeout", () =>
    Effect.gen(function* () {
      const port = yield* unanswered
      const client = yield* testAe({ aeTitle: "NETDICOM-SCU", timeouts: { connect: "700 millis" } })
      const started = Date.now()
      const exit = yield* Effect.exit(
        Effect.scoped(
          Association.connect(client, { host: "127.0.0.1", port, calledAeTitle: "ANY", contexts: echoContexts })
        )
      )
      const took = Date.now() - started
      assert.match(String(exit), /ConnectFailed/)
      assert.match(String(exit), /connect timed out/)
      assert.isBelow(took, 3000, `the opening took ${took} ms`)
    }).pipe(Effect.scoped)
  )

  it.live.skipIf(!python)(
    "Association.connect interrupted while connecting ends at once, not at the connect timeout",
    () =>
      Effect.gen(function* () {
        const port = yield* unanswered
        const client = yield* testAe({ aeTitle: "NETDICOM-SCU", timeouts: { connect: "20 seconds" } })
        const scope = yield* Scope.make()
        const opening = yield* Effect.forkChild(
          Scope.provide(
            Association.connect(client, { host: "127.0.0.1", port, calledAeTitle: "ANY", contexts: echoContexts }),
            scope
          )
        )
        yield* Effect.sleep("100 millis")
        const started = Date.now()
        const exit = yield* Fiber.interrupt(opening).pipe(
          Effect.andThen(Fiber.await(opening)),
          Effect.timeout("3 seconds")
        )
        assert.isTrue(Exit.hasInterrupts(exit))
        assert.isBelow(Date.now() - started, 1000)
        yield* Scope.close(scope, Exit.void)
      }).pipe(Effect.scoped)
  )
})
