/**
 * Builds the `netdicom` command as one JavaScript file, `dist/netdicom.mjs` (run by `bin/netdicom.js` while the
 * sources are those it was built from), with rolldown: the four packages and the parts of Effect they use,
 * tree-shaken, with Node's built-ins and dcmjs (loaded on demand through `createRequire`) left outside.
 *
 * A process running the bundle idles at about half the memory of one running the TypeScript sources: Node keeps the
 * source text of every module it loads and, for `.ts` files, the type stripper's own heap; the bundle holds only the
 * code reachable from the entry point. `pnpm install` runs this (the root's `prepare` script), `pnpm build` too.
 *
 * Run on its own: `node packages/cli/build.ts`. `bench/run.ts` uses `bundle` for its own netdicom sides.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "rolldown"
import { manifestPath, sourceManifest } from "./bin/entry.js"
import { serverExecArgv } from "./bin/flags.js"

const here = Path.dirname(fileURLToPath(import.meta.url))

/**
 * Node's flags for a netdicom process (the `netdicom` command's shebang, which pnpm's shim passes on, and the bench's
 * sides). `--max-semi-space-size=1` keeps V8's young generation at 1 MiB a half instead of letting it grow to 16:
 * collected more often, it holds fewer dead objects and fewer dead read buffers (a young collection is what frees
 * them), for about the same CPU (measured in the bench: see the commit that set it). `--v8-pool-size=1` gives V8 one
 * background thread instead of one per core: its optimizing compiler and garbage collector's helpers then keep one
 * thread's malloc arena and working memory, 4-5 MiB less at the peak of a 1 GiB transfer for the same CPU
 * (docs/performance.md, Round 9). `--max-opt=2` makes Maglev, V8's mid tier (on by default from Node 24), the top
 * one: no TurboFan, whose code pages and compile zones took Node 26's peaks 4-6 MiB above Node 22's, for the same
 * cold CPU and a few per cent more main-thread CPU once warm (docs/performance.md, Round 12).
 */
export const NODE_FLAGS: ReadonlyArray<string> = ["--max-semi-space-size=1", "--v8-pool-size=1", "--max-opt=2"]

/**
 * The environment a netdicom server (`netdicom storescp`, `qrscp`, the bench's SCP) runs with on Linux: glibc's
 * malloc trim threshold set, which also keeps its thresholds from rising as the process frees large blocks (Node's
 * start-up and the read of its ~0.8 MB bundle do): with them risen, blocks of up to ~0.8 MB came from the heap and
 * up to twice that of freed memory stayed at its top, ~6 MiB more at a server's 1 GiB peak (docs/performance.md,
 * Round 11). glibc reads it only at start: the command's bin re-executes a server once with it (`bin/netdicom.js`,
 * which holds the same value).
 */
export const SERVER_ENV: Readonly<Record<string, string>> = { MALLOC_TRIM_THRESHOLD_: "131072" }

/**
 * The V8 flags a netdicom server (`netdicom storescp`, `qrscp`, the bench's SCP) adds to `NODE_FLAGS` on the Node
 * running this: `SERVER_FLAGS` of bin/flags.js (Maglev's tier-up thresholds, Node 26 and later), which the command's
 * bin adds as it re-executes a server.
 */
export const SERVER_NODE_FLAGS: ReadonlyArray<string> = (serverExecArgv(process.versions.node, []) ?? []).slice()

/** The bundle the `netdicom` command runs. */
export const OUTPUT = Path.join(here, "dist", "netdicom.mjs")

// Staging folders of builds that were killed (their process is gone): a build in progress elsewhere keeps its own.
const removeAbandoned = (dir: string): void => {
  for (const name of Fs.readdirSync(dir)) {
    const pid = /^\.build-(\d+)-/.exec(name)?.[1]
    if (pid === undefined || Number(pid) === process.pid) continue
    try {
      process.kill(Number(pid), 0)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ESRCH")
        Fs.rmSync(Path.join(dir, name), { recursive: true, force: true })
    }
  }
}

/**
 * Bundles `entry` (a TypeScript module) into the ES module `outFile`, with a source map beside it. Whitespace and
 * dead code are removed, names are kept, so stack traces and CPU profiles still read. With `packagesDir`, a manifest
 * of the packages' sources as they were when the build started is written beside it (`bin/entry.js` compares it
 * with the sources before it runs the bundle). The files are written in a temporary folder beside `outFile` and
 * renamed into place, the bundle last: an interrupted build never leaves a partial bundle that looks current.
 */
export const bundle = async (entry: string, outFile: string, packagesDir?: string): Promise<void> => {
  const dir = Path.dirname(outFile)
  const name = Path.basename(outFile)
  Fs.mkdirSync(dir, { recursive: true })
  removeAbandoned(dir)
  const staging = Fs.mkdtempSync(Path.join(dir, `.build-${process.pid}-`))
  const sources = packagesDir === undefined ? undefined : sourceManifest(packagesDir)
  try {
    await build({
      input: entry,
      platform: "node",
      logLevel: "warn",
      output: {
        dir: staging,
        entryFileNames: name,
        format: "esm",
        sourcemap: true,
        // V8 keeps a script's source text, in two bytes a character if one is outside Latin-1 (a few of Effect's
        // prompt symbols): escaped, the ~0.8 MB bundle stays one byte a character
        charset: "ascii",
        minify: { compress: true, mangle: false, codegen: { removeWhitespace: true } }
      }
    })
    const made = Fs.readdirSync(staging).sort()
    if (made.join() !== [name, `${name}.map`].join()) {
      throw new Error(`bundling ${entry} made ${made.join(", ")}, not one file and its map (a dynamic import?)`)
    }
    Fs.renameSync(Path.join(staging, `${name}.map`), `${outFile}.map`)
    if (sources !== undefined) {
      const manifest = { bundleSize: Fs.statSync(Path.join(staging, name)).size, files: sources }
      Fs.writeFileSync(Path.join(staging, "manifest.json"), JSON.stringify(manifest))
      Fs.renameSync(Path.join(staging, "manifest.json"), manifestPath(outFile))
    }
    Fs.renameSync(Path.join(staging, name), outFile)
  } finally {
    Fs.rmSync(staging, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && Path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = performance.now()
  await bundle(Path.join(here, "src", "main.ts"), OUTPUT, Path.join(here, ".."))
  const size = Fs.statSync(OUTPUT).size
  process.stdout.write(
    `built ${Path.relative(process.cwd(), OUTPUT)} (${(size / 1024).toFixed(0)} KiB) in ${(performance.now() - started).toFixed(0)} ms\n`
  )
}
