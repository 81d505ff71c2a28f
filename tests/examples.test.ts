/**
 * Runs every program in examples/ as a user would, each as its own process on 127.0.0.1: two
 * SCPs (a Verification SCP and the custom SCP with Storage/Query/Retrieve Layers), the
 * C-ECHO, C-STORE, C-FIND, C-MOVE and C-GET examples against them, and the router in front of a custom SCP.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { corpusFile, hasDcmtk, makeTempDir, removeDir, repoRoot, startStorescp, stopAll } from "./support/peers.ts"

const node = process.execPath
const example = (name: string) => path.join(repoRoot, "examples", name)
const children: Array<ChildProcess> = []
afterAll(async () => {
  for (const c of children) c.kill("SIGKILL")
  await stopAll()
})

/** Starts a server example and resolves with the port it prints. */
const startServer = (name: string, args: ReadonlyArray<string>): Promise<number> =>
  new Promise((resolve, reject) => {
    const child = spawn(node, [example(name), ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] })
    children.push(child)
    let out = ""
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${out}`)), 20_000)
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString()
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(Number(m[1]))
      }
    })
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()))
    child.on("exit", (code) => reject(new Error(`${name} exited ${code}: ${out}`)))
  })

/** Runs a client example to its end. */
const runExample = (name: string, args: ReadonlyArray<string>): Promise<{ code: number | null; out: string }> =>
  new Promise((resolve) => {
    const child = spawn(node, [example(name), ...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] })
    children.push(child)
    let out = ""
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()))
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
    child.on("exit", (code) => {
      clearTimeout(timer)
      resolve({ code, out })
    })
  })

/** A port on 127.0.0.1 that nothing listens on (picked with port 0, then closed). */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })

const ct = corpusFile("CT_small.dcm")
if (!ct) console.warn("examples.test.ts: CT_small.dcm not in the corpus (set NETDICOM_CORPUS): skipping the store case")

describe("examples", () => {
  it("storage-commitment prints the report: one instance committed, one not held (0x0112)", async () => {
    const r = await runExample("storage-commitment.ts", [])
    assert.strictEqual(r.code, 0, r.out)
    assert.match(
      r.out,
      /N-ACTION: Success\nN-EVENT-REPORT event 2 for transaction 2\.25\.1001\n {2}committed 1\.2\.3\.1\n {2}failed 1\.2\.3\.2 \(0x112\)/
    )
    assert.notMatch(r.out, /WARN/)
  })

  it("pdu-roundtrip prints the decoded A-ASSOCIATE-RQ", async () => {
    const r = await runExample("pdu-roundtrip.ts", [])
    assert.strictEqual(r.code, 0, r.out)
    assert.match(r.out, /A-ASSOCIATE-RQ NETDICOM -> STORESCP/)
  })

  it("the README's SCU snippet is examples/quick-scu.ts from its imports on", () => {
    const file = fs.readFileSync(example("quick-scu.ts"), "utf8")
    const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8")
    assert.include(readme, "```ts\n" + file.slice(file.indexOf("import ")).trimEnd() + "\n```")
  })

  it("the README's SCP snippet is examples/quick-scp.ts from its imports on", () => {
    const file = fs.readFileSync(example("quick-scp.ts"), "utf8")
    const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8")
    assert.include(readme, "```ts\n" + file.slice(file.indexOf("import ")).trimEnd() + "\n```")
  })

  it("echo against the Verification SCP", async () => {
    const port = await startServer("verification-scp.ts", ["0", "VERIFY-SCP"])
    const r = await runExample("echo.ts", ["127.0.0.1", String(port), "VERIFY-SCP"])
    assert.strictEqual(r.code, 0, r.out)
    assert.match(r.out, /C-ECHO: status 0x0000 \(Success\)/)
  })

  it.skipIf(!ct)("the README's two snippets: quick-scu stores a CT to quick-scp", async () => {
    const port = await startServer("quick-scp.ts", ["0"])
    const r = await runExample("quick-scu.ts", [ct!, String(port)])
    assert.strictEqual(r.code, 0, r.out)
    assert.match(r.out, /echo: Success; store: Success/)
  })

  it.skipIf(!ct)("quick-scu and store-file log a refused connection and exit non-zero", async () => {
    const refused = await freePort()
    const quick = await runExample("quick-scu.ts", [ct!, String(refused)])
    assert.notStrictEqual(quick.code, 0, quick.out)
    assert.match(quick.out, /ERROR/, quick.out)
    const stored = await runExample("store-file.ts", ["127.0.0.1", String(refused), "ANY-SCP", ct!])
    assert.notStrictEqual(stored.code, 0, stored.out)
    assert.isAbove(stored.out.trim().length, 0, "store-file printed nothing")
  })

  it.skipIf(!ct)("store a CT, find it, move it to a second SCP, find it there", async () => {
    const destination = await startServer("custom-scp.ts", ["0", "DEST-SCP"])
    const port = await startServer("custom-scp.ts", ["0", "CUSTOM-SCP", `DEST-SCP=127.0.0.1:${destination}`])
    const stored = await runExample("store-file.ts", ["127.0.0.1", String(port), "CUSTOM-SCP", ct!])
    assert.strictEqual(stored.code, 0, stored.out)
    assert.match(stored.out, /status 0x0000/)
    const found = await runExample("find.ts", ["127.0.0.1", String(port), "CUSTOM-SCP", "*"])
    assert.strictEqual(found.code, 0, found.out)
    const m = /"StudyInstanceUID":"([0-9.]+)"/.exec(found.out)
    assert.isNotNull(m, found.out)
    assert.match(found.out, /final: 0x0000 \(Success\)/)
    const moved = await runExample("move.ts", ["127.0.0.1", String(port), "CUSTOM-SCP", "DEST-SCP", m![1]!])
    assert.strictEqual(moved.code, 0, moved.out)
    assert.match(moved.out, /0x0000 Success: remaining 0, completed 1, failed 0/)
    const there = await runExample("find.ts", ["127.0.0.1", String(destination), "DEST-SCP", "*"])
    assert.include(there.out, m![1]!)
    assert.isTrue(fs.existsSync(ct!))
    // and back with C-GET into a folder: the file holds the data set sent, byte for byte
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-example-get-"))
    try {
      const got = await runExample("get.ts", ["127.0.0.1", String(port), "CUSTOM-SCP", m![1]!, out])
      assert.strictEqual(got.code, 0, got.out)
      assert.match(got.out, /0x0000 Success: remaining 0, completed 1, failed 0/)
      const files = fs.readdirSync(out)
      assert.strictEqual(files.length, 1, files.join(", "))
      const dataSet = (b: Buffer) => b.subarray(144 + b.readUInt32LE(140))
      assert.isTrue(dataSet(fs.readFileSync(path.join(out, files[0]!))).equals(dataSet(fs.readFileSync(ct!))))
    } finally {
      fs.rmSync(out, { recursive: true, force: true })
    }
  })

  it.skipIf(!ct)("router forwards a CT to its PACS byte for byte, and says so when the PACS is gone", async () => {
    const pacsPort = await startServer("custom-scp.ts", ["0", "PACS"])
    const pacs = children.at(-1)!
    const port = await startServer("router.ts", ["0", "127.0.0.1", String(pacsPort), "PACS"])
    const echoed = await runExample("echo.ts", ["127.0.0.1", String(port), "ROUTER"])
    assert.match(echoed.out, /C-ECHO: status 0x0000 \(Success\)/)
    const stored = await runExample("store-file.ts", ["127.0.0.1", String(port), "ROUTER", ct!])
    assert.strictEqual(stored.code, 0, stored.out)
    assert.match(stored.out, /status 0x0000/)
    const found = await runExample("find.ts", ["127.0.0.1", String(pacsPort), "PACS", "*"])
    const m = /"StudyInstanceUID":"([0-9.]+)"/.exec(found.out)
    assert.isNotNull(m, found.out)
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-example-router-"))
    try {
      const got = await runExample("get.ts", ["127.0.0.1", String(pacsPort), "PACS", m![1]!, out])
      assert.match(got.out, /completed 1, failed 0/)
      const files = fs.readdirSync(out)
      const dataSet = (b: Buffer) => b.subarray(144 + b.readUInt32LE(140))
      assert.isTrue(dataSet(fs.readFileSync(path.join(out, files[0]!))).equals(dataSet(fs.readFileSync(ct!))))
    } finally {
      fs.rmSync(out, { recursive: true, force: true })
    }
    // the PACS gone: the router's C-ECHO fails, and a C-STORE is refused as out of resources, not answered Success
    await new Promise((resolve) => {
      pacs.once("exit", resolve)
      pacs.kill("SIGKILL")
    })
    const echoedAgain = await runExample("echo.ts", ["127.0.0.1", String(port), "ROUTER"])
    assert.match(echoedAgain.out, /C-ECHO: status 0x0110 \(Failure\)/)
    const refused = await runExample("store-file.ts", ["127.0.0.1", String(port), "ROUTER", ct!])
    assert.match(refused.out, /status 0xa700/)
  })

  // The PACS association left unused past the router's idle timeout (its fifth argument) is released, not aborted:
  // DCMTK storescp logs a release; the next C-STORE opens a new association and is forwarded.
  it.skipIf(!ct || !hasDcmtk())(
    "router: its idle PACS association is released, and the next C-STORE reconnects",
    async () => {
      const dir = makeTempDir("netdicom-example-router-idle-")
      try {
        const pacs = await startStorescp({ outDir: dir, aet: "PACS" })
        const port = await startServer("router.ts", ["0", "127.0.0.1", String(pacs.port), "PACS", "1 second"])
        const first = await runExample("store-file.ts", ["127.0.0.1", String(port), "ROUTER", ct!])
        assert.match(first.out, /status 0x0000/, first.out)
        await new Promise((resolve) => setTimeout(resolve, 2_000))
        const idle = pacs.logs()
        assert.include(idle, "Association Release", idle)
        assert.notMatch(idle, /abort/i, idle)
        const second = await runExample("store-file.ts", ["127.0.0.1", String(port), "ROUTER", ct!])
        assert.match(second.out, /status 0x0000/, second.out)
        const logs = pacs.logs()
        assert.strictEqual(logs.match(/Association Acknowledged/g)?.length, 2, logs)
        assert.strictEqual(logs.match(/Received Store Request/g)?.length, 2, logs)
        await pacs.stop()
      } finally {
        removeDir(dir)
      }
    },
    30_000
  )
})
