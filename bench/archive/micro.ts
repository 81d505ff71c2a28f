/**
 * The archive's per-instance work in one process, without the network: `Header.fromBytes` and `ArchiveIndex.upsert`
 * (an in-memory index) over N small CT instances of one series (`bench/inputs.ts`), CPU µs per instance for each,
 * after a warm-up of the same count. For quick before/after comparisons of those two steps. With a folder as second
 * argument the index is a file there (WAL, synchronous FULL, as the servers open it: each commit writes and syncs
 * the WAL) instead of in memory.
 *
 *   node bench/archive/micro.ts [count] [index folder, e.g. /dev/shm]
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as ArchiveIndex from "../../packages/archive/src/ArchiveIndex.ts"
import * as Header from "../../packages/archive/src/Header.ts"
import * as Inputs from "../inputs.ts"

const count = Number(process.argv[2] ?? 1000)
const indexDir = process.argv[3]
const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdicom-micro-"))
const files = Inputs.generateSmall(dir, 2 * count, "77").map((i) => Fs.readFileSync(i.path))
Fs.rmSync(dir, { recursive: true, force: true })

const cpuUs = (f: () => void): number => {
  const t0 = process.cpuUsage()
  f()
  const t = process.cpuUsage(t0)
  return (t.user + t.system) / count
}

const headers = files.map((bytes) => {
  const h = Header.fromBytes(new Uint8Array(bytes))
  if (Result.isFailure(h)) throw new Error(String(h.failure))
  return h.success
})
cpuUs(() => {
  for (let i = 0; i < count; i++) Header.fromBytes(new Uint8Array(files[i]!))
})
const parse = cpuUs(() => {
  for (let i = count; i < 2 * count; i++) Header.fromBytes(new Uint8Array(files[i]!))
})

const upsert = await Effect.runPromise(
  Effect.scoped(
    Effect.gen(function* () {
      const filename =
        indexDir === undefined
          ? ":memory:"
          : Path.join(Fs.mkdtempSync(Path.join(indexDir, "netdicom-micro-")), "index.db")
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          if (filename !== ":memory:") Fs.rmSync(Path.dirname(filename), { recursive: true, force: true })
        })
      )
      const index = yield* ArchiveIndex.make({ filename })
      const run = (from: number) =>
        cpuUs(() => {
          for (let i = from; i < from + count; i++) {
            const h = headers[i]!
            Effect.runSync(index.upsert({ ...h, filePath: `/x/${i}.dcm`, fileSize: 40000, fileModifiedMs: i }))
          }
        })
      run(0)
      return run(count)
    })
  )
)
console.log(`Header.fromBytes ${parse.toFixed(1)} µs, ArchiveIndex.upsert ${upsert.toFixed(1)} µs per instance`)
