/**
 * Test data: small Part 10 files built with dcmjs, a temporary archive per test, and a few helpers.
 */
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { Effect, Layer, Stream } from "effect"
import * as Archive from "../src/Archive.ts"
import type { ArchiveIndex } from "../src/ArchiveIndex.ts"
import type { InstanceStore } from "../src/InstanceStore.ts"
import type { Dataset } from "../src/Header.ts"
import { writePart10 } from "../src/internal/Dcmjs.ts"

export const CT = "1.2.840.10008.5.1.4.1.1.2"
export const MR = "1.2.840.10008.5.1.4.1.1.4"
export const SC = "1.2.840.10008.5.1.4.1.1.7"
export const EXPLICIT_LE = "1.2.840.10008.1.2.1"
export const IMPLICIT_LE = "1.2.840.10008.1.2"

/** A Part 10 file with a few bytes of pixel data; `dataset` needs the four UIDs. */
export const part10 = (dataset: Dataset, transferSyntaxUid: string = EXPLICIT_LE, pixels = 16): Uint8Array => {
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: dataset["SOPClassUID"],
    MediaStorageSOPInstanceUID: dataset["SOPInstanceUID"],
    TransferSyntaxUID: transferSyntaxUid,
    ImplementationClassUID: "1.2.826.0.1.3680043.10.1234.1",
    ImplementationVersionName: "NETDICOM_TEST"
  }
  const full = {
    Rows: 2,
    Columns: 4,
    BitsAllocated: 16,
    BitsStored: 16,
    HighBit: 15,
    PixelRepresentation: 0,
    SamplesPerPixel: 1,
    PhotometricInterpretation: "MONOCHROME2",
    ...dataset,
    PixelData: new Uint8Array(pixels).fill(7).buffer,
    _vrMap: { PixelData: "OW" }
  }
  return writePart10(meta, full)
}

/**
 * Replaces every occurrence of an ASCII placeholder by bytes of the same length: to write Latin-1 text, or UIDs
 * dcmjs would clean up on writing.
 */
export const patch = (bytes: Uint8Array, placeholder: string, replacement: Uint8Array | string): Uint8Array => {
  const needle = new TextEncoder().encode(placeholder)
  const value = typeof replacement === "string" ? new TextEncoder().encode(replacement) : replacement
  if (needle.length !== value.length) throw new Error("patch: lengths differ")
  const out = bytes.slice()
  let found = 0
  outer: for (let i = 0; i + needle.length <= out.length; i++) {
    for (let j = 0; j < needle.length; j++) if (out[i + j] !== needle[j]) continue outer
    out.set(value, i)
    found++
  }
  if (found === 0) throw new Error(`patch: ${placeholder} not found`)
  return out
}

/**
 * The instance with its data set's (0008,0016) and (0008,0018) renamed (0008,0017) and (0008,0019) (Explicit VR
 * Little Endian): its File Meta Information alone names its SOP class and instance, as some exports have it.
 */
export const withoutSopUids = (bytes: Uint8Array): Uint8Array =>
  patch(patch(bytes, "\x08\x00\x16\x00UI", "\x08\x00\x17\x00UI"), "\x08\x00\x18\x00UI", "\x08\x00\x19\x00UI")

/** Options of `instance`. */
export interface InstanceSpec {
  readonly patientId: string
  readonly patientName: string
  readonly study: string
  readonly series: string
  readonly sop: string
  readonly modality?: string
  readonly studyDate?: string
  readonly studyTime?: string
  readonly accession?: string
  readonly sopClass?: string
  readonly seriesNumber?: number
  readonly instanceNumber?: number
  readonly extra?: Dataset
}

/** A small instance. */
export const instance = (spec: InstanceSpec): Uint8Array =>
  part10({
    SpecificCharacterSet: "ISO_IR 192",
    SOPClassUID: spec.sopClass ?? CT,
    SOPInstanceUID: spec.sop,
    StudyInstanceUID: spec.study,
    SeriesInstanceUID: spec.series,
    PatientID: spec.patientId,
    PatientName: spec.patientName,
    PatientBirthDate: "19700101",
    PatientSex: "O",
    StudyDate: spec.studyDate ?? "20200115",
    StudyTime: spec.studyTime ?? "101500",
    AccessionNumber: spec.accession ?? "",
    StudyID: "1",
    StudyDescription: "Test study",
    ReferringPhysicianName: "",
    Modality: spec.modality ?? "CT",
    SeriesNumber: spec.seriesNumber ?? 1,
    SeriesDescription: `Series ${spec.series}`,
    InstanceNumber: spec.instanceNumber ?? 1,
    ...spec.extra
  })

/** A fresh temporary directory, removed when the test's scope closes. */
export const tempDir = Effect.acquireRelease(
  Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "netdicom-archive-"))),
  (dir) => Effect.promise(() => Fs.rm(dir, { recursive: true, force: true }))
)

/** Index options the tests vary. */
export interface IndexTuning {
  readonly caseInsensitivePersonName?: boolean
  readonly pageSize?: number
}

/** An archive (store + index) in a directory. */
export const archiveIn = (dir: string, options: IndexTuning = {}) =>
  Archive.Archive.layerFrom({
    root: Path.join(dir, "files"),
    index: { filename: Path.join(dir, "index.sqlite"), ...options }
  })

/** An archive layer that is built fresh for the effect. */
export const withArchive = <A, E, R extends Archive.Archive | InstanceStore | ArchiveIndex>(
  dir: string,
  effect: Effect.Effect<A, E, R>,
  options: IndexTuning = {}
) => Effect.provide(effect, Layer.fresh(archiveIn(dir, options)))

/** Runs `effect` on an archive in a fresh temporary directory. */
export const inFreshArchive = <A, E, R extends Archive.Archive | InstanceStore | ArchiveIndex>(
  effect: Effect.Effect<A, E, R>
) => Effect.flatMap(tempDir, (dir) => withArchive(dir, effect))

/** Runs a C-FIND and collects the identifiers. */
export const find = (query: Dataset, model: "PatientRoot" | "StudyRoot" = "StudyRoot") =>
  Effect.flatMap(Archive.Archive, (a) => Stream.runCollect(a.find(query, { model })))

/** Files under a directory, recursively, relative to it. */
export const listFiles = (dir: string): Promise<ReadonlyArray<string>> =>
  Fs.readdir(dir, { recursive: true, withFileTypes: true }).then((entries) =>
    entries
      .filter((e) => e.isFile())
      .map((e) => Path.relative(dir, Path.join(e.parentPath, e.name)))
      .sort()
  )
