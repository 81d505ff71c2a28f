/**
 * `netdicom commit` (Storage Commitment SCU) against netdicom's own SCP (the library's, in this process: it commits
 * what it holds and reports on the association of the request, or on a new one to the command's `--listen` port)
 * and against Orthanc 1.10 (skipped when it is not installed), which reports on an association of its own.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import { Effect, Logger, Result } from "effect"
import { ApplicationEntity, Normalized, Scp, Scu, StorageCommitment } from "@netdicom/net"
import { Status } from "@netdicom/wire"
import { corpusFile, freePort, hasOrthanc, startOrthanc, stopAll } from "../../../tests/support/peers.ts"
import { lines, netdicom, part10, testFixtures, writeFile } from "./support.ts"

const { temp } = testFixtures("commit")
afterAll(() => stopAll())

const TS = [ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN, ApplicationEntity.IMPLICIT_VR_LITTLE_ENDIAN]
const ae = Result.getOrThrow(
  ApplicationEntity.make({
    aeTitle: "COMMIT-SCP",
    contexts: [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS, scu: true, scp: true }],
    timeouts: { acse: "5 seconds", dimse: "10 seconds" }
  })
)

type Reporting = "same association" | { readonly port: number } | "never"

// An SCP committing the instances in `held`; its report goes as `reporting` says.
const commitScp = (held: ReadonlySet<string>, reporting: Reporting) =>
  Scp.serve(ae, { port: 0, policy: {} }).pipe(
    Effect.provide(
      Normalized.layer({
        [StorageCommitment.SOP_CLASS]: {
          nAction: (rq) =>
            Effect.sync(() => {
              const asked = Result.getOrThrow(StorageCommitment.readActionInformation(rq.dataSet))
              const { eventTypeId, dataSet } = StorageCommitment.eventInformation({
                transactionUid: asked.transactionUid,
                committed: asked.references.filter((r) => held.has(r.sopInstanceUid)),
                failed: asked.references
                  .filter((r) => !held.has(r.sopInstanceUid))
                  .map((r) => ({ ...r, reason: StorageCommitment.NO_SUCH_OBJECT_INSTANCE }))
              })
              const report = {
                sopClassUid: StorageCommitment.SOP_CLASS,
                sopInstanceUid: StorageCommitment.SOP_INSTANCE
              }
              if (reporting === "never") return { status: Status.SUCCESS }
              if (reporting === "same association") {
                const sent = Normalized.nEventReport(rq.channel, { ...report, eventTypeId, dataSet })
                return { status: Status.SUCCESS, afterResponse: Effect.ignore(sent) }
              }
              // on an association of ours to the requestor's listener, with the SCP role
              const sent = Effect.scoped(
                Effect.flatMap(
                  Scu.connect(ae, {
                    host: "127.0.0.1",
                    port: reporting.port,
                    calledAeTitle: rq.callingAeTitle,
                    contexts: [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS }],
                    roles: [{ sopClassUid: StorageCommitment.SOP_CLASS, scu: false, scp: true }]
                  }),
                  (channel) => Normalized.nEventReport(channel, { ...report, eventTypeId, dataSet })
                )
              )
              return { status: Status.SUCCESS, afterResponse: Effect.asVoid(Effect.forkDetach(Effect.ignore(sent))) }
            })
        }
      })
    ),
    Effect.provide(Logger.layer([]))
  )

// Two CT files, instances 1.2.3.1 and 1.2.3.2, in a folder.
const twoFiles = () => {
  const dir = temp("files")
  const spec = { patientId: "P1", patientName: "Doe^J", study: "1.2.3", series: "1.2.3.9" }
  writeFile(dir, "a.dcm", part10({ ...spec, sop: "1.2.3.1" }))
  writeFile(dir, "b.dcm", part10({ ...spec, sop: "1.2.3.2" }))
  return dir
}

const run = (args: ReadonlyArray<string>) => Effect.promise(() => netdicom(args, 60_000))

describe("netdicom commit", () => {
  it.live("the report on the association of the request: one committed, one failed (0x0112), exit 1", () =>
    Effect.gen(function* () {
      const scp = yield* commitScp(new Set(["1.2.3.1"]), "same association")
      const dir = twoFiles()
      const r = yield* run(["commit", "127.0.0.1", String(scp.port), dir, "--aec", "COMMIT-SCP"])
      assert.strictEqual(r.code, 1, r.stdout + r.stderr)
      const out = lines(r.stdout)
      assert.include(out, `COMMITTED 1.2.3.1 ${dir}/a.dcm`)
      assert.include(out, `FAILED 1.2.3.2 ${dir}/b.dcm: no such object instance (0x0112)`)
      assert.strictEqual(out.at(-1), "1 committed, 1 failed")
      assert.match(r.stderr, /N-ACTION \(2 instance\(s\), transaction 2\.25\.\d+\): Success/)
    })
  )

  it.live("every instance held: exit 0", () =>
    Effect.gen(function* () {
      const scp = yield* commitScp(new Set(["1.2.3.1", "1.2.3.2"]), "same association")
      const dir = twoFiles()
      const r = yield* run(["commit", "127.0.0.1", String(scp.port), dir, "--aec", "COMMIT-SCP"])
      assert.strictEqual(r.code, 0, r.stdout + r.stderr)
      assert.strictEqual(lines(r.stdout).at(-1), "2 committed, 0 failed")
    })
  )

  it.live("a file holding an instance another file holds: asked for once, and said so", () =>
    Effect.gen(function* () {
      const scp = yield* commitScp(new Set(["1.2.3.1", "1.2.3.2"]), "same association")
      const dir = twoFiles()
      writeFile(
        dir,
        "c.dcm",
        part10({ patientId: "P1", patientName: "Doe^J", study: "1.2.3", series: "1.2.3.9", sop: "1.2.3.1" })
      )
      const r = yield* run(["commit", "127.0.0.1", String(scp.port), dir, "--aec", "COMMIT-SCP"])
      assert.strictEqual(r.code, 0, r.stdout + r.stderr)
      assert.strictEqual(lines(r.stdout).at(-1), "2 committed, 0 failed")
      assert.include(
        lines(r.stderr),
        `SKIPPED ${dir}/c.dcm: the same instance (1.2.3.1) as ${dir}/a.dcm, asked for once`
      )
    })
  )

  it.live("the report on a new association to --listen", () =>
    Effect.gen(function* () {
      const listen = yield* Effect.promise(() => freePort())
      const scp = yield* commitScp(new Set(["1.2.3.1", "1.2.3.2"]), { port: listen })
      const dir = twoFiles()
      const r = yield* run([
        "commit",
        "127.0.0.1",
        String(scp.port),
        dir,
        "--aec",
        "COMMIT-SCP",
        "--listen",
        `${listen}`
      ])
      assert.strictEqual(r.code, 0, r.stdout + r.stderr)
      const out = lines(r.stdout)
      assert.include(out, `COMMITTED 1.2.3.2 ${dir}/b.dcm`)
      assert.strictEqual(out.at(-1), "2 committed, 0 failed")
    })
  )

  it.live("no report within --wait: every instance counted failed, exit 1, the hint about --listen", () =>
    Effect.gen(function* () {
      const scp = yield* commitScp(new Set(["1.2.3.1"]), "never")
      const dir = twoFiles()
      const r = yield* run(["commit", "127.0.0.1", String(scp.port), dir, "--aec", "COMMIT-SCP", "--wait", "1"])
      assert.strictEqual(r.code, 1, r.stdout + r.stderr)
      assert.strictEqual(lines(r.stdout).at(-1), "0 committed, 2 failed")
      assert.match(r.stderr, /no N-EVENT-REPORT for transaction 2\.25\.\d+ within 1 s \(if the peer reports/)
    })
  )

  const ct = corpusFile("CT_small.dcm")
  it.live.skipIf(!hasOrthanc() || ct === undefined)(
    "Orthanc: stored with netdicom store, committed on its report to --listen; an instance it lacks fails",
    () =>
      Effect.gen(function* () {
        const listen = yield* Effect.promise(() => freePort())
        const o = yield* Effect.promise(() =>
          startOrthanc({ modalities: { netdicom: { aet: "NETDICOM", port: listen } } })
        )
        const dir = temp("orthanc")
        fs.copyFileSync(ct!, `${dir}/ct.dcm`)
        const stored = yield* run(["store", "127.0.0.1", String(o.dicomPort), dir, "--aec", o.aet])
        assert.strictEqual(stored.code, 0, stored.stdout + stored.stderr)
        writeFile(
          dir,
          "absent.dcm",
          part10({ patientId: "P9", patientName: "No^One", study: "1.9", series: "1.9.1", sop: "1.9.1.404" })
        )
        const r = yield* run(["commit", "127.0.0.1", String(o.dicomPort), dir, "--aec", o.aet, "--listen", `${listen}`])
        assert.strictEqual(r.code, 1, r.stdout + r.stderr)
        const out = lines(r.stdout)
        assert.isTrue(
          out.some((l) => l.startsWith("COMMITTED ") && l.endsWith(`${dir}/ct.dcm`)),
          r.stdout
        )
        assert.include(out, `FAILED 1.9.1.404 ${dir}/absent.dcm: no such object instance (0x0112)`)
        assert.strictEqual(out.at(-1), "1 committed, 1 failed")
      }),
    90_000
  )
})
