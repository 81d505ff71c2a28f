/**
 * The debug log of an association reads in protocol order: a state transition is logged before the PDU its action
 * sends (Sta4 + Evt2 -> AE-2 -> Sta5, then "sent A-ASSOCIATE-RQ"), as PS3.8 9.2 has AE-2 send the RQ, and a response
 * received is logged before what its requester did once it had it, and a P-DATA-TF sent after its Evt9 transition.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, References } from "effect"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { testAe } from "./support.ts"

const VERIFICATION = "1.2.840.10008.1.1"
const IMPLICIT = "1.2.840.10008.1.2"

describe("debug log order", () => {
  it.live("each transition is logged before the PDU its action sends", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const capture = Logger.make(({ message }) => {
        lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
      })
      const contexts = [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] }]
      const scpAe = yield* testAe({ aeTitle: "NETDICOM-SCP", contexts })
      const server = yield* Scp.serve(scpAe, { port: 0 })
      const scuAe = yield* testAe({ aeTitle: "NETDICOM-SCU" })
      yield* Effect.scoped(
        Effect.flatMap(
          Scu.connect(scuAe, { host: "127.0.0.1", port: server.port, calledAeTitle: "NETDICOM-SCP", contexts }),
          Scu.echo
        )
      ).pipe(Effect.provide(Logger.layer([capture])), Effect.provideService(References.MinimumLogLevel, "Debug"))
      const transition = lines.findIndex((l) => l.startsWith("Sta4 + Evt2"))
      const sent = lines.findIndex((l) => l.startsWith("sent A-ASSOCIATE-RQ"))
      assert.isAtLeast(transition, 0, lines.join("\n"))
      assert.isAtLeast(sent, 0, lines.join("\n"))
      assert.isBelow(transition, sent, lines.join("\n"))
      const release = lines.findIndex((l) => l.startsWith("Sta6 + Evt11"))
      const sentRelease = lines.findIndex((l) => l.startsWith("sent A-RELEASE-RQ"))
      assert.isBelow(release, sentRelease, lines.join("\n"))
      // the response is logged as received before what its arrival let the SCU do next (its release): it was logged
      // after "sent A-RELEASE-RQ", as though the SCU had released before its answer came
      const response = lines.findIndex((l) => l.startsWith("received C-ECHO-RSP"))
      assert.isAtLeast(response, 0, lines.join("\n"))
      assert.isBelow(response, release, lines.join("\n"))
      // a P-DATA-TF sent is logged with its transition (Evt9, DT-1) as a received one is with Evt10 and DT-2: only
      // the received side had one
      const pdata = lines.findIndex((l) => l === "Sta6 + Evt9 (P-DATA request primitive) -> DT-1 -> Sta6")
      const sentPData = lines.findIndex((l) => l.startsWith("sent P-DATA-TF"))
      assert.isAtLeast(pdata, 0, lines.join("\n"))
      assert.isAtLeast(sentPData, 0, lines.join("\n"))
      assert.isBelow(pdata, sentPData, lines.join("\n"))
    })
  )
})
