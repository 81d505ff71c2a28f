/**
 * A Modality Performed Procedure Step SCP (PS3.4 Annex F.7) keeping its steps in a store the user gives: the N-CREATE
 * and N-SET handlers of the MPPS SOP class, with the rules of `Mpps` and these (F.7.2):
 *
 * - N-CREATE of a step the store holds: 0x0111 (duplicate SOP instance). One naming no SOP Instance UID gets a new
 *   one (`2.25.` and 128 random bits), answered as the response's Affected SOP Instance UID.
 * - N-SET of a step it does not hold: 0x0112 (no such SOP instance); of a step COMPLETED or DISCONTINUED: 0x0110 with
 *   Error ID A710 and "Performed Procedure Step Object may no longer be updated" (Table F.7.2-2).
 * - N-CREATE naming a SOP Instance UID that is no UID: 0x0117 (invalid object instance).
 * - A store that fails: 0x0110, logged.
 * - A step that would be over `MAX_STEP_BYTES` encoded or `MAX_STEP_ELEMENTS` attributes and items (an N-SET adds to
 *   what the step holds: each may name new attributes): 0x0213 (resource limitation), the step kept as it was; one with
 *   a value that cannot be encoded (stored): 0x0106.
 *
 * Each step created or set is logged at Info (its UID, the calling AE title, its state, ID, patient and station) and
 * handed to `onChange` once stored. Requests are applied one at a time (the check and the write of one N-SET cannot
 * interleave with another's).
 *
 * Not here: MPPS Retrieve (N-GET) and Notification (N-EVENT-REPORT) SOP classes.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Semaphore from "effect/Semaphore"
import * as Result from "effect/Result"
import { Identifiers, Status } from "@netdicom/wire"
import * as DataSet from "../dimse/DataSet.ts"
import * as Mpps from "./Mpps.ts"
import * as Normalized from "./Normalized.ts"

/** A store failure, said in the log and answered 0x0110. */
export interface StoreFailure {
  readonly message: string
}

/** Where the steps are kept, by SOP Instance UID. */
export interface Store {
  /** The step's attributes, if held. */
  readonly get: (sopInstanceUid: string) => Effect.Effect<Option.Option<DataSet.Naturalized>, StoreFailure>
  /** Keeps a new step (the SCP checked first that none has its UID). */
  readonly create: (sopInstanceUid: string, step: StepRecord) => Effect.Effect<void, StoreFailure>
  /** Replaces a step's attributes with those after an N-SET. */
  readonly update: (sopInstanceUid: string, step: StepRecord) => Effect.Effect<void, StoreFailure>
}

/** A step as stored, with who sent it. */
export interface StepRecord {
  readonly attributes: DataSet.Naturalized
  readonly status: string
  readonly callingAeTitle: string
}

/** A step created or set, as `onChange` gets it. */
export interface Change extends StepRecord {
  readonly operation: "N-CREATE" | "N-SET"
  readonly sopInstanceUid: string
}

/** How the SCP keeps its steps. */
export interface Options {
  readonly store: Store
  /** Called once a step was created or set, and stored (a failure of its own is logged, not answered). */
  readonly onChange?: (change: Change) => Effect.Effect<void>
}

/** A store in memory (for tests, and SCPs that keep nothing across a restart). */
export const memoryStore = (): Store & { readonly steps: ReadonlyMap<string, StepRecord> } => {
  const steps = new Map<string, StepRecord>()
  return {
    steps,
    get: (uid) => Effect.sync(() => Option.fromNullishOr(steps.get(uid)?.attributes)),
    create: (uid, step) => Effect.sync(() => void steps.set(uid, step)),
    update: (uid, step) => Effect.sync(() => void steps.set(uid, step))
  }
}

/**
 * The most a step may hold, encoded in Explicit VR Little Endian: an N-SET's attributes are kept beside the step's
 * (8 MiB a request, `Normalized.MAX_N_DATA_SET_BYTES`), and each later request reads and writes the step whole.
 */
export const MAX_STEP_BYTES = 16 << 20

/**
 * The most attributes and sequence items a step may hold, at every level: dcmjs's encoder takes time growing with the
 * square of a data set's items (70,000 items: 6 s of event loop, every association of the server stalled), and each
 * N-SET encodes the step whole, twice (here and in the store): 1.4-1.7 s at this bound on a loaded 2-core machine.
 * 30,000 holds the Performed Series Sequence of a study of some 10,000 instances.
 */
export const MAX_STEP_ELEMENTS = 30_000

// The attributes and items of a data set, every level counted, stopping past `limit`.
const countElements = (attributes: DataSet.Naturalized, limit: number): number => {
  let count = 0
  const walk = (item: DataSet.Naturalized): void => {
    for (const [key, value] of Object.entries(item)) {
      if (count > limit) return
      if (key === "_vrMap") continue
      count++
      if (Array.isArray(value)) {
        for (const v of value) {
          if (typeof v === "object" && v !== null && !ArrayBuffer.isView(v) && !(v instanceof ArrayBuffer)) {
            count++
            walk(v as DataSet.Naturalized)
            if (count > limit) return
          }
        }
      }
    }
  }
  walk(attributes)
  return count
}

/** N-CREATE and N-SET status 0x0213: resource limitation (PS3.7 10.1.2.1.9, 10.1.5.1.6). */
const RESOURCE_LIMITATION = 0x0213

const EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"

// Why a step may not be kept as it would be, or undefined: a value that cannot be encoded (0x0106: the store would
// fail on it, answered 0x0110 and logged as the store's fault), or over MAX_STEP_BYTES (0x0213). Encoded as a store
// keeps it: text in UTF-8, whatever set it came in.
const unkeepable = (attributes: DataSet.Naturalized): Mpps.Refusal | undefined => {
  // counted first: encoding a step of too many items is the cost the bound is for
  if (countElements(attributes, MAX_STEP_ELEMENTS) > MAX_STEP_ELEMENTS) {
    return {
      status: RESOURCE_LIMITATION,
      errorComment: `the step would hold over ${MAX_STEP_ELEMENTS} attributes and items`,
      detail: `the step would hold over ${MAX_STEP_ELEMENTS} attributes and sequence items`
    }
  }
  const encoded = DataSet.encode({ ...attributes, SpecificCharacterSet: "ISO_IR 192" }, EXPLICIT_VR_LITTLE_ENDIAN)
  if (Result.isFailure(encoded)) {
    return {
      status: Mpps.INVALID_ATTRIBUTE_VALUE,
      errorComment: "a value cannot be kept as given",
      detail: `a value cannot be kept: ${encoded.failure.message}`
    }
  }
  if (encoded.success.length <= MAX_STEP_BYTES) return undefined
  return {
    status: RESOURCE_LIMITATION,
    errorComment: `the step would hold over ${MAX_STEP_BYTES >> 20} MiB`,
    detail: `the step would hold ${encoded.success.length} bytes, over ${MAX_STEP_BYTES}`
  }
}

/** N-CREATE status 0x0117: invalid object instance (a SOP Instance UID that is no UID). */
const INVALID_OBJECT_INSTANCE = 0x0117

// The refusal as answered. Its data set (the values at fault, PS3.7 C.4.3) goes only if it can be encoded in the
// request's transfer syntax: a value our encoder refuses (a CS status in Latin-1, "FINI\xe9") would otherwise turn
// the status into 0x0110 "the reply data set cannot be encoded"; the Error Comment names the attribute regardless.
const refused = (what: string, refusal: Mpps.Refusal, transferSyntax: string): Effect.Effect<Normalized.NOutcome> =>
  Effect.as(Effect.logWarning(`${what} refused: ${refusal.detail} (${Status.format(refusal.status)})`), {
    status: refusal.status,
    errorComment: refusal.errorComment,
    ...(refusal.attributeIdentifierList === undefined
      ? {}
      : { attributeIdentifierList: refusal.attributeIdentifierList }),
    ...(refusal.dataSet === undefined || Result.isFailure(DataSet.encode(refusal.dataSet, transferSyntax))
      ? {}
      : { dataSet: refusal.dataSet })
  })

const storeFailed = (what: string, failure: StoreFailure): Effect.Effect<Normalized.NOutcome> =>
  Effect.as(Effect.logError(`${what}: the store failed: ${failure.message}`), {
    status: Status.PROCESSING_FAILURE,
    errorComment: "the step could not be stored"
  })

/** The N-CREATE and N-SET handlers of an MPPS SCP on `options.store`. */
export const handlers = (options: Options): Normalized.NHandlers => {
  const lock = Semaphore.makeUnsafe(1)
  const changed = (change: Change): Effect.Effect<void> =>
    Effect.andThen(
      Effect.logInfo(
        `MPPS ${change.sopInstanceUid} ${change.operation === "N-CREATE" ? "created" : "set"} by ` +
          `${change.callingAeTitle}: ${Mpps.describe(change.attributes)}`
      ),
      options.onChange === undefined
        ? Effect.void
        : options
            .onChange(change)
            .pipe(
              Effect.catchCause((cause) => Effect.logWarning(`MPPS ${change.sopInstanceUid}: onChange failed`, cause))
            )
    )

  const nCreate: Normalized.NHandler = (rq) =>
    Effect.gen(function* () {
      const uid = rq.sopInstanceUid ?? Mpps.newUid()
      const what = `MPPS N-CREATE ${uid} from ${rq.callingAeTitle}`
      // a store may name files by it (`qrscp --mpps-dir`): nothing but a UID
      if (Result.isFailure(Identifiers.uid(uid))) {
        const comment = "the SOP Instance UID is no UID"
        return yield* refused(
          what,
          { status: INVALID_OBJECT_INSTANCE, errorComment: comment, detail: comment },
          rq.transferSyntax
        )
      }
      const given = rq.dataSet ?? {}
      const refusal = Mpps.checkCreate(given)
      if (refusal !== undefined) return yield* refused(what, refusal, rq.transferSyntax)
      const attributes: DataSet.Naturalized = {
        ...given,
        SOPClassUID: Mpps.SOP_CLASS,
        SOPInstanceUID: uid
      }
      const unfit = unkeepable(attributes)
      if (unfit !== undefined) return yield* refused(what, unfit, rq.transferSyntax)
      const held = yield* Effect.result(options.store.get(uid))
      if (held._tag === "Failure") return yield* storeFailed(what, held.failure)
      if (Option.isSome(held.success)) {
        const state = Mpps.statusOf(held.success.value) ?? "no status"
        return yield* refused(
          what,
          {
            status: Mpps.DUPLICATE_SOP_INSTANCE,
            errorComment: `the step exists (${state.slice(0, 16)})`,
            detail: `the step exists (${state})`
          },
          rq.transferSyntax
        )
      }
      const record = { attributes, status: Mpps.IN_PROGRESS, callingAeTitle: rq.callingAeTitle }
      const stored = yield* Effect.result(options.store.create(uid, record))
      if (stored._tag === "Failure") return yield* storeFailed(what, stored.failure)
      yield* changed({ ...record, operation: "N-CREATE", sopInstanceUid: uid })
      return { status: Status.SUCCESS, sopInstanceUid: uid }
    }).pipe(lock.withPermits(1))

  const nSet: Normalized.NHandler = (rq) =>
    Effect.gen(function* () {
      const uid = rq.sopInstanceUid ?? ""
      const what = `MPPS N-SET ${uid} from ${rq.callingAeTitle}`
      const held = yield* Effect.result(options.store.get(uid))
      if (held._tag === "Failure") return yield* storeFailed(what, held.failure)
      if (Option.isNone(held.success)) {
        const comment = "no such Performed Procedure Step"
        return yield* refused(
          what,
          { status: Status.NO_SUCH_SOP_INSTANCE, errorComment: comment, detail: comment },
          rq.transferSyntax
        )
      }
      const current = held.success.value
      const state = Mpps.statusOf(current) ?? ""
      if (Mpps.FINAL_STATES.has(state)) {
        yield* Effect.logWarning(`${what} refused: the step is ${state} (0x0110, Error ID A710)`)
        return {
          status: Status.PROCESSING_FAILURE,
          errorId: Mpps.NO_LONGER_UPDATED_ID,
          errorComment: Mpps.NO_LONGER_UPDATED_COMMENT
        }
      }
      const modification = rq.dataSet ?? {}
      const refusal = Mpps.checkSet(current, modification)
      if (refusal !== undefined) return yield* refused(what, refusal, rq.transferSyntax)
      const attributes = Mpps.applySet(current, modification)
      const unfit = unkeepable(attributes)
      if (unfit !== undefined) return yield* refused(what, unfit, rq.transferSyntax)
      const record = {
        attributes,
        status: Mpps.statusOf(attributes) ?? Mpps.IN_PROGRESS,
        callingAeTitle: rq.callingAeTitle
      }
      const stored = yield* Effect.result(options.store.update(uid, record))
      if (stored._tag === "Failure") return yield* storeFailed(what, stored.failure)
      yield* changed({ ...record, operation: "N-SET", sopInstanceUid: uid })
      return { status: Status.SUCCESS }
    }).pipe(lock.withPermits(1))

  return { nCreate, nSet }
}

/** The `NormalizedService` serving the MPPS SOP class as `options` says. */
export const layer = (options: Options): Layer.Layer<Normalized.NormalizedService> =>
  Normalized.layer({ [Mpps.SOP_CLASS]: handlers(options) })
