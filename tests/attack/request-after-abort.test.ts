/**
 * A request begun once the association has already ended. The peer (an SCP) aborts an idle association, or breaks
 * the protocol so that we abort it (PS3.8 AA-8: an A-ASSOCIATE-AC in Sta6), while no request is outstanding; the
 * next request failed at once, typed, but with `AssociationAborted` "by provider: reason not specified — association
 * ended", the abort's source and reason lost. It now fails with the error the association ended with.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { Scu } from "@netdicom/net"
import type { Pdu } from "@netdicom/wire"
import { acFor, connectScu, scopedRawScp, scuAe } from "./hotpath-support.ts"
import { IMPLICIT } from "./support.ts"

const outcome = <A, E>(exit: Exit.Exit<A, E>): string =>
  Exit.isSuccess(exit) ? `succeeded: ${JSON.stringify(exit.value)}` : String(Exit.isFailure(exit) && exit.cause)

// A raw SCP that sends `after(rq)` right behind its A-ASSOCIATE-AC, then reads on without answering.
const scpSending = (after: (rq: Pdu.AAssociateRq) => Uint8Array) => scopedRawScp({ afterAc: after })

// Our C-ECHO, run once the association has had time to end.
const echoLater = (port: number) =>
  Effect.exit(
    Effect.scoped(
      Effect.flatMap(connectScu(port, scuAe({ dimse: "3 seconds" })), (channel) =>
        Effect.andThen(Effect.sleep("300 millis"), Scu.echo(channel))
      )
    )
  )

const abort = (source: number, reason: number) => Uint8Array.of(0x07, 0, 0, 0, 0, 4, 0, 0, source, reason)

describe("a request begun after the association ended", () => {
  it.live("the peer's A-ABORT (service provider, invalid PDU parameter value): the C-ECHO says so", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* scpSending(() => abort(2, 6))
        const exit = yield* echoLater(scp.port)
        assert.isTrue(Exit.isFailure(exit), outcome(exit))
        assert.include(outcome(exit), "association aborted by peer (source 2: service provider)")
        assert.include(outcome(exit), "invalid PDU parameter value")
      })
    )
  )

  it.live("the peer's A-ABORT (service user): the C-ECHO says the peer aborted", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* scpSending(() => abort(0, 0))
        const exit = yield* echoLater(scp.port)
        assert.isTrue(Exit.isFailure(exit), outcome(exit))
        assert.include(outcome(exit), "association aborted by peer (source 0: service user)")
      })
    )
  )

  it.live("a second A-ASSOCIATE-AC (we abort, unexpected PDU): the C-ECHO says so", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* scpSending((rq) => acFor(rq, 16384, IMPLICIT))
        const exit = yield* echoLater(scp.port)
        assert.isTrue(Exit.isFailure(exit), outcome(exit))
        assert.include(outcome(exit), "unexpected PDU")
        assert.include(outcome(exit), "Evt3 in Sta6")
      })
    )
  )
})
