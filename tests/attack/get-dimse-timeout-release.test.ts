/**
 * A C-GET requester that never answers the first sub-operation's C-STORE-RQ. Our SCP's DIMSE timeout decides to
 * abort: the handler that timeout woke once still sent its pending and final C-GET-RSPs before the A-ABORT. Once the
 * channel has decided to abort, nothing more is sent: the peer gets the A-ABORT and no response before it.
 *
 * A requester that asks to release meanwhile is in Sta7 (PS3.8): it may send no more P-DATA, so it can answer no
 * request of ours. Its A-RELEASE-RQ fails the sub-operation at once (no DIMSE timeout): the C-GET's final response
 * counts the sub-operations failed, then the release is answered. (Before, the timeout fired while the release
 * waited, and the association ended released with "DIMSE timeout, aborting" logged.) A raw requester on 127.0.0.1.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Result } from "effect"
import { DataSet } from "@netdicom/net"
import { instance } from "../../packages/archive/test/fixtures.ts"
import { startArchiveScp, STUDY_GET } from "./archive-support.ts"
import {
  associated,
  associateRq,
  command,
  CT,
  describe as describePdu,
  encode,
  EXPLICIT,
  IMPLICIT,
  pdata,
  pdvsOf,
  promise,
  VERIFICATION
} from "./support.ts"

const capturing = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ message }) => {
    lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
  })
  return { lines, layer: Logger.layer([logger]) }
}

describe("a C-GET's sub-operation unanswered past the DIMSE timeout", () => {
  const cases = [
    {
      release: true,
      title: "the peer asks to release: the sub-operations failed at once, a final C-GET-RSP, then A-RELEASE-RP"
    },
    { release: false, title: "no release asked for: the A-ABORT comes with no C-GET-RSP before it" }
  ]
  it.live.each(cases)("$title", ({ release }) =>
    Effect.gen(function* () {
      const log = capturing()
      const scp = yield* startArchiveScp({ timeouts: { dimse: "1 second" } }).pipe(Effect.provide(log.layer))
      for (const sop of ["1.2.6.1.1", "1.2.6.1.2"]) {
        yield* scp.archive.store(instance({ patientId: "P", patientName: "X", study: "1.2.6", series: "1.2.6.1", sop }))
      }
      const rq = associateRq({
        calledAeTitle: "ARCHIVE",
        presentationContexts: [
          { _tag: "PresentationContextRq", id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
          { _tag: "PresentationContextRq", id: 3, abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
          { _tag: "PresentationContextRq", id: 5, abstractSyntax: STUDY_GET, transferSyntaxes: [IMPLICIT] }
        ],
        userInformation: [
          { _tag: "MaximumLength", maximumLength: 16384 },
          { _tag: "ImplementationClassUid", uid: "1.2.3.4" },
          { _tag: "ScpScuRoleSelection", sopClassUid: CT, scuRole: 1, scpRole: 1 }
        ]
      })
      const identifier = Result.getOrThrow(
        DataSet.encode({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.6" }, IMPLICIT)
      )
      const peer = yield* promise(() => associated(scp.port, rq))
      peer.send(
        pdata(5, true, true, command({ _tag: "CGetRq", messageId: 1, affectedSopClassUid: STUDY_GET, priority: 0 }))
      )
      peer.send(pdata(5, false, true, identifier))
      // The first sub-operation's C-STORE-RQ, to its data set's last fragment; it is never answered.
      let storeSeen = false
      while (true) {
        const p = yield* promise(() => peer.next(3000))
        assert.isTrue(typeof p !== "string" && p.type === 0x04, `the C-STORE-RQ, not ${describePdu(p)}`)
        if (typeof p === "string") return
        const pdvs = pdvsOf(p.body)
        storeSeen ||= pdvs.some((pdv) => pdv.pc === 3 && pdv.control === 3)
        if (storeSeen && pdvs.some((pdv) => pdv.pc === 3 && pdv.control === 2)) break
      }
      if (release) peer.send(encode({ _tag: "AReleaseRq" }))
      const after: Array<string> = []
      while (true) {
        const p = yield* promise(() => peer.next(5000))
        if (typeof p !== "string" && p.type === 0x04) {
          const commands = pdvsOf(p.body).filter((pdv) => (pdv.control & 1) === 1)
          after.push(`P-DATA with ${commands.length} command fragment(s) on pc ${pdvsOf(p.body)[0]?.pc}`)
        } else after.push(describePdu(p))
        if (typeof p === "string") break
      }
      peer.destroy()
      const timedOut = log.lines.some((l) => l.startsWith("DIMSE timeout, aborting"))
      if (release) {
        assert.isFalse(timedOut, "a peer that asked to release is not waited for")
        assert.deepStrictEqual(after.slice(-2), ["PDU 0x06", "closed"], `released: ${after.join(", ")}`)
        assert.include(after, "P-DATA with 1 command fragment(s) on pc 5", "the final C-GET-RSP")
        assert.isTrue(
          log.lines.some((l) => l.includes("0 completed") && l.includes("2 failed") && l.includes("0xA702")),
          "both sub-operations counted failed"
        )
      } else {
        assert.isTrue(timedOut, "the timeout was logged")
        assert.deepStrictEqual(after.slice(0, 1), ["A-ABORT 0/0"], `after the C-STORE-RQ: ${after.join(", ")}`)
        assert.notInclude(after, "PDU 0x06", "no A-RELEASE-RP")
      }
    })
  )
})
