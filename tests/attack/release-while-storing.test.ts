/**
 * A peer's A-RELEASE-RQ while its C-STORE is still in hand (Round 12: `beforeRelease` with an `idle` check answers
 * at once when nothing is outstanding). With the handler still running, or the data set still arriving, the
 * A-RELEASE-RP must not go first: the C-STORE-RSP comes, then the A-RELEASE-RP.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { Status } from "@netdicom/wire"
import { associated, pdata, promise, startScp, storeRqPdata, type RawPdu } from "./support.ts"

const RELEASE_RQ = Uint8Array.of(0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0)
// (0008,0018) UI "1.2.3" in explicit VR little endian
const DATA = Uint8Array.of(0x08, 0, 0x18, 0, 0x55, 0x49, 6, 0, 0x31, 0x2e, 0x32, 0x2e, 0x33, 0)

const collect = async (peer: Awaited<ReturnType<typeof associated>>, ms: number) => {
  const seen: Array<number> = []
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const p: RawPdu | "closed" | "timeout" = await peer.next(deadline - Date.now())
    if (p === "closed" || p === "timeout") break
    seen.push(p.type)
    if (p.type === 0x06 || p.type === 0x07) break
  }
  return seen
}

describe("a peer's A-RELEASE-RQ while a C-STORE is in hand", () => {
  it.live("a handler still running: the C-STORE-RSP goes before the A-RELEASE-RP", () =>
    Effect.gen(function* () {
      const server = yield* startScp({
        storage: {
          store: (request) =>
            Effect.as(
              Effect.andThen(Stream.runDrain(request.dataSet).pipe(Effect.ignore), Effect.sleep("300 millis")),
              { status: Status.SUCCESS }
            )
        }
      })
      const peer = yield* promise(() => associated(server.port))
      peer.send(Buffer.concat([storeRqPdata(), pdata(3, false, true, DATA), RELEASE_RQ]))
      const seen = yield* promise(() => collect(peer, 5000))
      peer.destroy()
      assert.deepStrictEqual(seen, [0x04, 0x06])
    })
  )

  it.live("a data set still arriving: the request is answered (or failed) before the A-RELEASE-RP, never after", () =>
    Effect.gen(function* () {
      const server = yield* startScp()
      const peer = yield* promise(() => associated(server.port))
      peer.send(Buffer.concat([storeRqPdata(), pdata(3, false, false, DATA), RELEASE_RQ]))
      const seen = yield* promise(() => collect(peer, 5000))
      peer.destroy()
      assert.notDeepEqual(seen, [], "something came back")
      assert.strictEqual(seen.at(-1), 0x06, `PDUs: ${seen.map((t) => t.toString(16)).join(",")}`)
      assert.isFalse(seen.slice(0, -1).includes(0x06))
    })
  )
})
