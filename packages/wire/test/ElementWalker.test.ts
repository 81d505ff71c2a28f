/**
 * ElementWalker against data sets encoded here by hand (so the element boundaries are known): a whole data set is
 * whole however it is chunked; a data set cut anywhere but between two top-level elements is not; and the
 * problems a hostile or truncated data set shows are named.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as ElementWalker from "../src/ElementWalker.ts"

const EXPLICIT_LE = "1.2.840.10008.1.2.1"
const IMPLICIT_LE = "1.2.840.10008.1.2"
const EXPLICIT_BE = "1.2.840.10008.1.2.2"
const DEFLATED = "1.2.840.10008.1.2.1.99"

type Node =
  | { readonly tag: number; readonly vr: string; readonly value: Uint8Array }
  | {
      readonly tag: number
      readonly vr: "SQ"
      readonly items: ReadonlyArray<ReadonlyArray<Node>>
      readonly defined?: boolean
    }

const LONG = new Set(["OB", "OW", "SQ", "UN", "UT"])

const u16 = (n: number, little: boolean) => {
  const b = new Uint8Array(2)
  new DataView(b.buffer).setUint16(0, n, little)
  return b
}
const u32 = (n: number, little: boolean) => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n, little)
  return b
}
const cat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => new Uint8Array(Buffer.concat(parts))
const ascii = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0)))

const tagBytes = (tag: number, little: boolean) => cat([u16(tag >>> 16, little), u16(tag & 0xffff, little)])

const encodeHeader = (tag: number, vr: string, length: number, explicit: boolean, little: boolean) =>
  !explicit
    ? cat([tagBytes(tag, little), u32(length, little)])
    : LONG.has(vr)
      ? cat([tagBytes(tag, little), ascii(vr), new Uint8Array(2), u32(length, little)])
      : cat([tagBytes(tag, little), ascii(vr), u16(length, little)])

const encode = (node: Node, explicit: boolean, little: boolean): Uint8Array => {
  if ("value" in node) return cat([encodeHeader(node.tag, node.vr, node.value.length, explicit, little), node.value])
  const items = node.items.map((item) => {
    const body = cat(item.map((n) => encode(n, explicit, little)))
    return node.defined === true
      ? cat([tagBytes(0xfffee000, little), u32(body.length, little), body])
      : cat([tagBytes(0xfffee000, little), u32(0xffffffff, little), body, tagBytes(0xfffee00d, little), u32(0, little)])
  })
  const body = cat(items)
  return node.defined === true
    ? cat([encodeHeader(node.tag, "SQ", body.length, explicit, little), body])
    : cat([
        encodeHeader(node.tag, "SQ", 0xffffffff, explicit, little),
        body,
        tagBytes(0xfffee0dd, little),
        u32(0, little)
      ])
}

// A small CT-like data set: strings, a nested sequence of undefined length, one of defined length, pixel data.
const sample: ReadonlyArray<Node> = [
  { tag: 0x00080016, vr: "UI", value: ascii("1.2.840.10008.5.1.4.1.1.2\0") },
  { tag: 0x00080018, vr: "UI", value: ascii("1.2.3.4.5.6\0") },
  {
    tag: 0x00081115,
    vr: "SQ",
    items: [
      [
        { tag: 0x0020000e, vr: "UI", value: ascii("1.2.3.4\0") },
        { tag: 0x00081199, vr: "SQ", items: [[{ tag: 0x00081155, vr: "UI", value: ascii("1.2.3.4.5\0") }]] }
      ],
      []
    ]
  },
  { tag: 0x00100010, vr: "PN", value: ascii("DOE^JOHN") },
  { tag: 0x00400275, vr: "SQ", defined: true, items: [[{ tag: 0x00321060, vr: "LO", value: ascii("CT HEAD ") }]] },
  { tag: 0x7fe00010, vr: "OW", value: new Uint8Array(300).map((_, i) => i & 0xff) }
]

const encoded = (syntax: string) => {
  const explicit = syntax !== IMPLICIT_LE
  const little = syntax !== EXPLICIT_BE
  const parts = sample.map((n) => encode(n, explicit, little))
  const boundaries = new Set<number>([0])
  let at = 0
  for (const p of parts) boundaries.add((at += p.length))
  return { bytes: cat(parts), boundaries }
}

// The dictionary's VRs of the sample's sequences, as `net/dimse/Transcode.vrOf` gives them (dcmjs's).
const SEQUENCES = new Set([0x00081115, 0x00081199, 0x00400275, 0x0040a730])
const vrOf = (tag: number) => (SEQUENCES.has(tag) ? "SQ" : "UI")

const walk = (syntax: string, chunks: ReadonlyArray<Uint8Array>) => {
  const w = ElementWalker.make(syntax, { vrOf })
  for (const c of chunks) w.push(c)
  return w.finish()
}

const chunked = (bytes: Uint8Array, cuts: ReadonlyArray<number>) => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Array<Uint8Array> = []
  let prev = 0
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(prev, p))
    prev = p
  }
  return out
}

describe("ElementWalker", () => {
  for (const syntax of [EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE]) {
    it(`${syntax}: whole however it is chunked`, () => {
      const { bytes } = encoded(syntax)
      fc.assert(
        fc.property(fc.array(fc.nat(), { maxLength: 40 }), (cuts) => {
          assert.isUndefined(walk(syntax, chunked(bytes, cuts)))
        })
      )
    })

    it(`${syntax}: a cut is seen unless it falls between two top-level elements`, () => {
      const { bytes, boundaries } = encoded(syntax)
      for (let cut = 0; cut < bytes.length; cut++) {
        const problem = walk(syntax, [bytes.subarray(0, cut)])
        if (boundaries.has(cut)) assert.isUndefined(problem, `cut at ${cut}`)
        else assert.isDefined(problem, `cut at ${cut}`)
      }
    })
  }

  for (const syntax of [EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE]) {
    it(`${syntax}: bulkAt is the first top-level element holding a value over bulkValue, or Pixel Data`, () => {
      const { bytes, boundaries } = encoded(syntax)
      const starts = [...boundaries].sort((a, b) => a - b)
      const pixelData = starts[starts.length - 2]!
      fc.assert(
        fc.property(fc.array(fc.nat(), { maxLength: 20 }), (cuts) => {
          // no value of the sample is longer than 26 bytes but Pixel Data's
          const w = ElementWalker.make(syntax, { bulkValue: 26 })
          for (const c of chunked(bytes, cuts)) w.push(c)
          assert.strictEqual(w.bulkAt(), pixelData)
          // (0008,0016) holds 26 bytes, the first value over 25
          const tight = ElementWalker.make(syntax, { bulkValue: 25 })
          for (const c of chunked(bytes, cuts)) tight.push(c)
          assert.strictEqual(tight.bulkAt(), 0)
        })
      )
      const w = ElementWalker.make(syntax)
      w.push(bytes.subarray(0, starts[3]! + 3))
      assert.isUndefined(w.bulkAt())
      assert.strictEqual(w.topStart(), starts[3])
    })
  }

  it("passing over what it would skip (as a file reader seeking) gives the verdict pushing every byte gives", () => {
    const { bytes } = encoded(EXPLICIT_LE)
    for (let cut = 0; cut <= bytes.length; cut++) {
      const data = bytes.subarray(0, cut)
      const w = ElementWalker.make(EXPLICIT_LE, { vrOf })
      let pos = 0
      while (pos < data.length) {
        const skip = Math.min(w.skippable(), data.length - pos)
        if (skip > 0) {
          w.pass(skip)
          pos += skip
        } else {
          w.push(data.subarray(pos, pos + 7))
          pos = Math.min(pos + 7, data.length)
        }
      }
      assert.deepStrictEqual(w.finish(), walk(EXPLICIT_LE, [data]), `cut at ${cut}`)
    }
  })

  it("a Pixel Data value shorter than its length is named, with the bytes missing", () => {
    const { bytes } = encoded(EXPLICIT_LE)
    const problem = walk(EXPLICIT_LE, [bytes.subarray(0, bytes.length - 62)])
    assert.match(problem?.detail ?? "", /\(7fe0,0010\) needs 300 bytes at byte \d+, the data set has 238/)
  })

  it("hostile structure: a stray delimiter, an item where none belongs, nesting past 64, no sequence delimiter", () => {
    const stray = cat([tagBytes(0xfffee00d, true), u32(0, true)])
    assert.match(walk(EXPLICIT_LE, [stray])?.detail ?? "", /unexpected \(fffe,e00d\)/)
    const notItem = cat([
      encodeHeader(0x00081115, "SQ", 0xffffffff, true, true),
      encodeHeader(0x00100010, "PN", 0, true, true)
    ])
    assert.match(walk(EXPLICIT_LE, [notItem])?.detail ?? "", /where an item of \(0008,1115\) was expected/)
    let deep: Node = { tag: 0x00100010, vr: "PN", value: ascii("X ") }
    for (let i = 0; i < 40; i++) deep = { tag: 0x00081115, vr: "SQ", items: [[deep]] }
    assert.match(walk(EXPLICIT_LE, [encode(deep, true, true)])?.detail ?? "", /nested too deep/)
    const open = encodeHeader(0x00081115, "SQ", 0xffffffff, true, true)
    assert.match(walk(EXPLICIT_LE, [open])?.detail ?? "", /\(0008,1115\) has no sequence delimiter/)
    // A hostile length is counted, never allocated: 4 GiB - 2 claimed by a 10-byte data set.
    const huge = cat([encodeHeader(0x7fe00010, "OB", 0xfffffffe, true, true), new Uint8Array(10)])
    assert.match(walk(EXPLICIT_LE, [huge])?.detail ?? "", /needs 4294967294 bytes/)
  })

  it("encapsulated pixel data: fragments of defined length pass, one of undefined length does not", () => {
    const item = (body: Uint8Array, undefinedLength = false) =>
      cat([tagBytes(0xfffee000, true), u32(undefinedLength ? 0xffffffff : body.length, true), body])
    const end = cat([tagBytes(0xfffee0dd, true), u32(0, true)])
    const pixels = (...items: Array<Uint8Array>) =>
      cat([encodeHeader(0x7fe00010, "OB", 0xffffffff, true, true), ...items, end])
    assert.isUndefined(walk(EXPLICIT_LE, [pixels(item(new Uint8Array(0)), item(new Uint8Array(6)))]))
    const nested = item(cat([encodeHeader(0x00100010, "PN", 2, true, true), ascii("X "), end]), true)
    assert.match(
      walk(EXPLICIT_LE, [pixels(item(new Uint8Array(0)), nested)])?.detail ?? "",
      /fragment of undefined length/
    )
  })

  describe("sequences and items of defined length are walked into, their ends checked", () => {
    const pn = (explicit: boolean, value: string) =>
      cat([encodeHeader(0x00100010, "PN", value.length, explicit, true), ascii(value)])
    const item = (length: number, body: Uint8Array) => cat([tagBytes(0xfffee000, true), u32(length, true), body])
    const sequence = (explicit: boolean, length: number, body: Uint8Array, tag = 0x0040a730) =>
      cat([encodeHeader(tag, "SQ", length, explicit, true), body])
    const ITEM_END = cat([tagBytes(0xfffee00d, true), u32(0, true)])
    const SEQ_END = cat([tagBytes(0xfffee0dd, true), u32(0, true)])
    // Each case: the data set, and what the problem says.
    const hostile = (explicit: boolean): ReadonlyArray<readonly [string, Uint8Array, RegExp]> => {
      const element = pn(explicit, "DOE^J ")
      return [
        [
          "an element running past its item",
          sequence(explicit, 8 + element.length, item(element.length - 2, element)),
          /\(0010,0010\) at byte \d+ \(6 bytes\) runs past the end of its item or sequence at byte \d+/
        ],
        [
          "an item running past its sequence",
          sequence(explicit, 8 + element.length, item(element.length + 2, element)),
          /an item at byte \d+ \(\d+ bytes\) runs past the end of its enclosing one/
        ],
        [
          "an item of undefined length whose delimiter is past the sequence",
          cat([sequence(explicit, 8 + element.length, item(0xffffffff, element)), ITEM_END]),
          /an item of undefined length is not delimited before the end of the one holding it/
        ],
        [
          "an item of undefined length never delimited, the data set ending with its sequence",
          sequence(explicit, 8 + element.length, item(0xffffffff, element)),
          /an item of undefined length is not delimited/
        ],
        [
          "a sequence delimiter in a sequence of defined length",
          sequence(explicit, 16, cat([item(0, new Uint8Array(0)), SEQ_END])),
          /a sequence delimiter at byte \d+ in \(0040,a730\) of defined length/
        ],
        [
          "an item delimiter in an item of defined length",
          sequence(explicit, 16, item(8, ITEM_END)),
          /an item delimiter at byte \d+ in an item of defined length/
        ],
        [
          "an element header crossing the end of its item",
          sequence(explicit, 8 + element.length, item(4, element)),
          /element header at byte \d+ runs past the end of its item or sequence/
        ],
        [
          "a sequence of undefined length in an item of defined length, never delimited there",
          (() => {
            const inner = sequence(explicit, 0xffffffff, item(0, new Uint8Array(0)), 0x00081115)
            return cat([sequence(explicit, 8 + inner.length, item(inner.length, inner)), SEQ_END])
          })(),
          /\(0008,1115\) of undefined length is not delimited before the end of the one holding it/
        ]
      ]
    }

    for (const explicit of [true, false]) {
      const syntax = explicit ? EXPLICIT_LE : IMPLICIT_LE
      for (const [name, body, pattern] of hostile(explicit)) {
        it(`${syntax}: ${name}`, () => {
          assert.match(walk(syntax, [body])?.detail ?? "whole", pattern)
          // Seen as it is pushed, byte after byte, not only at the end.
          const w = ElementWalker.make(syntax, { vrOf })
          for (let i = 0; i < body.length; i++) w.push(body.subarray(i, i + 1))
          assert.match(w.finish()?.detail ?? "whole", pattern)
        })
      }
    }

    it("Implicit VR: without the dictionary, or for a private tag, a sequence of defined length is a value", () => {
      const element = pn(false, "DOE^J ")
      const broken = sequence(false, 8 + element.length, item(2, element))
      const w = ElementWalker.make(IMPLICIT_LE)
      w.push(broken)
      assert.isUndefined(w.finish())
      const privateTag = sequence(false, 8 + element.length, item(2, element), 0x00091010)
      assert.isUndefined(walk(IMPLICIT_LE, [privateTag]))
      assert.isDefined(walk(IMPLICIT_LE, [broken]))
    })

    it("nesting of defined length counts toward the depth of 64, with no recursion", () => {
      let deep: Node = { tag: 0x00100010, vr: "PN", value: ascii("X ") }
      for (let i = 0; i < 1000; i++) deep = { tag: 0x00081115, vr: "SQ", defined: true, items: [[deep]] }
      const bytes = encode(deep, true, true)
      assert.match(walk(EXPLICIT_LE, [bytes])?.detail ?? "", /nested too deep/)
      let shallow: Node = { tag: 0x00100010, vr: "PN", value: ascii("X ") }
      for (let i = 0; i < 32; i++) shallow = { tag: 0x00081115, vr: "SQ", defined: i % 2 === 0, items: [[shallow]] }
      assert.isUndefined(walk(EXPLICIT_LE, [encode(shallow, true, true)]))
      assert.isUndefined(walk(IMPLICIT_LE, [encode(shallow, false, true)]))
    })
  })

  it("a deflated data set is not walked", () => {
    assert.isUndefined(walk(DEFLATED, [new Uint8Array([1, 2, 3])]))
  })
})
