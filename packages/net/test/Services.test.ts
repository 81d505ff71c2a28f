/** DIMSE-C end to end on loopback: our SCU against our SCP, with services given as Layers. */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Logger, Option, Ref, Stream } from "effect"
import { Status } from "@netdicom/wire"
import * as AcceptorPolicy from "../src/association/AcceptorPolicy.ts"
import { EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as DataSet from "../src/dimse/DataSet.ts"
import * as Part10 from "../src/dimse/Part10.ts"
import { SOP_CLASSES, VERIFICATION } from "../src/services/QueryRetrieve.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { CT, connectGetScu, testAe } from "./support.ts"
import { Result } from "effect"

const TS = [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN]
const scpAe = testAe({
  aeTitle: "NETDICOM-SCP",
  contexts: [
    { abstractSyntax: VERIFICATION, transferSyntaxes: TS },
    { abstractSyntax: CT, transferSyntaxes: TS },
    ...Object.values(SOP_CLASSES).flatMap((ops) =>
      [ops.find, ops.get, ops.move]
        .filter((u): u is string => !!u)
        .map((abstractSyntax) => ({ abstractSyntax, transferSyntaxes: TS }))
    )
  ]
})

const ctBytes = (uid: string) =>
  Result.getOrThrow(
    DataSet.encode(
      { SOPClassUID: CT, SOPInstanceUID: uid, PatientName: "DOE^JOHN", StudyInstanceUID: "1.2.3", Modality: "CT" },
      EXPLICIT_VR_LITTLE_ENDIAN
    )
  )

const connectTo = (port: number, extra: Partial<Parameters<typeof Scu.connect>[1]> = {}) =>
  Effect.gen(function* () {
    const ae = yield* testAe({ aeTitle: "NETDICOM-SCU" })
    return yield* Scu.connect(ae, {
      host: "127.0.0.1",
      port,
      calledAeTitle: "NETDICOM-SCP",
      contexts: [
        { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] },
        { abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] },
        { abstractSyntax: SOP_CLASSES.study.find, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] },
        { abstractSyntax: SOP_CLASSES.study.get!, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] },
        { abstractSyntax: SOP_CLASSES.study.move!, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }
      ],
      ...extra
    })
  })

describe("DIMSE-C, SCU against SCP", () => {
  it.live("C-ECHO answers Success", () =>
    Effect.gen(function* () {
      const server = yield* Scp.serve(yield* scpAe, { port: 0 })
      const channel = yield* connectTo(server.port)
      const r = yield* Scu.echo(channel)
      assert.deepStrictEqual([r.status, r.category], [0, "Success"])
    })
  )

  it.live("C-STORE delivers the data set bytes unchanged to the Storage service", () =>
    Effect.gen(function* () {
      const received = yield* Ref.make<Array<{ uid: string; ts: string; bytes: Uint8Array }>>([])
      const storage = Layer.succeed(Scp.StorageService)({
        store: (request) =>
          Effect.gen(function* () {
            const chunks = yield* Stream.runCollect(request.dataSet).pipe(Effect.orDie)
            yield* Ref.update(received, (a) => [
              ...a,
              { uid: request.sopInstanceUid, ts: request.transferSyntax, bytes: Buffer.concat(chunks) }
            ])
            return { status: Status.SUCCESS }
          })
      })
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(Effect.provide(storage))
      const channel = yield* connectTo(server.port, {})
      const bytes = ctBytes("1.2.3.4.5")
      const r = yield* Scu.store(channel, {
        sopClassUid: CT,
        sopInstanceUid: "1.2.3.4.5",
        transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
        dataSet: bytes
      })
      assert.strictEqual(r.status, 0)
      const got = yield* Ref.get(received)
      assert.strictEqual(got.length, 1)
      assert.deepStrictEqual(new Uint8Array(got[0]!.bytes), bytes)
      assert.strictEqual(got[0]!.ts, EXPLICIT_VR_LITTLE_ENDIAN)
    })
  )

  it.live("C-STORE streams a large data set in chunks through a small maximum PDU", () =>
    Effect.gen(function* () {
      let total = 0
      const storage = Layer.succeed(Scp.StorageService)({
        store: (request) =>
          Stream.runForEach(request.dataSet, (c) => Effect.sync(() => void (total += c.length))).pipe(
            Effect.orDie,
            Effect.as({ status: Status.SUCCESS })
          )
      })
      const ae = yield* testAe({
        aeTitle: "NETDICOM-SCP",
        maxPduLength: 16384,
        contexts: [{ abstractSyntax: CT, transferSyntaxes: TS }]
      })
      const server = yield* Scp.serve(ae, { port: 0 }).pipe(Effect.provide(storage))
      const channel = yield* connectTo(server.port)
      const chunk = new Uint8Array(100_000).fill(7)
      const r = yield* Scu.store(channel, {
        sopClassUid: CT,
        sopInstanceUid: "1.2.3",
        transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
        dataSet: Stream.make(...Array.from({ length: 50 }, () => chunk))
      })
      assert.strictEqual(r.status, 0)
      assert.strictEqual(total, 5_000_000)
    })
  )

  it.live("C-STORE with no accepted context for the SOP class is a typed NoAcceptedContext", () =>
    Effect.gen(function* () {
      const server = yield* Scp.serve(yield* scpAe, { port: 0 })
      const channel = yield* connectTo(server.port)
      const r = yield* Effect.flip(
        Scu.store(channel, {
          sopClassUid: "1.2.840.10008.5.1.4.1.1.4",
          sopInstanceUid: "1.2",
          transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
          dataSet: new Uint8Array(2)
        })
      )
      assert.strictEqual(r._tag, "NoAcceptedContext")
    })
  )

  it.live(
    "C-STORE of an Implicit VR data set to a peer that accepted only Explicit goes re-encoded (bytes or stream); transcode: false keeps NoAcceptedContext",
    () =>
      Effect.gen(function* () {
        const received: Array<{ ts: string; bytes: Uint8Array }> = []
        const storage = Layer.succeed(Scp.StorageService)({
          store: (request) =>
            Effect.gen(function* () {
              const chunks = yield* Stream.runCollect(request.dataSet).pipe(Effect.orDie)
              received.push({ ts: request.transferSyntax, bytes: new Uint8Array(Buffer.concat(chunks)) })
              return { status: Status.SUCCESS }
            })
        })
        const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(Effect.provide(storage))
        // CT is proposed in Explicit VR Little Endian only
        const channel = yield* connectTo(server.port)
        const attributes = { SOPClassUID: CT, SOPInstanceUID: "1.2.9", PatientName: "DOE^JANE", Rows: 2 }
        const implicit = Result.getOrThrow(DataSet.encode(attributes, IMPLICIT_VR_LITTLE_ENDIAN))
        const input = { sopClassUid: CT, sopInstanceUid: "1.2.9", transferSyntax: IMPLICIT_VR_LITTLE_ENDIAN }
        const fromBytes = yield* Scu.store(channel, { ...input, dataSet: implicit })
        const fromStream = yield* Scu.store(channel, {
          ...input,
          dataSet: Stream.make(implicit.subarray(0, 11), implicit.subarray(11))
        })
        assert.deepStrictEqual([fromBytes.status, fromStream.status], [0, 0])
        assert.strictEqual(received.length, 2)
        for (const r of received) {
          assert.strictEqual(r.ts, EXPLICIT_VR_LITTLE_ENDIAN)
          assert.deepStrictEqual(r.bytes, Result.getOrThrow(DataSet.encode(attributes, EXPLICIT_VR_LITTLE_ENDIAN)))
        }
        const off = yield* Effect.flip(Scu.store(channel, { ...input, dataSet: implicit, transcode: false }))
        assert.strictEqual(off._tag, "NoAcceptedContext")
        // the file functions take it too (a gateway forwarding files as received): they had no way to refuse it
        const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "nd-transcode-")), "implicit.dcm")
        const meta = { ...input, transferSyntaxUid: IMPLICIT_VR_LITTLE_ENDIAN }
        fs.writeFileSync(file, Buffer.concat([Part10.writeMeta(meta), implicit]))
        const fileOff = yield* Effect.flip(Scu.storeFile(channel, file, { transcode: false }))
        assert.strictEqual(fileOff._tag, "NoAcceptedContext")
        const [filesOff] = yield* Scu.storeFiles(channel, [file], { transcode: false })
        assert.isTrue(Result.isFailure(filesOff!.result))
        assert.strictEqual(received.length, 2)
        assert.strictEqual((yield* Scu.storeFile(channel, file)).status, 0)
        received.pop()
        // a compressed data set is not converted
        const jpeg = yield* Effect.flip(
          Scu.store(channel, { ...input, transferSyntax: "1.2.840.10008.1.2.4.50", dataSet: implicit })
        )
        assert.strictEqual(jpeg._tag, "NoAcceptedContext")
        assert.strictEqual(received.length, 2)
      })
  )

  it.live(
    "C-FIND with 10,000 matches cancelled after 3 pending responses ends FE00; the association stays usable",
    () =>
      Effect.gen(function* () {
        let pulled = 0
        const query = Layer.succeed(Scp.QueryService)({
          find: () =>
            Stream.range(1, 10_000).pipe(
              Stream.tap(() => Effect.sync(() => void pulled++)),
              Stream.map((i) => ({
                PatientName: `PATIENT^${i}`,
                StudyInstanceUID: `1.2.3.${i}`,
                QueryRetrieveLevel: "STUDY"
              }))
            )
        })
        const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(Effect.provide(query))
        const channel = yield* connectTo(server.port)
        const first3 = yield* Stream.runCollect(
          Stream.take(
            Scu.find(channel, {
              model: "study",
              identifier: { QueryRetrieveLevel: "STUDY", PatientName: "", StudyInstanceUID: "" }
            }),
            3
          )
        )
        assert.strictEqual(first3.length, 3)
        assert.strictEqual(first3[0]!.identifier?.["PatientName"] !== undefined, true)
        const again = yield* Scu.echo(channel)
        assert.strictEqual(again.status, 0)
        assert.isBelow(pulled, 10_000, "the C-CANCEL stopped the query")

        // The same, watching the wire: C-CANCEL after 3 pending responses, then the final is FE00.
        const context = Result.getOrThrow(channel.findContext(SOP_CLASSES.study.find, "SCU"))
        const messageId = yield* channel.nextMessageId
        const identifier = Result.getOrThrow(
          DataSet.encode({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "" }, context.transferSyntax)
        )
        let seen = 0
        const rq = { _tag: "CFindRq", messageId, affectedSopClassUid: SOP_CLASSES.study.find, priority: 0 } as const
        const statuses = yield* Stream.runCollect(
          channel.request(context, rq, { dataSet: identifier }).pipe(
            Stream.tap(() =>
              ++seen === 3
                ? Effect.ignore(channel.send(context, { _tag: "CCancelRq", messageIdBeingRespondedTo: messageId }))
                : Effect.void
            ),
            Stream.map((r) => r.status)
          )
        )
        assert.strictEqual(statuses.at(-1), Status.CANCEL)
        assert.isBelow(statuses.length, 10_000)
      })
  )

  it.live("C-FIND all matches then Success, identifiers decoded", () =>
    Effect.gen(function* () {
      const query = Layer.succeed(Scp.QueryService)({
        find: (req) =>
          Stream.make(
            { QueryRetrieveLevel: "STUDY", PatientName: "DOE^JANE", StudyInstanceUID: "1.2.3.1" },
            { QueryRetrieveLevel: "STUDY", PatientName: "DOE^JOHN", StudyInstanceUID: "1.2.3.2" }
          ).pipe(Stream.filter(() => req.model === "study"))
      })
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(Effect.provide(query))
      const channel = yield* connectTo(server.port)
      const all = yield* Stream.runCollect(
        Scu.find(channel, {
          model: "study",
          identifier: { QueryRetrieveLevel: "STUDY", PatientName: "DOE*", StudyInstanceUID: "" }
        })
      )
      assert.deepStrictEqual(
        all.map((r) => r.status),
        [0xff00, 0xff00, 0]
      )
      assert.deepStrictEqual(
        all.map((r) => r.identifier?.["StudyInstanceUID"]),
        ["1.2.3.1", "1.2.3.2", undefined]
      )
    })
  )

  it.live("C-MOVE to an unknown destination gets A801 and no association is opened", () =>
    Effect.gen(function* () {
      const retrieve = Layer.succeed(Scp.RetrieveService)({ retrieve: () => Effect.succeed([]) })
      const destinations = Layer.succeed(Scp.MoveDestinations)({ lookup: () => Option.none() })
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(
        Effect.provide(Layer.merge(retrieve, destinations))
      )
      const channel = yield* connectTo(server.port)
      const all = yield* Stream.runCollect(
        Scu.move(channel, {
          model: "study",
          destination: "NOWHERE",
          identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" }
        })
      )
      assert.strictEqual(all.at(-1)!.status, Status.MOVE_DESTINATION_UNKNOWN)
    })
  )

  it.live(
    "C-GET whose storage context came back without the SCP role: each C-STORE is refused, the GET reports failures",
    () =>
      Effect.gen(function* () {
        const retrieve = Layer.succeed(Scp.RetrieveService)({
          retrieve: () =>
            Effect.succeed([
              {
                sopClassUid: CT,
                sopInstanceUid: "1.2.3.4",
                transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
                dataSet: () => Stream.make(ctBytes("1.2.3.4"))
              }
            ])
        })
        const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(Effect.provide(retrieve))
        // No role item proposed: we are SCU only for CT, so the GET's C-STORE sub-operation must not be taken.
        const stored: Array<string> = []
        const channel = yield* connectTo(server.port, {
          onStore: (req) =>
            Stream.runDrain(req.dataSet).pipe(
              Effect.orDie,
              Effect.andThen(Effect.sync(() => stored.push(req.sopInstanceUid))),
              Effect.as({ status: 0 })
            )
        })
        const all = yield* Stream.runCollect(
          Scu.get(channel, { model: "study", identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" } })
        )
        const last = all.at(-1)!
        assert.strictEqual(last.failed, 1)
        assert.notStrictEqual(last.status, 0)
        // Why, in the final response: the SCU has no other way to learn it. CT's context is there, but without the
        // SCP role for the SCU (no role item): said so, with the SOP class.
        assert.strictEqual(last.errorComment, `SCU took no SCP role for ${CT}`)
        assert.deepStrictEqual(stored, [])
      })
  )

  it.live("C-GET with the SCP role negotiated receives the instance on the same association", () =>
    Effect.gen(function* () {
      const bytes = ctBytes("1.2.3.4")
      const retrieve = Layer.succeed(Scp.RetrieveService)({
        retrieve: () =>
          Effect.succeed([
            {
              sopClassUid: CT,
              sopInstanceUid: "1.2.3.4",
              transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
              dataSet: () => Stream.make(bytes)
            }
          ])
      })
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(Effect.provide(retrieve))
      const stored: Array<Uint8Array> = []
      const channel = yield* connectGetScu(server.port, (req) =>
        Stream.runCollect(req.dataSet).pipe(
          Effect.orDie,
          Effect.andThen((c) => Effect.sync(() => stored.push(Buffer.concat(c)))),
          Effect.as({ status: 0 })
        )
      )
      const all = yield* Stream.runCollect(
        Scu.get(channel, { model: "study", identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" } })
      )
      assert.strictEqual(all.at(-1)!.status, 0)
      assert.strictEqual(all.at(-1)!.completed, 1)
      assert.deepStrictEqual(new Uint8Array(stored[0]!), bytes)
    })
  )

  it.live("C-GET of an instance stored in Implicit VR by an SCU accepting only Explicit gets it re-encoded", () =>
    Effect.gen(function* () {
      const attributes = { SOPClassUID: CT, SOPInstanceUID: "1.2.3.5", PatientName: "DOE^JOHN", Modality: "CT" }
      const implicit = Result.getOrThrow(DataSet.encode(attributes, IMPLICIT_VR_LITTLE_ENDIAN))
      const retrieve = Layer.succeed(Scp.RetrieveService)({
        retrieve: () =>
          Effect.succeed([
            {
              sopClassUid: CT,
              sopInstanceUid: "1.2.3.5",
              transferSyntax: IMPLICIT_VR_LITTLE_ENDIAN,
              dataSet: () => Stream.make(implicit)
            }
          ])
      })
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(Effect.provide(retrieve))
      const stored: Array<{ ts: string; bytes: Uint8Array }> = []
      const channel = yield* connectGetScu(server.port, (req) =>
        Stream.runCollect(req.dataSet).pipe(
          Effect.orDie,
          Effect.andThen((c) =>
            Effect.sync(() => stored.push({ ts: req.transferSyntax, bytes: new Uint8Array(Buffer.concat(c)) }))
          ),
          Effect.as({ status: 0 })
        )
      )
      const all = yield* Stream.runCollect(
        Scu.get(channel, { model: "study", identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" } })
      )
      assert.deepStrictEqual([all.at(-1)!.status, all.at(-1)!.completed, all.at(-1)!.failed], [0, 1, 0])
      assert.strictEqual(stored[0]!.ts, EXPLICIT_VR_LITTLE_ENDIAN)
      assert.deepStrictEqual(stored[0]!.bytes, Result.getOrThrow(DataSet.encode(attributes, EXPLICIT_VR_LITTLE_ENDIAN)))
    })
  )

  it.live("C-MOVE of an Implicit VR instance to a destination accepting only Explicit VR delivers it re-encoded", () =>
    Effect.gen(function* () {
      const attributes = { SOPClassUID: CT, SOPInstanceUID: "1.2.3.6", PatientName: "DOE^JOHN", Modality: "CT" }
      const implicit = Result.getOrThrow(DataSet.encode(attributes, IMPLICIT_VR_LITTLE_ENDIAN))
      const stored: Array<{ ts: string; bytes: Uint8Array }> = []
      const storage = Layer.succeed(Scp.StorageService)({
        store: (request) =>
          Stream.runCollect(request.dataSet).pipe(
            Effect.orDie,
            Effect.andThen((c) =>
              Effect.sync(() => stored.push({ ts: request.transferSyntax, bytes: new Uint8Array(Buffer.concat(c)) }))
            ),
            Effect.as({ status: Status.SUCCESS })
          )
      })
      const destAe = yield* testAe({
        aeTitle: "DEST",
        contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]
      })
      const dest = yield* Scp.serve(destAe, { port: 0 }).pipe(Effect.provide(storage))
      const retrieve = Layer.succeed(Scp.RetrieveService)({
        retrieve: () =>
          Effect.succeed([
            {
              sopClassUid: CT,
              sopInstanceUid: "1.2.3.6",
              transferSyntax: IMPLICIT_VR_LITTLE_ENDIAN,
              dataSet: () => Stream.make(implicit)
            }
          ])
      })
      const destinations = Layer.succeed(Scp.MoveDestinations)({
        lookup: (ae) => (ae.trim() === "DEST" ? Option.some({ host: "127.0.0.1", port: dest.port }) : Option.none())
      })
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(
        Effect.provide(Layer.merge(retrieve, destinations))
      )
      const channel = yield* connectTo(server.port)
      const all = yield* Stream.runCollect(
        Scu.move(channel, {
          model: "study",
          destination: "DEST",
          identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" }
        })
      )
      assert.deepStrictEqual([all.at(-1)!.status, all.at(-1)!.completed, all.at(-1)!.failed], [0, 1, 0])
      assert.strictEqual(stored[0]!.ts, EXPLICIT_VR_LITTLE_ENDIAN)
      assert.deepStrictEqual(stored[0]!.bytes, Result.getOrThrow(DataSet.encode(attributes, EXPLICIT_VR_LITTLE_ENDIAN)))
    })
  )

  it.live("an association aborted by the peer while a request is outstanding fails the request at once", () =>
    Effect.gen(function* () {
      const storage = Layer.succeed(Scp.StorageService)({ store: () => Effect.never })
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(Effect.provide(storage))
      const channel = yield* connectTo(server.port)
      const fiber = yield* Effect.forkChild(
        Scu.store(channel, {
          sopClassUid: CT,
          sopInstanceUid: "1.2",
          transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
          dataSet: ctBytes("1.2")
        })
      )
      yield* Effect.sleep("100 millis")
      yield* channel.association.abort
      const e = yield* Effect.flip(Fiber.join(fiber))
      assert.strictEqual(e._tag, "AssociationAborted")
    })
  )
})

describe("Asynchronous Operations Window", () => {
  it.live("with a window of 4 negotiated, four C-STOREs are outstanding at once and all answered", () =>
    Effect.gen(function* () {
      let inFlight = 0
      let most = 0
      const storage = Layer.succeed(Scp.StorageService)({
        store: (request) =>
          Effect.gen(function* () {
            inFlight++
            most = Math.max(most, inFlight)
            yield* Stream.runDrain(request.dataSet).pipe(Effect.orDie)
            yield* Effect.sleep("50 millis")
            inFlight--
            return { status: Status.SUCCESS }
          })
      })
      const ae = yield* testAe({
        aeTitle: "NETDICOM-SCP",
        contexts: [{ abstractSyntax: CT, transferSyntaxes: TS }],
        maxOperationsInvoked: 4,
        maxOperationsPerformed: 4
      })
      const server = yield* Scp.serve(ae, { port: 0 }).pipe(Effect.provide(storage))
      const client = yield* testAe({ aeTitle: "NETDICOM-SCU", maxOperationsInvoked: 4, maxOperationsPerformed: 4 })
      const channel = yield* Scu.connect(client, {
        host: "127.0.0.1",
        port: server.port,
        calledAeTitle: "NETDICOM-SCP",
        contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]
      })
      assert.strictEqual(channel.association.negotiated.maxOperationsInvoked, 4)
      const results = yield* Effect.forEach(
        Array.from({ length: 12 }, (_, i) => `1.2.3.${i + 1}`),
        (uid) =>
          Scu.store(channel, {
            sopClassUid: CT,
            sopInstanceUid: uid,
            transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
            dataSet: ctBytes(uid)
          }),
        { concurrency: 8 }
      )
      assert.deepStrictEqual(new Set(results.map((r) => r.status)), new Set([0]))
      assert.deepStrictEqual(
        results.map((r) => r.sopInstanceUid),
        Array.from({ length: 12 }, (_, i) => `1.2.3.${i + 1}`)
      )
      assert.strictEqual(most, 4, "the window bounds what is outstanding")
    })
  )
})

describe("SCP configuration", () => {
  it.live("the acceptor policy given as a Layer is the one used, and `policy` in the options wins over it", () =>
    Effect.gen(function* () {
      const anyCalled = AcceptorPolicy.layer({ calledAeTitles: undefined })
      const byLayer = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(Effect.provide(anyCalled))
      const echoed = yield* Scu.echo(yield* connectTo(byLayer.port, { calledAeTitle: "SOMETHING-ELSE" }))
      assert.strictEqual(echoed.status, Status.SUCCESS)
      const byOptions = yield* Scp.serve(yield* scpAe, { port: 0, policy: { calledAeTitles: ["NETDICOM-SCP"] } }).pipe(
        Effect.provide(anyCalled)
      )
      const refused = yield* Effect.flip(connectTo(byOptions.port, { calledAeTitle: "SOMETHING-ELSE" }))
      assert.strictEqual(refused._tag, "AssociationRejected")
      const byDefault = yield* Scp.serve(yield* scpAe, { port: 0 })
      const alsoRefused = yield* Effect.flip(connectTo(byDefault.port, { calledAeTitle: "SOMETHING-ELSE" }))
      assert.strictEqual(alsoRefused._tag, "AssociationRejected")
    })
  )

  it.live("a service the AE's contexts call for but not provided is logged as the SCP starts and named in 0x0122", () =>
    Effect.gen(function* () {
      const warnings: Array<string> = []
      const capture = Logger.make(({ logLevel, message }) => {
        if (logLevel === "Warn") warnings.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
      })
      const server = yield* Scp.serve(yield* scpAe, { port: 0 }).pipe(Effect.provide(Logger.layer([capture])))
      assert.strictEqual(warnings.length, 3, warnings.join("\n"))
      assert.match(warnings[0]!, /no StorageService \(C-STORE\) in context/)
      assert.match(warnings[1]!, /no QueryService \(C-FIND\) in context/)
      assert.match(warnings[2]!, /no RetrieveService \(C-GET, C-MOVE\) in context/)
      const channel = yield* connectTo(server.port)
      const stored = yield* Scu.store(channel, {
        sopClassUid: CT,
        sopInstanceUid: "1.2.3.9",
        transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
        dataSet: ctBytes("1.2.3.9")
      })
      assert.deepStrictEqual([stored.status, stored.errorComment], [0x0122, "no StorageService on this SCP"])
      const found = yield* Stream.runCollect(
        Scu.find(channel, {
          model: "study",
          identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "" }
        })
      )
      assert.deepStrictEqual(
        found.map((r) => [r.status, r.errorComment]),
        [[0x0122, "no QueryService on this SCP"]]
      )
    })
  )
})

describe("an identifier of ours that cannot be encoded", () => {
  it.live("fails the C-FIND/C-GET/C-MOVE with the DataSetError, sends nothing, and the association goes on", () =>
    Effect.gen(function* () {
      const server = yield* Scp.serve(yield* scpAe, { port: 0 })
      const channel = yield* connectTo(server.port)
      const identifier = { QueryRetrieveLevel: "STUDY", PatientsName: "DOE*" }
      const found = yield* Effect.flip(Stream.runCollect(Scu.find(channel, { model: "study", identifier })))
      assert.strictEqual(found._tag, "DataSetError")
      assert.match(found.message, /unknown attribute keyword "PatientsName"/)
      const got = yield* Effect.flip(Stream.runCollect(Scu.get(channel, { model: "study", identifier })))
      assert.strictEqual(got._tag, "DataSetError")
      assert.strictEqual((yield* Scu.echo(channel)).status, Status.SUCCESS)
    })
  )
})
