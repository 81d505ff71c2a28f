/**
 * node bench/echo/ab.ts build <dir> — bundles this worktree's bench SCP and SCU (`bench/scp.ts`, `bench/scu.ts`)
 * into `<dir>/scp.mjs` and `<dir>/scu.mjs`, so that several versions of netdicom can be kept side by side.
 *
 * node bench/echo/ab.ts <reps> <count> <dir>... — interleaved A/B samples of the echo workload, netdicom SCU ->
 * netdicom SCP, one pair of fresh processes per sample, the bundles of each `<dir>` taking turns (the order reversed
 * every other repetition). Prints, per sample and as medians per dir, the CPU per association of each side over
 * the SCU's measured job: all threads of the process (the SCU: `process.cpuUsage` of its timed interval, as the
 * bench; the SCP: the sum of `/proc/<pid>/task/<tid>/schedstat`, nanoseconds rather than the bench's 10 ms ticks),
 * and the SCP's main thread alone (the rest is V8's compiler and GC helper threads). A `<dir>/flags` file, if any,
 * adds Node flags to both sides of that dir (after build.ts's NODE_FLAGS). A diagnostic: see docs/performance.md
 * for the bench itself.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { bundle, NODE_FLAGS } from "../../packages/cli/build.ts"
import type { ScuJob } from "../common.ts"
import * as Procs from "../procs.ts"

const here = Path.dirname(fileURLToPath(import.meta.url))

interface Sample {
  readonly scu: number
  readonly scp: number
  readonly scpMain: number
  readonly rate: number
}

const sample = async (dir: string, count: number): Promise<Sample> => {
  const flagsFile = Path.join(dir, "flags")
  const extra = Fs.existsSync(flagsFile)
    ? Fs.readFileSync(flagsFile, "utf8")
        .split(/\s+/)
        .filter((f) => f !== "")
    : []
  const flags = [...NODE_FLAGS, ...extra]
  const scp = Procs.start(process.execPath, [
    ...flags,
    Path.join(dir, "scp.mjs"),
    JSON.stringify({ pdu: 16384, mode: "echo" })
  ])
  const port = Number(await scp.line("READY"))
  const scu = Procs.start(process.execPath, [...flags, Path.join(dir, "scu.mjs")], { stdin: true })
  await scu.line("READY")
  const job: ScuJob = { kind: "echo", host: Procs.LOOPBACK, port, pdu: 16384, count }
  const before = Procs.schedCpuNs(scp.pid)
  scu.write(`${JSON.stringify(job)}\n`)
  const result = JSON.parse(await scu.line("RESULT", 600_000)) as { cpuMs: number; elapsedMs: number; error?: string }
  const after = Procs.schedCpuNs(scp.pid)
  await Procs.stop(scp)
  await Procs.stop(scu)
  if (result.error !== undefined) throw new Error(`${dir}: ${result.error}`)
  return {
    scu: (result.cpuMs * 1000) / count,
    scp: (after.all - before.all) / 1000 / count,
    scpMain: (after.main - before.main) / 1000 / count,
    rate: count / (result.elapsedMs / 1000)
  }
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? Number.NaN
}

const [first, second, ...rest] = process.argv.slice(2)
if (first === "build" && second !== undefined) {
  await bundle(Path.join(here, "..", "scp.ts"), Path.join(second, "scp.mjs"))
  await bundle(Path.join(here, "..", "scu.ts"), Path.join(second, "scu.mjs"))
} else if (first !== undefined && second !== undefined && rest.length > 0) {
  const reps = Number(first)
  const count = Number(second)
  const samples = new Map<string, Array<Sample>>(rest.map((d) => [d, []]))
  for (let i = 0; i < reps; i++) {
    for (const dir of i % 2 === 0 ? rest : [...rest].reverse()) {
      const s = await sample(dir, count)
      samples.get(dir)!.push(s)
      const f = (x: number) => x.toFixed(0)
      process.stdout.write(
        `${dir} #${i}: SCU ${f(s.scu)} us, SCP ${f(s.scp)} us (main ${f(s.scpMain)}), ${f(s.rate)}/s\n`
      )
    }
  }
  for (const [dir, xs] of samples) {
    const col = (k: keyof Sample) =>
      `${median(xs.map((x) => x[k])).toFixed(0)} [${xs.map((x) => x[k].toFixed(0)).join(" ")}]`
    process.stdout.write(`${dir}\n  SCU ${col("scu")}\n  SCP ${col("scp")}\n  SCP main thread ${col("scpMain")}\n`)
  }
} else {
  process.stderr.write("usage: node bench/echo/ab.ts build <dir> | <reps> <count> <dir>...\n")
  process.exit(2)
}
