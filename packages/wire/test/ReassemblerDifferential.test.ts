/**
 * Differential fuzz of the Reassembler's one-pass `pushInto` (a class taking the common PDVs without a `Step` or a
 * `Result` each) against the reassembler before it (kept verbatim in support/ReassemblerBefore.ts), fed PDV by PDV
 * as the DIMSE receiver fed it: random and hostile PDV sequences (whole and fragmented command sets of C-STORE,
 * C-ECHO and their responses, truncated and random command bytes, empty PDVs, data before commands, data sets that
 * were not announced, presentation contexts switching mid-message, commands interleaved with data sets, last flags
 * anywhere) under random command length limits, grouped into PDUs, pushed on after errors: every PDU must give the
 * same events (data as the very views pushed), the same error and the same state. `push` and `pushAll` too.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import fc from "fast-check"
import * as Dimse from "../src/Dimse.ts"
import * as Pdv from "../src/Pdv.ts"
import * as R from "../src/Reassembler.ts"
import * as Before from "./support/ReassemblerBefore.ts"

const encoded = (m: Dimse.Message): Uint8Array => Result.getOrThrow(Dimse.encode(m))

const COMMANDS: ReadonlyArray<Uint8Array> = [
  encoded({
    _tag: "CStoreRq",
    messageId: 3,
    affectedSopClassUid: "1.2.840.10008.5.1.4.1.1.2",
    affectedSopInstanceUid: "1.2.826.0.1.3680043.2.1125.1.12345678901234567890",
    priority: 0
  }),
  encoded({
    _tag: "CStoreRq",
    messageId: 4,
    affectedSopClassUid: "1.2.840.10008.5.1.4.1.1.2",
    affectedSopInstanceUid: "1.2.3.4",
    priority: 1,
    moveOriginatorApplicationEntityTitle: "MOVESCU",
    moveOriginatorMessageId: 12
  }),
  encoded({
    _tag: "CStoreRsp",
    messageIdBeingRespondedTo: 3,
    affectedSopClassUid: "1.2.840.10008.5.1.4.1.1.2",
    affectedSopInstanceUid: "1.2.3.4",
    status: 0
  }),
  encoded({ _tag: "CEchoRq", messageId: 1, affectedSopClassUid: "1.2.840.10008.1.1" }),
  encoded({ _tag: "CEchoRsp", messageIdBeingRespondedTo: 1, affectedSopClassUid: "1.2.840.10008.1.1", status: 0 })
]

// Command bytes: valid ones, cut short, with a byte changed, or random.
const commandBytes = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...COMMANDS) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constantFrom(...COMMANDS), fc.nat()).map(([b, n]) => b.subarray(0, n % (b.length + 1)))
  },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constantFrom(...COMMANDS), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([b, i, v]) => {
      const out = new Uint8Array(b)
      out[i % out.length] = v
      return out
    })
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) }
)

const pc = fc.oneof({ weight: 5, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 5 }) })

// A command set in one PDV, or cut into several (the last flag on the last, or anywhere).
const commandPdvs = fc
  .record({
    bytes: commandBytes,
    pc,
    cuts: fc.oneof(
      { weight: 3, arbitrary: fc.constant<Array<number>>([]) },
      { weight: 1, arbitrary: fc.array(fc.nat(), { maxLength: 4 }) }
    ),
    lastFlags: fc.oneof(
      { weight: 4, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.array(fc.boolean()) }
    )
  })
  .map(({ bytes, pc, cuts, lastFlags }) => {
    const points = [...cuts.map((c) => c % (bytes.length + 1)), bytes.length].sort((a, b) => a - b)
    let from = 0
    return points.map((to, i) => {
      const isLast = lastFlags === undefined ? i === points.length - 1 : (lastFlags[i] ?? true)
      const pdv = Pdv.make(pc, true, isLast, bytes.subarray(from, to))
      from = to
      return pdv
    })
  })

const dataPdv = fc
  .record({
    pc,
    isLast: fc.boolean(),
    size: fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 4, arbitrary: fc.integer({ min: 1, max: 40 }) })
  })
  .map(({ pc, isLast, size }) => [Pdv.make(pc, false, isLast, new Uint8Array(size).fill(size & 0xff))])

// A message as a well-behaved peer sends it (a command, then a data set in fragments), or stray PDVs.
const message = fc
  .record({ command: commandPdvs, data: fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 4 }) })
  .map(({ command, data }) => [
    ...command,
    ...data.map((n, i) => Pdv.make(command[0]!.presentationContextId, false, i === data.length - 1, new Uint8Array(n)))
  ])

const pdvs = fc
  .array(
    fc.oneof(
      { weight: 4, arbitrary: message },
      { weight: 2, arbitrary: commandPdvs },
      { weight: 3, arbitrary: dataPdv }
    ),
    { maxLength: 12 }
  )
  .map((groups) => groups.flat())

// The PDVs grouped into PDUs of 1 to 4 PDVs.
const pdus = fc
  .tuple(pdvs, fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 8 }))
  .map(([all, sizes]) => {
    const out: Array<Array<Pdv.Pdv>> = []
    for (let at = 0, i = 0; at < all.length; i++) {
      const n = sizes[i % sizes.length]!
      out.push(all.slice(at, at + n))
      at += n
    }
    return out
  })

const options = fc.oneof(
  fc.constant(undefined),
  fc.record({ maxCommandLength: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.constant(R.DEFAULT_MAX_COMMAND_LENGTH)) })
)

const errorOf = (e: R.ReassemblyError | Before.ReassemblyError | undefined) =>
  e === undefined
    ? undefined
    : {
        tag: e._tag,
        reason: e.reason,
        presentationContextId: e.presentationContextId,
        detail: e.detail,
        message: e.message,
        cause: e.cause === undefined ? undefined : { tag: e.cause._tag, message: e.cause.message }
      }

// Events compared by value, and a fragment's data as the very view that was pushed.
const sameEvents = (a: ReadonlyArray<R.Event>, b: ReadonlyArray<Before.Event>): void => {
  assert.deepStrictEqual(a, b as ReadonlyArray<R.Event>)
  a.forEach((e, i) => {
    const o = b[i]!
    if (e._tag === "DataFragment" && o._tag === "DataFragment") assert.strictEqual(e.data, o.data)
  })
}

// What the DIMSE receiver did with the reassembler before: PDV by PDV, the events until the first error.
const beforeReceive = (r: Before.Reassembler, pdu: ReadonlyArray<Pdv.Pdv>) => {
  const events: Array<Before.Event> = []
  for (const pdv of pdu) {
    const x = r.push(pdv)
    if (Result.isFailure(x)) return { events, failure: x.failure }
    events.push(...x.success)
  }
  return { events, failure: undefined }
}

describe("Reassembler one-pass pushInto against the reassembler before it", () => {
  it("gives the same events, errors and states for any PDVs", () => {
    let failures = 0
    let fragments = 0
    fc.assert(
      fc.property(pdus, options, (pdus, options) => {
        const now = R.make(options)
        const before = Before.make(options)
        const nowAll = R.make(options)
        const beforeAll = Before.make(options)
        const nowOne = R.make(options)
        const beforeOne = Before.make(options)
        for (const pdu of pdus) {
          const events: Array<R.Event> = []
          const failure = now.pushInto(pdu, events)
          const old = beforeReceive(before, pdu)
          sameEvents(events, old.events)
          assert.deepStrictEqual(errorOf(failure), errorOf(old.failure))
          assert.deepStrictEqual(now.state(), before.state() as R.State)
          if (failure !== undefined) failures++
          fragments += events.filter((e) => e._tag === "DataFragment").length

          const all = nowAll.pushAll(pdu)
          const allBefore = beforeAll.pushAll(pdu)
          if (Result.isSuccess(all) && Result.isSuccess(allBefore)) sameEvents(all.success, allBefore.success)
          else if (Result.isFailure(all) && Result.isFailure(allBefore)) {
            assert.deepStrictEqual(errorOf(all.failure), errorOf(allBefore.failure))
          } else assert.fail("pushAll: one failed, the other did not")
          assert.deepStrictEqual(nowAll.state(), beforeAll.state() as R.State)

          for (const pdv of pdu) {
            const one = nowOne.push(pdv)
            const oneBefore = beforeOne.push(pdv)
            if (Result.isSuccess(one) && Result.isSuccess(oneBefore)) sameEvents(one.success, oneBefore.success)
            else if (Result.isFailure(one) && Result.isFailure(oneBefore)) {
              assert.deepStrictEqual(errorOf(one.failure), errorOf(oneBefore.failure))
            } else assert.fail("push: one failed, the other did not")
            assert.deepStrictEqual(nowOne.state(), beforeOne.state() as R.State)
          }
        }
      }),
      { numRuns: 3000 }
    )
    // The generators reach both the errors and the data path.
    assert.isAbove(failures, 100)
    assert.isAbove(fragments, 1000)
  })
})
