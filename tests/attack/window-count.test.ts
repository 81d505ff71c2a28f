/**
 * The Asynchronous Operations Window counted at a scripted peer: a raw SCP that grants a window of W, reassembles
 * every PDV strictly (no PDV of one message inside another's), counts the requests it has received and not yet
 * answered, and answers each after a random delay. Many fibers send C-ECHOs and C-STOREs (whole, just under and over
 * 256 KiB, and streamed), some of them given up by their caller (a timeout) while waiting for a slot or for the
 * response; the peer must never see more than W outstanding, and every PDV sequence must be well formed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Option, Result, Stream } from "effect"
import * as Net from "node:net"
import { type DimseChannel, Scu } from "@netdicom/net"
import { Dimse, PduCodec } from "@netdicom/wire"
import { acFor, connectScu, scopedEchoScp, scuAe, within } from "./hotpath-support.ts"
import { CT, EXPLICIT } from "./support.ts"

interface Counting {
  readonly port: number
  readonly stats: { outstanding: number; peak: number; requests: number; errors: Array<string> }
  readonly close: () => void
}

const countingScp = (window: number, delayMs: () => number): Promise<Counting> =>
  new Promise((resolve) => {
    const stats = { outstanding: 0, peak: 0, requests: 0, errors: [] as Array<string> }
    const sockets = new Set<Net.Socket>()
    const server = Net.createServer((socket) => {
      sockets.add(socket)
      socket.on("error", () => {})
      let buffered: Buffer = Buffer.alloc(0)
      let associated = false
      // The message being received: command bytes so far, then whether its data set is still arriving.
      let command: Array<Buffer> = []
      let commandPc = -1
      let inData: { pc: number; message: Dimse.Message } | undefined
      const answer = (pc: number, m: Dimse.Message) => {
        stats.requests++
        stats.outstanding++
        stats.peak = Math.max(stats.peak, stats.outstanding)
        const rsp: Dimse.Message | undefined =
          m._tag === "CEchoRq"
            ? {
                _tag: "CEchoRsp",
                messageIdBeingRespondedTo: m.messageId,
                affectedSopClassUid: m.affectedSopClassUid,
                status: 0
              }
            : m._tag === "CStoreRq"
              ? {
                  _tag: "CStoreRsp",
                  messageIdBeingRespondedTo: m.messageId,
                  affectedSopClassUid: m.affectedSopClassUid,
                  affectedSopInstanceUid: m.affectedSopInstanceUid,
                  status: 0
                }
              : undefined
        if (rsp === undefined) return void stats.errors.push(`unexpected ${m._tag}`)
        const bytes = PduCodec.encodePDataTf([
          { presentationContextId: pc, isCommand: true, isLast: true, data: Result.getOrThrow(Dimse.encode(rsp)) }
        ])
        setTimeout(() => {
          stats.outstanding--
          if (!socket.destroyed) socket.write(bytes)
        }, delayMs())
      }
      const onPdv = (pc: number, control: number, data: Buffer) => {
        const isCommand = (control & 1) !== 0
        const isLast = (control & 2) !== 0
        if (isCommand) {
          if (inData !== undefined) return void stats.errors.push("a command PDV inside a data set")
          if (command.length > 0 && pc !== commandPc) return void stats.errors.push("command PDVs on two contexts")
          commandPc = pc
          command.push(data)
          if (!isLast) return
          const decoded = Dimse.decode(new Uint8Array(Buffer.concat(command)))
          command = []
          if (Result.isFailure(decoded)) return void stats.errors.push(`bad command: ${decoded.failure.message}`)
          const m = decoded.success
          if (m._tag === "CStoreRq") inData = { pc, message: m }
          else answer(pc, m)
          return
        }
        if (inData === undefined) return void stats.errors.push("a data PDV outside a data set")
        if (inData.pc !== pc) return void stats.errors.push("data PDVs on another context")
        if (isLast) {
          const done = inData
          inData = undefined
          answer(done.pc, done.message)
        }
      }
      socket.on("data", (chunk: Buffer) => {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
        while (buffered.length >= 6 && buffered.length >= 6 + buffered.readUInt32BE(2)) {
          const whole = buffered.subarray(0, 6 + buffered.readUInt32BE(2))
          buffered = buffered.subarray(whole.length)
          if (!associated) {
            const rq = PduCodec.decodePdu(new Uint8Array(whole))
            if (Result.isFailure(rq) || rq.success._tag !== "AAssociateRq") return void socket.destroy()
            associated = true
            socket.write(acFor(rq.success, 16384, undefined, window))
            continue
          }
          if (whole[0] === 0x05) {
            socket.write(Uint8Array.of(0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0))
            continue
          }
          if (whole[0] !== 0x04) continue
          for (let at = 6; at < whole.length;) {
            const length = whole.readUInt32BE(at)
            onPdv(whole[at + 4]!, whole[at + 5]!, whole.subarray(at + 6, at + 4 + length))
            at += 4 + length
          }
        }
      })
    })
    server.listen(0, "127.0.0.1", () => {
      resolve({
        port: (server.address() as Net.AddressInfo).port,
        stats,
        close: () => {
          for (const s of sockets) s.destroy()
          server.close()
        }
      })
    })
  })

const scoped = (window: number, delayMs: () => number) =>
  Effect.acquireRelease(
    Effect.promise(() => countingScp(window, delayMs)),
    (s) => Effect.sync(s.close)
  )

// Deterministic pseudo-random numbers, so a failure repeats.
const random = (seed: number) => () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x7fffffff
}

const sizes = [0, 2, 1000, (256 << 10) - 200, (256 << 10) + 2, 600 << 10]

const oneRequest = (channel: DimseChannel.DimseChannel, n: number, rnd: () => number) => {
  const kind = Math.floor(rnd() * 4)
  if (kind === 0) return Effect.asVoid(Scu.echo(channel))
  const size = sizes[Math.floor(rnd() * sizes.length)]!
  const bytes = new Uint8Array(size).fill(n & 0xff)
  const dataSet: DimseChannel.DataSource =
    kind === 3 ? Stream.fromIterable([bytes.subarray(0, size >> 1), bytes.subarray(size >> 1)]) : bytes
  return Effect.asVoid(
    Scu.store(channel, { sopClassUid: CT, sopInstanceUid: `1.2.3.${n}`, transferSyntax: EXPLICIT, dataSet })
  )
}

describe("the Asynchronous Operations Window, counted at the peer", () => {
  for (const window of [1, 2, 8, 0]) {
    it.live(
      `window ${window}: 120 requests from 24 fibers, a third given up by their callers, never more outstanding`,
      () =>
        Effect.gen(function* () {
          const rnd = random(window + 7)
          const scp = yield* scoped(window, () => Math.floor(rnd() * 8))
          yield* Effect.scoped(
            Effect.gen(function* () {
              const channel = yield* connectScu(
                scp.port,
                scuAe({ dimse: "10 seconds" }),
                window === 1 ? {} : { maxOperationsInvoked: window }
              )
              let n = 0
              const fiber = (f: number) =>
                Effect.gen(function* () {
                  for (let i = 0; i < 5; i++) {
                    const request = oneRequest(channel, ++n, rnd)
                    // A third are given up after a few milliseconds (waiting for a slot or for the response).
                    yield* (f % 3 === 0 ? Effect.timeout(request, Duration.millis(1 + (i % 4))) : request).pipe(
                      Effect.ignore
                    )
                  }
                })
              yield* Effect.all(
                Array.from({ length: 24 }, (_, f) => fiber(f)),
                { concurrency: "unbounded" }
              )
              // Still usable afterwards.
              yield* Scu.echo(channel)
            })
          )
          assert.deepStrictEqual(scp.stats.errors, [])
          if (window > 0) {
            assert.isAtMost(scp.stats.peak, window, `the peer saw ${scp.stats.peak} outstanding (window ${window})`)
          }
          assert.isAbove(scp.stats.requests, 60)
        }),
      60_000
    )
  }

  it.live(
    "window 1: a C-ECHO given up by its caller after it was sent keeps the slot; the next waits, then fails at the" +
      " DIMSE timeout (association aborted) instead of going out as a second outstanding request",
    () =>
      Effect.gen(function* () {
        let seen = 0
        // Never answers the first C-ECHO, answers the others at once.
        const scp = yield* scopedEchoScp((n) => {
          seen = n
          return n === 1 ? undefined : 0
        })
        const outcome = yield* Effect.scoped(
          Effect.gen(function* () {
            const channel = yield* connectScu(scp.port, scuAe({ dimse: "1 second" }))
            const first = yield* Effect.exit(Effect.timeout(Scu.echo(channel), Duration.millis(100)))
            assert.isTrue(Exit.isFailure(first))
            return yield* within(5000, Effect.exit(Scu.echo(channel)))
          })
        )
        assert.strictEqual(seen, 1, "the second C-ECHO went out while the first was outstanding")
        assert.isTrue(Option.isSome(outcome), "the second C-ECHO hung")
        if (Option.isSome(outcome)) assert.isTrue(Exit.isFailure(outcome.value))
      }),
    20_000
  )

  for (const how of ["A-ABORT", "a reset", "a close"] as const) {
    it.live(`window 1, 20 fibers waiting for a slot, the peer ends the association with ${how}: all fail at once`, () =>
      Effect.gen(function* () {
        let echoes = 0
        // Grants no window (1), answers nothing; once the first C-ECHO has come, ends the association.
        const scp = yield* scopedEchoScp(() => {
          echoes++
          return undefined
        })
        const outcome = yield* Effect.scoped(
          Effect.gen(function* () {
            const channel = yield* connectScu(scp.port, scuAe({ dimse: "30 seconds" }))
            const all = Effect.all(
              Array.from({ length: 20 }, () => Effect.exit(Scu.echo(channel))),
              { concurrency: "unbounded" }
            )
            const ending = Effect.gen(function* () {
              for (let i = 0; echoes < 1 && i < 100; i++) yield* Effect.sleep("20 millis")
              const socket = scp.sockets[0]!
              if (how === "A-ABORT") socket.write(Uint8Array.of(0x07, 0, 0, 0, 0, 4, 0, 0, 0, 0))
              else if (how === "a reset") socket.resetAndDestroy()
              else socket.end()
            })
            const [exits] = yield* Effect.all([within(3000, all), ending], { concurrency: "unbounded" })
            return exits
          })
        )
        assert.isTrue(Option.isSome(outcome), "requests still waiting 3 s after the association ended")
        if (Option.isSome(outcome)) for (const exit of outcome.value) assert.isTrue(Exit.isFailure(exit))
        assert.strictEqual(echoes, 1, "more than the window went out")
      })
    )
  }

  it.live(
    "window 2: a C-FIND given up while it waits behind a streamed C-STORE is not cancelled (never sent) and the" +
      " association goes on",
    () =>
      Effect.gen(function* () {
        const scp = yield* scoped(2, () => 0)
        yield* Effect.scoped(
          Effect.gen(function* () {
            const channel = yield* connectScu(scp.port, scuAe({ dimse: "1 second" }), { maxOperationsInvoked: 2 })
            const chunk = new Uint8Array(1 << 20)
            const storing = yield* Scu.store(channel, {
              sopClassUid: CT,
              sopInstanceUid: "1.2.3.99",
              transferSyntax: EXPLICIT,
              dataSet: Stream.fromIterable(Array.from({ length: 64 }, () => chunk))
            }).pipe(Effect.forkScoped)
            yield* Effect.sleep("5 millis")
            // Waits for the send lock behind the store; given up before its write begins.
            yield* Scu.find(channel, { model: "study", identifier: { PatientName: "*" } }).pipe(
              Stream.runDrain,
              Effect.timeout(Duration.millis(5)),
              Effect.ignore
            )
            yield* Effect.ignore(Fiber.join(storing))
            // Past the DIMSE timeout the association is still usable.
            yield* Effect.sleep("1500 millis")
            yield* Scu.echo(channel)
          })
        )
        assert.deepStrictEqual(scp.stats.errors, [])
      }),
    20_000
  )
})
