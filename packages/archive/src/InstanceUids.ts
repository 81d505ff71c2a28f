/**
 * The few values a store without an index needs of an instance, read from the start of its Part 10 bytes without
 * decoding the rest: the Transfer Syntax UID (0002,0010), where the data set starts (after the File Meta
 * Information group, whose group length (0002,0000) comes first, PS3.10 7.1), and the data set's SOP Class UID
 * (0008,0016), SOP Instance UID (0008,0018), Study Instance UID (0020,000D) and Series Instance UID (0020,000E),
 * found by a bounds-checked scan of its first top-level elements (`DataSet.scan` of `@netdicom/net`, PS3.5 7.1)
 * that stops at (0020,000E). Each UID is its first value with trailing NULs and spaces removed; the SOP UIDs fall
 * back to the meta's Media Storage ones (0002,0002), (0002,0003) when the data set has none, as `Header` does.
 *
 * A deflated data set (PS3.5 A.5) is read by `Header` instead (it inflates a prefix). Nothing else of the data set
 * is looked at here: the structure of the whole is the store's walk (`ElementWalker`) as it is written.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import { DataSet, Part10 as FileMeta } from "@netdicom/net"
import { Text, Uids } from "@netdicom/wire"
import { InvalidInstance, StoreFailed } from "./ArchiveError.ts"
import * as Header from "./Header.ts"
import { opened, resume } from "./internal/Storing.ts"
import * as Part10 from "./Part10.ts"

/** What storing an instance without an index takes from its bytes. */
export interface InstanceUids {
  readonly transferSyntaxUid: string
  /** Where the data set starts: after the File Meta Information group. */
  readonly dataSetOffset: number
  readonly sopClassUid: string
  readonly sopInstanceUid: string
  readonly studyInstanceUid: string
  readonly seriesInstanceUid: string
  /** Present when the data set lacks its own (0008,0016) or (0008,0018): the meta's stand in (`Header`). */
  readonly sopUidsFromMeta?: ReadonlyArray<Header.SopUidName>
}

/** One attempt at reading a prefix. */
export type ReadStep =
  | { readonly _tag: "Read"; readonly uids: InstanceUids }
  | { readonly _tag: "NeedMore" }
  | { readonly _tag: "Deflated" }
  | { readonly _tag: "Invalid"; readonly reason: string }

const SOP_CLASS_UID = 0x00080016
const SOP_INSTANCE_UID = 0x00080018
const STUDY_INSTANCE_UID = 0x0020000d
const SERIES_INSTANCE_UID = 0x0020000e
const META_START = 132

const LATIN1 = new TextDecoder("latin1")

/** A UI value as `Header` gives it: the first value, without trailing NULs and spaces, nor leading spaces. */
const uidText = (bytes: Uint8Array): string => {
  const text = LATIN1.decode(bytes)
  const first = text.includes("\\") ? text.slice(0, text.indexOf("\\")) : text
  return Text.trimEnd(first, "\0 ").trim()
}

const fromHeader = (header: Header.Header): InstanceUids => ({
  transferSyntaxUid: header.transferSyntaxUid,
  dataSetOffset: header.dataSetOffset,
  sopClassUid: header.sopClassUid,
  sopInstanceUid: header.sopInstanceUid,
  studyInstanceUid: header.studyInstanceUid,
  seriesInstanceUid: header.seriesInstanceUid,
  ...(header.sopUidsFromMeta === undefined ? {} : { sopUidsFromMeta: header.sopUidsFromMeta })
})

/**
 * Reads the UIDs from a prefix of Part 10 bytes; `complete` says no more bytes will come. A deflated data set is
 * `Deflated` (read it with `Header`). Never throws.
 */
export const read = (bytes: Uint8Array, complete: boolean): ReadStep => {
  if (!complete && bytes.length < META_START + 12) return { _tag: "NeedMore" }
  const dataSetOffset = Part10.dataSetOffset(bytes)
  if (dataSetOffset === undefined) return { _tag: "Invalid", reason: "no File Meta Information Group Length" }
  if (bytes.length < dataSetOffset) {
    return complete ? { _tag: "Invalid", reason: "the File Meta Information is cut short" } : { _tag: "NeedMore" }
  }
  // a meta without Media Storage UIDs takes them from the data set: a prefix may still be short of them
  const meta = FileMeta.readMeta(bytes)
  if (Result.isFailure(meta)) {
    return meta.failure._tag === "Truncated" && !complete
      ? { _tag: "NeedMore" }
      : { _tag: "Invalid", reason: meta.failure.message }
  }
  const transferSyntaxUid = meta.success.transferSyntaxUid
  const info = Uids.transferSyntaxInfo(transferSyntaxUid)
  if (info === undefined) return { _tag: "Invalid", reason: `unknown transfer syntax ${transferSyntaxUid}` }
  if (info.deflated) return { _tag: "Deflated" }
  const dataSet = bytes.subarray(dataSetOffset)
  const scanned = DataSet.scan(dataSet, transferSyntaxUid, { until: SERIES_INSTANCE_UID })
  if (Result.isFailure(scanned)) {
    return scanned.failure.kind === "Truncated" && !complete
      ? { _tag: "NeedMore" }
      : { _tag: "Invalid", reason: `truncated or malformed data set: ${scanned.failure.reason}` }
  }
  const elements = scanned.success
  const value = (tag: number): string => {
    const h = elements.find((e) => e.tag === tag)
    return h === undefined || h.length === undefined
      ? ""
      : uidText(dataSet.subarray(h.valueOffset, h.valueOffset + h.length))
  }
  const seriesInstanceUid = value(SERIES_INSTANCE_UID)
  // the scan ran out of bytes before it passed (0020,000E): more may hold it
  const last = elements.at(-1)
  if (!complete && seriesInstanceUid === "" && (last === undefined || last.end >= dataSet.length)) {
    return { _tag: "NeedMore" }
  }
  const uids: InstanceUids = {
    transferSyntaxUid,
    dataSetOffset,
    sopClassUid: value(SOP_CLASS_UID) || meta.success.mediaStorageSopClassUid,
    sopInstanceUid: value(SOP_INSTANCE_UID) || meta.success.mediaStorageSopInstanceUid,
    studyInstanceUid: value(STUDY_INSTANCE_UID),
    seriesInstanceUid,
    ...Header.sopUidsFromMeta(value(SOP_CLASS_UID), value(SOP_INSTANCE_UID))
  }
  for (const [name, v] of [
    ["SOP Class UID", uids.sopClassUid],
    ["SOP Instance UID", uids.sopInstanceUid],
    ["Study Instance UID", uids.studyInstanceUid],
    ["Series Instance UID", uids.seriesInstanceUid]
  ] as const) {
    if (v === "") return { _tag: "Invalid", reason: `no ${name}` }
  }
  return { _tag: "Read", uids }
}

/** Reads the UIDs of Part 10 bytes held in memory (`Header` for a deflated data set). */
export const fromBytes = (
  bytes: Uint8Array,
  maxHeaderBytes: number = Header.DEFAULT_MAX_HEADER_BYTES
): Result.Result<InstanceUids, InvalidInstance> => {
  const step = read(bytes, true)
  switch (step._tag) {
    case "Read":
      return Result.succeed(step.uids)
    case "Deflated":
      return Result.map(Header.fromBytes(bytes, maxHeaderBytes), fromHeader)
    case "NeedMore":
      return Result.fail(new InvalidInstance({ reason: "no header" }))
    case "Invalid":
      return Result.fail(new InvalidInstance({ reason: step.reason }))
  }
}

/** A stream whose UIDs were read: the chunks consumed so far and the rest of the source. */
export interface Peeked {
  readonly uids: InstanceUids
  /** The source again from its first byte: buffered chunks, then whatever was not consumed. */
  readonly bytes: AsyncIterable<Uint8Array>
}

const concat = (chunks: ReadonlyArray<Uint8Array>, length: number): Uint8Array => {
  if (chunks.length === 1) return chunks[0]!
  const out = new Uint8Array(length)
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.length
  }
  return out
}

/**
 * Reads chunks from a source until the UIDs are found, keeping them so the caller can still write every byte. The
 * bytes so far are read again each time they have doubled, so a header is copied a few times at most; past
 * `maxHeaderBytes` of data set without (0020,000E) the instance is refused. A deflated data set goes to
 * `Header.peek`.
 */
export const peek = (
  source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  maxHeaderBytes: number = Header.DEFAULT_MAX_HEADER_BYTES
): Effect.Effect<Peeked, InvalidInstance | StoreFailed> => {
  const { iterator, release } = opened(source)
  const chunks: Array<Uint8Array> = []
  const readAll = Effect.gen(function* () {
    let total = 0
    let tryAt = 0
    while (true) {
      const next = yield* Effect.tryPromise({
        try: async () => iterator.next(),
        catch: (cause) => new StoreFailed({ operation: "read source", path: "<stream>", cause })
      })
      const done = next.done === true
      if (!done) {
        chunks.push(next.value)
        total += next.value.length
        if (total < tryAt) continue
      }
      const step = read(concat(chunks, total), done)
      switch (step._tag) {
        case "Read":
          return { uids: step.uids, bytes: resume(chunks, done ? undefined : iterator) }
        case "Deflated": {
          const peeked = yield* Header.peek(resume(chunks, done ? undefined : iterator), maxHeaderBytes)
          return { uids: fromHeader(peeked.header), bytes: peeked.bytes }
        }
        case "Invalid":
          return yield* Effect.fail(new InvalidInstance({ reason: step.reason }))
        case "NeedMore":
          if (done) return yield* Effect.fail(new InvalidInstance({ reason: "no header" }))
          if (total > maxHeaderBytes + META_START) {
            return yield* Effect.fail(
              new InvalidInstance({ reason: `no Series Instance UID within the first ${maxHeaderBytes} bytes` })
            )
          }
          tryAt = total * 2
      }
    }
  })
  return Effect.onExit(readAll, (exit) => (Exit.isSuccess(exit) ? Effect.void : Effect.promise(release)))
}
