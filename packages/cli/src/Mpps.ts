/**
 * `netdicom mpps`: Modality Performed Procedure Step as SCU (PS3.4 Annex F.7), one request per association.
 *
 * - `mpps create`: N-CREATE of a step IN PROGRESS (F.7.2.1) under `--uid` or a new `2.25.` UID, printed on stdout.
 *   Its Attribute List is built in layers, each over the one before: a minimal step (Type 1 attributes from the flags:
 *   the start now, our AE title as the station, `--modality`, a Scheduled Step Attributes Sequence item with the
 *   Study Instance UID; the Type 2 ones empty), then what `--worklist` maps from a Modality Worklist item
 *   (`fromWorklist`), then the data set of `--file` (DICOM JSON or a DICOM file), then the flags, then `-k` keys.
 * - `mpps set`: N-SET of `--uid` (F.7.2.2) with `--status` (COMPLETED or DISCONTINUED; IN PROGRESS for an update),
 *   the End Date and Time now when the step ends, the Performed Series Sequence built from the DICOM files given
 *   (each series with its instances), then `--file` and `-k` as above.
 *
 * The status is printed as `commit` prints its N-ACTION's, with the Error Comment, Error ID and attributes named; the
 * exit code is 0 for Success and Warning. `dirWriter` is the `qrscp --mpps-dir` side: a DICOM JSON file per step.
 *
 * @since 0.2.0
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { Argument, Command, Flag } from "effect/cli"
import { DataSet, Mpps, Part10, Scu } from "@netdicom/net"
import type { MppsScp } from "@netdicom/net"
import { Header } from "@netdicom/archive"
import { Identifiers, Status } from "@netdicom/wire"
import { peerOf } from "./Client.ts"
import * as Contexts from "./Contexts.ts"
import * as DicomJson from "./DicomJson.ts"
import * as Files from "./Files.ts"
import * as Keys from "./Keys.ts"
import { applicationEntity, common, fail, printable, withLogging, type Common } from "./Options.ts"

const CONTEXTS = [{ abstractSyntax: Mpps.SOP_CLASS, transferSyntaxes: Contexts.QUERY_TRANSFER_SYNTAXES }]

// The most a `--file` may hold: an N-CREATE or N-SET data set goes in one piece (an SCP of ours takes 8 MiB).
const MAX_FILE_BYTES = 8 << 20
// The most of an instance file read for its UIDs.
const MAX_HEADER_BYTES = 4 << 20

const host = Argument.String("host").pipe(Argument.withDescription("the peer's host name or address"))
const port = Argument.Int("port").pipe(Argument.withDescription("the peer's TCP port"))
const file = Flag.String("file").pipe(
  Flag.withDescription(
    "a data set to send as it is: DICOM JSON (PS3.18 F.2, as `netdicom find` prints and `qrscp --mpps-dir` keeps) " +
      "or a DICOM file; the flags and -k keys go over it (a worklist item goes in --worklist, which maps it)"
  ),
  Flag.optional
)
const keys = Flag.String("key").pipe(
  Flag.withAlias("k"),
  Flag.withDescription(
    "an attribute, Keyword=Value or gggg,eeee=Value (no value: empty; " +
      "Sequence.Keyword=Value: in the sequence's first item, Sequence[1].Keyword=Value in its second); repeat for more"
  ),
  Flag.atLeast(0)
)

/** `YYYYMMDD` and `HHMMSS` of a moment, local time (DA and TM, PS3.5 6.2). */
export const dateTime = (at: Date): { readonly date: string; readonly time: string } => {
  const p = (n: number) => String(n).padStart(2, "0")
  return {
    date: `${at.getFullYear()}${p(at.getMonth() + 1)}${p(at.getDate())}`,
    time: `${p(at.getHours())}${p(at.getMinutes())}${p(at.getSeconds())}`
  }
}

type NaturalizeJson = (json: unknown) => DataSet.Naturalized

/** The data set of a `--file`: DICOM JSON when it parses as JSON, else a DICOM file (Part 10, or a bare data set). */
export const readDataSet = (path: string) =>
  Effect.gen(function* () {
    const bytes = yield* Effect.try({
      try: () => {
        const size = Fs.statSync(path).size
        if (size > MAX_FILE_BYTES) throw new Error(`${size} bytes, over ${MAX_FILE_BYTES}`)
        return Fs.readFileSync(path)
      },
      catch: (e) => (e instanceof Error ? e.message : String(e))
    }).pipe(Effect.catch((why) => fail(`--file ${printable(path)}: ${printable(why)}`)))
    const first = bytes.subarray(0, 64).toString("latin1").trimStart()
    if (first.startsWith("{")) {
      const parsed = yield* Effect.try({
        try: () => {
          const json: unknown = JSON.parse(bytes.toString("utf8"))
          if (typeof json !== "object" || json === null || Array.isArray(json)) throw new Error("not a JSON object")
          for (const [tag, value] of Object.entries(json)) {
            if (!/^[0-9A-Fa-f]{8}$/.test(tag) || typeof value !== "object" || value === null || !("vr" in value)) {
              throw new Error(`"${tag}" is not a DICOM JSON attribute (8 hex digits, with its vr)`)
            }
          }
          const dcmjs = DataSet.dcmjsModule() as {
            readonly data: { readonly DicomMetaDictionary: { readonly naturalizeDataset: NaturalizeJson } }
          }
          return dcmjs.data.DicomMetaDictionary.naturalizeDataset(json)
        },
        catch: (e) => (e instanceof Error ? e.message : String(e))
      }).pipe(Effect.catch((why) => fail(`--file ${printable(path)}: ${printable(why)}`)))
      return parsed
    }
    const meta = yield* Part10.readSendableMeta(path).pipe(
      Effect.catch((e) => fail(`--file ${printable(path)}: neither DICOM JSON nor a DICOM file (${e.message})`))
    )
    const decoded = DataSet.decode(bytes.subarray(meta.dataSetOffset), meta.transferSyntaxUid)
    if (Result.isFailure(decoded)) return yield* fail(`--file ${printable(path)}: ${decoded.failure.message}`)
    // a file's own identity is not the step's
    const { SOPClassUID: _c, SOPInstanceUID: _i, ...rest } = decoded.success
    return rest
  })

/**
 * A `--worklist` item: a data set as `readDataSet` reads it, or, for `find`'s output of several matches (a DICOM JSON
 * object a line), the only one there; several is an error naming how many.
 */
const readWorklistItem = (path: string) =>
  Effect.gen(function* () {
    const text = yield* Effect.try({
      try: () => (Fs.statSync(path).size <= MAX_FILE_BYTES ? Fs.readFileSync(path, "utf8") : ""),
      catch: (e) => (e instanceof Error ? e.message : String(e))
    }).pipe(Effect.catch((why) => fail(`--worklist ${printable(path)}: ${printable(why)}`)))
    if (text.trim() === "") return yield* fail(`--worklist ${printable(path)}: empty, no worklist item`)
    const items = text.split("\n").filter((line) => line.trimStart().startsWith("{"))
    if (items.length > 1 && items.every((line) => line.trimEnd().endsWith("}"))) {
      return yield* fail(
        `--worklist ${printable(path)}: ${items.length} worklist items (a DICOM JSON object a line); give one`
      )
    }
    return yield* readDataSet(path).pipe(
      Effect.catch((e) => fail(e.message.replace(/^--file /, "--worklist "), e.code))
    )
  })

/**
 * The Performed Series Sequence (PS3.4 Table F.7.2-1) of the instances in `paths`: an item a series, its images
 * (instances with Rows, the Image Pixel module's) in the Referenced Image Sequence, the others (SR, RT Plan,
 * presentation states, waveforms...) in the Referenced Non-Image Composite SOP Instance Sequence. Each file's header
 * is read as the archive reads it (`Header`: deflated data sets too).
 */
const performedSeries = (paths: ReadonlyArray<string>, retrieveAeTitle: string) =>
  Effect.gen(function* () {
    const { files, missing, skipped } = yield* Files.collect(paths)
    for (const s of skipped) yield* Console.error(`SKIPPED ${printable(s.path)}: ${printable(s.reason)}`)
    if (missing.length > 0) return yield* fail(`${printable(missing[0]!.path)}: ${printable(missing[0]!.reason)}`)
    type Reference = { readonly sopClassUid: string; readonly sopInstanceUid: string }
    const series = new Map<string, { images: Array<Reference>; others: Array<Reference> }>()
    for (const path of files) {
      const header = yield* Header.fromFile(path, MAX_HEADER_BYTES).pipe(
        Effect.catch((e) =>
          fail(
            `${printable(path)}: not an instance whose UIDs can be read ` +
              `(${e._tag === "InvalidInstance" ? e.reason : e.message})`
          )
        )
      )
      const entry = series.get(header.seriesInstanceUid) ?? { images: [], others: [] }
      const rows = header.dataset["Rows"]
      const list = rows !== undefined && rows !== "" ? entry.images : entry.others
      if (![...entry.images, ...entry.others].some((i) => i.sopInstanceUid === header.sopInstanceUid)) {
        list.push({ sopClassUid: header.sopClassUid, sopInstanceUid: header.sopInstanceUid })
      }
      series.set(header.seriesInstanceUid, entry)
    }
    const items = (references: ReadonlyArray<Reference>) =>
      references.map((i) => ({ ReferencedSOPClassUID: i.sopClassUid, ReferencedSOPInstanceUID: i.sopInstanceUid }))
    return [...series].map(([seriesInstanceUid, { images, others }]) => ({
      SeriesInstanceUID: seriesInstanceUid,
      RetrieveAETitle: retrieveAeTitle,
      SeriesDescription: "",
      PerformingPhysicianName: "",
      OperatorsName: "",
      ProtocolName: "",
      ReferencedImageSequence: items(images),
      ReferencedNonImageCompositeSOPInstanceSequence: items(others)
    }))
  })

// Copied as they are from a worklist item to the step's top level, and into its Scheduled Step Attributes items.
const PATIENT_KEYS = [
  "SpecificCharacterSet",
  "PatientName",
  "PatientID",
  "IssuerOfPatientID",
  "PatientBirthDate",
  "PatientSex",
  "ReferencedPatientSequence"
] as const
const REQUESTED_KEYS = [
  "StudyInstanceUID",
  "ReferencedStudySequence",
  "AccessionNumber",
  "RequestedProcedureID",
  "RequestedProcedureDescription"
] as const
const SCHEDULED_STEP_KEYS = [
  "ScheduledProcedureStepID",
  "ScheduledProcedureStepDescription",
  "ScheduledProtocolCodeSequence"
] as const

/** A Scheduled Step Attributes Sequence item: the Study Instance UID (Type 1), the Type 2 attributes empty. */
const scheduledItem = (studyUid: string): Record<string, unknown> => ({
  StudyInstanceUID: studyUid,
  AccessionNumber: "",
  RequestedProcedureID: "",
  RequestedProcedureDescription: "",
  ScheduledProcedureStepID: "",
  ScheduledProcedureStepDescription: "",
  ReferencedStudySequence: []
})

const pick = (from: DataSet.Naturalized, keys: ReadonlyArray<string>): Record<string, unknown> =>
  Object.fromEntries(keys.flatMap((k) => (from[k] === undefined || from[k] === null ? [] : [[k, from[k]]])))

/**
 * The attributes of an MPPS N-CREATE (PS3.4 Table F.7.2-1) that a Modality Worklist item (PS3.4 K.6.1, as `netdicom
 * find --model worklist` prints it) gives: the patient's, a Scheduled Step Attributes Sequence item per Scheduled
 * Procedure Step item (Study Instance UID, Accession Number, Requested Procedure ID and Description, the step's ID,
 * description and protocol codes), the Procedure Code Sequence from the Requested Procedure Code Sequence, and the
 * Modality of the first scheduled step; an item's Type 2 attributes the worklist leaves out are sent empty, and
 * `studyUid` stands for a Study Instance UID it lacks. The worklist's own attributes (Scheduled Procedure Step
 * Sequence...) are not sent.
 */
export const fromWorklist = (item: DataSet.Naturalized, studyUid: string): Record<string, unknown> => {
  const requested = pick(item, REQUESTED_KEYS)
  const steps = Mpps.itemsOf(item["ScheduledProcedureStepSequence"])
  const first = steps[0]
  return {
    ...pick(item, PATIENT_KEYS),
    ...(item["RequestedProcedureCodeSequence"] !== undefined
      ? { ProcedureCodeSequence: item["RequestedProcedureCodeSequence"] }
      : {}),
    ...(first !== undefined && typeof first["Modality"] === "string" && first["Modality"] !== ""
      ? { Modality: first["Modality"] }
      : {}),
    ScheduledStepAttributesSequence: (steps.length > 0 ? steps : [{}]).map((step) => ({
      ...scheduledItem(studyUid),
      ...requested,
      ...pick(step, SCHEDULED_STEP_KEYS)
    }))
  }
}

const withKeys = (base: DataSet.Naturalized, given: ReadonlyArray<string>) => {
  const built = Keys.attributes(given, base)
  return Result.isSuccess(built) ? Effect.succeed(built.success) : fail(built.failure.message)
}

// `DataSet.tagString` of each listed attribute.
const listed = (tags: ReadonlyArray<number> | undefined): string =>
  tags === undefined || tags.length === 0 ? "" : ` [${tags.map((t) => DataSet.tagString(t)).join(", ")}]`

/** Says how the peer answered, on stderr; fails the command unless Success or Warning. */
const report = (operation: string, uid: string, response: Scu.NResponse) =>
  Effect.gen(function* () {
    yield* Console.error(
      `${operation} ${uid}: ${response.meaning} (${Status.format(response.status)})` +
        (response.errorComment ? `: ${printable(response.errorComment.trim())}` : "") +
        (response.errorId === undefined ? "" : ` (Error ID ${Status.format(response.errorId).slice(2)})`) +
        listed(response.attributeIdentifierList)
    )
    if (response.category !== "Success" && response.category !== "Warning") return yield* fail("")
  })

/** Sends one request on a new association and reports its answer. */
const exchange = (
  c: Common & { readonly host: string; readonly port: number },
  send: (channel: Parameters<typeof Scu.nCreate>[0]) => Effect.Effect<Scu.NResponse, unknown>
) =>
  Effect.gen(function* () {
    const peer = yield* peerOf(c)
    const ae = yield* applicationEntity(c)
    return yield* Effect.scoped(
      Effect.flatMap(Scu.connect(ae, { ...peer, contexts: CONTEXTS }), (channel) => send(channel))
    )
  })

const uidFlag = (what: string) => Flag.String("uid").pipe(Flag.withDescription(what))

const checkUid = (uid: string, flag = "--uid") => {
  const checked = Identifiers.uid(uid.trim())
  return Result.isSuccess(checked)
    ? Effect.succeed(checked.success)
    : fail(`${flag} "${printable(uid)}" is not a UID: it ${checked.failure.rule}`)
}

const create = Command.make(
  "create",
  {
    host,
    port,
    uid: uidFlag("the step's SOP Instance UID (default: a new 2.25. UID)").pipe(Flag.optional),
    patientId: Flag.String("patient-id").pipe(Flag.withDescription("Patient ID"), Flag.optional),
    patientName: Flag.String("patient-name").pipe(Flag.withDescription("Patient's Name"), Flag.optional),
    studyUid: Flag.String("study-uid").pipe(
      Flag.withDescription("the Study Instance UID of the scheduled step (default: a new 2.25. UID)"),
      Flag.optional
    ),
    modality: Flag.String("modality").pipe(Flag.withDescription("Modality (default OT)"), Flag.optional),
    stepId: Flag.String("step-id").pipe(
      Flag.withDescription("Performed Procedure Step ID (default: the start, YYYYMMDDHHMMSS)"),
      Flag.optional
    ),
    worklist: Flag.String("worklist").pipe(
      Flag.withDescription(
        "a Modality Worklist item the step performs, as `netdicom find --model worklist` prints it (one line of " +
          "DICOM JSON, or a DICOM file): its patient, Study Instance UID, Accession Number, requested procedure and " +
          "scheduled step go where the step keeps them (Scheduled Step Attributes Sequence); --file, the flags and " +
          "-k go over them"
      ),
      Flag.optional
    ),
    file,
    keys,
    ...common
  },
  (c) =>
    Effect.gen(function* () {
      const uid = Option.isSome(c.uid) ? yield* checkUid(c.uid.value) : Mpps.newUid()
      const studyUid = Option.isSome(c.studyUid) ? yield* checkUid(c.studyUid.value, "--study-uid") : Mpps.newUid()
      const start = dateTime(new Date())
      const minimal: DataSet.Naturalized = {
        PerformedProcedureStepStatus: Mpps.IN_PROGRESS,
        ScheduledStepAttributesSequence: [scheduledItem(studyUid)],
        PatientName: "",
        PatientID: "",
        PatientBirthDate: "",
        PatientSex: "",
        ReferencedPatientSequence: [],
        StudyID: "",
        PerformedProcedureStepID: `${start.date}${start.time}`,
        PerformedStationAETitle: c.aet.trim(),
        PerformedStationName: "",
        PerformedLocation: "",
        PerformedProcedureStepStartDate: start.date,
        PerformedProcedureStepStartTime: start.time,
        PerformedProcedureStepEndDate: "",
        PerformedProcedureStepEndTime: "",
        PerformedProcedureStepDescription: "",
        PerformedProcedureTypeDescription: "",
        ProcedureCodeSequence: [],
        PerformedProtocolCodeSequence: [],
        Modality: "OT",
        PerformedSeriesSequence: []
      }
      const fromItem = Option.isSome(c.worklist)
        ? fromWorklist(yield* readWorklistItem(c.worklist.value), studyUid)
        : {}
      const fromFile = Option.isSome(c.file) ? yield* readDataSet(c.file.value) : {}
      const flags: Record<string, unknown> = {
        ...(Option.isSome(c.patientId) ? { PatientID: c.patientId.value } : {}),
        ...(Option.isSome(c.patientName) ? { PatientName: c.patientName.value } : {}),
        ...(Option.isSome(c.stepId) ? { PerformedProcedureStepID: c.stepId.value } : {}),
        ...(Option.isSome(c.modality) ? { Modality: c.modality.value } : {})
      }
      const layered: Record<string, unknown> = { ...minimal, ...fromItem, ...fromFile, ...flags }
      if (Option.isSome(c.studyUid)) {
        const items = Mpps.itemsOf(layered["ScheduledStepAttributesSequence"])
        layered["ScheduledStepAttributesSequence"] = (items.length > 0 ? items : [{}]).map((item) => ({
          ...item,
          StudyInstanceUID: studyUid
        }))
      }
      const attributes = yield* withKeys(layered, c.keys)
      const response = yield* exchange(c, (channel) =>
        Scu.nCreate(channel, { sopClassUid: Mpps.SOP_CLASS, sopInstanceUid: uid, dataSet: attributes })
      )
      // the peer's text, printed only when it is a UID, and ours when we named one (PS3.7 10.1.5.1.5)
      const made = response.sopInstanceUid ?? uid
      yield* report("N-CREATE", printable(made), response)
      if (Result.isFailure(Identifiers.uid(made))) {
        return yield* fail(`N-CREATE: the peer's response names the step "${printable(made)}", which is no UID`)
      }
      if (Option.isSome(c.uid) && made !== uid) {
        return yield* fail(`N-CREATE ${uid}: the peer's response names another step, ${made}`)
      }
      yield* Console.log(made)
    }).pipe(withLogging(c, "client"))
).pipe(
  Command.withDescription("MPPS N-CREATE: start a Performed Procedure Step (IN PROGRESS); prints its SOP Instance UID")
)

const STATES = [Mpps.COMPLETED, Mpps.DISCONTINUED, Mpps.IN_PROGRESS] as const

const set = Command.make(
  "set",
  {
    host,
    port,
    uid: uidFlag("(required) the step's SOP Instance UID, as `mpps create` printed it"),
    status: Flag.Literals("status", STATES).pipe(
      Flag.withDescription(
        "(required) the step's new Performed Procedure Step Status: COMPLETED or DISCONTINUED end it (with the End " +
          "Date and Time now unless given); IN PROGRESS updates it"
      )
    ),
    paths: Argument.String("path").pipe(
      Argument.withDescription(
        "DICOM files and folders of the instances the step made: the Performed Series Sequence, a series an item"
      ),
      Argument.variadic()
    ),
    file,
    keys,
    ...common
  },
  (c) =>
    Effect.gen(function* () {
      const uid = yield* checkUid(c.uid)
      const end = dateTime(new Date())
      const base: Record<string, unknown> = { PerformedProcedureStepStatus: c.status }
      if (c.status !== Mpps.IN_PROGRESS) {
        base["PerformedProcedureStepEndDate"] = end.date
        base["PerformedProcedureStepEndTime"] = end.time
      }
      if (c.paths.length > 0) base["PerformedSeriesSequence"] = yield* performedSeries(c.paths, c.aet.trim())
      const fromFile = Option.isSome(c.file) ? yield* readDataSet(c.file.value) : {}
      const modification = yield* withKeys({ ...base, ...fromFile, PerformedProcedureStepStatus: c.status }, c.keys)
      const response = yield* exchange(c, (channel) =>
        Scu.nSet(channel, { sopClassUid: Mpps.SOP_CLASS, sopInstanceUid: uid, dataSet: modification })
      )
      yield* report("N-SET", uid, response)
    }).pipe(withLogging(c, "client"))
).pipe(Command.withDescription("MPPS N-SET: end a Performed Procedure Step (COMPLETED, DISCONTINUED) or update it"))

const mpps = Command.make("mpps").pipe(
  Command.withDescription("Modality Performed Procedure Step SCU: create and set a step (N-CREATE, N-SET)"),
  Command.withSubcommands([create, set])
)

/** The MPPS subcommand. */
export const commands = [mpps] as const

/**
 * `qrscp --mpps-dir`: each step created or set written to `<dir>/<SOP Instance UID>.json` in the DICOM JSON Model,
 * replaced whole (a temporary file renamed over it). A failure is logged: the step is kept in the index regardless.
 */
export const dirWriter =
  (dir: string) =>
  (change: MppsScp.Change): Effect.Effect<void> =>
    Effect.try({
      try: () => {
        // the SCP takes nothing else, and a file name is made of it
        if (Result.isFailure(Identifiers.uid(change.sopInstanceUid))) throw new Error("its SOP Instance UID is no UID")
        const target = Path.join(dir, `${change.sopInstanceUid}.json`)
        const temporary = Path.join(dir, `.${change.sopInstanceUid}.${process.pid}.tmp`)
        Fs.writeFileSync(temporary, `${JSON.stringify(DicomJson.fromNaturalized(change.attributes), null, 1)}\n`)
        Fs.renameSync(temporary, target)
      },
      catch: (e) => (e instanceof Error ? e.message : String(e))
    }).pipe(Effect.catch((why) => Effect.logWarning(`MPPS ${change.sopInstanceUid} not written to --mpps-dir: ${why}`)))
