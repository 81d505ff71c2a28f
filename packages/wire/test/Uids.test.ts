import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as Identifiers from "../src/Identifiers.ts"
import * as Uids from "../src/Uids.ts"

describe("Uids", () => {
  it("holds only valid UIDs (PS3.5 9.1: digits and dots, at most 64, no leading zeros)", () => {
    assert.isAbove(Uids.KNOWN_UIDS.length, 250)
    for (const uid of Uids.KNOWN_UIDS) {
      assert.isTrue(Result.isSuccess(Identifiers.uid(uid)), uid)
      assert.isTrue(uid.startsWith("1.2.840.10008."), uid)
    }
  })

  it("has no UID twice, across all tables", () => {
    const seen = new Set<string>()
    for (const uid of Uids.KNOWN_UIDS) {
      assert.isFalse(seen.has(uid), `duplicate ${uid}`)
      seen.add(uid)
    }
    const storage = new Set(Uids.STORAGE_SOP_CLASSES)
    assert.strictEqual(storage.size, Uids.STORAGE_SOP_CLASSES.length)
    for (const uid of Uids.RETIRED_STORAGE_SOP_CLASSES) assert.isFalse(storage.has(uid), uid)
  })

  it("lists well over 100 Storage SOP classes with the right UIDs", () => {
    assert.isAbove(Uids.STORAGE_SOP_CLASSES.length, 100)
    assert.deepStrictEqual(Uids.STORAGE_SOP_CLASSES, Object.values(Uids.StorageSop))
    const spot: ReadonlyArray<readonly [string, string]> = [
      ["CT Image Storage", "1.2.840.10008.5.1.4.1.1.2"],
      ["MR Image Storage", "1.2.840.10008.5.1.4.1.1.4"],
      ["Secondary Capture Image Storage", "1.2.840.10008.5.1.4.1.1.7"],
      ["RT Plan Storage", "1.2.840.10008.5.1.4.1.1.481.5"],
      ["Enhanced SR Storage", "1.2.840.10008.5.1.4.1.1.88.22"],
      ["Encapsulated PDF Storage", "1.2.840.10008.5.1.4.1.1.104.1"],
      ["Basic Text SR Storage", "1.2.840.10008.5.1.4.1.1.88.11"],
      ["12-lead ECG Waveform Storage", "1.2.840.10008.5.1.4.1.1.9.1.1"],
      ["VL Whole Slide Microscopy Image Storage", "1.2.840.10008.5.1.4.1.1.77.1.6"],
      ["Breast Tomosynthesis Image Storage", "1.2.840.10008.5.1.4.1.1.13.1.3"],
      ["RT Beams Delivery Instruction Storage", "1.2.840.10008.5.1.4.34.7"]
    ]
    for (const [name, uid] of spot) {
      assert.isTrue(Uids.STORAGE_SOP_CLASSES.includes(uid), name)
      assert.strictEqual(Uids.uidName(uid), name)
    }
    assert.strictEqual(Uids.StorageSop.CTImageStorage, "1.2.840.10008.5.1.4.1.1.2")
    assert.strictEqual(Uids.StorageSop.MRImageStorage, "1.2.840.10008.5.1.4.1.1.4")
    assert.strictEqual(Uids.StorageSop.SecondaryCaptureImageStorage, "1.2.840.10008.5.1.4.1.1.7")
    assert.strictEqual(Uids.StorageSop.RTPlanStorage, "1.2.840.10008.5.1.4.1.1.481.5")
    assert.strictEqual(Uids.StorageSop.EnhancedSRStorage, "1.2.840.10008.5.1.4.1.1.88.22")
    assert.strictEqual(Uids.StorageSop.EncapsulatedPDFStorage, "1.2.840.10008.5.1.4.1.1.104.1")
    assert.strictEqual(Uids.StorageSop.BasicTextSRStorage, "1.2.840.10008.5.1.4.1.1.88.11")
  })

  it("keeps the five Secondary Capture classes and leaves out non-patient and Standalone ones", () => {
    const sc = Uids.STORAGE_SOP_CLASSES.filter((uid) => /^1\.2\.840\.10008\.5\.1\.4\.1\.1\.7(\.\d+)?$/.test(uid))
    assert.strictEqual(sc.length, 5)
    for (const absent of [
      "1.2.840.10008.5.1.4.38.1", // Hanging Protocol Storage (PS3.4 GG)
      "1.2.840.10008.5.1.4.1.1.200.1", // CT Defined Procedure Protocol Storage (GG)
      "1.2.840.10008.5.1.4.1.1.8", // Standalone Overlay Storage (retired)
      "1.2.840.10008.5.1.4.1.1.6" // retired US: in the retired list only
    ]) {
      assert.isFalse(Uids.STORAGE_SOP_CLASSES.includes(absent), absent)
    }
  })

  it("keeps retired storage classes apart, named as retired", () => {
    assert.strictEqual(Uids.RetiredStorageSop.UltrasoundImageStorageRetired, "1.2.840.10008.5.1.4.1.1.6")
    assert.strictEqual(Uids.RetiredStorageSop.UltrasoundMultiFrameImageStorageRetired, "1.2.840.10008.5.1.4.1.1.3")
    assert.strictEqual(Uids.RetiredStorageSop.NuclearMedicineImageStorageRetired, "1.2.840.10008.5.1.4.1.1.5")
    assert.deepStrictEqual(Uids.RETIRED_STORAGE_SOP_CLASSES, Object.values(Uids.RetiredStorageSop))
    for (const uid of Uids.RETIRED_STORAGE_SOP_CLASSES) {
      assert.match(Uids.uidName(uid) ?? "", /\(Retired\)$/, uid)
      assert.isTrue(Uids.isStorageSopClass(uid), uid)
    }
    assert.strictEqual(Uids.uidName("1.2.840.10008.5.1.4.1.1.6"), "Ultrasound Image Storage (Retired)")
    assert.strictEqual(Uids.uidName("1.2.840.10008.5.1.4.1.1.6.1"), "Ultrasound Image Storage")
  })

  it("names the service SOP classes", () => {
    assert.strictEqual(Uids.Sop.Verification, "1.2.840.10008.1.1")
    assert.strictEqual(Uids.Sop.StudyRootQueryRetrieveInformationModelFind, "1.2.840.10008.5.1.4.1.2.2.1")
    assert.strictEqual(Uids.Sop.PatientRootQueryRetrieveInformationModelMove, "1.2.840.10008.5.1.4.1.2.1.2")
    assert.strictEqual(Uids.Sop.StudyRootQueryRetrieveInformationModelGet, "1.2.840.10008.5.1.4.1.2.2.3")
    assert.strictEqual(Uids.Sop.PatientStudyOnlyQueryRetrieveInformationModelFind, "1.2.840.10008.5.1.4.1.2.3.1")
    assert.strictEqual(Uids.Sop.ModalityWorklistInformationModelFind, "1.2.840.10008.5.1.4.31")
    assert.strictEqual(Uids.Sop.CompositeInstanceRootRetrieveGet, "1.2.840.10008.5.1.4.1.2.4.3")
    assert.strictEqual(Uids.Sop.StorageCommitmentPushModel, "1.2.840.10008.1.20.1")
    assert.strictEqual(Uids.Sop.StorageCommitmentPushModelInstance, "1.2.840.10008.1.20.1.1")
    assert.isFalse(Uids.isStorageSopClass(Uids.Sop.Verification))
    assert.isTrue(Uids.isStorageSopClass(Uids.StorageSop.CTImageStorage))
  })

  it("gives the encoding flags of the uncompressed transfer syntaxes", () => {
    assert.deepStrictEqual(Uids.transferSyntaxInfo(Uids.TransferSyntax.ImplicitVRLittleEndian), {
      name: "Implicit VR Little Endian",
      explicitVr: false,
      littleEndian: true,
      deflated: false,
      encapsulated: false,
      retired: false
    })
    assert.deepStrictEqual(Uids.transferSyntaxInfo("1.2.840.10008.1.2.1"), {
      name: "Explicit VR Little Endian",
      explicitVr: true,
      littleEndian: true,
      deflated: false,
      encapsulated: false,
      retired: false
    })
    assert.deepStrictEqual(Uids.transferSyntaxInfo("1.2.840.10008.1.2.1.99"), {
      name: "Deflated Explicit VR Little Endian",
      explicitVr: true,
      littleEndian: true,
      deflated: true,
      encapsulated: false,
      retired: false
    })
    assert.deepStrictEqual(Uids.transferSyntaxInfo("1.2.840.10008.1.2.2"), {
      name: "Explicit VR Big Endian (Retired)",
      explicitVr: true,
      littleEndian: false,
      deflated: false,
      encapsulated: false,
      retired: true
    })
  })

  it("gives the encoding flags of JPEG baseline and other compressed syntaxes", () => {
    assert.deepStrictEqual(Uids.transferSyntaxInfo(Uids.TransferSyntax.JPEGBaseline8Bit), {
      name: "JPEG Baseline (Process 1)",
      explicitVr: true,
      littleEndian: true,
      deflated: false,
      encapsulated: true,
      retired: false
    })
    assert.strictEqual(Uids.TransferSyntax.JPEGBaseline8Bit, "1.2.840.10008.1.2.4.50")
    assert.strictEqual(Uids.TransferSyntax.JPEGLosslessSV1, "1.2.840.10008.1.2.4.70")
    assert.strictEqual(Uids.TransferSyntax.RLELossless, "1.2.840.10008.1.2.5")
    assert.strictEqual(Uids.TransferSyntax.HTJ2K, "1.2.840.10008.1.2.4.203")
    assert.strictEqual(Uids.TransferSyntax.DeflatedImageFrameCompression, "1.2.840.10008.1.2.8.1")
    assert.isTrue(
      Uids.transferSyntaxInfo(Uids.TransferSyntax.EncapsulatedUncompressedExplicitVRLittleEndian)?.encapsulated
    )
    assert.isTrue(Uids.transferSyntaxInfo("1.2.840.10008.1.2.4.52")?.retired)
    assert.isFalse(Uids.transferSyntaxInfo("1.2.840.10008.1.2.4.51")?.retired)
    const jpip = Uids.transferSyntaxInfo(Uids.TransferSyntax.JPIPReferencedDeflate)
    assert.isTrue(jpip?.deflated && !jpip.encapsulated)
    const frameDeflate = Uids.transferSyntaxInfo(Uids.TransferSyntax.DeflatedImageFrameCompression)
    assert.isTrue(frameDeflate?.encapsulated && !frameDeflate.deflated)
  })

  it("knows every TransferSyntax constant, and nothing else, as a transfer syntax", () => {
    for (const [key, uid] of Object.entries(Uids.TransferSyntax)) {
      assert.isDefined(Uids.transferSyntaxInfo(uid), key)
    }
    assert.isUndefined(Uids.transferSyntaxInfo(Uids.StorageSop.CTImageStorage))
    assert.isUndefined(Uids.transferSyntaxInfo("1.2.3.4"))
    for (const mpeg of ["100", "101", "102", "103", "104", "105", "106", "107", "108"]) {
      assert.isTrue(Uids.transferSyntaxInfo(`1.2.840.10008.1.2.4.${mpeg}`)?.encapsulated, mpeg)
    }
  })

  it("names and describes UIDs for debug output, ignoring wire padding", () => {
    assert.strictEqual(Uids.uidName("1.2.840.10008.5.1.4.1.1.2"), "CT Image Storage")
    assert.strictEqual(Uids.uidName("1.2.840.10008.1.2\0"), "Implicit VR Little Endian")
    assert.strictEqual(Uids.uidName("1.2.840.10008.3.1.1.1"), "DICOM Application Context Name")
    assert.isUndefined(Uids.uidName("1.2.3.4"))
    assert.strictEqual(Uids.describeUid("1.2.840.10008.5.1.4.1.1.2"), "CT Image Storage")
    assert.strictEqual(Uids.describeUid("1.2.3.4"), "1.2.3.4")
    assert.strictEqual(Uids.describeUid("1.2.3.4\0"), "1.2.3.4")
    for (const uid of Uids.KNOWN_UIDS) assert.isNotEmpty(Uids.uidName(uid), uid)
  })

  it("names the MPPS and Basic Grayscale Print classes, so logs and errors about them do not show bare UIDs", () => {
    const named: ReadonlyArray<readonly [string, string]> = [
      ["1.2.840.10008.3.1.2.3.3", "Modality Performed Procedure Step SOP Class"],
      ["1.2.840.10008.3.1.2.3.4", "Modality Performed Procedure Step Retrieve SOP Class"],
      ["1.2.840.10008.3.1.2.3.5", "Modality Performed Procedure Step Notification SOP Class"],
      ["1.2.840.10008.5.1.1.1", "Basic Film Session SOP Class"],
      ["1.2.840.10008.5.1.1.2", "Basic Film Box SOP Class"],
      ["1.2.840.10008.5.1.1.4", "Basic Grayscale Image Box SOP Class"],
      ["1.2.840.10008.5.1.1.9", "Basic Grayscale Print Management Meta SOP Class"],
      ["1.2.840.10008.5.1.1.16", "Printer SOP Class"]
    ]
    for (const [uid, name] of named) assert.strictEqual(Uids.describeUid(uid), name)
    assert.strictEqual(Uids.Sop.ModalityPerformedProcedureStep, "1.2.840.10008.3.1.2.3.3")
  })
})
