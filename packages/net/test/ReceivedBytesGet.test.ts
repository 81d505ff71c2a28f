/**
 * `ReceivedBytes` on the SCU side: a C-GET SCU receives its instances as C-STOREs on its own association, between
 * the C-GET-RSPs, and writes each with `Part10.writeFile(request.dataSetLent)`. Its reads are freed as they are
 * written, and every file holds exactly the bytes the SCP sent, whatever their sizes (a few bytes to megabytes) and
 * the PDU sizes negotiated.
 */
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as Part10 from "../src/dimse/Part10.ts"
import { SOP_CLASSES } from "../src/services/QueryRetrieve.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import * as ReceivedBytes from "../src/upper/ReceivedBytes.ts"
import { CT, connectGetScu, retrieveOf, testAe } from "./support.ts"

const tmp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdicom-received-get-"))
afterAll(() => Fs.rmSync(tmp, { recursive: true, force: true }))

const sha = (bytes: Uint8Array): string => Crypto.createHash("sha256").update(bytes).digest("hex")
// Even lengths: a sender pads an odd data set to even (PS3.5 7.1).
const SIZES = [2, 4, 62, 64, 66, 4094, 16_382, 16_384, 65_534, 65_536, 200_002, 1_048_578, 3_000_004, 8]

describe("ReceivedBytes on a C-GET SCU", () => {
  for (const maxPduLength of [4096, 16384, 262144]) {
    it.live(`instances written from dataSetLent arrive whole (SCU maximum PDU ${maxPduLength})`, () =>
      Effect.gen(function* () {
        const dir = Fs.mkdtempSync(Path.join(tmp, "run-"))
        const sent = SIZES.map((n, i) => new Uint8Array(Crypto.randomBytes(n)).map((b) => b ^ i))
        const retrieve = retrieveOf(sent)
        const scpAe = yield* testAe({
          aeTitle: "NETDICOM-SCP",
          contexts: [
            { abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] },
            { abstractSyntax: SOP_CLASSES.study.get!, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }
          ]
        })
        const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(retrieve))
        const before = ReceivedBytes.freed()
        const channel = yield* connectGetScu(
          server.port,
          (req) =>
            Part10.writeFile(
              Path.join(dir, `${req.sopInstanceUid}.dcm`),
              {
                transferSyntaxUid: req.transferSyntax,
                sopClassUid: req.sopClassUid,
                sopInstanceUid: req.sopInstanceUid,
                implementationClassUid: "1.2.3"
              },
              req.dataSetReceived ?? req.dataSetLent
            ).pipe(
              Effect.as({ status: Status.SUCCESS }),
              Effect.orElseSucceed(() => ({ status: 0xa700 }))
            ),
          { maxPduLength }
        )
        const all = yield* Stream.runCollect(
          Scu.get(channel, { model: "study", identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" } })
        )
        assert.strictEqual(all.at(-1)!.status, 0)
        assert.strictEqual(all.at(-1)!.completed, sent.length)
        assert.isAbove(ReceivedBytes.freed() - before, 0, "the SCU freed reads")
        for (const [i, bytes] of sent.entries()) {
          const file = Fs.readFileSync(Path.join(dir, `1.2.3.${i + 1}.dcm`))
          const got = new Uint8Array(file.subarray(file.length - bytes.length))
          assert.strictEqual(sha(got), sha(bytes), `instance ${i + 1} (${bytes.length} bytes)`)
        }
      })
    )
  }
})
