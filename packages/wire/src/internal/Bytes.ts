/**
 * A bounds-checked cursor over bytes and a growable writer, used by the PDU codec.
 *
 * The reader never allocates: strings are decoded from views, and every read checks its bounds
 * first. Reads past the end throw a private `OutOfBounds` that the codec turns into a typed error
 * at its public edge; nothing thrown here escapes the package.
 *
 * @internal
 */

/** Thrown by the reader when a read would pass its end; caught by the codec. */
export class OutOfBounds {
  readonly offset: number
  readonly wanted: number
  constructor(offset: number, wanted: number) {
    this.offset = offset
    this.wanted = wanted
  }
}

const latin1 = new TextDecoder("latin1")

/** A cursor over `bytes[start, end)`; `offset` is absolute in `bytes`. */
export class Reader {
  readonly bytes: Uint8Array
  readonly end: number
  offset: number

  // No DataView: a reader is made per item and sub-item of an A-ASSOCIATE PDU, and big-endian integers are two or
  // four bytes shifted together.
  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.bytes = bytes
    this.offset = start
    this.end = end
  }

  get remaining(): number {
    return this.end - this.offset
  }

  private need(n: number): void {
    if (n < 0 || this.offset + n > this.end) throw new OutOfBounds(this.offset, n)
  }

  // The fixed-size reads check their bounds inline (no call to `need`): an A-ASSOCIATE PDU is read a byte or two at
  // a time.
  u8(): number {
    if (this.offset >= this.end) throw new OutOfBounds(this.offset, 1)
    return this.bytes[this.offset++]!
  }

  u16(): number {
    const o = this.offset
    if (o + 2 > this.end) throw new OutOfBounds(o, 2)
    this.offset = o + 2
    return (this.bytes[o]! << 8) | this.bytes[o + 1]!
  }

  u32(): number {
    const o = this.offset
    if (o + 4 > this.end) throw new OutOfBounds(o, 4)
    this.offset = o + 4
    const b = this.bytes
    return b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!)
  }

  skip(n: number): void {
    this.need(n)
    this.offset += n
  }

  /** A view of the next `n` bytes (no copy). */
  view_(n: number): Uint8Array {
    this.need(n)
    const v = this.bytes.subarray(this.offset, this.offset + n)
    this.offset += n
    return v
  }

  /** A copy of the next `n` bytes, for values kept beyond the life of the receive buffer. */
  copy(n: number): Uint8Array {
    // Not `.slice()`: on a Node Buffer that returns a view, not a copy.
    return new Uint8Array(this.view_(n))
  }

  /** The next `n` bytes as ISO 646 / Latin-1 text, one character per byte. */
  text(n: number): string {
    return latin1.decode(this.view_(n))
  }
}

/** A writer that grows as needed; `finish` returns a view of what was written. */
export class Writer {
  private buf: Uint8Array
  private view: DataView
  offset = 0

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial)
    this.view = new DataView(this.buf.buffer)
  }

  /**
   * Starts writing again from the beginning, keeping the buffer (every byte before `offset` is written again before
   * `finish`): for a writer kept and reused by one encoder, whose result is copied out before the next use. A buffer
   * grown past `keep` bytes is given up for one of `initial`.
   */
  restart(initial: number, keep: number): this {
    this.offset = 0
    if (this.buf.length > keep) {
      this.buf = new Uint8Array(initial)
      this.view = new DataView(this.buf.buffer)
    }
    return this
  }

  private ensure(n: number): void {
    if (this.offset + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.offset + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.offset))
    this.buf = next
    this.view = new DataView(next.buffer)
  }

  // The fixed-size writes grow the buffer only when it is full (no call to `ensure` otherwise).
  u8(v: number): this {
    if (this.offset + 1 > this.buf.length) this.ensure(1)
    this.buf[this.offset++] = v
    return this
  }

  u16(v: number): this {
    if (this.offset + 2 > this.buf.length) this.ensure(2)
    this.view.setUint16(this.offset, v, false)
    this.offset += 2
    return this
  }

  u32(v: number): this {
    if (this.offset + 4 > this.buf.length) this.ensure(4)
    this.view.setUint32(this.offset, v, false)
    this.offset += 4
    return this
  }

  zeros(n: number): this {
    this.ensure(n)
    this.buf.fill(0, this.offset, this.offset + n)
    this.offset += n
    return this
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length)
    this.buf.set(b, this.offset)
    this.offset += b.length
    return this
  }

  /** Writes each character's low byte (the caller has checked the text is ISO 646 / Latin-1). */
  text(s: string): this {
    this.ensure(s.length)
    for (let i = 0; i < s.length; i++) this.buf[this.offset++] = s.charCodeAt(i) & 0xff
    return this
  }

  /** Reserves a 2-byte length at the current offset; call the returned function once the body is written. */
  length16(): () => void {
    const at = this.offset
    this.u16(0)
    return () => this.view.setUint16(at, this.offset - at - 2, false)
  }

  /** Reserves a 4-byte length at the current offset; call the returned function once the body is written. */
  length32(): () => void {
    const at = this.offset
    this.u32(0)
    return () => this.view.setUint32(at, this.offset - at - 4, false)
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.offset)
  }
}
