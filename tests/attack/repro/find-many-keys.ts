/**
 * Reproducer, not in the suite (an unfixed fault): a C-FIND identifier asking for thousands of return keys costs the
 * archive SCP ~9 us of CPU per key per match, in one synchronous `DataSet.encode` per response (dcmjs): a 64 KB
 * identifier of 8,000 zero-length private keys against 50 studies took ~3.5 s of the SCP's CPU (30,000 keys, 240 KB: ~260 ms
 * per match, the event loop held that long each time), and every match's response is as large as the request. Fix
 * wanted: bound the keys of an identifier (C000/A900 past it) or make encoding a response of N empty keys cheap.
 *
 * Usage (from the repository root): node tests/attack/repro/find-many-keys.ts [keys]   exits 1 while the fault holds
 */
import { Effect, Layer, Result, Stream } from "effect"
import { ApplicationEntity, DataSet, Scp, Scu } from "@netdicom/net"
import { Archive, ScpServices } from "@netdicom/archive"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { instance } from "../../../packages/archive/test/fixtures.ts"

const KEYS = Number(process.argv[2] ?? 8000)
const FIND = "1.2.840.10008.5.1.4.1.2.2.1"
const IMPLICIT = "1.2.840.10008.1.2"
const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdicom-repro-"))

const program = Effect.scoped(
  Effect.gen(function* () {
    const archiveLayer = Archive.Archive.layerFrom({
      root: Path.join(dir, "store"),
      index: { filename: Path.join(dir, "i.db") }
    })
    const context = yield* Layer.build(ScpServices.layer().pipe(Layer.provideMerge(archiveLayer)))
    const archive = yield* Effect.provide(Effect.service(Archive.Archive), context)
    for (let i = 1; i <= 50; i++) {
      yield* archive.store(
        instance({
          patientId: `P${i}`,
          patientName: `N${i}`,
          study: `1.2.5.${i}`,
          series: `1.2.5.${i}.1`,
          sop: `1.2.5.${i}.1.1`
        })
      )
    }
    const contexts = [{ abstractSyntax: FIND, transferSyntaxes: [IMPLICIT] }]
    const ae = Result.getOrThrow(ApplicationEntity.make({ aeTitle: "ARCHIVE", contexts }))
    const server = yield* Scp.serve(ae, { port: 0, host: "127.0.0.1" }).pipe(Effect.provide(context))
    const scu = Result.getOrThrow(ApplicationEntity.make({ aeTitle: "SCU" }))
    const channel = yield* Scu.connect(scu, {
      host: "127.0.0.1",
      port: server.port,
      calledAeTitle: "ARCHIVE",
      contexts
    })
    const keys: Record<string, string> = { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "" }
    for (let e = 0; e < KEYS; e++) keys[`0009${(0x1000 + e).toString(16).toUpperCase()}`] = ""
    const identifier: DataSet.Naturalized = keys
    const before = process.cpuUsage()
    const started = performance.now()
    const responses = yield* Stream.runCollect(Scu.find(channel, { model: "study", identifier }))
    const cpu = process.cpuUsage(before)
    const cpuMs = (cpu.user + cpu.system) / 1000
    console.log(
      `${KEYS} keys, ${responses.length - 1} matches: ${Math.round(performance.now() - started)} ms, ` +
        `${Math.round(cpuMs)} ms CPU (SCP and SCU in this process)`
    )
    return cpuMs
  })
)

const cpuMs = await Effect.runPromise(program)
Fs.rmSync(dir, { recursive: true, force: true })
// a query of ten keys costs ~60 ms for these 50 matches (both sides): thousands of keys cost ~100 times that
process.exit(cpuMs > 500 ? 1 : 0)
