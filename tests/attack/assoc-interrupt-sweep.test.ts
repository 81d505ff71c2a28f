/**
 * Round 12's association set-up (one synchronous step, one finalizer each): interrupting `Scu.connect` at every
 * point (TCP connect pending, RQ sent, AC arriving, the tick after), and many short associations in a loop, must
 * leave no socket, timer or fiber behind and never hang. Sockets counted through /proc/self/fd, timers and
 * handles through process.getActiveResourcesInfo(), before and after.
 */
import * as Fs from "node:fs"
import * as Net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import { Scu } from "@netdicom/net"
import { connectScu, scuAe } from "./hotpath-support.ts"
import { startScp } from "./support.ts"

const realWait = (millis: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))
const sockets = () =>
  Fs.readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return Fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith("socket:")
    } catch {
      return false
    }
  }).length
const resources = () => {
  const counts: Record<string, number> = {}
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1
  return counts
}
// Settles: waits until the counts come back to `before` (or 3 s), returning the last seen.
const settled = (before: number, beforeRes: Record<string, number>) =>
  Effect.gen(function* () {
    let now = sockets()
    for (let i = 0; i < 300 && (now > before || (resources()["Timeout"] ?? 0) > (beforeRes["Timeout"] ?? 0)); i++) {
      yield* realWait(10)
      now = sockets()
    }
    return { sockets: now, resources: resources() }
  })

// No more sockets, and no more of any kind of active resource (timers among them), than before.
const assertNoGrowth = (
  before: number,
  beforeRes: Record<string, number>,
  after: { readonly sockets: number; readonly resources: Record<string, number> }
) => {
  assert.strictEqual(after.sockets, before, `sockets: ${before} before, ${after.sockets} after`)
  for (const [k, n] of Object.entries(after.resources))
    assert.isAtMost(
      n,
      beforeRes[k] ?? 0,
      `${k}: ${JSON.stringify(beforeRes)} before, ${JSON.stringify(after.resources)} after`
    )
}

describe("Scu.connect interrupted at every step", () => {
  it.live(
    "leaves no socket or timer behind, whatever tick the interrupt comes on",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp()
        // warm up once (module loading, the server's own handles)
        yield* Effect.scoped(Effect.flatMap(connectScu(server.port), Scu.echo))
        yield* realWait(50)
        const before = sockets()
        const beforeRes = resources()
        let hung = 0
        for (let step = 0; step < 60; step++) {
          const fiber = yield* Effect.forkChild(Effect.scoped(Effect.flatMap(connectScu(server.port), Scu.echo)))
          // interrupt after `step` turns of the event loop (setImmediate), spanning connect, RQ, AC, the echo
          for (let k = 0; k < step; k++)
            yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
          const started = Date.now()
          yield* Fiber.interrupt(fiber)
          if (Date.now() - started > 1500) hung++
        }
        const after = yield* settled(before, beforeRes)
        assert.strictEqual(hung, 0, "interrupts that took over 1.5 s")
        assertNoGrowth(before, beforeRes, after)
      }),
    60_000
  )

  it.live(
    "300 short associations: no growth in sockets or timers",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp()
        yield* Effect.scoped(Effect.flatMap(connectScu(server.port), Scu.echo))
        yield* realWait(50)
        const before = sockets()
        const beforeRes = resources()
        for (let i = 0; i < 300; i++) yield* Effect.scoped(Effect.flatMap(connectScu(server.port, scuAe()), Scu.echo))
        const after = yield* settled(before, beforeRes)
        assertNoGrowth(before, beforeRes, after)
      }),
    60_000
  )

  it.live(
    "refused connections and ACSE timeouts (a silent peer): no socket or timer left",
    () =>
      Effect.gen(function* () {
        // a port nothing listens on: one taken by the OS, then closed
        const closedPort = yield* Effect.promise(
          () =>
            new Promise<number>((resolve) => {
              const s = Net.createServer()
              s.listen(0, "127.0.0.1", () => {
                const port = (s.address() as Net.AddressInfo).port
                s.close(() => resolve(port))
              })
            })
        )
        // it reads (and drops) what comes, so it sees our close
        const silent = Net.createServer((socket) => socket.on("error", () => {}).resume())
        yield* Effect.promise(() => new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", () => resolve())))
        const silentPort = (silent.address() as Net.AddressInfo).port
        yield* Effect.addFinalizer(() => Effect.sync(() => silent.close()))
        yield* realWait(50)
        const before = sockets()
        const beforeRes = resources()
        for (let i = 0; i < 100; i++) {
          const exit = yield* Effect.exit(Effect.scoped(connectScu(closedPort)))
          assert.isTrue(Exit.isFailure(exit))
        }
        const fibers = []
        for (let i = 0; i < 20; i++)
          fibers.push(
            yield* Effect.forkChild(Effect.exit(Effect.scoped(connectScu(silentPort, scuAe({ acse: "200 millis" })))))
          )
        for (const f of fibers) {
          const exit = yield* Fiber.join(f)
          assert.include(String(exit), "AcseTimeout")
        }
        const after = yield* settled(before, beforeRes)
        assertNoGrowth(before, beforeRes, after)
      }),
    60_000
  )
})
