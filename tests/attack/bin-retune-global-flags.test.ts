/**
 * The bin's malloc re-execution (`retunesMalloc` in packages/cli/bin/netdicom.js) finds the subcommand past the global
 * flags and their values: `netdicom --log-level debug storescp ...` is a server too (it was taken for a command
 * named "debug"), and other commands, whatever their arguments, are not. A stand-in bundle reports the variable it
 * was given.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { makeTempDir, removeDir, repoRoot, run } from "../support/peers.ts"
import { manifestPath, sourceManifest } from "../../packages/cli/bin/entry.js"

const TRIM = "MALLOC_TRIM_THRESHOLD_"
const temps: Array<string> = []
afterAll(() => {
  for (const dir of temps) removeDir(dir)
})

// A copy of the bin beside a fresh stand-in bundle that prints the malloc variable it was given.
const layout = (): string => {
  const root = makeTempDir("netdicom-retune-")
  temps.push(root)
  const bin = path.join(root, "cli", "bin")
  fs.mkdirSync(bin, { recursive: true })
  for (const f of ["netdicom.js", "entry.js", "flags.js"])
    fs.copyFileSync(path.join(repoRoot, "packages", "cli", "bin", f), path.join(bin, f))
  fs.mkdirSync(path.join(root, "cli", "src"), { recursive: true })
  const main = path.join(root, "cli", "src", "main.ts")
  fs.writeFileSync(main, 'console.log("from the sources")\n')
  const t = Date.now() / 1000
  fs.utimesSync(main, t - 60, t - 60)
  fs.mkdirSync(path.join(root, "cli", "dist"), { recursive: true })
  const bundle = path.join(root, "cli", "dist", "netdicom.mjs")
  fs.writeFileSync(bundle, `console.log(String(process.env["${TRIM}"]))\n`)
  fs.writeFileSync(
    manifestPath(bundle),
    JSON.stringify({ bundleSize: fs.statSync(bundle).size, files: sourceManifest(root) })
  )
  return path.join(bin, "netdicom.js")
}

describe("the bin's malloc re-execution, global flags before the subcommand", () => {
  it("a server after --log-level VALUE is re-executed; other commands are not", async () => {
    const bin = layout()
    const env: Record<string, string | undefined> = { ...process.env }
    delete env[TRIM]
    const given = async (args: ReadonlyArray<string>) => {
      const result = await run(process.execPath, [bin, ...args], { env })
      assert.strictEqual(result.code, 0, result.stderr)
      return result.stdout.trim()
    }
    assert.strictEqual(await given(["storescp", "0", "--out", "x"]), "131072")
    assert.strictEqual(await given(["--log-level", "debug", "storescp", "0", "--out", "x"]), "131072")
    assert.strictEqual(await given(["--log-level=debug", "qrscp", "0"]), "131072")
    assert.strictEqual(await given(["--log-level", "info", "qrscp", "0"]), "131072")
    assert.strictEqual(await given(["--log-level", "debug", "echo", "127.0.0.1", "104"]), "undefined")
    assert.strictEqual(await given(["store", "127.0.0.1", "104", "storescp"]), "undefined")
  })
})
