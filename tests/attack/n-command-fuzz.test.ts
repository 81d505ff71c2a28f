/**
 * Hostile DIMSE-N command sets against an SCP serving MPPS and Storage Commitment (`Normalized.layer`), each on an
 * association of its own: the six N requests built element by element, then mutated with fast-check (a field
 * dropped, one added that the request may not carry, a value of the wrong length, an Attribute Identifier List of odd
 * length or of 16,000 tags, the Command Data Set Type flipped, the SOP class swapped for a DIMSE-C one or one not
 * negotiated). Every case must end in exactly one response to the request's message id (its status one PS3.7 allows
 * there) or in an A-ABORT, never in two responses or silence; the server serves on.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Result } from "effect"
import fc from "fast-check"
import { ApplicationEntity, Normalized, Scp, StorageCommitment } from "@netdicom/net"
import { Dimse, PduCodec } from "@netdicom/wire"
import { associated, associateRq, encode, type Peer, pdvsOf, promise, VERIFICATION } from "./support.ts"

const MPPS = "1.2.840.10008.3.1.2.3.3"
const SC = StorageCommitment.SOP_CLASS
const CT = "1.2.840.10008.5.1.4.1.1.2"
const IMPLICIT = ApplicationEntity.IMPLICIT_VR_LITTLE_ENDIAN

// Command fields of the six N requests (PS3.7 E.1).
const FIELDS = { report: 0x0100, get: 0x0110, set: 0x0120, action: 0x0130, create: 0x0140, delete: 0x0150 } as const
type Kind = keyof typeof FIELDS

type Value = { readonly us: number } | { readonly ui: string } | { readonly raw: Uint8Array }
type Elements = ReadonlyArray<readonly [number, Value]>

const uiBytes = (s: string) => {
  const b = Buffer.from(s.length % 2 === 1 ? `${s}\0` : s, "latin1")
  return new Uint8Array(b)
}
const valueBytes = (v: Value): Uint8Array =>
  "us" in v ? Uint8Array.of(v.us & 0xff, v.us >> 8) : "ui" in v ? uiBytes(v.ui) : v.raw
const tagsBytes = (tags: ReadonlyArray<number>): Uint8Array => {
  const out = Buffer.alloc(tags.length * 4)
  tags.forEach((t, i) => {
    out.writeUInt16LE(t >>> 16, i * 4)
    out.writeUInt16LE(t & 0xffff, i * 4 + 2)
  })
  return new Uint8Array(out)
}

// A command set in Implicit VR Little Endian, elements in the order given, with its group length.
const commandSet = (elements: Elements): Uint8Array => {
  const parts = elements.map(([element, v]) => {
    const value = valueBytes(v)
    const h = Buffer.alloc(8)
    h.writeUInt16LE(0, 0)
    h.writeUInt16LE(element, 2)
    h.writeUInt32LE(value.length, 4)
    return Buffer.concat([h, value])
  })
  const body = Buffer.concat(parts)
  const head = Buffer.alloc(12)
  head.writeUInt32LE(4, 4)
  head.writeUInt32LE(body.length, 8)
  return new Uint8Array(Buffer.concat([head, body]))
}

const HAS_DATA = 0x0000
const NO_DATA = 0x0101

// A valid request of `kind` (message id 5), and whether a data set follows.
const valid = (kind: Kind, sopClass: string): Array<readonly [number, Value]> => {
  const affected = kind === "report" || kind === "create"
  const instance: Value = { ui: sopClass === SC ? StorageCommitment.SOP_INSTANCE : "1.2.3.4" }
  return [
    [affected ? 0x0002 : 0x0003, { ui: sopClass }],
    [0x0100, { us: FIELDS[kind] }],
    [0x0110, { us: 5 }],
    [0x0800, { us: kind === "get" || kind === "delete" ? NO_DATA : HAS_DATA }],
    [affected ? 0x1000 : 0x1001, instance],
    ...(kind === "report" ? [[0x1002, { us: 1 }] as const] : []),
    ...(kind === "action" ? [[0x1008, { us: 1 }] as const] : [])
  ]
}

const mutation = fc.oneof(
  fc.constant({ _tag: "none" as const }),
  fc.record({ _tag: fc.constant("drop" as const), at: fc.nat(7) }),
  fc.record({
    _tag: fc.constant("add" as const),
    element: fc.constantFrom(0x0600, 0x0700, 0x0900, 0x0120, 0x1002, 0x1005, 0x1008, 0x1020, 0x1030, 0x0903, 0x4000),
    value: fc.oneof(
      fc.integer({ min: 0, max: 0xffff }).map((us) => ({ us })),
      fc.constantFrom({ ui: "1.2.3" }, { raw: Uint8Array.of(1, 2, 3) }, { raw: new Uint8Array(0) })
    )
  }),
  fc.record({ _tag: fc.constant("wrongLength" as const), at: fc.nat(7), length: fc.constantFrom(0, 1, 3, 65) }),
  fc.record({
    _tag: fc.constant("attributes" as const),
    count: fc.constantFrom(0, 1, 2, 16_000),
    odd: fc.boolean()
  }),
  fc.constant({ _tag: "flipDataSet" as const }),
  fc.record({ _tag: fc.constant("sopClass" as const), uid: fc.constantFrom(VERIFICATION, CT, "1.2.3.999", SC, MPPS) })
)
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never

const apply = (elements: Array<readonly [number, Value]>, m: Mutation): Array<readonly [number, Value]> => {
  const out = [...elements]
  switch (m._tag) {
    case "none":
      return out
    case "drop":
      out.splice(m.at % out.length, 1)
      return out
    case "add": {
      const i = out.findIndex(([e]) => e === m.element)
      if (i >= 0) out[i] = [m.element, m.value]
      else out.push([m.element, m.value])
      return out.sort((a, b) => a[0] - b[0])
    }
    case "wrongLength": {
      const i = m.at % out.length
      out[i] = [out[i]![0], { raw: new Uint8Array(m.length).fill(0x31) }]
      return out
    }
    case "attributes": {
      const tags = Array.from({ length: m.count }, (_, i) => 0x00100010 + i * 0x10000)
      const raw = tagsBytes(tags)
      const value = m.odd ? raw.subarray(0, Math.max(0, raw.length - 2)) : raw
      return [...out.filter(([e]) => e !== 0x1005), [0x1005, { raw: value }] as const].sort((a, b) => a[0] - b[0])
    }
    case "flipDataSet":
      return out.map(([e, v]) =>
        e === 0x0800 && "us" in v ? ([e, { us: v.us === NO_DATA ? HAS_DATA : NO_DATA }] as const) : ([e, v] as const)
      )
    case "sopClass":
      return out.map(([e, v]) => (e === 0x0002 || e === 0x0003 ? ([e, { ui: m.uid }] as const) : ([e, v] as const)))
  }
}

// An Implicit VR Little Endian data set: Patient's Name.
const DATA_SET = (() => {
  const b = Buffer.alloc(12)
  b.writeUInt16LE(0x0010, 0)
  b.writeUInt16LE(0x0010, 2)
  b.writeUInt32LE(4, 4)
  b.write("DOE^", 8, "latin1")
  return new Uint8Array(b)
})()

const dataSetFollows = (elements: Elements): boolean => {
  const flag = elements.find(([e]) => e === 0x0800)?.[1]
  return flag !== undefined && "us" in flag && flag.us !== NO_DATA
}

// The statuses a refusal or our handlers may answer with (PS3.7 Annex C): success, 0x0110, 0x0122, 0x0124, 0x0211.
const ALLOWED = new Set([0x0000, 0x0110, 0x0122, 0x0124, 0x0211])

interface Outcome {
  readonly responses: ReadonlyArray<Dimse.Message>
  readonly ended: string | undefined
}

// Reads for `ms` after the first response or the end, at most `deadline`.
const collect = async (peer: Peer, deadline: number): Promise<Outcome> => {
  const responses: Array<Dimse.Message> = []
  const end = Date.now() + deadline
  let quietUntil = end
  while (true) {
    const left = Math.min(end, quietUntil) - Date.now()
    if (left <= 0) return { responses, ended: undefined }
    const p = await peer.next(left)
    if (p === "timeout") return { responses, ended: undefined }
    if (p === "closed") return { responses, ended: "closed" }
    if (p.type === 0x07) return { responses, ended: "A-ABORT" }
    if (p.type === 0x04) {
      for (const pdv of pdvsOf(p.body)) {
        if ((pdv.control & 1) !== 1) continue
        const m = Dimse.decode(new Uint8Array(pdv.data))
        if (Result.isSuccess(m)) responses.push(m.success)
      }
      quietUntil = Math.min(quietUntil, Date.now() + 250)
    }
  }
}

const ok = { status: 0 }
const handlers: Normalized.NHandlers = {
  nEventReport: () => Effect.succeed(ok),
  nGet: () => Effect.succeed(ok),
  nSet: () => Effect.succeed(ok),
  nAction: () => Effect.succeed(ok),
  nCreate: () => Effect.succeed(ok),
  nDelete: () => Effect.succeed(ok)
}

const startNScp = Effect.gen(function* () {
  const ae = Result.getOrThrow(
    ApplicationEntity.make({
      aeTitle: "NETDICOM-SCP",
      contexts: [
        { abstractSyntax: MPPS, transferSyntaxes: [IMPLICIT] },
        { abstractSyntax: SC, transferSyntaxes: [IMPLICIT], scu: true, scp: true }
      ],
      timeouts: { acse: "2 seconds", connect: "2 seconds", dimse: "3 seconds", write: "3 seconds" }
    })
  )
  return yield* Scp.serve(ae, { port: 0 }).pipe(Effect.provide(Normalized.layer({ [MPPS]: handlers, [SC]: handlers })))
})

const rq = associateRq({
  presentationContexts: [
    { _tag: "PresentationContextRq", id: 1, abstractSyntax: MPPS, transferSyntaxes: [IMPLICIT] },
    { _tag: "PresentationContextRq", id: 3, abstractSyntax: SC, transferSyntaxes: [IMPLICIT] }
  ]
})

const run = async (port: number, kind: Kind, m: Mutation): Promise<Outcome> => {
  const peer = await associated(port, rq)
  try {
    const elements = apply(valid(kind, kind === "action" || kind === "report" ? SC : MPPS), m)
    const pc = elements.some(([e, v]) => (e === 0x0002 || e === 0x0003) && "ui" in v && v.ui === SC) ? 3 : 1
    const pdvs = [{ presentationContextId: pc, isCommand: true, isLast: true, data: commandSet(elements) }]
    if (dataSetFollows(elements))
      pdvs.push({ presentationContextId: pc, isCommand: false, isLast: true, data: DATA_SET })
    peer.send(PduCodec.encodePDataTf(pdvs))
    return await collect(peer, 4000)
  } finally {
    peer.destroy()
  }
}

describe("hostile DIMSE-N command sets", () => {
  it.live(
    "each is answered once with an allowed status, or aborted; never twice, never silence",
    () =>
      Effect.gen(function* () {
        const server = yield* startNScp
        const cases = fc.sample(
          fc.tuple(fc.constantFrom<Kind>("report", "get", "set", "action", "create", "delete"), mutation),
          { numRuns: 60, seed: 22 }
        )
        const bad: Array<string> = []
        for (let i = 0; i < cases.length; i += 12) {
          const batch = cases.slice(i, i + 12)
          const outcomes = yield* promise(() => Promise.all(batch.map(([kind, m]) => run(server.port, kind, m))))
          outcomes.forEach((o, j) => {
            const [kind, m] = batch[j]!
            const mine = o.responses.filter(
              (r) => "messageIdBeingRespondedTo" in r && r.messageIdBeingRespondedTo === 5
            )
            const fine =
              (o.ended === "A-ABORT" && mine.length <= 1) ||
              (mine.length === 1 && o.responses.length === 1 && ALLOWED.has((mine[0] as { status: number }).status))
            if (!fine)
              bad.push(
                `${kind} ${JSON.stringify(m, (_, v) => (v instanceof Uint8Array ? `${v.length}B` : v))}: ${JSON.stringify(o.responses)} ${o.ended}`
              )
          })
        }
        assert.deepStrictEqual(bad, [])
        // still serving
        const peer = yield* promise(() => associated(server.port, rq))
        peer.send(
          PduCodec.encodePDataTf([
            { presentationContextId: 1, isCommand: true, isLast: true, data: commandSet(valid("get", MPPS)) }
          ])
        )
        const last = yield* promise(() => collect(peer, 3000))
        peer.destroy()
        assert.strictEqual(last.responses.length, 1)
        void encode
      }).pipe(Effect.provide(Logger.layer([]))),
    30_000
  )
})
