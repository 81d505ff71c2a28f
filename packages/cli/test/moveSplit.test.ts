/**
 * `netdicom move` of a study holding one instance of each storage SOP class (168, more contexts than an association
 * holds) from `netdicom qrscp` to a `netdicom storescp`: the SCP sends them over several associations in turn and
 * every one arrives. Before, the instances beyond the 128 contexts proposed failed.
 */
import { assert, beforeAll, describe, it } from "@effect/vitest"
import * as path from "node:path"
import { Uids } from "@netdicom/wire"
import { filesUnder, netdicom, part10, type Server, testFixtures, writeFile } from "./support.ts"

const { temp, serve } = testFixtures("movesplit")
const STUDY = "1.2.826.0.1.3680043.10.1478.77"

describe("netdicom move of a study of every storage SOP class", () => {
  let qr: Server
  let dest: Server
  let destOut: string
  beforeAll(async () => {
    destOut = temp("dest")
    dest = await serve(["storescp", "0", "--out", destOut, "--aet", "DEST"])
    qr = await serve([
      "qrscp",
      "0",
      "--store",
      temp("archive"),
      "--aet",
      "QRSCP",
      "--peer",
      `DEST=127.0.0.1:${dest.port}`
    ])
    const dir = temp("in")
    Uids.STORAGE_SOP_CLASSES.forEach((sopClass, i) =>
      writeFile(
        dir,
        `${i + 1}.dcm`,
        part10({
          patientId: "PM",
          patientName: "MANY^CLASSES",
          study: STUDY,
          series: `${STUDY}.1`,
          sop: `${STUDY}.1.${i + 1}`,
          sopClass
        })
      )
    )
    const r = await netdicom(["store", "127.0.0.1", String(qr.port), dir, "--aec", "QRSCP"])
    assert.include(r.stdout, `${Uids.STORAGE_SOP_CLASSES.length} sent, 0 warnings, 0 failed`, r.stdout + r.stderr)
  }, 120_000)

  it("every instance arrives, over more than one association", async () => {
    const r = await netdicom([
      "move",
      "127.0.0.1",
      String(qr.port),
      "--aec",
      "QRSCP",
      "--dest",
      "DEST",
      "-k",
      `StudyInstanceUID=${STUDY}`
    ])
    assert.strictEqual(r.code, 0, r.stdout + r.stderr)
    assert.include(r.stdout, "C-MOVE Success")
    assert.include(r.stdout, `${Uids.STORAGE_SOP_CLASSES.length} completed, 0 warnings, 0 failed`)
    assert.strictEqual(filesUnder(path.join(destOut, STUDY)).length, Uids.STORAGE_SOP_CLASSES.length)
    // 168 contexts and a fallback per class: three associations of at most 128 contexts, one after the other
    assert.strictEqual(dest.output().match(/association accepted from QRSCP/g)?.length, 3, dest.output())
  }, 120_000)
})
