/**
 * A large file streamed through the pool to a peer that stops reading: the write deadline must still fire (writes
 * are corked until the end of the tick now), the C-STORE fail with a typed error, and the pool buffers the queued
 * writes carried come back once the connection is destroyed (Node calls back for them then). The next send of the
 * same file, to a peer that reads, arrives whole.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { createHash, randomBytes } from "node:crypto"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Stream } from "effect"
import { Part10, Scu } from "@netdicom/net"
import { Status as DimseStatus } from "@netdicom/wire"
import * as LentBytes from "../../packages/net/src/upper/LentBytes.ts"
import { connectScu, scopedRawScp, scuAe, waitFor } from "./hotpath-support.ts"
import { CT, EXPLICIT, startScp } from "./support.ts"

// The file's bytes as they are (random, not a data set): past `Scu.storeFile`'s structural check, through the same
// pooled read (`Part10.loadDataSet`) and send.
const storeUnchecked = (channel: Parameters<typeof Scu.storeLoaded>[0], where: string) =>
  Effect.flatMap(Scu.describeFile(where), (meta) =>
    Effect.flatMap(Part10.loadDataSet(where, meta), (loaded) => Scu.storeLoaded(channel, meta, loaded))
  )

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-lent-stalled-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

describe("pooled reads and a peer that stops reading", () => {
  it.live(
    "write deadline fires, buffers come back, the next send is whole",
    () =>
      Effect.gen(function* () {
        const body = new Uint8Array(randomBytes(12 << 20))
        const meta = Part10.writeMeta({
          transferSyntaxUid: EXPLICIT,
          sopClassUid: CT,
          sopInstanceUid: "1.2.826.0.77",
          implementationClassUid: "1.2.3.4"
        })
        const where = path.join(tmp, "big.dcm")
        fs.writeFileSync(where, Buffer.concat([meta, body]))
        const before = LentBytes.outstandingLeases()
        const stalled = yield* scopedRawScp({ stopReading: true })
        const started = Date.now()
        const exit = yield* Effect.exit(
          Effect.scoped(
            Effect.flatMap(connectScu(stalled.port, scuAe({ write: "1 second", dimse: "20 seconds" })), (channel) =>
              storeUnchecked(channel, where)
            )
          ).pipe(Effect.timeout("15 seconds"))
        )
        const waited = Date.now() - started
        assert.isTrue(Exit.isFailure(exit), "the C-STORE fails")
        if (Exit.isFailure(exit)) assert.notInclude(String(exit.cause), "TimeoutError", "the write deadline, not ours")
        assert.isBelow(waited, 8000, `failed after ${waited} ms`)
        const leases = yield* waitFor(Effect.sync(LentBytes.outstandingLeases), (n) => n === before, 3000)
        assert.strictEqual(leases, before, "every lease the stalled send took was settled")
        let received = ""
        const server = yield* startScp({
          storage: {
            store: (request) =>
              Effect.map(Stream.runCollect(request.dataSet).pipe(Effect.orDie), (chunks) => {
                received = sha(Buffer.concat([...chunks]))
                return { status: DimseStatus.SUCCESS }
              })
          }
        })
        const ok = yield* Effect.scoped(Effect.flatMap(connectScu(server.port), (c) => storeUnchecked(c, where)))
        assert.strictEqual(ok.status, DimseStatus.SUCCESS)
        assert.strictEqual(received, sha(body))
      }),
    30_000
  )
})
