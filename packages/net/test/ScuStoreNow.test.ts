/**
 * `Scu.storeNow`, the pipelined C-STORE path of the bench's SCU (no fiber per request): a data set in bytes leaves as
 * `storeNow` is called within a running effect, so several begun before the first is awaited are outstanding at once,
 * up to the negotiated window; each effect gives its own response, awaited in any order; past the window, a request
 * leaves once its effect runs. Called outside a running effect it is `store` (nothing leaves until it runs); at Debug
 * its log lines carry the C-STORE span.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Layer, Logger, References } from "effect"
import { Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import type { StoreRequest } from "../src/services/StoreHandler.ts"
import { CT, testAe } from "./support.ts"

const WINDOW = 4
const contexts = [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]

// An SCP (window 4) whose storage answers nothing until `release` is done; `arrived` lists the instances received.
const connected = Effect.gen(function* () {
  const arrived: Array<string> = []
  const release = yield* Deferred.make<void>()
  const allIn = yield* Deferred.make<void>()
  const storage = Layer.succeed(Scp.StorageService)({
    store: (request: StoreRequest) =>
      Effect.gen(function* () {
        arrived.push(request.sopInstanceUid)
        if (arrived.length === WINDOW) yield* Deferred.succeed(allIn, undefined)
        yield* Deferred.await(release)
        // each response names its instance, so that a mixed-up answer shows
        return { status: request.sopInstanceUid.endsWith(".2") ? Status.WARNING : Status.SUCCESS }
      })
  })
  const scpAe = yield* testAe({
    aeTitle: "NETDICOM-SCP",
    contexts,
    maxOperationsInvoked: WINDOW,
    maxOperationsPerformed: WINDOW
  })
  const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(storage))
  const scuAe = yield* testAe({ aeTitle: "NETDICOM-SCU", maxOperationsInvoked: WINDOW })
  const channel = yield* Scu.connect(scuAe, {
    host: "127.0.0.1",
    port: server.port,
    calledAeTitle: "NETDICOM-SCP",
    contexts
  })
  assert.strictEqual(channel.association.negotiated.maxOperationsInvoked, WINDOW)
  return { channel, arrived, release, allIn }
})

const input = (uid: string): Scu.StoreInput => ({
  sopClassUid: CT,
  sopInstanceUid: uid,
  transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
  dataSet: new Uint8Array(64)
})

describe("Scu.storeNow", () => {
  it.live("begun within an effect, requests leave at once, up to the window; each effect gives its own answer", () =>
    Effect.gen(function* () {
      const { channel, arrived, release, allIn } = yield* connected
      const answers = [1, 2, 3, 4, 5].map((k) => Scu.storeNow(channel, input(`1.2.3.${k}`)))
      // Nothing awaited yet: the first four reached the SCP (which answers none before all four are in), the fifth,
      // past the window, waits for its effect to run.
      yield* Deferred.await(allIn).pipe(Effect.timeout("5 seconds"))
      yield* Effect.sleep("50 millis")
      assert.deepStrictEqual(arrived, ["1.2.3.1", "1.2.3.2", "1.2.3.3", "1.2.3.4"])
      yield* Deferred.succeed(release, undefined)
      // awaited out of order, each gives the response to its own request
      for (const k of [5, 2, 1, 4, 3]) {
        const r = yield* answers[k - 1]!
        assert.strictEqual(r.sopInstanceUid, `1.2.3.${k}`)
        assert.strictEqual(r.status, k === 2 ? Status.WARNING : Status.SUCCESS)
      }
      assert.deepStrictEqual(arrived, ["1.2.3.1", "1.2.3.2", "1.2.3.3", "1.2.3.4", "1.2.3.5"])
    })
  )

  it.live("called outside a running effect, it is store: nothing leaves until its effect runs", () =>
    Effect.gen(function* () {
      const { channel, arrived, release } = yield* connected
      yield* Deferred.succeed(release, undefined)
      // a promise's callback runs outside any fiber
      const answer = yield* Effect.promise(() => Promise.resolve().then(() => Scu.storeNow(channel, input("1.2.3.7"))))
      yield* Effect.sleep("100 millis")
      assert.deepStrictEqual(arrived, [])
      const r = yield* answer
      assert.strictEqual(r.sopInstanceUid, "1.2.3.7")
      assert.deepStrictEqual(arrived, ["1.2.3.7"])
    })
  )

  it.live("at Debug too, requests leave at once, and the lines they log carry the C-STORE span", () => {
    const lines: Array<{ readonly text: string; readonly spans: ReadonlyArray<string> }> = []
    const capture = Logger.make(({ message, fiber }) => {
      lines.push({
        text: (Array.isArray(message) ? message : [message]).map(String).join(" "),
        spans: fiber.getRef(References.CurrentLogSpans).map(([label]) => label)
      })
    })
    return Effect.gen(function* () {
      const { channel, arrived, release, allIn } = yield* connected
      const answers = [1, 2, 3, 4].map((k) => Scu.storeNow(channel, input(`1.2.3.${k}`)))
      yield* Deferred.await(allIn).pipe(Effect.timeout("5 seconds"))
      assert.deepStrictEqual(arrived, ["1.2.3.1", "1.2.3.2", "1.2.3.3", "1.2.3.4"])
      yield* Deferred.succeed(release, undefined)
      for (const [k, answer] of answers.entries()) assert.strictEqual((yield* answer).sopInstanceUid, `1.2.3.${k + 1}`)
      const sent = lines.filter((l) => l.text.startsWith("send ") && l.text.includes("C-STORE-RQ"))
      assert.strictEqual(sent.length, 4)
      for (const line of sent) assert.strictEqual(line.spans[0], "C-STORE")
    }).pipe(Effect.provideService(References.MinimumLogLevel, "Debug"), Effect.provide(Logger.layer([capture])))
  })

  it.live(
    "findContext answers with the same result for a context each time, and still refuses what was not accepted",
    () =>
      Effect.gen(function* () {
        const { channel } = yield* connected
        const first = channel.findContext(CT, "SCU", [EXPLICIT_VR_LITTLE_ENDIAN])
        assert.strictEqual(first._tag, "Success")
        // made once per context (every C-STORE looks its context up), not per look-up
        assert.strictEqual(channel.findContext(CT, "SCU", [EXPLICIT_VR_LITTLE_ENDIAN]), first)
        assert.strictEqual(channel.findContext(CT, "SCU"), first)
        assert.strictEqual(channel.findContext(CT, "SCP")._tag, "Failure")
        assert.strictEqual(channel.findContext(CT, "SCU", ["1.2.840.10008.1.2"])._tag, "Failure")
        assert.strictEqual(channel.findContext("1.2.3", "SCU")._tag, "Failure")
      }).pipe(Effect.scoped)
  )
})
