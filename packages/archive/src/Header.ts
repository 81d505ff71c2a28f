/**
 * Reading the attributes of a stored instance: the File Meta Information (PS3.10 7.1) and the data set up to, but
 * not including, Pixel Data (7FE0,0010). Values are decoded by dcmjs, which honours a single-valued Specific
 * Character Set (0008,0005, PS3.5 6.1); `Charset` decodes again what dcmjs leaves of ISO 2022 code extensions
 * (several values, PS3.5 6.1.2.5). Strings come back as Unicode.
 *
 * The header is found without reading the whole file: a prefix is parsed and doubled until dcmjs reaches Pixel
 * Data or the end of the data, so a 1 GB image costs a few kilobytes here. What could not be decoded is listed in
 * `warnings`.
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs/promises"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import { Part10 as FileMeta } from "@netdicom/net"
import { ElementWalker, Text } from "@netdicom/wire"
import { InvalidInstance, StoreFailed } from "./ArchiveError.ts"
import * as Charset from "./Charset.ts"
import * as Dcmjs from "./internal/Dcmjs.ts"
import * as Part10 from "./Part10.ts"
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
}

/** What the index keeps about a stored instance. */
export interface InstanceRecord extends Header {
  /** Where the Part 10 file is. */
  readonly filePath: string
  /** Its size in bytes. */
  readonly fileSize: number
}

/** One attempt at parsing a prefix of a file. */
export type ParseStep =
  | { readonly _tag: "Parsed"; readonly header: Header }
  | { readonly _tag: "NeedMore" }
  | { readonly _tag: "Invalid"; readonly reason: string }

/** Size of the first prefix tried. */
export const INITIAL_PREFIX = 64 * 1024

/** Largest header accepted from a stream before giving up (a header must end before this many bytes). */
export const DEFAULT_MAX_HEADER_BYTES = 64 * 1024 * 1024

const PIXEL_DATA = "7FE00010"
const SPECIFIC_CHARACTER_SET = "00080005"

const firstString = (value: unknown): string => {
  const v = Array.isArray(value) ? (value as ReadonlyArray<unknown>)[0] : value
  return typeof v === "string" ? Text.trimEnd(v, "\0 ").trim() : ""
}

const isBinary = (value: unknown): boolean => value instanceof ArrayBuffer || ArrayBuffer.isView(value)

/** A JSON-safe copy of a naturalized value with binary values removed. */
const stripBinary = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.filter((v) => !isBinary(v)).map(stripBinary)
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) {
      if (isBinary(v) || (Array.isArray(v) && v.length > 0 && v.every(isBinary))) continue
      out[k] = stripBinary(v)
    }
    return out
  }
  return value
}

const readDict = (bytes: Uint8Array, ignoreErrors: boolean): Dcmjs.DicomDictInstance =>
  Dcmjs.readFile(new Uint8Array(bytes).buffer, { ignoreErrors, untilTag: PIXEL_DATA, includeUntilTagValue: false })

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

/** Parses a prefix of Part 10 bytes; `complete` says the prefix is the whole file. Never throws. */
export const parse = (bytes: Uint8Array, complete: boolean): ParseStep => {
  const problem = structuralProblem(bytes)
  if (problem !== undefined) return { _tag: "Invalid", reason: `truncated or malformed data set: ${problem}` }
  const warnings: Array<string> = []
  let file: Dcmjs.DicomDictInstance
  let lenient = false
  try {
    try {
      file = readDict(bytes, false)
    } catch (cause) {
      // dcmjs refuses several character sets (Charset decodes those again below) and unknown ones
      if (!/character set/i.test(String(cause))) throw cause
      if (!/multiple character sets/i.test(String(cause))) {
        warnings.push(`${String(cause).replace(/^Error: /, "")}; decoded as ISO-8859-1`)
      }
      file = readDict(bytes, true)
      lenient = true
    }
  } catch (cause) {
    return complete ? { _tag: "Invalid", reason: `cannot parse Part 10 file: ${String(cause)}` } : { _tag: "NeedMore" }
  }
  if (!complete && !(PIXEL_DATA in file.dict)) return { _tag: "NeedMore" }
  if (lenient && !(PIXEL_DATA in file.dict)) {
    // dcmjs in ignoreErrors mode returns what it read before an error (a sequence item it could not decode)
    warnings.push("dcmjs stopped before the end of the data set; later attributes are not indexed")
  }
  const dataSetOffset = Part10.dataSetOffset(bytes)
  if (dataSetOffset === undefined) return { _tag: "Invalid", reason: "no File Meta Information Group Length" }
  const charset = file.dict[SPECIFIC_CHARACTER_SET]?._rawValue
  const dict = { ...file.dict }
  delete dict[PIXEL_DATA]
  const terms = Array.isArray(charset) ? charset.map((c) => String(c).trim()) : []
  const meta = stripBinary(Dcmjs.naturalize(file.meta)) as Dataset
  let dataset = stripBinary(Dcmjs.naturalize(dict)) as Dataset
  if (Charset.usesCodeExtensions(terms)) {
    const redecoded = Charset.redecode(dataset, terms)
    dataset = redecoded.dataset
    if (redecoded.unresolved > 0) {
      warnings.push(`${redecoded.unresolved} value(s) with ISO 2022 escape sequences could not be decoded`)
    }
  }
  const header = {
    meta,
    dataset,
    transferSyntaxUid: firstString(meta["TransferSyntaxUID"]),
    dataSetOffset,
    specificCharacterSet: terms.join("\\"),
    sopClassUid: firstString(dataset["SOPClassUID"]) || firstString(meta["MediaStorageSOPClassUID"]),
    sopInstanceUid: firstString(dataset["SOPInstanceUID"]) || firstString(meta["MediaStorageSOPInstanceUID"]),
    studyInstanceUid: firstString(dataset["StudyInstanceUID"]),
    seriesInstanceUid: firstString(dataset["SeriesInstanceUID"]),
    warnings
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

/** Reads the header of Part 10 bytes held in memory. */
export const fromBytes = (bytes: Uint8Array): Result.Result<Header, InvalidInstance> => {
  let length = Math.min(INITIAL_PREFIX, bytes.length)
  while (true) {
    const step = parse(bytes.subarray(0, length), length === bytes.length)
    if (step._tag === "Parsed") return Result.succeed(step.header)
    if (step._tag === "Invalid") return Result.fail(new InvalidInstance({ reason: step.reason }))
    length = Math.min(length * 2, bytes.length)
  }
}

/** Reads the header of a Part 10 file on disk, reading only as much of it as needed. */
export const fromFile = (path: string): Effect.Effect<InstanceRecord, InvalidInstance | StoreFailed> =>
  Effect.gen(function* () {
    const read = yield* Effect.tryPromise({
      try: async () => {
        const handle = await Fs.open(path, "r")
        try {
          const { size } = await handle.stat()
          let buffer = new Uint8Array(Math.min(INITIAL_PREFIX, size))
          let filled = 0
          while (true) {
            while (filled < buffer.length) {
              const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled)
              if (bytesRead === 0) break
              filled += bytesRead
            }
            const step = parse(buffer.subarray(0, filled), filled >= size || filled < buffer.length)
            if (step._tag !== "NeedMore") return { step, size }
            const bigger = new Uint8Array(Math.min(buffer.length * 2, size))
            bigger.set(buffer.subarray(0, filled))
            buffer = bigger
          }
        } finally {
          await handle.close()
        }
      },
      catch: (cause) => new StoreFailed({ operation: "read", path, cause })
    })
    if (read.step._tag === "Invalid") return yield* new InvalidInstance({ reason: read.step.reason, path })
    return { ...read.step.header, filePath: path, fileSize: read.size }
  })

/** A stream whose header was read: the chunks consumed so far and the rest of the source. */
export interface Peeked {
  readonly header: Header
  /** The source again from its first byte: buffered chunks, then whatever was not consumed. */
  readonly bytes: AsyncIterable<Uint8Array>
}

const concat = (chunks: ReadonlyArray<Uint8Array>, total: number): Uint8Array => {
  const out = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}

/**
 * Reads chunks from a source until the header can be parsed, keeping them so the caller can still write every
 * byte. Fails when no header ends within `maxHeaderBytes`.
 */
export const peek = (
  source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  maxHeaderBytes: number = DEFAULT_MAX_HEADER_BYTES
): Effect.Effect<Peeked, InvalidInstance | StoreFailed> => {
  const iterator: AsyncIterator<Uint8Array> | Iterator<Uint8Array> =
    Symbol.asyncIterator in source
      ? (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
      : (source as Iterable<Uint8Array>)[Symbol.iterator]()
  const release = async (): Promise<void> => {
    try {
      await iterator.return?.()
    } catch {
      // the source's own cleanup failed; nothing more to do
    }
  }
  const read = Effect.gen(function* () {
    const chunks: Array<Uint8Array> = []
    let total = 0
    let threshold = INITIAL_PREFIX
    let done = false
    while (true) {
      if (!done && total < threshold) {
        const next = yield* Effect.tryPromise({
          try: async () => iterator.next(),
          catch: (cause) => new StoreFailed({ operation: "read source", path: "<stream>", cause })
        })
        if (next.done === true) done = true
        else {
          chunks.push(next.value)
          total += next.value.length
        }
        continue
      }
      const step = parse(concat(chunks, total), done)
      if (step._tag === "Invalid") return yield* new InvalidInstance({ reason: step.reason })
      if (step._tag === "Parsed") return { header: step.header, bytes: resume(chunks, done ? undefined : iterator) }
      if (total >= maxHeaderBytes) {
        return yield* new InvalidInstance({ reason: `no end of header within ${maxHeaderBytes} bytes` })
      }
      threshold = Math.min(threshold * 2, maxHeaderBytes)
    }
  })
  return Effect.onExit(read, (exit) => (Exit.isSuccess(exit) ? Effect.void : Effect.promise(release)))
}

/** The buffered chunks, then the rest of the source; stopping early releases the source. */
async function* resume(
  chunks: ReadonlyArray<Uint8Array>,
  rest: AsyncIterator<Uint8Array> | Iterator<Uint8Array> | undefined
): AsyncGenerator<Uint8Array> {
  yield* chunks
  if (rest === undefined) return
  let finished = false
  try {
    while (true) {
      const next = await rest.next()
      if (next.done === true) {
        finished = true
        return
      }
      yield next.value
    }
  } finally {
    if (!finished) await rest.return?.()
  }
}
