/**
 * The archive header's end (Header.BULK_VALUE_BYTES, DEFAULT_MAX_HEADER_BYTES) attacked: bulk values at 1 MiB and
 * either side, sequences (undefined length, nested) holding one, Implicit VR and Big Endian, a lying length, 4 MiB
 * of small elements; every file fed in two chunks split at each offset around the header's end must give the header
 * the whole file gives, and be stored byte for byte (or refused, the same way at every split).
 */
import { createHash } from "node:crypto"
import * as Fs from "node:fs/promises"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { Archive } from "../../packages/archive/src/Archive.ts"
import * as Header from "../../packages/archive/src/Header.ts"
import { inFreshArchive } from "../../packages/archive/test/fixtures.ts"

const MiB = 1024 * 1024
const LONG_VRS = new Set(["OB", "OW", "UN", "UT", "SQ", "UC"])
type Syntax = { readonly uid: string; readonly explicit: boolean; readonly little: boolean }
const EXPLICIT: Syntax = { uid: "1.2.840.10008.1.2.1", explicit: true, little: true }
const IMPLICIT: Syntax = { uid: "1.2.840.10008.1.2", explicit: false, little: true }
const BIG: Syntax = { uid: "1.2.840.10008.1.2.2", explicit: true, little: false }

const join = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** An element's header with `length` (a value the caller appends), in `s`. */
const elementHead = (s: Syntax, group: number, elem: number, vr: string, length: number): Uint8Array => {
  const long = !s.explicit || LONG_VRS.has(vr)
  const head = new Uint8Array(s.explicit ? (long ? 12 : 8) : 8)
  const view = new DataView(head.buffer)
  view.setUint16(0, group, s.little)
  view.setUint16(2, elem, s.little)
  if (!s.explicit) view.setUint32(4, length, s.little)
  else {
    head[4] = vr.charCodeAt(0)
    head[5] = vr.charCodeAt(1)
    if (long) view.setUint32(8, length, s.little)
    else view.setUint16(6, length, s.little)
  }
  return head
}

const element = (s: Syntax, group: number, elem: number, vr: string, value: Uint8Array | string): Uint8Array => {
  let bytes = typeof value === "string" ? new TextEncoder().encode(value) : value
  if (bytes.length % 2 === 1 && typeof value === "string") bytes = join([bytes, new Uint8Array([vr === "UI" ? 0 : 32])])
  return join([elementHead(s, group, elem, vr, bytes.length), bytes])
}

const item = (s: Syntax, length: number): Uint8Array => {
  const b = new Uint8Array(8)
  const v = new DataView(b.buffer)
  v.setUint16(0, 0xfffe, s.little)
  v.setUint16(2, 0xe000, s.little)
  v.setUint32(4, length, s.little)
  return b
}
const delimiter = (s: Syntax, elem: number): Uint8Array => {
  const b = new Uint8Array(8)
  const v = new DataView(b.buffer)
  v.setUint16(0, 0xfffe, s.little)
  v.setUint16(2, elem, s.little)
  return b
}

const meta = (s: Syntax, sop: string): Uint8Array => {
  const le = EXPLICIT
  const body = join([
    element(le, 2, 1, "OB", new Uint8Array([0, 1])),
    element(le, 2, 2, "UI", "1.2.840.10008.5.1.4.1.1.7"),
    element(le, 2, 3, "UI", sop),
    element(le, 2, 0x10, "UI", s.uid)
  ])
  const preamble = new Uint8Array(132)
  preamble.set(new TextEncoder().encode("DICM"), 128)
  const length = new Uint8Array(4)
  new DataView(length.buffer).setUint32(0, body.length, true)
  return join([preamble, element(le, 2, 0, "UL", length), body])
}

const head = (s: Syntax, sop: string) =>
  join([
    meta(s, sop),
    element(s, 8, 0x16, "UI", "1.2.840.10008.5.1.4.1.1.7"),
    element(s, 8, 0x18, "UI", sop),
    element(s, 8, 0x60, "CS", "OT"),
    element(s, 0x10, 0x10, "PN", "Bulk^Bert"),
    element(s, 0x10, 0x20, "LO", "BULK"),
    element(s, 0x20, 0x0d, "UI", "6.1"),
    element(s, 0x20, 0x0e, "UI", "6.1.1")
  ])

const tail = (s: Syntax) => element(s, 0x50, 0x04, "CS", "NO")
const filled = (n: number) => new Uint8Array(n).fill(0x41)

interface Case {
  readonly name: string
  readonly bytes: Uint8Array
  /** Where the header should end (the split points are taken around it). */
  readonly boundary: number
}

const cases = (): ReadonlyArray<Case> => {
  const out: Array<Case> = []
  for (const s of [EXPLICIT, IMPLICIT, BIG]) {
    const n = s === EXPLICIT ? "explicit" : s === IMPLICIT ? "implicit" : "big"
    const h = head(s, "6.1.1.1")
    for (const length of [MiB - 2, MiB, MiB + 2]) {
      out.push({
        name: `${n} OB of ${length}`,
        bytes: join([h, elementHead(s, 0x42, 0x11, "OB", length), filled(length), tail(s)]),
        boundary: h.length
      })
    }
    // an undefined-length sequence, an undefined-length item holding 1 MiB + 2
    out.push({
      name: `${n} undefined-length sequence holding a bulk value`,
      bytes: join([
        h,
        elementHead(s, 0x40, 0xa730, "SQ", 0xffffffff),
        item(s, 0xffffffff),
        elementHead(s, 0x42, 0x11, "OB", MiB + 2),
        filled(MiB + 2),
        delimiter(s, 0xe00d),
        delimiter(s, 0xe0dd),
        tail(s)
      ]),
      boundary: h.length
    })
    // nested defined-length sequences, the inner value 1 MiB + 2
    const inner = join([elementHead(s, 0x42, 0x11, "OB", MiB + 2), filled(MiB + 2)])
    const innerSeq = join([elementHead(s, 0x40, 0xa730, "SQ", inner.length + 8), item(s, inner.length), inner])
    out.push({
      name: `${n} nested sequences holding a bulk value`,
      bytes: join([
        h,
        elementHead(s, 0x40, 0xa730, "SQ", innerSeq.length + 8),
        item(s, innerSeq.length),
        innerSeq,
        tail(s)
      ]),
      boundary: h.length
    })
    // a lying length after the UIDs: the file ends long before it
    out.push({
      name: `${n} lying length`,
      bytes: join([h, elementHead(s, 0x42, 0x11, "OB", 0xfffffff0), filled(MiB + 6), tail(s)]),
      boundary: h.length
    })
    // 4 MiB of 64 KiB elements, then a small one
    const smalls = Array.from({ length: 70 }, (_, i) =>
      join([elementHead(s, 0x43, 0x1000 + i, "OB", 65536), filled(65536)])
    )
    let at = h.length
    let boundary = 0
    for (const e of smalls) {
      if (boundary === 0 && at - meta(s, "6.1.1.1").length > Header.DEFAULT_MAX_HEADER_BYTES) boundary = at
      at += e.length
    }
    out.push({ name: `${n} 4 MiB of small elements`, bytes: join([h, ...smalls, tail(s)]), boundary })
  }
  return out
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex")

// Past DEFAULT_MAX_HEADER_BYTES the header ends at the element being read when the chunk that passed them came
// (by design: which one depends on the chunks), so there only the attributes before the 4 MiB are compared.
const summary = (r: Result.Result<Header.Header, { readonly reason: string }>, early: boolean) =>
  Result.isSuccess(r)
    ? JSON.stringify({
        sop: r.success.sopInstanceUid,
        study: r.success.studyInstanceUid,
        series: r.success.seriesInstanceUid,
        dataset: early ? { ...r.success.dataset, CalibrationImage: undefined } : r.success.dataset,
        warnings: r.success.warnings
      })
    : `refused`

describe("archive header end, attacked", () => {
  for (const c of cases()) {
    it.live(`${c.name}: the same header and the same bytes at every split around the header's end`, () =>
      inFreshArchive(
        Effect.gen(function* () {
          const archive = yield* Archive
          const early = c.name.includes("4 MiB")
          const whole = summary(Header.fromBytes(c.bytes), early)
          for (let split = c.boundary - 14; split <= c.boundary + 14; split++) {
            const pieces = [c.bytes.subarray(0, split), c.bytes.subarray(split, split + 7), c.bytes.subarray(split + 7)]
            const peeked = yield* Effect.result(Header.peek(pieces))
            assert.strictEqual(
              Result.isSuccess(peeked) ? summary(Result.succeed(peeked.success.header), early) : "refused",
              whole,
              `split ${split}`
            )
            const stored = yield* Effect.result(archive.store(pieces))
            if (Result.isSuccess(stored)) {
              const file = new Uint8Array(yield* Effect.promise(() => Fs.readFile(stored.success.record.filePath)))
              assert.strictEqual(sha(file), sha(c.bytes), `split ${split}`)
              assert.notInclude(c.name, "lying", "a truncated data set was stored")
            } else assert.include(["InvalidInstance"], stored.failure._tag, `split ${split}`)
          }
        })
      )
    )
  }
})

describe("archive header end, split in the File Meta Information", () => {
  it.live("a file split at every offset of its meta and first elements gives the same header and bytes", () =>
    inFreshArchive(
      Effect.gen(function* () {
        const archive = yield* Archive
        const h = head(EXPLICIT, "6.2.1.1")
        const bytes = join([h, elementHead(EXPLICIT, 0x42, 0x11, "OB", MiB + 2), filled(MiB + 2), tail(EXPLICIT)])
        const whole = summary(Header.fromBytes(bytes), false)
        for (let split = 1; split <= h.length + 16; split++) {
          const pieces = [bytes.subarray(0, split), bytes.subarray(split)]
          const peeked = yield* Header.peek(pieces)
          assert.strictEqual(summary(Result.succeed(peeked.header), false), whole, `split ${split}`)
        }
        const stored = yield* archive.store([bytes.subarray(0, 5), bytes.subarray(5, 150), bytes.subarray(150)])
        const file = new Uint8Array(yield* Effect.promise(() => Fs.readFile(stored.record.filePath)))
        assert.strictEqual(sha(file), sha(bytes))
      })
    )
  )
})
