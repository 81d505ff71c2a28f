/**
 * `netdicom commit` (Storage Commitment SCU) against Storage Commitment SCPs that misbehave, all in this process on
 * 127.0.0.1, the command run as a child process:
 *
 * - a peer that aborts the association of the request after its N-ACTION-RSP, without `--listen`: the command waited
 *   out `--wait` (60 s by default) and then said only "no N-EVENT-REPORT within N s"; it now ends at once, naming
 *   the abort;
 * - a report that names an instance twice, both committed and failed, committed under another SOP class than asked,
 *   or names instances never asked for: the command printed a line per item and counted them all ("3 committed,
 *   2 failed" for two instances asked); now one line per instance asked, the contradictions failed, the strangers
 *   said on stderr and not counted;
 * - `--wait` past the requestor's idle timeout (10 min) without `--listen`: the association of the request was
 *   released while the report could still come on it; its idle timeout is now past the wait;
 * - and what held: the reporter on `--listen` gets its N-EVENT-REPORT-RSP (Success) although the command ends as soon
 *   as the report is in; junk and a report of another transaction on the listener first; the peer aborting half-way
 *   through its report on the listener; a report on the request's association crossing our A-RELEASE-RQ after
 *   `--wait` (not answered, as PS3.8 7.2.2 has the release's requestor send no more P-DATA; the release ends at the
 *   ACSE timeout).
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as net from "node:net"
import { Deferred, Duration, Effect, Exit, Logger, Result } from "effect"
import { ApplicationEntity, DataSet, type DimseChannel, Normalized, Scp, Scu, StorageCommitment } from "@netdicom/net"
import { Dimse, PduCodec, Status } from "@netdicom/wire"
import { withIdleBeyond } from "../../packages/cli/src/Commit.ts"
import { lines, netdicom, part10, testFixtures, writeFile } from "../../packages/cli/test/support.ts"
import { freePort, stopAll } from "../support/peers.ts"
import { commandOf, scopedRawScp } from "./hotpath-support.ts"
import { pdvsOf } from "./support.ts"

const { temp } = testFixtures("commit-hostile")
afterAll(() => stopAll())

const CT = "1.2.840.10008.5.1.4.1.1.2"
const MR = "1.2.840.10008.5.1.4.1.1.4"
const TS = [ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN, ApplicationEntity.IMPLICIT_VR_LITTLE_ENDIAN]
const ae = Result.getOrThrow(
  ApplicationEntity.make({
    aeTitle: "COMMIT-SCP",
    contexts: [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS, scu: true, scp: true }],
    timeouts: { acse: "5 seconds", dimse: "10 seconds" }
  })
)
const REPORT = { sopClassUid: StorageCommitment.SOP_CLASS, sopInstanceUid: StorageCommitment.SOP_INSTANCE }

// Two CT files, instances 1.2.3.1 and 1.2.3.2.
const twoFiles = () => {
  const dir = temp("files")
  const spec = { patientId: "P1", patientName: "Doe^J", study: "1.2.3", series: "1.2.3.9" }
  writeFile(dir, "a.dcm", part10({ ...spec, sop: "1.2.3.1" }))
  writeFile(dir, "b.dcm", part10({ ...spec, sop: "1.2.3.2" }))
  return dir
}
const run = (args: ReadonlyArray<string>) => Effect.promise(() => netdicom(args, 90_000))

// An SCP whose N-ACTION handler is `act`, given what was asked and the request.
const scpWith = (
  act: (asked: StorageCommitment.CommitmentRequest, rq: Normalized.NRequest) => Effect.Effect<Normalized.NOutcome>
) =>
  Scp.serve(ae, { port: 0, policy: {} }).pipe(
    Effect.provide(
      Normalized.layer({
        [StorageCommitment.SOP_CLASS]: {
          nAction: (rq) => act(Result.getOrThrow(StorageCommitment.readActionInformation(rq.dataSet)), rq)
        }
      })
    ),
    Effect.provide(Logger.layer([]))
  )

const item = (sopClassUid: string, sopInstanceUid: string) => ({
  ReferencedSOPClassUID: sopClassUid,
  ReferencedSOPInstanceUID: sopInstanceUid
})
const allCommitted = (asked: StorageCommitment.CommitmentRequest, transactionUid = asked.transactionUid) => ({
  TransactionUID: transactionUid,
  ReferencedSOPSequence: asked.references.map((r) => item(r.sopClassUid, r.sopInstanceUid))
})

// An association of ours to the command's listener, with the SCP role, for the reports `send` sends on it.
const onListener = <A, E>(port: number, send: (channel: DimseChannel.DimseChannel) => Effect.Effect<A, E>) =>
  Effect.scoped(
    Effect.flatMap(
      Scu.connect(ae, {
        host: "127.0.0.1",
        port,
        calledAeTitle: "NETDICOM",
        contexts: [{ abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: TS }],
        roles: [{ sopClassUid: StorageCommitment.SOP_CLASS, scu: false, scp: true }]
      }),
      send
    )
  )

// Runs `effect` after the N-ACTION-RSP, detached, its outcome told through `done`.
const after = <A, E>(effect: Effect.Effect<A, E>, done?: Deferred.Deferred<string>) =>
  Effect.asVoid(
    Effect.forkDetach(
      Effect.exit(effect).pipe(
        Effect.flatMap((e) =>
          done === undefined ? Effect.void : Deferred.succeed(done, Exit.isSuccess(e) ? "done" : String(e.cause))
        )
      )
    )
  )

describe("netdicom commit against hostile Storage Commitment SCPs", () => {
  it.live("no --listen, the peer aborts after its N-ACTION-RSP: ends at once naming the abort, not after --wait", () =>
    Effect.gen(function* () {
      const scp = yield* scpWith((_asked, rq) =>
        Effect.succeed({
          status: Status.SUCCESS,
          afterResponse: Effect.andThen(Effect.sleep("100 millis"), rq.channel.association.abort)
        })
      )
      const started = Date.now()
      const r = yield* run(["commit", "127.0.0.1", String(scp.port), twoFiles(), "--aec", "COMMIT-SCP", "--wait", "40"])
      const took = Date.now() - started
      assert.strictEqual(r.code, 1, r.stdout + r.stderr)
      assert.isBelow(took, 15_000, `took ${took} ms with --wait 40`)
      assert.strictEqual(lines(r.stdout).at(-1), "0 committed, 2 failed")
      assert.match(r.stderr, /the association ended before it came \(association aborted by peer/)
    })
  )

  it.live("a report that lies: contradictions and wrong classes fail, repeats count once, strangers not counted", () =>
    Effect.gen(function* () {
      const scp = yield* scpWith((asked, rq) => {
        const sent = Normalized.nEventReport(rq.channel, {
          ...REPORT,
          eventTypeId: StorageCommitment.FAILURES_EXIST,
          dataSet: {
            TransactionUID: asked.transactionUid,
            ReferencedSOPSequence: [item(CT, "1.2.3.1"), item(CT, "1.2.3.1"), item(CT, "9.9.9"), item(MR, "1.2.3.2")],
            FailedSOPSequence: [{ ...item(CT, "1.2.3.1"), FailureReason: StorageCommitment.PROCESSING_FAILURE }]
          }
        })
        return Effect.succeed({ status: Status.SUCCESS, afterResponse: Effect.ignore(sent) })
      })
      const dir = twoFiles()
      const r = yield* run(["commit", "127.0.0.1", String(scp.port), dir, "--aec", "COMMIT-SCP"])
      assert.strictEqual(r.code, 1, r.stdout + r.stderr)
      assert.deepStrictEqual(lines(r.stdout), [
        `FAILED 1.2.3.1 ${dir}/a.dcm: processing failure (0x0110) (the report also lists it as committed)`,
        `FAILED 1.2.3.2 ${dir}/b.dcm: reported committed as SOP class ${MR}, asked as ${CT}`,
        "0 committed, 2 failed"
      ])
      assert.include(lines(r.stderr), "IGNORED 9.9.9: in the report, not asked for")
    })
  )

  it.live("a report naming each instance twice: each committed once, exit 0", () =>
    Effect.gen(function* () {
      const scp = yield* scpWith((asked, rq) => {
        const twice = [...asked.references, ...asked.references].map((r) => item(r.sopClassUid, r.sopInstanceUid))
        const sent = Normalized.nEventReport(rq.channel, {
          ...REPORT,
          eventTypeId: StorageCommitment.ALL_COMMITTED,
          dataSet: { TransactionUID: asked.transactionUid, ReferencedSOPSequence: twice }
        })
        return Effect.succeed({ status: Status.SUCCESS, afterResponse: Effect.ignore(sent) })
      })
      const r = yield* run(["commit", "127.0.0.1", String(scp.port), twoFiles(), "--aec", "COMMIT-SCP"])
      assert.strictEqual(r.code, 0, r.stdout + r.stderr)
      assert.strictEqual(lines(r.stdout).length, 3, r.stdout)
      assert.strictEqual(lines(r.stdout).at(-1), "2 committed, 0 failed")
    })
  )

  it("--wait past the idle timeout: the association of the request is not released before the wait is over", () => {
    const base = Result.getOrThrow(ApplicationEntity.make({ aeTitle: "NETDICOM" }))
    const idle = (wait: number) => Duration.toSeconds(withIdleBeyond(base, wait).timeouts.idle)
    assert.isAbove(idle(900), 900)
    assert.isAbove(idle(86_400), 86_400)
    assert.strictEqual(idle(60), 600)
  })

  it.live("on --listen: junk and another transaction's report first, then ours; the reporter gets Success", () =>
    Effect.gen(function* () {
      const listen = yield* Effect.promise(() => freePort())
      const done = yield* Deferred.make<string>()
      const statuses: Array<number> = []
      // an HTTP request where an A-ASSOCIATE-RQ belongs, read to its end (the listener's A-ABORT, then its close)
      const junk = Effect.callback<void>((resume) => {
        const socket = net.connect(listen, "127.0.0.1", () => socket.end(Buffer.from("GET / HTTP/1.1\r\n\r\n")))
        socket.resume()
        socket.on("close", () => resume(Effect.void))
      })
      const scp = yield* scpWith((asked) =>
        Effect.succeed({
          status: Status.SUCCESS,
          afterResponse: after(
            Effect.andThen(
              junk,
              onListener(listen, (channel) =>
                Effect.forEach([allCommitted(asked, "2.25.1"), allCommitted(asked)], (dataSet) =>
                  Effect.map(
                    Normalized.nEventReport(channel, { ...REPORT, eventTypeId: 1, dataSet }),
                    (rsp) => void statuses.push(rsp.status)
                  )
                )
              )
            ),
            done
          )
        })
      )
      const r = yield* run([
        "commit",
        "127.0.0.1",
        String(scp.port),
        twoFiles(),
        "--aec",
        "COMMIT-SCP",
        "--listen",
        `${listen}`
      ])
      assert.strictEqual(r.code, 0, r.stdout + r.stderr)
      assert.strictEqual(lines(r.stdout).at(-1), "2 committed, 0 failed")
      assert.strictEqual(yield* Deferred.await(done).pipe(Effect.timeout("10 seconds")), "done")
      // the other transaction's report, ours, and a second one of ours: each answered Success
      assert.deepStrictEqual(statuses, [0, 0])
    })
  )

  it.live("on --listen: the peer aborts half-way through its report; the command waits out --wait, exit 1", () =>
    Effect.gen(function* () {
      const listen = yield* Effect.promise(() => freePort())
      const scp = yield* scpWith((_asked) =>
        Effect.succeed({
          status: Status.SUCCESS,
          afterResponse: after(
            onListener(listen, (channel) =>
              Effect.gen(function* () {
                // a command PDV announcing a data set, no data set, then an A-ABORT
                const pc = channel.association.negotiated.accepted[0]!.id
                const rq = PduCodec.encodePDataTf([
                  {
                    presentationContextId: pc,
                    isCommand: true,
                    isLast: true,
                    data: Result.getOrThrow(
                      Dimse.encode({
                        _tag: "NEventReportRq",
                        messageId: 1,
                        affectedSopClassUid: REPORT.sopClassUid,
                        affectedSopInstanceUid: REPORT.sopInstanceUid,
                        eventTypeId: 1,
                        hasDataSet: true
                      })
                    )
                  }
                ])
                yield* channel.association.sendPData([rq])
                yield* channel.association.abort
              })
            )
          )
        })
      )
      const started = Date.now()
      const r = yield* run([
        "commit",
        "127.0.0.1",
        String(scp.port),
        twoFiles(),
        "--aec",
        "COMMIT-SCP",
        "--listen",
        `${listen}`,
        "--wait",
        "2"
      ])
      assert.strictEqual(r.code, 1, r.stdout + r.stderr)
      assert.isBelow(Date.now() - started, 20_000)
      assert.match(r.stderr, /no N-EVENT-REPORT for transaction 2\.25\.\d+ within 2 s/)
    })
  )

  it.live(
    "a report that comes as we release, after --wait: not answered (PS3.8 7.2.2), the release aborted, exit 1",
    () =>
      Effect.gen(function* () {
        // a raw SCP: the N-ACTION-RSP at once; at our A-RELEASE-RQ, the report of the transaction, then its A-RELEASE-RP
        // once the report is answered
        let transactionUid = ""
        let reportStatus: number | undefined
        let actionId = 0
        const scp = yield* scopedRawScp({
          ignoreRelease: true,
          onPdu: (socket, type, body) => {
            if (type === 0x04) {
              for (const pdv of pdvsOf(body)) {
                if ((pdv.control & 1) === 1) {
                  const m = commandOf(body)
                  if (m?._tag === "NActionRq") actionId = m.messageId
                  if (m?._tag === "NEventReportRsp") {
                    reportStatus = m.status
                    socket.write(Uint8Array.of(0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0))
                  }
                } else {
                  const ds = Result.getOrThrow(DataSet.decode(new Uint8Array(pdv.data), TS[0]!))
                  transactionUid = String(ds["TransactionUID"])
                  const rsp = Result.getOrThrow(
                    Dimse.encode({
                      _tag: "NActionRsp",
                      messageIdBeingRespondedTo: actionId,
                      affectedSopClassUid: REPORT.sopClassUid,
                      affectedSopInstanceUid: REPORT.sopInstanceUid,
                      status: 0,
                      actionTypeId: 1,
                      hasDataSet: false
                    })
                  )
                  socket.write(
                    PduCodec.encodePDataTf([
                      { presentationContextId: pdv.pc, isCommand: true, isLast: true, data: rsp }
                    ])
                  )
                }
              }
            }
            if (type === 0x05) {
              const command = Result.getOrThrow(
                Dimse.encode({
                  _tag: "NEventReportRq",
                  messageId: 7,
                  affectedSopClassUid: REPORT.sopClassUid,
                  affectedSopInstanceUid: REPORT.sopInstanceUid,
                  eventTypeId: 1,
                  hasDataSet: true
                })
              )
              const data = Result.getOrThrow(
                DataSet.encode(
                  {
                    TransactionUID: transactionUid,
                    ReferencedSOPSequence: [item(CT, "1.2.3.1"), item(CT, "1.2.3.2")]
                  },
                  TS[0]!
                )
              )
              socket.write(
                PduCodec.encodePDataTf([
                  { presentationContextId: 1, isCommand: true, isLast: true, data: command },
                  { presentationContextId: 1, isCommand: false, isLast: true, data }
                ])
              )
            }
          }
        })
        const started = Date.now()
        const r = yield* run([
          "commit",
          "127.0.0.1",
          String(scp.port),
          twoFiles(),
          "--aec",
          "COMMIT-SCP",
          "--wait",
          "1",
          "--timeout",
          "3"
        ])
        assert.strictEqual(r.code, 1, r.stdout + r.stderr)
        assert.strictEqual(lines(r.stdout).at(-1), "0 committed, 2 failed")
        assert.match(r.stderr, /no N-EVENT-REPORT for transaction 2\.25\.\d+ within 1 s/)
        // the requestor of a release sends no more P-DATA: the report is not answered (least of all Success), and our
        // release, left without its A-RELEASE-RP, ends at the ACSE timeout (3 s)
        assert.isUndefined(reportStatus, r.stdout + r.stderr)
        assert.isBelow(Date.now() - started, 15_000)
      })
  )
})
