/**
 * A request whose UIDs our command encoder refuses (a control character: the decoder takes any Latin-1 text up to
 * 64 characters). The response echoes the request's Affected SOP Class (and Instance) UID, and failed to encode: the
 * request was never answered, the peer left waiting on its DIMSE timeout while we held the association. Those UIDs are
 * optional in every response (PS3.7 9.3, "U(=)"): one that cannot be written is left out and the response goes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { Dimse } from "@netdicom/wire"
import { associated, echoStillWorks, pdata, pdvsOf, promise, startScp } from "./support.ts"

// A command set written by hand (our encoder refuses such UIDs): group length first, then the elements given.
const commandSet = (elements: ReadonlyArray<readonly [number, Buffer]>): Uint8Array => {
  const element = (tag: number, value: Buffer) => {
    const header = Buffer.alloc(8)
    header.writeUInt16LE(tag >>> 16, 0)
    header.writeUInt16LE(tag & 0xffff, 2)
    header.writeUInt32LE(value.length, 4)
    return Buffer.concat([header, value])
  }
  const rest = Buffer.concat(elements.map(([tag, value]) => element(tag, value)))
  const length = Buffer.alloc(4)
  length.writeUInt32LE(rest.length)
  return Buffer.concat([element(0x00000000, length), rest])
}
const us = (n: number) => Buffer.from([n & 0xff, n >> 8])
const ui = (s: string) => Buffer.from(s.length % 2 === 0 ? s : `${s}\0`, "latin1")

const BAD = "1.2.840.10008.1.1\n"

// What came back for `command` on `pc` within 3 s: the response's tag and status, or what ended the wait.
const answerTo = (port: number, pc: number, command: Uint8Array, dataSet?: Uint8Array) =>
  promise(async () => {
    const peer = await associated(port)
    try {
      peer.send(pdata(pc, true, true, command))
      if (dataSet !== undefined) peer.send(pdata(pc, false, true, dataSet))
      const rsp = await peer.next(3000)
      if (typeof rsp === "string") return rsp
      const decoded = Dimse.decode(new Uint8Array(Buffer.concat(pdvsOf(rsp.body).map((p) => p.data))))
      if (Result.isFailure(decoded)) return `undecodable 0x${rsp.type.toString(16)}`
      const m = decoded.success
      return `${m._tag} ${"status" in m ? `0x${m.status.toString(16).padStart(4, "0")}` : ""}`
    } finally {
      peer.destroy()
    }
  })

describe("a request whose UIDs cannot be echoed in its response", () => {
  it.live("C-ECHO-RQ and C-STORE-RQ with a line feed in their UIDs: each answered at once, the server serves on", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* startScp()
        const echo = commandSet([
          [0x00000002, ui(BAD)],
          [0x00000100, us(0x0030)],
          [0x00000110, us(1)],
          [0x00000800, us(0x0101)]
        ])
        const store = commandSet([
          [0x00000002, ui("1.2.840.10008.5.1.4.1.1.2")],
          [0x00000100, us(0x0001)],
          [0x00000110, us(2)],
          [0x00000700, us(0)],
          [0x00000800, us(0x0000)],
          [0x00001000, ui("1.2.3\r\n4")]
        ])
        // context 1 is Verification, 3 CT: the C-ECHO is refused (not the context's SOP class), the C-STORE (an empty
        // data set element) goes to the storage handler; each gets its response
        const dataSet = Uint8Array.from([0x08, 0x00, 0x16, 0x00, 0x02, 0x00, 0x00, 0x00, 0x31, 0x00])
        const got = [yield* answerTo(server.port, 1, echo), yield* answerTo(server.port, 3, store, dataSet)]
        assert.match(got[0]!, /^CEchoRsp 0x0122$/, got.join(", "))
        assert.match(got[1]!, /^CStoreRsp 0x0000$/, got.join(", "))
        assert.isTrue(yield* promise(() => echoStillWorks(server.port)))
      })
    )
  )
})
