/**
 * The router example (examples/router.ts, run as a child process) in front of a downstream PACS that misbehaves, each
 * a scripted server on 127.0.0.1; modalities are `netdicom store` processes:
 *
 * - a PACS that takes the TCP connection and never answers the A-ASSOCIATE-RQ: the router tried again for each
 *   modality waiting, one after the other, so with three modalities storing at once the third waited three ACSE
 *   timeouts (30 s each) and its own DIMSE timeout fired first; now the modalities that waited for that attempt all
 *   get 0xA700 when it fails (and the router's ACSE timeout towards the PACS is 10 s);
 * - what held: a PACS rejecting the association (0xA700 at once), one aborting as the instance arrives (0xA700, the next
 *   C-STORE reconnects and is stored), one releasing its idle association itself (the next C-STORE reconnects).
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { spawn, type ChildProcess } from "node:child_process"
import * as net from "node:net"
import * as path from "node:path"
import { Effect } from "effect"
import { lines, netdicom, part10, testFixtures, writeFile } from "../../packages/cli/test/support.ts"
import { repoRoot } from "../support/peers.ts"
import { commandOf, scopedRawScp } from "./hotpath-support.ts"

const { temp } = testFixtures("router-hostile")
const children: Array<ChildProcess> = []
afterAll(() => {
  for (const c of children) c.kill("SIGKILL")
})

// The router, forwarding to 127.0.0.1:pacsPort; resolves with its port.
const startRouter = (pacsPort: number): Promise<number> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [path.join(repoRoot, "examples", "router.ts"), "0", "127.0.0.1", String(pacsPort), "PACS"],
      { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] }
    )
    children.push(child)
    let out = ""
    const timer = setTimeout(() => reject(new Error(`router did not start: ${out}`)), 20_000)
    const onData = (d: Buffer) => {
      out += d.toString()
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(Number(m[1]))
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
  })

// A folder of one small CT file, instance `sop`.
const oneFile = (sop: string) => {
  const dir = temp("files")
  writeFile(dir, "ct.dcm", part10({ patientId: "P1", patientName: "Doe^J", study: "1.2.3", series: "1.2.3.9", sop }))
  return dir
}
const store = (port: number, sop: string) =>
  Effect.promise(() => netdicom(["store", "127.0.0.1", String(port), oneFile(sop), "--aec", "ROUTER"], 90_000))

const scopedServer = (onConnection: (socket: net.Socket) => void) =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<{ port: number; server: net.Server; sockets: Array<net.Socket> }>((resolve) => {
          const sockets: Array<net.Socket> = []
          const server = net.createServer((socket) => {
            sockets.push(socket)
            socket.on("error", () => {})
            onConnection(socket)
          })
          server.listen(0, "127.0.0.1", () =>
            resolve({ port: (server.address() as net.AddressInfo).port, server, sockets })
          )
        })
    ),
    (s) =>
      Effect.sync(() => {
        for (const socket of s.sockets) socket.destroy()
        s.server.close()
      })
  )

describe("the router in front of a hostile PACS", () => {
  it.live(
    "a PACS that never answers the A-ASSOCIATE-RQ: three modalities at once all get 0xA700 after one attempt",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          // reads everything, answers nothing
          const pacs = yield* scopedServer((socket) => socket.resume())
          const port = yield* Effect.promise(() => startRouter(pacs.port))
          const started = Date.now()
          const results = yield* Effect.all([store(port, "1.2.3.1"), store(port, "1.2.3.2"), store(port, "1.2.3.3")], {
            concurrency: "unbounded"
          })
          const took = Date.now() - started
          for (const r of results) {
            assert.strictEqual(r.code, 1, r.stdout + r.stderr)
            assert.match(r.stdout + r.stderr, /0xa700/i, r.stdout + r.stderr)
          }
          // one ACSE timeout (10 s) and the commands' start, not three
          assert.isBelow(took, 18_000, `took ${took} ms`)
          assert.strictEqual(pacs.sockets.length, 1, `${pacs.sockets.length} connections`)
        })
      ),
    90_000
  )

  it.live("a PACS rejecting the association: 0xA700 at once", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const rj = Uint8Array.of(0x03, 0, 0, 0, 0, 4, 0, 1, 1, 3)
        const pacs = yield* scopedServer((socket) => socket.once("data", () => socket.end(rj)))
        const port = yield* Effect.promise(() => startRouter(pacs.port))
        const r = yield* store(port, "1.2.3.1")
        assert.strictEqual(r.code, 1, r.stdout + r.stderr)
        assert.match(r.stdout + r.stderr, /0xa700.*reject/i, r.stdout + r.stderr)
      })
    )
  )

  it.live("a PACS aborting as the instance arrives: 0xA700; the next C-STORE reconnects and is stored", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const associations: Array<net.Socket> = []
        const pacs = yield* scopedRawScp({
          answer: true,
          onPdu: (socket, type, body) => {
            if (!associations.includes(socket)) associations.push(socket)
            // the first association: an A-ABORT as the C-STORE-RQ's command arrives
            if (type === 0x04 && associations.indexOf(socket) === 0 && commandOf(body)?._tag === "CStoreRq") {
              socket.end(Uint8Array.of(0x07, 0, 0, 0, 0, 4, 0, 0, 2, 0))
            }
          }
        })
        const port = yield* Effect.promise(() => startRouter(pacs.port))
        const first = yield* store(port, "1.2.3.1")
        assert.strictEqual(first.code, 1, first.stdout + first.stderr)
        assert.match(first.stdout + first.stderr, /0xa700/i)
        const second = yield* store(port, "1.2.3.2")
        assert.strictEqual(second.code, 0, second.stdout + second.stderr)
        assert.strictEqual(lines(second.stdout).at(-1), "1 sent, 0 warnings, 0 failed")
      })
    )
  )

  it.live("a PACS releasing its idle association itself: the next C-STORE reconnects and is stored", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const RELEASE_RQ = Uint8Array.of(0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0)
        const pacs = yield* scopedRawScp({
          answer: true,
          onPdu: (socket, type) => {
            // after the C-STORE-RSP went (the answer is written before onPdu), ask to release a moment later
            if (type === 0x04) setTimeout(() => socket.write(RELEASE_RQ), 300)
            if (type === 0x06) socket.end()
          }
        })
        const port = yield* Effect.promise(() => startRouter(pacs.port))
        const first = yield* store(port, "1.2.3.1")
        assert.strictEqual(first.code, 0, first.stdout + first.stderr)
        yield* Effect.sleep("1 second")
        const second = yield* store(port, "1.2.3.2")
        assert.strictEqual(second.code, 0, second.stdout + second.stderr)
        assert.strictEqual(pacs.sockets.length, 2)
      })
    )
  )
})
