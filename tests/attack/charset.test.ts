/**
 * Specific Character Set (0008,0005) from an untrusted peer: `CharacterSet.decoderFor` and its decoders, and
 * `DataSet.decode` / `decodeWithWarnings` over hostile charset values and text bytes (PS3.5 6.1, 6.1.2.5).
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option, Result, Stream } from "effect"
import fc from "fast-check"
import { spawnSync } from "node:child_process"
import type * as Net from "node:net"
import { DataSet, Scu } from "@netdicom/net"
import { type Dimse, PduCodec } from "@netdicom/wire"
import * as CharacterSet from "../../packages/net/src/dimse/CharacterSet.ts"
import { commandOf, connectScu, pdataOf, scopedRawScp, within } from "./hotpath-support.ts"
import { EXPLICIT, IMPLICIT, STUDY_FIND } from "./support.ts"

const le16 = (n: number) => [n & 255, n >> 8]
const le32 = (n: number) => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255]
const pad = (b: Array<number>, with_: number) => (b.length % 2 ? [...b, with_] : b)
const cs = (v: string) => {
  const b = pad([...Buffer.from(v, "latin1")], 0x20)
  return [8, 0, 5, 0, 0x43, 0x53, ...le16(b.length), ...b]
}
const text = (g: number, e: number, vr: string, bytes: ReadonlyArray<number>) => {
  const b = pad([...bytes], 0x20)
  return vr === "UT"
    ? [...le16(g), ...le16(e), 0x55, 0x54, 0, 0, ...le32(b.length), ...b]
    : [...le16(g), ...le16(e), ...Buffer.from(vr), ...le16(b.length), ...b]
}

const TERMS = [
  "",
  "ISO_IR 6",
  "ISO_IR 100",
  "ISO_IR 192",
  "GB18030",
  "GBK",
  "ISO_IR 13",
  "ISO_IR 166",
  "ISO 2022 IR 6",
  "ISO 2022 IR 13",
  "ISO 2022 IR 14",
  "ISO 2022 IR 87",
  "ISO 2022 IR 159",
  "ISO 2022 IR 149",
  "ISO 2022 IR 58",
  "ISO 2022 IR 100",
  "ISO 2022 IR 166",
  "ISO 2022 IR 192",
  "iso_ir 100",
  "iso 2022 ir 87",
  " ISO 2022 IR 87 ",
  "ISO_IR  100",
  "__proto__",
  "constructor",
  "toString",
  "ISO 2022 IR 0",
  "ISO 2022 IR 999999999999999999999",
  "\u0000",
  "\u001b$B"
]
const termArb = fc.oneof(fc.constantFrom(...TERMS), fc.string({ maxLength: 20 }))
const charsetArb = fc.array(termArb, { maxLength: 6 })

/** Escape sequences, whole and cut short, and the bytes that matter around them. */
const ESCAPES = [
  [0x1b, 0x28, 0x42],
  [0x1b, 0x28, 0x4a],
  [0x1b, 0x29, 0x49],
  [0x1b, 0x24, 0x42],
  [0x1b, 0x24, 0x40],
  [0x1b, 0x24, 0x28, 0x44],
  [0x1b, 0x24, 0x29, 0x43],
  [0x1b, 0x24, 0x29, 0x41],
  [0x1b, 0x2d, 0x41],
  [0x1b, 0x2d, 0x54],
  [0x1b, 0x2d, 0x5a],
  [0x1b, 0x24],
  [0x1b, 0x24, 0x29],
  [0x1b],
  [0x5c],
  [0x5e],
  [0x3d],
  [0x0d, 0x0a],
  [0x00],
  [0xff, 0xfe]
]
const chunkArb = fc.oneof(
  fc.constantFrom(...ESCAPES),
  fc.array(fc.integer({ min: 0x21, max: 0x7e }), { maxLength: 6 }),
  fc.array(fc.integer({ min: 0x80, max: 0xff }), { maxLength: 6 }),
  fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 6 })
)
const bytesArb = fc.array(chunkArb, { maxLength: 24 }).map((cs) => cs.flat())

const decoders = (values: ReadonlyArray<string>) => CharacterSet.decoderFor(values)

describe("CharacterSet: hostile values and bytes", () => {
  it("decoderFor and its decoder never throw; the decoder returns a string or undefined", () => {
    fc.assert(
      fc.property(charsetArb, bytesArb, (values, bytes) => {
        const d = decoders(values)
        if (Result.isFailure(d)) return assert.isString(d.failure)
        const out = d.success(Uint8Array.from(bytes))
        assert.isTrue(out === undefined || typeof out === "string")
      }),
      { numRuns: 3000 }
    )
  })

  it("decode and decodeWithWarnings: typed results, never 'unexpected'; equal datasets when both succeed", () => {
    fc.assert(
      fc.property(
        charsetArb,
        fc.array(fc.tuple(fc.constantFrom("PN", "LO", "SH", "LT", "UT"), bytesArb), { maxLength: 4 }),
        fc.boolean(),
        (values, texts, inItem) => {
          const els = texts.map(([vr, b], i) =>
            text(vr === "PN" ? 0x10 : 0x0009, vr === "PN" ? 0x10 : 0x1010 + i, vr, b)
          )
          const level = [...(values.length > 0 ? cs(values.join("\\")) : []), ...els.flat()]
          const bytes = inItem
            ? [
                ...cs("ISO_IR 100"),
                0x08,
                0x00,
                0x15,
                0x11,
                0x53,
                0x51,
                0,
                0,
                ...le32(0xffffffff),
                0xfe,
                0xff,
                0x00,
                0xe0,
                ...le32(level.length),
                ...level,
                0xfe,
                0xff,
                0xdd,
                0xe0,
                ...le32(0)
              ]
            : level
          const input = Uint8Array.from(bytes)
          const strict = DataSet.decode(input, EXPLICIT)
          const lenient = DataSet.decodeWithWarnings(input, EXPLICIT)
          for (const failure of [Result.getFailure(strict), Result.getFailure(lenient)]) {
            if (Option.isSome(failure)) {
              assert.strictEqual(failure.value._tag, "DataSetError")
              assert.notInclude(failure.value.reason, "unexpected error")
            }
          }
          if (Result.isSuccess(strict)) {
            assert.isTrue(Result.isSuccess(lenient))
            if (Result.isSuccess(lenient)) {
              assert.deepStrictEqual(lenient.success.dataset, strict.success)
              // when strict decoding succeeds, the one warning left is for text over 7FH under no declared set
              const undeclared = lenient.success.warnings.filter((w) =>
                w.includes("but no Specific Character Set (0008,0005) declares them")
              )
              assert.deepStrictEqual(lenient.success.warnings, undeclared)
              assert.isAtMost(undeclared.length, 1)
              if (!bytes.some((b) => b > 0x7f)) assert.deepStrictEqual(undeclared, [])
            }
          } else if (strict.failure.kind === "CharacterSet") {
            assert.isTrue(Result.isSuccess(lenient))
          }
        }
      ),
      { numRuns: 1500 }
    )
  })

  it("time grows about linearly with the value: 1 MiB and 8 MiB of switching sets", () => {
    const d = Result.getOrThrow(decoders(["ISO 2022 IR 13", "ISO 2022 IR 87", "ISO 2022 IR 149", "ISO 2022 IR 100"]))
    const unit = [0x1b, 0x24, 0x42, 0x30, 0x21, 0x1b, 0x28, 0x42, 0x41, 0xb1, 0x1b, 0x24, 0x29, 0x43, 0xb0, 0xa1, 0x5c]
    const make = (n: number) => {
      n -= n % unit.length
      const out = new Uint8Array(n)
      for (let i = 0; i < n; i++) out[i] = unit[i % unit.length]!
      return out
    }
    // The fastest of three decodes each: a garbage collection or another process on the machine inflates one.
    const time = (bytes: Uint8Array) => {
      let best = Infinity
      for (let pass = 0; pass < 3; pass++) {
        const started = performance.now()
        const s = d(bytes)
        assert.isString(s)
        best = Math.min(best, performance.now() - started)
      }
      return best
    }
    time(make(1 << 16))
    const small = time(make(1 << 20))
    const large = time(make(8 << 20))
    console.log(`1 MiB ${small.toFixed(0)} ms, 8 MiB ${large.toFixed(0)} ms`)
    assert.isBelow(large, Math.max(small * 8 * 3, 200))
  })

  it("a 16 MiB two-byte value (odd length, ESC cut short at the end) decodes in bounded time", () => {
    const d = Result.getOrThrow(decoders(["ISO 2022 IR 87"]))
    const bytes = new Uint8Array((16 << 20) + 1).fill(0x30)
    bytes[bytes.length - 1] = 0x1b
    const started = performance.now()
    assert.isUndefined(d(bytes))
    bytes[bytes.length - 1] = 0x5c
    assert.isString(d(bytes))
    console.log(`16 MiB JIS X 0208 twice: ${(performance.now() - started).toFixed(0)} ms`)
  })

  it("Implicit VR: the same value in LO of (0010,0010) decodes the same as in Explicit VR", () => {
    const value = [0x1b, 0x24, 0x42, 0x3b, 0x33, 0x45, 0x44, 0x1b, 0x28, 0x42, 0x5e, 0x41]
    const b = pad(value, 0x20)
    const charset = [...Buffer.from("\\ISO 2022 IR 87")]
    const implicit = [8, 0, 5, 0, ...le32(charset.length), ...charset, 0x10, 0, 0x10, 0, ...le32(b.length), ...b]
    const a = DataSet.decode(Uint8Array.from(implicit), IMPLICIT)
    const e = DataSet.decode(Uint8Array.from([...cs("\\ISO 2022 IR 87"), ...text(0x10, 0x10, "PN", value)]), EXPLICIT)
    assert.deepStrictEqual(Result.getOrThrow(a)["PatientName"], Result.getOrThrow(e)["PatientName"])
  })
})

/**
 * Fault (fixed): the ISO 2022 decoder gathered each run in an `Array<number>` (spread pushes, a `map` per pair), so
 * one 16 MiB value of a C-FIND identifier took about 500 MB of heap and close to a second of the event loop. Run in
 * a worker whose old generation is capped at 96 MB: it must decode, not die out of memory.
 */
describe("CharacterSet: memory of a 16 MiB ISO 2022 value", () => {
  it("decodes 16 MiB of ISO 2022 IR 6 and of JIS X 0208 within a 96 MB heap", () => {
    const module = new URL("../../packages/net/src/dimse/CharacterSet.ts", import.meta.url).href
    const source = `
      const CharacterSet = await import(${JSON.stringify(module)})
      const lengths = []
      for (const charset of [["ISO 2022 IR 6"], ["ISO 2022 IR 87"]]) {
        const decoded = CharacterSet.decoderFor(charset)
        lengths.push(decoded.success(new Uint8Array(16 << 20).fill(0x30)).length)
      }
      console.log(JSON.stringify(lengths))`
    // a child process: running out of heap there is an exit code, not the end of the test runner
    const child = spawnSync(process.execPath, ["--max-old-space-size=96", "--input-type=module", "-e", source], {
      encoding: "utf8",
      timeout: 30_000
    })
    assert.strictEqual(child.status, 0, child.stderr.slice(0, 400))
    assert.strictEqual(child.stdout.trim(), JSON.stringify([16 << 20, 8 << 20]))
  }, 40_000)
})

describe("CharacterSet: an odd two-byte run before an escape sequence", () => {
  it("ESC is never the second byte of a pair: the text after ESC ( B stays ASCII", () => {
    const d = Result.getOrThrow(CharacterSet.decoderFor(["", "ISO 2022 IR 87"]))
    // fault (fixed): 3BH took the ESC as its pair, "( B" was then read as JIS X 0208 and "^A" was lost
    const out = d(Uint8Array.from([0x1b, 0x24, 0x42, 0x3b, 0x1b, 0x28, 0x42, 0x5e, 0x41]))
    assert.isTrue(out?.endsWith("^A"), out)
  })
})

/** A C-FIND-RSP (Pending) with `identifier`, then Success, for the C-FIND-RQ in `body`. */
const answerFind = (socket: Net.Socket, body: Buffer, identifier: Uint8Array) => {
  const rq = commandOf(body)
  if (rq?._tag !== "CFindRq") return
  const pc = body[4]!
  const rsp = (status: number, hasIdentifier: boolean): Dimse.Message => ({
    _tag: "CFindRsp",
    messageIdBeingRespondedTo: rq.messageId,
    affectedSopClassUid: STUDY_FIND,
    status,
    hasIdentifier
  })
  socket.write(pdataOf(pc, true, rsp(0xff00, true)))
  socket.write(
    PduCodec.encodePDataTf([{ presentationContextId: pc, isCommand: false, isLast: true, data: identifier }])
  )
  socket.write(pdataOf(pc, true, rsp(0x0000, false)))
}

/** An Implicit VR LE identifier: (0008,0005) `charset`, then PatientName with `name`. */
const identifierOf = (charset: string, name: ReadonlyArray<number>): Uint8Array => {
  const c = pad([...Buffer.from(charset, "latin1")], 0x20)
  const n = pad([...name], 0x20)
  return Uint8Array.from([8, 0, 5, 0, ...le32(c.length), ...c, 0x10, 0, 0x10, 0, ...le32(n.length), ...n])
}

describe("Scu.find: a match with a hostile character set from a raw SCP", () => {
  const cases: ReadonlyArray<readonly [string, string, ReadonlyArray<number>]> = [
    ["unknown term", "ISO_IR 999", [0x41, 0xe9]],
    ["escape to a set it does not know", "\\ISO 2022 IR 87", [0x1b, 0x24, 0x29, 0x5a, 0x41]],
    ["escape cut short at the end", "\\ISO 2022 IR 149", [0x41, 0x1b, 0x24]],
    ["prototype key", "__proto__", [0x41]],
    ["many duplicated terms", Array(2000).fill("ISO 2022 IR 87").join("\\"), [0x1b, 0x24, 0x42, 0x5c, 0x5c]],
    ["NULs and an odd two-byte run", "ISO 2022 IR 149\\ISO 2022 IR 58", [0, 0xb0, 0, 0x1b, 0x24, 0x29, 0x41, 0xb0]]
  ]
  for (const [what, charset, name] of cases) {
    it.live(
      `${what}: the match is delivered, or a typed error, within 3 s`,
      () =>
        Effect.gen(function* () {
          const scp = yield* scopedRawScp({
            onPdu: (socket, type, body) => {
              if (type === 4) answerFind(socket, body, identifierOf(charset, name))
            }
          })
          const exit = yield* within(
            3000,
            Effect.exit(
              Effect.scoped(
                Effect.flatMap(connectScu(scp.port), (channel) =>
                  Stream.runCollect(Scu.find(channel, { model: "study", identifier: { PatientName: "*" } }))
                )
              )
            )
          )
          assert.isTrue(Option.isSome(exit), "hung")
          const result = Option.getOrThrow(exit)
          if (Exit.isSuccess(result)) {
            const matches = [...result.value]
            assert.isAtLeast(matches.length, 1)
            assert.isString(matches[0]!.identifier?.["PatientName"])
          } else {
            const error = Cause.squash(result.cause)
            assert.isTrue(typeof error === "object" && error !== null && "_tag" in error, String(error))
          }
        }),
      10_000
    )
  }
})

/**
 * Fault (fixed): a warning quoted the whole undecodable value (only ESC shown as "ESC"), and `Scu.find` logs every
 * warning: a peer made one 8 MiB log line, forged log lines with CR LF, and one warning per item of a sequence.
 */
describe("decodeWithWarnings: warnings stay short and few", () => {
  const charset = [...Buffer.from("\\ISO 2022 IR 87")]
  const element = (g: number, e: number, value: ReadonlyArray<number> | Uint8Array) => [
    ...le16(g),
    ...le16(e),
    ...le32(value.length),
    ...value
  ]
  const withCharset = (...els: ReadonlyArray<ReadonlyArray<number>>) => [...element(8, 5, charset), ...els.flat()]

  it("an 8 MiB value with an unknown escape: a warning of under 300 characters, CR LF escaped", () => {
    const value = new Uint8Array(8 << 20).fill(0x41)
    value.set([0x1b, 0x24, 0x29, 0x5a, 0x0d, 0x0a, 0x46, 0x41, 0x4b, 0x45])
    const r = Result.getOrThrow(
      DataSet.decodeWithWarnings(Uint8Array.from(withCharset(element(0x10, 0x10, value))), IMPLICIT)
    )
    assert.strictEqual(r.warnings.length, 1)
    assert.isBelow(r.warnings[0]!.length, 300)
    assert.notMatch(r.warnings[0]!, /[\r\n]/)
    assert.notInclude(r.warnings[0]!, "\u001b")
  })

  it("an unknown character set of 60,000 characters with CR LF: a short warning, CR LF escaped", () => {
    const cs = pad([...Buffer.from(`ISO_IR 999\r\nFORGED ${"X".repeat(60_000)}`)], 0x20)
    const r = Result.getOrThrow(DataSet.decodeWithWarnings(Uint8Array.from(element(8, 5, cs)), IMPLICIT))
    assert.strictEqual(r.warnings.length, 1)
    assert.isBelow(r.warnings[0]!.length, 300)
    assert.notMatch(r.warnings[0]!, /[\r\n]/)
  })

  it("10,000 items each with an undecodable value: at most 101 warnings", () => {
    const item = withCharset(element(0x10, 0x10, [0x1b, 0x24, 0x29, 0x5a]))
    const out: Array<number> = [0x08, 0x00, 0x15, 0x11, ...le32(0xffffffff)]
    for (let i = 0; i < 10_000; i++) out.push(0xfe, 0xff, 0x00, 0xe0, ...le32(item.length), ...item)
    out.push(0xfe, 0xff, 0xdd, 0xe0, ...le32(0))
    const r = Result.getOrThrow(DataSet.decodeWithWarnings(Uint8Array.from(out), IMPLICIT))
    assert.isAtMost(r.warnings.length, 101)
    assert.include(r.warnings.at(-1), "9900 more")
  })
})

/**
 * Fault (fixed): every change of set ended a run decoded by its own `TextDecoder.decode` call, so 16 MiB that
 * alternate ASCII and one G1 byte (ISO 2022 IR 13 katakana, ISO 8859) held the event loop for about 4 s, over
 * 100 times a single-byte character set. Characters are now looked up per byte (about 0.2 s).
 */
describe("CharacterSet: 16 MiB that change set on every byte", () => {
  const cases: ReadonlyArray<readonly [ReadonlyArray<string>, ReadonlyArray<number>]> = [
    [["ISO 2022 IR 13"], [0x41, 0xb1]],
    [["ISO 2022 IR 100"], [0x41, 0xe9]],
    [["ISO 2022 IR 149"], [0x41, 0xb0, 0xa1]],
    [
      ["ISO 2022 IR 6", "ISO 2022 IR 100"],
      [0x1b, 0x2d, 0x41, 0xe9, 0x1b, 0x2d, 0x42, 0xe9]
    ]
  ]
  for (const [charset, unit] of cases) {
    it(`${charset.join("\\")}: decoded in under 1.5 s, or 8 times one single-byte set on a busy machine`, () => {
      const d = Result.getOrThrow(CharacterSet.decoderFor(charset))
      const n = (16 << 20) - ((16 << 20) % unit.length)
      const bytes = new Uint8Array(n)
      for (let i = 0; i < n; i++) bytes[i] = unit[i % unit.length]!
      // The same bytes in one single-byte set (one TextDecoder call), timed alternately with it: it says how busy the
      // machine is at that moment (~0.2 s quiet, as the ISO 2022 decode). Decoding each run of one set with its own
      // call took 2-4 s, quiet. The fastest of three passes each: a garbage collection or another process on the
      // machine inflates one (a load of 12-16 made single passes 5x the baseline).
      const latin1 = Result.getOrThrow(CharacterSet.decoderFor(["ISO_IR 100"]))
      let baseline = Infinity
      let took = Infinity
      for (let pass = 0; pass < 3; pass++) {
        const t = performance.now()
        assert.isString(latin1(bytes))
        baseline = Math.min(baseline, performance.now() - t)
        const started = performance.now()
        assert.isString(d(bytes))
        took = Math.min(took, performance.now() - started)
      }
      assert.isBelow(
        took,
        Math.max(1500, 8 * baseline),
        `${took.toFixed(0)} ms; one single-byte set ${baseline.toFixed(0)} ms`
      )
    }, 60_000)
  }
})

describe("CharacterSet: the looked-up characters are those of a TextDecoder", () => {
  const asciiArb = fc.array(fc.integer({ min: 0x20, max: 0x7e }), { maxLength: 4 })
  it("ISO 2022 IR 149 (ASCII and KS X 1001 pairs) and ISO 2022 IR 100 equal euc-kr and latin1 decoding", () => {
    const ks = Result.getOrThrow(CharacterSet.decoderFor(["ISO 2022 IR 149"]))
    const latin = Result.getOrThrow(CharacterSet.decoderFor(["ISO 2022 IR 100"]))
    const pairArb = fc.tuple(fc.integer({ min: 0xa1, max: 0xfe }), fc.integer({ min: 0xa1, max: 0xfe }))
    fc.assert(
      fc.property(fc.array(fc.oneof(asciiArb, pairArb), { maxLength: 30 }), fc.uint8Array(), (parts, raw) => {
        const bytes = Uint8Array.from(parts.flat())
        assert.strictEqual(ks(bytes), new TextDecoder("euc-kr").decode(bytes))
        const plain = raw.filter((b) => b !== 0x1b)
        assert.strictEqual(latin(plain), new TextDecoder("latin1").decode(plain))
      }),
      { numRuns: 1000 }
    )
  })
})

describe("CharacterSet: controls inside a two-byte run", () => {
  it("CR LF after an odd JIS X 0208 run are controls: the initial set is back after them", () => {
    const d = Result.getOrThrow(CharacterSet.decoderFor(["", "ISO 2022 IR 87"]))
    // fault (fixed): 3BH took CR as its pair, LF 41H became a JIS X 0208 code, "A" was lost
    const out = d(Uint8Array.from([0x1b, 0x24, 0x42, 0x3b, 0x0d, 0x0a, 0x41]))
    assert.isTrue(out?.endsWith("\r\nA"), JSON.stringify(out))
  })
})

/**
 * Fault (fixed): the values of (0008,0005) lost their trailing NULs by `/\0+$/`, which backtracks from every start
 * position: 80,000 NULs then one other byte took 2 s, 1 MiB (an Implicit VR identifier allows 16) minutes. Also in
 * the unpadding of DA, CS, UI... values (`/[ \0]+$/`) and of Part 10 meta strings.
 */
describe("decodeWithWarnings: long padding then one more byte", () => {
  it("a Specific Character Set of 100,000 NULs then A: decoded in under 500 ms", () => {
    const v = [...new Uint8Array(100_000), 0x41, 0x20]
    const bytes = Uint8Array.from([8, 0, 5, 0, ...le32(v.length), ...v])
    const started = performance.now()
    const r = DataSet.decodeWithWarnings(bytes, IMPLICIT)
    assert.isBelow(performance.now() - started, 500)
    assert.isTrue(Result.isSuccess(r))
  }, 60_000)

  it("a Modality (CS) of 100,000 NULs then A: decoded in under 500 ms", () => {
    const v = [...new Uint8Array(100_000), 0x41, 0x20]
    const bytes = Uint8Array.from([8, 0, 0x60, 0, ...le32(v.length), ...v])
    const started = performance.now()
    DataSet.decodeWithWarnings(bytes, IMPLICIT)
    assert.isBelow(performance.now() - started, 500)
  }, 60_000)
})
