/**
 * The acceptor asks to release (A-RELEASE-RQ) while our C-ECHO-RQ awaits its response, answers nothing, and keeps
 * the connection open (found by differential-scu.test.ts). With no handler running and no data set arriving the
 * A-RELEASE-RP went at once without failing the C-ECHO, which then waited for the connection to close: the ARTIM
 * timer (`timeouts.acse`, 30 s by default), or the DIMSE timeout when shorter, after which we sent an A-ABORT on an
 * association already released (Sta13). No response can come after our A-RELEASE-RP, so the request now fails at
 * once, saying the peer asked to release, and nothing follows the A-RELEASE-RP.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Result } from "effect"
import type * as Net from "node:net"
import { ApplicationEntity, Scu } from "@netdicom/net"
import * as D from "./differential-support.ts"

const ae = Result.getOrThrow(
  ApplicationEntity.make({ aeTitle: "NETDICOM-SCU", timeouts: { acse: "3 seconds", dimse: "2 seconds" } })
)

describe("the acceptor releases with our C-ECHO outstanding and keeps the connection open", () => {
  it.live("the C-ECHO fails at once; the acceptor gets our A-RELEASE-RP and no A-ABORT", () =>
    Effect.promise(async () => {
      let transcript: Promise<D.Transcript> | undefined
      const server = await D.rawAcceptor((peer) => {
        // RQ, then our AC; the C-ECHO-RQ, then its A-RELEASE-RQ; then whatever we send, until we close (4 s)
        transcript ??= D.play(peer, [D.expect, D.answer(D.acFor()), D.expect, D.send(D.releaseRq())], 4000, false)
      })
      const port = (server.address() as Net.AddressInfo).port
      const started = Date.now()
      let failedAfter = -1
      const exit = await Effect.runPromiseExit(
        Effect.scoped(
          Effect.flatMap(
            Scu.connect(ae, {
              host: "127.0.0.1",
              port,
              calledAeTitle: "SCRIPTED",
              contexts: [{ abstractSyntax: D.VERIFICATION, transferSyntaxes: [D.IMPLICIT] }]
            }),
            (channel) =>
              Effect.tapError(Scu.echo(channel), () => Effect.sync(() => (failedAfter = Date.now() - started)))
          )
        )
      )
      const seen = await transcript!
      server.close()
      assert.isTrue(Exit.isFailure(exit))
      assert.include(String(exit), "AssociationAborted")
      assert.include(String(exit), "released before the final response to C-ECHO-RQ 1")
      assert.isAtLeast(failedAfter, 0)
      assert.isBelow(failedAfter, 1000, `the C-ECHO failed after ${failedAfter} ms`)
      assert.deepStrictEqual(seen.words, ["RQ", "CEchoRq@1", "RELEASE-RP"])
    })
  )
})
