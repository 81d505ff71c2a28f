/**
 * Per-segment counters for a warm-up diagnosis: CPU of each thread (schedstat, ns), event-loop turns and events
 * (libuv metrics), socket 'data' events, socket writes (_writev/_write), setImmediate/setTimeout/nextTick calls,
 * GC count and time by kind. `mark(n)` closes a segment. Since Round 21 a plain TCP transport takes its reads from
 * the socket's `push`, so 'data' counts only the reads it did not (a TLS socket's, a paused socket's): 0 over TCP.
 */
import * as Fs from "node:fs"
import * as Net from "node:net"
import { PerformanceObserver } from "node:perf_hooks"

const c = { data: 0, dataBytes: 0, writev: 0, write: 0, writeChunks: 0, setImmediate: 0, setTimeout: 0, nextTick: 0 }
const gc = { count: 0, ms: 0, scav: 0, mark: 0 }

export const install = (): void => {
  const immediate = globalThis.setImmediate
  globalThis.setImmediate = ((...a: Parameters<typeof immediate>) => {
    c.setImmediate++
    return immediate(...a)
  }) as typeof immediate
  const timeout = globalThis.setTimeout
  globalThis.setTimeout = ((...a: Parameters<typeof timeout>) => {
    c.setTimeout++
    return timeout(...a)
  }) as typeof timeout
  const tick = process.nextTick
  process.nextTick = ((...a: Parameters<typeof tick>) => {
    c.nextTick++
    return tick(...a)
  }) as typeof tick
  const proto = Net.Socket.prototype as unknown as Record<string, (...a: Array<unknown>) => unknown>
  const emit = proto["emit"]!
  proto["emit"] = function (this: unknown, ev: unknown, ...rest: Array<unknown>) {
    if (ev === "data") {
      c.data++
      c.dataBytes += (rest[0] as Buffer).byteLength
    }
    return emit.call(this, ev, ...rest)
  }
  const writev = proto["_writev"]!
  proto["_writev"] = function (this: unknown, chunks: unknown, cb: unknown) {
    c.writev++
    c.writeChunks += (chunks as Array<unknown>).length
    return writev.call(this, chunks, cb)
  }
  const write = proto["_write"]!
  proto["_write"] = function (this: unknown, ...a: Array<unknown>) {
    c.write++
    c.writeChunks++
    return write.apply(this, a)
  }
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gc.count++
      gc.ms += e.duration
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind
      if (kind === 1) gc.scav++
      else gc.mark++
    }
  }).observe({ entryTypes: ["gc"] })
}

const threads = (): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const tid of Fs.readdirSync("/proc/self/task")) {
    try {
      const ns = Number(Fs.readFileSync(`/proc/self/task/${tid}/schedstat`, "utf8").split(" ")[0])
      const comm = Fs.readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim()
      // V8's worker threads: "node" in Node 22, "V8Worker" in Node 24, "node-V8Worker" in Node 26
      const v8 = comm === "node" || comm.endsWith("V8Worker")
      const key = tid === String(process.pid) ? "main" : v8 ? "v8" : comm.startsWith("libuv") ? "uv" : "other"
      out[key] = (out[key] ?? 0) + ns
    } catch {
      // thread gone
    }
  }
  return out
}

interface Snap {
  readonly ops: number
  readonly t: number
  readonly th: Record<string, number>
  readonly c: typeof c
  readonly gc: typeof gc
  readonly uv: { loopCount: number; events: number; eventsWaiting: number }
}

const snap = (ops: number): Snap => ({
  ops,
  t: performance.now(),
  th: threads(),
  c: { ...c },
  gc: { ...gc },
  uv: { ...(performance.nodeTiming as unknown as { uvMetricsInfo: Snap["uv"] }).uvMetricsInfo }
})

const rows: Array<Snap> = []
export const mark = (ops: number): void => {
  rows.push(snap(ops))
  // a marker for strace / V8 traces
  if (process.env["WARMUP_MARK"] === "1") {
    try {
      Fs.statSync(`/nonexistent-seg-${ops}`)
    } catch {}
    Fs.writeSync(1, `SEG ${ops}\n`)
  }
}

/** Per-op deltas between consecutive marks. */
export const table = (side: string): string => {
  const lines = [
    `${side}: per op in each segment`,
    "ops        ms/op   main_us  v8_us  uv_us  loops  events  data  dataKB writev chunks setImm setTO nextTick gcN  gc_us"
  ]
  for (let i = 1; i < rows.length; i++) {
    const a = rows[i - 1]!
    const b = rows[i]!
    const n = b.ops - a.ops
    const d = (k: keyof typeof c) => ((b.c[k] - a.c[k]) / n).toFixed(2)
    const th = (k: string) => (((b.th[k] ?? 0) - (a.th[k] ?? 0)) / 1000 / n).toFixed(1)
    lines.push(
      [
        `${a.ops}-${b.ops}`.padEnd(10),
        ((b.t - a.t) / n).toFixed(3).padStart(6),
        th("main").padStart(8),
        th("v8").padStart(6),
        th("uv").padStart(6),
        ((b.uv.loopCount - a.uv.loopCount) / n).toFixed(2).padStart(6),
        ((b.uv.events - a.uv.events) / n).toFixed(2).padStart(7),
        d("data").padStart(5),
        ((b.c.dataBytes - a.c.dataBytes) / 1024 / (b.c.data - a.c.data || 1)).toFixed(1).padStart(7),
        d("writev").padStart(6),
        d("writeChunks").padStart(6),
        d("setImmediate").padStart(6),
        d("setTimeout").padStart(5),
        d("nextTick").padStart(8),
        ((b.gc.count - a.gc.count) / n).toFixed(3).padStart(5),
        (((b.gc.ms - a.gc.ms) * 1000) / n).toFixed(1).padStart(6)
      ].join(" ")
    )
  }
  const a = rows[0]!
  const b = rows[rows.length - 1]!
  const n = b.ops - a.ops || 1
  const th = (k: string) => ((b.th[k] ?? 0) - (a.th[k] ?? 0)) / 1000 / n
  lines.push(
    `TOTAL ${side} ${n} ops: main ${th("main").toFixed(1)} us/op, v8 ${th("v8").toFixed(1)}, all ${(th("main") + th("v8") + th("uv") + th("other")).toFixed(1)}`
  )
  return lines.join("\n")
}

export const json = (): Array<Snap> => rows
