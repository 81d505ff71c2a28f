/**
 * An SCP request handler's end, however it ends: its place among the handlers running at once is freed and what it
 * left unread of its data set is dropped. A handler that runs to its end within its fork (a small C-STORE answered at
 * once) is not tracked in the channel's handler set; one that suspends is; both must be seen to end, or the reader
 * stops at the cap of handlers running at once (16) or at a full inflow.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Stream } from "effect"
import { Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import type { StorageHandler } from "../src/services/StoreHandler.ts"
import { CT, testAe } from "./support.ts"

const contexts = [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]

// `count` C-STOREs of `dataSet` one after another on one association to an SCP storing with `store`; their statuses.
const storeMany = (store: StorageHandler, count: number, dataSet: () => Scu.StoreInput["dataSet"]) =>
  Effect.gen(function* () {
    const scpAe = yield* testAe({ aeTitle: "NETDICOM-SCP", contexts, timeouts: { dimse: "30 seconds" } })
    const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(
      Effect.provide(Layer.succeed(Scp.StorageService)({ store }))
    )
    const scuAe = yield* testAe({ aeTitle: "NETDICOM-SCU", timeouts: { dimse: "30 seconds" } })
    const channel = yield* Scu.connect(scuAe, {
      host: "127.0.0.1",
      port: server.port,
      calledAeTitle: "NETDICOM-SCP",
      contexts
    })
    const statuses: Array<number> = []
    for (let i = 0; i < count; i++) {
      const r = yield* Scu.store(channel, {
        sopClassUid: CT,
        sopInstanceUid: `1.2.3.${i + 1}`,
        transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
        dataSet: dataSet()
      })
      statuses.push(r.status)
    }
    return statuses
  }).pipe(
    // A handler whose end went unseen would stop the reader: the stores would wait for the DIMSE timeout.
    Effect.timeoutOrElse({ duration: Duration.seconds(10), orElse: () => Effect.die("the SCP stopped reading") })
  )

describe("a request handler's end", () => {
  it.live("handlers that finish within their fork free their places: 40 C-STOREs answered past the cap of 16", () =>
    Effect.gen(function* () {
      const statuses = yield* storeMany(
        () => Effect.succeed({ status: Status.SUCCESS }),
        40,
        () => new Uint8Array(64)
      )
      assert.deepStrictEqual(statuses, Array(40).fill(Status.SUCCESS))
    })
  )

  it.live("handlers that suspend free their places: 40 C-STOREs answered past the cap of 16", () =>
    Effect.gen(function* () {
      const statuses = yield* storeMany(
        () => Effect.as(Effect.sleep(Duration.millis(1)), { status: Status.SUCCESS }),
        40,
        () => new Uint8Array(64)
      )
      assert.deepStrictEqual(statuses, Array(40).fill(Status.SUCCESS))
    })
  )

  it.live("a handler that answers at once without reading a large data set has the rest dropped", () =>
    Effect.gen(function* () {
      // 1 MB in 64 KB chunks: the handler starts at 128 KiB arrived and answers at once; without the rest dropped, the
      // inflow would fill at 256 KiB and hold the reader.
      const large = () => Stream.range(1, 16).pipe(Stream.map(() => new Uint8Array(65_536)))
      const statuses = yield* storeMany(() => Effect.succeed({ status: Status.SUCCESS }), 3, large)
      assert.deepStrictEqual(statuses, [Status.SUCCESS, Status.SUCCESS, Status.SUCCESS])
    })
  )
})
