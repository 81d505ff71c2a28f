/**
 * `netdicom get` against DCMTK `getscu`, both fetching the same study of N small CT instances (`bench/inputs.ts`,
 * ~40 KB) from one `netdicom qrscp` into a fresh folder on disk (default under /tmp: not tmpfs, so an fsync waits
 * for the disk as it would for a user).
 *
 * The archive is filled once (DCMTK storescu, TCP_NODELAY=1) and the server runs for the whole bench. Each client runs
 * under `/usr/bin/time` (wall, user + system CPU of the whole process, start-up included) with TCP_NODELAY=1 for
 * getscu; after each run the file count is checked, then `sync` (coreutils) writes back what the run left dirty (getscu
 * never syncs) outside the timing, so that no run pays for the one before, and the folder is removed. Runs are
 * interleaved: every round runs each client once, in a rotating order.
 *
 *   node bench/get/run.ts [--count 1500] [--rounds 4] [--tmp /tmp] [--size small|<bytes>]
 *     [--client "label=path/to/netdicom.mjs --sync end" ...] [--no-getscu]
 *
 * `--client` (repeatable) is a label, a bundle and the extra `get` flags (default: the workspace's bundle with
 * `--sync end` and with `--sync each`). `--size <bytes>` makes instances of that much Pixel Data instead (large ones).
 * Prints one line per run and a summary of medians (wall ms, CPU ms, peak RSS from `/usr/bin/time`).
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { parseArgs } from "node:util"
import { NODE_FLAGS } from "../../packages/cli/build.ts"
import { UID_ROOT } from "../common.ts"
import * as Inputs from "../inputs.ts"
import * as Procs from "../procs.ts"

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "1500" },
    rounds: { type: "string", default: "4" },
    tmp: { type: "string", default: "/tmp" },
    size: { type: "string", default: "small" },
    client: { type: "string", multiple: true },
    "no-getscu": { type: "boolean", default: false }
  }
})

const root = Path.resolve(import.meta.dirname, "../..")
const bundle = Path.join(root, "packages/cli/dist/netdicom.mjs")
const count = Number(values.count)
const rounds = Number(values.rounds)
const node = process.execPath
const TIME = "/usr/bin/time"

interface Client {
  readonly label: string
  readonly run: (port: number, study: string, out: string) => { readonly cmd: string; readonly args: Array<string> }
  readonly env?: NodeJS.ProcessEnv
}

const clients: Array<Client> = (values.client ?? [`end=${bundle} --sync end`, `each=${bundle} --sync each`]).map(
  (spec) => {
    const eq = spec.indexOf("=")
    const [path, ...extra] = spec.slice(eq + 1).split(" ")
    return {
      label: spec.slice(0, eq),
      run: (port, study, out) => ({
        cmd: node,
        args: [
          ...NODE_FLAGS,
          "--disable-warning=ExperimentalWarning",
          Path.resolve(path!),
          "get",
          "127.0.0.1",
          String(port),
          "-k",
          `StudyInstanceUID=${study}`,
          "--out",
          out,
          ...extra.filter((x) => x !== "")
        ]
      })
    }
  }
)
if (!values["no-getscu"]) {
  clients.push({
    label: "getscu",
    env: Procs.dcmtkEnv(),
    run: (port, study, out) => ({
      cmd: "getscu",
      args: [
        "-S",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        `StudyInstanceUID=${study}`,
        "-od",
        out,
        "127.0.0.1",
        String(port)
      ]
    })
  })
}

const work = Fs.mkdtempSync(Path.join(values.tmp, "netdicom-get-bench-"))
const fsType = execFileSync("df", ["-T", work], { encoding: "utf8" }).trim().split("\n").at(-1)!.split(/\s+/)[1]
const run = `${process.pid}`
const inputs =
  values.size === "small"
    ? Inputs.generateSmall(Path.join(work, "in"), count, run)
    : Inputs.generateLarge(Path.join(work, "in"), count, Number(values.size), run)
const study = `${UID_ROOT}.${run}.1`
const size = inputs.reduce((n, i) => n + i.size, 0) / count
console.log(
  `${count} instances of ${(size / 1000).toFixed(1)} KB in ${work} (${fsType}); load ${Os.loadavg()[0]!.toFixed(1)}`
)

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

const server = Procs.start(node, [
  ...NODE_FLAGS,
  "--disable-warning=ExperimentalWarning",
  bundle,
  "qrscp",
  "--store",
  Path.join(work, "store"),
  "0"
])
const results = new Map<string, Array<{ readonly wallMs: number; readonly cpuMs: number; readonly rssKb: number }>>()
try {
  const m = /:(\d+) as /.exec(await server.line("listening on ", 20_000))
  if (m === null) throw new Error(`qrscp: no port in\n${server.output()}`)
  const port = Number(m[1])
  const stored = Procs.start("storescu", ["127.0.0.1", String(port), ...inputs.map((i) => i.path)], {
    env: Procs.dcmtkEnv()
  })
  if ((await stored.exited).code !== 0) throw new Error(`storescu failed:\n${stored.output()}`)
  Fs.rmSync(Path.join(work, "in"), { recursive: true, force: true })
  execFileSync("sync")

  for (let round = 0; round < rounds; round++) {
    const order = clients.map((_, i) => clients[(i + round) % clients.length]!)
    for (const client of order) {
      const out = Path.join(work, `out-${round}-${client.label}`)
      Fs.mkdirSync(out)
      const times = Path.join(work, "time.txt")
      const { cmd, args } = client.run(port, study, out)
      const started = performance.now()
      const proc = Procs.start(TIME, ["-f", "%e %U %S %M", "-o", times, cmd, ...args], {
        env: client.env ?? process.env
      })
      const exit = await proc.exited
      const wallMs = exit.at - started
      const [, user, system, rssKb] = Fs.readFileSync(times, "utf8").trim().split("\n").at(-1)!.split(" ").map(Number)
      const cpuMs = (user! + system!) * 1000
      const files = Fs.readdirSync(out).filter((f) => !f.startsWith(".")).length
      if (exit.code !== 0 || files !== count) {
        throw new Error(`${client.label}: exit ${exit.code}, ${files} files:\n${proc.output().slice(-2000)}`)
      }
      execFileSync("sync")
      Fs.rmSync(out, { recursive: true, force: true })
      results.set(client.label, [...(results.get(client.label) ?? []), { wallMs, cpuMs, rssKb: rssKb! }])
      console.log(
        `round ${round} ${client.label.padEnd(10)} ${wallMs.toFixed(0).padStart(6)} ms wall, ` +
          `${cpuMs.toFixed(0).padStart(5)} ms CPU, ${(rssKb! / 1024).toFixed(0)} MiB peak RSS; load ${Os.loadavg()[0]!.toFixed(1)}`
      )
    }
  }
  console.log("median over rounds (min-max): wall ms; CPU ms; peak RSS MiB")
  for (const [label, rs] of results) {
    const wall = rs.map((r) => r.wallMs)
    const cpu = rs.map((r) => r.cpuMs)
    const rss = rs.map((r) => r.rssKb / 1024)
    console.log(
      `${label.padEnd(10)} ${median(wall).toFixed(0).padStart(6)} (${Math.min(...wall).toFixed(0)}-` +
        `${Math.max(...wall).toFixed(0)}) ms wall; ${median(cpu).toFixed(0)} (${Math.min(...cpu).toFixed(0)}-` +
        `${Math.max(...cpu).toFixed(0)}) ms CPU; ${median(rss).toFixed(0)} MiB`
    )
  }
} finally {
  await Procs.stop(server)
  Fs.rmSync(work, { recursive: true, force: true })
}
