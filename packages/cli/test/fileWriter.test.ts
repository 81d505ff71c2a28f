/**
 * `netdicom get` writes what it receives (`fileWriter`) from the lent data set: the socket reads of a large instance
 * are freed as it is written (`ReceivedBytes.freed` rises), and every file holds exactly the bytes the SCP sent,
 * small (given whole) or large (streamed), at a small and a large maximum PDU.
 */
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Result, Stream } from "effect"
import { ApplicationEntity, QueryRetrieve, ReceivedBytes, Scp, Scu } from "@netdicom/net"
import { fileWriter } from "../src/FileWriter.ts"
import { retrieveOf } from "../../net/test/support.ts"

const CT = "1.2.840.10008.5.1.4.1.1.2"
const EXPLICIT = "1.2.840.10008.1.2.1"
const IMPLICIT = "1.2.840.10008.1.2"
const GET = QueryRetrieve.SOP_CLASSES.study.get!

const tmp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdicom-file-writer-"))
afterAll(() => Fs.rmSync(tmp, { recursive: true, force: true }))

const sha = (bytes: Uint8Array): string => Crypto.createHash("sha256").update(bytes).digest("hex")
// Even lengths: a sender pads an odd data set to even (PS3.5 7.1).
const SIZES = [8, 4094, 65_536, 1_048_578, 3_000_004]

const ae = (options: Parameters<typeof ApplicationEntity.make>[0]) => Result.getOrThrow(ApplicationEntity.make(options))

describe("netdicom get's file writer", () => {
  for (const maxPduLength of [16384, 262144]) {
    it.live(`frees the reads it has written, and writes every byte (SCU maximum PDU ${maxPduLength})`, () =>
      Effect.gen(function* () {
        const dir = Fs.mkdtempSync(Path.join(tmp, "run-"))
        const sent = SIZES.map((n, i) => new Uint8Array(Crypto.randomBytes(n)).map((b) => b ^ i))
        const retrieve = retrieveOf(sent)
        const contexts = [
          { abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
          { abstractSyntax: GET, transferSyntaxes: [IMPLICIT] }
        ]
        const server = yield* Scp.serve(ae({ aeTitle: "NETDICOM-SCP", contexts }), { port: 0 }).pipe(
          Effect.provide(retrieve)
        )
        const written = { count: 0 }
        const before = ReceivedBytes.freed()
        const channel = yield* Scu.connect(
          ae({
            aeTitle: "GET-SCU",
            maxPduLength,
            contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT], scu: true, scp: true }]
          }),
          {
            host: "127.0.0.1",
            port: server.port,
            calledAeTitle: "NETDICOM-SCP",
            contexts,
            roles: [{ sopClassUid: CT, scu: true, scp: true }],
            onStore: fileWriter(dir, written)
          }
        )
        const all = yield* Stream.runCollect(
          Scu.get(channel, { model: "study", identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" } })
        )
        assert.strictEqual(all.at(-1)!.status, 0)
        assert.strictEqual(written.count, sent.length)
        assert.isAbove(ReceivedBytes.freed() - before, 10, "reads freed as the large instances were written")
        for (const [i, bytes] of sent.entries()) {
          const file = Fs.readFileSync(Path.join(dir, `1.2.3.${i + 1}.dcm`))
          assert.strictEqual(file.subarray(128, 132).toString("latin1"), "DICM")
          const got = new Uint8Array(file.subarray(file.length - bytes.length))
          assert.strictEqual(sha(got), sha(bytes), `instance ${i + 1} (${bytes.length} bytes)`)
        }
        assert.deepStrictEqual(
          Fs.readdirSync(dir).filter((f) => f.endsWith(".tmp")),
          [],
          "no temporary file left"
        )
      }).pipe(Effect.scoped)
    )
  }

  it.effect("writes a data set given whole from its fragments, without reading the stream", () =>
    Effect.gen(function* () {
      const dir = Fs.mkdtempSync(Path.join(tmp, "whole-"))
      const fragments = [new Uint8Array([1, 2, 3, 4]), new Uint8Array(0), new Uint8Array(5000).fill(7)]
      const unread = Stream.die(new Error("read the stream of a data set given whole"))
      const written = { count: 0 }
      const outcome = yield* fileWriter(
        dir,
        written
      )({
        sopClassUid: CT,
        sopInstanceUid: "1.2.3.99",
        transferSyntax: EXPLICIT,
        callingAeTitle: "PEER",
        moveOriginator: undefined,
        dataSet: unread,
        dataSetLent: unread,
        dataSetReceived: fragments
      })
      assert.strictEqual(outcome.status, 0, outcome.errorComment)
      assert.strictEqual(written.count, 1)
      const file = new Uint8Array(Fs.readFileSync(Path.join(dir, "1.2.3.99.dcm")))
      assert.deepStrictEqual(file.subarray(file.length - 5004), new Uint8Array([1, 2, 3, 4, ...Array(5000).fill(7)]))
      assert.deepStrictEqual(Fs.readdirSync(dir), ["1.2.3.99.dcm"])
    })
  )
})
