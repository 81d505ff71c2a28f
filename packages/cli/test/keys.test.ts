/**
 * The pure parts of the command: `-k` keys into identifiers (PS3.4 C.4.1.2.1, K.6.1.2), identifiers into the
 * DICOM JSON Model (PS3.18 F.2), and the C-GET storage proposal within 128 contexts (PS3.8 7.1.1.13).
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as Contexts from "../src/Contexts.ts"
import * as DicomJson from "../src/DicomJson.ts"
import * as Keys from "../src/Keys.ts"

const id = (spec: Partial<Keys.QuerySpec> & { readonly keys: ReadonlyArray<string> }) =>
  Keys.identifier({ model: "study", level: undefined, find: true, ...spec })

describe("Keys", () => {
  it("keywords and tags, values and return keys, the level and its unique key", () => {
    const r = id({
      keys: [
        "PatientName=DOE*",
        "0010,0020",
        "(0008,0020)=20240101-",
        "00080061=CT\\MR",
        "NumberOfStudyRelatedInstances"
      ]
    })
    assert.deepStrictEqual(Result.getOrThrow(r), {
      QueryRetrieveLevel: "STUDY",
      PatientName: "DOE*",
      PatientID: "",
      StudyDate: "20240101-",
      ModalitiesInStudy: "CT\\MR",
      NumberOfStudyRelatedInstances: "",
      StudyInstanceUID: ""
    })
  })

  it("numbers for numeric VRs, unless the value is a range", () => {
    const r = Result.getOrThrow(id({ level: "IMAGE", keys: ["InstanceNumber=3", "Rows=512", "SeriesNumber=1-4"] }))
    assert.strictEqual(r["InstanceNumber"], 3)
    assert.strictEqual(r["Rows"], 512)
    assert.strictEqual(r["SeriesNumber"], "1-4")
    assert.strictEqual(r["SOPInstanceUID"], "")
  })

  it("dotted paths reach into one sequence item; a bare sequence is a return key", () => {
    const r = Keys.identifier({
      model: "worklist",
      level: undefined,
      find: true,
      keys: [
        "ScheduledProcedureStepSequence.Modality=MR",
        "ScheduledProcedureStepSequence.ScheduledStationAETitle",
        "PatientName"
      ]
    })
    assert.deepStrictEqual(Result.getOrThrow(r), {
      ScheduledProcedureStepSequence: [{ Modality: "MR", ScheduledStationAETitle: "" }],
      PatientName: ""
    })
    const bare = Keys.identifier({ model: "worklist", level: undefined, find: true, keys: ["ReferencedStudySequence"] })
    assert.deepStrictEqual(Result.getOrThrow(bare), { ReferencedStudySequence: [] })
  })

  it("the defaults when no key is given, and none of them for a retrieve", () => {
    const find = Result.getOrThrow(id({ keys: [] }))
    assert.includeMembers(Object.keys(find), ["PatientName", "StudyInstanceUID", "ModalitiesInStudy"])
    const move = Result.getOrThrow(id({ keys: ["StudyInstanceUID=1.2.3"], find: false }))
    assert.deepStrictEqual(move, { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" })
  })

  it("unknown keywords, values on sequences and bad levels are refused with the reason", () => {
    const typo = id({ keys: ["PatientNmae=X"] })
    assert.isTrue(Result.isFailure(typo) && typo.failure.message.includes("PatientNmae"))
    const sq = id({ keys: ["ReferencedStudySequence=x"] })
    assert.isTrue(Result.isFailure(sq))
    assert.isTrue(Result.isFailure(Keys.parseLevel("study", "PATIENT")))
    assert.strictEqual(Result.getOrThrow(Keys.parseLevel("patient", "series")), "SERIES")
  })

  it("a UID key takes whole UIDs only: a wildcard or a stray character is refused, not dropped on the way", () => {
    for (const key of [
      "StudyInstanceUID=1.2*",
      "SeriesInstanceUID=1.2.?",
      "StudyInstanceUID=1.2.3 ",
      "0020000D=1.2a"
    ]) {
      const refused = id({ keys: [key], find: false })
      assert.isTrue(Result.isFailure(refused), key)
      if (Result.isFailure(refused)) assert.include(refused.failure.message, "is a UID", key)
    }
    const wildcard = id({ keys: ["StudyInstanceUID=1.2*"] })
    assert.isTrue(Result.isFailure(wildcard) && wildcard.failure.message.includes("wildcards do not apply"))
    const list = Result.getOrThrow(id({ keys: ["StudyInstanceUID=1.2.3\\1.2.4", "SOPInstanceUID="], find: false }))
    assert.deepStrictEqual(list, { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3\\1.2.4", SOPInstanceUID: "" })
  })
})

describe("Keys given as findscu users give them", () => {
  it("a key given twice with different values is refused rather than the first value silently dropped", () => {
    // `-k PatientName=DOE* -k PatientName` would otherwise ask for every patient
    const twice = id({ keys: ["PatientName=DOE*", "StudyInstanceUID", "0010,0010"] })
    assert.isTrue(Result.isFailure(twice))
    if (Result.isFailure(twice)) {
      assert.include(twice.failure.message, "PatientName given twice")
      assert.include(twice.failure.message, "DOE*")
    }
    const inItem = Keys.identifier({
      model: "worklist",
      level: undefined,
      find: true,
      keys: ["ScheduledProcedureStepSequence.Modality=MR", "ScheduledProcedureStepSequence.Modality=CT"]
    })
    assert.isTrue(Result.isFailure(inItem) && inItem.failure.message.includes("Modality given twice"))
    // the same value twice, or a sequence as a return key beside a key inside it, is no contradiction
    assert.deepStrictEqual(Result.getOrThrow(id({ keys: ["PatientID=7", "PatientID=7"], find: false })), {
      QueryRetrieveLevel: "STUDY",
      PatientID: "7"
    })
    const sq = Keys.identifier({
      model: "worklist",
      level: undefined,
      find: true,
      keys: ["ScheduledProcedureStepSequence", "ScheduledProcedureStepSequence.Modality=MR"]
    })
    assert.deepStrictEqual(Result.getOrThrow(sq), { ScheduledProcedureStepSequence: [{ Modality: "MR" }] })
  })

  it("findscu's item index: (0040,0100)[0].(0008,0060)=CT is a key inside the first item, [1] the second", () => {
    const worklist = (keys: ReadonlyArray<string>) =>
      Keys.identifier({ model: "worklist", level: undefined, find: true, keys })
    assert.deepStrictEqual(
      Result.getOrThrow(
        worklist([
          "PatientID",
          "(0040,0100)[0].(0008,0060)=CT",
          "ScheduledProcedureStepSequence[0].ScheduledStationAETitle"
        ])
      ),
      { PatientID: "", ScheduledProcedureStepSequence: [{ Modality: "CT", ScheduledStationAETitle: "" }] }
    )
    assert.deepStrictEqual(Result.getOrThrow(worklist(["PatientID", "OtherPatientIDsSequence[1].PatientID=B"])), {
      PatientID: "",
      OtherPatientIDsSequence: [{}, { PatientID: "B" }]
    })
    // [0] and no index name the same item: two values for one key there are still refused
    const twice = worklist(["(0040,0100)[0].Modality=CT", "ScheduledProcedureStepSequence.Modality=MR"])
    assert.isTrue(Result.isFailure(twice) && twice.failure.message.includes("Modality given twice"))
    const item = worklist(["ScheduledProcedureStepSequence[0]"])
    assert.isTrue(Result.isFailure(item) && item.failure.message.includes("is an item: give a key inside it"))
    const far = worklist(["ScheduledProcedureStepSequence[100].Modality=CT"])
    assert.isTrue(Result.isFailure(far))
  })

  it("-k QueryRetrieveLevel=X sets the level as --level does: its unique key follows, a contradiction is refused", () => {
    const series = Result.getOrThrow(id({ keys: ["QueryRetrieveLevel=series", "StudyInstanceUID=1.2.3", "Modality"] }))
    assert.deepStrictEqual(series, {
      QueryRetrieveLevel: "SERIES",
      StudyInstanceUID: "1.2.3",
      Modality: "",
      SeriesInstanceUID: ""
    })
    const byTag = Result.getOrThrow(id({ keys: ["0008,0052=IMAGE"] }))
    assert.strictEqual(byTag["QueryRetrieveLevel"], "IMAGE")
    assert.includeMembers(Object.keys(byTag), ["SOPInstanceUID", "SOPClassUID"])
    const agrees = Result.getOrThrow(id({ level: "SERIES", keys: ["QueryRetrieveLevel=SERIES"], find: false }))
    assert.deepStrictEqual(agrees, { QueryRetrieveLevel: "SERIES" })
    const contradicts = id({ level: "SERIES", keys: ["QueryRetrieveLevel=STUDY", "StudyInstanceUID=1.2.3"] })
    assert.isTrue(Result.isFailure(contradicts) && contradicts.failure.message.includes("--level SERIES"))
    const notInModel = id({ keys: ["QueryRetrieveLevel=PATIENT"] })
    assert.isTrue(Result.isFailure(notInModel) && notInModel.failure.message.includes("STUDY, SERIES, IMAGE"))
    const worklist = Keys.identifier({
      model: "worklist",
      level: undefined,
      find: true,
      keys: ["QueryRetrieveLevel=STUDY"]
    })
    assert.isTrue(Result.isFailure(worklist) && worklist.failure.message.includes("no levels"))
  })
})

describe("DicomJson", () => {
  it("PS3.18 F.2: tags in order, vr, Value arrays, Person Name groups, empty values without Value", () => {
    const json = DicomJson.fromNaturalized({
      StudyInstanceUID: "1.2.3",
      PatientName: "Yamada^Tarou=山田^太郎=やまだ^たろう",
      QueryRetrieveLevel: "STUDY",
      StudyDate: "",
      NumberOfStudyRelatedInstances: 4,
      ModalitiesInStudy: ["CT", "MR"],
      _vrMap: {}
    })
    assert.deepStrictEqual(
      Object.keys(json),
      ["00080052", "00080061", "00080020", "00100010", "0020000D", "00201208"].sort()
    )
    assert.deepStrictEqual(json["00100010"], {
      vr: "PN",
      Value: [{ Alphabetic: "Yamada^Tarou", Ideographic: "山田^太郎", Phonetic: "やまだ^たろう" }]
    })
    assert.deepStrictEqual(json["00080020"], { vr: "DA" })
    assert.deepStrictEqual(json["00201208"], { vr: "IS", Value: [4] })
    assert.deepStrictEqual(json["00080061"], { vr: "CS", Value: ["CT", "MR"] })
  })

  it("sequences, binary values as InlineBinary, private tags with their VR", () => {
    const json = DicomJson.fromNaturalized({
      ReferencedSeriesSequence: [{ SeriesInstanceUID: "1.2.3.4" }],
      "00091010": new Uint8Array([1, 2, 3]).buffer,
      _vrMap: { "00091010": "OB" }
    })
    assert.deepStrictEqual(json["00081115"], { vr: "SQ", Value: [{ "0020000E": { vr: "UI", Value: ["1.2.3.4"] } }] })
    assert.deepStrictEqual(json["00091010"], { vr: "OB", InlineBinary: "AQID" })
  })
})

describe("Contexts", () => {
  it("a C-GET refused for a transfer syntax not proposed gets a hint naming it and --sop-class", () => {
    const hint = Contexts.refusedSyntaxHint("no context accepted for transfer syntax 1.2.840.10008.1.2.5")
    assert.include(hint ?? "", "RLE Lossless (1.2.840.10008.1.2.5)")
    assert.include(hint ?? "", "--sop-class")
    assert.isUndefined(Contexts.refusedSyntaxHint("SCU took no SCP role for 1.2.840.10008.5.1.4.1.1.2"))
    assert.isUndefined(Contexts.refusedSyntaxHint(undefined))
  })

  it("a C-GET refused for a SOP class not proposed gets a hint naming its --sop-class keyword", () => {
    const hint = Contexts.refusedSyntaxHint("no context accepted for 1.2.840.10008.5.1.4.1.1.481.8")
    assert.include(hint ?? "", "RT Ion Plan Storage (1.2.840.10008.5.1.4.1.1.481.8)")
    assert.include(hint ?? "", "--sop-class RTIonPlanStorage")
    assert.include(hint ?? "", "in place of the default classes")
    // a class no table names is given by its UID, which --sop-class takes as well
    assert.include(Contexts.refusedSyntaxHint("no context accepted for 1.2.3.4") ?? "", "--sop-class 1.2.3.4 ")
  })

  it("a C-GET proposal fits 128 contexts with the C-GET one, one transfer syntax each", () => {
    const p = Contexts.getProposal(127)
    assert.isAtMost(p.contexts.length + 1, 128)
    assert.isTrue(p.contexts.every((c) => c.transferSyntaxes.length === 1))
    const keys = new Set(p.contexts.map((c) => `${c.abstractSyntax}|${c.transferSyntaxes[0]}`))
    assert.strictEqual(keys.size, p.contexts.length)
    assert.isTrue(p.roles.every((r) => r.scp && !r.scu))
    const only = Contexts.getProposal(127, ["1.2.840.10008.5.1.4.1.1.4"])
    assert.strictEqual(only.contexts.length, Contexts.STORAGE_TRANSFER_SYNTAXES.length)
  })

  it("--sop-class takes a UID or a storage SOP class keyword, and names what it takes otherwise", () => {
    assert.deepStrictEqual(Contexts.sopClassOf("CTImageStorage"), Result.succeed("1.2.840.10008.5.1.4.1.1.2"))
    assert.deepStrictEqual(Contexts.sopClassOf("mrimagestorage"), Result.succeed("1.2.840.10008.5.1.4.1.1.4"))
    assert.deepStrictEqual(
      Contexts.sopClassOf("1.2.840.10008.5.1.4.1.1.7"),
      Result.succeed("1.2.840.10008.5.1.4.1.1.7")
    )
    assert.deepStrictEqual(
      Contexts.sopClassOf("CTImage"),
      Result.fail("--sop-class CTImage: neither a UID nor a storage SOP class keyword (e.g. CTImageStorage)")
    )
  })
})
