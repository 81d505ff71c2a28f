/**
 * dcmjs is loaded on first use, through one loader (`DataSet.dcmjsModule`), with the console level last set by
 * `DataSet.setDcmjsLogLevel`: a program that only associates, echoes or sends files never loads it (~16 MiB), and
 * the level holds whichever package loads it first. Each case runs in a fresh Node process: the test runner's own
 * has dcmjs loaded already.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")

/** Runs `body` (an ES module's text, importing the workspace's packages by path) and parses what it prints. */
const inFreshProcess = (body: string): Record<string, unknown> => {
  const out = execFileSync(process.execPath, ["--no-warnings", "--input-type=module", "-e", body], {
    cwd: root,
    encoding: "utf8"
  })
  return JSON.parse(out) as Record<string, unknown>
}

const LOADED = `(await import("node:module")).createRequire(import.meta.url).cache`

describe("dcmjs loading", () => {
  it("is not loaded by importing the packages, and loads with the level set before", () => {
    const seen = inFreshProcess(`
      const net = await import(${JSON.stringify(Path.join(root, "packages/net/src/index.ts"))})
      await import(${JSON.stringify(Path.join(root, "packages/archive/src/index.ts"))})
      const cache = ${LOADED}
      const before = Object.keys(cache).some((k) => k.includes("/dcmjs/"))
      net.DataSet.setDcmjsLogLevel(false)
      const dcmjs = net.DataSet.dcmjsModule()
      const after = Object.keys(cache).some((k) => k.includes("/dcmjs/"))
      const quiet = { root: dcmjs.log.getLevel(), validation: dcmjs.log.getLogger("validation.dcmjs").getLevel() }
      net.DataSet.setDcmjsLogLevel(true)
      const verbose = { root: dcmjs.log.getLevel(), validation: dcmjs.log.getLogger("validation.dcmjs").getLevel() }
      console.log(JSON.stringify({ before, after, quiet, verbose, levels: dcmjs.log.levels }))
    `)
    const levels = seen["levels"] as Record<string, number>
    assert.isFalse(seen["before"], "importing @netdicom/net and @netdicom/archive loaded dcmjs")
    assert.isTrue(seen["after"])
    assert.deepStrictEqual(seen["quiet"], { root: levels["SILENT"], validation: levels["SILENT"] })
    assert.deepStrictEqual(seen["verbose"], { root: levels["WARN"], validation: levels["WARN"] })
  })

  it("is set quiet even when nobody set a level", () => {
    const seen = inFreshProcess(`
      const net = await import(${JSON.stringify(Path.join(root, "packages/net/src/index.ts"))})
      const dcmjs = net.DataSet.dcmjsModule()
      console.log(JSON.stringify({ root: dcmjs.log.getLevel(), levels: dcmjs.log.levels }))
    `)
    assert.strictEqual(seen["root"], (seen["levels"] as Record<string, number>)["SILENT"])
  })
})
