/**
 * Hostile DIMSE-N responses to our SCU calls (`Scu.nGet`, `nSet`, `nAction`, `nCreate`, `nDelete`), from a raw
 * SCP: the response's command set built element by element and mutated with fast-check (a field dropped, a forbidden
 * one added, an Attribute Identifier List of odd length or 16,000 tags, a Pending status, the id of a request never
 * sent, the same response twice, another command's response, a data set flag with no data set). Every call must end
 * within the DIMSE timeout with a response or a typed `DimseFailure`, never a defect or a hang.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Logger } from "effect"
import fc from "fast-check"
import type * as Net from "node:net"
import { type DimseChannel, Scu, StorageCommitment } from "@netdicom/net"
import { PduCodec } from "@netdicom/wire"
import { commandOf, scopedRawScp, scuAe } from "./hotpath-support.ts"
import { IMPLICIT } from "./support.ts"

const MPPS = "1.2.840.10008.3.1.2.3.3"

// Response command fields (PS3.7 E.1) for each call.
const RSP_FIELD = { get: 0x8110, set: 0x8120, action: 0x8130, create: 0x8140, delete: 0x8150 } as const
type Call = keyof typeof RSP_FIELD

type Value = { readonly us: number } | { readonly ui: string } | { readonly raw: Uint8Array }

const valueBytes = (v: Value): Uint8Array => {
  if ("us" in v) return Uint8Array.of(v.us & 0xff, v.us >> 8)
  if ("raw" in v) return v.raw
  return new Uint8Array(Buffer.from(v.ui.length % 2 === 1 ? `${v.ui}\0` : v.ui, "latin1"))
}
const commandSet = (elements: ReadonlyArray<readonly [number, Value]>): Uint8Array => {
  const body = Buffer.concat(
    elements.map(([element, v]) => {
      const value = valueBytes(v)
      const h = Buffer.alloc(8)
      h.writeUInt16LE(element, 2)
      h.writeUInt32LE(value.length, 4)
      return Buffer.concat([h, value])
    })
  )
  const head = Buffer.alloc(12)
  head.writeUInt32LE(4, 4)
  head.writeUInt32LE(body.length, 8)
  return new Uint8Array(Buffer.concat([head, body]))
}
const tags = (n: number, odd: boolean): Uint8Array => {
  const out = Buffer.alloc(n * 4)
  for (let i = 0; i < n; i++) out.writeUInt32LE(0x00100010 + i, i * 4)
  return new Uint8Array(odd ? out.subarray(0, Math.max(0, out.length - 2)) : out)
}

const mutation = fc.oneof(
  fc.constant({ _tag: "none" as const }),
  fc.record({ _tag: fc.constant("drop" as const), element: fc.constantFrom(0x0002, 0x0120, 0x0800, 0x0900, 0x1000) }),
  fc.record({
    _tag: fc.constant("add" as const),
    element: fc.constantFrom(0x0110, 0x0600, 0x0700, 0x1002, 0x1008, 0x1020, 0x1030, 0x0901, 0x4000)
  }),
  fc.record({ _tag: fc.constant("attributes" as const), count: fc.constantFrom(1, 16_000), odd: fc.boolean() }),
  fc.record({ _tag: fc.constant("status" as const), status: fc.constantFrom(0xff00, 0xff01, 0xfe00, 0x0107, 0xa700) }),
  fc.record({ _tag: fc.constant("otherId" as const), delta: fc.constantFrom(1, 100) }),
  fc.constant({ _tag: "twice" as const }),
  fc.record({
    _tag: fc.constant("otherCommand" as const),
    field: fc.constantFrom(0x8100, 0x8110, 0x8150, 0x8001, 0x8020)
  }),
  fc.constant({ _tag: "dataSetFlagOnly" as const })
)
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never

// The response to request `id` of `call`, mutated: the PDUs the raw SCP sends.
const responsePdus = (call: Call, id: number, pc: number, m: Mutation): Array<Uint8Array> => {
  const elements = new Map<number, Value>([
    [0x0002, { ui: MPPS }],
    [0x0100, { us: m._tag === "otherCommand" ? m.field : RSP_FIELD[call] }],
    [0x0120, { us: m._tag === "otherId" ? (id + m.delta) & 0xffff : id }],
    [0x0800, { us: m._tag === "dataSetFlagOnly" ? 0 : 0x0101 }],
    [0x0900, { us: m._tag === "status" ? m.status : 0 }],
    [0x1000, { ui: "1.2.3.4" }]
  ])
  if (m._tag === "drop") elements.delete(m.element)
  if (m._tag === "add") elements.set(m.element, m.element === 0x0600 ? { ui: "AE" } : { us: 1 })
  if (m._tag === "attributes") elements.set(0x1005, { raw: tags(m.count, m.odd) })
  const command = commandSet([...elements].sort((a, b) => a[0] - b[0]))
  // Fragments of at most 16 KiB (the Maximum Length we announce)
  const pdus: Array<Uint8Array> = []
  for (let at = 0; at < command.length; at += 16_000) {
    const data = command.subarray(at, at + 16_000)
    const isLast = at + 16_000 >= command.length
    pdus.push(PduCodec.encodePDataTf([{ presentationContextId: pc, isCommand: true, isLast, data }]))
  }
  return m._tag === "twice" ? [...pdus, ...pdus] : pdus
}

const callOf = (call: Call, channel: DimseChannel.DimseChannel) => {
  const target = { sopClassUid: MPPS, sopInstanceUid: "1.2.3.4" }
  switch (call) {
    case "get":
      return Scu.nGet(channel, target)
    case "set":
      return Scu.nSet(channel, { ...target, dataSet: { PatientName: "DOE" } })
    case "action":
      return Scu.nAction(channel, { ...target, actionTypeId: 1 })
    case "create":
      return Scu.nCreate(channel, { sopClassUid: MPPS, dataSet: { PatientName: "DOE" } })
    case "delete":
      return Scu.nDelete(channel, target)
  }
}

describe("hostile DIMSE-N responses", () => {
  it.live(
    "every call ends with a response or a typed failure within the DIMSE timeout",
    () =>
      Effect.gen(function* () {
        const cases = fc.sample(fc.tuple(fc.constantFrom<Call>("get", "set", "action", "create", "delete"), mutation), {
          numRuns: 40,
          seed: 22
        })
        const bad: Array<string> = []
        yield* Effect.forEach(
          cases,
          ([call, m]) =>
            Effect.scoped(
              Effect.gen(function* () {
                let answer: ((socket: Net.Socket, id: number, pc: number) => void) | undefined = (socket, id, pc) => {
                  for (const pdu of responsePdus(call, id, pc, m)) socket.write(pdu)
                }
                const scp = yield* scopedRawScp({
                  maxPduLength: 16_384,
                  onPdu: (socket, type, body) => {
                    const rq = type === 0x04 ? commandOf(body) : undefined
                    if (rq !== undefined && "messageId" in rq && answer !== undefined) {
                      answer(socket, rq.messageId, body[4]!)
                      answer = undefined
                    }
                  }
                })
                const channel = yield* Scu.connect(scuAe({ dimse: "1500 millis" }), {
                  host: "127.0.0.1",
                  port: scp.port,
                  calledAeTitle: "X",
                  contexts: [
                    { abstractSyntax: MPPS, transferSyntaxes: [IMPLICIT] },
                    { abstractSyntax: StorageCommitment.SOP_CLASS, transferSyntaxes: [IMPLICIT] }
                  ]
                })
                const started = Date.now()
                const exit = yield* Effect.exit(Effect.timeout(callOf(call, channel), "4 seconds"))
                const ms = Date.now() - started
                const failure = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : undefined
                const typed =
                  Exit.isSuccess(exit) ||
                  (failure !== undefined &&
                    failure._tag === "Some" &&
                    ["AssociationAborted", "DimseTimeout", "DimseProtocolError"].includes(failure.value._tag))
                if (!typed || ms > 3000) {
                  bad.push(
                    `${call} ${JSON.stringify(m)}: ${ms} ms ${Exit.isSuccess(exit) ? "ok" : Cause.pretty(exit.cause)}`
                  )
                }
              })
            ),
          { concurrency: 8 }
        )
        assert.deepStrictEqual(bad, [])
      }).pipe(Effect.provide(Logger.layer([]))),
    30_000
  )
})
