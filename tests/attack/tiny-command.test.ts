/**
 * A command set sent to our SCP in 1-byte PDVs (65,000 of them, 2,000 a P-DATA-TF: 455 KB on the wire). The
 * reassembler gathered command fragments by copying its array of them for each PDV: quadratic, 20 s of the event
 * loop for one peer's command, every other association of the server stalled meanwhile.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { PduCodec } from "@netdicom/wire"
import { associated, echoStillWorks, type Peer, promise, startScp } from "./support.ts"

const PDVS = 65_000
const PDVS_PER_PDU = 2000

describe("a command in 1-byte PDVs", () => {
  it.live(
    "65,000 1-byte command PDVs, never ended: the server still answers another association's C-ECHO within 3 s",
    () =>
      Effect.gen(function* () {
        const server = yield* startScp({ timeouts: { dimse: "30 seconds" } })
        const peer: Peer = yield* promise(() => associated(server.port))
        const one = Uint8Array.of(0)
        const pdu = PduCodec.encodePDataTf(
          Array.from({ length: PDVS_PER_PDU }, () => ({
            presentationContextId: 1,
            isCommand: true,
            isLast: false,
            data: one
          }))
        )
        for (let sent = 0; sent < PDVS; sent += PDVS_PER_PDU) peer.send(pdu)
        // Let the server start on it, then time another association's C-ECHO.
        yield* Effect.sleep("200 millis")
        const started = Date.now()
        const works = yield* promise(() => echoStillWorks(server.port))
        const took = Date.now() - started
        peer.destroy()
        assert.isTrue(works)
        assert.isBelow(took, 3000, `the C-ECHO took ${took} ms`)
      }),
    60_000
  )
})
