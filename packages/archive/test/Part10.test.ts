import * as Fs from "node:fs/promises"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { Archive } from "../src/Archive.ts"
import * as Header from "../src/Header.ts"
import { Part10 as NetPart10 } from "@netdicom/net"
import * as Part10 from "../src/Part10.ts"
import { IMPLICIT_LE, SC, part10, tempDir, withArchive } from "./fixtures.ts"

const dataset = {
  SpecificCharacterSet: "ISO_IR 192",
  SOPClassUID: SC,
  SOPInstanceUID: "5.1.1.1",
  StudyInstanceUID: "5.1",
  SeriesInstanceUID: "5.1.1",
  PatientID: "P10",
  PatientName: "File^Meta"
}

describe("Part10 (PS3.10 7.1)", () => {
  it("builds a File Meta Information group dcmjs reads back", () => {
    const meta = NetPart10.writeMeta({
      sopClassUid: SC,
      sopInstanceUid: "5.1.1.1",
      transferSyntaxUid: IMPLICIT_LE,
      implementationClassUid: "1.2.3.4",
      implementationVersionName: "NETDICOM_0.1",
      sourceAeTitle: "STORESCU"
    })
    const original = part10(dataset, IMPLICIT_LE)
    const offset = Part10.dataSetOffset(original)!
    const bare = original.subarray(offset)
    const file = new Uint8Array(meta.length + bare.length)
    file.set(meta)
    file.set(bare, meta.length)
    assert.strictEqual(Part10.dataSetOffset(file), meta.length)
    const parsed = Header.fromBytes(file)
    assert.isTrue(Result.isSuccess(parsed))
    if (Result.isSuccess(parsed)) {
      const h = parsed.success
      assert.strictEqual(h.transferSyntaxUid, IMPLICIT_LE)
      assert.strictEqual(h.meta["MediaStorageSOPInstanceUID"], "5.1.1.1")
      assert.strictEqual(h.meta["ImplementationVersionName"], "NETDICOM_0.1")
      assert.strictEqual(h.meta["SourceApplicationEntityTitle"], "STORESCU")
      assert.strictEqual(h.sopInstanceUid, "5.1.1.1")
      assert.strictEqual(h.dataSetOffset, meta.length)
    }
  })

  it("dataSetOffset refuses bytes without a preamble, DICM or group length first", () => {
    assert.isUndefined(Part10.dataSetOffset(new Uint8Array(10)))
    assert.isUndefined(Part10.dataSetOffset(new Uint8Array(200)))
  })

  it.effect("a bare data set stored behind writeMeta is sent back from dataSetOffset unchanged", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const original = part10(dataset, IMPLICIT_LE, 70_000)
      const bare = original.slice(Part10.dataSetOffset(original)!)
      async function* received() {
        yield NetPart10.writeMeta(options)
        for (let i = 0; i < bare.length; i += 16_384) yield bare.subarray(i, i + 16_384)
      }
      const options = {
        sopClassUid: SC,
        sopInstanceUid: "5.1.1.1",
        transferSyntaxUid: IMPLICIT_LE,
        implementationClassUid: "1.2.3.4"
      }
      const [item] = yield* withArchive(
        dir,
        Effect.gen(function* () {
          const archive = yield* Archive
          yield* archive.store(received(), { sopInstanceUid: "5.1.1.1" })
          return yield* archive.retrieve({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "5.1" })
        })
      )
      const file = new Uint8Array(yield* Effect.promise(() => Fs.readFile(item!.filePath)))
      assert.deepStrictEqual(file.subarray(item!.dataSetOffset), bare)
      assert.strictEqual(item!.transferSyntaxUid, IMPLICIT_LE)
    })
  )
})
