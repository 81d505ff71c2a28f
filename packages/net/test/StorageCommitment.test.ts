/** Storage Commitment's Action and Event Information (PS3.4 J.3.2.1.2, J.3.3.1.2): written, encoded, read back. */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as DataSet from "../src/dimse/DataSet.ts"
import * as StorageCommitment from "../src/services/StorageCommitment.ts"

const CT = "1.2.840.10008.5.1.4.1.1.2"
const refs = [
  { sopClassUid: CT, sopInstanceUid: "1.2.3.1" },
  { sopClassUid: CT, sopInstanceUid: "1.2.3.2" }
]
// Through the wire and back, in each syntax a context may have.
const overTheWire = (ds: DataSet.Naturalized, ts: string) =>
  Result.getOrThrow(DataSet.decode(Result.getOrThrow(DataSet.encode(ds, ts)), ts))

describe("StorageCommitment data sets", () => {
  it.each([EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN])("request and result survive encoding in %s", (ts) => {
    const request = { transactionUid: "2.25.1", references: refs }
    const action = overTheWire(StorageCommitment.actionInformation(request), ts)
    assert.deepStrictEqual(Result.getOrThrow(StorageCommitment.readActionInformation(action)), request)

    const result = {
      transactionUid: "2.25.1",
      committed: refs.slice(0, 1),
      failed: [{ ...refs[1]!, reason: StorageCommitment.NO_SUCH_OBJECT_INSTANCE }]
    }
    const event = StorageCommitment.eventInformation(result)
    assert.strictEqual(event.eventTypeId, StorageCommitment.FAILURES_EXIST)
    assert.deepStrictEqual(
      Result.getOrThrow(StorageCommitment.readEventInformation(overTheWire(event.dataSet, ts))),
      result
    )
    const all = StorageCommitment.eventInformation({ transactionUid: "2.25.1", committed: refs, failed: [] })
    assert.strictEqual(all.eventTypeId, StorageCommitment.ALL_COMMITTED)
    assert.isUndefined(all.dataSet["FailedSOPSequence"])
  })

  it("refuses what PS3.4 J.3 does not allow, as a StorageCommitmentError", () => {
    const detail = (r: Result.Result<unknown, StorageCommitment.StorageCommitmentError>) =>
      Result.isFailure(r) ? r.failure.detail : "accepted"
    assert.strictEqual(detail(StorageCommitment.readActionInformation(undefined)), "no Transaction UID")
    assert.strictEqual(
      detail(StorageCommitment.readActionInformation({ TransactionUID: "2.25.1", ReferencedSOPSequence: [] })),
      "an empty Referenced SOP Sequence"
    )
    assert.strictEqual(
      detail(
        StorageCommitment.readEventInformation({
          TransactionUID: "2.25.1",
          FailedSOPSequence: [{ ReferencedSOPClassUID: CT, FailureReason: 0x0112 }]
        })
      ),
      "item 1 of Failed SOP Sequence lacks its Referenced SOP Class/Instance UID"
    )
  })
})
