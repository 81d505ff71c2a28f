/**
 * `Scu.storeFiles` and `Scu.storeFile` walk each file's data set before its C-STORE: a truncated file (small, loaded
 * whole, or large, streamed) fails as `FileNotSendable` and is never sent, so the peer neither aborts on it nor
 * waits for the rest of it, and the files after it are stored.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as DataSet from "../src/dimse/DataSet.ts"
import * as Part10 from "../src/dimse/Part10.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { CT, countingServices, testAe, type Served } from "./support.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-storefiles-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const file = (name: string, uid: string, pixels: number, cut: number) => {
  const meta = Part10.writeMeta({
    transferSyntaxUid: EXPLICIT_VR_LITTLE_ENDIAN,
    sopClassUid: CT,
    sopInstanceUid: uid,
    implementationClassUid: "1.2.826.0.1.3680043.9.7433.1.1",
    implementationVersionName: "NETDICOM_010"
  })
  const body = Result.getOrThrow(
    DataSet.encode(
      { SOPClassUID: CT, SOPInstanceUID: uid, PatientName: "DOE^JOHN", PixelData: new Uint8Array(pixels) },
      EXPLICIT_VR_LITTLE_ENDIAN
    )
  )
  const where = path.join(tmp, name)
  fs.writeFileSync(where, Buffer.concat([meta, body.subarray(0, body.length - cut)]))
  return where
}

describe("Scu.storeFiles checks each file before sending it", () => {
  it.live("truncated files, small and streamed, fail alone as FileNotSendable; the others are stored", () =>
    Effect.gen(function* () {
      const served: Served = { stored: 0, found: 0, retrieved: 0 }
      const scpAe = yield* testAe({
        aeTitle: "SCP",
        contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]
      })
      const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(countingServices(served)))
      const large = 2 * 1024 * 1024
      const paths = [
        file("small-cut.dcm", "1.2.3.1", 1000, 100),
        file("small.dcm", "1.2.3.2", 1000, 0),
        file("large-cut.dcm", "1.2.3.3", large, 1000),
        file("large.dcm", "1.2.3.4", large, 0)
      ]
      const channel = yield* Scu.connect(yield* testAe({ aeTitle: "SCU" }), {
        host: "127.0.0.1",
        port: server.port,
        calledAeTitle: "SCP",
        contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]
      })
      const results = yield* Scu.storeFiles(channel, paths)
      const outcome = results.map((r) =>
        Result.isSuccess(r.result) ? r.result.success.status : `${r.result.failure._tag} ${r.result.failure.message}`
      )
      assert.strictEqual(outcome[1], 0)
      assert.strictEqual(outcome[3], 0)
      for (const i of [0, 2]) assert.match(String(outcome[i]), /^FileNotSendable .*truncated/, String(outcome[i]))
      assert.strictEqual(served.stored, 2)
      const alone = yield* Effect.flip(Scu.storeFile(channel, paths[2]!))
      assert.strictEqual(alone._tag, "FileNotSendable")
      assert.strictEqual((yield* Scu.storeFile(channel, paths[3]!)).status, 0)
    })
  )
})

// A bare data set, without preamble, "DICM" or File Meta Information, as some exports and older tools write them.
const bare = (name: string, uid: string, transferSyntaxUid: string) => {
  const body = Result.getOrThrow(
    DataSet.encode({ SOPClassUID: CT, SOPInstanceUID: uid, PatientName: "DOE^JANE" }, transferSyntaxUid)
  )
  const where = path.join(tmp, name)
  fs.writeFileSync(where, body)
  return where
}

describe("Scu sends a bare data set as DCMTK's storescu does", () => {
  it.live(
    "its transfer syntax guessed from its first element; not DICOM at all, or sniff: false, FileNotSendable",
    () =>
      Effect.gen(function* () {
        const served: Served = { stored: 0, found: 0, retrieved: 0 }
        const syntaxes = [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN]
        const scpAe = yield* testAe({ aeTitle: "SCP", contexts: [{ abstractSyntax: CT, transferSyntaxes: syntaxes }] })
        const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(countingServices(served)))
        const explicit = bare("bare-explicit", "1.2.3.11", EXPLICIT_VR_LITTLE_ENDIAN)
        const implicit = bare("bare-implicit", "1.2.3.12", IMPLICIT_VR_LITTLE_ENDIAN)
        const text = path.join(tmp, "notes.txt")
        fs.writeFileSync(text, "not a DICOM file at all, only some words of text")

        const described = yield* Scu.describeFile(implicit)
        assert.strictEqual(described.transferSyntaxUid, IMPLICIT_VR_LITTLE_ENDIAN)
        assert.strictEqual(described.sopInstanceUid, "1.2.3.12")
        assert.isTrue(described.sniffed)
        assert.strictEqual((yield* Scu.describeFile(explicit)).transferSyntaxUid, EXPLICIT_VR_LITTLE_ENDIAN)

        const channel = yield* Scu.connect(yield* testAe({ aeTitle: "SCU" }), {
          host: "127.0.0.1",
          port: server.port,
          calledAeTitle: "SCP",
          contexts: syntaxes.map((ts) => ({ abstractSyntax: CT, transferSyntaxes: [ts] }))
        })
        const results = yield* Scu.storeFiles(channel, [explicit, implicit, text])
        const outcome = results.map((r) =>
          Result.isSuccess(r.result) ? r.result.success.status : `${r.result.failure._tag} ${r.result.failure.message}`
        )
        assert.deepStrictEqual(outcome.slice(0, 2), [0, 0])
        // a file that is no data set either keeps the missing meta as its reason
        assert.match(String(outcome[2]), /^FileNotSendable .*no File Meta Information/, String(outcome[2]))
        assert.strictEqual(served.stored, 2)
        assert.strictEqual((yield* Scu.storeFile(channel, implicit)).status, 0)
        assert.strictEqual(served.stored, 3)
        const refused = yield* Effect.flip(Scu.storeFile(channel, explicit, { sniff: false }))
        assert.strictEqual(refused._tag, "FileNotSendable")
        assert.match(refused.message, /no File Meta Information/)
        const none = yield* Scu.storeFiles(channel, [explicit], { sniff: false })
        assert.isTrue(Result.isFailure(none[0]!.result))
        assert.strictEqual(served.stored, 3)
      })
  )
})
