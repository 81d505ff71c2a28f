/**
 * A C-FIND asking the archive for private elements (`netdicom find -k 0009,0010`, or findscu's `-k 0009,1001`): the
 * index keeps their values but not their VRs, and a value the response would have to write as UN (a string, a
 * number) is not one dcmjs can write, so the SCP dropped the whole match ("1 match(es) could not be encoded",
 * 0xC000) and the query failed. Now such a key is answered zero-length, as an SCP that does not keep that attribute
 * answers it (PS3.4 C.4.1.1.3.2), and one the request gave a VR for is answered in that VR.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { type DataSet, Scu } from "@netdicom/net"
import { element, part10File, text } from "../support/elements.ts"
import { connectArchive, startArchiveScp } from "./archive-support.ts"

const SC = "1.2.840.10008.5.1.4.1.1.7"

const sl = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeInt32LE(n)
  return b
}

const instance = (sop: string): Uint8Array =>
  part10File(SC, sop, [
    text(8, 0x16, "UI", SC),
    text(8, 0x18, "UI", sop),
    text(9, 0x10, "LO", "ACME 1.0"),
    text(9, 0x1001, "SH", "ABC"),
    element(9, 0x1002, "SL", sl(862399669)),
    text(0x10, 0x10, "PN", "Private^Keys"),
    text(0x10, 0x20, "LO", "PRIV1"),
    text(0x20, 0x0d, "UI", "9.7"),
    text(0x20, 0x0e, "UI", "9.7.1")
  ])

const IMAGE = { QueryRetrieveLevel: "IMAGE", StudyInstanceUID: "9.7", SeriesInstanceUID: "9.7.1", SOPInstanceUID: "" }

// The archive SCP holding the instance, asked `identifier` over the wire: its responses.
const asked = (identifier: DataSet.Naturalized) =>
  Effect.scoped(
    Effect.gen(function* () {
      const scp = yield* startArchiveScp()
      yield* scp.archive.store(instance("9.7.1.1"))
      const channel = yield* connectArchive(scp.port)
      return yield* Stream.runCollect(Scu.find(channel, { model: "study", identifier }))
    })
  )

describe("C-FIND of private elements from the archive", () => {
  it.live("keys without a VR (UN): the match is answered, those keys zero-length", () =>
    Effect.gen(function* () {
      const responses = yield* asked({ ...IMAGE, "00090010": "", "00091001": "", "00091002": "" })
      const final = responses.at(-1)!
      assert.strictEqual(final.status, 0x0000, `${final.meaning} ${final.errorComment ?? ""}`)
      const matches = responses.flatMap((r) => (r.identifier === undefined ? [] : [r.identifier]))
      assert.strictEqual(matches.length, 1)
      assert.strictEqual(matches[0]!["SOPInstanceUID"], "9.7.1.1")
      for (const key of ["00090010", "00091001", "00091002"]) assert.include(["", null], matches[0]![key], key)
    })
  )

  it.live("keys the request gave a VR for: answered with their values in that VR", () =>
    Effect.gen(function* () {
      const responses = yield* asked({
        ...IMAGE,
        "00090010": "",
        "00091001": "",
        _vrMap: { "00090010": "LO", "00091001": "SH" }
      })
      const final = responses.at(-1)!
      assert.strictEqual(final.status, 0x0000, `${final.meaning} ${final.errorComment ?? ""}`)
      const match = responses[0]!.identifier!
      assert.strictEqual(match["00090010"], "ACME 1.0")
      assert.strictEqual(match["00091001"], "ABC")
    })
  )
})
