/**
 * A storage handler is called once a small data set has arrived in full and is given it whole
 * (`StoreRequest.dataSetReceived`), while a large one still reaches it as a stream while it arrives; and
 * `Part10.writeFile` writes a data set given whole.
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, References, Result, Stream } from "effect"
import { Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as Part10 from "../src/dimse/Part10.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import type { StoreRequest } from "../src/services/StoreHandler.ts"
import { CT, testAe } from "./support.ts"

interface Seen {
  readonly whole: Uint8Array | undefined
  readonly streamed: Uint8Array
}

const join = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => new Uint8Array(Buffer.concat(chunks))

// Stores `dataSet` through a 16 KiB maximum PDU and reports what the handler was given.
const storeThrough = (dataSet: Uint8Array) =>
  Effect.gen(function* () {
    const seen: Array<Seen> = []
    const storage = Layer.succeed(Scp.StorageService)({
      store: (request: StoreRequest) =>
        Effect.map(Effect.orDie(Stream.runCollect(request.dataSet)), (chunks) => {
          const received = request.dataSetReceived
          seen.push({ whole: received === undefined ? undefined : join(received), streamed: join(chunks) })
          return { status: Status.SUCCESS }
        })
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
    const r = yield* Scu.store(channel, {
      sopClassUid: CT,
      sopInstanceUid: "1.2.3.4",
      transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
      dataSet
    })
    assert.strictEqual(r.status, 0)
    assert.strictEqual(seen.length, 1)
    return seen[0]!
  })

const pattern = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff)

describe("a storage handler given a small data set whole", () => {
  it.live("a 40 KB data set in three PDUs arrives whole, and the stream yields the same bytes", () =>
    Effect.gen(function* () {
      const bytes = pattern(40_000)
      const seen = yield* storeThrough(bytes)
      assert.isDefined(seen.whole)
      assert.deepStrictEqual(seen.whole, bytes)
      assert.deepStrictEqual(seen.streamed, bytes)
    })
  )

  it.live("a 1 MB data set is not gathered: the handler streams it while it arrives", () =>
    Effect.gen(function* () {
      const bytes = pattern(1_000_000)
      const seen = yield* storeThrough(bytes)
      assert.isUndefined(seen.whole)
      assert.deepStrictEqual(seen.streamed, bytes)
    })
  )

  it.live("Part10.writeFile writes a data set given as fragments, as it would the same bytes streamed", () =>
    Effect.gen(function* () {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdicom-whole-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const meta = {
        transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
        sopClassUid: CT,
        sopInstanceUid: "1.2.3.4",
        implementationClassUid: "1.2.3"
      }
      const bytes = pattern(40_000)
      const fragments = [bytes.subarray(0, 16_000), bytes.subarray(16_000, 32_000), bytes.subarray(32_000)]
      const whole = yield* Part10.writeFile(Path.join(dir, "whole.dcm"), meta, fragments)
      const streamed = yield* Part10.writeFile(Path.join(dir, "streamed.dcm"), meta, Stream.fromIterable(fragments))
      assert.strictEqual(whole, 40_000)
      assert.strictEqual(streamed, 40_000)
      assert.deepStrictEqual(
        Fs.readFileSync(Path.join(dir, "whole.dcm")),
        Fs.readFileSync(Path.join(dir, "streamed.dcm"))
      )
      const large = pattern(1_500_000)
      const big = yield* Part10.writeFile(Path.join(dir, "large.dcm"), meta, [
        large.subarray(0, 700_000),
        large.subarray(700_000)
      ])
      assert.strictEqual(big, 1_500_000)
      assert.strictEqual(Fs.statSync(Path.join(dir, "large.dcm")).size, Part10.writeMeta(meta).length + 1_500_000)
    })
  )

  it.live("Part10.writeFileNow writes a data set given whole as it is called, the bytes writeFile writes", () =>
    Effect.gen(function* () {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdicom-now-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const meta = {
        transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
        sopClassUid: CT,
        sopInstanceUid: "1.2.3.4",
        implementationClassUid: "1.2.3"
      }
      const bytes = pattern(40_000)
      const fragments = [bytes.subarray(0, 16_000), bytes.subarray(16_000, 32_000), bytes.subarray(32_000)]
      const now = Part10.writeFileNow(Path.join(dir, "now.dcm"), meta, fragments)
      // written as it returned: no effect run
      assert.deepStrictEqual(now, Result.succeed(40_000))
      const later = yield* Part10.writeFile(Path.join(dir, "later.dcm"), meta, Stream.fromIterable(fragments))
      assert.strictEqual(later, 40_000)
      assert.deepStrictEqual(Fs.readFileSync(Path.join(dir, "now.dcm")), Fs.readFileSync(Path.join(dir, "later.dcm")))
      // above SYNC_WRITE_LIMIT: not written, left to writeFile
      const large = pattern(Part10.SYNC_WRITE_LIMIT + 2)
      assert.isUndefined(Part10.writeFileNow(Path.join(dir, "large.dcm"), meta, [large]))
      assert.isFalse(Fs.existsSync(Path.join(dir, "large.dcm")))
      // a folder that is not there: the failure, as writeFile gives it
      const failed = Part10.writeFileNow(Path.join(dir, "missing", "x.dcm"), meta, fragments)
      assert.isDefined(failed)
      assert.isTrue(Result.isFailure(failed!))
      if (Result.isFailure(failed!)) assert.strictEqual(failed.failure._tag, "FileWriteFailed")
    })
  )

  it.live("a handler's log lines carry the dimse span and the message's annotations, and the caller's own", () =>
    Effect.gen(function* () {
      const lines: Array<{ message: unknown; spans: ReadonlyArray<string>; annotations: Record<string, unknown> }> = []
      const capture = Logger.make(({ message, fiber }) => {
        lines.push({
          message,
          spans: fiber.getRef(References.CurrentLogSpans).map(([label]) => label),
          annotations: { ...fiber.getRef(References.CurrentLogAnnotations) }
        })
      })
      const storage = Layer.succeed(Scp.StorageService)({
        store: () => Effect.as(Effect.logWarning("storing"), { status: Status.SUCCESS })
      })
      const scpAe = yield* testAe({
        aeTitle: "NETDICOM-SCP",
        contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]
      })
      const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(
        Effect.provide(storage),
        Effect.annotateLogs({ server: "test" }),
        Effect.provide(Logger.layer([capture]))
      )
      const scuAe = yield* testAe({ aeTitle: "NETDICOM-SCU" })
      const channel = yield* Scu.connect(scuAe, {
        host: "127.0.0.1",
        port: server.port,
        calledAeTitle: "NETDICOM-SCP",
        contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]
      })
      const r = yield* Scu.store(channel, {
        sopClassUid: CT,
        sopInstanceUid: "1.2.3.4",
        transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
        dataSet: pattern(100)
      })
      assert.strictEqual(r.status, 0)
      const line = lines.find((l) => Array.isArray(l.message) && l.message.includes("storing"))
      assert.isDefined(line)
      assert.strictEqual(line!.spans[0], "dimse")
      assert.include(line!.annotations, { message: "C-STORE-RQ", messageId: 1, server: "test" })
    })
  )
})
