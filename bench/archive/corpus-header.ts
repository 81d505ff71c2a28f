/**
 * `Header.fromBytes` on a few files of the shared corpus (pydicom's test files: real headers, private tags,
 * sequences), CPU µs per read after a warm-up, for before/after comparisons of the header reader.
 *
 *   node bench/archive/corpus-header.ts [corpus folder, default /work/shared/corpus]
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Header from "../../packages/archive/src/Header.ts"
const dir = process.argv[2] ?? "/work/shared/corpus"
const names = [
  "CT_small.dcm",
  "MR_small.dcm",
  "rtplan.dcm",
  "rtstruct.dcm",
  "SC_rgb.dcm",
  "JPEG2000.dcm",
  "emri_small.dcm"
]
for (const n of names) {
  const p = Path.join(dir, n)
  if (!Fs.existsSync(p)) continue
  const b = new Uint8Array(Fs.readFileSync(p))
  for (let i = 0; i < 200; i++) Header.fromBytes(b)
  const t = process.cpuUsage()
  for (let i = 0; i < 1000; i++) Header.fromBytes(b)
  const u = process.cpuUsage(t)
  console.log(n.padEnd(16), ((u.user + u.system) / 1000).toFixed(1), "µs")
}
