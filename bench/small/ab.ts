/**
 * node bench/small/ab.ts build <dir> — bundles this worktree's bench SCP and SCU (`bench/scp.ts`, `bench/scu.ts`)
 * into `<dir>/scp.mjs` and `<dir>/scu.mjs`, so that several versions of netdicom can be kept side by side.
 *
 * node bench/small/ab.ts <reps> <rows> <dir>... — interleaved A/B samples of the small workload (1,000 instances of
 * ~40 KB on one association, max PDU 16384), one fresh SCP (and netdicom SCU) process per sample, the bundles of each
 * `<dir>` taking turns (the order reversed every other repetition), and a DCMTK↔DCMTK sample of each row per
 * repetition for the ratio. `<rows>`: a comma-separated list of `dcmtk-discard` (storescu → netdicom SCP
 * discarding), `dcmtk-disk` (writing files) and `netdicom-discard` (netdicom↔netdicom, window 8). The SCP runs as the
 * bench's does (`NODE_FLAGS`, `SERVER_NODE_FLAGS`, `SERVER_ENV`); a `<dir>/flags` file adds Node flags to the SCP of
 * that dir, a `<dir>/scu-flags` file to its SCU. Prints, per sample and as medians per dir and row, the rate, its
 * ratio to the repetition's DCMTK↔DCMTK sample, and the SCP's CPU per instance over the job, all threads and main
 * thread alone (`/proc/<pid>/task/<tid>/schedstat`, nanoseconds rather than the bench's 10 ms ticks). The rate is
 * taken as `pnpm bench` takes it (storescu: its "Requesting Association" log line to its exit; the netdicom SCU: its
 * own clock). A diagnostic beside the bench: see docs/performance.md, Round 21 (small).
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { bundle, NODE_FLAGS, SERVER_ENV, SERVER_NODE_FLAGS } from "../../packages/cli/build.ts"
import { SCP_AET, SCU_AET, type ScuJob, type ScuResult } from "../common.ts"
import { generateSmall } from "../inputs.ts"
import * as Procs from "../procs.ts"

const here = Path.dirname(fileURLToPath(import.meta.url))

type Row = "dcmtk-discard" | "dcmtk-disk" | "netdicom-discard"
const ROWS: ReadonlyArray<Row> = ["dcmtk-discard", "dcmtk-disk", "netdicom-discard"]

const flagsOf = (file: string): Array<string> =>
  Fs.existsSync(file)
    ? Fs.readFileSync(file, "utf8")
        .split(/\s+/)
        .filter((f) => f !== "")
    : []

interface Sample {
  readonly rate: number
  readonly scp: number
  readonly scpMain: number
}

const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdicom-small-ab-"))
const logConfig = Path.join(work, "log.cfg")
Fs.writeFileSync(logConfig, Procs.DCMTK_LOG_CONFIG)
const COUNT = 1000
const PDU = 16384

// The storescu side of a sample: its rate as the bench takes it.
const storescu = async (port: number, files: ReadonlyArray<string>): Promise<number> => {
  const args = ["-aet", SCU_AET, "-aec", SCP_AET, "-pdu", String(PDU), Procs.LOOPBACK, String(port), ...files]
  const r = await Procs.runDcmtkScu("storescu", args, { logConfig, workDir: work, rss: false })
  if (!r.ok) throw new Error(`storescu failed:\n${r.output.slice(0, 2000)}`)
  return files.length / (r.elapsedMs / 1000)
}

const dcmtkSample = async (row: Row, files: ReadonlyArray<string>): Promise<number> => {
  const out = Fs.mkdtempSync(Path.join(work, "received-"))
  const port = await Procs.freePort()
  const mode = row === "dcmtk-disk" ? ["-od", out] : ["--ignore"]
  const scp = Procs.start("storescp", ["-aet", SCP_AET, "-pdu", String(PDU), ...mode, String(port)], {
    env: Procs.dcmtkEnv()
  })
  if (!(await Procs.listening(port, scp))) throw new Error("storescp did not start")
  const rate = await storescu(port, files)
  await Procs.stop(scp)
  Fs.rmSync(out, { recursive: true, force: true })
  return rate
}

const sample = async (dir: string, row: Row, files: ReadonlyArray<string>): Promise<Sample> => {
  const out = Fs.mkdtempSync(Path.join(work, "received-"))
  const config = { mode: row === "dcmtk-disk" ? "disk" : "discard", pdu: PDU, out }
  const scpArgs = [...NODE_FLAGS, ...SERVER_NODE_FLAGS, ...flagsOf(Path.join(dir, "flags"))]
  const scp = Procs.start(process.execPath, [...scpArgs, Path.join(dir, "scp.mjs"), JSON.stringify(config)], {
    env: { ...SERVER_ENV, ...process.env }
  })
  const port = Number(await scp.line("READY"))
  let rate: number
  const before = Procs.schedCpuNs(scp.pid)
  if (row === "netdicom-discard") {
    const scuArgs = [...NODE_FLAGS, ...flagsOf(Path.join(dir, "scu-flags")), Path.join(dir, "scu.mjs")]
    const scu = Procs.start(process.execPath, scuArgs, { stdin: true })
    await scu.line("READY")
    const job: ScuJob = { kind: "store", host: Procs.LOOPBACK, port, pdu: PDU, files }
    scu.write(`${JSON.stringify(job)}\n`)
    const result = JSON.parse(await scu.line("RESULT", 600_000)) as ScuResult
    await Procs.stop(scu)
    if (result.error !== undefined) throw new Error(`${dir}: ${result.error}`)
    rate = files.length / (result.elapsedMs / 1000)
  } else rate = await storescu(port, files)
  const after = Procs.schedCpuNs(scp.pid)
  await Procs.stop(scp)
  Fs.rmSync(out, { recursive: true, force: true })
  return {
    rate,
    scp: (after.all - before.all) / 1000 / files.length,
    scpMain: (after.main - before.main) / 1000 / files.length
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
  const rows = second.split(",") as Array<Row>
  for (const r of rows) if (!ROWS.includes(r)) throw new Error(`unknown row ${r} (known: ${ROWS.join(", ")})`)
  const files = generateSmall(Path.join(work, "inputs"), COUNT, "ab").map((f) => f.path)
  const samples = new Map<string, Array<Sample & { readonly ratio: number }>>()
  const f = (x: number) => x.toFixed(0)
  for (let i = 0; i < reps; i++) {
    for (const row of rows) {
      const baseline = await dcmtkSample(row, files)
      for (const dir of i % 2 === 0 ? rest : [...rest].reverse()) {
        const s = await sample(dir, row, files)
        const ratio = s.rate / baseline
        const key = `${row} ${dir}`
        samples.set(key, [...(samples.get(key) ?? []), { ...s, ratio }])
        process.stdout.write(
          `${row} ${dir} #${i}: ${f(s.rate)}/s (${ratio.toFixed(2)}x of ${f(baseline)}), SCP ${f(s.scp)} us ` +
            `(main ${f(s.scpMain)})\n`
        )
      }
    }
  }
  for (const [key, xs] of samples) {
    const col = (k: "rate" | "ratio" | "scp" | "scpMain", digits: number) =>
      `${median(xs.map((x) => x[k])).toFixed(digits)} [${xs.map((x) => x[k].toFixed(digits)).join(" ")}]`
    process.stdout.write(
      `${key}\n  rate ${col("rate", 0)}\n  ratio ${col("ratio", 2)}\n  SCP ${col("scp", 0)}\n` +
        `  SCP main thread ${col("scpMain", 0)}\n`
    )
  }
  Fs.rmSync(work, { recursive: true, force: true })
} else {
  process.stderr.write("usage: node bench/small/ab.ts build <dir> | <reps> <rows> <dir>...\n")
  process.exit(2)
}
