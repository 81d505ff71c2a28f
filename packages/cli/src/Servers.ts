/**
 * The SCP subcommands of `netdicom`: `storescp` (Verification and Storage SCP, PS3.4 Annexes A and B) and
 * `qrscp` (Verification, Storage and Query/Retrieve SCP for the patient and study root models, Annex C), of
 * `@netdicom/archive`: `storescp` on a store without an index (`PlainStore`), `qrscp` on the archive.
 *
 * Both accept every storage SOP class, current and retired, in the uncompressed and the common compressed
 * transfer syntaxes, store each instance as it arrives (`<dir>/<StudyInstanceUID>/<SOPInstanceUID>.dcm`, written
 * atomically), answer to any called AE title, and print one line once listening. Interrupting the process
 * (Ctrl-C) closes the listener and aborts the associations still open.
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { Argument, Command, Flag } from "effect/cli"
import { type ApplicationEntity, Normalized, Scp, type Tls } from "@netdicom/net"
import {
  Archive,
  ArchiveIndex,
  Commitment,
  InstanceStore,
  PerformedSteps,
  PlainStore,
  ScpServices
} from "@netdicom/archive"
import * as Mpps from "./Mpps.ts"
import * as Contexts from "./Contexts.ts"
import * as TlsFlags from "./TlsFlags.ts"
import {
  applicationEntity,
  causeText,
  fail,
  peerTitle,
  serverCommon,
  withLogging,
  type CommandFailed,
  type ServerCommon
} from "./Options.ts"

const listenPort = Argument.Int("port").pipe(
  Argument.withDescription("the TCP port to listen on (0: a free port the system picks)")
)
const listenHost = Flag.String("host").pipe(
  Flag.withDescription("the address to listen on (default 127.0.0.1; 0.0.0.0: every interface)"),
  Flag.withDefault("127.0.0.1")
)

/** When a server's received instances reach the disk. */
type ServerSync = "each" | "none"
const SERVER_SYNC_MODES: ReadonlyArray<ServerSync> = ["each", "none"]

const serverSync = (what: string) =>
  Flag.Literals("sync", SERVER_SYNC_MODES).pipe(
    Flag.withDescription(
      `when received instances reach the disk: each (default), every file${what} synced before its C-STORE is ` +
        "answered Success; none, left to the operating system as DCMTK's storescp does (faster, but a power cut " +
        "can lose instances already answered)"
    ),
    Flag.withDefault<ServerSync>("each")
  )

/** The Asynchronous Operations Window `netdicom storescp` grants: C-STOREs outstanding at once per association. */
const STORE_WINDOW = 8

const checkListenPort = (n: number): Effect.Effect<number, CommandFailed> =>
  Number.isInteger(n) && n >= 0 && n <= 65535 ? Effect.succeed(n) : fail(`port ${n} is not a TCP port (0-65535)`)

/**
 * The outermost of `dir` and its parents that does not exist yet: what creating `dir` would add. A symbolic link is
 * there, whatever it points to: a link to nowhere (a share not mounted) is the operator's, not ours to remove.
 */
const firstMissing = (dir: string): string | undefined => {
  let missing: string | undefined
  for (let d = Path.resolve(dir); !exists(d); d = Path.dirname(d)) {
    missing = d
    if (Path.dirname(d) === d) break
  }
  return missing
}

const exists = (path: string): boolean => {
  try {
    return Fs.lstatSync(path, { throwIfNoEntry: false }) !== undefined
  } catch {
    // cannot be looked at (a component that is a file, a folder we may not read): not ours to remove either
    return true
  }
}

/**
 * Runs a server with the folders it may create (`--out`, `--store`, the index's): when it fails before
 * listening, the folders it created are removed again (nothing was received into them).
 */
const removingCreatedOnFailure =
  (dirs: ReadonlyArray<string>) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.suspend(() => {
      const created = dirs.flatMap((d) => (d === ":memory:" ? [] : [firstMissing(d)])).filter((d) => d !== undefined)
      return Effect.onExit(effect, (exit) =>
        Exit.isFailure(exit) && !Cause.hasInterrupts(exit.cause)
          ? Effect.sync(() => {
              for (const d of created) Fs.rmSync(d, { recursive: true, force: true })
            })
          : Effect.void
      )
    })

/** The TLS settings of the `--tls-*` flags (`undefined`: plain TCP); unusable ones end the command. */
const serverTlsOf = (c: ServerCommon) => TlsFlags.serverTls(c).pipe(Effect.catch((e) => fail(e.message)))

/** Serves until interrupted (over TLS with `tls`), after printing the listening line. */
const serveForever = (
  c: ServerCommon & { readonly host: string; readonly port: number },
  contexts: ReadonlyArray<ApplicationEntity.SupportedContext>,
  maxOperationsPerformed: number,
  tls: Tls.ServerOptions | undefined
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const port = yield* checkListenPort(c.port)
      const ae = yield* applicationEntity(c, [Contexts.verification, ...contexts], { maxOperationsPerformed })
      const server = yield* Scp.serve(ae, { host: c.host, port, policy: {}, tls }).pipe(
        Effect.catchTag("ListenFailed", (e) => fail(`cannot listen on ${c.host}:${port}: ${e.detail}`))
      )
      yield* Console.log(
        `listening on ${c.host}:${server.port} as ${ae.aeTitle}${tls === undefined ? "" : " over TLS"}`
      )
      return yield* Effect.never
    })
  )

/** Removes the temporary files of writes a killed process left in the store (`InstanceStore.removeLeftovers`). */
const removeLeftovers = Effect.gen(function* () {
  const store = yield* InstanceStore.InstanceStore
  const report = yield* store.removeLeftovers()
  if (report.removed.length > 0) {
    yield* Effect.logInfo(`removed ${report.removed.length} temporary file(s) of interrupted writes in ${store.root}`)
  }
  for (const f of report.failed) yield* Effect.logWarning(`cannot remove ${f.path}: ${f.message}`)
})

/** Parses `AET=HOST:PORT`. */
const parsePeer = (spec: string) =>
  Effect.gen(function* () {
    const m = /^([^=]+)=(.+):(\d+)$/.exec(spec.trim())
    if (m === null) return yield* fail(`--peer "${spec}" is not AET=HOST:PORT`)
    const aeTitle = yield* peerTitle(m[1]!, "--peer")
    const port = Number(m[3])
    if (port < 1 || port > 65535) return yield* fail(`--peer "${spec}": port ${port} is not a TCP port`)
    return [aeTitle, { host: m[2]!.replace(/^\[|\]$/g, ""), port }] as const
  })

/**
 * The `--peer AET=HOST:PORT` table as a lookup by AE title (over TLS, each reached over TLS with the server's key,
 * certificate and CAs): C-MOVE destinations, and Storage Commitment requesters taking reports on an association of
 * ours.
 */
const peerLookup = (specs: ReadonlyArray<string>, tls: { readonly client: Tls.ClientOptions } | undefined) =>
  Effect.gen(function* () {
    const peers = new Map<string, { readonly host: string; readonly port: number }>()
    for (const spec of specs) {
      const [aeTitle, address] = yield* parsePeer(spec)
      peers.set(aeTitle, address)
    }
    return (aeTitle: string) =>
      Option.map(Option.fromNullishOr(peers.get(aeTitle.trim())), (address) =>
        tls === undefined ? address : { ...address, tls: tls.client }
      )
  })

const peerFlag = (what: string) =>
  Flag.String("peer").pipe(Flag.withDescription(`${what}, AET=HOST:PORT; repeat for more`), Flag.atLeast(0))

const storescp = Command.make(
  "storescp",
  {
    port: listenPort,
    out: Flag.String("out").pipe(
      Flag.withDescription("(required) folder the instances go to, as <study>/<instance>.dcm")
    ),
    host: listenHost,
    peer: peerFlag("a Storage Commitment requester taking its report on an association of ours"),
    sync: serverSync(""),
    ...serverCommon
  },
  (c) =>
    Effect.gen(function* () {
      const tls = yield* serverTlsOf(c)
      const lookup = yield* peerLookup(c.peer, tls)
      // the calling AE of reports on a new association: ours, with the server's max PDU and timeouts
      const reportAe = yield* applicationEntity(c, [Contexts.storageCommitmentScp])
      // a plain storage SCP keeps what it is sent, and answers no query: no index, nothing refused for a UID reused;
      // it commits what this run stored
      const services = Layer.merge(
        ScpServices.plainStorageLayer(),
        Commitment.plainLayer({ ae: reportAe, destinations: lookup })
      ).pipe(Layer.provideMerge(PlainStore.PlainStore.layerFrom({ root: c.out, sync: c.sync === "each" })))
      // C-STOREs are independent: up to STORE_WINDOW outstanding per association for a peer that asks
      return yield* Effect.andThen(
        removeLeftovers,
        serveForever(c, [...Contexts.storageScp, Contexts.storageCommitmentScp], STORE_WINDOW, tls?.server)
      ).pipe(Effect.provide(services))
    }).pipe(
      Effect.catchTag("StoreFailed", (e) => fail(`--out ${c.out}: ${e.message}`)),
      removingCreatedOnFailure([c.out]),
      withLogging(c, "server")
    )
).pipe(
  Command.withDescription(
    "Verification and Storage SCP: every storage SOP class, streamed to --out; Storage Commitment of what it stored"
  )
)

/** `qrscp` once its flags are read: the archive at `--store` (its index at `filename`), served until interrupted. */
const qrscpServe = (
  c: ServerCommon & {
    readonly host: string
    readonly port: number
    readonly store: string
    readonly peer: ReadonlyArray<string>
    readonly sync: ServerSync
    readonly mppsDir: Option.Option<string>
  },
  filename: string
) =>
  Effect.gen(function* () {
    // over TLS, C-MOVE destinations are reached over TLS too, with the server's key, certificate and CAs
    const tls = yield* serverTlsOf(c)
    const lookup = yield* peerLookup(c.peer, tls)
    // the index may live in the store: both folders must exist before it is opened
    const mppsDir = Option.toArray(c.mppsDir)
    for (const dir of [c.store, ...(filename === ":memory:" ? [] : [Path.dirname(filename)]), ...mppsDir]) {
      const made = yield* Effect.result(InstanceStore.makeDirectories(dir))
      if (made._tag === "Failure") return yield* fail(`cannot create ${dir}: ${causeText(made.failure.cause)}`)
    }
    const archive = Archive.Archive.layerFrom({ root: c.store, index: { filename }, sync: c.sync === "each" })
    const destinations = Layer.succeed(Scp.MoveDestinations)({ lookup })
    // the calling AE of reports on a new association: ours, with the server's max PDU and timeouts
    const reportAe = yield* applicationEntity(c, [Contexts.storageCommitmentScp])
    // Modality Performed Procedure Steps in a table beside the index's (a line logged for each; a JSON file each in
    // --mpps-dir)
    const steps = PerformedSteps.PerformedSteps.layer({ filename, sync: c.sync === "each" })
    const mpps = PerformedSteps.scpLayer(Option.isSome(c.mppsDir) ? { onChange: Mpps.dirWriter(c.mppsDir.value) } : {})
    const services = Layer.mergeAll(
      Layer.merge(
        ScpServices.layer({ retrieveAeTitle: c.aet }),
        Normalized.merge<never, Archive.Archive | PerformedSteps.PerformedSteps>(
          Commitment.layer({ ae: reportAe, destinations: lookup }),
          mpps
        )
      ).pipe(Layer.provideMerge(Layer.merge(archive, steps))),
      destinations
    )
    yield* Effect.gen(function* () {
      const index = yield* ArchiveIndex.ArchiveIndex
      if (index.replacedSchema !== undefined)
        yield* Effect.logInfo(
          `the index ${filename} had schema version ${index.replacedSchema}: indexing ${c.store} anew`
        )
      // the store's files against the index (a new one adopts them all; a crash or hand edits since the last run),
      // and the temporary files of writes a killed process left: logged by `reconcile`
      yield* Archive.Archive.use((a) => a.reconcile())
      return yield* serveForever(
        c,
        [...Contexts.storageScp, ...Contexts.queryRetrieveScp, Contexts.storageCommitmentScp, Contexts.mppsScp],
        1,
        tls?.server
      )
    }).pipe(Effect.provide(services))
  }).pipe(
    Effect.catchTags({
      StoreFailed: (e) => fail(`--store ${c.store}: ${e.message}`),
      IndexFailed: (e) => fail(`--db: ${e.message}`)
    })
  )

const qrscp = Command.make(
  "qrscp",
  {
    port: listenPort,
    store: Flag.String("store").pipe(Flag.withDescription("(required) the archive's folder")),
    db: Flag.String("db").pipe(
      Flag.withDescription("the SQLite index (default <store>/index.sqlite; :memory: to rebuild at each start)"),
      Flag.optional
    ),
    peer: peerFlag(
      "a C-MOVE destination, or a Storage Commitment requester taking its report on an association of ours"
    ),
    host: listenHost,
    mppsDir: Flag.String("mpps-dir").pipe(
      Flag.withDescription(
        "also write each Performed Procedure Step, as it is created or set, to <dir>/<SOP Instance UID>.json " +
          "(DICOM JSON); the steps are kept in the index (table mpps) either way"
      ),
      Flag.optional
    ),
    sync: serverSync(" and the index's change"),
    ...serverCommon
  },
  (c) =>
    Effect.suspend(() => {
      const filename = Option.getOrElse(c.db, () => Path.join(c.store, "index.sqlite"))
      return qrscpServe(c, filename).pipe(
        removingCreatedOnFailure([
          c.store,
          filename === ":memory:" ? filename : Path.dirname(filename),
          ...Option.toArray(c.mppsDir)
        ])
      )
    }).pipe(withLogging(c, "server"))
).pipe(
  Command.withDescription(
    "Verification, Storage, Query/Retrieve (patient and study root FIND, GET, MOVE), Storage Commitment and MPPS SCP"
  )
)

/** The SCP subcommands. */
export const commands = [storescp, qrscp] as const
