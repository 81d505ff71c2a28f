/**
 * dcmjs's console stays quiet unless `--debug`: a peer's data set that dcmjs reads with a complaint (an SL value of 2
 * bytes, which its reader reports with `log.error` before it throws) leaves no line of dcmjs's on `netdicom qrscp`'s
 * output, only the server's own log line saying the instance was refused; with `--debug` dcmjs's message shows.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Part10 } from "@netdicom/net"
import { netdicom, startServer } from "../../packages/cli/test/support.ts"
import { CT, EXPLICIT } from "./support.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-dcmjs-quiet-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const element = (group: number, elem: number, vr: string, value: Buffer): Buffer => {
  const header = Buffer.alloc(8)
  header.writeUInt16LE(group, 0)
  header.writeUInt16LE(elem, 2)
  header.write(vr, 4, "latin1")
  header.writeUInt16LE(value.length, 6)
  return Buffer.concat([header, value])
}

const uid = (s: string) => Buffer.from(s.length % 2 === 0 ? s : `${s}\0`, "latin1")

const SOP = "1.2.826.0.1.3680043.10.1478.111.1"

// Structurally whole (so `netdicom store` sends it), but (0028,0106) SL holds 2 bytes where an SL value has 4.
const hostile = (): string => {
  const dataSet = Buffer.concat([
    element(0x0008, 0x0016, "UI", uid(CT)),
    element(0x0008, 0x0018, "UI", uid(SOP)),
    element(0x0010, 0x0010, "PN", Buffer.from("QUIET^PLEASE")),
    element(0x0010, 0x0020, "LO", Buffer.from("Q1")),
    element(0x0020, 0x000d, "UI", uid("1.2.826.0.1.3680043.10.1478.111")),
    element(0x0020, 0x000e, "UI", uid("1.2.826.0.1.3680043.10.1478.111.2")),
    element(0x0028, 0x0106, "SL", Buffer.alloc(2))
  ])
  const meta = Part10.writeMeta({
    transferSyntaxUid: EXPLICIT,
    sopClassUid: CT,
    sopInstanceUid: SOP,
    implementationClassUid: "1.2.3.4"
  })
  const file = path.join(tmp, "short-sl.dcm")
  fs.writeFileSync(file, Buffer.concat([meta, dataSet]))
  return file
}

const storeInto = async (debug: boolean): Promise<string> => {
  const store = fs.mkdtempSync(path.join(tmp, "store-"))
  const server = await startServer(["qrscp", "0", "--store", store, "--db", ":memory:", ...(debug ? ["--debug"] : [])])
  const sent = await netdicom(["store", "127.0.0.1", String(server.port), "--aec", "ANY", hostile()])
  await server.interrupt()
  // the instance is refused, as the client and the server's log both say
  assert.match(sent.stdout, /0 sent, 0 warnings, 1 failed/, sent.stderr + sent.stdout)
  assert.match(server.output(), /C-STORE of \S+ refused/)
  return server.output()
}

describe("dcmjs's console messages", () => {
  it("stay off netdicom qrscp's output without --debug, and show with it", async () => {
    const quiet = await storeInto(false)
    assert.notMatch(quiet, /Invalid length for fixed length tag/, quiet)
    const debug = await storeInto(true)
    assert.match(debug, /Invalid length for fixed length tag/)
  })
})
