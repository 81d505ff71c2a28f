/**
 * The one-pass codec of the common messages (C-STORE, C-ECHO) against the generic path (`CommandSet.encode` of
 * `Dimse.toCommandSet`; `CommandSet.decode` then `Dimse.fromCommandSet`): on random and hostile messages and bytes,
 * whatever it gives must be exactly what the generic path gives, and it must take the common shapes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import fc from "fast-check"
import * as CS from "../src/CommandSet.ts"
import * as Dimse from "../src/Dimse.ts"
import * as CommonCommands from "../src/internal/CommonCommands.ts"

const CT = "1.2.840.10008.5.1.4.1.1.2"
const INSTANCE = "1.2.826.0.1.3680043.8.498.12345678901234567890123456789012345"

const usValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: 0, max: 0xffff }),
  fc.constantFrom(-1, 0x10000, 0.5, NaN, Infinity, -0, "1", undefined)
)

const uidValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.stringMatching(/^[0-9.]{1,64}$/),
  fc.constantFrom(CT, INSTANCE, "", "1".repeat(64), "1".repeat(65), "1.2\\3", "1.2\u00e9", "1.2\n", " 1.2", "1.2 "),
  fc.string({ maxLength: 70 }),
  fc.constantFrom(undefined, 7)
)

const detail = fc.record(
  { errorComment: fc.constantFrom("bad", ""), errorId: fc.constantFrom(1, 0x10000), offendingElement: fc.constant([]) },
  { requiredKeys: [] }
)

const messages: fc.Arbitrary<Dimse.Message> = fc.oneof(
  fc
    .record({
      messageId: usValue,
      affectedSopClassUid: uidValue,
      affectedSopInstanceUid: uidValue,
      priority: fc.oneof(fc.constantFrom(0, 1, 2), usValue),
      extra: fc.record(
        { moveOriginatorApplicationEntityTitle: fc.constantFrom("MOVER", ""), moveOriginatorMessageId: usValue },
        { requiredKeys: [] }
      )
    })
    .map(({ extra, ...m }) => ({ _tag: "CStoreRq", ...m, ...extra })),
  fc
    .record({
      messageIdBeingRespondedTo: usValue,
      status: usValue,
      affectedSopClassUid: uidValue,
      affectedSopInstanceUid: uidValue,
      extra: detail
    })
    .map(({ extra, ...m }) => ({ _tag: "CStoreRsp", ...m, ...extra })),
  fc.record({ messageId: usValue, affectedSopClassUid: uidValue }).map((m) => ({ _tag: "CEchoRq", ...m })),
  fc
    .record({ messageIdBeingRespondedTo: usValue, status: usValue, affectedSopClassUid: uidValue, extra: detail })
    .map(({ extra, ...m }) => ({ _tag: "CEchoRsp", ...m, ...extra })),
  fc.constant({ _tag: "CFindRq", messageId: 1, affectedSopClassUid: CT, priority: 0 })
) as fc.Arbitrary<Dimse.Message>

const generic = (m: Dimse.Message) => CS.encode(Dimse.toCommandSet(m))

// One element's bytes: group 0000, the element, a length (maybe wrong) and the value.
const element = (tag: number, value: Uint8Array, length = value.length): Uint8Array => {
  const out = new Uint8Array(8 + value.length)
  const view = new DataView(out.buffer)
  view.setUint16(2, tag, true)
  view.setUint32(4, length >>> 0, true)
  out.set(value, 8)
  return out
}
const us = (v: number) => Uint8Array.of(v & 0xff, (v >>> 8) & 0xff)
const text = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff)

const TAGS = [0x0000, 0x0002, 0x0100, 0x0110, 0x0120, 0x0700, 0x0800, 0x0900, 0x1000, 0x0902, 0x1030, 0x0003, 0x0001]
const COMMAND_FIELDS = [0x0001, 0x8001, 0x0030, 0x8030, 0x0020, 0x8020, 0x0fff]

const elementBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc
    .record({ tag: fc.constantFrom(...TAGS), v: fc.integer({ min: 0, max: 0xffff }) })
    .map(({ tag, v }) => element(tag, us(v))),
  fc.constantFrom(...COMMAND_FIELDS).map((v) => element(0x0100, us(v))),
  fc.constantFrom(0x0101, 0x0000, 0x0001).map((v) => element(0x0800, us(v))),
  fc.constantFrom(0, 1, 2, 3).map((v) => element(0x0700, us(v))),
  fc
    .record({
      tag: fc.constantFrom(0x0002, 0x1000, 0x0902),
      s: fc.oneof(
        fc.constantFrom(
          CT,
          INSTANCE,
          CT + "\0",
          " " + CT + " ",
          "",
          "\0\0",
          "1".repeat(65),
          " ".repeat(200),
          "1\u0080"
        ),
        fc.string({ maxLength: 70 })
      )
    })
    .map(({ tag, s }) => element(tag, text(s))),
  fc.constantFrom(
    element(0x0000, Uint8Array.of(1, 0, 0, 0)),
    element(0x0000, us(2)),
    element(0x0100, new Uint8Array(0)),
    element(0x0110, new Uint8Array(0)),
    element(0x0110, Uint8Array.of(1, 0, 0, 0)),
    element(0x0002, text(CT), 0xffffffff),
    element(0x1000, text(CT), 1000),
    Uint8Array.of(8, 0, 0, 1, 2, 0, 0, 0, 1, 0),
    Uint8Array.of(0, 0, 0)
  )
)

// A common message's elements, shuffled, with some dropped, duplicated or replaced by random ones.
const commandBytes: fc.Arbitrary<Uint8Array> = fc
  .record({
    base: messages,
    // each mutation absent half of the time, so that well-formed sets (taken by the one-pass path) are common
    extra: fc.oneof(fc.constant<Array<Uint8Array>>([]), fc.array(elementBytes, { maxLength: 4 })),
    drop: fc.oneof(fc.constant<Array<number>>([]), fc.array(fc.nat(12), { maxLength: 2 })),
    order: fc.array(fc.nat(), { maxLength: 16 }),
    truncate: fc.oneof(fc.constant(-1), fc.nat(200))
  })
  .map(({ base, extra, drop, order, truncate }) => {
    const encoded = generic(base)
    const parts: Array<Uint8Array> = []
    if (Result.isSuccess(encoded)) {
      const bytes = encoded.success
      let at = 0
      while (at + 8 <= bytes.length) {
        const length = new DataView(bytes.buffer, bytes.byteOffset + at + 4, 4).getUint32(0, true)
        parts.push(bytes.subarray(at, at + 8 + length))
        at += 8 + length
      }
    }
    const kept = parts.filter((_, i) => !drop.includes(i))
    kept.push(...extra)
    order.forEach((o, i) => {
      if (kept.length > 1) {
        const j = o % kept.length
        const k = i % kept.length
        ;[kept[j], kept[k]] = [kept[k]!, kept[j]!]
      }
    })
    const size = kept.reduce((n, p) => n + p.length, 0)
    const out = new Uint8Array(size)
    let at = 0
    for (const p of kept) {
      out.set(p, at)
      at += p.length
    }
    return truncate >= 0 && truncate < out.length ? out.subarray(0, truncate) : out
  })

describe("CommonCommands", () => {
  it("encodes exactly what the generic encoder does, or leaves the message to it (Dimse.encodeCommon too)", () => {
    let taken = 0
    fc.assert(
      fc.property(messages, (m) => {
        const fast = CommonCommands.encode(m)
        if (fast === undefined) {
          assert.isUndefined(Dimse.encodeCommon(m))
          return
        }
        taken++
        const slow = generic(m)
        assert.isTrue(Result.isSuccess(slow), `taken, but the generic encoder refuses ${JSON.stringify(m)}`)
        if (Result.isSuccess(slow)) assert.deepStrictEqual(fast, slow.success)
        assert.deepStrictEqual(Dimse.encode(m), slow)
        // Dimse.encodeCommon, this path exported, gives the same bytes
        assert.deepStrictEqual(Dimse.encodeCommon(m), fast)
      }),
      { numRuns: 20000 }
    )
    assert.isAbove(taken, 1000)
  })

  it("decodes exactly what the generic decoder does, or leaves the bytes to it", () => {
    let taken = 0
    fc.assert(
      fc.property(commandBytes, (bytes) => {
        const fast = CommonCommands.decode(bytes)
        const cs = CS.decode(bytes)
        const message = Result.flatMap(cs, Dimse.fromCommandSet)
        assert.deepStrictEqual(Dimse.decode(bytes), message)
        if (fast === undefined) return
        taken++
        assert.isTrue(Result.isSuccess(message), `taken, but the generic decoder refuses: ${String(message)}`)
        if (Result.isSuccess(cs) && Result.isSuccess(message)) {
          assert.deepStrictEqual(fast.command, cs.success)
          assert.deepStrictEqual(Object.keys(fast.command), Object.keys(cs.success))
          assert.deepStrictEqual(fast.message, message.success)
          assert.deepStrictEqual(Object.keys(fast.message), Object.keys(message.success))
        }
      }),
      { numRuns: 30000 }
    )
    assert.isAbove(taken, 500)
  })

  it("takes the messages of a small C-STORE and of a C-ECHO, both ways", () => {
    const common: ReadonlyArray<Dimse.Message> = [
      { _tag: "CStoreRq", messageId: 7, affectedSopClassUid: CT, affectedSopInstanceUid: INSTANCE, priority: 0 },
      {
        _tag: "CStoreRsp",
        messageIdBeingRespondedTo: 7,
        status: 0,
        affectedSopClassUid: CT,
        affectedSopInstanceUid: INSTANCE
      },
      { _tag: "CStoreRsp", messageIdBeingRespondedTo: 7, status: 0xa700 },
      { _tag: "CEchoRq", messageId: 1, affectedSopClassUid: "1.2.840.10008.1.1" },
      { _tag: "CEchoRsp", messageIdBeingRespondedTo: 1, status: 0, affectedSopClassUid: "1.2.840.10008.1.1" }
    ]
    for (const m of common) {
      const bytes = CommonCommands.encode(m)
      assert.isDefined(bytes, m._tag)
      assert.deepStrictEqual(CommonCommands.decode(bytes!)?.message, m)
    }
  })
})
