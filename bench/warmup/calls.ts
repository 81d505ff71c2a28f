/**
 * node bench/warmup/calls.ts [small] [big] [min] — JavaScript calls per C-STORE, counted (not timed), per side.
 *
 * Runs bench/warmup/run.ts from sources (SOURCES=1) under NODE_V8_COVERAGE twice, with `small` (default 1000) and
 * `big` (default 2000) operations on one association, and prints, for the SCU and the SCP process, the calls per
 * function of the big run minus the small one (the operations between), divided by big - small: calls per
 * operation, in total, in packages/wire, packages/net and effect, then each function at or above `min` (default
 * 0.5) calls per operation. Counts are exact and do not depend on the load of the machine, unlike CPU time.
 * INTERNALS=1: Node's own JavaScript (`node:` modules: streams, net, timers) counted too, as `node` in the totals.
 * Other env passes through to run.ts (e.g. SCU_WINDOW, or SCU=dcmtk: storescu as the SCU, the SCP's counts only). Coverage files go to .tmp/calls (KEEP=1 keeps them).
 * PER=association: `small` and `big` count associations of one C-STORE each (run.ts 1 <n>), so the figures are calls
 * per association (opening, one C-STORE, release); with SCU_OP=echo (run.ts), a C-ECHO instead of each C-STORE.
 */
import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const here = Path.dirname(fileURLToPath(import.meta.url))
const root = Path.resolve(here, "../..")
const small = Number(process.argv[2] ?? 1000)
const big = Number(process.argv[3] ?? 2000)
const min = Number(process.argv[4] ?? 0.5)
const out = Path.join(root, ".tmp", "calls")
// INTERNALS=1: Node's own JavaScript (node:internal/... modules: streams, net, timers) counted too, as `node`.
const internals = process.env["INTERNALS"] === "1"

interface Coverage {
  readonly result: ReadonlyArray<{
    readonly url: string
    readonly functions: ReadonlyArray<{
      readonly functionName: string
      readonly ranges: ReadonlyArray<{ readonly startOffset: number; readonly count: number }>
    }>
  }>
}

/** The coverage file of the process whose entry is seg-<side>.ts (the parent run.ts has neither). */
const find = (dir: string, side: "scu" | "scp"): Coverage => {
  for (const name of Fs.readdirSync(dir)) {
    const text = Fs.readFileSync(Path.join(dir, name), "utf8")
    if (text.includes(`warmup/seg-${side}.ts"`) && !text.includes(`warmup/run.ts"`)) {
      return JSON.parse(text) as Coverage
    }
  }
  throw new Error(`no coverage of seg-${side}.ts in ${dir}`)
}

const sources = new Map<string, string>()
const lineOf = (url: string, offset: number): number => {
  let src = sources.get(url)
  if (src === undefined) {
    try {
      src = Fs.readFileSync(new URL(url), "utf8")
    } catch {
      src = ""
    }
    sources.set(url, src)
  }
  let line = 1
  for (let i = 0; i < offset && i < src.length; i++) if (src.charCodeAt(i) === 10) line++
  return line
}

const counts = (cov: Coverage): Map<string, number> => {
  const m = new Map<string, number>()
  for (const s of cov.result) {
    const internal = s.url.startsWith("node:")
    if (
      internal ? !internals : !s.url.includes("/packages/") && !s.url.includes("/effect/") && !s.url.includes("/bench/")
    )
      continue
    const short = s.url.replace(/.*\/(packages|node_modules\/.pnpm\/[^/]+\/node_modules)\//, "")
    for (const f of s.functions) {
      const r = f.ranges[0]
      if (r === undefined) continue
      const k = `${f.functionName || "(anon)"} ${short}:${lineOf(s.url, r.startOffset)}`
      m.set(k, (m.get(k) ?? 0) + r.count)
    }
  }
  return m
}

Fs.rmSync(out, { recursive: true, force: true })
for (const n of [small, big]) {
  const dir = Path.join(out, String(n))
  Fs.mkdirSync(dir, { recursive: true })
  const args = process.env["PER"] === "association" ? ["1", String(n)] : [String(n)]
  const r = spawnSync(process.execPath, [Path.join(here, "run.ts"), ...args], {
    cwd: root,
    env: { ...process.env, SOURCES: "1", NODE_V8_COVERAGE: dir },
    stdio: ["ignore", "ignore", "inherit"]
  })
  if (r.status !== 0) throw new Error(`run.ts ${n} exited with ${String(r.status)}`)
}
const ops = big - small
// SCU=dcmtk (run.ts): storescu drives the SCP, and only the SCP is counted.
for (const side of process.env["SCU"] === "dcmtk" ? (["scp"] as const) : (["scu", "scp"] as const)) {
  const a = counts(find(Path.join(out, String(small)), side))
  const b = counts(find(Path.join(out, String(big)), side))
  const rows: Array<[number, string]> = []
  let total = 0
  let wire = 0
  let net = 0
  let eff = 0
  let nodeOwn = 0
  for (const [k, v] of b) {
    const d = (v - (a.get(k) ?? 0)) / ops
    if (d <= 0) continue
    total += d
    if (k.includes(" wire/")) wire += d
    else if (k.includes(" net/")) net += d
    else if (k.includes("effect/")) eff += d
    else if (k.includes(" node:")) nodeOwn += d
    if (d >= min) rows.push([d, k])
  }
  rows.sort((x, y) => y[0] - x[0])
  const f = (x: number) => x.toFixed(1)
  console.log(
    `${side.toUpperCase()} calls per op: total ${f(total)} wire ${f(wire)} net ${f(net)} effect ${f(eff)}${internals ? ` node ${f(nodeOwn)}` : ""}`
  )
  for (const [d, k] of rows) console.log(`${f(d).padStart(8)} ${k}`)
}
if (process.env["KEEP"] !== "1") Fs.rmSync(out, { recursive: true, force: true })
