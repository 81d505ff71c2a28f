/**
 * `Part10.writeFile` takes a data set as a Stream or as an array of fragments the caller holds. It released
 * (`ReceivedBytes.release`) every piece it wrote, whichever it was given: a handler that collected
 * `dataSetLent` and wrote the array twice (a file and its backup) got its socket reads freed by the first write,
 * and the second file came out holding the meta header alone, reported as a success. An array stays the caller's:
 * writing it frees nothing.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Result, Stream } from "effect"
import { ApplicationEntity, Part10, Scu } from "@netdicom/net"
import { Status } from "@netdicom/wire"
import { CT, EXPLICIT, startScp } from "./support.ts"

const tmp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdicom-received-array-"))
afterAll(() => Fs.rmSync(tmp, { recursive: true, force: true }))

const pattern = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff)

const tail = (file: string, n: number): Uint8Array => {
  const bytes = Fs.readFileSync(file)
  return new Uint8Array(bytes.subarray(Math.max(0, bytes.length - n)))
}

describe("Part10.writeFile given an array", () => {
  it.live("an array of lent fragments written twice gives two whole files, and the array stays intact", () =>
    Effect.gen(function* () {
      const sent = pattern(3_000_000)
      const kept: Array<ReadonlyArray<Uint8Array>> = []
      const server = yield* startScp({
        maxPduLength: 16384,
        timeouts: { dimse: "10 seconds" },
        storage: {
          store: (request) =>
            Effect.gen(function* () {
              const chunks = yield* Stream.runCollect(request.dataSetLent)
              kept.push(chunks)
              const meta = {
                transferSyntaxUid: EXPLICIT,
                sopClassUid: CT,
                sopInstanceUid: request.sopInstanceUid,
                implementationClassUid: "1.2.3"
              }
              yield* Part10.writeFile(Path.join(tmp, "primary.dcm"), meta, chunks)
              yield* Part10.writeFile(Path.join(tmp, "backup.dcm"), meta, chunks)
              return { status: Status.SUCCESS }
            }).pipe(Effect.orElseSucceed(() => ({ status: 0xa700 })))
        }
      })
      const scuAe = Result.getOrThrow(
        ApplicationEntity.make({
          aeTitle: "NETDICOM-SCU",
          timeouts: { acse: "5 seconds", connect: "5 seconds", dimse: "10 seconds", write: "5 seconds" }
        })
      )
      const channel = yield* Scu.connect(scuAe, {
        host: "127.0.0.1",
        port: server.port,
        calledAeTitle: "NETDICOM-SCP",
        contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT] }]
      })
      const r = yield* Scu.store(channel, {
        sopClassUid: CT,
        sopInstanceUid: "1.2.3.1",
        transferSyntax: EXPLICIT,
        dataSet: sent
      })
      assert.strictEqual(r.status, Status.SUCCESS)
      assert.deepStrictEqual(tail(Path.join(tmp, "primary.dcm"), sent.length), sent)
      assert.deepStrictEqual(tail(Path.join(tmp, "backup.dcm"), sent.length), sent, "the backup is whole")
      assert.strictEqual(
        kept[0]!.reduce((n, c) => n + c.length, 0),
        sent.length,
        "the handler's array still holds every byte"
      )
    })
  )
})
