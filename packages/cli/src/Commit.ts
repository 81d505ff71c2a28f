/**
 * `netdicom commit`: Storage Commitment Push Model as SCU (PS3.4 Annex J). Asks the peer to commit the instances of
 * files and folders (one N-ACTION-RQ, Request Storage Commitment, under a new Transaction UID) and waits for its
 * N-EVENT-REPORT: on the same association, or, with `--listen PORT`, on a new one the peer opens to us (J.3.3). Each
 * instance is printed committed or failed (with the reason the peer gave); the exit code is 0 only when every one
 * was committed.
 *
 * Not here: the instances are not sent (`netdicom store` does that first); the peer must know where we listen (its
 * own table of AE titles), as PS3.4 leaves it.
 *
 * @since 0.1.0
 */
import { randomBytes } from "node:crypto"
import * as Console from "effect/Console"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { Argument, Command, Flag } from "effect/cli"
import { ApplicationEntity, Normalized, Scp, Scu, StorageCommitment } from "@netdicom/net"
import { Status } from "@netdicom/wire"
import { checkPort } from "./Client.ts"
import * as Files from "./Files.ts"
import * as TlsFlags from "./TlsFlags.ts"
import { applicationEntity, common, fail, listenHostFlag, peerTitle, printable, withLogging } from "./Options.ts"

const TRANSFER_SYNTAXES = [ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN, ApplicationEntity.IMPLICIT_VR_LITTLE_ENDIAN]

// Storage Commitment as SCU, and as SCP of its reports on an association the peer opens (role selection, J.3.3).
const CONTEXTS = [
  { abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TRANSFER_SYNTAXES, scu: true, scp: true }
]

/** A new Transaction UID: `2.25.` and 128 random bits as a decimal number (PS3.5 B.2). */
export const newTransactionUid = (): string => `2.25.${BigInt(`0x${randomBytes(16).toString("hex")}`).toString()}`

// The reason a report gives for an instance it did not commit, as PS3.4 J.3.3.1 names it.
const REASONS: Readonly<Record<number, string>> = {
  [StorageCommitment.PROCESSING_FAILURE]: "processing failure",
  [StorageCommitment.NO_SUCH_OBJECT_INSTANCE]: "no such object instance",
  [StorageCommitment.CLASS_INSTANCE_CONFLICT]: "class/instance conflict",
  [StorageCommitment.SOP_CLASS_NOT_SUPPORTED]: "SOP class not supported",
  [StorageCommitment.DUPLICATE_TRANSACTION_UID]: "duplicate transaction UID",
  0x0213: "resource limitation",
  0x0214: "referenced SOP class not supported"
}

/**
 * `ae` with an idle timeout past the wait for the report: a requestor's association idle for `timeouts.idle` is
 * released, and the report that may still come on it with it.
 */
export const withIdleBeyond = (
  ae: ApplicationEntity.ApplicationEntity,
  waitSeconds: number
): ApplicationEntity.ApplicationEntity => {
  const idle = Duration.seconds(waitSeconds + 60)
  return Duration.isGreaterThan(ae.timeouts.idle, idle) ? ae : { ...ae, timeouts: { ...ae.timeouts, idle } }
}

const reasonText = (reason: number): string => `${REASONS[reason] ?? "failure"} (${Status.format(reason)})`

const commit = Command.make(
  "commit",
  {
    host: Argument.String("host").pipe(Argument.withDescription("the peer's host name or address")),
    port: Argument.Int("port").pipe(Argument.withDescription("the peer's TCP port")),
    paths: Argument.String("path").pipe(
      Argument.withDescription(
        "files and folders whose instances to commit (walked recursively, hidden entries skipped)"
      ),
      Argument.variadic({ min: 1 })
    ),
    listen: Flag.Int("listen").pipe(
      Flag.withDescription(
        "also take the report on a new association the peer opens to us on this port (as our --aet, on " +
          "--listen-host; plain TCP unless --listen-tls); without it the report must come on the association of " +
          "the request"
      ),
      Flag.optional
    ),
    listenHost: listenHostFlag,
    listenTls: TlsFlags.listenTls,
    wait: Flag.Int("wait").pipe(
      Flag.withDescription("seconds to wait for the report after the peer answered the request (default 60)"),
      Flag.withDefault(60)
    ),
    ...common
  },
  (c) =>
    Effect.gen(function* () {
      if (c.wait < 1) return yield* fail(`--wait must be at least 1 second, not ${c.wait}`)
      const peer = {
        host: c.host,
        port: yield* checkPort(c.port),
        calledAeTitle: yield* peerTitle(c.aec),
        // over TLS with any --tls-* flag, as every client: they were taken and left unused, the request went in clear
        tls: yield* TlsFlags.clientTls(c).pipe(Effect.catch((e) => fail(e.message)))
      }
      const listen = Option.isSome(c.listen) ? Option.some(yield* checkPort(c.listen.value)) : Option.none<number>()
      if (Option.isNone(listen) && c.listenTls) return yield* fail("--listen-tls is for --listen PORT")
      const listenerTls = yield* TlsFlags.listenerTls(c).pipe(Effect.catch((e) => fail(e.message)))
      const ae = withIdleBeyond(yield* applicationEntity(c, CONTEXTS), c.wait)
      const { files, missing, skipped } = yield* Files.collect(c.paths)
      for (const s of skipped) yield* Console.error(`SKIPPED ${printable(s.path)}: ${printable(s.reason)}`)
      let failed = 0
      for (const m of missing) {
        yield* Console.error(`FAILED ${printable(m.path)}: ${printable(m.reason)}`)
        failed++
      }
      // the instances asked for, each with the file it came from (the first, when several files hold one instance)
      const paths = new Map<string, string>()
      const references: Array<StorageCommitment.Reference> = []
      for (const path of files) {
        const r = yield* Effect.result(Files.inspect(path))
        if (Result.isFailure(r)) {
          yield* Console.error(`FAILED ${printable(path)}: ${printable(r.failure.reason)}`)
          failed++
          continue
        }
        const first = paths.get(r.success.sopInstanceUid)
        if (first !== undefined) {
          yield* Console.error(
            `SKIPPED ${printable(path)}: the same instance (${printable(r.success.sopInstanceUid)}) as ` +
              `${printable(first)}, asked for once`
          )
          continue
        }
        paths.set(r.success.sopInstanceUid, path)
        references.push({ sopClassUid: r.success.sopClassUid, sopInstanceUid: r.success.sopInstanceUid })
      }
      if (references.length === 0) return yield* fail(`no instances to commit in ${c.paths.join(", ")}`)
      const transactionUid = newTransactionUid()

      // The report of our transaction, whichever association brings it; one of another transaction is answered and
      // ignored (logged).
      const reported = yield* Deferred.make<StorageCommitment.CommitmentResult>()
      const onReport: Normalized.NHandler = (rq) =>
        Effect.gen(function* () {
          const read = StorageCommitment.readEventInformation(rq.dataSet)
          if (Result.isFailure(read)) {
            yield* Effect.logWarning(`N-EVENT-REPORT from ${rq.callingAeTitle} not understood: ${read.failure.detail}`)
            return { status: 0x0110, errorComment: read.failure.detail.slice(0, 64) }
          }
          if (read.success.transactionUid !== transactionUid) {
            yield* Effect.logWarning(`N-EVENT-REPORT for another transaction (${read.success.transactionUid}) ignored`)
            return { status: Status.SUCCESS }
          }
          yield* Deferred.succeed(reported, read.success)
          return { status: Status.SUCCESS }
        })

      // The association stays open until the report came (on it, or on the listener's) or the wait is over: a peer
      // reporting on it right after its N-ACTION-RSP would meet our A-RELEASE-RQ otherwise.
      const outcome = yield* Effect.scoped(
        Effect.gen(function* () {
          if (Option.isSome(listen)) {
            const tls = listenerTls === undefined ? {} : { tls: listenerTls }
            yield* Scp.serve(ae, { host: c.listenHost, port: listen.value, policy: {}, ...tls }).pipe(
              Effect.provide(Normalized.layer({ [StorageCommitment.SOP_CLASS]: { nEventReport: onReport } })),
              Effect.catchTag("ListenFailed", (e) =>
                fail(`cannot listen on ${c.listenHost}:${listen.value}: ${e.detail}`)
              )
            )
          }
          const channel = yield* Scu.connect(ae, { ...peer, contexts: CONTEXTS, onEventReport: onReport })
          const response = yield* Scu.nAction(channel, {
            sopClassUid: StorageCommitment.SOP_CLASS,
            sopInstanceUid: StorageCommitment.SOP_INSTANCE,
            actionTypeId: StorageCommitment.REQUEST_COMMITMENT,
            dataSet: StorageCommitment.actionInformation({ transactionUid, references })
          })
          yield* Console.error(
            `N-ACTION (${references.length} instance(s), transaction ${transactionUid}): ` +
              `${response.meaning} (${Status.format(response.status)})` +
              (response.errorComment ? `: ${printable(response.errorComment.trim())}` : "")
          )
          if (response.category !== "Success" && response.category !== "Warning") return "refused" as const
          // Without --listen the report can only come on this association: once it has ended (the peer aborted it),
          // none will, and waiting out --wait would only hide why. A report that arrived just before the end is
          // still taken (its handler may be finishing as the abort comes).
          const gone = Option.isSome(listen)
            ? Effect.never
            : Effect.flatMap(channel.association.ended, (ending) =>
                Effect.map(Deferred.await(reported).pipe(Effect.timeoutOption("1 second")), (report) =>
                  Option.isSome(report) ? report.value : { ended: ending }
                )
              )
          const report = yield* Effect.raceFirst(Deferred.await(reported), gone).pipe(
            Effect.timeoutOption(`${c.wait} seconds`)
          )
          return Option.isSome(report) ? report.value : ("no report" as const)
        })
      )
      if (typeof outcome === "object" && "ended" in outcome) {
        yield* Console.log(`0 committed, ${references.length + failed} failed`)
        return yield* fail(
          `no N-EVENT-REPORT for transaction ${transactionUid}: the association ended before it came (` +
            (outcome.ended._tag === "Aborted" ? outcome.ended.error.message : "released") +
            ")"
        )
      }
      if (outcome === "refused") {
        yield* Console.log(`0 committed, ${references.length + failed} failed`)
        return yield* fail(`${references.length} instance(s) not committed: the peer refused the request`)
      }
      if (outcome === "no report") {
        yield* Console.log(`0 committed, ${references.length + failed} failed`)
        return yield* fail(
          `no N-EVENT-REPORT for transaction ${transactionUid} within ${c.wait} s` +
            (Option.isNone(listen) ? " (if the peer reports on a new association, give --listen PORT)" : "")
        )
      }
      const report = outcome
      // One line per instance asked for, as the report answers it. A report naming an instance both committed and
      // failed, or committed under another SOP class than asked, does not commit it; instances it names more than
      // once count once; instances it names that were not asked for are said (stderr) and not counted.
      const asked = new Map(references.map((r) => [r.sopInstanceUid, r.sopClassUid]))
      const committedAs = new Map<string, string>()
      for (const r of report.committed)
        if (!committedAs.has(r.sopInstanceUid)) committedAs.set(r.sopInstanceUid, r.sopClassUid)
      const failures = new Map<string, StorageCommitment.Failure>()
      for (const f of report.failed) if (!failures.has(f.sopInstanceUid)) failures.set(f.sopInstanceUid, f)
      let committed = 0
      for (const r of references) {
        const path = printable(paths.get(r.sopInstanceUid) ?? "")
        const failure = failures.get(r.sopInstanceUid)
        const sopClass = committedAs.get(r.sopInstanceUid)
        if (failure !== undefined) {
          const both = sopClass === undefined ? "" : " (the report also lists it as committed)"
          yield* Console.log(`FAILED ${r.sopInstanceUid} ${path}: ${reasonText(failure.reason)}${both}`)
          failed++
        } else if (sopClass === undefined) {
          yield* Console.log(`FAILED ${r.sopInstanceUid} ${path}: not in the report`)
          failed++
        } else if (sopClass !== r.sopClassUid) {
          yield* Console.log(
            `FAILED ${r.sopInstanceUid} ${path}: reported committed as SOP class ${printable(sopClass)}, ` +
              `asked as ${r.sopClassUid}`
          )
          failed++
        } else {
          yield* Console.log(`COMMITTED ${r.sopInstanceUid} ${path}`)
          committed++
        }
      }
      for (const uid of new Set([...committedAs.keys(), ...failures.keys()])) {
        if (!asked.has(uid)) yield* Console.error(`IGNORED ${printable(uid)}: in the report, not asked for`)
      }
      yield* Console.log(`${committed} committed, ${failed} failed`)
      if (failed > 0) return yield* fail("")
    }).pipe(withLogging(c, "client"))
).pipe(
  Command.withDescription(
    "Storage Commitment: ask the peer to commit the instances of files and folders, print each committed or " +
      "failed (exit 0 when all were committed)"
  )
)

/** The Storage Commitment subcommand. */
export const commands = [commit] as const
