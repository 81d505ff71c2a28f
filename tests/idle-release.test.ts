/**
 * A requestor's idle timeout (docs/limitations.md until 2026-12-06: "An association idle for `timeouts.idle` is
 * aborted, ours as requestor too"): an SCU association left unused, with nothing outstanding, is now released
 * (A-RELEASE-RQ, then A-ABORT only if no A-RELEASE-RP comes within the ACSE timeout or P-DATA comes first), so that a
 * PACS logs a release, not a failure; the calls made on it afterwards fail with the released association's error. With
 * a request outstanding it still aborts, and an acceptor's idle timeout still aborts (PS3.8 gives it no release).
 * Against netdicom's SCP, raw scripted SCPs and DCMTK storescp, all on 127.0.0.1.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Logger, Option } from "effect"
import { Scu } from "@netdicom/net"
import { connectScu, pdataOf, scopedRawScp, scuAe, within } from "./attack/hotpath-support.ts"
import { promise, startScp } from "./attack/support.ts"
import { hasDcmtk, makeTempDir, removeDir, startStorescp, stopAll } from "./support/peers.ts"

const dcmtk = hasDcmtk()
if (!dcmtk) console.warn("idle-release.test.ts: DCMTK is not installed: skipping the storescp case")

const temp: Array<string> = []
afterAll(async () => {
  await stopAll()
  for (const d of temp) removeDir(d)
})

// The types of the PDUs a raw SCP received after the association (0x04 P-DATA, 0x05 A-RELEASE-RQ, 0x07 A-ABORT).
const recording = () => {
  const types: Array<number> = []
  return { types, onPdu: (_socket: unknown, type: number) => void types.push(type) }
}

// Log lines, for what an SCP says about how its associations ended.
const capture = () => {
  const lines: Array<string> = []
  const logger = Logger.make(({ message }) => {
    lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
  })
  return { lines, layer: Logger.layer([logger]) }
}

const outcome = <A, E>(exit: Exit.Exit<A, E>): string =>
  Exit.isSuccess(exit) ? `succeeded: ${JSON.stringify(exit.value)}` : String(exit.cause)

describe("a requestor's idle timeout", () => {
  it.live("netdicom SCP: released, the SCP logs a release, and a later C-ECHO fails typed, nothing sent", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const log = capture()
        const scp = yield* startScp().pipe(Effect.provide(log.layer))
        const channel = yield* connectScu(scp.port, scuAe({ idle: "400 millis" }))
        assert.strictEqual((yield* Scu.echo(channel)).status, 0)
        const ending = yield* within(3000, channel.association.ended)
        assert.isTrue(Option.isSome(ending), "not ended 3 s after the idle timeout of 0.4 s")
        assert.strictEqual(Option.getOrThrow(ending)._tag, "Released", JSON.stringify(ending))
        const after = yield* Effect.exit(Scu.echo(channel))
        assert.isTrue(Exit.isFailure(after), outcome(after))
        const error = Exit.isFailure(after) ? Option.getOrUndefined(Exit.findErrorOption(after)) : undefined
        assert.strictEqual(error?._tag, "AssociationAborted")
        if (error?._tag === "AssociationAborted") assert.match(error.detail, /^association released \(idle for 400ms/)
        // The server's line for the association's end comes once it has closed.
        yield* Effect.sleep("200 millis")
        assert.include(log.lines, "association released", log.lines.join("\n"))
        assert.isFalse(
          log.lines.some((l) => /aborted/.test(l)),
          log.lines.join("\n")
        )
      })
    )
  )

  it.live("a request outstanding (a C-ECHO the SCP never answers): still aborted, no A-RELEASE-RQ", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const seen = recording()
        const scp = yield* scopedRawScp({ onPdu: seen.onPdu })
        const channel = yield* connectScu(scp.port, scuAe({ idle: "400 millis", dimse: "10 seconds" }))
        const echo = yield* Effect.exit(Scu.echo(channel).pipe(Effect.timeout("5 seconds")))
        assert.isTrue(Exit.isFailure(echo), outcome(echo))
        assert.include(outcome(echo), "idle timeout")
        yield* Effect.sleep("100 millis")
        assert.deepStrictEqual(seen.types, [0x04, 0x07])
      })
    )
  )

  it.live("an SCP that never answers the A-RELEASE-RQ: aborted after the ACSE timeout", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const seen = recording()
        const scp = yield* scopedRawScp({ ignoreRelease: true, onPdu: seen.onPdu })
        const channel = yield* connectScu(scp.port, scuAe({ idle: "300 millis", acse: "700 millis" }))
        const ending = yield* within(3000, channel.association.ended)
        assert.isTrue(Option.isSome(ending), "not ended 3 s after the idle timeout")
        const ended = Option.getOrThrow(ending)
        assert.strictEqual(ended._tag, "Aborted")
        if (ended._tag === "Aborted") assert.match(ended.error.detail, /no A-RELEASE-RP within 700ms/)
        yield* Effect.sleep("100 millis")
        assert.deepStrictEqual(seen.types, [0x05, 0x07])
      })
    )
  )

  it.live("an SCP that answers the A-RELEASE-RQ with P-DATA (a request of its own): aborted", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const seen = recording()
        // a C-ECHO-RQ of the SCP's own where its A-RELEASE-RP was due
        const echoRq = pdataOf(1, true, { _tag: "CEchoRq", messageId: 1, affectedSopClassUid: "1.2.840.10008.1.1" })
        const scp = yield* scopedRawScp({
          ignoreRelease: true,
          onPdu: (socket, type) => {
            seen.onPdu(socket, type)
            if (type === 0x05) socket.write(echoRq)
          }
        })
        const channel = yield* connectScu(scp.port, scuAe({ idle: "300 millis", acse: "5 seconds" }))
        const ending = yield* within(3000, channel.association.ended)
        assert.isTrue(Option.isSome(ending), "not ended within 3 s")
        const ended = Option.getOrThrow(ending)
        assert.strictEqual(ended._tag, "Aborted")
        if (ended._tag === "Aborted") assert.match(ended.error.detail, /P-DATA received after our A-RELEASE-RQ/)
        yield* Effect.sleep("100 millis")
        assert.deepStrictEqual(seen.types, [0x05, 0x07])
      })
    )
  )

  it.live("an acceptor's idle timeout still aborts (netdicom SCP idle 0.4 s, our SCU idle 10 s)", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* startScp({ timeouts: { idle: "400 millis" } })
        const channel = yield* connectScu(scp.port, scuAe({ idle: "10 seconds" }))
        const ending = yield* within(3000, channel.association.ended)
        assert.isTrue(Option.isSome(ending), "not ended within 3 s")
        const ended = Option.getOrThrow(ending)
        assert.strictEqual(ended._tag, "Aborted")
        if (ended._tag === "Aborted") assert.strictEqual(ended.error.by, "peer")
      })
    )
  )

  it.live.skipIf(!dcmtk)(
    "DCMTK storescp: its log shows a release, not an abort",
    () =>
      Effect.gen(function* () {
        const dir = makeTempDir("netdicom-idle-release-")
        temp.push(dir)
        const storescp = yield* promise(() => startStorescp({ outDir: dir }))
        const ending = yield* Effect.scoped(
          Effect.gen(function* () {
            const channel = yield* Scu.connect(scuAe({ idle: "500 millis" }), {
              host: storescp.host,
              port: storescp.port,
              calledAeTitle: storescp.aet,
              contexts: [{ abstractSyntax: "1.2.840.10008.1.1", transferSyntaxes: ["1.2.840.10008.1.2"] }]
            })
            assert.strictEqual((yield* Scu.echo(channel)).status, 0)
            return yield* within(5000, channel.association.ended)
          })
        )
        assert.strictEqual(Option.getOrUndefined(ending)?._tag, "Released", JSON.stringify(ending))
        yield* Effect.sleep("300 millis")
        const logs = storescp.logs()
        yield* promise(() => storescp.stop())
        assert.include(logs, "Association Release", logs)
        assert.notMatch(logs, /abort/i, logs)
      }),
    20_000
  )
})
