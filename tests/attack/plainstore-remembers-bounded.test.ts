/**
 * `netdicom storescp`'s store without an index remembered the file of every instance it wrote for as long as it ran:
 * a soak (attack32) measured ~330 bytes of heap per instance, never given back (20,000 tiny instances: +6.6 MB after
 * a full collection), so a peer sending distinct instances grew a long-running server without bound. It now remembers
 * the latest `remember` instances (`PlainStore.REMEMBERED` by default); one forgotten is treated as one an earlier
 * run stored.
 */
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import * as PlainStore from "../../packages/archive/src/PlainStore.ts"
import { instance, tempDir } from "../../packages/archive/test/fixtures.ts"

const uids = (n: number) => ({
  patientId: "P1",
  patientName: "Doe^Jane",
  study: "8.1",
  series: "8.1.1",
  sop: `8.1.1.${n}`
})

describe("PlainStore's memory of the instances it wrote", () => {
  it.effect("keeps the latest `remember` of them, an instance received again counting as the latest", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const layer = Layer.fresh(PlainStore.PlainStore.layerFrom({ root: Path.join(dir, "files"), remember: 3 }))
      yield* Effect.provide(
        Effect.gen(function* () {
          const plain = yield* PlainStore.PlainStore
          for (const n of [1, 2, 3]) yield* plain.store(instance(uids(n)))
          yield* plain.store(instance(uids(1))) // 1 again: now the latest
          yield* plain.store(instance(uids(4))) // past 3: 2, the earliest, is forgotten
          const held = [1, 2, 3, 4].map((n) => Option.isSome(plain.held(`8.1.1.${n}`)))
          // without the bound: every one held
          assert.deepStrictEqual(held, [true, false, true, true])
          // one forgotten and received again under another study is stored there, its earlier file left as an
          // earlier run's would be
          const moved = yield* plain.store(instance({ ...uids(2), study: "8.2", series: "8.2.1" }))
          assert.isTrue(Option.isNone(moved.replaced))
        }),
        layer
      )
    })
  )

  it("remembers 100,000 by default", () => {
    assert.strictEqual(PlainStore.REMEMBERED, 100_000)
  })
})
