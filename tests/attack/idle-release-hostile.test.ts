/**
 * A requestor's idle release (`timeouts.idle`, tests/idle-release.test.ts) against acceptors that misbehave while it
 * is under way, all raw scripted SCPs on 127.0.0.1: one that answers our A-RELEASE-RQ with its own (a collision) and
 * then its A-RELEASE-RP, or never its A-RELEASE-RP; one that aborts, or closes its connection, instead of answering;
 * calls racing the idle timeout (each succeeds or fails typed, none is sent after the A-RELEASE-RQ, none hangs).
 * And a careless configuration: a zero or negative timeout (`idle: 0` aborted every association at once, an echo
 * outstanding on it) is refused by `ApplicationEntity.make`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Option, Result } from "effect"
import { ApplicationEntity, Scu } from "@netdicom/net"
import { commandOf, connectScu, echoRspFor, scopedRawScp, scuAe, within } from "./hotpath-support.ts"

const RELEASE_RQ = Uint8Array.of(0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0)
const RELEASE_RP = Uint8Array.of(0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0)
const ABORT = Uint8Array.of(0x07, 0, 0, 0, 0, 4, 0, 0, 0, 0)

// Each PDU type the SCP received after the association, in order; C-ECHO-RQs answered at once.
const scriptedScp = (
  onRelease: (socket: import("node:net").Socket) => void,
  onReleaseRp?: (socket: import("node:net").Socket) => void
) => {
  const seen: Array<number> = []
  return Effect.map(
    scopedRawScp({
      ignoreRelease: true,
      onPdu: (socket, type, body) => {
        seen.push(type)
        const m = type === 0x04 ? commandOf(body) : undefined
        if (m?._tag === "CEchoRq") socket.write(echoRspFor(m))
        if (type === 0x05) onRelease(socket)
        if (type === 0x06) onReleaseRp?.(socket)
      }
    }),
    (scp) => ({ scp, seen })
  )
}

const endingOf = (channel: { readonly association: { readonly ended: Effect.Effect<unknown> } }, ms: number) =>
  Effect.map(
    within(ms, channel.association.ended),
    (o) =>
      Option.getOrUndefined(o) as
        | { readonly _tag: "Released" }
        | { readonly _tag: "Aborted"; readonly error: { readonly by: string; readonly detail: string } }
        | undefined
  )

describe("a requestor's idle release against hostile acceptors", () => {
  it.live("a collision (its own A-RELEASE-RQ), then its A-RELEASE-RP: released, no abort", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { scp, seen } = yield* scriptedScp(
          (socket) => socket.write(RELEASE_RQ),
          (socket) => {
            socket.write(RELEASE_RP)
            setTimeout(() => socket.end(), 20)
          }
        )
        const channel = yield* connectScu(scp.port, scuAe({ idle: "300 millis", acse: "3 seconds" }))
        assert.strictEqual((yield* Scu.echo(channel)).status, 0)
        const started = Date.now()
        const ending = yield* endingOf(channel, 3000)
        assert.strictEqual(ending?._tag, "Released", JSON.stringify(ending))
        assert.isBelow(Date.now() - started, 1500)
        yield* Effect.sleep("100 millis")
        assert.deepStrictEqual(seen, [0x04, 0x05, 0x06])
        const after = yield* Effect.exit(Scu.echo(channel))
        assert.isTrue(Exit.isFailure(after))
      })
    )
  )

  it.live("a collision and no A-RELEASE-RP: aborted after the ACSE timeout, typed", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { scp, seen } = yield* scriptedScp((socket) => socket.write(RELEASE_RQ))
        const channel = yield* connectScu(scp.port, scuAe({ idle: "300 millis", acse: "700 millis" }))
        assert.strictEqual((yield* Scu.echo(channel)).status, 0)
        const ending = yield* endingOf(channel, 4000)
        assert.strictEqual(ending?._tag, "Aborted", JSON.stringify(ending))
        if (ending?._tag === "Aborted") assert.match(ending.error.detail, /no A-RELEASE-RP within 700ms/)
        yield* Effect.sleep("100 millis")
        assert.deepStrictEqual(seen, [0x04, 0x05, 0x06, 0x07])
      })
    )
  )

  it.live("the acceptor aborts instead of answering: aborted by the peer, later calls fail with that abort", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { scp } = yield* scriptedScp((socket) => socket.write(ABORT))
        const channel = yield* connectScu(scp.port, scuAe({ idle: "300 millis", acse: "3 seconds" }))
        assert.strictEqual((yield* Scu.echo(channel)).status, 0)
        const ending = yield* endingOf(channel, 3000)
        assert.strictEqual(ending?._tag, "Aborted", JSON.stringify(ending))
        if (ending?._tag === "Aborted") assert.strictEqual(ending.error.by, "peer")
        const after = yield* Effect.exit(Scu.echo(channel).pipe(Effect.timeout("2 seconds")))
        const error = Exit.isFailure(after) ? Option.getOrUndefined(Exit.findErrorOption(after)) : undefined
        assert.strictEqual(error?._tag, "AssociationAborted", String(after))
      })
    )
  )

  it.live("the acceptor closes its connection instead of answering: ended, typed, at once", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { scp } = yield* scriptedScp((socket) => socket.destroy())
        const channel = yield* connectScu(scp.port, scuAe({ idle: "300 millis", acse: "5 seconds" }))
        assert.strictEqual((yield* Scu.echo(channel)).status, 0)
        const started = Date.now()
        const ending = yield* endingOf(channel, 3000)
        assert.isDefined(ending)
        assert.isBelow(Date.now() - started, 1500)
        const after = yield* Effect.exit(Scu.echo(channel).pipe(Effect.timeout("2 seconds")))
        const error = Exit.isFailure(after) ? Option.getOrUndefined(Exit.findErrorOption(after)) : undefined
        assert.strictEqual(error?._tag, "AssociationAborted", String(after))
      })
    )
  )

  it.live("calls racing the idle timeout: each succeeds or fails typed, none is sent after the A-RELEASE-RQ", () =>
    Effect.gen(function* () {
      for (let round = 0; round < 8; round++) {
        yield* Effect.scoped(
          Effect.gen(function* () {
            const { scp, seen } = yield* scriptedScp((socket) => socket.write(RELEASE_RP))
            const channel = yield* connectScu(scp.port, scuAe({ idle: "200 millis", acse: "2 seconds" }))
            // an echo every few ms across the idle timeout's moment: the first echo's answer restarts the watch, so
            // the ones after it meet it somewhere around 200 ms later
            assert.strictEqual((yield* Scu.echo(channel)).status, 0)
            yield* Effect.sleep(Duration.millis(192 + round * 2))
            // ten echoes begun 1 ms apart, concurrently
            const outcomes = yield* Effect.forEach(
              Array.from({ length: 10 }, (_, i) => i),
              (i) =>
                Effect.andThen(
                  Effect.sleep(Duration.millis(i)),
                  Effect.exit(Scu.echo(channel).pipe(Effect.timeout("3 seconds")))
                ).pipe(
                  Effect.map((e) =>
                    Exit.isSuccess(e) ? "ok" : (Option.getOrUndefined(Exit.findErrorOption(e))?._tag ?? String(e.cause))
                  )
                ),
              { concurrency: "unbounded" }
            )
            for (const o of outcomes) assert.oneOf(o, ["ok", "AssociationAborted"], outcomes.join())
            const ending = yield* endingOf(channel, 3000)
            assert.strictEqual(ending?._tag, "Released", JSON.stringify(ending))
            const release = seen.indexOf(0x05)
            assert.isAtLeast(release, 0, seen.join())
            assert.deepStrictEqual(seen.slice(release), [0x05], seen.join())
          })
        )
      }
    })
  )

  it("a zero or negative timeout is refused, Duration.infinity taken as none", () => {
    for (const idle of [0, "0 millis", "-5 seconds"] as const) {
      const made = ApplicationEntity.make({ aeTitle: "NETDICOM", timeouts: { idle } })
      assert.isTrue(Result.isFailure(made), String(idle))
      if (Result.isFailure(made)) assert.match(made.failure.message, /idle timeout .* is not positive/)
    }
    const dimse = ApplicationEntity.make({ aeTitle: "NETDICOM", timeouts: { dimse: -1 } })
    assert.isTrue(Result.isFailure(dimse))
    const none = ApplicationEntity.make({ aeTitle: "NETDICOM", timeouts: { idle: Duration.infinity } })
    assert.isTrue(Result.isSuccess(none))
  })
})
