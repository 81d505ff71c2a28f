/**
 * The presentation contexts `netdicom` proposes and accepts (PS3.8 section 7.1.1.13, PS3.4 B.5 storage SOP
 * classes, PS3.5 Annex A transfer syntaxes).
 *
 * An SCP accepts every storage SOP class, current and retired, in the uncompressed transfer syntaxes and the
 * common compressed ones (it stores bytes as they come, so it needs no codec). A C-GET SCU must propose what it
 * will receive before it knows what that is, within 128 contexts, and with one transfer syntax per context, since
 * the acceptor picks one per context and instances are never transcoded: 30 common storage SOP classes in
 * Explicit and Implicit VR Little Endian, and 6 common image classes in the compressed transfer syntaxes and
 * Explicit VR Big Endian too (126 contexts with the C-GET one). `--sop-class` narrows the classes.
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import { ApplicationEntity, Negotiation, QueryRetrieve } from "@netdicom/net"
import { Identifiers, Uids } from "@netdicom/wire"

const TS = Uids.TransferSyntax

/** Uncompressed transfer syntaxes, Explicit VR Little Endian first. */
export const UNCOMPRESSED: ReadonlyArray<string> = [
  TS.ExplicitVRLittleEndian,
  TS.ImplicitVRLittleEndian,
  TS.ExplicitVRBigEndian
]

/** The compressed transfer syntaxes accepted for storage: JPEG, JPEG-LS, JPEG 2000, RLE, deflate. */
export const COMPRESSED: ReadonlyArray<string> = [
  "1.2.840.10008.1.2.4.50", // JPEG Baseline (Process 1)
  "1.2.840.10008.1.2.4.51", // JPEG Extended (Process 2 & 4)
  "1.2.840.10008.1.2.4.57", // JPEG Lossless, Non-Hierarchical (Process 14)
  "1.2.840.10008.1.2.4.70", // JPEG Lossless, First-Order Prediction (Process 14, SV1)
  "1.2.840.10008.1.2.4.80", // JPEG-LS Lossless
  "1.2.840.10008.1.2.4.81", // JPEG-LS Near-Lossless
  "1.2.840.10008.1.2.4.90", // JPEG 2000 Lossless Only
  "1.2.840.10008.1.2.4.91", // JPEG 2000
  "1.2.840.10008.1.2.5", // RLE Lossless
  "1.2.840.10008.1.2.1.99" // Deflated Explicit VR Little Endian
]

/** Every transfer syntax a storage SCP here accepts, in order of preference. */
export const STORAGE_TRANSFER_SYNTAXES: ReadonlyArray<string> = [...UNCOMPRESSED, ...COMPRESSED]

/** Transfer syntaxes for Verification and Q/R identifiers (data sets the DIMSE layer decodes). */
export const QUERY_TRANSFER_SYNTAXES: ReadonlyArray<string> = [TS.ExplicitVRLittleEndian, TS.ImplicitVRLittleEndian]

/** Every storage SOP class, current and retired. */
export const ALL_STORAGE_SOP_CLASSES: ReadonlyArray<string> = [
  ...Uids.STORAGE_SOP_CLASSES,
  ...Uids.RETIRED_STORAGE_SOP_CLASSES
]

/** Verification, as SCP. */
export const verification: ApplicationEntity.SupportedContext = {
  abstractSyntax: QueryRetrieve.VERIFICATION,
  transferSyntaxes: QUERY_TRANSFER_SYNTAXES
}

/** Every storage SOP class in every storage transfer syntax, as SCP. */
export const storageScp: ReadonlyArray<ApplicationEntity.SupportedContext> = ALL_STORAGE_SOP_CLASSES.map(
  (abstractSyntax) => ({ abstractSyntax, transferSyntaxes: STORAGE_TRANSFER_SYNTAXES, scu: true, scp: true })
)

/** Storage Commitment Push Model, as SCP only (its reports go on the request's association or a new one of ours). */
export const storageCommitmentScp: ApplicationEntity.SupportedContext = {
  abstractSyntax: "1.2.840.10008.1.20.1",
  transferSyntaxes: QUERY_TRANSFER_SYNTAXES,
  scu: false,
  scp: true
}

/** Modality Performed Procedure Step (N-CREATE, N-SET), as SCP. */
export const mppsScp: ApplicationEntity.SupportedContext = {
  abstractSyntax: "1.2.840.10008.3.1.2.3.3",
  transferSyntaxes: QUERY_TRANSFER_SYNTAXES
}

/** Patient and study root FIND, GET and MOVE, as SCP. */
export const queryRetrieveScp: ReadonlyArray<ApplicationEntity.SupportedContext> = (
  ["patient", "study"] as const
).flatMap((model) => {
  const ops = QueryRetrieve.SOP_CLASSES[model]
  return [ops.find, ops.get, ops.move]
    .filter((uid): uid is string => uid !== undefined)
    .map((abstractSyntax) => ({ abstractSyntax, transferSyntaxes: QUERY_TRANSFER_SYNTAXES }))
})

const S = Uids.StorageSop

/** Image SOP classes a C-GET also proposes in each compressed transfer syntax and in Explicit VR Big Endian. */
const COMPRESSED_IMAGE_CLASSES: ReadonlyArray<string> = [
  S.CTImageStorage,
  S.MRImageStorage,
  S.SecondaryCaptureImageStorage,
  S.UltrasoundImageStorage,
  S.UltrasoundMultiFrameImageStorage,
  S.XRayAngiographicImageStorage
]

/** Storage SOP classes a C-GET proposes in Explicit and Implicit VR Little Endian, most common first. */
const UNCOMPRESSED_CLASSES: ReadonlyArray<string> = [
  ...COMPRESSED_IMAGE_CLASSES,
  S.ComputedRadiographyImageStorage,
  S.DigitalXRayImageStorageForPresentation,
  S.DigitalMammographyXRayImageStorageForPresentation,
  S.EnhancedCTImageStorage,
  S.EnhancedMRImageStorage,
  S.NuclearMedicineImageStorage,
  S.PositronEmissionTomographyImageStorage,
  S.XRayRadiofluoroscopicImageStorage,
  S.MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
  S.MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
  S.MultiFrameTrueColorSecondaryCaptureImageStorage,
  S.RTImageStorage,
  S.RTDoseStorage,
  S.RTStructureSetStorage,
  S.RTPlanStorage,
  S.BasicTextSRStorage,
  S.EnhancedSRStorage,
  S.ComprehensiveSRStorage,
  S.KeyObjectSelectionDocumentStorage,
  S.GrayscaleSoftcopyPresentationStateStorage,
  S.SegmentationStorage,
  S.EncapsulatedPDFStorage,
  S.VLPhotographicImageStorage,
  S.XRayRadiationDoseSRStorage
]

/** What a C-GET SCU proposes for the instances it will receive, and the SCP role for each of those classes. */
export interface GetProposal {
  readonly contexts: ReadonlyArray<Negotiation.ProposedContext>
  readonly roles: ReadonlyArray<Negotiation.ProposedRole>
}

const TS_LE = [TS.ExplicitVRLittleEndian, TS.ImplicitVRLittleEndian]
const TS_OTHER = [...COMPRESSED, TS.ExplicitVRBigEndian]

/**
 * The storage contexts of a C-GET within `room` contexts, one transfer syntax each (the acceptor picks one per
 * context, and instances come as they are stored): for `sopClasses` (when given) each class in every storage
 * transfer syntax; otherwise the built-in classes in Explicit and Implicit VR Little Endian, and the most common
 * image classes in the compressed ones and Explicit VR Big Endian too.
 */
export const getProposal = (room: number, sopClasses?: ReadonlyArray<string>): GetProposal => {
  const contexts: Array<Negotiation.ProposedContext> = []
  const add = (abstractSyntax: string, transferSyntax: string) => {
    if (contexts.length < room) contexts.push({ abstractSyntax, transferSyntaxes: [transferSyntax] })
  }
  const classes = sopClasses !== undefined && sopClasses.length > 0 ? sopClasses : undefined
  for (const ts of TS_LE) for (const uid of classes ?? UNCOMPRESSED_CLASSES) add(uid, ts)
  for (const ts of TS_OTHER) for (const uid of classes ?? COMPRESSED_IMAGE_CLASSES) add(uid, ts)
  const proposed = [...new Set(contexts.map((c) => c.abstractSyntax))]
  return { contexts, roles: proposed.map((sopClassUid) => ({ sopClassUid, scu: false, scp: true })) }
}

const KEYWORD_BY_STORAGE: ReadonlyMap<string, string> = new Map(
  [...Object.entries(Uids.StorageSop), ...Object.entries(Uids.RetiredStorageSop)].map(([k, uid]) => [uid, k])
)

/**
 * What to do about a C-GET final response whose Error Comment says an instance came in a transfer syntax no
 * accepted context had (the reason the SCP gives, e.g. netdicom's own "no context accepted for transfer syntax
 * 1.2.840.10008.1.2.5"), or of a SOP class none had ("no context accepted for 1.2.840.10008.5.1.4.1.1.481.8"): what
 * is missing, and the flag that proposes it (which replaces the default classes, so it says so). Undefined for any
 * other comment.
 */
export const refusedSyntaxHint = (errorComment: string | undefined): string | undefined => {
  const syntax = errorComment?.match(/no context accepted for transfer syntax ([0-9.]+)/)?.[1]
  if (syntax !== undefined) {
    return (
      `an instance is stored in ${Uids.describeUid(syntax)} (${syntax}), which was not proposed for its SOP class: ` +
      "--sop-class <its class> (e.g. RTDoseStorage) proposes a class in every transfer syntax"
    )
  }
  const sopClass = errorComment?.match(/no context accepted for ([0-9.]+)/)?.[1]
  if (sopClass === undefined) return undefined
  const named = KEYWORD_BY_STORAGE.get(sopClass)
  return (
    `an instance is of ${Uids.describeUid(sopClass)} (${sopClass}), which was not proposed: ` +
    `--sop-class ${named ?? sopClass} proposes it in every transfer syntax, in place of the default classes ` +
    "(repeat --sop-class for each class the study holds)"
  )
}

const STORAGE_BY_KEYWORD: ReadonlyMap<string, string> = new Map(
  [...Object.entries(Uids.StorageSop), ...Object.entries(Uids.RetiredStorageSop)].map(([k, uid]) => [
    k.toLowerCase(),
    uid
  ])
)

/**
 * A `--sop-class` value: a UID, or the PS3.6 keyword of a storage SOP class (`CTImageStorage`, any case), as
 * DCMTK names them; anything else is refused with what it takes.
 */
export const sopClassOf = (value: string): Result.Result<string, string> => {
  const named = STORAGE_BY_KEYWORD.get(value.trim().toLowerCase())
  if (named !== undefined) return Result.succeed(named)
  return Result.isSuccess(Identifiers.uid(value.trim()))
    ? Result.succeed(value.trim())
    : Result.fail(`--sop-class ${value}: neither a UID nor a storage SOP class keyword (e.g. CTImageStorage)`)
}
