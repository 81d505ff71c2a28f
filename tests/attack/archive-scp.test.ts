/**
 * The archive SCP (`ScpServices` on `Archive`, what `netdicom qrscp` serves) against hostile SCUs: the same
 * instance stored on several associations at once, hostile UIDs, C-FIND/C-GET/C-MOVE with hostile identifiers.
 */
import * as Fs from "node:fs/promises"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Result, Stream } from "effect"
import fc from "fast-check"
import { ApplicationEntity, Scu } from "@netdicom/net"
import { Dimse } from "@netdicom/wire"
import * as Header from "../../packages/archive/src/Header.ts"
import * as Part10 from "../../packages/archive/src/Part10.ts"
import { IMPLICIT_LE, instance, part10 } from "../../packages/archive/test/fixtures.ts"
import { connectArchive, startArchiveScp } from "./archive-support.ts"
import { scopedRawScp } from "./hotpath-support.ts"
import { CT, EXPLICIT } from "./support.ts"

const bare = (file: Uint8Array) => file.subarray(Part10.dataSetOffset(file)!)

describe("archive SCP: one SOP Instance stored on several associations at once", () => {
  it.live("the index and the file agree after every round, and the accepted file is never removed", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* startArchiveScp()
        const channels = yield* Effect.forEach([0, 1, 2, 3, 4, 5], () => connectArchive(scp.port))
        const problems: Array<string> = []
        for (let round = 0; round < 16; round++) {
          // half the copies in one study, half in another: a new study moves the file (the old one is removed)
          const statuses = yield* Effect.forEach(
            channels,
            (channel, i) => {
              const study = (round + i) % 2 === 0 ? "1.2.5" : "1.2.6"
              const dataSet = bare(
                instance({
                  patientId: "P",
                  patientName: `NAME${i}`,
                  study,
                  series: `${study}.1`,
                  sop: "1.2.5.1.1",
                  extra: { StudyDescription: "x".repeat(i * 1000) }
                })
              )
              return Scu.store(channel, {
                sopClassUid: CT,
                sopInstanceUid: "1.2.5.1.1",
                transferSyntax: EXPLICIT,
                dataSet
              })
            },
            { concurrency: "unbounded" }
          )
          assert.deepStrictEqual(
            statuses.map((s) => s.status),
            channels.map(() => 0)
          )
          const stored = yield* scp.index.get("1.2.5.1.1")
          assert.isTrue(Option.isSome(stored))
          const item = Option.getOrThrow(stored)
          const onDisk = yield* Effect.promise(() => Fs.stat(item.filePath).catch(() => undefined))
          if (onDisk === undefined) {
            problems.push(`round ${round}: the index points at ${item.filePath}, which was removed`)
            continue
          }
          const header = yield* Header.fromFile(item.filePath)
          const found = yield* Stream.runCollect(
            scp.archive.find({
              QueryRetrieveLevel: "IMAGE",
              StudyInstanceUID: item.studyInstanceUid,
              SeriesInstanceUID: item.seriesInstanceUid,
              SOPInstanceUID: "1.2.5.1.1",
              StudyDescription: ""
            })
          )
          const description = (d: unknown) => String(d).length
          if (onDisk.size !== item.fileSize || header.studyInstanceUid !== item.studyInstanceUid) {
            problems.push(
              `round ${round}: the index says ${item.fileSize} bytes in ${item.studyInstanceUid}, the file ${onDisk.size} in ${header.studyInstanceUid}`
            )
          } else if (description(found[0]?.["StudyDescription"]) !== description(header.dataset["StudyDescription"])) {
            problems.push(`round ${round}: C-FIND answers another copy than the file`)
          }
        }
        assert.deepStrictEqual(problems, [])
      })
    )
  )
})

describe("archive SCP: C-GET and C-MOVE identifiers", () => {
  it.live("a list of 40,000 SOP Instance UIDs retrieves the ones stored (not C000 'too many SQL variables')", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* startArchiveScp()
        for (const sop of ["1.2.5.1.7", "1.2.5.1.39999"]) {
          yield* scp.archive.store(
            instance({ patientId: "P", patientName: "X", study: "1.2.5", series: "1.2.5.1", sop })
          )
        }
        const received: Array<string> = []
        const channel = yield* connectArchive(scp.port, {
          getRole: true,
          onStore: (request) =>
            Effect.as(
              Effect.andThen(
                Effect.sync(() => received.push(request.sopInstanceUid)),
                Stream.runDrain(request.dataSet).pipe(Effect.ignore)
              ),
              { status: 0 }
            )
        })
        const identifier = {
          QueryRetrieveLevel: "IMAGE",
          StudyInstanceUID: "1.2.5",
          SeriesInstanceUID: "1.2.5.1",
          SOPInstanceUID: Array.from({ length: 40_000 }, (_, i) => `1.2.5.1.${i}`)
        }
        const responses = yield* Stream.runCollect(Scu.get(channel, { model: "study", identifier }))
        const final = responses.at(-1)!
        assert.strictEqual(final.status, 0, final.errorComment)
        assert.strictEqual(final.completed, 2)
        assert.deepStrictEqual(received.sort(), ["1.2.5.1.39999", "1.2.5.1.7"])
      })
    )
  )
})

describe("archive SCP: Error Comments made of peer data and of our own messages", () => {
  it("fitErrorComment always gives a comment the command encoder takes", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (text) => {
        const comment = Dimse.fitErrorComment(text)
        if (comment === "") return
        const encoded = Dimse.encode({
          _tag: "CStoreRsp",
          messageIdBeingRespondedTo: 1,
          affectedSopClassUid: CT,
          affectedSopInstanceUid: "1.2.3",
          status: 0xc000,
          errorComment: comment
        })
        assert.isTrue(Result.isSuccess(encoded), Result.isFailure(encoded) ? encoded.failure.message : "")
      }),
      { numRuns: 2000 }
    )
  })

  it.live("a C-MOVE destination that closes its connection: the final response (A702) still comes", () =>
    Effect.scoped(
      Effect.gen(function* () {
        // the sub-operations failed with "association aborted by provider: ... — connection closed": the em dash
        // made the final C-MOVE-RSP unencodable, it was dropped, and the SCU waited for its DIMSE timeout
        const closing = yield* scopedRawScp({ onPdu: (socket) => socket.destroy() })
        const scp = yield* startArchiveScp({ destinations: { CLOSING: closing.port } })
        for (const sop of ["1.2.5.1.1", "1.2.5.1.2"]) {
          yield* scp.archive.store(
            instance({ patientId: "P", patientName: "X", study: "1.2.5", series: "1.2.5.1", sop })
          )
        }
        const channel = yield* connectArchive(scp.port, { dimse: "5 seconds" })
        const started = performance.now()
        const responses = yield* Stream.runCollect(
          Scu.move(channel, {
            model: "study",
            identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.5" },
            destination: "CLOSING"
          })
        )
        const final = responses.at(-1)!
        assert.strictEqual(final.status, 0xa702)
        assert.strictEqual(final.failed, 2)
        assert.include(final.errorComment ?? "", "association aborted")
        assert.isBelow(performance.now() - started, 2000)
      })
    )
  )
})

describe("archive SCP: an instance replaced while a C-GET sends it", () => {
  it.live("a copy stored since the listing in another transfer syntax is not sent on the listed one's context", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* startArchiveScp()
        const spec = (sop: string) => ({ patientId: "P", patientName: "X", study: "1.2.5", series: "1.2.5.1", sop })
        for (const sop of ["1.2.5.1.1", "1.2.5.1.2"]) yield* scp.archive.store(instance(spec(sop)))
        const implicitCopy = part10(
          {
            SOPClassUID: CT,
            SOPInstanceUID: "1.2.5.1.2",
            StudyInstanceUID: "1.2.5",
            SeriesInstanceUID: "1.2.5.1",
            PatientID: "P",
            PatientName: "X"
          },
          IMPLICIT_LE
        )
        const received: Array<string> = []
        const channel = yield* connectArchive(scp.port, {
          getRole: true,
          onStore: (request) =>
            Effect.gen(function* () {
              received.push(request.sopInstanceUid)
              yield* Stream.runDrain(request.dataSet).pipe(Effect.ignore)
              // another association stores the second instance again, in Implicit VR, while the first is received
              if (received.length === 1) yield* scp.archive.store(implicitCopy).pipe(Effect.orDie)
              return { status: 0 }
            })
        })
        const responses = yield* Stream.runCollect(
          Scu.get(channel, { model: "study", identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.5" } })
        )
        const final = responses.at(-1)!
        // the second sub-operation fails (the SCU may ask again) instead of sending Implicit VR bytes on the
        // Explicit VR context the listing chose
        assert.deepStrictEqual(received, ["1.2.5.1.1"])
        assert.strictEqual(final.failed, 1)
        assert.deepStrictEqual(final.failedSopInstanceUids, ["1.2.5.1.2"])
      })
    )
  )
})

describe("archive SCP: one SOP Instance stored several times on one association", () => {
  it.live(
    "eight C-STOREs outstanding at once (window 8), 300 KB each, all answered 0000: the lock per instance holds none up",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const scp = yield* startArchiveScp({ maxOperationsPerformed: 8 })
          const ae = Result.getOrThrow(
            ApplicationEntity.make({ aeTitle: "WINDOW", maxOperationsInvoked: 8, timeouts: { dimse: "5 seconds" } })
          )
          const channel = yield* Scu.connect(ae, {
            host: "127.0.0.1",
            port: scp.port,
            calledAeTitle: "ARCHIVE",
            contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT] }]
          })
          const dataSet = bare(
            instance({
              patientId: "P",
              patientName: "X",
              study: "1.2.5",
              series: "1.2.5.1",
              sop: "1.2.5.1.1",
              extra: { StudyDescription: "x".repeat(300_000) }
            })
          )
          const responses = yield* Effect.forEach(
            Array.from({ length: 8 }),
            () =>
              Scu.store(channel, { sopClassUid: CT, sopInstanceUid: "1.2.5.1.1", transferSyntax: EXPLICIT, dataSet }),
            { concurrency: "unbounded" }
          )
          assert.deepStrictEqual(
            responses.map((r) => r.status),
            Array(8).fill(0)
          )
        })
      )
  )
})
