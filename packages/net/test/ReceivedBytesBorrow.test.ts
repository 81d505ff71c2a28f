/**
 * `ReceivedBytes.borrow`: a read whose lent views are being written is not freed under the write, whoever releases
 * them meanwhile; a lent view already freed cannot be borrowed (its bytes are gone), and nothing stays held then.
 */
import { assert, describe, it } from "@effect/vitest"
import { PduCodec, PduParser } from "@netdicom/wire"
import * as ReceivedBytes from "../src/upper/ReceivedBytes.ts"

const read = (sizes: ReadonlyArray<number>) => {
  const parser = PduParser.make({ maxPduLength: 0, pdvViews: true })
  const tracker = ReceivedBytes.tracker()
  const bytes = PduCodec.encodePDataTf(
    sizes.map((n, i) => ({
      presentationContextId: 1,
      isCommand: false,
      isLast: false,
      data: new Uint8Array(n).fill(i + 1)
    }))
  )
  const chunk = bytes.slice()
  const { pdus } = parser.push(chunk)
  tracker.took(chunk, pdus, parser.buffered)
  const views = pdus.flatMap((p) => (p._tag === "PDataTf" ? p.pdvs.map((pdv) => pdv.data) : []))
  return { chunk, views: views.map(ReceivedBytes.lend) }
}

describe("ReceivedBytes.borrow", () => {
  it("a borrowed view's read outlives its release by another reader, and is freed once given back", () => {
    const { chunk, views } = read([1000, 2000])
    assert.isTrue(ReceivedBytes.borrow(views))
    for (const view of views) ReceivedBytes.release(view)
    assert.strictEqual(chunk.buffer.byteLength, chunk.length, "not freed while borrowed")
    assert.deepStrictEqual(views[1]![0], 2)
    ReceivedBytes.giveBack(views, true)
    assert.strictEqual(chunk.buffer.byteLength, 0, "freed once given back")
  })

  it("a lent view freed already cannot be borrowed, and the others stay unheld", () => {
    const first = read([1000])
    const second = read([3000])
    for (const view of first.views) ReceivedBytes.release(view)
    assert.strictEqual(first.chunk.buffer.byteLength, 0)
    assert.isFalse(ReceivedBytes.borrow([...second.views, ...first.views]))
    // nothing of the second read was left held: releasing frees it
    for (const view of second.views) ReceivedBytes.release(view)
    assert.strictEqual(second.chunk.buffer.byteLength, 0)
  })
})
