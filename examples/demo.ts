/**
 * The demo (`pnpm demo`): a Q/R archive and a storage SCP started in this process on free ports, a folder of real
 * files stored into the archive (C-STORE), a C-ECHO, the studies listed (C-FIND), one study moved to the storage
 * SCP (C-MOVE) and one fetched back over the same association (C-GET). Each step prints what happened; the process
 * exits by itself, 0 when every step succeeded. Installs nothing.
 *
 * Files come from argv[2], else the folder in NETDICOM_CORPUS or ../shared/corpus next to the repository when it
 * exists, else a small study set generated with dcmjs. Everything else lives in a temporary folder removed at the end.
 *
 * Covers, as a user of the library: PS3.4 Annexes A (Verification), B (Storage) and C (Query/Retrieve, study root).
 */
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Context, Effect, Exit, Layer, Option, References, Result, Stream } from "effect"
import { ApplicationEntity, DimseError, Part10, QueryRetrieve, Scp, Scu } from "@netdicom/net"
import type { DataSet, Negotiation } from "@netdicom/net"
import { Archive, ScpServices } from "@netdicom/archive"
import { Uids } from "@netdicom/wire"

const repoRoot = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const TS = Uids.TransferSyntax

// ---------------------------------------------------------------------------------------------------------------
// The files to store

interface Dcmjs {
  readonly log: { getLogger(name: string): { setLevel(level: string): void }; setLevel(level: string): void }
  readonly data: {
    readonly DicomDict: new (meta: object) => { dict: object; write(): ArrayBuffer }
    readonly DicomMetaDictionary: { denaturalizeDataset(dataset: object): object; uid(): string }
  }
}
const dcmjs = createRequire(import.meta.url)("dcmjs") as Dcmjs
dcmjs.log.setLevel("error")
dcmjs.log.getLogger("validation.dcmjs").setLevel("silent")

/** Two patients, two studies (CT and MR), two series of two images each, written by dcmjs. */
const generateStudies = (dir: string): void => {
  const uid = () => dcmjs.data.DicomMetaDictionary.uid()
  const studies = [
    { patientId: "DEMO-1", patientName: "DOE^JANE", sopClass: Uids.StorageSop.CTImageStorage, modality: "CT" },
    { patientId: "DEMO-2", patientName: "ROE^RICHARD", sopClass: Uids.StorageSop.MRImageStorage, modality: "MR" }
  ]
  for (const [s, study] of studies.entries()) {
    const studyUid = uid()
    for (let series = 1; series <= 2; series++) {
      const seriesUid = uid()
      for (let image = 1; image <= 2; image++) {
        const sop = uid()
        const meta = {
          FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
          MediaStorageSOPClassUID: study.sopClass,
          MediaStorageSOPInstanceUID: sop,
          TransferSyntaxUID: image === 1 ? TS.ExplicitVRLittleEndian : TS.ImplicitVRLittleEndian,
          ImplementationClassUID: ApplicationEntity.IMPLEMENTATION_CLASS_UID
        }
        const dataset = {
          SOPClassUID: study.sopClass,
          SOPInstanceUID: sop,
          PatientID: study.patientId,
          PatientName: study.patientName,
          StudyInstanceUID: studyUid,
          StudyDate: `2024010${s + 1}`,
          StudyDescription: `DEMO ${study.modality}`,
          SeriesInstanceUID: seriesUid,
          SeriesNumber: series,
          InstanceNumber: image,
          Modality: study.modality,
          Rows: 8,
          Columns: 8,
          BitsAllocated: 16,
          BitsStored: 12,
          HighBit: 11,
          PixelRepresentation: 0,
          SamplesPerPixel: 1,
          PhotometricInterpretation: "MONOCHROME2",
          PixelData: new Uint16Array(64).map((_, i) => (i * 61 + series * 7 + image) % 4096).buffer,
          _vrMap: { PixelData: "OW" }
        }
        const file = new dcmjs.data.DicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset(meta))
        file.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(dataset)
        Fs.writeFileSync(Path.join(dir, `${study.modality}-${series}-${image}.dcm`), new Uint8Array(file.write()))
      }
    }
  }
}

/** Every file under a folder, recursively (hidden entries skipped). */
const walk = (dir: string): ReadonlyArray<string> =>
  Fs.readdirSync(dir, { withFileTypes: true })
    .filter((e) => !e.name.startsWith("."))
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => (e.isDirectory() ? walk(Path.join(dir, e.name)) : e.isFile() ? [Path.join(dir, e.name)] : []))

/** A file to send: its meta, and the SOP UIDs its data set carries (the C-STORE's, when they differ). */
interface Sendable {
  readonly path: string
  readonly meta: Part10.FileInfo
  readonly sopClassUid: string
  readonly sopInstanceUid: string
}

const describeFile = (path: string): Effect.Effect<Sendable, Part10.Part10Error> =>
  Effect.gen(function* () {
    // As storescu reads it: its File Meta Information, or a bare data set's transfer syntax guessed.
    const meta = yield* Part10.readSendableMeta(path)
    const prefix = yield* Effect.promise(async () => {
      const handle = await Fs.promises.open(path, "r")
      try {
        const buffer = new Uint8Array(64 * 1024)
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, meta.dataSetOffset)
        return buffer.subarray(0, bytesRead)
      } finally {
        await handle.close()
      }
    })
    const ids = Part10.sopIdentifiers(prefix, meta.transferSyntaxUid)
    return {
      path,
      meta,
      sopClassUid: Result.isSuccess(ids) ? ids.success.sopClassUid : meta.mediaStorageSopClassUid,
      sopInstanceUid: Result.isSuccess(ids) ? ids.success.sopInstanceUid : meta.mediaStorageSopInstanceUid
    }
  })

// ---------------------------------------------------------------------------------------------------------------
// The two SCPs

const STORAGE_TS: ReadonlyArray<string> = [
  TS.ExplicitVRLittleEndian,
  TS.ImplicitVRLittleEndian,
  TS.ExplicitVRBigEndian,
  TS.DeflatedExplicitVRLittleEndian,
  TS.JPEGBaseline8Bit,
  "1.2.840.10008.1.2.4.51",
  TS.JPEGLossless,
  TS.JPEGLosslessSV1,
  TS.JPEGLSLossless,
  TS.JPEGLSNearLossless,
  TS.JPEG2000Lossless,
  TS.JPEG2000,
  TS.RLELossless
]
const QUERY_TS = [TS.ExplicitVRLittleEndian, TS.ImplicitVRLittleEndian]
const STORAGE_CLASSES = [...Uids.STORAGE_SOP_CLASSES, ...Uids.RETIRED_STORAGE_SOP_CLASSES]
const storageContexts = STORAGE_CLASSES.map((abstractSyntax) => ({ abstractSyntax, transferSyntaxes: STORAGE_TS }))
const qrContexts = (["find", "move", "get"] as const).map((op) => ({
  abstractSyntax: QueryRetrieve.SOP_CLASSES.study[op]!,
  transferSyntaxes: QUERY_TS
}))

const makeAe = (aeTitle: string, contexts: ReadonlyArray<ApplicationEntity.SupportedContext> = []) =>
  Effect.fromResult(ApplicationEntity.make({ aeTitle, contexts }))

/** An archive over `root`, index in memory, for the current scope. */
const archiveAt = (root: string) =>
  Effect.map(Layer.build(Archive.Archive.layerFrom({ root, index: { filename: ":memory:" } })), (context) =>
    Context.get(context, Archive.Archive)
  )

// ---------------------------------------------------------------------------------------------------------------
// The steps

const status = (r: Scu.StatusInfo): string =>
  `${r.meaning} (0x${r.status.toString(16).toUpperCase().padStart(4, "0")})${r.errorComment ? `: ${r.errorComment}` : ""}`

const first = (v: unknown): string => {
  const x = Array.isArray(v) ? v[0] : v
  return x === undefined || x === null ? "" : String(x)
}

const program = Effect.scoped(
  Effect.gen(function* () {
    const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdicom-demo-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(work, { recursive: true, force: true })))
    const corpus = process.env["NETDICOM_CORPUS"] ?? Path.resolve(repoRoot, "..", "shared", "corpus")
    let source = process.argv[2]
    if (source === undefined && Fs.existsSync(corpus)) source = corpus
    if (source === undefined) {
      source = Path.join(work, "generated")
      Fs.mkdirSync(source)
      generateStudies(source)
      yield* Console.log(`source: ${source} (generated with dcmjs: 2 studies, 8 images)`)
    } else yield* Console.log(`source: ${source}`)
    if (!Fs.existsSync(source)) return yield* Effect.fail(`no such folder: ${source}`)
    const files = Fs.statSync(source).isDirectory() ? walk(source) : [source]

    // the storage SCP the archive moves studies to
    const storeAe = yield* makeAe("DEMO-STORE", storageContexts)
    const storeArchive = yield* archiveAt(Path.join(work, "moved"))
    const storeScp = yield* Scp.serve(storeAe, { port: 0 }).pipe(
      Effect.provideService(
        Scp.StorageService,
        Scp.StorageService.of({ store: ScpServices.storageHandler(storeArchive) })
      )
    )
    yield* Console.log(`storage SCP DEMO-STORE listening on 127.0.0.1:${storeScp.port}`)

    // the Q/R archive: Storage, Query and Retrieve on an Archive, DEMO-STORE as its one move destination
    const qrAe = yield* makeAe("DEMO-QR", [
      { abstractSyntax: QueryRetrieve.VERIFICATION, transferSyntaxes: QUERY_TS },
      ...storageContexts,
      ...qrContexts
    ])
    const qrArchive = yield* archiveAt(Path.join(work, "archive"))
    const qrServices = Layer.mergeAll(
      ScpServices.layer({ retrieveAeTitle: "DEMO-QR" }).pipe(Layer.provide(Layer.succeed(Archive.Archive)(qrArchive))),
      Layer.succeed(Scp.MoveDestinations)({
        lookup: (aeTitle) =>
          aeTitle.trim() === "DEMO-STORE" ? Option.some({ host: "127.0.0.1", port: storeScp.port }) : Option.none()
      })
    )
    const qrScp = yield* Scp.serve(qrAe, { port: 0 }).pipe(Effect.provide(qrServices))
    yield* Console.log(`Q/R archive DEMO-QR listening on 127.0.0.1:${qrScp.port}\n`)

    const ae = yield* makeAe("DEMO-SCU")
    const peer = { host: "127.0.0.1", port: qrScp.port, calledAeTitle: "DEMO-QR" }

    // 1. C-STORE: read each file's meta, one context per SOP class and transfer syntax, 128 per association
    const sendable: Array<Sendable> = []
    const unreadable: Array<string> = []
    for (const file of files) {
      const d = yield* Effect.result(describeFile(file))
      if (Result.isSuccess(d)) sendable.push(d.success)
      else unreadable.push(`${Path.basename(file)}: ${d.failure.message}`)
    }
    const keyOf = (f: Sendable) => `${f.sopClassUid}|${f.meta.transferSyntaxUid}`
    const batches: Array<{ contexts: Array<Negotiation.ProposedContext>; files: Array<Sendable> }> = []
    for (const f of sendable) {
      let batch = batches.find((b) =>
        b.contexts.some((c) => keyOf(f) === `${c.abstractSyntax}|${c.transferSyntaxes[0]}`)
      )
      if (batch === undefined) {
        batch = batches.find((b) => b.contexts.length < 128)
        if (batch === undefined) batches.push((batch = { contexts: [], files: [] }))
        batch.contexts.push({ abstractSyntax: f.sopClassUid, transferSyntaxes: [f.meta.transferSyntaxUid] })
      }
      batch.files.push(f)
    }
    let stored = 0
    const refused: Array<string> = []
    for (const batch of batches) {
      yield* Effect.scoped(
        Effect.gen(function* () {
          const channel = yield* Scu.connect(ae, { ...peer, contexts: batch.contexts })
          for (const f of batch.files) {
            const r = yield* Effect.result(
              Scu.store(channel, {
                sopClassUid: f.sopClassUid,
                sopInstanceUid: f.sopInstanceUid,
                transferSyntax: f.meta.transferSyntaxUid,
                dataSet: Part10.streamDataSet(f.path, f.meta).pipe(
                  Stream.mapError((e) => new DimseError.DataSourceFailed({ detail: e.message }))
                )
              })
            )
            if (Result.isSuccess(r) && r.success.category !== "Failure") stored++
            else
              refused.push(`${Path.basename(f.path)}: ${Result.isSuccess(r) ? status(r.success) : r.failure.message}`)
          }
        })
      )
    }
    yield* Console.log(`1. C-STORE: ${stored} of ${files.length} files stored on DEMO-QR`)
    if (unreadable.length > 0) yield* Console.log(`   ${unreadable.length} could not be read, e.g. ${unreadable[0]}`)
    if (refused.length > 0) yield* Console.log(`   ${refused.length} refused by the archive, e.g. ${refused[0]}`)

    // 2 and 3. C-ECHO, then C-FIND for the studies, on one association
    const studies = yield* Effect.scoped(
      Effect.gen(function* () {
        const channel = yield* Scu.connect(ae, {
          ...peer,
          contexts: [
            { abstractSyntax: QueryRetrieve.VERIFICATION, transferSyntaxes: QUERY_TS },
            { abstractSyntax: QueryRetrieve.SOP_CLASSES.study.find, transferSyntaxes: QUERY_TS }
          ]
        })
        const echo = yield* Scu.echo(channel)
        yield* Console.log(`2. C-ECHO DEMO-QR: ${status(echo)}`)
        if (echo.category !== "Success") return yield* Effect.fail("C-ECHO did not succeed")
        const identifier: DataSet.Naturalized = {
          QueryRetrieveLevel: "STUDY",
          StudyInstanceUID: "",
          PatientName: "",
          PatientID: "",
          StudyDate: "",
          StudyDescription: "",
          ModalitiesInStudy: "",
          SOPClassesInStudy: "",
          NumberOfStudyRelatedInstances: ""
        }
        const responses = yield* Stream.runCollect(Scu.find(channel, { model: "study", identifier }))
        const final = responses[responses.length - 1]
        const matches = responses.flatMap((r) => (r.identifier !== undefined ? [r.identifier] : []))
        yield* Console.log(
          `3. C-FIND study root: ${matches.length} studies, ${final ? status(final) : "no final response"}`
        )
        for (const m of matches) {
          const modalities = [m["ModalitiesInStudy"]]
            .flat()
            .filter((x) => x !== "")
            .join("/")
          yield* Console.log(
            `   ${first(m["StudyDate"]).padEnd(8)} ${first(m["PatientName"]).slice(0, 24).padEnd(24)} ` +
              `${modalities.padEnd(8)} ${first(m["NumberOfStudyRelatedInstances"]).padStart(3)} ${first(m["StudyInstanceUID"])}`
          )
        }
        if (final?.category !== "Success" || matches.length === 0) return yield* Effect.fail("C-FIND found no study")
        return matches
      })
    )
    const bySize = [...studies].sort(
      (a, b) => Number(first(b["NumberOfStudyRelatedInstances"])) - Number(first(a["NumberOfStudyRelatedInstances"]))
    )
    const toMove = bySize[0]!
    const toGet = bySize[1] ?? bySize[0]!

    // 4. C-MOVE the largest study to DEMO-STORE
    const moveUid = first(toMove["StudyInstanceUID"])
    const moved = yield* Effect.scoped(
      Effect.gen(function* () {
        const channel = yield* Scu.connect(ae, {
          ...peer,
          contexts: [{ abstractSyntax: QueryRetrieve.SOP_CLASSES.study.move!, transferSyntaxes: QUERY_TS }]
        })
        const responses = Scu.move(channel, {
          model: "study",
          destination: "DEMO-STORE",
          identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: moveUid }
        })
        return yield* Stream.runLast(responses)
      })
    )
    const moveFinal = Option.getOrUndefined(moved)
    const movedFiles = walk(Path.join(work, "moved")).length
    yield* Console.log(
      `4. C-MOVE study ${moveUid} to DEMO-STORE: ${moveFinal ? status(moveFinal) : "no final response"}, ` +
        `${moveFinal?.completed ?? 0} completed, ${moveFinal?.failed ?? 0} failed; DEMO-STORE holds ${movedFiles} files`
    )

    // 5. C-GET another study back over the association: its SOP classes proposed with the SCP role, in every
    //    storage transfer syntax (one per context, as instances are sent the way they were stored)
    const getUid = first(toGet["StudyInstanceUID"])
    const classes = [toGet["SOPClassesInStudy"]]
      .flat()
      .map(String)
      .filter((u) => u !== "")
      .slice(0, 9)
    const fetchedArchive = yield* archiveAt(Path.join(work, "fetched"))
    const got = yield* Effect.scoped(
      Effect.gen(function* () {
        const channel = yield* Scu.connect(ae, {
          ...peer,
          contexts: [
            { abstractSyntax: QueryRetrieve.SOP_CLASSES.study.get!, transferSyntaxes: QUERY_TS },
            ...classes.flatMap((abstractSyntax) => STORAGE_TS.map((ts) => ({ abstractSyntax, transferSyntaxes: [ts] })))
          ],
          roles: classes.map((sopClassUid) => ({ sopClassUid, scu: false, scp: true })),
          onStore: ScpServices.storageHandler(fetchedArchive)
        })
        return yield* Stream.runLast(
          Scu.get(channel, { model: "study", identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: getUid } })
        )
      })
    )
    const getFinal = Option.getOrUndefined(got)
    const fetchedFiles = walk(Path.join(work, "fetched")).length
    yield* Console.log(
      `5. C-GET study ${getUid}: ${getFinal ? status(getFinal) : "no final response"}, ` +
        `${getFinal?.completed ?? 0} completed, ${getFinal?.failed ?? 0} failed; ${fetchedFiles} files received`
    )

    const ok = stored > 0 && moveFinal?.category === "Success" && getFinal?.category === "Success"
    yield* Console.log(ok ? "\nevery step succeeded" : "\nsome step did not succeed")
    if (!ok) return yield* Effect.fail("the demo did not complete")
  })
)

program.pipe(
  Effect.provideService(References.MinimumLogLevel, "Error"),
  Effect.catch((e) => Effect.andThen(Console.error(`demo: ${typeof e === "string" ? e : e.message}`), Effect.fail(e))),
  Effect.onExit((exit) => (Exit.isFailure(exit) ? Effect.sync(() => (process.exitCode = 1)) : Effect.void)),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
