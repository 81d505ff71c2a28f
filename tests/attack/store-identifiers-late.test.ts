/**
 * `netdicom store` names in each C-STORE the SOP Class and Instance UIDs of the file's data set, (0008,0016) and
 * (0008,0018), falling back to the meta's Media Storage UIDs only when the data set has none. A file whose
 * identifiers come after the first 64 KiB of its data set (a large private element in group 0007 before them) and
 * whose meta names another class and instance must still go out under the data set's: the pre-send walk
 * (`DataSetCheck`) looks for them in its first block only, and `readFileMeta` has them from its longer scan.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { Part10 } from "@netdicom/net"
import * as Files from "../../packages/cli/src/Files.ts"
import { CT, EXPLICIT } from "./support.ts"
import { element, uid } from "../support/elements.ts"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-ids-late-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"

describe("the identifiers a C-STORE of a file names", () => {
  it("are the data set's, also past its first 64 KiB", async () => {
    const meta = Part10.writeMeta({
      transferSyntaxUid: EXPLICIT,
      sopClassUid: SECONDARY_CAPTURE,
      sopInstanceUid: "1.2.3.4.999",
      implementationClassUid: "1.2.3.4"
    })
    const dataSet = Buffer.concat([
      element(0x0007, 0x0010, "LO", Buffer.from("PRIVATE ")),
      element(0x0007, 0x1000, "OB", Buffer.alloc(100_000)),
      element(0x0008, 0x0016, "UI", uid(CT)),
      element(0x0008, 0x0018, "UI", uid("1.2.3.4.100"))
    ])
    const file = path.join(tmp, "late.dcm")
    fs.writeFileSync(file, Buffer.concat([meta, dataSet]))

    const r = await Effect.runPromise(Effect.result(Files.inspect(file)))
    assert.isTrue(Result.isSuccess(r))
    if (Result.isSuccess(r)) {
      assert.strictEqual(r.success.sopClassUid, CT)
      assert.strictEqual(r.success.sopInstanceUid, "1.2.3.4.100")
    }
  })
})
