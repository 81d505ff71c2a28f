/**
 * `node:zlib` is loaded on first use (`Zlib.zlib` of each package): a process that never meets a deflated data set
 * (Deflated Explicit VR Little Endian) never loads it, and holds ~1 MiB less (docs/performance.md, Round 21). The case
 * runs in a fresh Node process: the test runner's own has zlib loaded already.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")

describe("zlib loading", () => {
  it("is not loaded by importing the packages, and loads when a deflated data set is written and read", () => {
    const out = execFileSync(
      process.execPath,
      [
        "--no-warnings",
        "--input-type=module",
        "-e",
        `
        const net = await import(${JSON.stringify(Path.join(root, "packages/net/src/index.ts"))})
        await import(${JSON.stringify(Path.join(root, "packages/archive/src/index.ts"))})
        const loaded = () => process.moduleLoadList.includes("NativeModule zlib")
        const before = loaded()
        const deflated = "1.2.840.10008.1.2.1.99"
        const encoded = net.DataSet.encode({ PatientID: "ZLIB-1" }, deflated)
        const decoded = net.DataSet.decode(encoded.success, deflated)
        console.log(JSON.stringify({ before, after: loaded(), patientId: decoded.success.PatientID }))
        `
      ],
      { cwd: root, encoding: "utf8" }
    )
    const seen = JSON.parse(out) as { before: boolean; after: boolean; patientId: unknown }
    assert.isFalse(seen.before, "importing @netdicom/net and @netdicom/archive loaded node:zlib")
    assert.isTrue(seen.after)
    assert.strictEqual(seen.patientId, "ZLIB-1")
  })
})
