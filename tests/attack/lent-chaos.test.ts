/**
 * Pooled file reads under chaos: large files (> 1 MiB, so streamed through the 256 KiB pool buffers that are refilled
 * once the socket has taken them) sent by several associations at once, one of them repeatedly interrupted half way
 * (a timeout on the C-STORE: our side aborts with writes still queued in Node), to an SCP whose handler reads slowly.
 * Every instance the SCP takes whole must be byte for byte the file's data set: a pool buffer refilled while the
 * socket, a retry or the aborted association still held a view of it would show up as a different hash. (Sizes
 * are even: an odd data set is sent with a trailing NUL.)
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { createHash, randomBytes } from "node:crypto"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Stream } from "effect"
import { Part10, Scu } from "@netdicom/net"
import { Status as DimseStatus } from "@netdicom/wire"
import { connectScu, scuAe } from "./hotpath-support.ts"
import { CT, EXPLICIT, startScp } from "./support.ts"

// The file's bytes as they are (random, not a data set): past `Scu.storeFile`'s structural check, through the same
// pooled read (`Part10.loadDataSet`) and send.
const storeUnchecked = (channel: Parameters<typeof Scu.storeLoaded>[0], where: string) =>
  Effect.flatMap(Scu.describeFile(where), (meta) =>
    Effect.flatMap(Part10.loadDataSet(where, meta), (loaded) => Scu.storeLoaded(channel, meta, loaded))
  )

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-lent-chaos-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

const makeFile = (uid: string, size: number) => {
  const body = new Uint8Array(randomBytes(size))
  const meta = Part10.writeMeta({
    transferSyntaxUid: EXPLICIT,
    sopClassUid: CT,
    sopInstanceUid: uid,
    implementationClassUid: "1.2.3.4"
  })
  const where = path.join(tmp, `${uid}.dcm`)
  fs.writeFileSync(where, Buffer.concat([meta, body]))
  return { uid, where, hash: sha(body) }
}

describe("pooled file reads under concurrent sends and aborts", () => {
  for (const maxPduLength of [16384, 65536 + 6]) {
    it.live(
      `3 associations, one interrupted half way again and again: what arrives whole is the file (max PDU ${maxPduLength})`,
      () =>
        Effect.gen(function* () {
          const received = new Map<string, Array<string>>()
          let slowTurn = 0
          const server = yield* startScp({
            maxPduLength,
            timeouts: { dimse: "20 seconds", write: "20 seconds" },
            storage: {
              store: (request) =>
                Effect.gen(function* () {
                  // Every other instance: the handler waits, so the SCU's writes queue up in Node meanwhile.
                  if (slowTurn++ % 2 === 0) yield* Effect.sleep("150 millis")
                  const chunks = yield* Stream.runCollect(request.dataSet).pipe(Effect.orDie)
                  const list = received.get(request.sopInstanceUid) ?? []
                  list.push(sha(Buffer.concat([...chunks])))
                  received.set(request.sopInstanceUid, list)
                  return { status: DimseStatus.SUCCESS }
                })
            }
          })
          const sizes = [Part10.WHOLE_READ_LIMIT + 2, 3 * Part10.STREAM_CHUNK + Part10.WHOLE_READ_LIMIT + 4100, 5 << 20]
          const files = [0, 1, 2].flatMap((a) =>
            sizes.map((size, i) => makeFile(`1.2.826.0.1.${maxPduLength}.${a}.${i}`, size + a * 8))
          )
          const victims = sizes.map((size, i) => makeFile(`1.2.826.0.9.${maxPduLength}.${i}`, size + 4))
          const ae = scuAe({ dimse: "20 seconds", write: "20 seconds" })
          const steady = (a: number) =>
            Effect.scoped(
              Effect.gen(function* () {
                const channel = yield* connectScu(server.port, ae)
                for (let round = 0; round < 2; round++) {
                  for (const file of files.slice(a * 3, a * 3 + 3)) {
                    const r = yield* storeUnchecked(channel, file.where)
                    assert.strictEqual(r.status, DimseStatus.SUCCESS)
                  }
                }
              })
            )
          // Interrupted half way: a new association each time, as an abort ends the last one.
          const interrupted = Effect.gen(function* () {
            for (let round = 0; round < 6; round++) {
              const victim = victims[round % victims.length]!
              yield* Effect.exit(
                Effect.scoped(
                  Effect.flatMap(connectScu(server.port, ae), (channel) => storeUnchecked(channel, victim.where))
                ).pipe(Effect.timeout(Duration.millis(20 + 15 * round)))
              )
            }
          })
          const exit = yield* Effect.exit(
            Effect.all([steady(0), steady(1), interrupted, steady(2)], { concurrency: "unbounded" }).pipe(
              Effect.timeout("100 seconds")
            )
          )
          assert.isTrue(Exit.isSuccess(exit), `the steady associations finished: ${String(exit)}`)
          for (const file of files) {
            const hashes = received.get(file.uid) ?? []
            assert.strictEqual(hashes.length, 2, `${file.uid} stored twice`)
            for (const h of hashes) assert.strictEqual(h, file.hash, `${file.uid} arrived as sent`)
          }
          for (const victim of victims) {
            for (const h of received.get(victim.uid) ?? []) assert.strictEqual(h, victim.hash, `${victim.uid} intact`)
          }
        }),
      120_000
    )
  }
})
