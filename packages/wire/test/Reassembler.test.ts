import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import fc from "fast-check"
import * as CS from "../src/CommandSet.ts"
import * as Dimse from "../src/Dimse.ts"
import * as F from "../src/Fragmenter.ts"
import * as Pdv from "../src/Pdv.ts"
import * as R from "../src/Reassembler.ts"

const ok = <A, E>(r: Result.Result<A, E>): A => {
  if (Result.isFailure(r)) assert.fail(`expected success, got ${String(r.failure)}`)
  return r.success
}
const err = <A, E>(r: Result.Result<A, E>): E => {
  if (Result.isSuccess(r)) assert.fail("expected failure")
  return r.failure
}

// The PDVs of one P-DATA-TF PDU, as views into it (PS3.8 section 9.3.5).
const pdvsOf = (pdu: Uint8Array): Array<Pdv.Pdv> => {
  const view = new DataView(pdu.buffer, pdu.byteOffset, pdu.byteLength)
  const out: Array<Pdv.Pdv> = []
  for (let at = 6; at < pdu.length;) {
    const length = view.getUint32(at, false)
    const control = pdu[at + 5]!
    out.push(Pdv.make(pdu[at + 4]!, (control & 1) !== 0, (control & 2) !== 0, pdu.subarray(at + 6, at + 4 + length)))
    at += 4 + length
  }
  return out
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

const STORE: Dimse.Message = {
  _tag: "CStoreRq",
  messageId: 3,
  affectedSopClassUid: "1.2.840.10008.5.1.4.1.1.2",
  affectedSopInstanceUid: "1.2.826.0.1.3680043.2.1125.1.12345678901234567890",
  priority: 0,
  moveOriginatorApplicationEntityTitle: "MOVESCU",
  moveOriginatorMessageId: 12
}
const ECHO: Dimse.Message = { _tag: "CEchoRq", messageId: 1, affectedSopClassUid: "1.2.840.10008.1.1" }
const STORE_BYTES = ok(Dimse.encode(STORE))
const ECHO_BYTES = ok(Dimse.encode(ECHO))

const data = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff)

const cmd = (bytes: Uint8Array, isLast = true, pc = 1) => Pdv.make(pc, true, isLast, bytes)
const dat = (bytes: Uint8Array, isLast = true, pc = 1) => Pdv.make(pc, false, isLast, bytes)

// Splits bytes into PDVs at the given cut points (duplicate cuts give empty PDVs).
const split = (pc: number, isCommand: boolean, bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Pdv.Pdv> => {
  const points = [...cuts.map((c) => c % (bytes.length + 1)), bytes.length].sort((a, b) => a - b)
  let from = 0
  return points.map((to, i) => {
    const pdv = Pdv.make(pc, isCommand, i === points.length - 1, bytes.subarray(from, to))
    from = to
    return pdv
  })
}

interface Received {
  readonly commands: Array<R.Command>
  readonly data: Array<Uint8Array>
  readonly lastFlags: Array<boolean>
}

const feed = (r: R.Reassembler, pdvs: ReadonlyArray<Pdv.Pdv>): Received => {
  const out: Received = { commands: [], data: [], lastFlags: [] }
  for (const e of ok(r.pushAll(pdvs))) {
    if (e._tag === "Command") out.commands.push(e)
    else {
      out.data.push(e.data)
      out.lastFlags.push(e.isLast)
    }
  }
  return out
}

describe("Reassembler messages", () => {
  it("emits a command with its decoded message, then the data fragments as views", () => {
    const r = R.make()
    const body = data(100)
    const first = dat(body.subarray(0, 60), false)
    const events = ok(r.pushAll([cmd(STORE_BYTES), first, dat(body.subarray(60))]))
    assert.strictEqual(events.length, 3)
    const [c, d1, d2] = events
    assert.strictEqual(c?._tag, "Command")
    if (c?._tag !== "Command") return
    assert.deepStrictEqual(ok(c.message), STORE)
    assert.deepStrictEqual(c.command, Dimse.toCommandSet(STORE))
    assert.isTrue(c.hasDataSet)
    assert.strictEqual(c.presentationContextId, 1)
    assert.deepStrictEqual(d1, { _tag: "DataFragment", presentationContextId: 1, data: first.data, isLast: false })
    assert.strictEqual(d1?._tag === "DataFragment" && d1.data, first.data, "the very same view, no copy")
    assert.strictEqual(d2?._tag === "DataFragment" && d2.isLast, true)
    assert.isTrue(R.isIdle(r.state()))
  })

  it("goes back to idle after a command without a data set, and takes the next command", () => {
    const r = R.make()
    const a = feed(r, [cmd(ECHO_BYTES)])
    assert.strictEqual(a.commands.length, 1)
    assert.isFalse(a.commands[0]!.hasDataSet)
    assert.deepStrictEqual(r.state(), { _tag: "Idle", after: "no-data-set" })
    assert.strictEqual(feed(r, [cmd(ECHO_BYTES.subarray(0, 5), false), cmd(ECHO_BYTES.subarray(5))]).commands.length, 1)
  })

  it("accepts empty PDVs: an empty non-last data PDV yields nothing, an empty last one ends the data set", () => {
    const r = R.make()
    const got = feed(r, [
      cmd(new Uint8Array(0), false),
      cmd(STORE_BYTES),
      dat(new Uint8Array(0), false),
      dat(data(4), false),
      dat(new Uint8Array(0))
    ])
    assert.strictEqual(got.commands.length, 1)
    assert.deepStrictEqual(got.lastFlags, [false, true])
    assert.deepStrictEqual(concat(got.data), data(4))
  })

  it("reassembles a command split at every byte", () => {
    for (let k = 0; k <= STORE_BYTES.length; k++) {
      const r = R.make()
      const got = feed(r, [cmd(STORE_BYTES.subarray(0, k), false), cmd(STORE_BYTES.subarray(k))])
      assert.strictEqual(got.commands.length, 1, `split at ${k}`)
      assert.deepStrictEqual(ok(got.commands[0]!.message), STORE, `split at ${k}`)
    }
  })

  it("reassembles a command fed one byte per PDV", () => {
    const pdvs = Array.from(STORE_BYTES, (_, i) => cmd(STORE_BYTES.subarray(i, i + 1), i === STORE_BYTES.length - 1))
    const got = feed(R.make(), pdvs)
    assert.deepStrictEqual(ok(got.commands[0]!.message), STORE)
  })

  it("gathers a command in 60,000 1-byte PDVs in linear time, small fragments merged, the bytes intact", () => {
    // Command bytes (STORE_BYTES repeated), one byte per non-last PDV: gathered, not yet decoded.
    const r = R.make()
    const bytes = Uint8Array.from({ length: 60_000 }, (_, i) => STORE_BYTES[i % STORE_BYTES.length]!)
    const started = performance.now()
    for (let i = 0; i < bytes.length - STORE_BYTES.length; i++) ok(r.push(cmd(bytes.subarray(i, i + 1), false)))
    const state = r.state()
    assert.strictEqual(state._tag, "InCommand")
    if (state._tag === "InCommand") {
      assert.isBelow(state.fragments.length, 32, "tiny fragments are merged as they come")
      assert.deepStrictEqual(concat(state.fragments), bytes.subarray(0, bytes.length - STORE_BYTES.length))
    }
    assert.isBelow(performance.now() - started, 2000, "quadratic gathering (it took 22 s for 65,535 PDVs)")
    // One byte at a time, a whole command still decodes as the same message.
    const fresh = R.make()
    const events = STORE_BYTES.reduce<ReadonlyArray<R.Event>>(
      (_, __, i) => ok(fresh.push(cmd(STORE_BYTES.subarray(i, i + 1), i === STORE_BYTES.length - 1))),
      []
    )
    const event = events[0]
    assert.strictEqual(event?._tag, "Command")
    if (event?._tag === "Command") assert.deepStrictEqual(ok(event.message), STORE)
  })

  it("gather leaves its arguments alone and keeps large fragments as they are", () => {
    const small = [Uint8Array.of(1)]
    const out = R.gather(small, Uint8Array.of(2))
    assert.deepStrictEqual(small, [Uint8Array.of(1)])
    assert.deepStrictEqual(out, [Uint8Array.of(1, 2)])
    const big = new Uint8Array(8192)
    const kept = R.gather([big], new Uint8Array(8192))
    assert.strictEqual(kept.length, 2)
    assert.strictEqual(kept[0], big)
  })

  it("passes an invalid DIMSE message up as data, not as a protocol error", () => {
    const bad = ok(CS.encode({ ...Dimse.toCommandSet(ECHO), priority: 0 }))
    const got = feed(R.make(), [cmd(bad)])
    const e = err(got.commands[0]!.message)
    assert.deepStrictEqual([e.reason, e.field], ["ForbiddenField", "Priority"])
    assert.strictEqual(got.commands[0]!.command.priority, 0)
  })

  it("is a pure step function underneath", () => {
    const s1 = ok(R.step(R.initial, cmd(STORE_BYTES)))
    assert.deepStrictEqual(s1.state, { _tag: "InDataSet", presentationContextId: 1, started: false })
    const s2 = ok(R.step(s1.state, dat(data(2), false)))
    assert.deepStrictEqual(s2.state, { _tag: "InDataSet", presentationContextId: 1, started: true })
    assert.deepStrictEqual(ok(R.step(s1.state, dat(data(2)))).state, { _tag: "Idle", after: "data-set" })
    assert.deepStrictEqual(R.initial, { _tag: "Idle", after: "nothing" })
  })
})

describe("Reassembler errors", () => {
  const reason = (pdvs: ReadonlyArray<Pdv.Pdv>, options?: R.Options) => {
    const e = err(R.make(options).pushAll(pdvs))
    assert.strictEqual(e._tag, "ReassemblyError")
    return e.reason
  }

  it("a data PDV before any command", () => {
    assert.strictEqual(reason([dat(data(4))]), "DataBeforeCommand")
    assert.strictEqual(reason([cmd(STORE_BYTES.subarray(0, 4), false), dat(data(4))]), "DataBeforeCommand")
    assert.strictEqual(reason([cmd(STORE_BYTES), dat(data(4)), dat(data(4))]), "DataBeforeCommand")
  })

  it("a data set after a command that announces none is passed on marked, to be drained, and sync is kept", () => {
    const r = R.make()
    const events = Result.getOrThrow(
      r.pushAll([cmd(ECHO_BYTES), dat(data(4), false), dat(data(2), true), cmd(ECHO_BYTES)])
    )
    assert.deepStrictEqual(
      events.map((e) =>
        e._tag === "Command" ? "command" : `data${e.unannounced ? " unannounced" : ""}${e.isLast ? " last" : ""}`
      ),
      ["command", "data unannounced", "data unannounced last", "command"]
    )
    assert.isTrue(R.isIdle(r.state()))
  })

  it("a PDV on another presentation context than the message in progress", () => {
    assert.strictEqual(
      reason([cmd(STORE_BYTES.subarray(0, 4), false, 1), cmd(STORE_BYTES.subarray(4), true, 3)]),
      "ContextMismatch"
    )
    const e = err(R.make().pushAll([cmd(STORE_BYTES, true, 1), dat(data(4), true, 3)]))
    assert.deepStrictEqual([e.reason, e.presentationContextId], ["ContextMismatch", 3])
  })

  it("a command fragment after the command was complete", () => {
    assert.strictEqual(reason([cmd(STORE_BYTES), cmd(ECHO_BYTES)]), "CommandAfterCommand")
  })

  it("a new command while a data set is still incomplete", () => {
    assert.strictEqual(reason([cmd(STORE_BYTES), dat(data(4), false), cmd(ECHO_BYTES)]), "Interleaved")
  })

  it("a command set beyond the limit", () => {
    assert.strictEqual(reason([cmd(STORE_BYTES)], { maxCommandLength: STORE_BYTES.length - 1 }), "CommandTooLarge")
    const r = R.make()
    const chunk = new Uint8Array(16 * 1024)
    for (let i = 0; i < 4; i++) ok(r.push(cmd(chunk, false)))
    assert.strictEqual(err(r.push(cmd(Uint8Array.of(0), false))).reason, "CommandTooLarge")
  })

  it("a command set that does not decode", () => {
    const e = err(R.make().push(cmd(Uint8Array.of(0, 0, 0, 9, 0xff, 0xff, 0xff, 0xff))))
    assert.strictEqual(e.reason, "InvalidCommandSet")
    assert.strictEqual(e.cause?._tag, "CommandSetError")
  })

  it("leaves the state unchanged after an error", () => {
    const r = R.make()
    ok(r.push(cmd(STORE_BYTES)))
    const before = r.state()
    err(r.push(cmd(ECHO_BYTES)))
    assert.strictEqual(r.state(), before)
  })
})

describe("Reassembler properties", () => {
  it("fragment → reassemble round trips at random max PDU sizes and chunkings", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 400 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.integer({ min: 1, max: 255 }).filter((n) => n % 2 === 1),
        (maxPdu, n, cuts, pc) => {
          const body = data(n)
          const f = F.makeDataFragmenter(pc, maxPdu)
          const chunks = split(pc, false, body, cuts).map((p) => p.data)
          const pdus = [...F.fragmentCommand(pc, maxPdu, STORE_BYTES), ...chunks.flatMap((c) => f.push(c)), ...f.end()]
          const r = R.make()
          const got = feed(r, pdus.flatMap(pdvsOf))
          assert.strictEqual(got.commands.length, 1)
          assert.strictEqual(got.commands[0]!.presentationContextId, pc)
          assert.deepStrictEqual(ok(got.commands[0]!.message), STORE)
          assert.deepStrictEqual(concat(got.data), body)
          assert.deepStrictEqual(got.lastFlags.slice(-1), [true])
          assert.isTrue(got.lastFlags.slice(0, -1).every((l) => !l))
          assert.isTrue(R.isIdle(r.state()))
        }
      ),
      { numRuns: 300 }
    )
  })

  it("any packing of PDVs, several messages in a row, gives the same messages and bytes", () => {
    const message = fc.record({
      withData: fc.boolean(),
      n: fc.integer({ min: 0, max: 500 }),
      commandCuts: fc.array(fc.nat(), { maxLength: 6 }),
      dataCuts: fc.array(fc.nat(), { maxLength: 6 })
    })
    fc.assert(
      fc.property(
        fc.array(message, { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (msgs, pduCuts) => {
          const pdvs = msgs.flatMap((m) => [
            ...split(5, true, m.withData ? STORE_BYTES : ECHO_BYTES, m.commandCuts),
            ...(m.withData ? split(5, false, data(m.n), m.dataCuts) : [])
          ])
          // Pack the PDV sequence into PDUs of random sizes and decode them again.
          const bounds = [...new Set([...pduCuts.map((c) => c % (pdvs.length + 1)), pdvs.length])].sort((a, b) => a - b)
          let from = 0
          const pdus = bounds
            .filter((to) => to > 0)
            .map((to) => {
              const pdu = encodePDataTf(pdvs.slice(from, to))
              from = to
              return pdu
            })
          const got = feed(R.make(), pdus.flatMap(pdvsOf))
          assert.deepStrictEqual(
            got.commands.map((c) => ok(c.message)._tag),
            msgs.map((m) => (m.withData ? "CStoreRq" : "CEchoRq"))
          )
          const expected = msgs.filter((m) => m.withData).map((m) => data(m.n))
          assert.deepStrictEqual(concat(got.data), concat(expected))
          assert.strictEqual(got.lastFlags.filter((l) => l).length, expected.length)
        }
      ),
      { numRuns: 300 }
    )
  })
})

// Several PDVs in one P-DATA-TF PDU (PS3.8 section 9.3.5), for the packing property.
const encodePDataTf = (pdvs: ReadonlyArray<Pdv.Pdv>): Uint8Array => {
  const out = new Uint8Array(6 + pdvs.reduce((n, p) => n + 6 + p.data.length, 0))
  const view = new DataView(out.buffer)
  out[0] = 0x04
  view.setUint32(2, out.length - 6, false)
  let at = 6
  for (const p of pdvs) {
    view.setUint32(at, p.data.length + 2, false)
    out[at + 4] = p.presentationContextId
    out[at + 5] = Pdv.controlHeader(p)
    out.set(p.data, at + 6)
    at += 6 + p.data.length
  }
  return out
}
