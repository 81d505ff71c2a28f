/**
 * node bench/warmup/run.ts <count> [passes] — one long association (or `passes` of them) of small C-STOREs,
 * netdicom SCU -> netdicom SCP (or storescp with SCP=dcmtk, or from DCMTK storescu with SCU=dcmtk: `passes`
 * runs of storescu, one association each), per-segment counters of the netdicom sides.
 * env: FLAGS (extra node flags, both sides), SCU_FLAGS, SCP_FLAGS, SEG, SCU_WINDOW, NOBUILD=1, SOURCES=1,
 * SCU_LOOP=forEach (the SCU's loop before Round 11: a fiber per C-STORE, `Scu.storeLoaded` in an Effect.gen each),
 * SCU_OP=echo (a C-ECHO per operation instead of a C-STORE)
 */
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { bundle, NODE_FLAGS } from "../../packages/cli/build.ts"
import { SCP_AET, SCU_AET } from "../common.ts"
import { generateSmall } from "../inputs.ts"
import * as Procs from "../procs.ts"

const here = Path.dirname(fileURLToPath(import.meta.url))
const count = Number(process.argv[2] ?? 10000)
const passes = Number(process.argv[3] ?? 1)
const inputs = "/tmp/warmup-inputs"
let files: Array<string>
if (!Fs.existsSync(Path.join(inputs, "done"))) {
  Fs.rmSync(inputs, { recursive: true, force: true })
  files = generateSmall(inputs, 2000, "777").map((f) => f.path)
  Fs.writeFileSync(Path.join(inputs, "done"), files.join("\n"))
} else files = Fs.readFileSync(Path.join(inputs, "done"), "utf8").split("\n")

const sources = process.env["SOURCES"] === "1"
const dist = process.env["DIST"] ?? Path.join(here, "dist")
const scpEntry = sources ? Path.join(here, "seg-scp.ts") : Path.join(dist, "seg-scp.mjs")
const scuEntry = sources ? Path.join(here, "seg-scu.ts") : Path.join(dist, "seg-scu.mjs")
if (!sources && process.env["NOBUILD"] !== "1") {
  await bundle(Path.join(here, "seg-scp.ts"), scpEntry)
  await bundle(Path.join(here, "seg-scu.ts"), scuEntry)
}
const flags = (k: string) => (process.env[k] ?? "").split(" ").filter((s) => s !== "")
const node = process.execPath
const wrap = (extra: Array<string>, entry: string, args: Array<string>, trace: string | undefined) => {
  const base = [...NODE_FLAGS, ...flags("FLAGS"), ...extra, entry, ...args]
  return trace === undefined
    ? { cmd: node, args: base }
    : { cmd: "sh", args: ["-c", `${trace} "$@"`, "sh", node, ...base] }
}
const dcmtk = process.env["SCP"] === "dcmtk"
let port: number
let scp: Procs.Proc
if (dcmtk) {
  port = await Procs.freePort()
  scp = Procs.start("storescp", ["-aet", "BENCHSCP", "-pdu", "16384", "--ignore", String(port)], {
    env: Procs.dcmtkEnv()
  })
  await Procs.listening(port, scp)
} else {
  const s = wrap(flags("SCP_FLAGS"), scpEntry, [], process.env["SCP_TRACE"])
  scp = Procs.start(s.cmd, s.args, { env: process.env })
  port = Number(await scp.line("READY"))
}
let scuOut = ""
if (process.env["SCU"] === "dcmtk") {
  const paths = Array.from({ length: count }, (_, i) => files[i % files.length]!)
  for (let p = 0; p < passes; p++) {
    const run = Procs.start(
      "storescu",
      ["-aet", SCU_AET, "-aec", SCP_AET, "-pdu", "16384", "127.0.0.1", String(port), ...paths],
      {
        env: Procs.dcmtkEnv()
      }
    )
    const exit = await run.exited
    scuOut += `storescu pass ${p + 1}: ${JSON.stringify(exit)}\n`
  }
} else {
  const c = wrap(
    flags("SCU_FLAGS"),
    scuEntry,
    [String(port), String(passes), String(count), ...files],
    process.env["SCU_TRACE"]
  )
  const scuProc = spawn(c.cmd, c.args, { stdio: ["ignore", "pipe", "inherit"] })
  scuProc.stdout.on("data", (d: Buffer) => (scuOut += d.toString()))
  await new Promise((r) => scuProc.on("exit", r))
}
await new Promise((r) => setTimeout(r, 300))
scp.signal("SIGTERM")
await scp.exited
const keep = (s: string) =>
  process.env["RAW"] === "1"
    ? s
    : s
        .split("\n")
        .filter((l) => !l.startsWith("SEG ") && !l.startsWith("["))
        .join("\n")
console.log(keep(scuOut))
console.log(keep(scp.output()))
if (process.env["OUT"] !== undefined) {
  Fs.writeFileSync(`${process.env["OUT"]}.scu`, scuOut)
  Fs.writeFileSync(`${process.env["OUT"]}.scp`, scp.output())
}
