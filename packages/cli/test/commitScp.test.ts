/**
 * `netdicom qrscp` as a Storage Commitment Push Model SCP (PS3.4 Annex J): `netdicom commit` against it (everything
 * held; an instance missing, 0x0112; one held under another SOP class, 0x0119), the report on the association of the
 * request or, when the SCU refuses it there, on a new association to its `--peer` address with the SCP role; a
 * requester with no address, whose report is dropped; the bound on references; `netdicom storescp` committing what it
 * stored while running; and Orthanc 1.10 as the SCU (its REST
 * `/modalities/{id}/storage-commitment`; skipped when Orthanc is not installed).
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import { Deferred, Effect, Logger, Result } from "effect"
import { ApplicationEntity, Normalized, Scp, Scu, StorageCommitment } from "@netdicom/net"
import { Status } from "@netdicom/wire"
import { corpusFile, freePort, hasOrthanc, startOrthanc, stopAll } from "../../../tests/support/peers.ts"
import { CT, lines, MR, netdicom, part10, testFixtures, writeFile } from "./support.ts"

const { temp, serve } = testFixtures("commit-scp")
afterAll(() => stopAll())

const TS = [ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN, ApplicationEntity.IMPLICIT_VR_LITTLE_ENDIAN]
const spec = { patientId: "P1", patientName: "Doe^J", study: "1.2.3", series: "1.2.3.9" }

const run = (args: ReadonlyArray<string>) => Effect.promise(() => netdicom(args, 60_000))

// A qrscp on a fresh store holding `stored` (files written and sent with `netdicom store`).
const archiveHolding = (stored: ReadonlyArray<{ readonly name: string; readonly bytes: Uint8Array }>, peer?: string) =>
  Effect.gen(function* () {
    const qr = yield* Effect.promise(() =>
      serve(["qrscp", "0", "--store", temp("store"), "--aet", "QRSCP", ...(peer === undefined ? [] : ["--peer", peer])])
    )
    if (stored.length > 0) {
      const dir = temp("sent")
      for (const f of stored) writeFile(dir, f.name, f.bytes)
      const r = yield* run(["store", "127.0.0.1", String(qr.port), dir, "--aec", "QRSCP"])
      assert.strictEqual(r.code, 0, r.stdout + r.stderr)
    }
    return qr
  })

const modality = Result.getOrThrow(
  ApplicationEntity.make({
    aeTitle: "MODALITY",
    contexts: [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS, scu: true, scp: true }],
    timeouts: { acse: "5 seconds", dimse: "10 seconds" }
  })
)

// Asks `port` to commit `references` from a library SCU that takes no report on its association (it answers one
// 0x0122) and releases it once answered.
const askAndRelease = (port: number, references: ReadonlyArray<StorageCommitment.Reference>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const channel = yield* Scu.connect(modality, {
        host: "127.0.0.1",
        port,
        calledAeTitle: "QRSCP",
        contexts: [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS }]
      })
      return yield* Scu.nAction(channel, {
        sopClassUid: StorageCommitment.SOP_CLASS,
        sopInstanceUid: StorageCommitment.SOP_INSTANCE,
        actionTypeId: StorageCommitment.REQUEST_COMMITMENT,
        dataSet: StorageCommitment.actionInformation({ transactionUid: "2.25.77", references })
      })
    })
  )

const waitFor = (output: () => string, pattern: RegExp) =>
  Effect.gen(function* () {
    for (let i = 0; i < 100 && !pattern.test(output()); i++) yield* Effect.sleep("100 millis")
    assert.match(output(), pattern)
  })

describe("netdicom qrscp: Storage Commitment SCP", () => {
  it.live("netdicom commit: every instance held, reported on the association of the request, exit 0", () =>
    Effect.gen(function* () {
      const a = part10({ ...spec, sop: "1.2.3.1" })
      const b = part10({ ...spec, sop: "1.2.3.2" })
      const qr = yield* archiveHolding([
        { name: "a.dcm", bytes: a },
        { name: "b.dcm", bytes: b }
      ])
      const dir = temp("commit")
      writeFile(dir, "a.dcm", a)
      writeFile(dir, "b.dcm", b)
      const r = yield* run(["commit", "127.0.0.1", String(qr.port), dir, "--aec", "QRSCP", "--wait", "20"])
      assert.strictEqual(r.code, 0, r.stdout + r.stderr)
      const out = lines(r.stdout)
      assert.include(out, `COMMITTED 1.2.3.1 ${dir}/a.dcm`)
      assert.include(out, `COMMITTED 1.2.3.2 ${dir}/b.dcm`)
      assert.strictEqual(out.at(-1), "2 committed, 0 failed")
      yield* waitFor(
        qr.output,
        /Storage Commitment report 2\.25\.\d+ \(event type 1\) sent on the association of the request/
      )
    })
  )

  it.live("netdicom commit: an instance not held fails 0x0112, one held under another SOP class 0x0119, exit 1", () =>
    Effect.gen(function* () {
      const a = part10({ ...spec, sop: "1.2.3.1" })
      const qr = yield* archiveHolding([
        { name: "a.dcm", bytes: a },
        { name: "d.dcm", bytes: part10({ ...spec, sop: "1.2.3.4" }) }
      ])
      const dir = temp("commit")
      writeFile(dir, "a.dcm", a)
      writeFile(dir, "b.dcm", part10({ ...spec, sop: "1.2.3.2" }))
      writeFile(dir, "d.dcm", part10({ ...spec, sop: "1.2.3.4", sopClass: MR }))
      const r = yield* run(["commit", "127.0.0.1", String(qr.port), dir, "--aec", "QRSCP", "--wait", "20"])
      assert.strictEqual(r.code, 1, r.stdout + r.stderr)
      const out = lines(r.stdout)
      assert.include(out, `COMMITTED 1.2.3.1 ${dir}/a.dcm`)
      assert.include(out, `FAILED 1.2.3.2 ${dir}/b.dcm: no such object instance (0x0112)`)
      assert.include(out, `FAILED 1.2.3.4 ${dir}/d.dcm: class/instance conflict (0x0119)`)
      assert.strictEqual(out.at(-1), "1 committed, 2 failed")
    })
  )

  it.live(
    "a report the SCU refuses on its association goes on a new one to its --peer address, with the SCP role",
    () =>
      Effect.gen(function* () {
        const reported = yield* Deferred.make<Normalized.NRequest>()
        const listener = yield* Scp.serve(modality, { port: 0, policy: {} }).pipe(
          Effect.provide(
            Normalized.layer({
              [StorageCommitment.SOP_CLASS]: {
                nEventReport: (rq) => Effect.as(Deferred.succeed(reported, rq), { status: Status.SUCCESS })
              }
            })
          ),
          Effect.provide(Logger.layer([]))
        )
        const qr = yield* archiveHolding(
          [{ name: "a.dcm", bytes: part10({ ...spec, sop: "1.2.3.1" }) }],
          `MODALITY=127.0.0.1:${listener.port}`
        )
        const action = yield* askAndRelease(qr.port, [{ sopClassUid: CT, sopInstanceUid: "1.2.3.1" }]).pipe(
          Effect.provide(Logger.layer([]))
        )
        assert.strictEqual(action.status, Status.SUCCESS)
        const report = yield* Deferred.await(reported).pipe(Effect.timeout("20 seconds"))
        assert.deepStrictEqual([report.eventTypeId, report.callingAeTitle], [StorageCommitment.ALL_COMMITTED, "QRSCP"])
        // the association is ours (QRSCP's), and on it we are the SCU of the SOP class: it took the SCP role
        const context = report.channel.association.negotiated.accepted.find(
          (c) => c.abstractSyntax === StorageCommitment.SOP_CLASS
        )
        assert.deepStrictEqual([context?.weAreScu, context?.weAreScp], [true, false])
        assert.deepStrictEqual(Result.getOrThrow(StorageCommitment.readEventInformation(report.dataSet)), {
          transactionUid: "2.25.77",
          committed: [{ sopClassUid: CT, sopInstanceUid: "1.2.3.1" }],
          failed: []
        })
        yield* waitFor(qr.output, /sent to MODALITY at 127\.0\.0\.1:\d+ on a new association: Success/)
      })
  )

  it.live("a requester with no --peer address whose association is gone: the report is logged and dropped", () =>
    Effect.gen(function* () {
      const qr = yield* archiveHolding([])
      const action = yield* askAndRelease(qr.port, [{ sopClassUid: CT, sopInstanceUid: "1.2.3.1" }]).pipe(
        Effect.provide(Logger.layer([]))
      )
      assert.strictEqual(action.status, Status.SUCCESS)
      yield* waitFor(qr.output, /Storage Commitment report 2\.25\.77 \(event type 2\) dropped: .*MODALITY has no known/)
    })
  )

  it.live("a request over 10,000 instances is refused 0x0213 (resource limitation)", () =>
    Effect.gen(function* () {
      const qr = yield* archiveHolding([])
      const references = Array.from({ length: 10_001 }, (_, i) => ({ sopClassUid: CT, sopInstanceUid: `1.2.9.${i}` }))
      const action = yield* askAndRelease(qr.port, references).pipe(Effect.provide(Logger.layer([])))
      assert.strictEqual(action.status, 0x0213)
    })
  )

  it.live("netdicom storescp commits what this run stored: one stored, one not (0x0112)", () =>
    Effect.gen(function* () {
      const a = part10({ ...spec, sop: "1.2.3.1" })
      const scp = yield* Effect.promise(() => serve(["storescp", "0", "--out", temp("out"), "--aet", "STORESCP"]))
      const sent = temp("sent")
      writeFile(sent, "a.dcm", a)
      const stored = yield* run(["store", "127.0.0.1", String(scp.port), sent, "--aec", "STORESCP"])
      assert.strictEqual(stored.code, 0, stored.stdout + stored.stderr)
      const dir = temp("commit")
      writeFile(dir, "a.dcm", a)
      writeFile(dir, "b.dcm", part10({ ...spec, sop: "1.2.3.2" }))
      const r = yield* run(["commit", "127.0.0.1", String(scp.port), dir, "--aec", "STORESCP", "--wait", "20"])
      assert.strictEqual(r.code, 1, r.stdout + r.stderr)
      const out = lines(r.stdout)
      assert.include(out, `COMMITTED 1.2.3.1 ${dir}/a.dcm`)
      assert.include(out, `FAILED 1.2.3.2 ${dir}/b.dcm: no such object instance (0x0112)`)
    })
  )

  const ct = corpusFile("CT_small.dcm")
  it.live.skipIf(!hasOrthanc() || ct === undefined)(
    "Orthanc as the SCU: its request answered, the report on a new association to its --peer address",
    () =>
      Effect.gen(function* () {
        const qrPort = yield* Effect.promise(() => freePort())
        const o = yield* Effect.promise(() =>
          startOrthanc({ aet: "ORTHANC", modalities: { qr: { aet: "QRSCP", port: qrPort } } })
        )
        const qr = yield* Effect.promise(() =>
          serve([
            "qrscp",
            String(qrPort),
            "--store",
            temp("store"),
            "--aet",
            "QRSCP",
            "--peer",
            `${o.aet}=127.0.0.1:${o.dicomPort}`
          ])
        )
        const dir = temp("sent")
        fs.copyFileSync(ct!, `${dir}/ct.dcm`)
        const stored = yield* run(["store", "127.0.0.1", String(qr.port), dir, "--aec", "QRSCP"])
        assert.strictEqual(stored.code, 0, stored.stdout + stored.stderr)
        const meta = yield* Scu.describeFile(ct!)
        const started = (yield* Effect.promise(() =>
          o.rest("/modalities/qr/storage-commitment", {
            method: "POST",
            body: JSON.stringify({
              DicomInstances: [
                [meta.sopClassUid, meta.sopInstanceUid],
                [meta.sopClassUid, "1.2.3.404"]
              ]
            })
          })
        )) as { readonly Path: string }
        let result: {
          readonly Status: string
          readonly Success: ReadonlyArray<unknown>
          readonly Failures: ReadonlyArray<unknown>
        }
        for (let i = 0; ; i++) {
          result = (yield* Effect.promise(() => o.rest(started.Path))) as typeof result
          if (result.Status !== "Pending" || i > 200) break
          yield* Effect.sleep("100 millis")
        }
        assert.strictEqual(result.Status, "Failure", qr.output())
        assert.deepStrictEqual(result.Success, [{ SOPClassUID: meta.sopClassUid, SOPInstanceUID: meta.sopInstanceUid }])
        assert.deepStrictEqual(
          result.Failures.map((f) => {
            const { FailureReason, SOPClassUID, SOPInstanceUID } = f as Record<string, unknown>
            return { FailureReason, SOPClassUID, SOPInstanceUID }
          }),
          [
            {
              FailureReason: StorageCommitment.NO_SUCH_OBJECT_INSTANCE,
              SOPClassUID: meta.sopClassUid,
              SOPInstanceUID: "1.2.3.404"
            }
          ]
        )
      }),
    90_000
  )
})
