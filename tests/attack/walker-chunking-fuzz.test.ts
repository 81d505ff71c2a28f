/**
 * Attack on ElementWalker's walk into sequences and items of defined length: random data sets (nested defined and
 * undefined lengths, in Explicit VR LE and BE and in Implicit VR with the dictionary's `vrOf`), then mutated (lying
 * lengths, delimiters dropped in anywhere, 0xFFFFFFFF over any four bytes, cuts), fed whole, in random chunks, and in
 * random chunks seeking over what `skippable` offers. The walk must never throw, and its verdict (whole, or which
 * problem) must not depend on the chunking or the seeking; an unmutated data set, hand-built or written by dcmjs
 * (`DataSet.encode`), is whole.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Result } from "effect"
import fc from "fast-check"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { DataSet, DataSetCheck, Part10 } from "@netdicom/net"
import { ElementWalker } from "@netdicom/wire"
import { vrOf } from "../../packages/net/src/dimse/Transcode.ts"

const EXPLICIT_LE = "1.2.840.10008.1.2.1"
const IMPLICIT_LE = "1.2.840.10008.1.2"
const EXPLICIT_BE = "1.2.840.10008.1.2.2"

interface Syntax {
  readonly uid: string
  readonly explicit: boolean
  readonly little: boolean
}
const SYNTAXES: ReadonlyArray<Syntax> = [
  { uid: EXPLICIT_LE, explicit: true, little: true },
  { uid: IMPLICIT_LE, explicit: false, little: true },
  { uid: EXPLICIT_BE, explicit: true, little: false }
]

type Node =
  | { readonly tag: number; readonly vr: string; readonly length: number }
  | {
      readonly tag: number
      readonly items: ReadonlyArray<{ readonly nodes: ReadonlyArray<Node>; readonly defined: boolean }>
      readonly defined: boolean
    }

// Tags whose dictionary VR is what is written here, so the Implicit VR walk (with `vrOf`) tells the sequences.
const VALUES: ReadonlyArray<readonly [number, string]> = [
  [0x00080018, "UI"],
  [0x00100010, "PN"],
  [0x00091010, "LO"],
  [0x00081030, "LO"],
  [0x00420011, "OB"],
  [0x00080016, "UI"]
]
const SEQUENCES: ReadonlyArray<number> = [0x00081115, 0x0040a730, 0x00081199]
const LONG = new Set(["OB", "OW", "SQ", "UN", "UT"])

const node: fc.Memo<Node> = fc.memo((n) =>
  n <= 1
    ? valueNode
    : fc.oneof(
        { weight: 2, arbitrary: valueNode },
        {
          weight: 1,
          arbitrary: fc.record({
            tag: fc.constantFrom(...SEQUENCES),
            defined: fc.boolean(),
            items: fc.array(fc.record({ nodes: fc.array(node(n - 1), { maxLength: 3 }), defined: fc.boolean() }), {
              maxLength: 3
            })
          })
        }
      )
)
const valueNode: fc.Arbitrary<Node> = fc
  .tuple(fc.constantFrom(...VALUES), fc.integer({ min: 0, max: 12 }))
  .map(([[tag, vr], half]) => ({ tag, vr, length: half * 2 }))

class Writer {
  readonly parts: Array<Uint8Array> = []
  readonly syntax: Syntax
  constructor(syntax: Syntax) {
    this.syntax = syntax
  }
  u16(n: number) {
    const b = new Uint8Array(2)
    new DataView(b.buffer).setUint16(0, n, this.syntax.little)
    this.parts.push(b)
  }
  u32(n: number) {
    const b = new Uint8Array(4)
    new DataView(b.buffer).setUint32(0, n, this.syntax.little)
    this.parts.push(b)
  }
  tag(tag: number) {
    this.u16(tag >>> 16)
    this.u16(tag & 0xffff)
  }
  header(tag: number, vr: string, length: number) {
    this.tag(tag)
    if (!this.syntax.explicit) return this.u32(length)
    this.parts.push(new Uint8Array([vr.charCodeAt(0), vr.charCodeAt(1)]))
    if (LONG.has(vr)) {
      this.u16(0)
      this.u32(length)
    } else this.u16(length)
  }
  bytes(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.parts))
  }
}

const encodeNodes = (nodes: ReadonlyArray<Node>, syntax: Syntax): Uint8Array => {
  const w = new Writer(syntax)
  for (const n of nodes) {
    if ("length" in n) {
      w.header(n.tag, n.vr, n.length)
      w.parts.push(new Uint8Array(n.length).fill(0x31))
      continue
    }
    const items = new Writer(syntax)
    for (const item of n.items) {
      const body = encodeNodes(item.nodes, syntax)
      items.tag(0xfffee000)
      items.u32(item.defined ? body.length : 0xffffffff)
      items.parts.push(body)
      if (!item.defined) {
        items.tag(0xfffee00d)
        items.u32(0)
      }
    }
    const body = items.bytes()
    w.header(n.tag, "SQ", n.defined ? body.length : 0xffffffff)
    w.parts.push(body)
    if (!n.defined) {
      w.tag(0xfffee0dd)
      w.u32(0)
    }
  }
  return w.bytes()
}

type Mutation =
  | { readonly kind: "cut"; readonly at: number }
  | { readonly kind: "undefined"; readonly at: number }
  | { readonly kind: "u32"; readonly at: number; readonly value: number }
  | { readonly kind: "byte"; readonly at: number; readonly value: number }
  | { readonly kind: "insert"; readonly at: number; readonly tag: number; readonly length: number }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("undefined" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("u32" as const), at: fc.nat(), value: fc.nat() }),
  fc.record({ kind: fc.constant("byte" as const), at: fc.nat(), value: fc.nat(255) }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    tag: fc.constantFrom(0xfffee000, 0xfffee00d, 0xfffee0dd),
    length: fc.oneof(fc.constant(0), fc.constant(0xffffffff), fc.nat(64))
  })
)

const mutate = (bytes: Uint8Array, m: Mutation, little: boolean): Uint8Array => {
  if (bytes.length === 0) return bytes
  const at = m.at % bytes.length
  const out = new Uint8Array(bytes)
  const view = new DataView(out.buffer)
  switch (m.kind) {
    case "cut":
      return bytes.subarray(0, at)
    case "byte":
      out[at] = m.value
      return out
    case "undefined":
    case "u32":
      if (at + 4 <= out.length) view.setUint32(at, m.kind === "u32" ? m.value : 0xffffffff, little)
      return out
    case "insert": {
      const piece = new Uint8Array(8)
      const pv = new DataView(piece.buffer)
      pv.setUint16(0, m.tag >>> 16, little)
      pv.setUint16(2, m.tag & 0xffff, little)
      pv.setUint32(4, m.length, little)
      return new Uint8Array(Buffer.concat([bytes.subarray(0, at), piece, bytes.subarray(at)]))
    }
  }
}

interface Verdict {
  readonly problem: string | undefined
  readonly bulkAt: number | undefined
}

const options = { vrOf, bulkValue: 16 }

// Fed in pieces cut at `cuts` (positions into the bytes, any order); with `seek`, value bytes `skippable` offers are
// passed over (`pass`) instead of pushed.
const walk = (syntax: Syntax, bytes: Uint8Array, cuts: ReadonlyArray<number>, seek: boolean): Verdict => {
  const walker = ElementWalker.make(syntax.uid, options)
  const bounds = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  let at = 0
  for (const end of [...bounds, bytes.length]) {
    while (at < end) {
      const skippable = seek ? walker.skippable() : 0
      if (skippable > 0) {
        const n = Math.min(skippable, end - at)
        walker.pass(n)
        at += n
        continue
      }
      walker.push(bytes.subarray(at, end))
      at = end
    }
  }
  return { problem: walker.finish()?.detail, bulkAt: walker.bulkAt() }
}

const treeCase = fc.record({
  syntax: fc.constantFrom(...SYNTAXES),
  nodes: fc.array(node(4), { maxLength: 5 }),
  mutations: fc.array(mutation, { maxLength: 3 }),
  cuts: fc.array(fc.nat(), { maxLength: 12 })
})

describe("walker-chunking-fuzz", () => {
  it("a whole data set with sequences and items of defined and undefined length is whole, however it is fed", () => {
    fc.assert(
      fc.property(treeCase, ({ syntax, nodes, cuts }) => {
        const bytes = encodeNodes(nodes, syntax)
        for (const seek of [false, true]) {
          assert.strictEqual(walk(syntax, bytes, [], seek).problem, undefined)
          assert.strictEqual(walk(syntax, bytes, cuts, seek).problem, undefined)
        }
      }),
      { numRuns: 300 }
    )
  })

  it("a mutated data set gets the same verdict fed whole, in chunks, and seeking, and never throws", () => {
    fc.assert(
      fc.property(treeCase, ({ syntax, nodes, mutations, cuts }) => {
        const bytes = mutations.reduce((b, m) => mutate(b, m, syntax.little), encodeNodes(nodes, syntax))
        const whole = walk(syntax, bytes, [], false)
        assert.deepStrictEqual(walk(syntax, bytes, cuts, false), whole)
        assert.deepStrictEqual(walk(syntax, bytes, cuts, true), whole)
        assert.deepStrictEqual(walk(syntax, bytes, [...Array(bytes.length).keys()], false), whole)
      }),
      { numRuns: 1500 }
    )
  })

  it("sequences nested past the walker's depth are refused, fed whole or a byte at a time, in any mix of lengths", () => {
    const chain = (depth: number, defined: (level: number) => boolean): ReadonlyArray<Node> => {
      let nodes: ReadonlyArray<Node> = [{ tag: 0x00080018, vr: "UI", length: 4 }]
      for (let level = 0; level < depth; level++) {
        const d = defined(level)
        nodes = [{ tag: SEQUENCES[level % SEQUENCES.length]!, defined: d, items: [{ nodes, defined: !d }] }]
      }
      return nodes
    }
    for (const syntax of SYNTAXES) {
      for (const defined of [() => true, () => false, (level: number) => level % 3 === 0]) {
        const shallow = encodeNodes(chain(20, defined), syntax)
        const deep = encodeNodes(chain(200, defined), syntax)
        const everyByte = (bytes: Uint8Array) => [...Array(bytes.length).keys()]
        for (const seek of [false, true]) {
          assert.strictEqual(walk(syntax, shallow, everyByte(shallow), seek).problem, undefined)
          assert.strictEqual(walk(syntax, deep, [], seek).problem, "sequences nested too deep")
          assert.strictEqual(walk(syntax, deep, everyByte(deep), seek).problem, "sequences nested too deep")
        }
      }
    }
  })

  it("random bytes get the same verdict however they are fed", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SYNTAXES),
        fc.uint8Array({ maxLength: 96 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (syntax, bytes, cuts) => {
          const whole = walk(syntax, bytes, [], false)
          assert.deepStrictEqual(walk(syntax, bytes, cuts, false), whole)
          assert.deepStrictEqual(walk(syntax, bytes, cuts, true), whole)
        }
      ),
      { numRuns: 800 }
    )
  })

  it("a data set written by dcmjs (DataSet.encode), sequences nested, is whole in each syntax, in chunks", () => {
    type Item = { readonly [k: string]: unknown }
    const item: fc.Memo<Item> = fc.memo((n) =>
      fc.record(
        {
          ReferencedSOPInstanceUID: fc.constantFrom("1.2.3", "1.2.840.10008.5.1.4.1.1.2", ""),
          CodeMeaning: fc.string({ maxLength: 20 }).map((s) => s.replace(/[^A-Za-z0-9 ]/g, "")),
          ...(n <= 1 ? {} : { ContentSequence: fc.array(item(n - 1), { maxLength: 2 }) })
        },
        { requiredKeys: [] }
      )
    )
    fc.assert(
      fc.property(
        fc.constantFrom(...SYNTAXES),
        fc.array(item(4), { maxLength: 3 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (syntax, items, cuts) => {
          const dataset = { PatientName: "Doe^J", SOPInstanceUID: "1.2.3.4", ContentSequence: items }
          const encoded = DataSet.encode(dataset, syntax.uid)
          assert.isTrue(Result.isSuccess(encoded))
          if (Result.isFailure(encoded)) return
          for (const seek of [false, true]) {
            assert.strictEqual(walk(syntax, encoded.success, cuts, seek).problem, undefined)
          }
        }
      ),
      { numRuns: 60 }
    )
  })

  it.effect("a bare data set file, sniffed and checked by seeking (DataSetCheck.check), gets the walk's verdict", () =>
    Effect.gen(function* () {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "walker-file-fuzz-"))
      try {
        const cases = fc.sample(
          fc.record({ tree: treeCase, big: fc.option(fc.integer({ min: 70_000, max: 200_000 })) }),
          { numRuns: 60, seed: 20 }
        )
        let i = 0
        for (const { tree, big } of cases) {
          const { syntax, nodes, mutations } = tree
          const front: ReadonlyArray<Node> = [
            { tag: 0x00080016, vr: "UI", length: 6 },
            { tag: 0x00080018, vr: "UI", length: 6 },
            ...(big === null ? [] : [{ tag: 0x00420011, vr: "OB", length: big * 2 }])
          ]
          const bytes = mutations.reduce(
            (b, m) => mutate(b, m, syntax.little),
            encodeNodes([...front, ...nodes], syntax)
          )
          const file = Path.join(dir, `f${i++}`)
          Fs.writeFileSync(file, bytes)
          const meta = yield* Effect.exit(Part10.readSendableMeta(file))
          if (Exit.isFailure(meta)) {
            assert.isTrue(Cause.findErrorOption(meta.cause)._tag === "Some", Cause.pretty(meta.cause))
            continue
          }
          const { transferSyntaxUid, dataSetOffset } = meta.value
          const checked = yield* Effect.exit(DataSetCheck.check(file, dataSetOffset, transferSyntaxUid))
          const inMemory = DataSetCheck.checkBytes(bytes.subarray(dataSetOffset), transferSyntaxUid)
          if (Exit.isSuccess(checked)) assert.isTrue(Result.isSuccess(inMemory))
          else {
            const error = Cause.findErrorOption(checked.cause)
            assert.isTrue(error._tag === "Some", Cause.pretty(checked.cause))
            assert.isTrue(Result.isFailure(inMemory))
            if (error._tag === "Some" && Result.isFailure(inMemory)) {
              assert.strictEqual(error.value.detail, inMemory.failure.detail)
            }
          }
        }
      } finally {
        Fs.rmSync(dir, { recursive: true, force: true })
      }
    })
  )
})
