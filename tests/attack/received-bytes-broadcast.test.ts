/**
 * A lent data set shared by two writers, `Stream.broadcastN(request.dataSetLent, ...)` into two `Part10.writeFile`s
 * (a file and its backup, written as the data set arrives): against `dataSetLent`'s contract (one consumer), but
 * the outcome was silent corruption. The first writer to finish a flush released the fragments and freed their
 * socket reads while the other's write of the same bytes was still in the thread pool (a use after free: 32
 * garbage bytes in an 8 MB file, reported a success), or before the other had written them at all (a backup of
 * 6.4 MB of 8, reported a success). Now a write borrows its lent fragments (none is freed under it, whoever
 * releases them), and a fragment freed before it is written fails that write instead of vanishing from the file:
 * every file left behind is whole, and a success means both are.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Result, Stream } from "effect"
import { ApplicationEntity, Part10, Scu } from "@netdicom/net"
import { Status } from "@netdicom/wire"
import { CT, EXPLICIT, startScp } from "./support.ts"

const tmp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdicom-received-broadcast-"))
afterAll(() => Fs.rmSync(tmp, { recursive: true, force: true }))

const pattern = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff)

describe("a lent data set written by two writers at once", () => {
  it.live("no file is ever left corrupt or short, and a success means both files are whole", () =>
    Effect.gen(function* () {
      const sent = pattern(8_000_000)
      const meta = (uid: string) => ({
        transferSyntaxUid: EXPLICIT,
        sopClassUid: CT,
        sopInstanceUid: uid,
        implementationClassUid: "1.2.3"
      })
      const server = yield* startScp({
        maxPduLength: 16384,
        timeouts: { dimse: "10 seconds" },
        storage: {
          store: (request) =>
            Effect.scoped(
              Effect.gen(function* () {
                const [a, b] = yield* Stream.broadcastN(request.dataSetLent, { n: 2, capacity: 64 })
                yield* Effect.all(
                  [
                    Part10.writeFile(Path.join(tmp, "a.dcm"), meta(request.sopInstanceUid), a),
                    Part10.writeFile(Path.join(tmp, "b.dcm"), meta(request.sopInstanceUid), b)
                  ],
                  { concurrency: "unbounded" }
                )
                return { status: Status.SUCCESS }
              })
            ).pipe(Effect.orElseSucceed(() => ({ status: Status.PROCESSING_FAILURE })))
        }
      })
      const ae = Result.getOrThrow(
        ApplicationEntity.make({
          aeTitle: "NETDICOM-SCU",
          timeouts: { acse: "5 seconds", connect: "5 seconds", dimse: "10 seconds", write: "5 seconds" }
        })
      )
      const channel = yield* Scu.connect(ae, {
        host: "127.0.0.1",
        port: server.port,
        calledAeTitle: "NETDICOM-SCP",
        contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT] }]
      })
      const whole = Part10.writeMeta(meta("1.2.3.1")).length + sent.length
      const outcomes: Array<string> = []
      for (let i = 0; i < 20; i++) {
        yield* Effect.sync(() => {
          Fs.rmSync(Path.join(tmp, "a.dcm"), { force: true })
          Fs.rmSync(Path.join(tmp, "b.dcm"), { force: true })
        })
        const r = yield* Scu.store(channel, {
          sopClassUid: CT,
          sopInstanceUid: "1.2.3.1",
          transferSyntax: EXPLICIT,
          dataSet: sent
        })
        // a writer interrupted mid-flush is cleaned up once its write settles
        yield* Effect.sleep("100 millis")
        for (const name of ["a.dcm", "b.dcm"]) {
          const where = Path.join(tmp, name)
          if (!Fs.existsSync(where)) {
            assert.notStrictEqual(r.status, Status.SUCCESS, `${name} missing after a success`)
            continue
          }
          const file = Fs.readFileSync(where)
          assert.strictEqual(file.length, whole, `${name}: ${file.length} bytes, ${whole} expected (run ${i})`)
          assert.isTrue(
            Buffer.from(sent).equals(file.subarray(file.length - sent.length)),
            `${name} corrupt (run ${i})`
          )
        }
        outcomes.push(r.status === Status.SUCCESS ? "both" : "refused")
      }
      assert.strictEqual(outcomes.length, 20)
    })
  )
})
