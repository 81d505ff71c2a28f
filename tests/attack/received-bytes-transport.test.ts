/**
 * `Association.accept` takes any `Transport` (a public interface: TLS, a capture, a replay...). The reader's
 * `ReceivedBytes` tracker freed (detached) every read it believed consumed, judging ownership only by the chunk
 * being the whole of its buffer: a transport that keeps what it hands out (here one recording every read, as an
 * audit log or a capture would) found its copy of the bytes emptied once a handler wrote its data set with
 * `Part10.writeFile(request.dataSetLent)`. The tracker must free only reads the transport gives away.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { Association, ApplicationEntity, DimseChannel, Part10, Scu, StoreHandler, Transport } from "@netdicom/net"
import { Status } from "@netdicom/wire"
import { CT, EXPLICIT } from "./support.ts"

const tmp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdicom-received-transport-"))
afterAll(() => Fs.rmSync(tmp, { recursive: true, force: true }))

const pattern = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 13 + 5) & 0xff)

describe("ReceivedBytes and a transport that keeps its reads", () => {
  it.live("a recording transport's reads stay whole while a handler writes `dataSetLent`", () =>
    Effect.gen(function* () {
      const ae = Result.getOrThrow(
        ApplicationEntity.make({
          aeTitle: "NETDICOM-SCP",
          maxPduLength: 16384,
          contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT] }],
          timeouts: { acse: "5 seconds", connect: "5 seconds", dimse: "10 seconds", write: "5 seconds" }
        })
      )
      // Every read as handed to the upper layer, with its length then.
      const recorded: Array<{ readonly chunk: Uint8Array; readonly length: number }> = []
      const recording = (t: Transport.Transport): Transport.Transport => ({
        ...t,
        read: Effect.tap(t.read, (chunks) =>
          Effect.sync(() => {
            for (const chunk of chunks) recorded.push({ chunk, length: chunk.length })
          })
        )
      })
      const handler = StoreHandler.storeRequestHandler((request) =>
        Effect.match(
          Part10.writeFile(
            Path.join(tmp, `${request.sopInstanceUid}.dcm`),
            {
              transferSyntaxUid: EXPLICIT,
              sopClassUid: CT,
              sopInstanceUid: request.sopInstanceUid,
              implementationClassUid: "1.2.3"
            },
            request.dataSetLent
          ),
          { onSuccess: () => ({ status: Status.SUCCESS }), onFailure: () => ({ status: 0xa700 }) }
        )
      )
      const tcp = yield* Transport.listenTcp("127.0.0.1", 0, { writeTimeout: ae.timeouts.write })
      yield* Effect.forkScoped(
        tcp.run((transport) =>
          Effect.scoped(
            Effect.gen(function* () {
              const outcome = yield* Association.accept(
                ae,
                recording(transport),
                { calledAeTitles: [ae.aeTitle] },
                () => true
              )
              if (outcome._tag !== "Established") return
              yield* DimseChannel.make(outcome.association, handler)
              yield* outcome.association.ended
            })
          )
        )
      )
      const scuAe = Result.getOrThrow(
        ApplicationEntity.make({
          aeTitle: "NETDICOM-SCU",
          timeouts: { acse: "5 seconds", connect: "5 seconds", dimse: "10 seconds", write: "5 seconds" }
        })
      )
      const channel = yield* Scu.connect(scuAe, {
        host: "127.0.0.1",
        port: tcp.port,
        calledAeTitle: "NETDICOM-SCP",
        contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT] }]
      })
      const r = yield* Scu.store(channel, {
        sopClassUid: CT,
        sopInstanceUid: "1.2.3.1",
        transferSyntax: EXPLICIT,
        dataSet: pattern(3_000_000)
      })
      assert.strictEqual(r.status, Status.SUCCESS)
      const file = Fs.readFileSync(Path.join(tmp, "1.2.3.1.dcm"))
      assert.deepStrictEqual(new Uint8Array(file.subarray(file.length - 3_000_000)), pattern(3_000_000))
      const emptied = recorded.filter((r) => r.chunk.length !== r.length).length
      // nothing is freed behind a transport that keeps its reads: a freed read would read as empty here (the count
      // of freed reads is the process's, and the SCU's own reads of its responses are freed, as they should be)
      assert.strictEqual(emptied, 0, `${emptied} of ${recorded.length} recorded reads emptied`)
    })
  )
})
