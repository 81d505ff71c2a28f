/**
 * The SCU subcommands of `netdicom`: `echo` (C-ECHO, PS3.4 Annex A), `store` (C-STORE, Annex B), `find`
 * (C-FIND, C.4.1), `get` (C-GET, C.4.3) and `move` (C-MOVE, C.4.2), each over one association.
 *
 * Statuses are reported as the standard names them; a command exits 0 only when every operation succeeded.
 * Matches of `find` are printed one per line in the DICOM JSON Model (PS3.18 F.2); everything else a command
 * says goes to stderr, except the summary lines of `store`, `get` and `move`.
 *
 * @since 0.1.0
 */
import * as FsSync from "node:fs"
import * as Path from "node:path"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Argument, Command, Flag } from "effect/cli"
import { DimseError, Negotiation, Part10, QueryRetrieve, Scu, Signals, Transcode, type DataSet } from "@netdicom/net"
import type { DimseChannel, RejectedContext, Tls } from "@netdicom/net"
import { InstanceStore, TempFiles } from "@netdicom/archive"
import { type Identifiers, Status, Uids } from "@netdicom/wire"
import * as Contexts from "./Contexts.ts"
import * as DicomJson from "./DicomJson.ts"
import * as FileWriter from "./FileWriter.ts"
import * as Files from "./Files.ts"
import * as Keys from "./Keys.ts"
import * as MoveReceiver from "./MoveReceiver.ts"
import {
  applicationEntity,
  causeText,
  common,
  fail,
  listenHostFlag,
  peerTitle,
  printable,
  withLogging,
  type CommandFailed,
  type Common
} from "./Options.ts"
import * as TlsFlags from "./TlsFlags.ts"

const host = Argument.String("host").pipe(Argument.withDescription("the peer's host name or address"))
const port = Argument.Int("port").pipe(Argument.withDescription("the peer's TCP port"))
const keys = Flag.String("key").pipe(
  Flag.withAlias("k"),
  Flag.withDescription(
    "a key, Keyword=Value or gggg,eeee=Value (no value: return it; A\\B: any of several values; " +
      "Sequence.Keyword=Value: a key inside the sequence's item, Sequence[1].Keyword=Value in its second); repeat " +
      "for more, each key once"
  ),
  Flag.atLeast(0)
)
const level = Flag.String("level").pipe(
  Flag.withDescription(
    "Query/Retrieve Level: PATIENT, STUDY, SERIES or IMAGE (default: the model's top level; -k QueryRetrieveLevel=X " +
      "does the same)"
  ),
  Flag.optional
)

/** Checks a TCP port number. */
export const checkPort = (n: number): Effect.Effect<number, CommandFailed> =>
  Number.isInteger(n) && n >= 1 && n <= 65535 ? Effect.succeed(n) : fail(`port ${n} is not a TCP port (1-65535)`)

// How many files left unsent by an association that could not be opened are named one by one.
const LISTED_UNSENT = 10

const describeStatus = (r: Scu.StatusInfo): string =>
  `${r.meaning} (${Status.format(r.status)})${r.errorComment ? `: ${printable(r.errorComment.trim())}` : ""}`

const isTty = (): boolean => process.stdout.isTTY === true

/** A progress line on a terminal only, overwritten in place. */
const progress = (text: string): Effect.Effect<void> =>
  Effect.sync(() => {
    if (isTty()) process.stdout.write(`\r\x1b[K${text.slice(0, Math.max(20, (process.stdout.columns ?? 80) - 1))}`)
  })

const clearProgress: Effect.Effect<void> = Effect.sync(() => {
  if (isTty()) process.stdout.write("\r\x1b[K")
})

export interface Peer {
  readonly host: string
  readonly port: number
  readonly calledAeTitle: string
  /** Over TLS (any `--tls-*` flag), else plain TCP. */
  readonly tls: Tls.ClientOptions | undefined
}

/** The peer a client subcommand's host, port, `--aec` and `--tls-*` flags name, checked. */
export const peerOf = (c: Common & { readonly host: string; readonly port: number }) =>
  Effect.gen(function* () {
    return {
      host: c.host,
      port: yield* checkPort(c.port),
      calledAeTitle: yield* peerTitle(c.aec),
      tls: yield* TlsFlags.clientTls(c).pipe(Effect.catch((e) => fail(e.message)))
    } satisfies Peer
  })

// ---------------------------------------------------------------------------------------------------------------
// echo

const echo = Command.make(
  "echo",
  {
    host,
    port,
    repeat: Flag.Int("repeat").pipe(
      Flag.withDescription("how many C-ECHO requests to send (default 1)"),
      Flag.withDefault(1)
    ),
    ...common
  },
  (c) =>
    Effect.gen(function* () {
      if (c.repeat < 1) return yield* fail(`--repeat must be at least 1, not ${c.repeat}`)
      const peer = yield* peerOf(c)
      const ae = yield* applicationEntity(c)
      // a status is no failure of the exchange: the association is released either way, then the command fails
      const failed = yield* Effect.scoped(
        Effect.gen(function* () {
          const channel = yield* Scu.connect(ae, {
            ...peer,
            contexts: [
              { abstractSyntax: QueryRetrieve.VERIFICATION, transferSyntaxes: Contexts.QUERY_TRANSFER_SYNTAXES }
            ]
          })
          let failed = 0
          for (let i = 1; i <= c.repeat; i++) {
            const started = Date.now()
            const r = yield* Scu.echo(channel)
            if (r.category !== "Success") failed++
            const n = c.repeat > 1 ? ` ${i}/${c.repeat}` : ""
            const ms = Date.now() - started
            yield* Console.log(
              `C-ECHO${n} ${peer.calledAeTitle}@${peer.host}:${peer.port}: ${describeStatus(r)} in ${ms} ms`
            )
          }
          return failed
        })
      )
      if (failed > 0) return yield* fail(`${failed} of ${c.repeat} C-ECHO did not succeed`)
    }).pipe(withLogging(c, "client"))
).pipe(Command.withDescription("C-ECHO: check that a peer answers (exit 0 when every C-ECHO succeeds)"))

// ---------------------------------------------------------------------------------------------------------------
// store

const REJECTION: Readonly<Record<number, string>> = {
  1: "rejected by the user",
  2: "rejected, no reason given",
  3: "abstract syntax not supported",
  4: "transfer syntax not supported"
}

const rejectionReason = (file: Files.Sendable, result: number | undefined): string => {
  const why = result === undefined ? "not accepted" : (REJECTION[result] ?? `result ${result}`)
  const what = `${Uids.describeUid(file.sopClassUid)} in ${Uids.describeUid(file.transferSyntaxUid)}`
  return `the peer did not accept ${what}: ${why}`
}

/** The result the peer gave each refused context, by `Files.contextKey` (ids 1, 3, 5... follow the proposal order). */
const rejectedByKey = (
  contexts: ReadonlyArray<Negotiation.ProposedContext>,
  rejected: ReadonlyArray<RejectedContext>
): ReadonlyMap<string, number> => {
  const out = new Map<string, number>()
  for (const r of rejected) {
    const proposed = contexts[(r.id - 1) / 2]
    const ts = proposed?.transferSyntaxes[0]
    // a fallback context (`Transcode.withFallbacks`, after the files' own) does not replace a file's own's result
    if (
      proposed !== undefined &&
      ts !== undefined &&
      !out.has(Files.contextKey({ sopClassUid: proposed.abstractSyntax, transferSyntaxUid: ts }))
    ) {
      out.set(Files.contextKey({ sopClassUid: proposed.abstractSyntax, transferSyntaxUid: ts }), r.result)
    }
  }
  return out
}

// Why a peer may have refused a file whose data set names no SOP instance: what was sent in its place. DCMTK's
// storescu does not send such a file; a peer checking the data set against the request (ours, DCMTK's storescp,
// Orthanc) refuses it, often without a comment.
const sopFromMetaNote = (file: Files.Sendable): string =>
  file.sopFromMeta === true
    ? " (the data set names no SOP Class/Instance UID, (0008,0016)/(0008,0018): the request carried its meta's)"
    : ""

const store = Command.make(
  "store",
  {
    host,
    port,
    paths: Argument.String("path").pipe(
      Argument.withDescription("files and folders (walked recursively, hidden entries skipped)"),
      Argument.variadic({ min: 1 })
    ),
    associations: Flag.Int("associations").pipe(
      Flag.withDescription("spread the files over this many associations in parallel (default 1)"),
      Flag.withDefault(1)
    ),
    window: Flag.Int("window").pipe(
      Flag.withDescription(
        "propose an Asynchronous Operations Window: up to this many C-STOREs outstanding per association, " +
          "as many as the peer accepts (default 1)"
      ),
      Flag.withDefault(1)
    ),
    failedList: Flag.String("failed-list").pipe(
      Flag.withDescription(
        "write the path of every file not stored (failed, refused or never sent), one per line, to this file at " +
          "the end, also after Ctrl-C; stderr names at most 10 of those a lost association left unsent"
      ),
      Flag.optional
    ),
    ...common
  },
  (c) =>
    Effect.gen(function* () {
      if (c.associations < 1) return yield* fail(`--associations must be at least 1, not ${c.associations}`)
      if (c.window < 1 || c.window > 0xffff) return yield* fail(`--window must be 1-65535, not ${c.window}`)
      const peer = yield* peerOf(c)
      const ae = yield* applicationEntity(c, [], { maxOperationsInvoked: c.window })
      const { files, missing, skipped } = yield* Files.collect(c.paths)
      for (const s of skipped) yield* Console.error(`SKIPPED ${printable(s.path)}: ${printable(s.reason)}`)
      if (files.length === 0 && missing.length === 0) {
        return yield* fail(`no input files: nothing to send in ${c.paths.join(", ")}`)
      }
      let sent = 0
      let warnings = 0
      let failed = 0
      // the files the peer answered Success or Warning for: every other is not stored (`--failed-list`)
      const stored = new Set<string>()
      const writeFailedList = Effect.suspend(() => {
        if (Option.isNone(c.failedList)) return Effect.void
        const list = c.failedList.value
        const unstored = [...missing.map((m) => m.path), ...files].filter((path) => !stored.has(path))
        return Effect.try({
          try: () => FsSync.writeFileSync(list, unstored.map((path) => `${path}\n`).join("")),
          catch: causeText
        }).pipe(
          Effect.catch((why) => Console.error(`netdicom store: cannot write --failed-list ${list}: ${printable(why)}`))
        )
      })
      const reportFailure = (path: string, reason: string) =>
        Effect.andThen(clearProgress, Console.error(`FAILED ${printable(path)}: ${printable(reason)}`)).pipe(
          Effect.andThen(Effect.sync(() => void failed++))
        )
      const total = files.length + missing.length
      // Ctrl-C, while the files are checked or sent: the associations are aborted; what was not answered yet counts
      // as failed, and the summary is still the last line before the exit (130)
      const onInterrupt = Effect.onInterrupt(() =>
        Effect.gen(function* () {
          const notSent = Math.max(0, total - sent - failed)
          yield* clearProgress
          yield* Console.error(`netdicom store: interrupted: ${notSent} file(s) not sent`)
          yield* writeFailedList
          yield* Console.log(`${sent} sent, ${warnings} warnings, ${failed + notSent} failed`)
        })
      )
      for (const m of missing) yield* reportFailure(m.path, m.reason)
      const sendable: Array<Files.Sendable> = []
      yield* Effect.gen(function* () {
        for (const [i, path] of files.entries()) {
          yield* progress(`reading ${i + 1}/${files.length} ${Path.basename(path)}`)
          const r = yield* Effect.result(Files.inspect(path))
          if (Result.isSuccess(r)) sendable.push(r.success)
          else yield* reportFailure(path, r.failure.reason)
        }
      }).pipe(onInterrupt)
      // Files needing more contexts than an association holds go over one association per part, in turn.
      const parts = Files.partsFor(sendable)
      if (parts.length > 1) {
        yield* Effect.logInfo(
          `the files need more than ${Negotiation.MAX_PRESENTATION_CONTEXTS} presentation contexts: ` +
            `sent in ${parts.length} parts, by SOP class, one after the other`
        )
      }
      let started = 0
      // whether a window smaller than --window was said (once for the command, not per association)
      let windowSaid = false
      const sendBatch =
        (contexts: ReadonlyArray<Negotiation.ProposedContext>, batches: number) =>
        (batch: ReadonlyArray<Files.Sendable>) =>
          Effect.gen(function* () {
            // the association, reopened after an abort so that one bad exchange does not stop the batch
            let session: { readonly scope: Scope.Closeable; readonly channel: DimseChannel.DimseChannel } | undefined
            let rejected: ReadonlyMap<string, number> = new Map()
            const open = Effect.gen(function* () {
              const scope = yield* Scope.make()
              const channel = yield* Scope.provide(Scu.connect(ae, { ...peer, contexts }), scope).pipe(
                Effect.onError(() => Scope.close(scope, Exit.void))
              )
              rejected = rejectedByKey(contexts, channel.association.negotiated.rejected)
              session = { scope, channel }
              const granted = Math.max(1, channel.association.negotiated.maxOperationsInvoked)
              if (granted < c.window && !windowSaid) {
                // said once: a peer granting less (most grant none) makes the flag do less, or nothing
                windowSaid = true
                yield* clearProgress
                yield* Console.error(
                  `--window ${c.window}: the peer granted ${granted}` +
                    (granted === 1 ? " (no window: one C-STORE at a time)" : "")
                )
              }
              return channel
            })
            const close = (exit: Exit.Exit<unknown, unknown>) =>
              Effect.suspend(() => {
                const s = session
                session = undefined
                return s === undefined ? Effect.void : Scope.close(s.scope, exit)
              })

            // C-STOREs sent and not yet answered (more than one with a negotiated window), oldest first
            type InFlight = {
              readonly file: Files.Sendable
              readonly session: typeof session
              readonly answer: Effect.Effect<Result.Result<Scu.StatusInfo, DimseError.DimseFailure>>
            }
            const inFlight: Array<InFlight> = []
            // Reports a C-STORE's outcome; a failed exchange closes its association.
            const report = (
              file: Files.Sendable,
              from: typeof session,
              r: Result.Result<Scu.StatusInfo, DimseError.DimseFailure>
            ): Effect.Effect<void> => {
              // nearly every file: counted, nothing to say (no generator made for it)
              if (Result.isSuccess(r) && r.success.category === "Success") {
                sent++
                stored.add(file.path)
                return Effect.void
              }
              return Effect.gen(function* () {
                if (Result.isSuccess(r)) {
                  const s = r.success
                  if (s.category === "Warning") {
                    sent++
                    warnings++
                    stored.add(file.path)
                    yield* clearProgress
                    yield* Console.error(`WARNING ${file.path}: ${describeStatus(s)}`)
                  } else yield* reportFailure(file.path, `C-STORE: ${describeStatus(s)}${sopFromMetaNote(file)}`)
                  return
                }
                const e = r.failure
                if (e._tag === "NoAcceptedContext") {
                  yield* reportFailure(file.path, rejectionReason(file, rejected.get(Files.contextKey(file))))
                  return
                }
                yield* reportFailure(file.path, e.message)
                if (from === session) yield* close(Exit.fail(e))
              })
            }
            const settle = Effect.suspend(() => {
              const entry = inFlight.shift()
              return entry === undefined
                ? Effect.void
                : Effect.flatMap(entry.answer, (r) => report(entry.file, entry.session, r))
            })
            const settleAll = Effect.whileLoop({ while: () => inFlight.length > 0, body: () => settle, step: () => {} })

            const sendAll = Effect.gen(function* () {
              // the next file is read while this one is sent and answered
              const take = yield* Part10.readAhead(batch)
              for (const [i, file] of batch.entries()) {
                yield* progress(`sending ${++started}/${sendable.length} ${Path.basename(file.path)}`)
                let channel = session?.channel
                if (channel === undefined) {
                  // what the closed association still owed is reported before a new one opens
                  yield* settleAll
                  const opened = yield* Effect.result(open)
                  if (Result.isFailure(opened)) {
                    const e = opened.failure
                    if (e._tag === "NoAcceptableContext") {
                      // the peer refused every context: each file fails with what the peer said about its own
                      const results = rejectedByKey(contexts, e.rejected)
                      for (const rest of batch.slice(i)) {
                        yield* reportFailure(rest.path, rejectionReason(rest, results.get(Files.contextKey(rest))))
                      }
                      return
                    }
                    // the first connection failing: one line for it, and every file left counts as failed
                    if (i === 0 && batches === 1) {
                      yield* clearProgress
                      yield* Console.error(`netdicom store: ${opened.failure.message}`)
                      failed += batch.length
                      return
                    }
                    // a reconnection failing fails what is left: the first few files by name, then one line for
                    // the rest (a server gone mid-batch would otherwise give a line per file left, all alike)
                    const rest = batch.slice(i)
                    const reason = `not sent: ${opened.failure.message}`
                    for (const unsent of rest.slice(0, LISTED_UNSENT)) yield* reportFailure(unsent.path, reason)
                    const more = rest.length - LISTED_UNSENT
                    if (more > 0) {
                      yield* Console.error(`FAILED ${more} more file(s): ${reason}`)
                      failed += more
                    }
                    return
                  }
                  channel = opened.success
                }
                const loaded = yield* Effect.result(take(i))
                if (Result.isFailure(loaded)) {
                  yield* reportFailure(file.path, loaded.failure.message)
                  continue
                }
                const input: Scu.StoreInput = {
                  sopClassUid: file.sopClassUid,
                  sopInstanceUid: file.sopInstanceUid,
                  transferSyntax: file.transferSyntaxUid,
                  dataSet: Part10.asDataSource(loaded.success)
                }
                // as many outstanding as the association's window allows, each sent and answered in this fiber (a
                // data set in bytes begun at once by `Scu.storeNow`, its answer awaited in turn); a streamed one with
                // a window is sent by a fiber of its own, so that its sending overlaps the answers to the others
                const window = Math.max(1, channel.association.negotiated.maxOperationsInvoked)
                if (window === 1 && inFlight.length === 0) {
                  yield* report(file, session, yield* Effect.result(Scu.storeNow(channel, input)))
                  continue
                }
                const answer =
                  input.dataSet instanceof Uint8Array
                    ? Effect.result(Scu.storeNow(channel, input))
                    : Fiber.join(yield* Effect.forkScoped(Effect.result(Scu.store(channel, input))))
                inFlight.push({ file, session, answer })
                while (inFlight.length >= window) yield* settle
              }
              yield* settleAll
            })
            if (batch.length > 0) yield* Effect.onExit(Effect.scoped(sendAll), (exit) => close(exit))
          })
      const sendPart = (part: Files.Part) => {
        // and, in the room left, each SOP class in every native syntax: a file whose own the peer refuses goes
        // re-encoded
        const contexts = Transcode.withFallbacks(part.contexts)
        // each batch on its own association (--associations)
        const batches = Math.max(1, Math.min(c.associations, part.files.length))
        const groups = Array.from({ length: batches }, (_, k) => part.files.filter((_, i) => i % batches === k))
        return Effect.forEach(groups, sendBatch(contexts, batches), { concurrency: batches, discard: true })
      }
      yield* Effect.forEach(parts, sendPart, { discard: true }).pipe(onInterrupt)
      yield* clearProgress
      yield* writeFailedList
      yield* Console.log(`${sent} sent, ${warnings} warnings, ${failed} failed`)
      if (failed > 0) return yield* fail("")
    }).pipe(withLogging(c, "client"))
).pipe(
  Command.withDescription(
    "C-STORE: send files and folders (over one association, or --associations N), " +
      "contexts proposed from what the files hold"
  )
)

// ---------------------------------------------------------------------------------------------------------------
// find

const identifierOf = (
  model: QueryRetrieve.Model,
  c: { readonly keys: ReadonlyArray<string>; readonly level: Option.Option<string> },
  find: boolean
) =>
  Effect.gen(function* () {
    let lvl: Keys.Level | undefined
    if (Option.isSome(c.level)) {
      const parsed = Keys.parseLevel(model, c.level.value)
      if (Result.isFailure(parsed)) return yield* fail(`--level ${c.level.value}: ${parsed.failure.reason}`)
      lvl = parsed.success
    }
    const id = Keys.identifier({ model, level: lvl, keys: c.keys, find })
    return Result.isSuccess(id) ? id.success : yield* fail(id.failure.message)
  })

const find = Command.make(
  "find",
  {
    host,
    port,
    model: Flag.Literals("model", ["patient", "study", "worklist"]).pipe(
      Flag.withDescription("information model: patient root, study root or modality worklist (default study)"),
      Flag.withDefault("study")
    ),
    keys,
    level,
    ...common
  },
  (c) =>
    Effect.gen(function* () {
      const peer = yield* peerOf(c)
      const identifier = yield* identifierOf(c.model, c, true)
      const ae = yield* applicationEntity(c)
      const done = yield* Effect.scoped(
        Effect.gen(function* () {
          const channel = yield* Scu.connect(ae, {
            ...peer,
            contexts: [
              {
                abstractSyntax: QueryRetrieve.SOP_CLASSES[c.model].find,
                transferSyntaxes: Contexts.QUERY_TRANSFER_SYNTAXES
              }
            ]
          })
          // a first Ctrl-C cancels (C-CANCEL, the final response printed, the association released); a second one
          // aborts at once rather than wait for the final response to the C-CANCEL
          yield* Signals.abortOnRepeat(channel.association)
          const cancelWhen = yield* Signals.cancelOnSignal
          let matches = 0
          // pending responses without the identifier a pending C-FIND-RSP carries (PS3.7 9.1.2): no match to print
          let empty = 0
          let final: Scu.FindResponse | undefined
          yield* Stream.runForEach(Scu.find(channel, { model: c.model, identifier, cancelWhen }), (r) =>
            Effect.gen(function* () {
              if (r.category === "Pending") {
                if (r.identifier !== undefined) {
                  matches++
                  yield* Console.log(JSON.stringify(DicomJson.fromNaturalized(r.identifier)))
                } else empty++
              } else final = r
            })
          )
          const done = final as Scu.FindResponse | undefined
          if (done === undefined) return yield* fail("C-FIND ended without a final response")
          const noIdentifier =
            empty > 0 ? ` (and ${empty} pending response${empty === 1 ? "" : "s"} without an identifier)` : ""
          yield* Console.error(
            `C-FIND: ${matches} match${matches === 1 ? "" : "es"}${noIdentifier}, ${describeStatus(done)}`
          )
          return done
        })
      )
      if (done.category !== "Success") return yield* fail("")
    }).pipe(withLogging(c, "client"))
).pipe(Command.withDescription("C-FIND: print each match as one line of DICOM JSON (PS3.18 F.2)"))

// ---------------------------------------------------------------------------------------------------------------
// get and move

const progressLine = (what: string, r: Scu.RetrieveProgress): string => {
  const n = (x: number | undefined) => (x === undefined ? "?" : String(x))
  const counts = `${n(r.completed)} completed, ${n(r.failed)} failed, ${n(r.warning)} warnings`
  return `${what}: ${n(r.remaining)} remaining, ${counts}`
}

const runRetrieve = (
  what: "C-GET" | "C-MOVE",
  responses: Stream.Stream<
    Scu.RetrieveProgress,
    DimseError.DimseFailure | DataSet.DataSetError | Identifiers.InvalidIdentifier
  >
) =>
  Effect.gen(function* () {
    let final: Scu.RetrieveProgress | undefined
    yield* Stream.runForEach(responses, (r) =>
      r.category === "Pending" ? Console.error(progressLine(what, r)) : Effect.sync(() => void (final = r))
    )
    const done = final as Scu.RetrieveProgress | undefined
    if (done === undefined) return yield* fail(`${what} ended without a final response`)
    for (const uid of done.failedSopInstanceUids) yield* Console.error(`FAILED ${printable(uid)}`)
    const n = (x: number | undefined) => x ?? 0
    // a final response gives its remaining sub-operations when some were never started (a Cancel, PS3.4 C.4.2.1.5)
    const remaining = n(done.remaining) > 0 ? `, ${n(done.remaining)} remaining` : ""
    const counts = `${n(done.completed)} completed, ${n(done.warning)} warnings, ${n(done.failed)} failed${remaining}`
    yield* Console.log(`${what} ${describeStatus(done)}: ${counts}`)
    const hint = what === "C-GET" ? Contexts.refusedSyntaxHint(done.errorComment) : undefined
    if (hint !== undefined) yield* Console.error(`hint: ${hint}`)
    return { ok: done.category === "Success", final: done }
  })

const retrieveModel = Flag.Literals("model", ["patient", "study"]).pipe(
  Flag.withDescription("information model: patient root or study root (default study)"),
  Flag.withDefault("study")
)

const writtenLine = (count: number, dir: string): string => `${count} file${count === 1 ? "" : "s"} written to ${dir}`

/**
 * Removes the temporary files a `netdicom get` killed mid-write left in `dir`: its own names only, modified before this
 * process started, of a process that is gone (`TempFiles.isLeftover`), so a `get` writing into the folder now keeps
 * its own. A folder that cannot be listed is logged, and the command goes on.
 */
const removeLeftovers = (dir: string) =>
  TempFiles.sweep(dir, TempFiles.processStart(), TempFiles.LEGACY_GET).pipe(
    Effect.flatMap((report) =>
      Effect.gen(function* () {
        if (report.removed.length > 0) {
          yield* Effect.logInfo(`removed ${report.removed.length} temporary file(s) of an interrupted get in ${dir}`)
        }
        for (const f of report.failed) yield* Effect.logWarning(`cannot remove ${f.path}: ${f.message}`)
      })
    ),
    Effect.catch((e) => Effect.logWarning(`cannot look for temporary files: ${e.message}`))
  )

/** The summary line's note when some files, or the folder, could not be synced. */
const unsyncedNote = (e: FileWriter.SyncFailed): string =>
  e.failed > 0 ? ` (${e.failed} not synced to disk)` : " (the folder not synced to disk)"

/**
 * Syncs what `writer` wrote and prints the summary line (uninterruptible: a Ctrl-C now waits for it, so that every
 * file the line names is on disk), then checks the peer's count of sub-operations completed against the instances
 * received: a peer claiming more (a C-GET answered "Success, 5 completed" with nothing sent, a C-MOVE to another
 * address) must not end in exit 0. `where` ends the complaint.
 */
const syncAndCount = (writer: FileWriter.FileWriter, out: string, final: Scu.RetrieveProgress, where: string) =>
  Effect.gen(function* () {
    const synced = yield* Effect.uninterruptible(
      Effect.gen(function* () {
        const synced = yield* Effect.result(writer.syncWritten)
        const note = Result.isFailure(synced) ? unsyncedNote(synced.failure) : ""
        yield* Console.log(`${writtenLine(writer.written(), out)}${note}`)
        return synced
      })
    )
    if (Result.isFailure(synced)) return yield* fail(synced.failure.message)
    const claimed = (final.completed ?? 0) + (final.warning ?? 0)
    const received = writer.stored()
    if (claimed > received) {
      return yield* fail(
        `the peer counted ${claimed} sub-operation${claimed === 1 ? "" : "s"} completed, but only ` +
          `${received} instance${received === 1 ? " was" : "s were"} ${where}`
      )
    }
  })

const get = Command.make(
  "get",
  {
    host,
    port,
    model: retrieveModel,
    keys,
    level,
    out: Flag.String("out").pipe(
      Flag.withDescription("(required) folder the instances are written to, as <SOPInstanceUID>.dcm")
    ),
    sopClass: Flag.String("sop-class").pipe(
      Flag.withDescription(
        "propose only this storage SOP class, a UID or keyword (CTImageStorage), in every transfer syntax; " +
          "repeat for more (default: 30 common classes uncompressed, 6 image classes compressed too)"
      ),
      Flag.atLeast(0)
    ),
    sync: Flag.Literals("sync", FileWriter.SYNC_MODES).pipe(
      Flag.withDescription(
        "when files reach the disk: end (default), each C-STORE answered once its file is written and every " +
          "file synced before the command ends; each, every file synced before its C-STORE is answered (slower)"
      ),
      Flag.withDefault<FileWriter.SyncMode>("end")
    ),
    ...common
  },
  (c) =>
    Effect.gen(function* () {
      const peer = yield* peerOf(c)
      const identifier = yield* identifierOf(c.model, c, false)
      const ae = yield* applicationEntity(c)
      const classes: Array<string> = []
      for (const value of c.sopClass) {
        const uid = Contexts.sopClassOf(value)
        if (Result.isFailure(uid)) return yield* fail(uid.failure)
        classes.push(uid.success)
      }
      const writer = yield* FileWriter.make(c.out, c.sync)
      const ok = yield* Effect.scoped(
        Effect.gen(function* () {
          const made = yield* Effect.result(InstanceStore.makeDirectories(c.out))
          if (Result.isFailure(made)) return yield* fail(`--out ${c.out}: ${causeText(made.failure.cause)}`)
          yield* removeLeftovers(c.out)
          const getClass = QueryRetrieve.SOP_CLASSES[c.model].get!
          const proposal = Contexts.getProposal(Negotiation.MAX_PRESENTATION_CONTEXTS - 1, classes)
          const channel = yield* Scu.connect(ae, {
            ...peer,
            contexts: [
              { abstractSyntax: getClass, transferSyntaxes: Contexts.QUERY_TRANSFER_SYNTAXES },
              ...proposal.contexts
            ],
            roles: proposal.roles,
            onStore: writer.onStore
          })
          yield* Signals.abortOnRepeat(channel.association)
          const cancelWhen = yield* Signals.cancelOnSignal
          return yield* runRetrieve("C-GET", Scu.get(channel, { model: c.model, identifier, cancelWhen }))
        })
      ).pipe(
        // stopped by a failure or a second Ctrl-C (the association aborted): what was written is synced all the
        // same before the exit; on an interruption, say so, and what is on disk, as the last lines
        Effect.onExit((exit) =>
          Exit.isSuccess(exit)
            ? Effect.void
            : Effect.gen(function* () {
                const synced = yield* Effect.result(writer.syncWritten)
                if (Result.isFailure(synced)) yield* Console.error(`netdicom get: ${synced.failure.message}`)
                if (!Exit.hasInterrupts(exit)) return
                yield* Console.error("netdicom get: interrupted: the association was aborted")
                const note = Result.isFailure(synced) ? unsyncedNote(synced.failure) : ""
                yield* Console.log(`${writtenLine(writer.written(), c.out)}${note}`)
              })
        )
      )
      // the instances are counted once the association has ended: a sub-operation a peer sent just before its final
      // response may still have been arriving then (its handler gets the association's end to finish)
      yield* syncAndCount(writer, c.out, ok.final, "received and stored")
      if (!ok.ok) return yield* fail("")
    }).pipe(withLogging(c, "client"))
).pipe(
  Command.withDescription(
    "C-GET: fetch matching instances over this association into a folder (exit 0: every file written is on disk)"
  )
)

const move = Command.make(
  "move",
  {
    host,
    port,
    model: retrieveModel,
    keys,
    level,
    dest: Flag.String("dest").pipe(
      Flag.withDescription(
        "the AE title the peer sends the instances to (required without --listen; with it, default --aet)"
      ),
      Flag.optional
    ),
    listen: Flag.Int("listen").pipe(
      Flag.withDescription(
        "take the instances here: a storage SCP on this port (on --listen-host) for the move's duration, writing " +
          "them to --out; the peer must map --dest to this address"
      ),
      Flag.optional
    ),
    listenHost: listenHostFlag,
    listenTls: TlsFlags.listenTls,
    out: Flag.String("out").pipe(
      Flag.withDescription("with --listen: the folder the instances are written to, as <SOPInstanceUID>.dcm"),
      Flag.optional
    ),
    sync: Flag.Literals("sync", FileWriter.SYNC_MODES).pipe(
      Flag.withDescription("with --listen: when files reach the disk, as for get (default end)"),
      Flag.withDefault<FileWriter.SyncMode>("end")
    ),
    ...common
  },
  (c) =>
    Effect.gen(function* () {
      const peer = yield* peerOf(c)
      if (Option.isNone(c.listen) && Option.isSome(c.out)) return yield* fail("--out is for --listen PORT")
      if (Option.isSome(c.listen) && Option.isNone(c.out)) return yield* fail("--listen needs --out FOLDER")
      if (Option.isNone(c.dest) && Option.isNone(c.listen)) {
        return yield* fail("--dest is required (or --listen PORT --out FOLDER to take the instances here)")
      }
      const destination = yield* peerTitle(
        Option.getOrElse(c.dest, () => c.aet),
        "--dest"
      )
      const identifier = yield* identifierOf(c.model, c, false)
      const ae = yield* applicationEntity(c)
      const listen = Option.isSome(c.listen) ? Option.some(yield* checkPort(c.listen.value)) : Option.none<number>()
      if (Option.isNone(listen) && c.listenTls) return yield* fail("--listen-tls is for --listen PORT")
      const listenerTls = yield* TlsFlags.listenerTls(c).pipe(Effect.catch((e) => fail(e.message)))
      const receiving = Option.isSome(c.out)
        ? Option.some({ out: c.out.value, writer: yield* FileWriter.make(c.out.value, c.sync) })
        : Option.none<{ readonly out: string; readonly writer: FileWriter.FileWriter }>()
      const ok = yield* Effect.scoped(
        Effect.gen(function* () {
          let settled: Effect.Effect<void> = Effect.void
          let progress: (() => number) | undefined
          if (Option.isSome(listen) && Option.isSome(receiving)) {
            const { out } = receiving.value
            const made = yield* Effect.result(InstanceStore.makeDirectories(out))
            if (Result.isFailure(made)) return yield* fail(`--out ${out}: ${causeText(made.failure.cause)}`)
            yield* removeLeftovers(out)
            const receiver = yield* MoveReceiver.listen({
              flags: c,
              destination,
              host: c.listenHost,
              port: listen.value,
              writer: receiving.value.writer,
              tls: listenerTls
            })
            settled = receiver.settled
            progress = receiver.progress
            const over = listenerTls === undefined ? "" : " over TLS"
            yield* Console.error(
              `listening on ${c.listenHost}:${receiver.port} as ${destination}${over} for the sub-operations`
            )
          }
          const channel = yield* Scu.connect(ae, {
            ...peer,
            contexts: [
              {
                abstractSyntax: QueryRetrieve.SOP_CLASSES[c.model].move!,
                transferSyntaxes: Contexts.QUERY_TRANSFER_SYNTAXES
              }
            ]
          })
          yield* Signals.abortOnRepeat(channel.association)
          const cancelWhen = yield* Signals.cancelOnSignal
          const done = yield* runRetrieve(
            "C-MOVE",
            Scu.move(channel, {
              model: c.model,
              destination,
              identifier,
              cancelWhen,
              ...(progress === undefined ? {} : { progress })
            })
          )
          // the peer's storage associations end after its final response: their release is let through
          yield* settled
          return done
        })
      ).pipe(
        Effect.onExit((exit) =>
          Exit.isSuccess(exit)
            ? Effect.void
            : Effect.gen(function* () {
                if (Option.isSome(receiving)) {
                  const { out, writer } = receiving.value
                  const synced = yield* Effect.result(writer.syncWritten)
                  if (Result.isFailure(synced)) yield* Console.error(`netdicom move: ${synced.failure.message}`)
                  if (Exit.hasInterrupts(exit)) {
                    const note = Result.isFailure(synced) ? unsyncedNote(synced.failure) : ""
                    yield* Console.log(`${writtenLine(writer.written(), out)}${note}`)
                  }
                }
                if (Exit.hasInterrupts(exit)) {
                  yield* Console.error(
                    "netdicom move: interrupted: the association was aborted (the peer may stop or finish its " +
                      "sub-operations)"
                  )
                }
              })
        )
      )
      if (Option.isSome(receiving)) {
        // fewer than the peer counted: it sent them elsewhere (its address for the destination is not this one), or
        // they failed here
        const port = Option.getOrElse(listen, () => 0)
        const where = `received here (does the peer map ${destination} to ${c.listenHost}:${port}?)`
        yield* syncAndCount(receiving.value.writer, receiving.value.out, ok.final, where)
      }
      if (!ok.ok) return yield* fail("")
    }).pipe(withLogging(c, "client"))
).pipe(
  Command.withDescription(
    "C-MOVE: have the peer send matching instances to another AE (--dest), or here (--listen PORT --out FOLDER)"
  )
)

/** The SCU subcommands. */
export const commands = [echo, store, find, get, move] as const
