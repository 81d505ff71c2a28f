/**
 * Well-known DICOM UIDs as data: transfer syntaxes, the service SOP classes an association names
 * (Verification, Query/Retrieve, Modality Worklist, Storage Commitment, MPPS, the Basic Grayscale Print Management
 * classes) and the Storage SOP classes.
 *
 * Covers PS3.6 Annex A (Table A-1, the UID registry) for those UIDs; PS3.5 section 10 and Annex A
 * for what each transfer syntax means for the encoding (VR, byte order, deflate, encapsulation);
 * PS3.4 Annex B.5 (Table B.5-1) for the Storage SOP classes, plus a few retired ones still seen.
 * Leaves out: Non-Patient Object Storage classes (PS3.4 Annex GG: hanging protocols, color
 * palettes, implant templates, defined protocols, inventories), DICOS and DICONDE classes,
 * Standalone and Trial storage classes, print management beyond Basic Grayscale, coding schemes, frames of
 * reference, and the retired RFC 2557 and XML "transfer syntaxes" (not data set encodings).
 * Retired entries carry "(Retired)" in their name, as PS3.6 writes them.
 *
 * @since 0.1.0
 */
import { trimEnd } from "./Text.ts"

/** One registry row: the constant's key, the UID, its PS3.6 name, then per-table extras. */
type Entry = readonly [key: string, uid: string, name: string, ...rest: ReadonlyArray<unknown>]

/** The constants object of a table: key to UID, with literal types. */
type Constants<T extends ReadonlyArray<Entry>> = { readonly [E in T[number] as E[0]]: E[1] }

const constantsOf = <const T extends ReadonlyArray<Entry>>(entries: T): Constants<T> =>
  Object.freeze(Object.fromEntries(entries.map(([key, uid]) => [key, uid]))) as Constants<T>

/**
 * How a transfer syntax encodes a data set (PS3.5 Annex A): `implicit` Implicit VR Little Endian;
 * `explicit` Explicit VR Little Endian, native pixel data (or none, as for JPIP and SMPTE ST 2110);
 * `bigEndian` Explicit VR Big Endian; `deflated` Explicit VR Little Endian with the whole data set
 * deflated; `encapsulated` Explicit VR Little Endian with encapsulated (fragmented) pixel data.
 */
type Encoding = "implicit" | "explicit" | "bigEndian" | "deflated" | "encapsulated"

const TRANSFER_SYNTAXES = [
  ["ImplicitVRLittleEndian", "1.2.840.10008.1.2", "Implicit VR Little Endian", "implicit", false],
  ["ExplicitVRLittleEndian", "1.2.840.10008.1.2.1", "Explicit VR Little Endian", "explicit", false],
  [
    "EncapsulatedUncompressedExplicitVRLittleEndian",
    "1.2.840.10008.1.2.1.98",
    "Encapsulated Uncompressed Explicit VR Little Endian",
    "encapsulated",
    false
  ],
  ["DeflatedExplicitVRLittleEndian", "1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian", "deflated", false],
  ["ExplicitVRBigEndian", "1.2.840.10008.1.2.2", "Explicit VR Big Endian (Retired)", "bigEndian", true],
  ["JPEGBaseline8Bit", "1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", "encapsulated", false],
  ["JPEGExtended12Bit", "1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 and 4)", "encapsulated", false],
  ["JPEGExtended35", "1.2.840.10008.1.2.4.52", "JPEG Extended (Process 3 and 5) (Retired)", "encapsulated", true],
  [
    "JPEGSpectralSelectionNonHierarchical68",
    "1.2.840.10008.1.2.4.53",
    "JPEG Spectral Selection, Non-Hierarchical (Process 6 and 8) (Retired)",
    "encapsulated",
    true
  ],
  [
    "JPEGSpectralSelectionNonHierarchical79",
    "1.2.840.10008.1.2.4.54",
    "JPEG Spectral Selection, Non-Hierarchical (Process 7 and 9) (Retired)",
    "encapsulated",
    true
  ],
  [
    "JPEGFullProgressionNonHierarchical1012",
    "1.2.840.10008.1.2.4.55",
    "JPEG Full Progression, Non-Hierarchical (Process 10 and 12) (Retired)",
    "encapsulated",
    true
  ],
  [
    "JPEGFullProgressionNonHierarchical1113",
    "1.2.840.10008.1.2.4.56",
    "JPEG Full Progression, Non-Hierarchical (Process 11 and 13) (Retired)",
    "encapsulated",
    true
  ],
  ["JPEGLossless", "1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)", "encapsulated", false],
  [
    "JPEGLosslessNonHierarchical15",
    "1.2.840.10008.1.2.4.58",
    "JPEG Lossless, Non-Hierarchical (Process 15) (Retired)",
    "encapsulated",
    true
  ],
  [
    "JPEGExtendedHierarchical1618",
    "1.2.840.10008.1.2.4.59",
    "JPEG Extended, Hierarchical (Process 16 and 18) (Retired)",
    "encapsulated",
    true
  ],
  [
    "JPEGExtendedHierarchical1719",
    "1.2.840.10008.1.2.4.60",
    "JPEG Extended, Hierarchical (Process 17 and 19) (Retired)",
    "encapsulated",
    true
  ],
  [
    "JPEGSpectralSelectionHierarchical2022",
    "1.2.840.10008.1.2.4.61",
    "JPEG Spectral Selection, Hierarchical (Process 20 and 22) (Retired)",
    "encapsulated",
    true
  ],
  [
    "JPEGSpectralSelectionHierarchical2123",
    "1.2.840.10008.1.2.4.62",
    "JPEG Spectral Selection, Hierarchical (Process 21 and 23) (Retired)",
    "encapsulated",
    true
  ],
  [
    "JPEGFullProgressionHierarchical2426",
    "1.2.840.10008.1.2.4.63",
    "JPEG Full Progression, Hierarchical (Process 24 and 26) (Retired)",
    "encapsulated",
    true
  ],
  [
    "JPEGFullProgressionHierarchical2527",
    "1.2.840.10008.1.2.4.64",
    "JPEG Full Progression, Hierarchical (Process 25 and 27) (Retired)",
    "encapsulated",
    true
  ],
  [
    "JPEGLosslessHierarchical28",
    "1.2.840.10008.1.2.4.65",
    "JPEG Lossless, Hierarchical (Process 28) (Retired)",
    "encapsulated",
    true
  ],
  [
    "JPEGLosslessHierarchical29",
    "1.2.840.10008.1.2.4.66",
    "JPEG Lossless, Hierarchical (Process 29) (Retired)",
    "encapsulated",
    true
  ],
  [
    "JPEGLosslessSV1",
    "1.2.840.10008.1.2.4.70",
    "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])",
    "encapsulated",
    false
  ],
  ["JPEGLSLossless", "1.2.840.10008.1.2.4.80", "JPEG-LS Lossless Image Compression", "encapsulated", false],
  [
    "JPEGLSNearLossless",
    "1.2.840.10008.1.2.4.81",
    "JPEG-LS Lossy (Near-Lossless) Image Compression",
    "encapsulated",
    false
  ],
  ["JPEG2000Lossless", "1.2.840.10008.1.2.4.90", "JPEG 2000 Image Compression (Lossless Only)", "encapsulated", false],
  ["JPEG2000", "1.2.840.10008.1.2.4.91", "JPEG 2000 Image Compression", "encapsulated", false],
  [
    "JPEG2000MCLossless",
    "1.2.840.10008.1.2.4.92",
    "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)",
    "encapsulated",
    false
  ],
  ["JPEG2000MC", "1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component Image Compression", "encapsulated", false],
  ["JPIPReferenced", "1.2.840.10008.1.2.4.94", "JPIP Referenced", "explicit", false],
  ["JPIPReferencedDeflate", "1.2.840.10008.1.2.4.95", "JPIP Referenced Deflate", "deflated", false],
  ["MPEG2MPML", "1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", "encapsulated", false],
  ["MPEG2MPMLF", "1.2.840.10008.1.2.4.100.1", "Fragmentable MPEG2 Main Profile / Main Level", "encapsulated", false],
  ["MPEG2MPHL", "1.2.840.10008.1.2.4.101", "MPEG2 Main Profile / High Level", "encapsulated", false],
  ["MPEG2MPHLF", "1.2.840.10008.1.2.4.101.1", "Fragmentable MPEG2 Main Profile / High Level", "encapsulated", false],
  ["MPEG4HP41", "1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1", "encapsulated", false],
  [
    "MPEG4HP41F",
    "1.2.840.10008.1.2.4.102.1",
    "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.1",
    "encapsulated",
    false
  ],
  [
    "MPEG4HP41BD",
    "1.2.840.10008.1.2.4.103",
    "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1",
    "encapsulated",
    false
  ],
  [
    "MPEG4HP41BDF",
    "1.2.840.10008.1.2.4.103.1",
    "Fragmentable MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1",
    "encapsulated",
    false
  ],
  [
    "MPEG4HP422D",
    "1.2.840.10008.1.2.4.104",
    "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video",
    "encapsulated",
    false
  ],
  [
    "MPEG4HP422DF",
    "1.2.840.10008.1.2.4.104.1",
    "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video",
    "encapsulated",
    false
  ],
  [
    "MPEG4HP423D",
    "1.2.840.10008.1.2.4.105",
    "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video",
    "encapsulated",
    false
  ],
  [
    "MPEG4HP423DF",
    "1.2.840.10008.1.2.4.105.1",
    "Fragmentable MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video",
    "encapsulated",
    false
  ],
  [
    "MPEG4HP42STEREO",
    "1.2.840.10008.1.2.4.106",
    "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2",
    "encapsulated",
    false
  ],
  [
    "MPEG4HP42STEREOF",
    "1.2.840.10008.1.2.4.106.1",
    "Fragmentable MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2",
    "encapsulated",
    false
  ],
  ["HEVCMP51", "1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile / Level 5.1", "encapsulated", false],
  ["HEVCM10P51", "1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile / Level 5.1", "encapsulated", false],
  ["JPEGXLLossless", "1.2.840.10008.1.2.4.110", "JPEG XL Lossless", "encapsulated", false],
  ["JPEGXLJPEGRecompression", "1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression", "encapsulated", false],
  ["JPEGXL", "1.2.840.10008.1.2.4.112", "JPEG XL", "encapsulated", false],
  [
    "HTJ2KLossless",
    "1.2.840.10008.1.2.4.201",
    "High-Throughput JPEG 2000 Image Compression (Lossless Only)",
    "encapsulated",
    false
  ],
  [
    "HTJ2KLosslessRPCL",
    "1.2.840.10008.1.2.4.202",
    "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)",
    "encapsulated",
    false
  ],
  ["HTJ2K", "1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000 Image Compression", "encapsulated", false],
  ["JPIPHTJ2KReferenced", "1.2.840.10008.1.2.4.204", "JPIP HTJ2K Referenced", "explicit", false],
  ["JPIPHTJ2KReferencedDeflate", "1.2.840.10008.1.2.4.205", "JPIP HTJ2K Referenced Deflate", "deflated", false],
  ["RLELossless", "1.2.840.10008.1.2.5", "RLE Lossless", "encapsulated", false],
  [
    "SMPTEST211020UncompressedProgressiveActiveVideo",
    "1.2.840.10008.1.2.7.1",
    "SMPTE ST 2110-20 Uncompressed Progressive Active Video",
    "explicit",
    false
  ],
  [
    "SMPTEST211020UncompressedInterlacedActiveVideo",
    "1.2.840.10008.1.2.7.2",
    "SMPTE ST 2110-20 Uncompressed Interlaced Active Video",
    "explicit",
    false
  ],
  ["SMPTEST211030PCMDigitalAudio", "1.2.840.10008.1.2.7.3", "SMPTE ST 2110-30 PCM Digital Audio", "explicit", false],
  ["DeflatedImageFrameCompression", "1.2.840.10008.1.2.8.1", "Deflated Image Frame Compression", "encapsulated", false],
  [
    "Papyrus3ImplicitVRLittleEndian",
    "1.2.840.10008.1.20",
    "Papyrus 3 Implicit VR Little Endian (Retired)",
    "implicit",
    true
  ]
] as const satisfies ReadonlyArray<readonly [string, string, string, Encoding, boolean]>

/** The transfer syntax UIDs of PS3.6 Table A-1, keyed by their PS3.6 keyword. */
export const TransferSyntax = constantsOf(TRANSFER_SYNTAXES)

/** A transfer syntax UID known to this module. */
export type TransferSyntaxUid = (typeof TransferSyntax)[keyof typeof TransferSyntax]

/** What a transfer syntax means for the bytes of a data set (PS3.5 section 10, Annex A). */
export interface TransferSyntaxInfo {
  readonly name: string
  /** VRs are written in each element (every transfer syntax but the implicit ones). */
  readonly explicitVr: boolean
  readonly littleEndian: boolean
  /** The whole data set after the file meta information is deflated (PS3.5 A.5); not per-frame deflate. */
  readonly deflated: boolean
  /** Pixel data is encapsulated in fragments (PS3.5 A.4), compressed or not. */
  readonly encapsulated: boolean
  readonly retired: boolean
}

const infoOf = (name: string, encoding: Encoding, retired: boolean): TransferSyntaxInfo =>
  Object.freeze({
    name,
    explicitVr: encoding !== "implicit",
    littleEndian: encoding !== "bigEndian",
    deflated: encoding === "deflated",
    encapsulated: encoding === "encapsulated",
    retired
  })

const TRANSFER_SYNTAX_INFO: ReadonlyMap<string, TransferSyntaxInfo> = new Map(
  TRANSFER_SYNTAXES.map(([, uid, name, encoding, retired]) => [uid, infoOf(name, encoding, retired)])
)

/** A UID as found on the wire or in a file, without its trailing NUL or space padding (PS3.5 9.1). */
const unpad = (uid: string): string => trimEnd(uid, "\0 ")

/** The encoding flags of a known transfer syntax; undefined for an unknown (e.g. private) one. */
export const transferSyntaxInfo = (uid: string): TransferSyntaxInfo | undefined => TRANSFER_SYNTAX_INFO.get(unpad(uid))

const SERVICE_SOP_CLASSES = [
  ["Verification", "1.2.840.10008.1.1", "Verification SOP Class"],
  ["StorageCommitmentPushModel", "1.2.840.10008.1.20.1", "Storage Commitment Push Model SOP Class"],
  ["StorageCommitmentPushModelInstance", "1.2.840.10008.1.20.1.1", "Storage Commitment Push Model SOP Instance"],
  ["ModalityPerformedProcedureStep", "1.2.840.10008.3.1.2.3.3", "Modality Performed Procedure Step SOP Class"],
  [
    "ModalityPerformedProcedureStepRetrieve",
    "1.2.840.10008.3.1.2.3.4",
    "Modality Performed Procedure Step Retrieve SOP Class"
  ],
  [
    "ModalityPerformedProcedureStepNotification",
    "1.2.840.10008.3.1.2.3.5",
    "Modality Performed Procedure Step Notification SOP Class"
  ],
  ["BasicFilmSession", "1.2.840.10008.5.1.1.1", "Basic Film Session SOP Class"],
  ["BasicFilmBox", "1.2.840.10008.5.1.1.2", "Basic Film Box SOP Class"],
  ["BasicGrayscaleImageBox", "1.2.840.10008.5.1.1.4", "Basic Grayscale Image Box SOP Class"],
  ["BasicGrayscalePrintManagementMeta", "1.2.840.10008.5.1.1.9", "Basic Grayscale Print Management Meta SOP Class"],
  ["Printer", "1.2.840.10008.5.1.1.16", "Printer SOP Class"],
  [
    "PatientRootQueryRetrieveInformationModelFind",
    "1.2.840.10008.5.1.4.1.2.1.1",
    "Patient Root Query/Retrieve Information Model - FIND"
  ],
  [
    "PatientRootQueryRetrieveInformationModelMove",
    "1.2.840.10008.5.1.4.1.2.1.2",
    "Patient Root Query/Retrieve Information Model - MOVE"
  ],
  [
    "PatientRootQueryRetrieveInformationModelGet",
    "1.2.840.10008.5.1.4.1.2.1.3",
    "Patient Root Query/Retrieve Information Model - GET"
  ],
  [
    "StudyRootQueryRetrieveInformationModelFind",
    "1.2.840.10008.5.1.4.1.2.2.1",
    "Study Root Query/Retrieve Information Model - FIND"
  ],
  [
    "StudyRootQueryRetrieveInformationModelMove",
    "1.2.840.10008.5.1.4.1.2.2.2",
    "Study Root Query/Retrieve Information Model - MOVE"
  ],
  [
    "StudyRootQueryRetrieveInformationModelGet",
    "1.2.840.10008.5.1.4.1.2.2.3",
    "Study Root Query/Retrieve Information Model - GET"
  ],
  [
    "PatientStudyOnlyQueryRetrieveInformationModelFind",
    "1.2.840.10008.5.1.4.1.2.3.1",
    "Patient/Study Only Query/Retrieve Information Model - FIND (Retired)"
  ],
  [
    "PatientStudyOnlyQueryRetrieveInformationModelMove",
    "1.2.840.10008.5.1.4.1.2.3.2",
    "Patient/Study Only Query/Retrieve Information Model - MOVE (Retired)"
  ],
  [
    "PatientStudyOnlyQueryRetrieveInformationModelGet",
    "1.2.840.10008.5.1.4.1.2.3.3",
    "Patient/Study Only Query/Retrieve Information Model - GET (Retired)"
  ],
  ["CompositeInstanceRootRetrieveMove", "1.2.840.10008.5.1.4.1.2.4.2", "Composite Instance Root Retrieve - MOVE"],
  ["CompositeInstanceRootRetrieveGet", "1.2.840.10008.5.1.4.1.2.4.3", "Composite Instance Root Retrieve - GET"],
  [
    "CompositeInstanceRetrieveWithoutBulkDataGet",
    "1.2.840.10008.5.1.4.1.2.5.3",
    "Composite Instance Retrieve Without Bulk Data - GET"
  ],
  ["ModalityWorklistInformationModelFind", "1.2.840.10008.5.1.4.31", "Modality Worklist Information Model - FIND"]
] as const satisfies ReadonlyArray<Entry>

/**
 * The non-storage SOP classes an association proposes (Verification, Query/Retrieve, Modality
 * Worklist, Storage Commitment, MPPS, Basic Grayscale Print Management), plus the Storage Commitment Push Model
 * well-known SOP instance.
 */
export const Sop = constantsOf(SERVICE_SOP_CLASSES)

const STORAGE = "1.2.840.10008.5.1.4.1.1"

const STORAGE_SOP_CLASS_ENTRIES = [
  ["ComputedRadiographyImageStorage", `${STORAGE}.1`, "Computed Radiography Image Storage"],
  ["DigitalXRayImageStorageForPresentation", `${STORAGE}.1.1`, "Digital X-Ray Image Storage - For Presentation"],
  ["DigitalXRayImageStorageForProcessing", `${STORAGE}.1.1.1`, "Digital X-Ray Image Storage - For Processing"],
  [
    "DigitalMammographyXRayImageStorageForPresentation",
    `${STORAGE}.1.2`,
    "Digital Mammography X-Ray Image Storage - For Presentation"
  ],
  [
    "DigitalMammographyXRayImageStorageForProcessing",
    `${STORAGE}.1.2.1`,
    "Digital Mammography X-Ray Image Storage - For Processing"
  ],
  [
    "DigitalIntraOralXRayImageStorageForPresentation",
    `${STORAGE}.1.3`,
    "Digital Intra-Oral X-Ray Image Storage - For Presentation"
  ],
  [
    "DigitalIntraOralXRayImageStorageForProcessing",
    `${STORAGE}.1.3.1`,
    "Digital Intra-Oral X-Ray Image Storage - For Processing"
  ],
  ["CTImageStorage", `${STORAGE}.2`, "CT Image Storage"],
  ["EnhancedCTImageStorage", `${STORAGE}.2.1`, "Enhanced CT Image Storage"],
  ["LegacyConvertedEnhancedCTImageStorage", `${STORAGE}.2.2`, "Legacy Converted Enhanced CT Image Storage"],
  ["UltrasoundMultiFrameImageStorage", `${STORAGE}.3.1`, "Ultrasound Multi-frame Image Storage"],
  ["MRImageStorage", `${STORAGE}.4`, "MR Image Storage"],
  ["EnhancedMRImageStorage", `${STORAGE}.4.1`, "Enhanced MR Image Storage"],
  ["MRSpectroscopyStorage", `${STORAGE}.4.2`, "MR Spectroscopy Storage"],
  ["EnhancedMRColorImageStorage", `${STORAGE}.4.3`, "Enhanced MR Color Image Storage"],
  ["LegacyConvertedEnhancedMRImageStorage", `${STORAGE}.4.4`, "Legacy Converted Enhanced MR Image Storage"],
  ["UltrasoundImageStorage", `${STORAGE}.6.1`, "Ultrasound Image Storage"],
  ["EnhancedUSVolumeStorage", `${STORAGE}.6.2`, "Enhanced US Volume Storage"],
  ["PhotoacousticImageStorage", `${STORAGE}.6.3`, "Photoacoustic Image Storage"],
  ["SecondaryCaptureImageStorage", `${STORAGE}.7`, "Secondary Capture Image Storage"],
  [
    "MultiFrameSingleBitSecondaryCaptureImageStorage",
    `${STORAGE}.7.1`,
    "Multi-frame Single Bit Secondary Capture Image Storage"
  ],
  [
    "MultiFrameGrayscaleByteSecondaryCaptureImageStorage",
    `${STORAGE}.7.2`,
    "Multi-frame Grayscale Byte Secondary Capture Image Storage"
  ],
  [
    "MultiFrameGrayscaleWordSecondaryCaptureImageStorage",
    `${STORAGE}.7.3`,
    "Multi-frame Grayscale Word Secondary Capture Image Storage"
  ],
  [
    "MultiFrameTrueColorSecondaryCaptureImageStorage",
    `${STORAGE}.7.4`,
    "Multi-frame True Color Secondary Capture Image Storage"
  ],
  ["TwelveLeadECGWaveformStorage", `${STORAGE}.9.1.1`, "12-lead ECG Waveform Storage"],
  ["GeneralECGWaveformStorage", `${STORAGE}.9.1.2`, "General ECG Waveform Storage"],
  ["AmbulatoryECGWaveformStorage", `${STORAGE}.9.1.3`, "Ambulatory ECG Waveform Storage"],
  ["General32bitECGWaveformStorage", `${STORAGE}.9.1.4`, "General 32-bit ECG Waveform Storage"],
  ["HemodynamicWaveformStorage", `${STORAGE}.9.2.1`, "Hemodynamic Waveform Storage"],
  ["CardiacElectrophysiologyWaveformStorage", `${STORAGE}.9.3.1`, "Cardiac Electrophysiology Waveform Storage"],
  ["BasicVoiceAudioWaveformStorage", `${STORAGE}.9.4.1`, "Basic Voice Audio Waveform Storage"],
  ["GeneralAudioWaveformStorage", `${STORAGE}.9.4.2`, "General Audio Waveform Storage"],
  ["ArterialPulseWaveformStorage", `${STORAGE}.9.5.1`, "Arterial Pulse Waveform Storage"],
  ["RespiratoryWaveformStorage", `${STORAGE}.9.6.1`, "Respiratory Waveform Storage"],
  ["MultichannelRespiratoryWaveformStorage", `${STORAGE}.9.6.2`, "Multi-channel Respiratory Waveform Storage"],
  [
    "RoutineScalpElectroencephalogramWaveformStorage",
    `${STORAGE}.9.7.1`,
    "Routine Scalp Electroencephalogram Waveform Storage"
  ],
  ["ElectromyogramWaveformStorage", `${STORAGE}.9.7.2`, "Electromyogram Waveform Storage"],
  ["ElectrooculogramWaveformStorage", `${STORAGE}.9.7.3`, "Electrooculogram Waveform Storage"],
  ["SleepElectroencephalogramWaveformStorage", `${STORAGE}.9.7.4`, "Sleep Electroencephalogram Waveform Storage"],
  ["BodyPositionWaveformStorage", `${STORAGE}.9.8.1`, "Body Position Waveform Storage"],
  ["GrayscaleSoftcopyPresentationStateStorage", `${STORAGE}.11.1`, "Grayscale Softcopy Presentation State Storage"],
  ["ColorSoftcopyPresentationStateStorage", `${STORAGE}.11.2`, "Color Softcopy Presentation State Storage"],
  [
    "PseudoColorSoftcopyPresentationStateStorage",
    `${STORAGE}.11.3`,
    "Pseudo-Color Softcopy Presentation State Storage"
  ],
  ["BlendingSoftcopyPresentationStateStorage", `${STORAGE}.11.4`, "Blending Softcopy Presentation State Storage"],
  [
    "XAXRFGrayscaleSoftcopyPresentationStateStorage",
    `${STORAGE}.11.5`,
    "XA/XRF Grayscale Softcopy Presentation State Storage"
  ],
  [
    "GrayscalePlanarMPRVolumetricPresentationStateStorage",
    `${STORAGE}.11.6`,
    "Grayscale Planar MPR Volumetric Presentation State Storage"
  ],
  [
    "CompositingPlanarMPRVolumetricPresentationStateStorage",
    `${STORAGE}.11.7`,
    "Compositing Planar MPR Volumetric Presentation State Storage"
  ],
  ["AdvancedBlendingPresentationStateStorage", `${STORAGE}.11.8`, "Advanced Blending Presentation State Storage"],
  [
    "VolumeRenderingVolumetricPresentationStateStorage",
    `${STORAGE}.11.9`,
    "Volume Rendering Volumetric Presentation State Storage"
  ],
  [
    "SegmentedVolumeRenderingVolumetricPresentationStateStorage",
    `${STORAGE}.11.10`,
    "Segmented Volume Rendering Volumetric Presentation State Storage"
  ],
  [
    "MultipleVolumeRenderingVolumetricPresentationStateStorage",
    `${STORAGE}.11.11`,
    "Multiple Volume Rendering Volumetric Presentation State Storage"
  ],
  [
    "VariableModalityLUTSoftcopyPresentationStateStorage",
    `${STORAGE}.11.12`,
    "Variable Modality LUT Softcopy Presentation State Storage"
  ],
  ["XRayAngiographicImageStorage", `${STORAGE}.12.1`, "X-Ray Angiographic Image Storage"],
  ["EnhancedXAImageStorage", `${STORAGE}.12.1.1`, "Enhanced XA Image Storage"],
  ["XRayRadiofluoroscopicImageStorage", `${STORAGE}.12.2`, "X-Ray Radiofluoroscopic Image Storage"],
  ["EnhancedXRFImageStorage", `${STORAGE}.12.2.1`, "Enhanced XRF Image Storage"],
  ["XRay3DAngiographicImageStorage", `${STORAGE}.13.1.1`, "X-Ray 3D Angiographic Image Storage"],
  ["XRay3DCraniofacialImageStorage", `${STORAGE}.13.1.2`, "X-Ray 3D Craniofacial Image Storage"],
  ["BreastTomosynthesisImageStorage", `${STORAGE}.13.1.3`, "Breast Tomosynthesis Image Storage"],
  [
    "BreastProjectionXRayImageStorageForPresentation",
    `${STORAGE}.13.1.4`,
    "Breast Projection X-Ray Image Storage - For Presentation"
  ],
  [
    "BreastProjectionXRayImageStorageForProcessing",
    `${STORAGE}.13.1.5`,
    "Breast Projection X-Ray Image Storage - For Processing"
  ],
  [
    "IntravascularOpticalCoherenceTomographyImageStorageForPresentation",
    `${STORAGE}.14.1`,
    "Intravascular Optical Coherence Tomography Image Storage - For Presentation"
  ],
  [
    "IntravascularOpticalCoherenceTomographyImageStorageForProcessing",
    `${STORAGE}.14.2`,
    "Intravascular Optical Coherence Tomography Image Storage - For Processing"
  ],
  ["NuclearMedicineImageStorage", `${STORAGE}.20`, "Nuclear Medicine Image Storage"],
  ["ParametricMapStorage", `${STORAGE}.30`, "Parametric Map Storage"],
  ["RawDataStorage", `${STORAGE}.66`, "Raw Data Storage"],
  ["SpatialRegistrationStorage", `${STORAGE}.66.1`, "Spatial Registration Storage"],
  ["SpatialFiducialsStorage", `${STORAGE}.66.2`, "Spatial Fiducials Storage"],
  ["DeformableSpatialRegistrationStorage", `${STORAGE}.66.3`, "Deformable Spatial Registration Storage"],
  ["SegmentationStorage", `${STORAGE}.66.4`, "Segmentation Storage"],
  ["SurfaceSegmentationStorage", `${STORAGE}.66.5`, "Surface Segmentation Storage"],
  ["TractographyResultsStorage", `${STORAGE}.66.6`, "Tractography Results Storage"],
  ["LabelMapSegmentationStorage", `${STORAGE}.66.7`, "Label Map Segmentation Storage"],
  ["HeightMapSegmentationStorage", `${STORAGE}.66.8`, "Height Map Segmentation Storage"],
  ["RealWorldValueMappingStorage", `${STORAGE}.67`, "Real World Value Mapping Storage"],
  ["SurfaceScanMeshStorage", `${STORAGE}.68.1`, "Surface Scan Mesh Storage"],
  ["SurfaceScanPointCloudStorage", `${STORAGE}.68.2`, "Surface Scan Point Cloud Storage"],
  ["VLEndoscopicImageStorage", `${STORAGE}.77.1.1`, "VL Endoscopic Image Storage"],
  ["VideoEndoscopicImageStorage", `${STORAGE}.77.1.1.1`, "Video Endoscopic Image Storage"],
  ["VLMicroscopicImageStorage", `${STORAGE}.77.1.2`, "VL Microscopic Image Storage"],
  ["VideoMicroscopicImageStorage", `${STORAGE}.77.1.2.1`, "Video Microscopic Image Storage"],
  ["VLSlideCoordinatesMicroscopicImageStorage", `${STORAGE}.77.1.3`, "VL Slide-Coordinates Microscopic Image Storage"],
  ["VLPhotographicImageStorage", `${STORAGE}.77.1.4`, "VL Photographic Image Storage"],
  ["VideoPhotographicImageStorage", `${STORAGE}.77.1.4.1`, "Video Photographic Image Storage"],
  ["OphthalmicPhotography8BitImageStorage", `${STORAGE}.77.1.5.1`, "Ophthalmic Photography 8 Bit Image Storage"],
  ["OphthalmicPhotography16BitImageStorage", `${STORAGE}.77.1.5.2`, "Ophthalmic Photography 16 Bit Image Storage"],
  ["StereometricRelationshipStorage", `${STORAGE}.77.1.5.3`, "Stereometric Relationship Storage"],
  ["OphthalmicTomographyImageStorage", `${STORAGE}.77.1.5.4`, "Ophthalmic Tomography Image Storage"],
  [
    "WideFieldOphthalmicPhotographyStereographicProjectionImageStorage",
    `${STORAGE}.77.1.5.5`,
    "Wide Field Ophthalmic Photography Stereographic Projection Image Storage"
  ],
  [
    "WideFieldOphthalmicPhotography3DCoordinatesImageStorage",
    `${STORAGE}.77.1.5.6`,
    "Wide Field Ophthalmic Photography 3D Coordinates Image Storage"
  ],
  [
    "OphthalmicOpticalCoherenceTomographyEnFaceImageStorage",
    `${STORAGE}.77.1.5.7`,
    "Ophthalmic Optical Coherence Tomography En Face Image Storage"
  ],
  [
    "OphthalmicOpticalCoherenceTomographyBscanVolumeAnalysisStorage",
    `${STORAGE}.77.1.5.8`,
    "Ophthalmic Optical Coherence Tomography B-scan Volume Analysis Storage"
  ],
  ["VLWholeSlideMicroscopyImageStorage", `${STORAGE}.77.1.6`, "VL Whole Slide Microscopy Image Storage"],
  ["DermoscopicPhotographyImageStorage", `${STORAGE}.77.1.7`, "Dermoscopic Photography Image Storage"],
  ["ConfocalMicroscopyImageStorage", `${STORAGE}.77.1.8`, "Confocal Microscopy Image Storage"],
  [
    "ConfocalMicroscopyTiledPyramidalImageStorage",
    `${STORAGE}.77.1.9`,
    "Confocal Microscopy Tiled Pyramidal Image Storage"
  ],
  ["LensometryMeasurementsStorage", `${STORAGE}.78.1`, "Lensometry Measurements Storage"],
  ["AutorefractionMeasurementsStorage", `${STORAGE}.78.2`, "Autorefraction Measurements Storage"],
  ["KeratometryMeasurementsStorage", `${STORAGE}.78.3`, "Keratometry Measurements Storage"],
  ["SubjectiveRefractionMeasurementsStorage", `${STORAGE}.78.4`, "Subjective Refraction Measurements Storage"],
  ["VisualAcuityMeasurementsStorage", `${STORAGE}.78.5`, "Visual Acuity Measurements Storage"],
  ["SpectaclePrescriptionReportStorage", `${STORAGE}.78.6`, "Spectacle Prescription Report Storage"],
  ["OphthalmicAxialMeasurementsStorage", `${STORAGE}.78.7`, "Ophthalmic Axial Measurements Storage"],
  ["IntraocularLensCalculationsStorage", `${STORAGE}.78.8`, "Intraocular Lens Calculations Storage"],
  ["MacularGridThicknessAndVolumeReportStorage", `${STORAGE}.79.1`, "Macular Grid Thickness and Volume Report Storage"],
  [
    "OphthalmicVisualFieldStaticPerimetryMeasurementsStorage",
    `${STORAGE}.80.1`,
    "Ophthalmic Visual Field Static Perimetry Measurements Storage"
  ],
  ["OphthalmicThicknessMapStorage", `${STORAGE}.81.1`, "Ophthalmic Thickness Map Storage"],
  ["CornealTopographyMapStorage", `${STORAGE}.82.1`, "Corneal Topography Map Storage"],
  ["BasicTextSRStorage", `${STORAGE}.88.11`, "Basic Text SR Storage"],
  ["EnhancedSRStorage", `${STORAGE}.88.22`, "Enhanced SR Storage"],
  ["ComprehensiveSRStorage", `${STORAGE}.88.33`, "Comprehensive SR Storage"],
  ["Comprehensive3DSRStorage", `${STORAGE}.88.34`, "Comprehensive 3D SR Storage"],
  ["ExtensibleSRStorage", `${STORAGE}.88.35`, "Extensible SR Storage"],
  ["ProcedureLogStorage", `${STORAGE}.88.40`, "Procedure Log Storage"],
  ["MammographyCADSRStorage", `${STORAGE}.88.50`, "Mammography CAD SR Storage"],
  ["KeyObjectSelectionDocumentStorage", `${STORAGE}.88.59`, "Key Object Selection Document Storage"],
  ["ChestCADSRStorage", `${STORAGE}.88.65`, "Chest CAD SR Storage"],
  ["XRayRadiationDoseSRStorage", `${STORAGE}.88.67`, "X-Ray Radiation Dose SR Storage"],
  ["RadiopharmaceuticalRadiationDoseSRStorage", `${STORAGE}.88.68`, "Radiopharmaceutical Radiation Dose SR Storage"],
  ["ColonCADSRStorage", `${STORAGE}.88.69`, "Colon CAD SR Storage"],
  ["ImplantationPlanSRStorage", `${STORAGE}.88.70`, "Implantation Plan SR Storage"],
  ["AcquisitionContextSRStorage", `${STORAGE}.88.71`, "Acquisition Context SR Storage"],
  ["SimplifiedAdultEchoSRStorage", `${STORAGE}.88.72`, "Simplified Adult Echo SR Storage"],
  ["PatientRadiationDoseSRStorage", `${STORAGE}.88.73`, "Patient Radiation Dose SR Storage"],
  ["PlannedImagingAgentAdministrationSRStorage", `${STORAGE}.88.74`, "Planned Imaging Agent Administration SR Storage"],
  [
    "PerformedImagingAgentAdministrationSRStorage",
    `${STORAGE}.88.75`,
    "Performed Imaging Agent Administration SR Storage"
  ],
  ["EnhancedXRayRadiationDoseSRStorage", `${STORAGE}.88.76`, "Enhanced X-Ray Radiation Dose SR Storage"],
  ["WaveformAnnotationSRStorage", `${STORAGE}.88.77`, "Waveform Annotation SR Storage"],
  ["ContentAssessmentResultsStorage", `${STORAGE}.90.1`, "Content Assessment Results Storage"],
  ["MicroscopyBulkSimpleAnnotationsStorage", `${STORAGE}.91.1`, "Microscopy Bulk Simple Annotations Storage"],
  ["EncapsulatedPDFStorage", `${STORAGE}.104.1`, "Encapsulated PDF Storage"],
  ["EncapsulatedCDAStorage", `${STORAGE}.104.2`, "Encapsulated CDA Storage"],
  ["EncapsulatedSTLStorage", `${STORAGE}.104.3`, "Encapsulated STL Storage"],
  ["EncapsulatedOBJStorage", `${STORAGE}.104.4`, "Encapsulated OBJ Storage"],
  ["EncapsulatedMTLStorage", `${STORAGE}.104.5`, "Encapsulated MTL Storage"],
  ["PositronEmissionTomographyImageStorage", `${STORAGE}.128`, "Positron Emission Tomography Image Storage"],
  ["LegacyConvertedEnhancedPETImageStorage", `${STORAGE}.128.1`, "Legacy Converted Enhanced PET Image Storage"],
  ["EnhancedPETImageStorage", `${STORAGE}.130`, "Enhanced PET Image Storage"],
  ["BasicStructuredDisplayStorage", `${STORAGE}.131`, "Basic Structured Display Storage"],
  ["CTPerformedProcedureProtocolStorage", `${STORAGE}.200.2`, "CT Performed Procedure Protocol Storage"],
  ["XAPerformedProcedureProtocolStorage", `${STORAGE}.200.8`, "XA Performed Procedure Protocol Storage"],
  ["RTImageStorage", `${STORAGE}.481.1`, "RT Image Storage"],
  ["RTDoseStorage", `${STORAGE}.481.2`, "RT Dose Storage"],
  ["RTStructureSetStorage", `${STORAGE}.481.3`, "RT Structure Set Storage"],
  ["RTBeamsTreatmentRecordStorage", `${STORAGE}.481.4`, "RT Beams Treatment Record Storage"],
  ["RTPlanStorage", `${STORAGE}.481.5`, "RT Plan Storage"],
  ["RTBrachyTreatmentRecordStorage", `${STORAGE}.481.6`, "RT Brachy Treatment Record Storage"],
  ["RTTreatmentSummaryRecordStorage", `${STORAGE}.481.7`, "RT Treatment Summary Record Storage"],
  ["RTIonPlanStorage", `${STORAGE}.481.8`, "RT Ion Plan Storage"],
  ["RTIonBeamsTreatmentRecordStorage", `${STORAGE}.481.9`, "RT Ion Beams Treatment Record Storage"],
  ["RTPhysicianIntentStorage", `${STORAGE}.481.10`, "RT Physician Intent Storage"],
  ["RTSegmentAnnotationStorage", `${STORAGE}.481.11`, "RT Segment Annotation Storage"],
  ["RTRadiationSetStorage", `${STORAGE}.481.12`, "RT Radiation Set Storage"],
  ["CArmPhotonElectronRadiationStorage", `${STORAGE}.481.13`, "C-Arm Photon-Electron Radiation Storage"],
  ["TomotherapeuticRadiationStorage", `${STORAGE}.481.14`, "Tomotherapeutic Radiation Storage"],
  ["RoboticArmRadiationStorage", `${STORAGE}.481.15`, "Robotic-Arm Radiation Storage"],
  ["RTRadiationRecordSetStorage", `${STORAGE}.481.16`, "RT Radiation Record Set Storage"],
  ["RTRadiationSalvageRecordStorage", `${STORAGE}.481.17`, "RT Radiation Salvage Record Storage"],
  ["TomotherapeuticRadiationRecordStorage", `${STORAGE}.481.18`, "Tomotherapeutic Radiation Record Storage"],
  ["CArmPhotonElectronRadiationRecordStorage", `${STORAGE}.481.19`, "C-Arm Photon-Electron Radiation Record Storage"],
  ["RoboticRadiationRecordStorage", `${STORAGE}.481.20`, "Robotic Radiation Record Storage"],
  ["RTRadiationSetDeliveryInstructionStorage", `${STORAGE}.481.21`, "RT Radiation Set Delivery Instruction Storage"],
  ["RTTreatmentPreparationStorage", `${STORAGE}.481.22`, "RT Treatment Preparation Storage"],
  ["EnhancedRTImageStorage", `${STORAGE}.481.23`, "Enhanced RT Image Storage"],
  ["EnhancedContinuousRTImageStorage", `${STORAGE}.481.24`, "Enhanced Continuous RT Image Storage"],
  [
    "RTPatientPositionAcquisitionInstructionStorage",
    `${STORAGE}.481.25`,
    "RT Patient Position Acquisition Instruction Storage"
  ],
  ["RTBeamsDeliveryInstructionStorage", "1.2.840.10008.5.1.4.34.7", "RT Beams Delivery Instruction Storage"],
  [
    "RTBrachyApplicationSetupDeliveryInstructionStorage",
    "1.2.840.10008.5.1.4.34.10",
    "RT Brachy Application Setup Delivery Instruction Storage"
  ]
] as const satisfies ReadonlyArray<Entry>

const RETIRED_STORAGE_SOP_CLASS_ENTRIES = [
  ["StoredPrintStorage", "1.2.840.10008.5.1.1.27", "Stored Print Storage SOP Class (Retired)"],
  ["HardcopyGrayscaleImageStorage", "1.2.840.10008.5.1.1.29", "Hardcopy Grayscale Image Storage SOP Class (Retired)"],
  ["HardcopyColorImageStorage", "1.2.840.10008.5.1.1.30", "Hardcopy Color Image Storage SOP Class (Retired)"],
  ["UltrasoundMultiFrameImageStorageRetired", `${STORAGE}.3`, "Ultrasound Multi-frame Image Storage (Retired)"],
  ["NuclearMedicineImageStorageRetired", `${STORAGE}.5`, "Nuclear Medicine Image Storage (Retired)"],
  ["UltrasoundImageStorageRetired", `${STORAGE}.6`, "Ultrasound Image Storage (Retired)"],
  ["XRayAngiographicBiPlaneImageStorage", `${STORAGE}.12.3`, "X-Ray Angiographic Bi-Plane Image Storage (Retired)"],
  ["VLImageStorageTrial", `${STORAGE}.77.1`, "VL Image Storage - Trial (Retired)"],
  ["VLMultiFrameImageStorageTrial", `${STORAGE}.77.2`, "VL Multi-frame Image Storage - Trial (Retired)"]
] as const satisfies ReadonlyArray<Entry>

/** The Storage SOP class UIDs of PS3.4 Table B.5-1 (not retired), keyed by their PS3.6 keyword. */
export const StorageSop = constantsOf(STORAGE_SOP_CLASS_ENTRIES)

/** Retired Storage SOP class UIDs still sent by older equipment, keyed by their PS3.6 keyword. */
export const RetiredStorageSop = constantsOf(RETIRED_STORAGE_SOP_CLASS_ENTRIES)

/** Every non-retired Storage SOP class UID of PS3.4 Table B.5-1, in registry order. */
export const STORAGE_SOP_CLASSES: ReadonlyArray<string> = Object.freeze(STORAGE_SOP_CLASS_ENTRIES.map(([, uid]) => uid))

/** Retired Storage SOP class UIDs still sent (old US, NM, XA Bi-Plane, VL trial, hardcopy). */
export const RETIRED_STORAGE_SOP_CLASSES: ReadonlyArray<string> = Object.freeze(
  RETIRED_STORAGE_SOP_CLASS_ENTRIES.map(([, uid]) => uid)
)

const STORAGE_SET: ReadonlySet<string> = new Set([...STORAGE_SOP_CLASSES, ...RETIRED_STORAGE_SOP_CLASSES])

/** Whether a UID is a Storage SOP class this module knows, current or retired. */
export const isStorageSopClass = (uid: string): boolean => STORAGE_SET.has(unpad(uid))

const OTHER_NAMES: ReadonlyArray<Entry> = [
  ["DICOMApplicationContext", "1.2.840.10008.3.1.1.1", "DICOM Application Context Name"]
]

const ALL_ENTRIES: ReadonlyArray<Entry> = [
  ...TRANSFER_SYNTAXES,
  ...SERVICE_SOP_CLASSES,
  ...STORAGE_SOP_CLASS_ENTRIES,
  ...RETIRED_STORAGE_SOP_CLASS_ENTRIES,
  ...OTHER_NAMES
]

const NAMES: ReadonlyMap<string, string> = new Map(ALL_ENTRIES.map(([, uid, name]) => [uid, name]))

/** Every UID this module names, in table order (duplicates would show here; there are none). */
export const KNOWN_UIDS: ReadonlyArray<string> = Object.freeze(ALL_ENTRIES.map(([, uid]) => uid))

/** The PS3.6 name of a UID this module knows (trailing NUL/space padding ignored); undefined otherwise. */
export const uidName = (uid: string): string | undefined => NAMES.get(unpad(uid))

/** A UID for debug output: its PS3.6 name, e.g. "CT Image Storage", or the UID itself when unknown. */
export const describeUid = (uid: string): string => uidName(uid) ?? unpad(uid)
