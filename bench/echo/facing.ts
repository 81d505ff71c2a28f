/**
 * node bench/echo/facing.ts <reps> <count> <dir> [modes] — the bench's netdicom SCP (`<dir>/scp.mjs`, built by
 * `ab.ts build <dir>`, run with the servers' flags and environment as `pnpm bench` runs it) facing requestors of
 * different kinds, one fresh SCP process per sample, the modes taking turns. Prints the SCP's CPU per association
 * (all threads and the main thread, from `/proc/<pid>/task/<tid>/schedstat`, nanoseconds) over `count`
 * associations of one C-ECHO each. Modes (comma-separated, default echoscu,scu,gap5):
 * - `echoscu`: one DCMTK echoscu process per association, as the bench's echoscu → netdicom SCP row;
 * - `scu`: the bench's netdicom SCU (`<dir>/scu.mjs`), all associations back to back in one process;
 * - `gap<ms>`: the same SCU, one association per job, `<ms>` milliseconds of nothing between associations (what the
 *   SCP sees of echoscu's process start and exit, without echoscu's own bytes and order).
 * SCP_FLAGS adds Node flags to the SCP, SCP_LOG=<file> appends its output there, SCP_STRACE=<strace options> traces it,
 * SCP_WRAP=<command> runs it under valgrind, say.
 * A diagnostic for Round 21 (echo): see docs/performance.md.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { NODE_FLAGS, SERVER_ENV, SERVER_NODE_FLAGS } from "../../packages/cli/build.ts"
import { SCP_AET, SCU_AET, type ScuJob } from "../common.ts"
import * as Procs from "../procs.ts"

// SCP_FLAGS: more Node flags for the SCP (a trace, say); SCP_LOG: a file the SCP's output is appended to.
const scpFlags = (process.env["SCP_FLAGS"] ?? "").split(" ").filter((f) => f !== "")

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Sample {
  readonly scp: number
  readonly scpMain: number
  readonly wallMs: number
}

const runMode = async (dir: string, mode: string, count: number): Promise<Sample> => {
  const args = [
    ...NODE_FLAGS,
    ...SERVER_NODE_FLAGS,
    ...scpFlags,
    Path.join(dir, "scp.mjs"),
    JSON.stringify({ pdu: 16384, mode: "echo" })
  ]
  // SCP_WRAP: a command the SCP runs in the same process (`valgrind --tool=callgrind ...`: the figures are then its)
  const [cmd, ...rest] = [...(process.env["SCP_WRAP"] ?? "").split(" ").filter((f) => f !== ""), process.execPath]
  const scp = Procs.start(cmd!, [...rest, ...args], { env: { ...SERVER_ENV, ...process.env } })
  const port = Number(await scp.line("READY", 600_000))
  const job = (n: number): ScuJob => ({ kind: "echo", host: Procs.LOOPBACK, port, pdu: 16384, count: n })
  const scu =
    mode === "echoscu"
      ? undefined
      : Procs.start(process.execPath, [...NODE_FLAGS, Path.join(dir, "scu.mjs")], {
          stdin: true
        })
  await scu?.line("READY")
  // SCP_STRACE=<args>: strace attached to the SCP for the measured associations (`-c -o FILE`, or `-tt -T -o FILE`)
  const strace =
    process.env["SCP_STRACE"] === undefined
      ? undefined
      : Procs.start("strace", ["-f", ...process.env["SCP_STRACE"].split(" "), "-p", String(scp.pid)])
  await sleep(strace === undefined ? 200 : 1000)
  const before = Procs.schedCpuNs(scp.pid)
  const t0 = performance.now()
  if (mode === "echoscu") {
    for (let i = 0; i < count; i++) {
      const p = Procs.start("echoscu", ["-aet", SCU_AET, "-aec", SCP_AET, Procs.LOOPBACK, String(port)], {
        env: Procs.dcmtkEnv()
      })
      const exit = await p.exited
      if (exit.code !== 0) throw new Error(`echoscu: ${p.output()}`)
    }
  } else if (mode === "scu") {
    scu!.write(`${JSON.stringify(job(count))}\n`)
    await scu!.line("RESULT", 600_000)
  } else {
    const gap = Number(mode.slice(3))
    // one association per job, each an unmeasured pass of the SCU (answered `WARMED <i>`), the process kept
    for (let i = 0; i < count; i++) {
      scu!.write(`${JSON.stringify({ ...job(1), warmUp: i })}\n`)
      await scu!.line(`WARMED ${i} `)
      if (gap > 0) await sleep(gap)
    }
  }
  const wallMs = performance.now() - t0
  const after = Procs.schedCpuNs(scp.pid)
  if (strace !== undefined) {
    strace.signal("SIGINT")
    await strace.exited
  }
  await Procs.stop(scp, process.env["SCP_WRAP"] === undefined ? 5_000 : 300_000)
  if (process.env["SCP_LOG"] !== undefined) Fs.appendFileSync(process.env["SCP_LOG"], `== ${mode}\n${scp.output()}`)
  if (scu !== undefined) await Procs.stop(scu)
  return { scp: (after.all - before.all) / 1000 / count, scpMain: (after.main - before.main) / 1000 / count, wallMs }
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? Number.NaN
}

const [repsArg, countArg, dir, modesArg] = process.argv.slice(2)
if (repsArg === undefined || countArg === undefined || dir === undefined) {
  process.stderr.write("usage: node bench/echo/facing.ts <reps> <count> <dir> [echoscu,scu,gap5]\n")
  process.exit(2)
}
const modes = (modesArg ?? "echoscu,scu,gap5").split(",")
const samples = new Map<string, Array<Sample>>(modes.map((m) => [m, []]))
for (let i = 0; i < Number(repsArg); i++) {
  for (const mode of i % 2 === 0 ? modes : [...modes].reverse()) {
    const s = await runMode(dir, mode, Number(countArg))
    samples.get(mode)!.push(s)
    process.stdout.write(
      `${mode} #${i}: SCP ${s.scp.toFixed(0)} us (main ${s.scpMain.toFixed(0)}), ${s.wallMs.toFixed(0)} ms\n`
    )
  }
}
for (const [mode, xs] of samples) {
  const col = (k: keyof Sample) =>
    `${median(xs.map((x) => x[k])).toFixed(0)} [${xs.map((x) => x[k].toFixed(0)).join(" ")}]`
  process.stdout.write(`${mode}\n  SCP ${col("scp")}\n  SCP main thread ${col("scpMain")}\n`)
}
