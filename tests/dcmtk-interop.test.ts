/**
 * Interop on loopback with DCMTK 3.6.7 and Orthanc: their SCUs against our SCP, our SCU against
 * their SCPs. Every corpus file that has a File Meta group travels both ways bit-exact (the data
 * set bytes unchanged); the others give a per-file typed error. Skipped, with a message, where
 * DCMTK, Orthanc or the corpus are missing.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Result, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { ApplicationEntity, DataSet, Part10, QueryRetrieve, Scp, Scu } from "@netdicom/net"
import { Uids } from "@netdicom/wire"
import {
  corpusDir,
  hasDcmtk,
  hasOrthanc,
  listFiles,
  makeTempDir,
  part10Dataset,
  removeDir,
  run,
  startDcmqrscp,
  startOrthanc,
  startStorescp,
  stopAll
} from "./support/peers.ts"

const dcmtk = hasDcmtk()
const orthanc = hasOrthanc()
const corpus = corpusDir()
const haveCorpus = fs.existsSync(corpus)
if (!dcmtk) console.warn("dcmtk-interop.test.ts: DCMTK is not installed (apt-get install dcmtk): skipping")
if (!orthanc) console.warn("dcmtk-interop.test.ts: Orthanc is not installed (apt-get install orthanc): skipping")
if (!haveCorpus)
  console.warn(`dcmtk-interop.test.ts: no corpus at ${corpus} (set NETDICOM_CORPUS): skipping corpus cases`)

const corpusFiles = haveCorpus ? listFiles(corpus).filter((f) => f.endsWith(".dcm")) : []

const TRANSFER_SYNTAXES = Object.values(Uids.TransferSyntax) as ReadonlyArray<string>
const scpAe = Result.getOrThrow(
  ApplicationEntity.make({
    aeTitle: "NETDICOM",
    contexts: [
      { abstractSyntax: "1.2.840.10008.1.1", transferSyntaxes: ["1.2.840.10008.1.2"] },
      ...[...Uids.STORAGE_SOP_CLASSES, ...Uids.RETIRED_STORAGE_SOP_CLASSES].map((abstractSyntax) => ({
        abstractSyntax,
        transferSyntaxes: TRANSFER_SYNTAXES
      }))
    ],
    timeouts: { acse: "10 seconds", dimse: "30 seconds" }
  })
)
const scuAe = Result.getOrThrow(ApplicationEntity.make({ aeTitle: "NETDICOM-SCU", timeouts: { dimse: "30 seconds" } }))

const temp: Array<string> = []
afterAll(async () => {
  await stopAll()
  for (const d of temp) removeDir(d)
})

/** An SCP keeping what arrives: SOP Instance UID → data set bytes. */
const collectingScp = Effect.gen(function* () {
  const received = new Map<string, { readonly bytes: Uint8Array; readonly transferSyntax: string }>()
  const storage = Layer.succeed(Scp.StorageService)({
    store: (request) =>
      Stream.runCollect(request.dataSet).pipe(
        Effect.map((chunks) => {
          received.set(request.sopInstanceUid, {
            bytes: new Uint8Array(Buffer.concat(chunks)),
            transferSyntax: request.transferSyntax
          })
          return { status: 0x0000 }
        }),
        Effect.orElseSucceed(() => ({ status: 0xa700 }))
      )
  })
  // The requestor's order: a peer that proposes a file's own transfer syntax first gets it, no transcoding.
  const policy = { calledAeTitles: () => true, preferRequestorOrder: true }
  const server = yield* Scp.serve(scpAe, { port: 0, policy }).pipe(Effect.provide(storage))
  return { port: server.port, received }
})

// storescu leaves out a trailing Data Set Trailing Padding element (FFFC,FFFC): allow exactly that.
const sameDataSet = (got: Uint8Array, want: Uint8Array): boolean => {
  if (Buffer.compare(got, want) === 0) return true
  if (got.length >= want.length || Buffer.compare(got, want.subarray(0, got.length)) !== 0) return false
  const rest = want.subarray(got.length)
  return (
    (rest[0] === 0xfc && rest[1] === 0xff && rest[2] === 0xfc && rest[3] === 0xff) ||
    (rest[0] === 0xff && rest[1] === 0xfc)
  )
}

// storescu's option to propose a file's own transfer syntax, so that it sends it without converting.
const PROPOSE: Record<string, string> = {
  "1.2.840.10008.1.2": "-xi",
  "1.2.840.10008.1.2.1": "-xe",
  "1.2.840.10008.1.2.2": "-xb",
  "1.2.840.10008.1.2.1.99": "-xd",
  "1.2.840.10008.1.2.5": "-xr",
  "1.2.840.10008.1.2.4.70": "-xs",
  "1.2.840.10008.1.2.4.50": "-xy",
  "1.2.840.10008.1.2.4.51": "-xx",
  "1.2.840.10008.1.2.4.90": "-xv",
  "1.2.840.10008.1.2.4.91": "-xw",
  "1.2.840.10008.1.2.4.80": "-xt",
  "1.2.840.10008.1.2.4.81": "-xu"
}
const proposeFlag = (file: string): ReadonlyArray<string> => {
  const meta = Part10.readMeta(new Uint8Array(fs.readFileSync(file)))
  const flag = Result.isSuccess(meta) ? PROPOSE[meta.success.transferSyntaxUid] : undefined
  return flag ? [flag] : []
}

// What DCMTK's storescp (+B: bit-preserving) receives when storescu sends `file` to it.
let referenceScp: Awaited<ReturnType<typeof startStorescp>> | undefined
const dcmtkReceives = async (file: string): Promise<Uint8Array | undefined> => {
  if (!referenceScp) {
    const outDir = makeTempDir("netdicom-reference-")
    temp.push(outDir)
    referenceScp = await startStorescp({ outDir, extraArgs: ["+B"] })
  }
  for (const f of referenceScp.files()) fs.rmSync(f)
  const r = await run("storescu", ["-R", ...proposeFlag(file), "127.0.0.1", String(referenceScp.port), file])
  const written = referenceScp.files()
  return r.code === 0 && written.length === 1 ? part10Dataset(new Uint8Array(fs.readFileSync(written[0]!))) : undefined
}

const sendable = (file: string) => Result.isSuccess(Part10.readMeta(new Uint8Array(fs.readFileSync(file))))

describe.skipIf(!dcmtk)("DCMTK SCUs against our SCP", () => {
  it.live("echoscu gets Success", () =>
    Effect.gen(function* () {
      const { port } = yield* collectingScp
      const r = yield* Effect.promise(() => run("echoscu", ["-aec", "NETDICOM", "127.0.0.1", String(port)]))
      assert.strictEqual(r.code, 0, r.stderr)
    })
  )

  it.live.skipIf(!haveCorpus)("storescu sends every corpus file with meta; the data sets arrive bit-exact", () =>
    Effect.gen(function* () {
      const { port, received } = yield* collectingScp
      const files = corpusFiles.filter(sendable)
      assert.isAbove(files.length, 20)
      let verified = 0
      for (const file of files) {
        received.clear() // several corpus files share a SOP Instance UID
        const r = yield* Effect.promise(() =>
          run("storescu", ["-aec", "NETDICOM", "-R", ...proposeFlag(file), "127.0.0.1", String(port), file], {
            timeoutMs: 60_000
          })
        )
        const meta = Result.getOrThrow(Part10.readMeta(new Uint8Array(fs.readFileSync(file))))
        if (r.code !== 0 || /unable to convert|cannot send/i.test(r.stderr + r.stdout)) {
          // storescu refuses some files itself (no transcoder for it): nothing of it may reach us half-way.
          assert.isFalse(received.has(meta.mediaStorageSopInstanceUid), `${file}: ${r.stderr}`)
          continue
        }
        // One file per association, the map cleared before: what arrived is this file (storescu may take
        // the SOP Instance UID from the data set rather than the meta header).
        assert.strictEqual(received.size, 1, `${path.basename(file)} did not arrive`)
        const got = [...received.values()][0]
        // storescu picks the context it sends on; when it chose another transfer syntax it transcoded by itself.
        if (got!.transferSyntax !== meta.transferSyntaxUid) continue
        const want = part10Dataset(new Uint8Array(fs.readFileSync(file)))!
        if (!sameDataSet(got!.bytes, want)) {
          // storescu re-serialises some files (DCMTK rewrites odd lengths, padding...). Then what we received
          // must be exactly what DCMTK's own storescp receives from the same storescu.
          const reference = yield* Effect.promise(() => dcmtkReceives(file))
          assert.isDefined(reference, `${path.basename(file)}: storescp did not receive it either`)
          assert.isTrue(
            Buffer.compare(got!.bytes, reference!) === 0,
            `${path.basename(file)}: data set changed in transit`
          )
        }
        verified++
      }
      assert.isAbove(verified, 20)
    })
  )
})

describe.skipIf(!dcmtk)("our SCU against DCMTK storescp", () => {
  it.live.skipIf(!haveCorpus)(
    "echo, then every corpus file stored bit-exact; unsendable files give a per-file error",
    () =>
      Effect.gen(function* () {
        const outDir = makeTempDir("netdicom-storescp-")
        temp.push(outDir)
        const scp = yield* Effect.promise(() => startStorescp({ outDir, extraArgs: ["+B"] }))
        const metas = yield* Effect.forEach(corpusFiles, (file) =>
          Effect.map(Effect.result(Scu.describeFile(file)), (meta) => ({ file, meta }))
        )
        const good = metas.flatMap((m) => (Result.isSuccess(m.meta) ? [{ file: m.file, meta: m.meta.success }] : []))
        const bad = metas.filter((m) => Result.isFailure(m.meta))
        assert.isAbove(bad.length, 0, "the corpus has files without a usable meta group")
        const contexts = new Map<string, Set<string>>()
        for (const { meta } of good) {
          const set = contexts.get(meta.sopClassUid) ?? new Set()
          set.add(meta.transferSyntaxUid)
          contexts.set(meta.sopClassUid, set)
        }
        const results = yield* Effect.scoped(
          Effect.gen(function* () {
            const channel = yield* Scu.connect(scuAe, {
              host: "127.0.0.1",
              port: scp.port,
              calledAeTitle: scp.aet,
              contexts: [
                { abstractSyntax: "1.2.840.10008.1.1", transferSyntaxes: ["1.2.840.10008.1.2"] },
                ...[...contexts].flatMap(([abstractSyntax, ts]) =>
                  [...ts].map((t) => ({ abstractSyntax, transferSyntaxes: [t] }))
                )
              ]
            })
            const echo = yield* Scu.echo(channel)
            assert.strictEqual(echo.status, 0)
            const out: Array<{ file: string; exit: Exit.Exit<{ readonly status: number }, unknown> }> = []
            for (const { file, meta } of good) {
              const exit = yield* Effect.exit(Scu.storeFile(channel, file))
              out.push({ file, exit })
              if (Exit.isFailure(exit)) continue
              // storescp -uf names files <modality>.<SOP Instance UID>; several corpus files share a UID, so
              // check each right after it was stored. With +B the data set is written as received.
              const hit = scp
                .files()
                .filter((s) => s.endsWith(`.${meta.sopInstanceUid}`))
                .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0]
              assert.isDefined(hit, `${path.basename(file)} not written by storescp`)
              // the data set from the meta's end (a bare data set without File Meta Information: all of the file)
              const want = fs.readFileSync(file).subarray(meta.dataSetOffset)
              const got = part10Dataset(new Uint8Array(fs.readFileSync(hit!)))!
              // An odd-length (deflated) data set travels with one trailing NUL, as PS3.5 A.5 asks.
              const padded = Buffer.concat([want, Buffer.of(0)])
              const same =
                Buffer.compare(got, want) === 0 || (want.length % 2 === 1 && Buffer.compare(got, padded) === 0)
              assert.isTrue(
                same,
                `${path.basename(file)}: data set changed in transit (${got.length} vs ${want.length})`
              )
              fs.rmSync(hit!)
            }
            return out
          })
        )
        // bare data sets without File Meta Information are sent too, their transfer syntax guessed, as storescu does
        const sniffed = new Set(good.filter((g) => g.meta.sniffed).map((g) => g.file))
        assert.isAbove(sniffed.size, 0, "the corpus has bare data sets")
        assert.isTrue(
          results.some((r) => sniffed.has(r.file) && Exit.isSuccess(r.exit) && r.exit.value.status === 0),
          "a bare data set stored"
        )
        let sent = 0
        for (const { file, exit } of results) {
          if (Exit.isFailure(exit)) {
            // A context refused by storescp (a transfer syntax it does not take) is a typed per-file error.
            assert.match(String(exit), /NoAcceptedContext|FileNotSendable/, file)
            continue
          }
          assert.strictEqual(exit.value.status, 0, file)
          sent++
        }
        assert.isAbove(sent, 20)
      })
  )
})

describe.skipIf(!orthanc || !haveCorpus)("our SCU against Orthanc", () => {
  it.live("stores CT and MR files; Orthanc counts them", () =>
    Effect.gen(function* () {
      const o = yield* Effect.promise(() => startOrthanc({}))
      const files = ["CT_small.dcm", "MR_small.dcm"].map((f) => path.join(corpus, f))
      yield* Effect.scoped(
        Effect.gen(function* () {
          const metas = yield* Effect.forEach(files, Scu.describeFile)
          const channel = yield* Scu.connect(scuAe, {
            host: "127.0.0.1",
            port: o.dicomPort,
            calledAeTitle: o.aet,
            contexts: metas.map((m) => ({ abstractSyntax: m.sopClassUid, transferSyntaxes: [m.transferSyntaxUid] }))
          })
          for (const f of files) assert.strictEqual((yield* Scu.storeFile(channel, f)).status, 0)
        })
      )
      const stats = (yield* Effect.promise(() => o.rest("/statistics"))) as { CountInstances: number }
      assert.strictEqual(stats.CountInstances, 2)
    })
  )
})

describe.skipIf(!dcmtk || !haveCorpus)("our SCU against DCMTK dcmqrscp", () => {
  it.live("C-FIND finds the study, C-MOVE sends it to our SCP, C-GET brings it back on the same association", () =>
    Effect.gen(function* () {
      const { port: ourPort, received } = yield* collectingScp
      const ct = path.join(corpus, "CT_small.dcm")
      const meta = Result.getOrThrow(Part10.readMeta(new Uint8Array(fs.readFileSync(ct))))
      const qr = yield* Effect.promise(() =>
        startDcmqrscp({ peers: [{ aet: "NETDICOM", port: ourPort }], preload: [ct] })
      )
      const study = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
      const contexts = [
        { abstractSyntax: QueryRetrieve.SOP_CLASSES.study.find, transferSyntaxes: ["1.2.840.10008.1.2"] },
        { abstractSyntax: QueryRetrieve.SOP_CLASSES.study.move!, transferSyntaxes: ["1.2.840.10008.1.2"] },
        { abstractSyntax: QueryRetrieve.SOP_CLASSES.study.get!, transferSyntaxes: ["1.2.840.10008.1.2"] },
        { abstractSyntax: meta.mediaStorageSopClassUid, transferSyntaxes: [meta.transferSyntaxUid] }
      ]
      const getAe = Result.getOrThrow(
        ApplicationEntity.make({
          aeTitle: "NETDICOM",
          contexts: [
            {
              abstractSyntax: meta.mediaStorageSopClassUid,
              transferSyntaxes: [meta.transferSyntaxUid],
              scu: true,
              scp: true
            }
          ],
          timeouts: { dimse: "30 seconds" }
        })
      )
      const fetched: Array<Uint8Array> = []
      yield* Effect.scoped(
        Effect.gen(function* () {
          const channel = yield* Scu.connect(getAe, {
            host: "127.0.0.1",
            port: qr.port,
            calledAeTitle: qr.aet,
            contexts,
            roles: [{ sopClassUid: meta.mediaStorageSopClassUid, scu: true, scp: true }],
            onStore: (request) =>
              Stream.runCollect(request.dataSet).pipe(
                Effect.map((chunks) => {
                  fetched.push(new Uint8Array(Buffer.concat(chunks)))
                  return { status: 0 }
                }),
                Effect.orElseSucceed(() => ({ status: 0xa700 }))
              )
          })
          const matches = yield* Stream.runCollect(
            Scu.find(channel, {
              model: "study",
              identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "", PatientName: "" }
            })
          )
          assert.strictEqual(matches.at(-1)!.status, 0)
          const studies = matches.flatMap((m) => (m.identifier ? [String(m.identifier["StudyInstanceUID"])] : []))
          assert.include(studies, study)

          const moved = yield* Stream.runCollect(
            Scu.move(channel, {
              model: "study",
              destination: "NETDICOM",
              identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: study }
            })
          )
          assert.strictEqual(moved.at(-1)!.status, 0)
          assert.strictEqual(moved.at(-1)!.completed, 1)
          assert.isTrue(received.has(meta.mediaStorageSopInstanceUid), "C-MOVE delivered the instance to our SCP")

          const got = yield* Stream.runCollect(
            Scu.get(channel, { model: "study", identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: study } })
          )
          assert.strictEqual(got.at(-1)!.status, 0)
          assert.strictEqual(fetched.length, 1)
        })
      )
    })
  )
})

describe.runIf(dcmtk)("DCMTK getscu against our SCP", () => {
  it.live(
    "getscu, proposing Explicit VR Little Endian first, gets an instance stored in Implicit VR re-encoded; dcmdump reads it",
    () =>
      Effect.gen(function* () {
        const IMPLICIT = Uids.TransferSyntax.ImplicitVRLittleEndian
        const EXPLICIT = Uids.TransferSyntax.ExplicitVRLittleEndian
        const MR = Uids.StorageSop.MRImageStorage
        const study = "1.2.826.0.1.3680043.10.1478.77.1"
        const sop = `${study}.1.1`
        const attributes = {
          SOPClassUID: MR,
          SOPInstanceUID: sop,
          StudyInstanceUID: study,
          SeriesInstanceUID: `${study}.1`,
          PatientName: "TRANSCODE^ME",
          PatientID: "TC1",
          Modality: "MR",
          ReferencedImageSequence: [
            { ReferencedSOPClassUID: MR, ReferencedSOPInstanceUID: `${study}.1.2`, ReferencedFrameNumber: 1 }
          ],
          Rows: 2,
          Columns: 2,
          BitsAllocated: 16,
          BitsStored: 16,
          HighBit: 15,
          PixelRepresentation: 0,
          SamplesPerPixel: 1,
          PhotometricInterpretation: "MONOCHROME2",
          PixelData: new Uint16Array([1, 2, 0x300, 0xfffe]).buffer
        }
        const implicit = Result.getOrThrow(DataSet.encode(attributes, IMPLICIT))
        const ae = Result.getOrThrow(
          ApplicationEntity.make({
            aeTitle: "NETDICOM",
            contexts: [
              { abstractSyntax: QueryRetrieve.SOP_CLASSES.study.get!, transferSyntaxes: [EXPLICIT, IMPLICIT] },
              { abstractSyntax: MR, transferSyntaxes: [EXPLICIT, IMPLICIT], scu: true, scp: true }
            ],
            timeouts: { acse: "10 seconds", dimse: "30 seconds" }
          })
        )
        const retrieve = Layer.succeed(Scp.RetrieveService)({
          retrieve: () =>
            Effect.succeed([
              { sopClassUid: MR, sopInstanceUid: sop, transferSyntax: IMPLICIT, dataSet: () => Stream.make(implicit) }
            ])
        })
        const server = yield* Scp.serve(ae, { port: 0, policy: { calledAeTitles: () => true } }).pipe(
          Effect.provide(retrieve)
        )
        const out = makeTempDir("netdicom-getscu-transcode-")
        temp.push(out)
        const r = yield* Effect.promise(() =>
          run("getscu", [
            "-S",
            "-aec",
            "NETDICOM",
            "-od",
            out,
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            `StudyInstanceUID=${study}`,
            "127.0.0.1",
            String(server.port)
          ])
        )
        assert.strictEqual(r.code, 0, r.stdout + r.stderr)
        const got = listFiles(out)
        assert.strictEqual(got.length, 1, `${got.join(", ")}\n${r.stdout}${r.stderr}`)
        const dump = yield* Effect.promise(() => run("dcmdump", ["-M", got[0]!]))
        assert.strictEqual(dump.code, 0, dump.stdout + dump.stderr)
        // getscu writes the file in the transfer syntax it received: the one it proposed first
        assert.match(dump.stdout, /\(0002,0010\) UI =LittleEndianExplicit/)
        assert.include(dump.stdout, "TRANSCODE^ME")
        assert.match(dump.stdout, /\(0008,1160\) IS \[1\]/)
        assert.match(dump.stdout, /\(7fe0,0010\) OW 0001\\0002\\0300\\fffe/)
        // what getscu wrote (it re-encodes as it writes) reads as what was stored
        const received = part10Dataset(new Uint8Array(fs.readFileSync(got[0]!)))!
        const { _vrMap: _a, ...wrote } = Result.getOrThrow(DataSet.decode(received, EXPLICIT))
        const { _vrMap: _b, ...stored } = Result.getOrThrow(DataSet.decode(implicit, IMPLICIT))
        assert.deepStrictEqual(
          { ...wrote, PixelData: Buffer.from(wrote["PixelData"] as ArrayBuffer) },
          { ...stored, PixelData: Buffer.from(stored["PixelData"] as ArrayBuffer) }
        )
      })
  )
})
