/**
 * The Storage Commitment Push Model SOP class's data sets (PS3.4 Annex J): the N-ACTION-RQ's Action Information
 * (J.3.2.1.2) that asks the SCP to commit instances, and the N-EVENT-REPORT-RQ's Event Information (J.3.3.1.2) that
 * reports which it committed and which it did not, each with its Failure Reason.
 *
 * The exchange itself is `Normalized`'s: `nAction` with `actionInformation` from the SCU, and from the SCP
 * `nEventReport` with `eventInformation`, on the same association (an outcome's `afterResponse`) or on a new one it
 * opens with the SCP role for this SOP class (role selection, PS3.7 D.3.3.4), which the SCU accepts with the SCU role.
 *
 * @since 0.2.0
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"
import type * as DataSet from "../dimse/DataSet.ts"

/** Storage Commitment Push Model SOP Class UID. */
export const SOP_CLASS = "1.2.840.10008.1.20.1"
/** Its well-known SOP Instance UID, the one every request and report names (PS3.4 J.3.1). */
export const SOP_INSTANCE = "1.2.840.10008.1.20.1.1"
/** Action Type ID 1: Request Storage Commitment. */
export const REQUEST_COMMITMENT = 1
/** Event Type ID 1: Storage Commitment Request Successful (every instance committed). */
export const ALL_COMMITTED = 1
/** Event Type ID 2: Storage Commitment Request Complete - Failures Exist. */
export const FAILURES_EXIST = 2

/** Failure Reason (0008,1197) 0x0110: processing failure. */
export const PROCESSING_FAILURE = 0x0110
/** Failure Reason 0x0112: no such object instance. */
export const NO_SUCH_OBJECT_INSTANCE = 0x0112
/** Failure Reason 0x0119: class-instance conflict. */
export const CLASS_INSTANCE_CONFLICT = 0x0119
/** Failure Reason 0x0122: referenced SOP class not supported. */
export const SOP_CLASS_NOT_SUPPORTED = 0x0122
/** Failure Reason 0x0131: duplicate transaction UID. */
export const DUPLICATE_TRANSACTION_UID = 0x0131

/** An instance asked to be committed. */
export interface Reference {
  readonly sopClassUid: string
  readonly sopInstanceUid: string
}

/** An instance not committed, and why (a Failure Reason above). */
export interface Failure extends Reference {
  readonly reason: number
}

/** What a request asks: its transaction and the instances. */
export interface CommitmentRequest {
  readonly transactionUid: string
  readonly references: ReadonlyArray<Reference>
}

/** What a report says: its transaction, the instances committed and those that failed. */
export interface CommitmentResult {
  readonly transactionUid: string
  readonly committed: ReadonlyArray<Reference>
  readonly failed: ReadonlyArray<Failure>
}

/** A data set that is not the Action or Event Information PS3.4 J.3 describes. */
export class StorageCommitmentError extends Data.TaggedError("StorageCommitmentError")<{ readonly detail: string }> {
  override get message(): string {
    return `storage commitment: ${this.detail}`
  }
}

const referenceItem = (r: Reference) => ({
  ReferencedSOPClassUID: r.sopClassUid,
  ReferencedSOPInstanceUID: r.sopInstanceUid
})

/** The Action Information of an N-ACTION-RQ asking to commit `references` under `transactionUid`. */
export const actionInformation = (request: CommitmentRequest): DataSet.Naturalized => ({
  TransactionUID: request.transactionUid,
  ReferencedSOPSequence: request.references.map(referenceItem)
})

/** The Event Type ID and Event Information of the N-EVENT-REPORT-RQ reporting `result`. */
export const eventInformation = (
  result: CommitmentResult
): { readonly eventTypeId: number; readonly dataSet: DataSet.Naturalized } => ({
  eventTypeId: result.failed.length === 0 ? ALL_COMMITTED : FAILURES_EXIST,
  dataSet: {
    TransactionUID: result.transactionUid,
    ...(result.committed.length > 0 ? { ReferencedSOPSequence: result.committed.map(referenceItem) } : {}),
    ...(result.failed.length > 0
      ? { FailedSOPSequence: result.failed.map((f) => ({ ...referenceItem(f), FailureReason: f.reason })) }
      : {})
  }
})

const text = (v: unknown): string | undefined => {
  const s = Array.isArray(v) ? v[0] : v
  return typeof s === "string" && s.trim().length > 0 ? s.trim() : undefined
}

// A UID a report can echo as given: 1-64 digits and dots (PS3.5 9.1). Leading zeros, seen in the wild, pass.
const writableUid = (s: string): boolean => {
  const bare = s.replace(/\0+$/, "")
  return bare.length <= 64 && /^[0-9.]+$/.test(bare)
}

const isItem = (x: unknown): x is Readonly<Record<string, unknown>> =>
  typeof x === "object" && x !== null && !Array.isArray(x) && !ArrayBuffer.isView(x) && !(x instanceof ArrayBuffer)

// A sequence's items: none when it is absent; a value that is no sequence (another VR) is an error, not an empty list.
const items = (
  v: unknown,
  where: string
): Result.Result<ReadonlyArray<Readonly<Record<string, unknown>>>, StorageCommitmentError> => {
  if (v === undefined || v === null) return Result.succeed([])
  if (Array.isArray(v) && v.every(isItem)) return Result.succeed(v)
  return Result.fail(new StorageCommitmentError({ detail: `the ${where} is not a sequence` }))
}

const referencesIn = (
  v: unknown,
  where: string
): Result.Result<
  ReadonlyArray<Reference & { readonly item: Readonly<Record<string, unknown>> }>,
  StorageCommitmentError
> => {
  const all = items(v, where)
  if (Result.isFailure(all)) return Result.fail(all.failure)
  const out: Array<Reference & { readonly item: Readonly<Record<string, unknown>> }> = []
  for (const [i, item] of all.success.entries()) {
    const sopClassUid = text(item["ReferencedSOPClassUID"])
    const sopInstanceUid = text(item["ReferencedSOPInstanceUID"])
    if (sopClassUid === undefined || sopInstanceUid === undefined) {
      return Result.fail(
        new StorageCommitmentError({ detail: `item ${i + 1} of ${where} lacks its Referenced SOP Class/Instance UID` })
      )
    }
    out.push({ sopClassUid, sopInstanceUid, item })
  }
  return Result.succeed(out)
}

/**
 * Reads an N-ACTION-RQ's Action Information: the transaction and at least one instance, every UID 1-64 digits and
 * dots (the report echoes them all: one that is not could not be written in it, and the report would be lost).
 */
export const readActionInformation = (
  dataSet: DataSet.Naturalized | undefined
): Result.Result<CommitmentRequest, StorageCommitmentError> => {
  const transactionUid = text(dataSet?.["TransactionUID"])
  if (dataSet === undefined || transactionUid === undefined) {
    return Result.fail(new StorageCommitmentError({ detail: "no Transaction UID" }))
  }
  if (!writableUid(transactionUid)) {
    return Result.fail(new StorageCommitmentError({ detail: "a Transaction UID that is no UID" }))
  }
  return Result.flatMap(referencesIn(dataSet["ReferencedSOPSequence"], "Referenced SOP Sequence"), (refs) => {
    if (refs.length === 0) {
      return Result.fail(new StorageCommitmentError({ detail: "an empty Referenced SOP Sequence" }))
    }
    const bad = refs.findIndex((r) => !writableUid(r.sopClassUid) || !writableUid(r.sopInstanceUid))
    if (bad >= 0) {
      return Result.fail(
        new StorageCommitmentError({
          detail: `item ${bad + 1} of Referenced SOP Sequence has a Referenced SOP Class/Instance UID that is no UID`
        })
      )
    }
    return Result.succeed({
      transactionUid,
      references: refs.map(({ sopClassUid, sopInstanceUid }) => ({ sopClassUid, sopInstanceUid }))
    })
  })
}

/** Reads an N-EVENT-REPORT-RQ's Event Information: the transaction, what was committed and what failed. */
export const readEventInformation = (
  dataSet: DataSet.Naturalized | undefined
): Result.Result<CommitmentResult, StorageCommitmentError> => {
  const transactionUid = text(dataSet?.["TransactionUID"])
  if (dataSet === undefined || transactionUid === undefined) {
    return Result.fail(new StorageCommitmentError({ detail: "no Transaction UID" }))
  }
  const committed = referencesIn(dataSet["ReferencedSOPSequence"], "Referenced SOP Sequence")
  if (Result.isFailure(committed)) return Result.fail(committed.failure)
  const failed = referencesIn(dataSet["FailedSOPSequence"], "Failed SOP Sequence")
  if (Result.isFailure(failed)) return Result.fail(failed.failure)
  return Result.succeed({
    transactionUid,
    committed: committed.success.map(({ sopClassUid, sopInstanceUid }) => ({ sopClassUid, sopInstanceUid })),
    failed: failed.success.map(({ sopClassUid, sopInstanceUid, item }) => {
      const reason = Array.isArray(item["FailureReason"]) ? item["FailureReason"][0] : item["FailureReason"]
      return { sopClassUid, sopInstanceUid, reason: typeof reason === "number" ? reason : PROCESSING_FAILURE }
    })
  })
}
