/**
 * Socket reads freed once consumed (`ReceivedBytes`): only when the parser is past the chunk and every PDV view of it
 * was lent and released (or copied by the inflow); never while a handler may hold a view (a data set read through
 * `dataSet`, or given whole), nor a chunk another PDU was decoded from. Over TCP, a large instance written with
 * `Part10.writeFile(request.dataSetLent)` arrives intact while its reads are freed; one kept by its handler is left
 * whole.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import { PduParser, Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as Inflow from "../src/dimse/Inflow.ts"
import * as Part10 from "../src/dimse/Part10.ts"
import { SOP_CLASSES } from "../src/services/QueryRetrieve.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import type { StoreRequest } from "../src/services/StoreHandler.ts"
import * as ReceivedBytes from "../src/upper/ReceivedBytes.ts"
import { CT, testAe } from "./support.ts"

const pattern = (n: number, seed = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff)

// A P-DATA-TF holding one data PDV (context 1) of `data`.
const pData = (data: Uint8Array, last = false): Uint8Array => {
  const out = new Uint8Array(6 + 4 + 2 + data.length)
  const view = new DataView(out.buffer)
  out[0] = 0x04
  view.setUint32(2, 4 + 2 + data.length)
  view.setUint32(6, 2 + data.length)
  out[10] = 1
  out[11] = last ? 0x02 : 0x00
  out.set(data, 12)
  return out
}

// An A-RELEASE-RQ.
const releaseRq = (): Uint8Array => Uint8Array.from([0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0])

// Two chunks as socket reads (each the whole of its own buffer) from the bytes `parts` make.
const reads = (bytes: Uint8Array, at: number): [Uint8Array, Uint8Array] => [bytes.slice(0, at), bytes.slice(at)]

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => new Uint8Array(Buffer.concat(parts))

const dataViews = (pdus: ReadonlyArray<PduParser.PushResult["pdus"][number]>): Array<Uint8Array> =>
  pdus.flatMap((pdu) => (pdu._tag === "PDataTf" ? pdu.pdvs.map((pdv) => pdv.data) : []))

const freedBy = <A>(f: () => A): { readonly value: A; readonly freed: number } => {
  const before = ReceivedBytes.freed()
  const value = f()
  return { value, freed: ReceivedBytes.freed() - before }
}

describe("ReceivedBytes", () => {
  it.effect("views of a byte count too: a read of 1-byte PDVs is freed only once the inflow has copied them all", () =>
    Effect.gen(function* () {
      const parser = PduParser.make({ maxPduLength: 0, pdvViews: true })
      const tracker = ReceivedBytes.tracker()
      const chunk = concat(Array.from({ length: 100 }, (_, i) => pData(Uint8Array.of(i))))
      const result = parser.push(chunk)
      const decoded = freedBy(() => tracker.took(chunk, result.pdus, parser.buffered))
      assert.strictEqual(decoded.freed, 0, "the views are not passed on yet")
      const views = dataViews(result.pdus)
      assert.strictEqual(views.length, 100)
      const inflow = Inflow.make(1 << 20)
      assert.strictEqual(freedBy(() => views.slice(0, 99).forEach((v) => inflow.push(v))).freed, 0)
      assert.strictEqual(freedBy(() => inflow.push(views[99]!)).freed, 1, "the last copied")
      inflow.end()
      const got = yield* Stream.runCollect(inflow.stream)
      assert.deepStrictEqual(
        concat(got),
        Uint8Array.from({ length: 100 }, (_, i) => i)
      )
    })
  )

  it.effect("a data set handed out whole is not lent by the lent stream: releasing its fragments frees nothing", () =>
    Effect.gen(function* () {
      const parser = PduParser.make({ maxPduLength: 0, pdvViews: true })
      const tracker = ReceivedBytes.tracker()
      const chunk = concat([pData(pattern(3000, 5)), pData(pattern(3000, 6), true)])
      const result = parser.push(chunk)
      tracker.took(chunk, result.pdus, parser.buffered)
      const inflow = Inflow.make(1 << 20)
      for (const view of dataViews(result.pdus)) inflow.push(view)
      inflow.end()
      const whole = inflow.complete()
      assert.isDefined(whole)
      const got = yield* Stream.runCollect(inflow.lentStream)
      assert.strictEqual(freedBy(() => got.forEach(ReceivedBytes.release)).freed, 0)
      assert.deepStrictEqual(concat(whole!), concat([pattern(3000, 5), pattern(3000, 6)]))
    })
  )

  it("frees a read once the parser is past it and its lent views are released, not before", () => {
    const parser = PduParser.make({ maxPduLength: 0, pdvViews: true })
    const tracker = ReceivedBytes.tracker()
    const [first, second] = reads(concat([pData(pattern(1000)), pData(pattern(1000, 1))]), 1500)
    const one = parser.push(first)
    tracker.took(first, one.pdus, parser.buffered)
    const two = parser.push(second)
    tracker.took(second, two.pdus, parser.buffered)
    const views = [...dataViews(one.pdus), ...dataViews(two.pdus)]
    // 1000 bytes, then the second PDV split across the reads: 476 + 524
    assert.deepStrictEqual(
      views.map((v) => v.length),
      [1000, 476, 524]
    )
    for (const view of views) ReceivedBytes.lend(view)
    assert.strictEqual(freedBy(() => ReceivedBytes.release(views[0]!)).freed, 0, "the first read has another view")
    assert.strictEqual(first.buffer.byteLength, 1500)
    assert.strictEqual(freedBy(() => ReceivedBytes.release(views[1]!)).freed, 1)
    assert.strictEqual(first.buffer.byteLength, 0, "detached")
    assert.strictEqual(freedBy(() => ReceivedBytes.release(views[2]!)).freed, 1)
    assert.strictEqual(second.buffer.byteLength, 0)
    assert.strictEqual(freedBy(() => ReceivedBytes.release(views[2]!)).freed, 0, "released twice: nothing")
  })

  it("keeps a read the parser still holds bytes of, until it is past them", () => {
    const parser = PduParser.make({ maxPduLength: 0, pdvViews: true })
    const tracker = ReceivedBytes.tracker()
    const bytes = concat([pData(pattern(1000)), pData(pattern(1000, 1))])
    // the first read ends 100 bytes into the second PDU: the parser keeps those
    const [first, second] = reads(bytes, 1012 + 100)
    const one = parser.push(first)
    tracker.took(first, one.pdus, parser.buffered)
    const [view] = dataViews(one.pdus)
    ReceivedBytes.lend(view!)
    assert.strictEqual(freedBy(() => ReceivedBytes.release(view!)).freed, 0, "the parser holds its last 100 bytes")
    assert.strictEqual(first.buffer.byteLength, 1112)
    const two = parser.push(second)
    // the parser joined nothing: the second PDV is a view of each read
    const rest = dataViews(two.pdus)
    assert.deepStrictEqual(concat(rest), pattern(1000, 1))
    const { freed } = freedBy(() => tracker.took(second, two.pdus, parser.buffered))
    assert.strictEqual(freed, 0, "a view of the first read is out, not yet released")
    for (const v of rest) ReceivedBytes.lend(v)
    assert.strictEqual(freedBy(() => ReceivedBytes.release(rest[0]!)).freed, 1)
    assert.strictEqual(first.buffer.byteLength, 0)
  })

  it("never frees a view that was not lent, a read another PDU came from, or part of a buffer", () => {
    const parser = PduParser.make({ maxPduLength: 0, pdvViews: true })
    const tracker = ReceivedBytes.tracker()
    // not lent
    const a = pData(pattern(500), true)
    const one = parser.push(a)
    tracker.took(a, one.pdus, parser.buffered)
    const [kept] = dataViews(one.pdus)
    assert.strictEqual(freedBy(() => ReceivedBytes.release(kept!)).freed, 0)
    assert.deepStrictEqual(kept, pattern(500))
    // a read holding an A-RELEASE-RQ as well
    const b = concat([pData(pattern(500, 2)), releaseRq()])
    const two = parser.push(b)
    tracker.took(b, two.pdus, parser.buffered)
    assert.deepStrictEqual(
      two.pdus.map((p) => p._tag),
      ["PDataTf", "AReleaseRq"]
    )
    const [withRelease] = dataViews(two.pdus)
    ReceivedBytes.lend(withRelease!)
    assert.strictEqual(freedBy(() => ReceivedBytes.release(withRelease!)).freed, 0)
    assert.deepStrictEqual(withRelease, pattern(500, 2))
    // a read that is a view into a larger buffer
    const big = new Uint8Array(4096)
    big.set(pData(pattern(500, 3)), 100)
    const c = big.subarray(100, 100 + 512)
    const three = parser.push(c)
    tracker.took(c, three.pdus, parser.buffered)
    const [partial] = dataViews(three.pdus)
    ReceivedBytes.lend(partial!)
    assert.strictEqual(freedBy(() => ReceivedBytes.release(partial!)).freed, 0)
    assert.strictEqual(big.buffer.byteLength, 4096)
  })

  it.effect("a fragment the inflow copies counts as consumed; one it keeps stays until released", () =>
    Effect.gen(function* () {
      const parser = PduParser.make({ maxPduLength: 0, pdvViews: true })
      const tracker = ReceivedBytes.tracker()
      // a small PDV in a large read: the inflow keeps a copy of it
      const chunk = concat([pData(pattern(100)), pData(pattern(3876, 9))])
      assert.strictEqual(chunk.buffer.byteLength, 4000)
      const result = parser.push(chunk)
      assert.strictEqual(parser.buffered, 0)
      const views = dataViews(result.pdus)
      assert.deepStrictEqual(
        views.map((v) => v.length),
        [100, 3876]
      )
      tracker.took(chunk, result.pdus, parser.buffered)
      const inflow = Inflow.make(1 << 20)
      const small = freedBy(() => inflow.push(views[0]!))
      assert.strictEqual(small.freed, 0, "the large view is still out")
      inflow.push(views[1]!)
      inflow.end()
      const got = yield* Stream.runCollect(inflow.lentStream)
      assert.deepStrictEqual(got[0], pattern(100), "the copy")
      assert.strictEqual(got[1], views[1], "the large fragment is the view itself")
      assert.strictEqual(freedBy(() => ReceivedBytes.release(got[1]!)).freed, 1)
      assert.strictEqual(chunk.buffer.byteLength, 0)
      assert.deepStrictEqual(got[0], pattern(100), "the copy is intact")
    })
  )
})

// Stores `dataSet` through a 16 KiB maximum PDU into a handler; returns how many reads the SCP freed meanwhile.
const storeInto = (handler: (request: StoreRequest) => Effect.Effect<void, unknown>, dataSets: Array<Uint8Array>) =>
  Effect.gen(function* () {
    const storage = Layer.succeed(Scp.StorageService)({
      store: (request: StoreRequest) => Effect.as(Effect.orDie(handler(request)), { status: Status.SUCCESS })
    })
    const scpAe = yield* testAe({
      aeTitle: "NETDICOM-SCP",
      maxPduLength: 16384,
      contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]
    })
    const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(storage))
    const scuAe = yield* testAe({ aeTitle: "NETDICOM-SCU" })
    const channel = yield* Scu.connect(scuAe, {
      host: "127.0.0.1",
      port: server.port,
      calledAeTitle: "NETDICOM-SCP",
      contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]
    })
    const before = ReceivedBytes.freed()
    for (const [i, dataSet] of dataSets.entries()) {
      const r = yield* Scu.store(channel, {
        sopClassUid: CT,
        sopInstanceUid: `1.2.3.${i + 1}`,
        transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
        dataSet
      })
      assert.strictEqual(r.status, 0)
    }
    return ReceivedBytes.freed() - before
  })

const META = {
  transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
  sopClassUid: CT,
  implementationClassUid: "1.2.3"
}

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdicom-received-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

const dataSetOf = (file: string): Uint8Array => {
  const bytes = Fs.readFileSync(file)
  return new Uint8Array(bytes.subarray(bytes.length - 3_000_000))
}

describe("socket reads freed while a large instance is written", () => {
  it.live("Part10.writeFile of `dataSetLent` frees the reads as it writes, and the file is intact", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const bytes = pattern(3_000_000)
      const freed = yield* storeInto(
        (request) =>
          Part10.writeFile(
            Path.join(dir, `${request.sopInstanceUid}.dcm`),
            { ...META, sopInstanceUid: request.sopInstanceUid },
            request.dataSetLent
          ),
        [bytes]
      )
      assert.isAbove(freed, 10, "3 MB arrive in tens of reads at least")
      assert.deepStrictEqual(dataSetOf(Path.join(dir, "1.2.3.1.dcm")), bytes)
    })
  )

  it.live("a handler keeping what it reads from `dataSet` keeps it intact: no read of it is freed", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const kept: Array<ReadonlyArray<Uint8Array>> = []
      const dataSets = [pattern(3_000_000, 1), pattern(3_000_000, 2)]
      yield* storeInto(
        (request) =>
          Effect.gen(function* () {
            const chunks = yield* Stream.runCollect(request.dataSet)
            kept.push(chunks)
            // written from the same fragments (given as an array), which it keeps after the write
            yield* Part10.writeFile(
              Path.join(dir, `${request.sopInstanceUid}.dcm`),
              { ...META, sopInstanceUid: request.sopInstanceUid },
              chunks
            )
          }),
        dataSets
      )
      // no read holding the data set was freed (reads of commands alone may be: their command sets are copies)
      for (const view of kept.flat()) {
        assert.isFalse((view.buffer as ArrayBuffer & { readonly detached?: boolean }).detached === true)
      }
      assert.deepStrictEqual(concat(kept[0]!), dataSets[0])
      assert.deepStrictEqual(concat(kept[1]!), dataSets[1])
      assert.deepStrictEqual(dataSetOf(Path.join(dir, "1.2.3.2.dcm")), dataSets[1])
    })
  )

  it.live(
    "small data sets given whole, written and given back (releaseWhole): their reads are freed, commands and all",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const dataSets = Array.from({ length: 24 }, (_, i) => pattern(40_000, 10 + i))
        let whole = 0
        const freed = yield* storeInto(
          (request) =>
            Effect.gen(function* () {
              const received = request.dataSetReceived
              if (received === undefined) return yield* Effect.die("a 40 KB data set did not arrive whole")
              whole++
              yield* Part10.writeFile(
                Path.join(dir, `${request.sopInstanceUid}.dcm`),
                { ...META, sopInstanceUid: request.sopInstanceUid },
                received
              )
              ReceivedBytes.releaseWhole(received)
            }),
          dataSets
        )
        assert.strictEqual(whole, dataSets.length)
        // every read of the SCP holds a command (the C-STORE-RQ's) beside data: none was freed before commands were
        // given back once decoded; the SCU's reads of its responses are freed too
        assert.isAtLeast(freed, dataSets.length, `${freed} reads freed`)
        for (const [i, dataSet] of dataSets.entries()) {
          const file = Fs.readFileSync(Path.join(dir, `1.2.3.${i + 1}.dcm`))
          assert.deepStrictEqual(new Uint8Array(file.subarray(file.length - dataSet.length)), dataSet)
        }
      })
  )

  it.live("a small data set given whole is not lent: a handler keeping it keeps it intact", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const kept: Array<ReadonlyArray<Uint8Array>> = []
      const dataSets = [pattern(40_000, 3), pattern(40_000, 4), pattern(3_000_000, 5)]
      yield* storeInto(
        (request) =>
          Effect.gen(function* () {
            if (request.dataSetReceived !== undefined) kept.push(request.dataSetReceived)
            yield* Part10.writeFile(
              Path.join(dir, `${request.sopInstanceUid}.dcm`),
              { ...META, sopInstanceUid: request.sopInstanceUid },
              request.dataSetLent
            )
          }),
        dataSets
      )
      assert.strictEqual(kept.length, 2)
      assert.deepStrictEqual(concat(kept[0]!), dataSets[0])
      assert.deepStrictEqual(concat(kept[1]!), dataSets[1])
    })
  )
})

describe("socket reads of responses", () => {
  it.live("a C-FIND SCU gives back each response's reads once its identifier is copied out; every match intact", () =>
    Effect.gen(function* () {
      const matches = 400
      const query = Layer.succeed(Scp.QueryService)({
        find: () =>
          Stream.range(1, matches).pipe(
            Stream.map((i) => ({
              QueryRetrieveLevel: "STUDY",
              StudyInstanceUID: `1.2.3.${i}`,
              StudyDescription: `study ${i} ${"x".repeat(i % 50)}`
            }))
          )
      })
      const contexts = [{ abstractSyntax: SOP_CLASSES.study.find, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]
      const server = yield* Scp.serve(yield* testAe({ aeTitle: "NETDICOM-SCP", contexts }), { port: 0 }).pipe(
        Effect.provide(query)
      )
      const channel = yield* Scu.connect(yield* testAe({ aeTitle: "NETDICOM-SCU" }), {
        host: "127.0.0.1",
        port: server.port,
        calledAeTitle: "NETDICOM-SCP",
        contexts
      })
      const before = ReceivedBytes.freed()
      const got = yield* Stream.runCollect(
        Scu.find(channel, {
          model: "study",
          identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "", StudyDescription: "" }
        })
      )
      const freed = ReceivedBytes.freed() - before
      const identifiers = got.filter((r) => r.identifier !== undefined).map((r) => r.identifier!)
      assert.strictEqual(identifiers.length, matches)
      for (const [i, identifier] of identifiers.entries()) {
        assert.strictEqual(identifier["StudyInstanceUID"], `1.2.3.${i + 1}`)
        // (text is read back without its trailing spaces)
        assert.strictEqual(identifier["StudyDescription"], `study ${i + 1} ${"x".repeat((i + 1) % 50)}`.trimEnd())
      }
      // a read holds one response or several; none was freed while its identifier had to be copied first
      assert.isAbove(freed, 0, "no read of a response was freed")
    })
  )
})
