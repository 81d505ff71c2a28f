/**
 * The benchmark's inputs, generated with dcmjs: DICOM Part 10 files (PS3.10 7.1 meta, Explicit VR Little Endian
 * data set) of CT Image Storage instances with a real CT header (patient, study, series, frame of reference,
 * equipment, image plane and pixel module attributes) and 16-bit pixel data.
 *
 * - small: ~40 KB each (140 x 140 pixels), written whole by dcmjs;
 * - large: any size (32 MiB in the benchmark, 1 GiB by hand): dcmjs writes the meta and header, then the Pixel Data
 *   element (7FE0,0010) OW is appended and its value streamed to the file in 1 MiB blocks, so generating a 1 GiB
 *   file needs no 1 GiB buffer. Pixel Data is the last element, so appending it keeps the data set in tag order.
 */
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as Path from "node:path"
import { CT_IMAGE_STORAGE, EXPLICIT_VR_LE, UID_ROOT } from "./common.ts"

interface DcmjsData {
  readonly DicomDict: new (meta: object) => { dict: object; write: () => ArrayBuffer }
  readonly DicomMetaDictionary: { denaturalizeDataset: (dataset: object) => object }
}

const dcmjs = createRequire(import.meta.url)("dcmjs") as { readonly data: DcmjsData }

/** A file written, with what a sender needs to know without reading it. */
export interface Input {
  readonly path: string
  readonly size: number
}

const header = (run: string, index: number, rows: number, columns: number) => {
  const study = `${UID_ROOT}.${run}.1`
  const series = `${UID_ROOT}.${run}.2`
  return {
    SpecificCharacterSet: "ISO_IR 100",
    ImageType: ["ORIGINAL", "PRIMARY", "AXIAL"],
    SOPClassUID: CT_IMAGE_STORAGE,
    SOPInstanceUID: `${UID_ROOT}.${run}.4.${index + 1}`,
    StudyDate: "20240315",
    SeriesDate: "20240315",
    ContentDate: "20240315",
    StudyTime: "101500",
    SeriesTime: "101512",
    ContentTime: "101530",
    AccessionNumber: "A2024031501",
    Modality: "CT",
    Manufacturer: "NETDICOM BENCH",
    InstitutionName: "Loopback General Hospital",
    ReferringPhysicianName: "REFERRER^ROSE",
    StationName: "CT01",
    StudyDescription: "CT CHEST WITH CONTRAST",
    SeriesDescription: "AXIAL 1.0 B30f",
    ManufacturerModelName: "Synthetic",
    PatientName: "BENCH^PATIENT",
    PatientID: "BENCH0001",
    PatientBirthDate: "19700101",
    PatientSex: "O",
    PatientAge: "054Y",
    BodyPartExamined: "CHEST",
    SliceThickness: 1,
    KVP: 120,
    DataCollectionDiameter: 500,
    SoftwareVersions: "0.1.0",
    ReconstructionDiameter: 350,
    GantryDetectorTilt: 0,
    TableHeight: 160,
    RotationDirection: "CW",
    ExposureTime: 500,
    XRayTubeCurrent: 250,
    Exposure: 125,
    ConvolutionKernel: "B30f",
    PatientPosition: "HFS",
    StudyInstanceUID: study,
    SeriesInstanceUID: series,
    StudyID: "1",
    SeriesNumber: 2,
    AcquisitionNumber: 1,
    InstanceNumber: index + 1,
    ImagePositionPatient: [-175, -175, -index],
    ImageOrientationPatient: [1, 0, 0, 0, 1, 0],
    FrameOfReferenceUID: `${UID_ROOT}.${run}.3`,
    PositionReferenceIndicator: "",
    SliceLocation: -index,
    SamplesPerPixel: 1,
    PhotometricInterpretation: "MONOCHROME2",
    Rows: rows,
    Columns: columns,
    PixelSpacing: [Number((350 / rows).toFixed(6)), Number((350 / columns).toFixed(6))],
    BitsAllocated: 16,
    BitsStored: 12,
    HighBit: 11,
    PixelRepresentation: 0,
    WindowCenter: 40,
    WindowWidth: 400,
    RescaleIntercept: -1024,
    RescaleSlope: 1,
    RescaleType: "HU"
  }
}

const meta = (sopInstanceUid: string) => ({
  FileMetaInformationVersion: Uint8Array.of(0, 1).buffer,
  MediaStorageSOPClassUID: CT_IMAGE_STORAGE,
  MediaStorageSOPInstanceUID: sopInstanceUid,
  TransferSyntaxUID: EXPLICIT_VR_LE,
  ImplementationClassUID: `${UID_ROOT}.0`,
  ImplementationVersionName: "NETDICOM_BENCH"
})

/** 12-bit values in a CT-like pattern (a disc of soft tissue in air), as little-endian 16-bit words. */
const pixels = (rows: number, columns: number): Uint8Array => {
  const out = new Uint16Array(rows * columns)
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < columns; x++) {
      const dx = x - columns / 2
      const dy = y - rows / 2
      const inside = dx * dx + dy * dy < (rows * columns) / 5
      out[y * columns + x] = (inside ? 1064 : 24) + ((x * 7 + y * 13) & 63)
    }
  }
  return new Uint8Array(out.buffer)
}

const write = (dataset: Record<string, unknown>, sopInstanceUid: string): Uint8Array => {
  const { DicomDict, DicomMetaDictionary } = dcmjs.data
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta(sopInstanceUid)))
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset)
  return new Uint8Array(dict.write())
}

/** `count` CT instances of ~40 KB (140 x 140 x 16 bits plus a ~1.5 KB header), `small-<n>.dcm` in `dir`. */
export const generateSmall = (dir: string, count: number, run: string): ReadonlyArray<Input> => {
  Fs.mkdirSync(dir, { recursive: true })
  const rows = 140
  const columns = 140
  const pixelData = pixels(rows, columns)
  const out: Array<Input> = []
  for (let i = 0; i < count; i++) {
    const h = header(run, i, rows, columns)
    const bytes = write({ ...h, PixelData: [pixelData.slice().buffer], _vrMap: { PixelData: "OW" } }, h.SOPInstanceUID)
    const path = Path.join(dir, `small-${String(i).padStart(5, "0")}.dcm`)
    Fs.writeFileSync(path, bytes)
    out.push({ path, size: bytes.length })
  }
  return out
}

const BLOCK = 1 << 20

/**
 * `count` CT instances whose Pixel Data is `pixelBytes` long (rounded down to whole 16-bit rows), `large-<n>.dcm`
 * in `dir`; the pixel value is streamed in 1 MiB blocks.
 */
export const generateLarge = (dir: string, count: number, pixelBytes: number, run: string): ReadonlyArray<Input> => {
  Fs.mkdirSync(dir, { recursive: true })
  const columns = Math.min(65534, 2 * Math.max(1, Math.floor(Math.sqrt(pixelBytes / 2) / 2)))
  const rows = Math.min(65535, Math.max(1, Math.floor(pixelBytes / 2 / columns)))
  const length = rows * columns * 2
  const block = new Uint8Array(BLOCK)
  const pattern = pixels(512, BLOCK / 1024)
  block.set(pattern.subarray(0, BLOCK))
  const out: Array<Input> = []
  for (let i = 0; i < count; i++) {
    const h = header(run, i, rows, columns)
    const head = write(h, h.SOPInstanceUID)
    const element = new Uint8Array(12)
    element.set([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57, 0, 0])
    new DataView(element.buffer).setUint32(8, length, true)
    const path = Path.join(dir, `large-${String(i).padStart(3, "0")}.dcm`)
    const fd = Fs.openSync(path, "w")
    try {
      Fs.writeSync(fd, head)
      Fs.writeSync(fd, element)
      for (let left = length; left > 0; left -= BLOCK) Fs.writeSync(fd, block, 0, Math.min(BLOCK, left))
    } finally {
      Fs.closeSync(fd)
    }
    out.push({ path, size: head.length + element.length + length })
  }
  return out
}
