/**
 * The bundled `netdicom` command (`build.ts`): the bundle stores a file end to end against a bundled storescp, the
 * stored file is the one sent, byte for byte; and `bin/entry.js` runs the bundle only while no source is newer.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { makeTempDir, removeDir, repoRoot, run } from "../../../tests/support/peers.ts"
import { entryPoint, manifestPath, sourceManifest } from "../bin/entry.js"
import { execArgvFor, MAGLEV_TOP, SERVER_FLAGS, serverExecArgv } from "../bin/flags.js"
import { bundle, NODE_FLAGS, SERVER_ENV, SERVER_NODE_FLAGS } from "../build.ts"
import { filesUnder, part10, writeFile } from "./support.ts"

const temps: Array<string> = []
const temp = (prefix: string): string => {
  const dir = makeTempDir(`netdicom-bundle-${prefix}-`)
  temps.push(dir)
  return dir
}
// Beside the real bundle, so that dcmjs (loaded at run time through createRequire) resolves as it does there.
const bundled = path.join(repoRoot, "packages", "cli", "dist", `test-${process.pid}.mjs`)
afterAll(() => {
  for (const dir of temps) removeDir(dir)
  for (const f of [bundled, `${bundled}.map`]) fs.rmSync(f, { force: true })
})

const choose = entryPoint

// Preloaded into a process: prints at its exit whether dcmjs was loaded (through createRequire, so in require.cache).
const REPORT_DCMJS = `data:text/javascript,${encodeURIComponent(
  'import { createRequire } from "node:module"; const cache = createRequire("/").cache; ' +
    'process.on("exit", () => process.stderr.write(`dcmjs loaded: ${Object.keys(cache).some((k) => k.includes("/dcmjs/"))}\\n`))'
)}`

// What build.ts writes beside a bundle: the sources as they are now, and the bundle's size.
const writeManifest = (packagesDir: string, bundle: string) =>
  fs.writeFileSync(
    manifestPath(bundle),
    JSON.stringify({ bundleSize: fs.statSync(bundle).size, files: sourceManifest(packagesDir) })
  )

describe("the bundled netdicom command", () => {
  it("stores a file through a bundled storescp, byte for byte", { timeout: 60_000 }, async () => {
    // What a killed build left behind (its process gone) is removed by the next build.
    const abandoned = path.join(path.dirname(bundled), ".build-4194303-abandoned")
    fs.mkdirSync(abandoned, { recursive: true })
    await bundle(path.join(repoRoot, "packages", "cli", "src", "main.ts"), bundled)
    assert.isFalse(fs.existsSync(abandoned), "a dead build's staging folder is left")
    assert.deepStrictEqual(
      fs.readdirSync(path.dirname(bundled)).filter((f) => f.startsWith(`.build-${process.pid}-`)),
      []
    )
    const out = temp("out")
    const child = spawn(process.execPath, [bundled, "storescp", "0", "--out", out], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let text = ""
        child.stdout.on("data", (chunk: Buffer) => {
          text += chunk.toString("utf8")
          const m = /listening on 127\.0\.0\.1:(\d+)/.exec(text)
          if (m !== null) resolve(Number(m[1]))
        })
        child.on("exit", (code) => reject(new Error(`storescp exited (${code}): ${text}`)))
      })
      const bytes = part10({
        patientId: "B1",
        patientName: "BUNDLE^TEST",
        study: "1.2.826.0.1.3680043.10.1478.77",
        series: "1.2.826.0.1.3680043.10.1478.77.1",
        sop: "1.2.826.0.1.3680043.10.1478.77.1.1"
      })
      const file = writeFile(temp("in"), "ct.dcm", bytes)
      const result = await run(process.execPath, [
        "--import",
        REPORT_DCMJS,
        bundled,
        "store",
        "127.0.0.1",
        String(port),
        file,
        "--aec",
        "ANY"
      ])
      assert.strictEqual(result.code, 0, result.stderr + result.stdout)
      assert.match(result.stdout, /1 sent, 0 warnings, 0 failed/)
      // dcmjs (~16 MiB of memory) is loaded on first use: sending files never uses it
      assert.match(result.stderr, /dcmjs loaded: false/)
      const stored = filesUnder(out)
      assert.strictEqual(stored.length, 1)
      const received = fs.readFileSync(path.join(out, stored[0]!))
      // The data set after the meta group (its length at 140, PS3.10 7.1) is the one sent, byte for byte.
      const dataSet = (b: Uint8Array) => Buffer.from(b.subarray(144 + Buffer.from(b).readUInt32LE(140)))
      assert.isTrue(dataSet(received).equals(dataSet(bytes)))
      assert.isAbove(dataSet(bytes).length, 100)
    } finally {
      child.kill("SIGKILL")
    }
  })

  it("bin/entry.js: the bundle while the sources are those it was built from, else the sources", () => {
    const root = temp("layout")
    const bin = path.join(root, "cli", "bin")
    fs.mkdirSync(bin, { recursive: true })
    const main = writeFile(path.join(root, "cli", "src"), "main.ts", "export {}\n")
    const deep = writeFile(path.join(root, "net", "src", "dimse"), "X.ts", "export const x = 1\n")
    // No bundle: the sources.
    assert.strictEqual(choose(bin), main)
    const dist = writeFile(path.join(root, "cli", "dist"), "netdicom.mjs", 'console.log("bundle")\n')
    // A bundle without a manifest is not trusted while there are sources.
    assert.strictEqual(choose(bin), main)
    writeManifest(root, dist)
    assert.strictEqual(choose(bin), dist)
    // A file in a nested folder of another package edited after the build, to the same size, with its old time.
    const before = fs.statSync(deep)
    fs.writeFileSync(deep, "export const x = 2\n")
    fs.utimesSync(deep, before.atime, before.mtime)
    assert.strictEqual(choose(bin), main)
    // Put back as it was (whatever its time): the bundle again.
    fs.writeFileSync(deep, "export const x = 1\n")
    assert.strictEqual(choose(bin), dist)
    // A file added, then removed; renamed.
    const added = writeFile(path.join(root, "wire", "src"), "New.ts", "export {}\n")
    assert.strictEqual(choose(bin), main)
    fs.rmSync(added)
    assert.strictEqual(choose(bin), dist)
    fs.renameSync(deep, path.join(root, "net", "src", "Y.ts"))
    assert.strictEqual(choose(bin), main)
    fs.renameSync(path.join(root, "net", "src", "Y.ts"), deep)
    // An editor's lock file (a dangling symlink named like a source) is no source, and no crash.
    fs.symlinkSync("user@host.123:1700000000", path.join(root, "net", "src", "dimse", ".#X.ts"))
    assert.strictEqual(choose(bin), dist)
    // The bundle emptied or cut short.
    fs.writeFileSync(dist, "")
    assert.strictEqual(choose(bin), main)
    // No sources at all (a published package): the bundle, manifest or not.
    for (const name of ["cli", "net", "wire"]) fs.rmSync(path.join(root, name, "src"), { recursive: true, force: true })
    fs.rmSync(manifestPath(dist))
    assert.strictEqual(choose(bin), dist)
  })

  it("bin/entry.js: a changed lockfile (the dependencies the bundle holds) means the sources", () => {
    const top = temp("lock")
    const root = path.join(top, "packages")
    const bin = path.join(root, "cli", "bin")
    fs.mkdirSync(bin, { recursive: true })
    const main = writeFile(path.join(root, "cli", "src"), "main.ts", "export {}\n")
    const lock = writeFile(top, "pnpm-lock.yaml", "lockfileVersion: 9\n")
    const dist = writeFile(path.join(root, "cli", "dist"), "netdicom.mjs", 'console.log("bundle")\n')
    writeManifest(root, dist)
    assert.strictEqual(choose(bin), dist)
    fs.appendFileSync(lock, "packages: {}\n")
    assert.strictEqual(choose(bin), main)
  })

  // The real bin, copied into a layout of its own, with stand-ins for the bundle and the sources.
  const layout = (bundleText: string) => {
    const root = temp("bin")
    const bin = path.join(root, "cli", "bin")
    fs.mkdirSync(bin, { recursive: true })
    for (const f of ["netdicom.js", "entry.js", "flags.js"]) {
      fs.copyFileSync(path.join(repoRoot, "packages", "cli", "bin", f), path.join(bin, f))
    }
    const main = writeFile(path.join(root, "cli", "src"), "main.ts", 'console.log("from the sources")\n')
    const t = Date.now() / 1000
    fs.utimesSync(main, t - 60, t - 60)
    const bundle = writeFile(path.join(root, "cli", "dist"), "netdicom.mjs", bundleText)
    writeManifest(root, bundle)
    return path.join(bin, "netdicom.js")
  }

  it("the bin runs a fresh bundle", async () => {
    const result = await run(process.execPath, [layout('console.log("from the bundle")\n')])
    assert.strictEqual(result.code, 0, result.stderr)
    assert.strictEqual(result.stdout.trim(), "from the bundle")
  })

  it("a bundle that does not parse: the bin says so and runs the sources", async () => {
    const result = await run(process.execPath, [layout("export const broken = (\n")])
    assert.strictEqual(result.code, 0, result.stderr)
    assert.strictEqual(result.stdout.trim(), "from the sources")
    assert.match(result.stderr, /cannot load .*netdicom\.mjs.*running the sources instead/)
  })

  // A stand-in bundle that says which process runs it, whose child it is, and the malloc variable it was given.
  const REPORT_PROCESS = 'console.log(`${process.pid} ${process.ppid} ${process.env["MALLOC_TRIM_THRESHOLD_"]}`)\n'

  it("a server replaces itself once with malloc's trim threshold set; other commands and a set value are left", async () => {
    const bin = layout(REPORT_PROCESS)
    const env = { ...process.env }
    delete env["MALLOC_TRIM_THRESHOLD_"]
    const report = async (args: ReadonlyArray<string>, extra: Record<string, string> = {}) => {
      const result = await run(process.execPath, [bin, ...args], { env: { ...env, ...extra } })
      assert.strictEqual(result.code, 0, result.stderr)
      const [pid, ppid, trim] = result.stdout.trim().split(" ")
      return { pid: Number(pid), ppid: Number(ppid), trim }
    }
    for (const server of ["storescp", "qrscp"]) {
      const r = await report([server, "0", "--out", "x"])
      // the value build.ts gives the bench's servers
      assert.strictEqual(r.trim, SERVER_ENV["MALLOC_TRIM_THRESHOLD_"])
      // execve, not a child: the process this test started runs the bundle
      assert.strictEqual(r.ppid, process.pid)
    }
    assert.strictEqual((await report(["store", "127.0.0.1", "104", "f.dcm"])).trim, "undefined")
    assert.strictEqual((await report(["echo", "127.0.0.1", "104"])).trim, "undefined")
    assert.strictEqual((await report(["storescp", "0"], { MALLOC_TRIM_THRESHOLD_: "0" })).trim, "0")
  })

  // A stand-in bundle that prints the Node flags it runs with.
  const REPORT_FLAGS = "console.log(JSON.stringify(process.execArgv))\n"

  it("a server runs with SERVER_FLAGS added (Node 26 and later), in the same one re-execution; other commands do not", async () => {
    const bin = layout(REPORT_FLAGS)
    const flagsOf = async (args: ReadonlyArray<string>, extra: Record<string, string> = {}) => {
      const result = await run(process.execPath, [...NODE_FLAGS, bin, ...args], { env: { ...process.env, ...extra } })
      assert.strictEqual(result.code, 0, result.stderr)
      return JSON.parse(result.stdout.trim()) as Array<string>
    }
    const major = Number(process.versions.node.split(".")[0])
    for (const server of [
      ["storescp", "0"],
      ["--log-level", "debug", "qrscp", "0"]
    ]) {
      const flags = await flagsOf(server)
      for (const flag of NODE_FLAGS) assert.include(flags, flag)
      if (major >= 26) for (const flag of SERVER_FLAGS) assert.include(flags, flag)
      // with malloc's variable already set, the flags are still added
      if (major >= 26) assert.includeMembers(await flagsOf(server, { MALLOC_TRIM_THRESHOLD_: "0" }), [...SERVER_FLAGS])
    }
    for (const other of [
      ["echo", "127.0.0.1", "104"],
      ["store", "127.0.0.1", "104", "f.dcm"]
    ]) {
      const flags = await flagsOf(other)
      for (const flag of SERVER_FLAGS) assert.notInclude(flags, flag)
    }
    // the bench's SCP runs with the same
    assert.deepStrictEqual(SERVER_NODE_FLAGS, major >= 26 ? SERVER_FLAGS : [])
  })

  it("bin/flags.js: SERVER_FLAGS are added from Node 26 on, once, after the flags already there", () => {
    assert.deepStrictEqual(serverExecArgv("26.10.0", ["--max-opt=2"]), ["--max-opt=2", ...SERVER_FLAGS])
    assert.isUndefined(serverExecArgv("26.10.0", ["--max-opt=2", ...SERVER_FLAGS]))
    assert.isUndefined(serverExecArgv("24.11.0", ["--max-opt=2"]))
    assert.isUndefined(serverExecArgv("22.21.1", []))
    assert.deepStrictEqual(serverExecArgv("27.0.0", [SERVER_FLAGS[0]!]), [SERVER_FLAGS[0], ...SERVER_FLAGS.slice(1)])
  })

  it("the command runs Node with NODE_FLAGS: the bin's shebang and pnpm's shim pass them on", () => {
    const bin = path.join(repoRoot, "packages", "cli", "bin", "netdicom.js")
    const shebang = fs.readFileSync(bin, "utf8").split("\n")[0]!
    assert.strictEqual(shebang, `#!/usr/bin/env -S node ${NODE_FLAGS.join(" ")}`)
    // the shim pnpm made from that shebang (pnpm install), as `node_modules/.bin/netdicom` runs it
    const shim = fs.readFileSync(path.join(repoRoot, "node_modules", ".bin", "netdicom"), "utf8")
    for (const line of shim.split("\n").filter((l) => l.includes("exec ") && l.includes("netdicom.js"))) {
      assert.include(line, ` ${NODE_FLAGS.join(" ")} `)
    }
    assert.isTrue(shim.includes("netdicom.js"), shim)
  })

  it("bin/flags.js: on a Node older than 24 the command runs again without --max-opt=2 (no tier left there)", () => {
    const argv = ["--max-semi-space-size=1", "--v8-pool-size=1", "--max-opt=2"]
    assert.deepStrictEqual(execArgvFor("22.21.1", argv), ["--max-semi-space-size=1", "--v8-pool-size=1"])
    assert.isUndefined(execArgvFor("24.0.0", argv))
    assert.isUndefined(execArgvFor("26.10.0", argv))
    assert.isUndefined(execArgvFor("22.21.1", ["--v8-pool-size=1"]))
    assert.include(NODE_FLAGS, MAGLEV_TOP, "the flag this fixes is the command's")
  })
})
