/**
 * Storage Commitment data sets that lie, read by `StorageCommitment.readEventInformation` and
 * `readActionInformation`: a Failed SOP Sequence sent with another VR (a UI, an undefined-length UN) read as "no
 * failures" before (the report then said every instance committed); now a typed `StorageCommitmentError`. And a
 * fast-check run over arbitrary naturalized values and arbitrary bytes decoded first: the readers give a Result,
 * never throw.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as fc from "fast-check"
import { ApplicationEntity, DataSet, StorageCommitment } from "@netdicom/net"

const EXPLICIT = ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN
const IMPLICIT = ApplicationEntity.IMPLICIT_VR_LITTLE_ENDIAN

// An Explicit VR Little Endian element with a short-form VR.
const element = (group: number, elementNo: number, vr: string, value: Uint8Array): Buffer => {
  const h = Buffer.alloc(8)
  h.writeUInt16LE(group, 0)
  h.writeUInt16LE(elementNo, 2)
  h.write(vr, 4, "latin1")
  h.writeUInt16LE(value.length, 6)
  return Buffer.concat([h, value])
}
const uid = (s: string) => Buffer.from(s.length % 2 === 1 ? `${s}\0` : s, "latin1")

// An Explicit VR sequence of defined length holding `items` (each the bytes of its elements).
const sequence = (group: number, elementNo: number, items: ReadonlyArray<Buffer>): Buffer => {
  const body = Buffer.concat(
    items.map((item) => {
      const h = Buffer.alloc(8)
      h.writeUInt16LE(0xfffe, 0)
      h.writeUInt16LE(0xe000, 2)
      h.writeUInt32LE(item.length, 4)
      return Buffer.concat([h, item])
    })
  )
  const h = Buffer.alloc(12)
  h.writeUInt16LE(group, 0)
  h.writeUInt16LE(elementNo, 2)
  h.write("SQ", 4, "latin1")
  h.writeUInt32LE(body.length, 8)
  return Buffer.concat([h, body])
}

const reference = (instance: string) =>
  Buffer.concat([
    element(0x0008, 0x1150, "UI", uid("1.2.840.10008.5.1.4.1.1.2")),
    element(0x0008, 0x1155, "UI", uid(instance))
  ])

const decoded = (bytes: Buffer, ts = EXPLICIT) => Result.getOrThrow(DataSet.decode(new Uint8Array(bytes), ts))

describe("Storage Commitment data sets that lie", () => {
  it("a Failed SOP Sequence sent as a UI is an error, not a report without failures", () => {
    const bytes = Buffer.concat([
      sequence(0x0008, 0x1199, [reference("1.2.3.1")]),
      element(0x0008, 0x1195, "UI", uid("2.25.77")),
      element(0x0008, 0x1198, "UI", uid("1.2.3.2"))
    ])
    const read = StorageCommitment.readEventInformation(decoded(bytes))
    assert.isTrue(Result.isFailure(read), JSON.stringify(read))
    if (Result.isFailure(read)) assert.strictEqual(read.failure._tag, "StorageCommitmentError")
  })

  it("a Referenced SOP Sequence sent as a UI is an error for a report too", () => {
    const bytes = Buffer.concat([
      element(0x0008, 0x1195, "UI", uid("2.25.77")),
      element(0x0008, 0x1199, "UI", uid("1.2.3.1")),
      sequence(0x0008, 0x1198, [
        Buffer.concat([reference("1.2.3.2"), element(0x0008, 0x1197, "US", Buffer.from([0x12, 0x01]))])
      ])
    ])
    const read = StorageCommitment.readEventInformation(decoded(bytes))
    assert.isTrue(Result.isFailure(read), JSON.stringify(read))
  })

  it("a true report still reads: committed, failed with its reason", () => {
    const bytes = Buffer.concat([
      element(0x0008, 0x1195, "UI", uid("2.25.77")),
      sequence(0x0008, 0x1198, [
        Buffer.concat([reference("1.2.3.2"), element(0x0008, 0x1197, "US", Buffer.from([0x12, 0x01]))])
      ]),
      sequence(0x0008, 0x1199, [reference("1.2.3.1")])
    ])
    const read = Result.getOrThrow(StorageCommitment.readEventInformation(decoded(bytes)))
    assert.deepStrictEqual(
      [
        read.transactionUid,
        read.committed.map((r) => r.sopInstanceUid),
        read.failed.map((f) => [f.sopInstanceUid, f.reason])
      ],
      ["2.25.77", ["1.2.3.1"], [["1.2.3.2", 0x0112]]]
    )
  })

  it("the readers never throw on arbitrary naturalized values", () => {
    const value = fc.letrec((tie) => ({
      leaf: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.constant(undefined), fc.double(), fc.boolean()),
      node: fc.oneof({ depthSize: "small" }, tie("leaf"), fc.array(tie("node"), { maxLength: 4 }), tie("record")),
      record: fc.dictionary(
        fc.constantFrom(
          "TransactionUID",
          "ReferencedSOPSequence",
          "FailedSOPSequence",
          "ReferencedSOPClassUID",
          "ReferencedSOPInstanceUID",
          "FailureReason",
          "x"
        ),
        tie("node"),
        { maxKeys: 5 }
      )
    }))
    fc.assert(
      fc.property(value.record, (dataSet) => {
        const a = StorageCommitment.readActionInformation(dataSet as DataSet.Naturalized)
        const e = StorageCommitment.readEventInformation(dataSet as DataSet.Naturalized)
        return Result.isResult(a) && Result.isResult(e)
      }),
      { numRuns: 2000 }
    )
  })

  it("decode then read never throws on mutated report bytes, defined and undefined lengths", () => {
    const defined = Buffer.concat([
      element(0x0008, 0x1195, "UI", uid("2.25.77")),
      sequence(0x0008, 0x1198, [
        Buffer.concat([reference("1.2.3.2"), element(0x0008, 0x1197, "US", Buffer.from([0x12, 0x01]))])
      ]),
      sequence(0x0008, 0x1199, [reference("1.2.3.1"), reference("1.2.3.3")])
    ])
    // The same with the Referenced SOP Sequence and its items of undefined length.
    const item = (body: Buffer) =>
      Buffer.concat([
        Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff, 0xff]),
        body,
        Buffer.from([0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0])
      ])
    const undefinedLength = Buffer.concat([
      element(0x0008, 0x1195, "UI", uid("2.25.77")),
      Buffer.from([0x08, 0x00, 0x99, 0x11, 0x53, 0x51, 0, 0, 0xff, 0xff, 0xff, 0xff]),
      item(reference("1.2.3.1")),
      item(reference("1.2.3.3")),
      Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0])
    ])
    const sane = Result.getOrThrow(StorageCommitment.readEventInformation(decoded(undefinedLength)))
    assert.deepStrictEqual(
      sane.committed.map((r) => r.sopInstanceUid),
      ["1.2.3.1", "1.2.3.3"]
    )
    fc.assert(
      fc.property(
        fc.constantFrom(defined, undefinedLength),
        fc.array(fc.tuple(fc.nat(4095), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        fc.constantFrom(EXPLICIT, IMPLICIT),
        (base, edits, ts) => {
          const bytes = Buffer.from(base)
          for (const [at, v] of edits) bytes[at % bytes.length] = v
          const d = DataSet.decode(new Uint8Array(bytes), ts, { maxElements: 1000 })
          if (Result.isFailure(d)) return d.failure._tag === "DataSetError"
          return Result.isResult(StorageCommitment.readEventInformation(d.success))
        }
      ),
      { numRuns: 3000 }
    )
  })
})
