/**
 * An archive SCP (Storage, Query, Retrieve on `ScpServices`) on 127.0.0.1, port 0, in a temporary folder, for the
 * archive attacks; and our SCU proposing what they need.
 */
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { Duration, Effect, Layer, Option, Result } from "effect"
import { ApplicationEntity, Scp, Scu } from "@netdicom/net"
import type { StoreHandler } from "@netdicom/net"
import { Archive, ArchiveIndex, ScpServices } from "@netdicom/archive"
import { CT, EXPLICIT, IMPLICIT, VERIFICATION } from "./support.ts"

export const STUDY_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
export const STUDY_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
export const STUDY_GET = "1.2.840.10008.5.1.4.1.2.2.3"

/** The Q/R SCP of the C-MOVE attacks: Verification and Study Root MOVE in both little endian syntaxes. */
export const moveScpAe = (timeouts?: { readonly [K in keyof ApplicationEntity.Timeouts]?: Duration.Input }) =>
  Result.getOrThrow(
    ApplicationEntity.make({
      aeTitle: "NETDICOM-SCP",
      contexts: [VERIFICATION, STUDY_MOVE].map((abstractSyntax) => ({
        abstractSyntax,
        transferSyntaxes: [EXPLICIT, IMPLICIT]
      })),
      ...(timeouts === undefined ? {} : { timeouts })
    })
  )

/** Our SCU to the C-MOVE attacks' SCP at 127.0.0.1:`port`, proposing Study Root MOVE in Explicit VR Little Endian. */
export const connectMoveScu = (port: number, ae: Parameters<typeof Scu.connect>[0]) =>
  Scu.connect(ae, {
    host: "127.0.0.1",
    port,
    calledAeTitle: "NETDICOM-SCP",
    contexts: [{ abstractSyntax: STUDY_MOVE, transferSyntaxes: [EXPLICIT] }]
  })

/** Retrieve and Move Destination services: `instances` for every request, every destination at 127.0.0.1:`port`. */
export const moveServices = (instances: ReadonlyArray<Scp.RetrievableInstance>, port: number) =>
  Layer.merge(
    Layer.succeed(Scp.RetrieveService)({ retrieve: () => Effect.succeed(instances) }),
    Layer.succeed(Scp.MoveDestinations)({ lookup: () => Option.some({ host: "127.0.0.1", port }) })
  )

/** A temporary folder removed with the scope. */
export const tempFolder = Effect.acquireRelease(
  Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "netdicom-attack3-"))),
  (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
)

export interface ArchiveScp {
  readonly port: number
  readonly dir: string
  readonly root: string
  readonly archive: Archive.Archive["Service"]
  readonly index: ArchiveIndex.ArchiveIndex["Service"]
}

/** An archive SCP in a fresh folder; `destinations` are C-MOVE peers (AE title to port on 127.0.0.1). */
export const startArchiveScp = (
  options: {
    readonly destinations?: Record<string, number>
    readonly timeouts?: { readonly [K in keyof ApplicationEntity.Timeouts]?: Duration.Input }
    /** The Asynchronous Operations Window granted (default 1: none). */
    readonly maxOperationsPerformed?: number
  } = {}
) =>
  Effect.gen(function* () {
    const dir = yield* tempFolder
    const root = Path.join(dir, "store")
    const ae = Result.getOrThrow(
      ApplicationEntity.make({
        aeTitle: "ARCHIVE",
        maxOperationsPerformed: options.maxOperationsPerformed ?? 1,
        contexts: [VERIFICATION, CT, STUDY_FIND, STUDY_MOVE, STUDY_GET].map((abstractSyntax) => ({
          abstractSyntax,
          transferSyntaxes: [EXPLICIT, IMPLICIT]
        })),
        timeouts: {
          acse: "2 seconds",
          connect: "2 seconds",
          dimse: "3 seconds",
          write: "3 seconds",
          ...options.timeouts
        }
      })
    )
    const archiveLayer = Layer.fresh(
      Archive.Archive.layerFrom({ root, index: { filename: Path.join(dir, "index.sqlite") } })
    )
    const destinations = Layer.succeed(Scp.MoveDestinations)({
      lookup: (aeTitle) => {
        const port = options.destinations?.[aeTitle.trim()]
        return port === undefined ? Option.none() : Option.some({ host: "127.0.0.1", port })
      }
    })
    const context = yield* Layer.build(Layer.mergeAll(ScpServices.layer().pipe(Layer.provideMerge(archiveLayer))))
    const archive = yield* Effect.provide(Effect.service(Archive.Archive), context)
    const index = yield* Effect.provide(Effect.service(ArchiveIndex.ArchiveIndex), context)
    const server = yield* Scp.serve(ae, { port: 0 }).pipe(
      Effect.provide(Layer.merge(Layer.succeedContext(context), destinations))
    )
    return { port: server.port, dir, root, archive, index } satisfies ArchiveScp
  })

/** Our SCU to the archive: Verification, CT (SCU and, for C-GET, SCP role), study root FIND, MOVE, GET. */
export const connectArchive = (
  port: number,
  options: {
    readonly onStore?: StoreHandler.StorageHandler
    readonly getRole?: boolean
    readonly dimse?: Duration.Input
  } = {}
) =>
  Scu.connect(
    Result.getOrThrow(
      ApplicationEntity.make({
        aeTitle: "ATTACKER",
        timeouts: { acse: "2 seconds", connect: "2 seconds", dimse: options.dimse ?? "10 seconds", write: "3 seconds" }
      })
    ),
    {
      host: "127.0.0.1",
      port,
      calledAeTitle: "ARCHIVE",
      contexts: [VERIFICATION, CT, STUDY_FIND, STUDY_MOVE, STUDY_GET].map((abstractSyntax) => ({
        abstractSyntax,
        transferSyntaxes: [EXPLICIT]
      })),
      ...(options.getRole === true ? { roles: [{ sopClassUid: CT, scu: true, scp: true }] } : {}),
      ...(options.onStore !== undefined ? { onStore: options.onStore } : {})
    }
  )
