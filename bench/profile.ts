/**
 * Summaries of V8 CPU profiles (`node --cpu-prof`, the `.cpuprofile` JSON): self and inclusive time per function
 * and per package, counted over a time window (the SCU's measured interval, on the system monotonic clock that
 * both V8's profile timestamps and `process.hrtime` read), so module loading and waiting for the job are left out.
 *
 * Run on its own: `node bench/profile.ts <file.cpuprofile> [startUs endUs]`.
 */
import * as Fs from "node:fs"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}

interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: ReadonlyArray<number>
}

interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly startTime: number
  readonly endTime: number
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

/** One function's share of the busy samples. */
export interface Entry {
  readonly name: string
  readonly where: string
  readonly category: string
  readonly selfPct: number
  readonly totalPct: number
}

/** A profile, summarized. */
export interface Summary {
  readonly file: string
  /** Samples in the window (each ~`intervalUs`). */
  readonly samples: number
  readonly intervalUs: number
  /** Share of the window the thread was idle (waiting on I/O). */
  readonly idlePct: number
  /** Per package, % of busy (non-idle) samples, self time. */
  readonly categories: ReadonlyArray<{ readonly category: string; readonly pct: number }>
  /** Functions by self time, % of busy samples. */
  readonly bySelf: ReadonlyArray<Entry>
  /** Functions of netdicom and of the bench scripts by inclusive time, % of busy samples. */
  readonly byTotal: ReadonlyArray<Entry>
  /**
   * Each busy sample charged to the innermost netdicom or bench frame on its stack (the code whose work, Effect
   * runtime included, it is), or to "(no netdicom frame) <package>" when none is on the stack, % of busy samples.
   */
  readonly byOwner: ReadonlyArray<{ readonly owner: string; readonly pct: number }>
}

const shortUrl = (url: string): string =>
  url
    .replace(/^file:\/\//, "")
    .replace(/^.*\/node_modules\/\.pnpm\/[^/]+\/node_modules\//, "")
    .replace(/^.*\/packages\//, "packages/")
    .replace(/^.*\/bench\//, "bench/")

/** The package a frame belongs to. */
export const categoryOf = (frame: CallFrame): string => {
  const { functionName: f, url } = frame
  if (url === "") {
    if (f === "(garbage collector)") return "GC"
    if (f === "(idle)") return "idle"
    if (f === "(program)") return "V8/native (program)"
    return "native"
  }
  if (url.includes("/effect/")) return "effect"
  if (url.includes("/packages/wire/")) return "@netdicom/wire"
  if (url.includes("/packages/net/src/upper/")) return "@netdicom/net upper layer"
  if (url.includes("/packages/net/src/association/")) return "@netdicom/net association"
  if (url.includes("/packages/net/src/dimse/")) return "@netdicom/net dimse"
  if (url.includes("/packages/net/")) return "@netdicom/net services"
  if (url.includes("/@effect/platform-node")) return "@effect/platform-node"
  if (url.includes("dcmjs")) return "dcmjs"
  if (url.includes("/bench/")) return "bench script"
  if (url.startsWith("node:internal/streams") || url.startsWith("node:stream")) return "node streams"
  if (url.startsWith("node:net") || url.startsWith("node:internal/stream_base")) return "node net"
  if (url.startsWith("node:internal/fs") || url.startsWith("node:fs")) return "node fs"
  if (url.startsWith("node:")) return "node other"
  return "other"
}

const keyOf = (frame: CallFrame): string => `${frame.functionName}|${frame.url}|${frame.lineNumber}`

/** Summarizes a profile over [startUs, endUs] (the whole profile without a window). */
export const summarize = (file: string, window?: { readonly startUs: number; readonly endUs: number }): Summary => {
  const profile = JSON.parse(Fs.readFileSync(file, "utf8")) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const self = new Map<string, number>()
  const total = new Map<string, number>()
  const frames = new Map<string, CallFrame>()
  const categories = new Map<string, number>()
  const owners = new Map<string, number>()
  const isOurs = (frame: CallFrame): boolean => {
    const c = categoryOf(frame)
    return c.startsWith("@netdicom") || c === "bench script"
  }
  let t = profile.startTime
  let inWindow = 0
  let idle = 0
  let busy = 0
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0
    if (window !== undefined && (t < window.startUs || t > window.endUs)) continue
    inWindow++
    const node = byId.get(profile.samples[i]!)
    if (node === undefined) continue
    const category = categoryOf(node.callFrame)
    if (category === "idle") {
      idle++
      continue
    }
    busy++
    categories.set(category, (categories.get(category) ?? 0) + 1)
    const k = keyOf(node.callFrame)
    frames.set(k, node.callFrame)
    self.set(k, (self.get(k) ?? 0) + 1)
    let owner: string | undefined
    for (let id: number | undefined = node.id; id !== undefined && owner === undefined; id = parent.get(id)) {
      const frame = byId.get(id)!.callFrame
      if (isOurs(frame))
        owner = `${frame.functionName || "(anonymous)"}  ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
    }
    owner ??= `(no netdicom frame) ${category}`
    owners.set(owner, (owners.get(owner) ?? 0) + 1)
    const seen = new Set<string>()
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)!.callFrame
      const fk = keyOf(frame)
      if (seen.has(fk)) continue
      seen.add(fk)
      frames.set(fk, frame)
      total.set(fk, (total.get(fk) ?? 0) + 1)
    }
  }
  const pct = (n: number): number => (busy === 0 ? 0 : (100 * n) / busy)
  const entry = (k: string): Entry => {
    const f = frames.get(k)!
    return {
      name: f.functionName === "" ? "(anonymous)" : f.functionName,
      where: f.url === "" ? "" : `${shortUrl(f.url)}:${f.lineNumber + 1}`,
      category: categoryOf(f),
      selfPct: pct(self.get(k) ?? 0),
      totalPct: pct(total.get(k) ?? 0)
    }
  }
  const bySelf = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 30)
    .map(([k]) => entry(k))
  const byTotal = [...total.entries()]
    .filter(([k]) => isOurs(frames.get(k)!))
    .sort((a, b) => b[1] - a[1])
    .slice(0, 30)
    .map(([k]) => entry(k))
  const duration = profile.endTime - profile.startTime
  return {
    file,
    samples: inWindow,
    intervalUs: profile.samples.length === 0 ? 0 : duration / profile.samples.length,
    idlePct: inWindow === 0 ? 0 : (100 * idle) / inWindow,
    categories: [...categories.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([category, n]) => ({ category, pct: pct(n) })),
    bySelf,
    byTotal,
    byOwner: [...owners.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 30)
      .map(([owner, n]) => ({ owner, pct: pct(n) }))
  }
}

const fmt = (n: number): string => n.toFixed(1).padStart(5)

/** A summary as text. */
export const render = (title: string, s: Summary, top = 20): string => {
  const out: Array<string> = []
  out.push(`${title}: ${s.samples} samples of ~${s.intervalUs.toFixed(0)} us, idle ${s.idlePct.toFixed(1)}%`)
  out.push("  by package (self, % of busy samples):")
  for (const c of s.categories) out.push(`    ${fmt(c.pct)}%  ${c.category}`)
  out.push("  top functions by self time (% of busy samples; total = inclusive):")
  for (const e of s.bySelf.slice(0, top))
    out.push(`    ${fmt(e.selfPct)}% self ${fmt(e.totalPct)}% total  ${e.name}  ${e.where}`)
  out.push(
    "  busy samples by innermost netdicom/bench frame on the stack (its own work and the Effect runtime it drives):"
  )
  for (const o of s.byOwner.slice(0, top)) out.push(`    ${fmt(o.pct)}%  ${o.owner}`)
  out.push("  netdicom and bench functions by inclusive time:")
  for (const e of s.byTotal.slice(0, top))
    out.push(`    ${fmt(e.totalPct)}% total ${fmt(e.selfPct)}% self  ${e.name}  ${e.where}`)
  return out.join("\n")
}

if (import.meta.filename === process.argv[1]) {
  const [file, start, end] = process.argv.slice(2)
  if (file === undefined) {
    console.error("usage: node bench/profile.ts <file.cpuprofile> [startUs endUs]")
    process.exit(2)
  }
  const window = start !== undefined && end !== undefined ? { startUs: Number(start), endUs: Number(end) } : undefined
  console.log(render(file, summarize(file, window), 30))
}
