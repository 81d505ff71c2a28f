/**
 * The send path's fast lane under load, netdicom to netdicom: many fibers storing at once on one association, data
 * sets in one write (under 256 KiB), just over it, and streamed in odd-sized chunks, with windows 1, 8 and 0
 * (unlimited), debug logging off and on (on, every message takes the locked path). Every instance must arrive whole
 * (SHA-256 of the bytes the SCP's handler read against what was sent) and be answered Success.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, References, Result, Stream } from "effect"
import { createHash } from "node:crypto"
import { ApplicationEntity, type DimseChannel, Scp, Scu } from "@netdicom/net"
import { Status } from "@netdicom/wire"

const CT = "1.2.840.10008.5.1.4.1.1.2"
const EXPLICIT = "1.2.840.10008.1.2.1"

const ae = (aeTitle: string, window: number, maxPduLength: number) =>
  Result.getOrThrow(
    ApplicationEntity.make({
      aeTitle,
      maxPduLength,
      maxOperationsInvoked: window,
      maxOperationsPerformed: window,
      contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT] }],
      timeouts: { acse: "5 seconds", connect: "5 seconds", dimse: "20 seconds", write: "10 seconds" }
    })
  )

const sha = (chunks: ReadonlyArray<Uint8Array>) => {
  const h = createHash("sha256")
  for (const c of chunks) h.update(c)
  return h.digest("hex")
}

const random = (seed: number) => () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x7fffffff
}

const SIZES = [2, 1000, 40_000, (256 << 10) - 16, (256 << 10) + 16, 700_000]

describe("the send path under load, netdicom to netdicom", () => {
  for (const debug of [false, true]) {
    for (const window of [1, 8, 0]) {
      it.live(
        `window ${window}, debug ${debug ? "on" : "off"}: 48 stores from 12 fibers arrive whole`,
        () =>
          Effect.gen(function* () {
            const received = new Map<string, string>()
            const server = yield* Scp.serve(ae("NETDICOM-SCP", window, 16384), { port: 0 }).pipe(
              Effect.provide(
                Layer.succeed(Scp.StorageService)({
                  store: (request) =>
                    Effect.gen(function* () {
                      const chunks: Array<Uint8Array> = []
                      yield* Stream.runForEach(request.dataSet, (c) => Effect.sync(() => chunks.push(c)))
                      received.set(request.sopInstanceUid, sha(chunks))
                      return { status: Status.SUCCESS }
                    }).pipe(Effect.orDie)
                })
              )
            )
            const rnd = random(window * 2 + (debug ? 1 : 0) + 3)
            const sent = new Map<string, string>()
            yield* Effect.scoped(
              Effect.gen(function* () {
                const channel = yield* Scu.connect(ae("NETDICOM-SCU", window, 16384), {
                  host: "127.0.0.1",
                  port: server.port,
                  calledAeTitle: "NETDICOM-SCP",
                  contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT] }]
                })
                let n = 0
                const one = () => {
                  const uid = `1.2.3.4.${++n}`
                  const size = SIZES[Math.floor(rnd() * SIZES.length)]!
                  const bytes = Uint8Array.from({ length: size }, (_, i) => (i * 31 + n) & 0xff)
                  sent.set(uid, sha([bytes]))
                  const streamed = rnd() < 0.3
                  const cut = 1 + Math.floor(rnd() * Math.max(1, size - 1))
                  const dataSet: DimseChannel.DataSource = streamed
                    ? Stream.fromIterable([bytes.slice(0, cut), bytes.slice(cut)])
                    : bytes
                  return Scu.store(channel, { sopClassUid: CT, sopInstanceUid: uid, transferSyntax: EXPLICIT, dataSet })
                }
                const results = yield* Effect.all(
                  Array.from({ length: 12 }, () =>
                    Effect.gen(function* () {
                      const statuses: Array<number> = []
                      for (let i = 0; i < 4; i++) statuses.push((yield* one()).status)
                      return statuses
                    })
                  ),
                  { concurrency: "unbounded" }
                )
                assert.deepStrictEqual(
                  results.flat().filter((s) => s !== 0),
                  []
                )
              })
            ).pipe(
              debug
                ? (e) =>
                    e.pipe(
                      Effect.provide(Logger.layer([Logger.make(() => {})])),
                      Effect.provideService(References.MinimumLogLevel, "Debug")
                    )
                : (e) => e
            )
            assert.strictEqual(received.size, 48)
            for (const [uid, hash] of sent) assert.strictEqual(received.get(uid), hash, uid)
          }).pipe(
            debug
              ? (e) =>
                  e.pipe(
                    Effect.provide(Logger.layer([Logger.make(() => {})])),
                    Effect.provideService(References.MinimumLogLevel, "Debug")
                  )
              : (e) => e
          ),
        60_000
      )
    }
  }
})
