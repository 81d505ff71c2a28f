/**
 * A Storage Commitment Push Model SCP (PS3.4 Annex J) around a decision the user gives: which of the referenced
 * instances it commits to keep. It answers each N-ACTION (Action Type 1, J.3.2) and delivers the report, an
 * N-EVENT-REPORT of Event Type 1 (all committed) or 2 (failures, each with its Failure Reason), J.3.3:
 *
 * - on the association of the request, right after the N-ACTION-RSP, when that association is still open and we hold
 *   the SCP role for the SOP class on it;
 * - otherwise (the SCU released it, its A-RELEASE-RQ crossed the report, or it answered the report with a failure
 *   status: an SCU taking reports only on associations of ours answers 0x0122 or 0x0124), on a new
 *   association to the requester's address from `destinations`, looked up by its calling AE title (as C-MOVE
 *   destinations are), proposing the SCP role for this SOP class by role selection (J.3.3.1.2, PS3.7 D.3.3.4);
 * - a requester with no address there: the report is logged and dropped.
 *
 * Bounds: at most `maxReferences` instances per request and `maxOutstanding` reports under way at once; past either,
 * the N-ACTION is answered 0x0213 (resource limitation) and no report follows. A request whose Action Information is
 * not J.3.2's (or with a UID no report could carry) is answered 0x0110; one for another action type 0x0123 (no such
 * action); one naming another SOP instance than the well-known one 0x0112 (no such SOP instance). A request whose
 * Transaction UID is that of a report under way is answered Success and reported with every instance failed 0x0131
 * (duplicate transaction UID). A decision that dies counts
 * every instance failed, 0x0110 (processing failure). A report that cannot be delivered is logged, not retried.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import { Status } from "@netdicom/wire"
import type { ApplicationEntity } from "../association/ApplicationEntity.ts"
import type * as Tls from "../upper/Tls.ts"
import * as Normalized from "./Normalized.ts"
import * as Scu from "./Scu.ts"
import * as StorageCommitment from "./StorageCommitment.ts"

/** The most instances one request may reference by default: a larger request is answered 0x0213. */
export const DEFAULT_MAX_REFERENCES = 10_000
/** The most reports under way at once by default (decided, not yet delivered): more requests are answered 0x0213. */
export const DEFAULT_MAX_OUTSTANDING = 16

/** N-ACTION status 0x0213: resource limitation. */
const RESOURCE_LIMITATION = 0x0213
/** N-ACTION status 0x0123: no such action. */
const NO_SUCH_ACTION = 0x0123

/** Where a requester takes reports on an association of ours: its host and port, and TLS to reach it over TLS. */
export interface ReportDestination {
  readonly host: string
  readonly port: number
  readonly tls?: Tls.ClientOptions | undefined
}

/** What an instance decision gives: the instances committed, and those not with their Failure Reason. */
export interface Decision {
  readonly committed: ReadonlyArray<StorageCommitment.Reference>
  readonly failed: ReadonlyArray<StorageCommitment.Failure>
}

/** How the SCP decides and reports. */
export interface Options {
  /** Our AE, the calling one of a report sent on a new association (its AE title, max PDU and timeouts). */
  readonly ae: ApplicationEntity
  /**
   * Which of the references we commit to keep, and why not the others (PS3.4 J.3.3.1.2: 0x0112 no such object
   * instance, 0x0119 class/instance conflict, 0x0110 processing failure...). An instance it names in neither list
   * is reported failed, 0x0110.
   */
  readonly decide: (
    references: ReadonlyArray<StorageCommitment.Reference>,
    request: Normalized.NRequest
  ) => Effect.Effect<Decision>
  /** The address of a requester by its AE title, for a report that cannot go on the association of its request. */
  readonly destinations: (aeTitle: string) => Option.Option<ReportDestination>
  /** At most this many references per request (default `DEFAULT_MAX_REFERENCES`). */
  readonly maxReferences?: number
  /** At most this many reports under way at once (default `DEFAULT_MAX_OUTSTANDING`). */
  readonly maxOutstanding?: number
}

const TRANSFER_SYNTAXES = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]

// The report of `asked` as `decision` has it: every reference once, in the order asked, committed or failed; one
// the decision left out is failed with a processing failure.
const resultOf = (
  asked: StorageCommitment.CommitmentRequest,
  decision: Decision
): StorageCommitment.CommitmentResult => {
  const committed = new Set(decision.committed.map((r) => r.sopInstanceUid))
  const failed = new Map(decision.failed.map((f) => [f.sopInstanceUid, f.reason]))
  const result: { committed: Array<StorageCommitment.Reference>; failed: Array<StorageCommitment.Failure> } = {
    committed: [],
    failed: []
  }
  const seen = new Set<string>()
  for (const r of asked.references) {
    if (seen.has(r.sopInstanceUid)) continue
    seen.add(r.sopInstanceUid)
    const reason = failed.get(r.sopInstanceUid)
    if (reason === undefined && committed.has(r.sopInstanceUid)) result.committed.push(r)
    else result.failed.push({ ...r, reason: reason ?? StorageCommitment.PROCESSING_FAILURE })
  }
  return { transactionUid: asked.transactionUid, ...result }
}

/**
 * The N-ACTION handler of a Storage Commitment SCP; its reports on new associations run in the scope the SCP serves
 * in (`Normalized.ServingScope`, which `Scp.serve` gives its DIMSE-N handlers), or in `within` where there is none
 * (closing it interrupts those under way, all at once).
 */
export const handlers = (options: Options, within: Scope.Scope): Normalized.NHandlers => {
  // Reports under way are interrupted together as it closes, not one after another: each interrupted mid-association
  // waits up to a second for its socket to close, so a stop with 16 under way took 16 s.
  const scope = Scope.forkUnsafe(within, "parallel")
  // The same, one per server serving these handlers (a closed server's gives a closed child: reports dropped, said)
  const perServer = new WeakMap<Scope.Scope, Scope.Scope>()
  const reportsScope = (serving: Option.Option<Scope.Scope>): Scope.Scope => {
    if (Option.isNone(serving)) return scope
    let child = perServer.get(serving.value)
    if (child === undefined) {
      child = Scope.forkUnsafe(serving.value, "parallel")
      perServer.set(serving.value, child)
    }
    return child
  }
  const maxReferences = options.maxReferences ?? DEFAULT_MAX_REFERENCES
  const maxOutstanding = options.maxOutstanding ?? DEFAULT_MAX_OUTSTANDING
  let outstanding = 0
  // The Transaction UIDs of the reports under way
  const underWay = new Set<string>()

  const nAction: Normalized.NHandler = (rq) =>
    Effect.gen(function* () {
      if (rq.actionTypeId !== StorageCommitment.REQUEST_COMMITMENT) {
        yield* Effect.logWarning(`Storage Commitment N-ACTION of action type ${rq.actionTypeId} refused`)
        return { status: NO_SUCH_ACTION, errorComment: `no action type ${rq.actionTypeId}` }
      }
      // PS3.4 J.3.1: every request names the well-known instance; another is none we have
      if (rq.sopInstanceUid !== StorageCommitment.SOP_INSTANCE) {
        yield* Effect.logWarning(
          `Storage Commitment N-ACTION from ${rq.callingAeTitle} refused: ` +
            `SOP Instance ${rq.sopInstanceUid ?? "(none)"}, not ${StorageCommitment.SOP_INSTANCE}`
        )
        return { status: Status.NO_SUCH_SOP_INSTANCE, errorComment: `not ${StorageCommitment.SOP_INSTANCE}` }
      }
      const read = StorageCommitment.readActionInformation(rq.dataSet)
      if (Result.isFailure(read)) {
        yield* Effect.logWarning(`Storage Commitment request from ${rq.callingAeTitle} refused: ${read.failure.detail}`)
        return { status: Status.PROCESSING_FAILURE, errorComment: read.failure.detail }
      }
      const asked = read.success
      if (asked.references.length > maxReferences) {
        yield* Effect.logWarning(
          `Storage Commitment ${asked.transactionUid} from ${rq.callingAeTitle} refused: ` +
            `${asked.references.length} instances, over ${maxReferences}`
        )
        return { status: RESOURCE_LIMITATION, errorComment: `more than ${maxReferences} instances` }
      }
      if (outstanding >= maxOutstanding) {
        yield* Effect.logWarning(
          `Storage Commitment ${asked.transactionUid} from ${rq.callingAeTitle} refused: ` +
            `${outstanding} reports under way`
        )
        return { status: RESOURCE_LIMITATION, errorComment: "too many reports under way" }
      }
      // Counted from here until its report is delivered or dropped; a response that never went (the association
      // gone meanwhile: then the report is not attempted either) stops counting when the association ends.
      outstanding++
      // A Transaction UID already under way: its instances fail 0x0131 (J.3.3.1.2), undecided.
      const duplicate = underWay.has(asked.transactionUid)
      if (!duplicate) underWay.add(asked.transactionUid)
      let counted = true
      const done = () => {
        if (counted) {
          outstanding--
          if (!duplicate) underWay.delete(asked.transactionUid)
        }
        counted = false
      }
      const stopWatching = rq.channel.association.whenEnded(done)
      if (duplicate) {
        yield* Effect.logWarning(
          `Storage Commitment ${asked.transactionUid} from ${rq.callingAeTitle}: that transaction is already under ` +
            `way; every instance failed 0x0131 (duplicate transaction UID)`
        )
      }
      const decision = (): Effect.Effect<Decision> =>
        duplicate
          ? Effect.succeed({
              committed: [],
              failed: asked.references.map((r) => ({ ...r, reason: StorageCommitment.DUPLICATE_TRANSACTION_UID }))
            })
          : options.decide(asked.references, rq)
      const decided = yield* Effect.suspend(decision).pipe(
        Effect.catchDefect((defect) =>
          Effect.as(Effect.logError("the Storage Commitment decision failed", defect), {
            committed: [],
            failed: asked.references.map((r) => ({ ...r, reason: StorageCommitment.PROCESSING_FAILURE }))
          })
        ),
        Effect.onInterrupt(() => Effect.sync(done))
      )
      const result = resultOf(asked, decided)
      yield* Effect.logInfo(
        `Storage Commitment ${asked.transactionUid} from ${rq.callingAeTitle}: ` +
          `${result.committed.length} committed, ${result.failed.length} failed`
      )
      const report = StorageCommitment.eventInformation(result)
      const event = {
        sopClassUid: StorageCommitment.SOP_CLASS,
        sopInstanceUid: StorageCommitment.SOP_INSTANCE,
        eventTypeId: report.eventTypeId,
        dataSet: report.dataSet
      }
      const what = `Storage Commitment report ${asked.transactionUid} (event type ${report.eventTypeId})`

      // On a new association of ours to the requester, with the SCP role; run in the SCP's scope, so that the
      // requester's own release does not wait for it.
      const elsewhere = (why: string) =>
        Effect.gen(function* () {
          const destination = options.destinations(rq.callingAeTitle)
          if (Option.isNone(destination)) {
            return yield* Effect.logWarning(
              `${what} dropped: ${why}, and ${rq.callingAeTitle} has no known address (--peer)`
            )
          }
          const d = destination.value
          const sent = yield* Effect.scoped(
            Effect.flatMap(
              Scu.connect(options.ae, {
                host: d.host,
                port: d.port,
                ...(d.tls === undefined ? {} : { tls: d.tls }),
                calledAeTitle: rq.callingAeTitle,
                contexts: [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TRANSFER_SYNTAXES }],
                roles: [{ sopClassUid: StorageCommitment.SOP_CLASS, scu: false, scp: true }]
              }),
              (channel) => Normalized.nEventReport(channel, event)
            )
          ).pipe(Effect.result)
          // answered with a failure status: the requester has it, and refused it (not retried)
          if (Result.isSuccess(sent) && sent.success.category === "Failure") {
            return yield* Effect.logWarning(
              `${what} refused by ${rq.callingAeTitle} at ${d.host}:${d.port} on a new association: ` +
                `${sent.success.meaning} (${Status.format(sent.success.status)})`
            )
          }
          yield* Result.isSuccess(sent)
            ? Effect.logInfo(
                `${what} sent to ${rq.callingAeTitle} at ${d.host}:${d.port} on a new association: ` +
                  `${sent.success.meaning} (${Status.format(sent.success.status)})`
              )
            : Effect.logWarning(
                `${what} not delivered to ${rq.callingAeTitle} at ${d.host}:${d.port}: ${sent.failure.message}`
              )
        })

      // First on the association of the request: a request begun after the peer's A-RELEASE-RQ, or crossing it,
      // fails at once (it may not answer, PS3.8 Sta7), as does one on an association where we are not the SCP.
      const here = Effect.gen(function* () {
        stopWatching()
        const sent = yield* Effect.result(Normalized.nEventReport(rq.channel, event)).pipe(
          Effect.onInterrupt(() => Effect.sync(done))
        )
        if (Result.isSuccess(sent) && sent.success.category !== "Failure") {
          done()
          return yield* Effect.logInfo(
            `${what} sent on the association of the request: ${sent.success.meaning} ` +
              `(${Status.format(sent.success.status)})`
          )
        }
        // refused there (an SCU taking reports only on associations of ours answers 0x0122 or 0x0124): elsewhere
        const why = Result.isSuccess(sent)
          ? `refused on the association of the request (${Status.format(sent.success.status)})`
          : `not sent on the association of the request (${sent.failure.message})`
        yield* Effect.logDebug(`${what}: ${why}`)
        // A closed scope (the server stopping; or, handlers run outside `Scp.serve`, their layer's scope closed)
        // would get a fiber that never starts, its place never given back: said, and given back, here.
        const reports = reportsScope(yield* Effect.serviceOption(Normalized.ServingScope))
        if (reports.state._tag === "Closed") {
          done()
          return yield* Effect.logWarning(
            `${what} dropped: ${why}, and the Storage Commitment SCP's scope is closed (the server stopping, or its ` +
              `layer not provided for as long as it serves)`
          )
        }
        // its lines name the transaction and the requester, not the request's association (gone, or going)
        const fiber = yield* Effect.forkIn(
          Effect.ensuring(elsewhere(why), Effect.sync(done)).pipe(
            Effect.onInterrupt(() => Effect.logWarning(`${what} abandoned: the Storage Commitment SCP is stopping`)),
            Effect.provideService(References.CurrentLogAnnotations, {
              transaction: asked.transactionUid,
              requester: rq.callingAeTitle
            }),
            Effect.provideService(References.CurrentLogSpans, [])
          ),
          reports
        )
        // one interrupted before it started (the scope closing meanwhile) runs no `ensuring`
        fiber.addObserver(done)
      })
      return { status: Status.SUCCESS, afterResponse: here }
    })

  return { nAction }
}

/**
 * The `NormalizedService` serving Storage Commitment Push Model as `options` says. Its reports on new associations
 * run in the scope of the `Scp.serve` that received their requests and end with that server, so it may be provided
 * to `Scp.serve` alone; where its handlers run outside `Scp.serve`, in the layer's scope.
 */
export const layer = (options: Options): Layer.Layer<Normalized.NormalizedService> =>
  Layer.effect(
    Normalized.NormalizedService,
    Effect.map(Effect.scope, (scope) => {
      const served = handlers(options, scope)
      return Normalized.NormalizedService.of({
        handlersFor: (uid) => (uid === StorageCommitment.SOP_CLASS ? served : undefined)
      })
    })
  )
