/**
 * `Part10.writeFile` (the archive's and the CLI's store) holds the chunks of a received data set until it has
 * `SYNC_WRITE_LIMIT` (1 MiB) of them before its first write. Counted in bytes alone, a data set sent in 1-byte PDVs
 * was held as a million views before anything was written: 105 MB of heap for one association (~7 MB on the
 * wire). It now also writes once it holds 8192 chunks. The file still comes out whole.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Part10 } from "@netdicom/net"
import { PduCodec, Status as DimseStatus } from "@netdicom/wire"
import { associated, command, CT, EXPLICIT, mb, promise, startScp } from "./support.ts"

v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as () => void
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-tiny-file-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const PDVS_PER_PDU = 2000
const PDUS = 512

describe("writeFile and a data set in 1-byte PDVs", () => {
  it.live(
    "1,024,000 bytes in 1-byte PDVs: heap growth stays under 24 MB while they arrive, and the file is whole",
    () =>
      Effect.gen(function* () {
        const where = path.join(tmp, "tiny.dcm")
        const meta = {
          transferSyntaxUid: EXPLICIT,
          sopClassUid: CT,
          sopInstanceUid: "1.2.3",
          implementationClassUid: "1.2"
        }
        let written = -1
        const server = yield* startScp({
          timeouts: { dimse: "30 seconds" },
          storage: {
            store: (request) =>
              Effect.map(Effect.result(Part10.writeFile(where, meta, request.dataSet)), (r) => {
                written = r._tag === "Success" ? r.success : -2
                return { status: DimseStatus.SUCCESS }
              })
          }
        })
        gc()
        const before = process.memoryUsage().heapUsed
        const peer = yield* promise(() => associated(server.port))
        const rq = command({
          _tag: "CStoreRq",
          messageId: 1,
          affectedSopClassUid: CT,
          affectedSopInstanceUid: "1.2.3",
          priority: 0
        })
        peer.send(PduCodec.encodePDataTf([{ presentationContextId: 3, isCommand: true, isLast: true, data: rq }]))
        const one = Uint8Array.of(7)
        const pdvs = Array.from({ length: PDVS_PER_PDU }, () => ({
          presentationContextId: 3,
          isCommand: false,
          isLast: false,
          data: one
        }))
        const pdu = PduCodec.encodePDataTf(pdvs)
        for (let i = 0; i < PDUS; i++) peer.send(pdu)
        yield* Effect.sleep("4 seconds")
        gc()
        const growth = mb(process.memoryUsage().heapUsed - before)
        const last = [{ presentationContextId: 3, isCommand: false, isLast: true, data: Uint8Array.of(7, 7) }]
        peer.send(PduCodec.encodePDataTf(last))
        const deadline = Date.now() + 10_000
        while (written === -1 && Date.now() < deadline) yield* Effect.sleep("50 millis")
        peer.destroy()
        assert.isBelow(growth, 24, `heap grew ${growth} MB for ${mb(PDUS * PDVS_PER_PDU)} MB of data`)
        const total = PDUS * PDVS_PER_PDU + 2
        assert.strictEqual(written, total)
        const file = fs.readFileSync(where)
        const body = file.subarray(file.length - total)
        assert.strictEqual(file.length, Part10.writeMeta(meta).length + total)
        assert.isTrue(
          body.every((b) => b === 7),
          "every data set byte as sent"
        )
      }),
    40_000
  )
})
