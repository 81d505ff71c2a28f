/**
 * Reading the attributes of a stored instance: the File Meta Information (PS3.10 7.1) and the data set up to, but
 * not including, Pixel Data (7FE0,0010), in dcmjs's naturalized form. `HeaderScan` reads the plain elements itself,
 * as dcmjs decodes them, and gives dcmjs the rest (sequences, AT, UN); dcmjs reads the whole where the scan does not
 * (big endian, deflated, character sets other than none, ISO_IR 6, 100 and 192). dcmjs honours a single-valued
 * Specific Character Set (0008,0005, PS3.5 6.1); `Charset` decodes again what dcmjs leaves of ISO 2022 code
 * extensions (several values, PS3.5 6.1.2.5). Strings come back as Unicode.
 *
 * The header is found without reading the whole file: the element headers of the data set are walked until the
 * first top-level element that is Pixel Data or holds a value longer than `BULK_VALUE_BYTES` (or until
 * `DEFAULT_MAX_HEADER_BYTES` of data set), and the bytes before it are read once. A 1 GB image, a 200 MB
 * Encapsulated PDF or a large private OB value costs a few kilobytes here; attributes after the element that ends
 * the header are not read (stored, not indexed). What could not be decoded is listed in `warnings`.
 *
 * @since 0.1.0
 */
import { constants as FsConstants } from "node:fs"
import * as Fs from "node:fs/promises"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import { Part10 as FileMeta } from "@netdicom/net"
import { ElementWalker, Text, Uids } from "@netdicom/wire"
import { InvalidInstance, StoreFailed } from "./ArchiveError.ts"
import * as Charset from "./Charset.ts"
import * as Dcmjs from "./internal/Dcmjs.ts"
import * as HeaderScan from "./internal/HeaderScan.ts"
import { stripBinary } from "./internal/StripBinary.ts"
import { zlib } from "./internal/Zlib.ts"
import * as Part10 from "./Part10.ts"
import { opened, resume } from "./internal/Storing.ts"
import type { Dataset } from "./internal/Dcmjs.ts"

export type { Dataset } from "./internal/Dcmjs.ts"

/** The attributes of one instance, as read from its Part 10 bytes. */
export interface Header {
  /** Naturalized File Meta Information. */
  readonly meta: Dataset
  /** Naturalized data set without Pixel Data and without binary (OB/OW/UN...) values. */
  readonly dataset: Dataset
  readonly transferSyntaxUid: string
  /** Where the data set starts in the file: after the File Meta Information group. */
  readonly dataSetOffset: number
  /** Specific Character Set as written in the file ("" when absent); dcmjs already decoded the strings. */
  readonly specificCharacterSet: string
  readonly sopClassUid: string
  readonly sopInstanceUid: string
  readonly studyInstanceUid: string
  readonly seriesInstanceUid: string
  /** Things dcmjs could only partly honour (multi-valued character sets). */
  readonly warnings: ReadonlyArray<string>
  /**
   * Present when the data set lacks (0008,0016) or (0008,0018) of its own: which of them `sopClassUid` and
   * `sopInstanceUid` took from the File Meta Information instead (a C-STORE of such a data set is refused).
   */
  readonly sopUidsFromMeta?: ReadonlyArray<SopUidName>
}

/** The SOP UIDs of a data set, by name, as `sopUidsFromMeta` lists them. */
export type SopUidName = "SOP Class UID" | "SOP Instance UID"

/** Which of a data set's own SOP Class and Instance UIDs are empty (their meta's stand in), when any is. */
export const sopUidsFromMeta = (
  sopClassUid: string,
  sopInstanceUid: string
): { readonly sopUidsFromMeta?: ReadonlyArray<SopUidName> } => {
  const missing: Array<SopUidName> = []
  if (sopClassUid === "") missing.push("SOP Class UID")
  if (sopInstanceUid === "") missing.push("SOP Instance UID")
  return missing.length === 0 ? {} : { sopUidsFromMeta: missing }
}

/** What the index keeps about a stored instance. */
export interface InstanceRecord extends Header {
  /** Where the Part 10 file is. */
  readonly filePath: string
  /** Its size in bytes. */
  readonly fileSize: number
  /**
   * Its modification time (`stat`'s `mtimeMs`) when it was read or written: `Archive.reconcile` reads again a file
   * whose time or size is no longer what the index recorded. Without it, the next reconcile reads the file.
   */
  readonly fileModifiedMs?: number
}

/** One attempt at parsing a prefix of a file. */
export type ParseStep =
  | { readonly _tag: "Parsed"; readonly header: Header }
  | { readonly _tag: "NeedMore" }
  | { readonly _tag: "Invalid"; readonly reason: string }

/** Size of the first prefix tried (a deflated data set is parsed at prefixes of doubling size from it). */
export const INITIAL_PREFIX = 64 * 1024

/**
 * The longest value the header reads: the top-level element that is Pixel Data or holds (at any depth) a value or
 * item longer than this ends the header, as Pixel Data does, and the instance's bytes from there on are only
 * stored. An Encapsulated PDF's document, a large private OB element or a long text is never held or parsed.
 */
export const BULK_VALUE_BYTES = 1024 * 1024

/**
 * Bytes of data set past which the header ends at the next top-level element (the one being read when they are
 * passed, so the header is at most this plus one value of `BULK_VALUE_BYTES` and one chunk); a deflated data set
 * whose header does not end within this many deflated bytes is refused.
 */
export const DEFAULT_MAX_HEADER_BYTES = 4 * 1024 * 1024

const PIXEL_DATA = "7FE00010"
const SPECIFIC_CHARACTER_SET = "00080005"
const META_START = 132

const firstString = (value: unknown): string => {
  const v = Array.isArray(value) ? (value as ReadonlyArray<unknown>)[0] : value
  return typeof v === "string" ? Text.trimEnd(v, "\0 ").trim() : ""
}

const readDict = (bytes: Uint8Array, ignoreErrors: boolean, untilTag: string): Dcmjs.DicomDictInstance =>
  Dcmjs.readFile(new Uint8Array(bytes).buffer, { ignoreErrors, untilTag, includeUntilTagValue: false })

// A structural problem already visible in the data set of a prefix (nesting far too deep, a delimiter out of
// place), found by walking its element headers before dcmjs is given it: dcmjs takes seconds over what the walk
// refuses in a millisecond (20,000 nested sequences, say).
const structuralProblem = (bytes: Uint8Array): string | undefined => {
  const meta = FileMeta.readMeta(bytes)
  if (Result.isFailure(meta)) return undefined
  const walker = ElementWalker.make(meta.success.transferSyntaxUid)
  walker.push(bytes.subarray(meta.success.dataSetOffset))
  return walker.seen()?.detail
}

/**
 * Parses a prefix of Part 10 bytes; `complete` says the prefix is the whole header: the file, or its bytes up to
 * the tag (4 bytes) of the top-level element `untilTag` that ends the header (Pixel Data by default). Never throws.
 */
export const parse = (bytes: Uint8Array, complete: boolean, untilTag: string = PIXEL_DATA): ParseStep => {
  // what the scan reads itself has no structure to check (no sequence, no item tag); what it gives dcmjs may
  let problem: string | undefined
  const checked = () => (problem = structuralProblem(bytes)) === undefined
  const scanned = complete ? HeaderScan.scan(bytes, parseInt(untilTag, 16), checked) : undefined
  if (problem !== undefined) return { _tag: "Invalid", reason: `truncated or malformed data set: ${problem}` }
  if (scanned === undefined) return parseWithDcmjs(bytes, complete, untilTag)
  return described(bytes, scanned.meta, scanned.dataset, scanned.terms, [])
}

// The whole prefix read by dcmjs: what `HeaderScan` leaves to it, and the warnings of what it could only partly read.
const parseWithDcmjs = (bytes: Uint8Array, complete: boolean, untilTag: string): ParseStep => {
  const problem = structuralProblem(bytes)
  if (problem !== undefined) return { _tag: "Invalid", reason: `truncated or malformed data set: ${problem}` }
  const warnings: Array<string> = []
  let file: Dcmjs.DicomDictInstance
  let lenient = false
  try {
    try {
      file = readDict(bytes, false, untilTag)
    } catch (cause) {
      // dcmjs refuses several character sets (Charset decodes those again below) and unknown ones
      if (!/character set/i.test(String(cause))) throw cause
      if (!/multiple character sets/i.test(String(cause))) {
        warnings.push(`${String(cause).replace(/^Error: /, "")}; decoded as ISO-8859-1`)
      }
      file = readDict(bytes, true, untilTag)
      lenient = true
    }
  } catch (cause) {
    return complete ? { _tag: "Invalid", reason: `cannot parse Part 10 file: ${String(cause)}` } : { _tag: "NeedMore" }
  }
  if (!complete && !(PIXEL_DATA in file.dict)) return { _tag: "NeedMore" }
  if (lenient && !(untilTag in file.dict)) {
    // dcmjs in ignoreErrors mode returns what it read before an error (a sequence item it could not decode)
    warnings.push("dcmjs stopped before the end of the data set; later attributes are not indexed")
  }
  const charset = file.dict[SPECIFIC_CHARACTER_SET]?._rawValue
  const dict = { ...file.dict }
  delete dict[PIXEL_DATA]
  delete dict[untilTag]
  const terms = Array.isArray(charset) ? charset.map((c) => String(c).trim()) : []
  let meta: Dataset
  let dataset: Dataset
  try {
    meta = stripBinary(Dcmjs.naturalize(file.meta)) as Dataset
    dataset = stripBinary(Dcmjs.naturalize(dict)) as Dataset
  } catch (cause) {
    // dcmjs's naturalized data set throws on some values it read (a number on a person name's tag)
    return { _tag: "Invalid", reason: `cannot read the data set's attributes: ${String(cause)}` }
  }
  if (Charset.usesCodeExtensions(terms)) {
    const redecoded = Charset.redecode(dataset, terms)
    dataset = redecoded.dataset
    if (redecoded.unresolved > 0) {
      warnings.push(`${redecoded.unresolved} value(s) with ISO 2022 escape sequences could not be decoded`)
    }
  }
  return described(bytes, meta, dataset, terms, warnings)
}

/** The header of naturalized meta and data set, or why it is no instance (a UID the archive needs is missing). */
const described = (
  bytes: Uint8Array,
  meta: Dataset,
  dataset: Dataset,
  terms: ReadonlyArray<string>,
  warnings: ReadonlyArray<string>
): ParseStep => {
  const dataSetOffset = Part10.dataSetOffset(bytes)
  if (dataSetOffset === undefined) return { _tag: "Invalid", reason: "no File Meta Information Group Length" }
  const header = {
    meta,
    // the items' text as the data set's character set has it (dcmjs reads items as windows-1252)
    dataset: Charset.redecodeItems(dataset, terms),
    transferSyntaxUid: firstString(meta["TransferSyntaxUID"]),
    dataSetOffset,
    specificCharacterSet: terms.join("\\"),
    sopClassUid: firstString(dataset["SOPClassUID"]) || firstString(meta["MediaStorageSOPClassUID"]),
    sopInstanceUid: firstString(dataset["SOPInstanceUID"]) || firstString(meta["MediaStorageSOPInstanceUID"]),
    studyInstanceUid: firstString(dataset["StudyInstanceUID"]),
    seriesInstanceUid: firstString(dataset["SeriesInstanceUID"]),
    warnings,
    ...sopUidsFromMeta(firstString(dataset["SOPClassUID"]), firstString(dataset["SOPInstanceUID"]))
  }
  for (const [name, value] of [
    ["Transfer Syntax UID", header.transferSyntaxUid],
    ["SOP Class UID", header.sopClassUid],
    ["SOP Instance UID", header.sopInstanceUid],
    ["Study Instance UID", header.studyInstanceUid],
    ["Series Instance UID", header.seriesInstanceUid]
  ] as const) {
    if (value === "") return { _tag: "Invalid", reason: `no ${name}` }
  }
  return { _tag: "Parsed", header }
}

const concat = (chunks: ReadonlyArray<Uint8Array>, length: number): Uint8Array => {
  const out = new Uint8Array(length)
  let offset = 0
  for (const chunk of chunks) {
    if (offset >= length) break
    const part = chunk.subarray(0, length - offset)
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/**
 * How many bytes a deflated data set's header may inflate to, as a multiple of the header limit: dcmjs inflates all
 * it is given (a prefix of 1 MiB of deflated zeros is a 1 GiB buffer), so it is given at most a prefix inflating to
 * this many bytes.
 */
export const INFLATED_HEADER_FACTOR = 4

// The first `length` deflated bytes inflated as far as they go (a truncated stream too), or "past" when that is more
// than `limit` bytes; a corrupt stream gives nothing (dcmjs says why).
const inflateUpTo = (deflated: Uint8Array, length: number, limit: number): Uint8Array | "past" => {
  try {
    return zlib().inflateRawSync(deflated.subarray(0, length), {
      finishFlush: zlib().constants.Z_SYNC_FLUSH,
      maxOutputLength: limit
    })
  } catch (cause) {
    return (cause as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE" ? "past" : new Uint8Array(0)
  }
}

const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, "0")

// The longest prefix of a deflated data set that inflates to at most `limit` bytes, inflated (binary search: each
// try stops at `limit` bytes of output).
const inflatable = (
  deflated: Uint8Array,
  limit: number
): { readonly length: number; readonly inflated: Uint8Array } => {
  const all = inflateUpTo(deflated, deflated.length, limit)
  if (all !== "past") return { length: deflated.length, inflated: all }
  let low = 0
  let high = deflated.length
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2)
    if (inflateUpTo(deflated, mid, limit) === "past") high = mid
    else low = mid
  }
  const inflated = inflateUpTo(deflated, low, limit)
  return { length: low, inflated: inflated === "past" ? new Uint8Array(0) : inflated }
}

const LATIN1 = new TextDecoder("latin1")
const LONG_META_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"])

/** The Transfer Syntax UID (0002,0010) of a File Meta Information group (Explicit VR Little Endian), if found. */
const metaTransferSyntax = (bytes: Uint8Array, end: number): string | undefined => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let at = META_START
  while (at + 8 <= end) {
    const element = view.getUint16(at + 2, true)
    const vr = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!)
    const long = LONG_META_VRS.has(vr)
    const length = long ? (at + 12 <= end ? view.getUint32(at + 8, true) : Infinity) : view.getUint16(at + 6, true)
    const start = at + (long ? 12 : 8)
    if (start + length > end) return undefined
    if (view.getUint16(at, true) === 0x0002 && element === 0x0010) {
      return Text.trimEnd(LATIN1.decode(bytes.subarray(start, start + length)), "\0 ").trim()
    }
    at = start + length
  }
  return undefined
}

/**
 * Reads the header of Part 10 bytes fed chunk by chunk, keeping the chunks: `push` gives the header (or why there
 * is none) as soon as it ends, `end` once every byte was fed. The data set's element headers are walked
 * (`ElementWalker`) to find where the header ends (`BULK_VALUE_BYTES`, `maxHeaderBytes`), and dcmjs parses that
 * prefix once; a deflated data set is looked at in prefixes of doubling size instead, up to `maxHeaderBytes`, each
 * inflated (at most `INFLATED_HEADER_FACTOR` times `maxHeaderBytes`) and walked the same way.
 */
const reader = (maxHeaderBytes: number) => {
  const chunks: Array<Uint8Array> = []
  let total = 0
  let dataSetOffset: number | undefined
  let walker: ElementWalker.ElementWalker | undefined
  let little = true
  let deflated = false
  let threshold = INITIAL_PREFIX

  // The header ends at `end`: dcmjs stops at the tag found there.
  const parseTo = (end: number): ParseStep => {
    if (end + 4 > total) return parse(concat(chunks, end), true)
    const bytes = concat(chunks, end + 4)
    const view = new DataView(bytes.buffer, end, 4)
    return parse(bytes, true, hex(view.getUint16(0, little)) + hex(view.getUint16(2, little)))
  }

  // A deflated data set: the bytes so far, cut where they would inflate past the limit (then the header must end
  // before the cut).
  const parseDeflated = (complete: boolean): ParseStep => {
    const bytes = concat(chunks, total)
    const offset = dataSetOffset ?? 0
    const limit = maxHeaderBytes * INFLATED_HEADER_FACTOR
    const { length: fits, inflated } = inflatable(bytes.subarray(offset), limit)
    const whole = offset + fits === total
    // the header ends where it would in other syntaxes (a bulk value, or past maxHeaderBytes), found by walking
    // the inflated bytes; dcmjs inflates only a whole stream, so it is given the header's bytes deflated again
    const walked = ElementWalker.make(Uids.TransferSyntax.ExplicitVRLittleEndian, { bulkValue: BULK_VALUE_BYTES })
    walked.push(inflated)
    const problem = walked.seen()
    if (problem !== undefined) return { _tag: "Invalid", reason: `truncated or malformed data set: ${problem.detail}` }
    const end = walked.bulkAt() ?? (inflated.length > maxHeaderBytes ? walked.topStart() : undefined)
    if (end !== undefined && end + 4 <= inflated.length) {
      const view = new DataView(inflated.buffer, inflated.byteOffset + end, 4)
      const header = zlib().deflateRawSync(inflated.subarray(0, end + 4), { level: 1 })
      const again = new Uint8Array(offset + header.length)
      again.set(bytes.subarray(0, offset))
      again.set(header, offset)
      return parse(again, true, hex(view.getUint16(0, true)) + hex(view.getUint16(2, true)))
    }
    if (!whole) {
      return { _tag: "Invalid", reason: `the deflated data set inflates past ${limit} bytes before its header ends` }
    }
    return complete ? parse(bytes, true) : { _tag: "NeedMore" }
  }

  const check = (): ParseStep | undefined => {
    if (walker === undefined || dataSetOffset === undefined) return undefined
    if (deflated) {
      if (total < threshold && total < maxHeaderBytes) return undefined
      const step = parseDeflated(false)
      if (step._tag !== "NeedMore") return step
      if (total >= maxHeaderBytes) return { _tag: "Invalid", reason: `no end of header within ${maxHeaderBytes} bytes` }
      threshold = Math.min(threshold * 2, maxHeaderBytes)
      return undefined
    }
    const bulk = walker.bulkAt()
    if (bulk !== undefined) return parseTo(dataSetOffset + bulk)
    const problem = walker.seen()
    if (problem !== undefined) return { _tag: "Invalid", reason: `truncated or malformed data set: ${problem.detail}` }
    if (total - dataSetOffset > maxHeaderBytes) return parseTo(dataSetOffset + walker.topStart())
    return undefined
  }

  const push = (chunk: Uint8Array): ParseStep | undefined => {
    chunks.push(chunk)
    total += chunk.length
    if (walker !== undefined) {
      if (!deflated) walker.push(chunk)
      return check()
    }
    if (dataSetOffset === undefined) {
      if (total < META_START + 12) return undefined
      dataSetOffset = Part10.dataSetOffset(concat(chunks, META_START + 12))
      // not Part 10 with a group length first: parse says why
      if (dataSetOffset === undefined) return parse(concat(chunks, Math.min(total, maxHeaderBytes)), true)
      if (dataSetOffset > maxHeaderBytes) {
        return { _tag: "Invalid", reason: `File Meta Information of ${dataSetOffset} bytes` }
      }
    }
    if (total < dataSetOffset) return undefined
    const transferSyntaxUid = metaTransferSyntax(concat(chunks, dataSetOffset), dataSetOffset)
    if (transferSyntaxUid === undefined) return parse(concat(chunks, Math.min(total, maxHeaderBytes)), true)
    const info = Uids.transferSyntaxInfo(transferSyntaxUid)
    little = info?.littleEndian ?? true
    deflated = info?.deflated === true
    walker = ElementWalker.make(transferSyntaxUid, { bulkValue: BULK_VALUE_BYTES })
    if (!deflated) {
      let at = 0
      for (const c of chunks) {
        if (at + c.length > dataSetOffset) walker.push(at >= dataSetOffset ? c : c.subarray(dataSetOffset - at))
        at += c.length
      }
    }
    return check()
  }

  const end = (): ParseStep => {
    if (dataSetOffset !== undefined && walker !== undefined) return deflated ? parseDeflated(true) : parseTo(total)
    return parse(concat(chunks, total), true)
  }

  return { chunks, push, end }
}

const parsed = (step: ParseStep): Result.Result<Header, InvalidInstance> =>
  step._tag === "Parsed"
    ? Result.succeed(step.header)
    : Result.fail(new InvalidInstance({ reason: step._tag === "Invalid" ? step.reason : "no header" }))

/** Reads the header of Part 10 bytes held in memory. */
export const fromBytes = (
  bytes: Uint8Array,
  maxHeaderBytes: number = DEFAULT_MAX_HEADER_BYTES
): Result.Result<Header, InvalidInstance> => {
  const read = reader(maxHeaderBytes)
  return parsed(read.push(bytes) ?? read.end())
}

/** Opens without waiting for a writer (a FIFO opens at once, and is then refused by its `fstat`). */
const READ_FLAGS = FsConstants.O_RDONLY | FsConstants.O_NONBLOCK

/**
 * Reads the header of a Part 10 file on disk, reading only as much of it as needed. Only a regular file is read:
 * anything else (a FIFO put in its place, which a plain open would wait on for ever, holding a thread of the pool)
 * fails with `StoreFailed`. With `noFollow`, a symbolic link as the file itself fails too (`O_NOFOLLOW`: the folders
 * on the way are the caller's to check).
 */
export const fromFile = (
  path: string,
  maxHeaderBytes: number = DEFAULT_MAX_HEADER_BYTES,
  options?: { readonly noFollow?: boolean }
): Effect.Effect<InstanceRecord, InvalidInstance | StoreFailed> =>
  Effect.gen(function* () {
    const read = yield* Effect.tryPromise({
      try: async () => {
        const handle = await Fs.open(
          path,
          options?.noFollow === true ? READ_FLAGS | FsConstants.O_NOFOLLOW : READ_FLAGS
        )
        try {
          const stat = await handle.stat()
          // a FIFO or device swapped in: refused here, turned into StoreFailed by the `catch` below
          if (!stat.isFile()) throw new Error("not a regular file")
          const { size, mtimeMs } = stat
          const headerReader = reader(maxHeaderBytes)
          let position = 0
          while (true) {
            const buffer = new Uint8Array(INITIAL_PREFIX)
            const { bytesRead } = await handle.read(buffer, 0, buffer.length, position)
            position += bytesRead
            const step = bytesRead === 0 ? headerReader.end() : headerReader.push(buffer.subarray(0, bytesRead))
            if (step !== undefined) return { step, size, mtimeMs }
          }
        } finally {
          await handle.close()
        }
      },
      catch: (cause) => new StoreFailed({ operation: "read", path, cause })
    })
    const header = yield* Effect.fromResult(parsed(read.step)).pipe(
      Effect.mapError((e) => new InvalidInstance({ reason: e.reason, path }))
    )
    return { ...header, filePath: path, fileSize: read.size, fileModifiedMs: read.mtimeMs }
  })

/** A stream whose header was read: the chunks consumed so far and the rest of the source. */
export interface Peeked {
  readonly header: Header
  /** The source again from its first byte: buffered chunks, then whatever was not consumed. */
  readonly bytes: AsyncIterable<Uint8Array>
}

/**
 * Reads chunks from a source until the header ends (see `reader`), keeping them so the caller can still write every
 * byte: what is held is the header and the chunk that ends it, never the instance's bulk values.
 */
export const peek = (
  source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  maxHeaderBytes: number = DEFAULT_MAX_HEADER_BYTES
): Effect.Effect<Peeked, InvalidInstance | StoreFailed> => {
  const { iterator, release } = opened(source)
  const read = Effect.gen(function* () {
    const headerReader = reader(maxHeaderBytes)
    while (true) {
      const next = yield* Effect.tryPromise({
        try: async () => iterator.next(),
        catch: (cause) => new StoreFailed({ operation: "read source", path: "<stream>", cause })
      })
      const done = next.done === true
      const step = done ? headerReader.end() : headerReader.push(next.value)
      if (step === undefined) continue
      const header = yield* Effect.fromResult(parsed(step))
      return { header, bytes: resume(headerReader.chunks, done ? undefined : iterator) }
    }
  })
  return Effect.onExit(read, (exit) => (Exit.isSuccess(exit) ? Effect.void : Effect.promise(release)))
}
