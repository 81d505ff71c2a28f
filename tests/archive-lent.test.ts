/**
 * The archive's storage SCP (`ScpServices`, behind `netdicom storescp` and `qrscp`) reads a C-STORE's data set lent
 * (`dataSetLent`) and gives each fragment back once written and walked: the socket reads are freed as the instance
 * is written (`ReceivedBytes.freed` rises), and no fragment is given back while the archive still needs it (the
 * stored file is byte for byte what was sent: a header spanning many fragments, a deflated data set, a refused
 * store, a store cut short by an abort, concurrent stores, 1-byte fragments).
 */
import { randomBytes } from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Zlib from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, Option, Result } from "effect"
import { ApplicationEntity, ReceivedBytes, Scp, Scu } from "@netdicom/net"
import { Dimse, PduCodec } from "@netdicom/wire"
import { Archive, ArchiveIndex, ScpServices } from "@netdicom/archive"
import * as Part10 from "../packages/archive/src/Part10.ts"
import { part10 } from "../packages/archive/test/fixtures.ts"
import { associated, associateRq, CT, DEFLATED, EXPLICIT } from "./attack/support.ts"

const PIXELS = 3_000_000

// The data set (no meta) of an instance with a 200 KB header (many 16 KiB PDVs) and 3 MB of random pixel data.
const dataSetOf = (sop: string, study = "1.2.7"): Uint8Array => {
  const file = part10(
    {
      SOPClassUID: CT,
      SOPInstanceUID: sop,
      StudyInstanceUID: study,
      SeriesInstanceUID: `${study}.1`,
      PatientID: "P",
      PatientName: "LENT^TEST",
      Modality: "CT",
      ImageComments: "c".repeat(200_000)
    },
    EXPLICIT,
    PIXELS
  )
  const out = file.slice(Part10.dataSetOffset(file)!)
  out.set(randomBytes(PIXELS), out.length - PIXELS)
  return out
}

const archiveScp = Effect.gen(function* () {
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "netdicom-archive-lent-"))),
    (d) => Effect.promise(() => Fs.rm(d, { recursive: true, force: true }))
  )
  const ae = Result.getOrThrow(
    ApplicationEntity.make({
      aeTitle: "NETDICOM-SCP",
      maxPduLength: 16384,
      contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT, DEFLATED] }],
      timeouts: { acse: "2 seconds", connect: "2 seconds", dimse: "10 seconds", write: "3 seconds" }
    })
  )
  const archiveLayer = Layer.fresh(
    Archive.Archive.layerFrom({ root: Path.join(dir, "store"), index: { filename: Path.join(dir, "index.sqlite") } })
  )
  const context = yield* Layer.build(ScpServices.storageLayer().pipe(Layer.provideMerge(archiveLayer)))
  const index = yield* Effect.provide(Effect.service(ArchiveIndex.ArchiveIndex), context)
  const server = yield* Scp.serve(ae, { port: 0 }).pipe(Effect.provide(context))
  return { port: server.port, index }
})

const connect = (port: number, transferSyntax: string = EXPLICIT) =>
  Scu.connect(Result.getOrThrow(ApplicationEntity.make({ aeTitle: "LENT-SCU" })), {
    host: "127.0.0.1",
    port,
    calledAeTitle: "NETDICOM-SCP",
    contexts: [{ abstractSyntax: CT, transferSyntaxes: [transferSyntax] }]
  })

// The data set of the file stored for `sop`, byte for byte.
const storedDataSet = (index: ArchiveIndex.ArchiveIndex["Service"], sop: string) =>
  Effect.gen(function* () {
    const item = yield* index.get(sop)
    assert.isTrue(Option.isSome(item), `${sop} is indexed`)
    const file = new Uint8Array(yield* Effect.promise(() => Fs.readFile(Option.getOrThrow(item).filePath)))
    return file.subarray(Part10.dataSetOffset(file)!)
  })

const freedSince = (before: number) => ReceivedBytes.freed() - before

describe("archive storage SCP: fragments lent, given back once written", () => {
  it.live("a large instance whose header spans many fragments is stored intact while its reads are freed", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* archiveScp
        const channel = yield* connect(scp.port)
        const dataSet = dataSetOf("1.2.7.1.1")
        const before = ReceivedBytes.freed()
        const r = yield* Scu.store(channel, {
          sopClassUid: CT,
          sopInstanceUid: "1.2.7.1.1",
          transferSyntax: EXPLICIT,
          dataSet
        })
        assert.strictEqual(r.status, 0)
        assert.isAbove(freedSince(before), 10, "3 MB arrive in tens of reads, freed as they are written")
        assert.deepStrictEqual(yield* storedDataSet(scp.index, "1.2.7.1.1"), dataSet)
      })
    )
  )

  it.live("an instance received again replaces its copy and says so at info", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const capture = Logger.make(({ message }) => {
        lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
      })
      yield* Effect.scoped(
        Effect.gen(function* () {
          const scp = yield* archiveScp
          const channel = yield* connect(scp.port)
          const dataSet = dataSetOf("1.2.7.9.1")
          const request = { sopClassUid: CT, sopInstanceUid: "1.2.7.9.1", transferSyntax: EXPLICIT, dataSet }
          assert.strictEqual((yield* Scu.store(channel, request)).status, 0)
          assert.isFalse(
            lines.some((l) => l.includes("received again")),
            lines.join("\n")
          )
          assert.strictEqual((yield* Scu.store(channel, request)).status, 0)
          assert.deepStrictEqual(yield* storedDataSet(scp.index, "1.2.7.9.1"), dataSet)
        })
      ).pipe(Effect.provide(Logger.layer([capture])))
      assert.isTrue(
        lines.some((l) => l === "1.2.7.9.1 received again: its earlier copy was replaced"),
        lines.join("\n")
      )
    })
  )

  it.live("a deflated data set is stored intact (the inflater is done with each fragment before it goes back)", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* archiveScp
        const channel = yield* connect(scp.port, DEFLATED)
        const deflated = Zlib.deflateRawSync(dataSetOf("1.2.7.2.1"), { level: 1 })
        // padded to an even length here, as a sender must (PS3.5 A.5), so that what is stored is what was sent
        const dataSet = new Uint8Array(deflated.length + (deflated.length % 2))
        dataSet.set(deflated)
        const before = ReceivedBytes.freed()
        const r = yield* Scu.store(channel, {
          sopClassUid: CT,
          sopInstanceUid: "1.2.7.2.1",
          transferSyntax: DEFLATED,
          dataSet
        })
        assert.strictEqual(r.status, 0)
        assert.isAbove(freedSince(before), 10)
        assert.deepStrictEqual(yield* storedDataSet(scp.index, "1.2.7.2.1"), dataSet)
      })
    )
  )

  it.live("a refused store frees what it drains, and the next store on the association is intact", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* archiveScp
        const channel = yield* connect(scp.port)
        const before = ReceivedBytes.freed()
        // the data set says 1.2.7.3.1, the request 1.2.7.3.9: refused once the header is read
        const refused = yield* Scu.store(channel, {
          sopClassUid: CT,
          sopInstanceUid: "1.2.7.3.9",
          transferSyntax: EXPLICIT,
          dataSet: dataSetOf("1.2.7.3.1")
        })
        assert.strictEqual(refused.status, 0xc000)
        assert.isAbove(freedSince(before), 10, "the drained rest is given back")
        assert.isTrue(Option.isNone(yield* scp.index.get("1.2.7.3.1")))
        const dataSet = dataSetOf("1.2.7.3.2")
        const r = yield* Scu.store(channel, {
          sopClassUid: CT,
          sopInstanceUid: "1.2.7.3.2",
          transferSyntax: EXPLICIT,
          dataSet
        })
        assert.strictEqual(r.status, 0)
        assert.deepStrictEqual(yield* storedDataSet(scp.index, "1.2.7.3.2"), dataSet)
      })
    )
  )

  it.live("concurrent stores on several associations, one of them the same SOP Instance twice, are each intact", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* archiveScp
        const channels = yield* Effect.forEach([0, 1, 2, 3], () => connect(scp.port))
        const sops = ["1.2.7.4.1", "1.2.7.4.2", "1.2.7.4.3", "1.2.7.4.3"]
        const dataSets = sops.map((sop) => dataSetOf(sop))
        const statuses = yield* Effect.forEach(
          channels,
          (channel, i) =>
            Scu.store(channel, {
              sopClassUid: CT,
              sopInstanceUid: sops[i]!,
              transferSyntax: EXPLICIT,
              dataSet: dataSets[i]!
            }),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(
          statuses.map((s) => s.status),
          [0, 0, 0, 0]
        )
        assert.deepStrictEqual(yield* storedDataSet(scp.index, "1.2.7.4.1"), dataSets[0])
        assert.deepStrictEqual(yield* storedDataSet(scp.index, "1.2.7.4.2"), dataSets[1])
        // the one stored last of the same SOP Instance: either copy, whole
        const third = yield* storedDataSet(scp.index, "1.2.7.4.3")
        assert.isTrue(
          Buffer.from(third).equals(Buffer.from(dataSets[2]!)) || Buffer.from(third).equals(Buffer.from(dataSets[3]!))
        )
      })
    )
  )

  it.live("a store cut short by an abort keeps nothing, and one sent in 1-byte then large PDVs is intact", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* archiveScp
        const rq = (sop: string) =>
          Result.getOrThrow(
            Dimse.encode({
              _tag: "CStoreRq",
              messageId: 1,
              affectedSopClassUid: CT,
              affectedSopInstanceUid: sop,
              priority: 0
            })
          )
        const pdv = (data: Uint8Array, isCommand: boolean, isLast: boolean) => ({
          presentationContextId: 3,
          isCommand,
          isLast,
          data
        })
        const send = (peer: { readonly send: (b: Uint8Array) => boolean }, dataSet: Uint8Array, tiny: number) => {
          // the first `tiny` bytes one per PDV (500 to a PDU), the rest in 16,000-byte PDVs
          for (let at = 0; at < tiny; at += 500) {
            const end = Math.min(at + 500, tiny)
            peer.send(
              PduCodec.encodePDataTf(
                Array.from({ length: end - at }, (_, i) => pdv(dataSet.subarray(at + i, at + i + 1), false, false))
              )
            )
          }
          for (let at = tiny; at < dataSet.length; at += 16_000) {
            const end = Math.min(at + 16_000, dataSet.length)
            peer.send(PduCodec.encodePDataTf([pdv(dataSet.subarray(at, end), false, end === dataSet.length)]))
          }
        }
        const cut = yield* Effect.promise(() => associated(scp.port, associateRq()))
        const aborted = dataSetOf("1.2.7.5.1")
        cut.send(PduCodec.encodePDataTf([pdv(rq("1.2.7.5.1"), true, true)]))
        send(cut, aborted.subarray(0, 1_500_000), 4000)
        yield* Effect.sleep("300 millis")
        cut.destroy()

        const peer = yield* Effect.promise(() => associated(scp.port, associateRq()))
        const dataSet = dataSetOf("1.2.7.5.2")
        peer.send(PduCodec.encodePDataTf([pdv(rq("1.2.7.5.2"), true, true)]))
        send(peer, dataSet, 20_000)
        const deadline = Date.now() + 10_000
        let stored = Option.none<unknown>()
        while (Option.isNone(stored) && Date.now() < deadline) {
          yield* Effect.sleep("50 millis")
          stored = yield* scp.index.get("1.2.7.5.2")
        }
        peer.destroy()
        assert.deepStrictEqual(yield* storedDataSet(scp.index, "1.2.7.5.2"), dataSet)
        assert.isTrue(Option.isNone(yield* scp.index.get("1.2.7.5.1")), "the aborted store keeps nothing")
      })
    )
  )
})
