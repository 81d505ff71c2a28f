/**
 * DICOM files as a sender and a receiver need them: the File Meta Information read by hand from the first bytes
 * of a file, the SOP Class and Instance UIDs found at the start of a bare data set, and a File Meta Information
 * written in front of a received data set, so a C-STORE can be stored byte for byte as it arrived.
 *
 * Covers PS3.10 section 7.1 (the 128-byte preamble, "DICM" and the group 0002 elements, always Explicit VR Little
 * Endian, with (0002,0000) group length) and section 7.5 as far as telling the transfer syntax of a file without a
 * File Meta Information by its first element (PS3.5 7.1: implicit or explicit VR, byte order). Every length is
 * checked against the bytes at hand and a limit before anything is read or allocated.
 *
 * Leaves out: DICOMDIR (PS3.10 section 8), validation of the meta elements' values (UID syntax, version 00\01),
 * and decoding the data set itself (see `DataSet`). The pure parsers (`readMeta`, `sopIdentifiers`, `writeMeta`)
 * do no I/O; `readFileMeta` reads a file's first bytes with `node:fs/promises` and `streamDataSet` streams the
 * rest with `node:fs`.
 *
 * @since 0.1.0
 */
import * as FsCallback from "node:fs"
import * as Fs from "node:fs/promises"
import { constants as Zlib, inflateRawSync } from "node:zlib"
import { Uids } from "@netdicom/wire"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as DataSet from "./DataSet.ts"
import * as FileIo from "./FileIo.ts"
import * as ReceivedBytes from "../upper/ReceivedBytes.ts"

// ---------------------------------------------------------------------------------------------------------------
// Errors

/** The bytes have no preamble and "DICM" at offset 128 (or "DICM" is not followed by group 0002). */
export class NoFileMeta extends Data.TaggedError("NoFileMeta")<{ readonly reason: string }> {
  override get message(): string {
    return `no File Meta Information: ${this.reason}`
  }
}

/** The File Meta Information has no (0002,0010) Transfer Syntax UID, or an empty one. */
export class MissingTransferSyntax extends Data.TaggedError("MissingTransferSyntax")<{ readonly reason: string }> {
  override get message(): string {
    return `no Transfer Syntax UID: ${this.reason}`
  }
}

/** The File Meta Information is not what PS3.10 7.1 says: bad VR, lengths past its group, a hostile group length. */
export class MalformedFileMeta extends Data.TaggedError("MalformedFileMeta")<{
  readonly reason: string
  readonly offset: number
}> {
  override get message(): string {
    return `malformed File Meta Information at offset ${this.offset}: ${this.reason}`
  }
}

/** The bytes end before what is needed; `needed` (when known) counts from the start of the bytes given. */
export class Truncated extends Data.TaggedError("Truncated")<{
  readonly part: "file meta" | "data set"
  readonly reason: string
  readonly needed?: number
}> {
  override get message(): string {
    const needed = this.needed === undefined ? "" : ` (${this.needed} bytes needed)`
    return `truncated ${this.part}: ${this.reason}${needed}`
  }
}

/** Without a File Meta Information, the first element gave no transfer syntax under which the data set parses. */
export class UnrecognizedDataSet extends Data.TaggedError("UnrecognizedDataSet")<{ readonly reason: string }> {
  override get message(): string {
    return `cannot tell the encoding of the data set: ${this.reason}`
  }
}

/** The data set's element structure is broken before (0008,0018). */
export class MalformedDataSet extends Data.TaggedError("MalformedDataSet")<{
  readonly reason: string
  readonly offset?: number
}> {
  override get message(): string {
    return `malformed data set${this.offset === undefined ? "" : ` at offset ${this.offset}`}: ${this.reason}`
  }
}

/** No SOP Class UID (0008,0016) or SOP Instance UID (0008,0018) where they must be. */
export class MissingSopIdentifiers extends Data.TaggedError("MissingSopIdentifiers")<{ readonly reason: string }> {
  override get message(): string {
    return `no SOP identifiers: ${this.reason}`
  }
}

/** A transfer syntax whose element layout is unknown (a private one). */
export class UnsupportedTransferSyntax extends Data.TaggedError("UnsupportedTransferSyntax")<{
  readonly transferSyntaxUid: string
}> {
  override get message(): string {
    return `unknown transfer syntax ${this.transferSyntaxUid}`
  }
}

/** Opening, sizing or reading a file failed. */
export class FileReadFailed extends Data.TaggedError("FileReadFailed")<{
  readonly path: string
  readonly cause: unknown
}> {
  override get message(): string {
    const text = this.cause instanceof Error ? this.cause.message : String(this.cause)
    // Node ends a system error with the call and the path ("ENOENT: no such file or directory, open 'x.dcm'")
    return `cannot read ${this.path}: ${text.replace(/, \w+ '[^']*'$/, "")}`
  }
}

/** Creating or writing a file failed. */
export class FileWriteFailed extends Data.TaggedError("FileWriteFailed")<{
  readonly path: string
  readonly cause: unknown
}> {
  override get message(): string {
    return `cannot write ${this.path}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

const readFailed =
  (path: string) =>
  (cause: unknown): FileReadFailed =>
    new FileReadFailed({ path, cause })

/** Every error of reading or writing Part 10 files. */
export type Part10Error =
  | NoFileMeta
  | MissingTransferSyntax
  | MalformedFileMeta
  | Truncated
  | UnrecognizedDataSet
  | MalformedDataSet
  | MissingSopIdentifiers
  | UnsupportedTransferSyntax
  | FileReadFailed
  | FileWriteFailed

// ---------------------------------------------------------------------------------------------------------------
// Types

/** What the start of a file says about it. */
export interface FileMeta {
  /** (0002,0010), or the guessed transfer syntax of a file without File Meta Information. */
  readonly transferSyntaxUid: string
  /** (0002,0002); from (0008,0016) of the data set when the meta has none. */
  readonly mediaStorageSopClassUid: string
  /** (0002,0003); from (0008,0018) of the data set when the meta has none. */
  readonly mediaStorageSopInstanceUid: string
  /**
   * (0008,0016) of the data set, the SOP Class UID a C-STORE of it must name; the meta's when the data set's first
   * bytes lack it or do not parse. Real files exist where it differs from `mediaStorageSopClassUid`.
   */
  readonly sopClassUid: string
  /** (0008,0018) of the data set, likewise; falls back to `mediaStorageSopInstanceUid`. */
  readonly sopInstanceUid: string
  /** (0002,0012), when present and not empty. */
  readonly implementationClassUid?: string
  /** (0002,0013), when present and not empty. */
  readonly implementationVersionName?: string
  /** (0002,0016), when present and not empty. */
  readonly sourceAeTitle?: string
  /** Where the data set starts: the first byte after the File Meta Information (0 without one). */
  readonly dataSetOffset: number
  /** The file lacked the standard preamble, "DICM" or meta group; the above was guessed (`sniff: true`). */
  readonly sniffed: boolean
}

/** A file's meta, with its size: the data set is the bytes from `dataSetOffset` to `fileSize`. */
export interface FileInfo extends FileMeta {
  readonly fileSize: number
  /** The file's modification time when its meta was read (ms since the epoch). */
  readonly modifiedMs: number
}

/** Where a file's data set starts and, optionally, what the file looked like when its meta was read. */
export interface DataSetLocation {
  readonly dataSetOffset: number
  /** When given (from `readFileMeta`), a file whose size or modification time changed since is refused. */
  readonly fileSize?: number
  readonly modifiedMs?: number
}

/** Options of `readMeta` and `readFileMeta`. */
export interface ReadMetaOptions {
  /** Guess the transfer syntax of files without File Meta Information instead of failing with `NoFileMeta`. */
  readonly sniff?: boolean
  /** Largest File Meta Information accepted, in bytes after "DICM"; default 1 MiB. */
  readonly maxMetaLength?: number
}

/** Options of `readFileMeta`. */
export interface ReadFileMetaOptions extends ReadMetaOptions {
  /** Most bytes read from the start of the file to find the meta and SOP identifiers; default 16 MiB. */
  readonly maxReadLength?: number
}

/** The SOP Class UID and SOP Instance UID of a data set. */
export interface SopIdentifiers {
  readonly sopClassUid: string
  readonly sopInstanceUid: string
}

/** What `writeMeta` writes into a File Meta Information. */
export interface MetaInput {
  readonly transferSyntaxUid: string
  /** Written as (0002,0002) Media Storage SOP Class UID. */
  readonly sopClassUid: string
  /** Written as (0002,0003) Media Storage SOP Instance UID. */
  readonly sopInstanceUid: string
  readonly implementationClassUid: string
  readonly implementationVersionName?: string
  readonly sourceAeTitle?: string
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

const PREAMBLE_LENGTH = 128
const MAGIC = [0x44, 0x49, 0x43, 0x4d] // "DICM"
const META_START = PREAMBLE_LENGTH + MAGIC.length
const DEFAULT_MAX_META = 1024 * 1024
const DEFAULT_MAX_READ = 16 * 1024 * 1024
const INITIAL_READ = 64 * 1024
const UNDEFINED_LENGTH = 0xffffffff

const GROUP_LENGTH = 0x00020000
const MEDIA_STORAGE_SOP_CLASS_UID = 0x00020002
const MEDIA_STORAGE_SOP_INSTANCE_UID = 0x00020003
const TRANSFER_SYNTAX_UID = 0x00020010
const IMPLEMENTATION_CLASS_UID = 0x00020012
const IMPLEMENTATION_VERSION_NAME = 0x00020013
const SOURCE_AE_TITLE = 0x00020016
const SOP_CLASS_UID = 0x00080016
const SOP_INSTANCE_UID = 0x00080018

const TS = Uids.TransferSyntax

/** VRs with a reserved 2 bytes and a 32-bit length in explicit VR (PS3.5 Table 7.1-1). */
const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"])

const u16le = (b: Uint8Array, at: number): number => b[at]! | (b[at + 1]! << 8)
const u16be = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!
const u32le = (b: Uint8Array, at: number): number =>
  (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0

const LATIN1 = new TextDecoder("latin1")

/**
 * A string value without its padding (trailing NUL or spaces, leading spaces). The end is found by a loop: `/[\0 ]+$/`
 * is quadratic in a long run of padding followed by anything else.
 */
const text = (bytes: Uint8Array): string => {
  const s = LATIN1.decode(bytes)
  let end = s.length
  while (end > 0 && (s[end - 1] === "\0" || s[end - 1] === " ")) end--
  return s.slice(0, end).replace(/^ +/, "")
}

const hasMagic = (b: Uint8Array, at: number): boolean => b.length >= at + 4 && MAGIC.every((c, i) => b[at + i] === c)

interface MetaElement {
  readonly tag: number
  readonly vr: string
  readonly value: Uint8Array
}

/** Reads an Explicit VR Little Endian element of the meta group at `at`, ending no later than `limit`. */
const metaElement = (
  b: Uint8Array,
  at: number,
  limit: number,
  inGroup: boolean
): Result.Result<MetaElement & { readonly end: number }, MalformedFileMeta | Truncated> => {
  const short = (needed: number, what: string) =>
    inGroup
      ? Result.fail(new MalformedFileMeta({ reason: `${what} overruns the group length`, offset: at }))
      : Result.fail(new Truncated({ part: "file meta", reason: `the bytes end inside ${what}`, needed }))
  if (at + 8 > limit) return short(at + 8, "an element header")
  const tag = ((u16le(b, at) << 16) | u16le(b, at + 2)) >>> 0
  const vr = String.fromCharCode(b[at + 4]!, b[at + 5]!)
  if (!/^[A-Z]{2}$/.test(vr)) {
    return Result.fail(new MalformedFileMeta({ reason: `${DataSet.tagString(tag)} has no valid VR`, offset: at }))
  }
  let length: number
  let valueOffset: number
  if (LONG_VRS.has(vr)) {
    if (at + 12 > limit) return short(at + 12, "an element header")
    length = u32le(b, at + 8)
    valueOffset = at + 12
  } else {
    length = u16le(b, at + 6)
    valueOffset = at + 8
  }
  if (length === UNDEFINED_LENGTH) {
    return Result.fail(
      new MalformedFileMeta({ reason: `${DataSet.tagString(tag)} has an undefined length`, offset: at })
    )
  }
  const end = valueOffset + length
  if (end > limit) return short(end, `the value of ${DataSet.tagString(tag)}`)
  return Result.succeed({ tag, vr, value: b.subarray(valueOffset, end), end })
}

/** Reads the group 0002 elements from `start`: by the group length when it comes first, else while the group is 2. */
const metaGroup = (
  b: Uint8Array,
  start: number,
  maxMetaLength: number
): Result.Result<{ readonly elements: ReadonlyMap<number, MetaElement>; readonly end: number }, Part10Error> => {
  const elements = new Map<number, MetaElement>()
  const first = metaElement(b, start, b.length, false)
  if (Result.isFailure(first)) return Result.fail(first.failure)
  if (first.success.tag >>> 16 !== 0x0002) {
    return Result.fail(
      new NoFileMeta({ reason: `the first element after "DICM" is ${DataSet.tagString(first.success.tag)}` })
    )
  }
  if (first.success.tag === GROUP_LENGTH) {
    const { vr, value, end: lengthEnd } = first.success
    if (vr !== "UL" || value.length !== 4) {
      return Result.fail(new MalformedFileMeta({ reason: "(0002,0000) is not a UL of 4 bytes", offset: start }))
    }
    const groupLength = u32le(value, 0)
    if (groupLength > maxMetaLength) {
      return Result.fail(
        new MalformedFileMeta({
          reason: `group length ${groupLength} exceeds the limit of ${maxMetaLength}`,
          offset: start
        })
      )
    }
    const end = lengthEnd + groupLength
    if (end > b.length) {
      return Result.fail(
        new Truncated({ part: "file meta", reason: "the bytes end inside the meta group", needed: end })
      )
    }
    elements.set(GROUP_LENGTH, first.success)
    let at = lengthEnd
    while (at < end) {
      const element = metaElement(b, at, end, true)
      if (Result.isFailure(element)) return Result.fail(element.failure)
      if (element.success.tag >>> 16 !== 0x0002) {
        const reason = `the group length covers ${DataSet.tagString(element.success.tag)}, outside group 0002`
        return Result.fail(new MalformedFileMeta({ reason, offset: at }))
      }
      elements.set(element.success.tag, element.success)
      at = element.success.end
    }
    return Result.succeed({ elements, end })
  }
  let at = start
  while (at < b.length) {
    if (at + 2 <= b.length && u16le(b, at) !== 0x0002) break
    if (at - start > maxMetaLength) {
      return Result.fail(new MalformedFileMeta({ reason: `meta group longer than ${maxMetaLength}`, offset: at }))
    }
    const element = metaElement(b, at, b.length, false)
    if (Result.isFailure(element)) return Result.fail(element.failure)
    elements.set(element.success.tag, element.success)
    at = element.success.end
  }
  if (at >= b.length) {
    // without a group length, only the next element's group tells where the meta ends
    const reason = "the bytes end in a meta group without group length"
    return Result.fail(new Truncated({ part: "file meta", reason, needed: at + 8 }))
  }
  return Result.succeed({ elements, end: at })
}

const optional = <K extends string>(key: K, value: string | undefined): { readonly [k in K]?: string } =>
  value === undefined || value === "" ? {} : ({ [key]: value } as { readonly [k in K]: string })

/** The File Meta Information found at `start` (132, or 0 for a sniffed meta without preamble). */
const fromMetaGroup = (
  b: Uint8Array,
  start: number,
  options: ReadMetaOptions | undefined,
  sniffed: boolean,
  growable: boolean
): Result.Result<FileMeta, Part10Error> => {
  const group = metaGroup(b, start, options?.maxMetaLength ?? DEFAULT_MAX_META)
  if (Result.isFailure(group)) return Result.fail(group.failure)
  const { elements, end } = group.success
  const value = (tag: number): string | undefined => {
    const element = elements.get(tag)
    return element === undefined ? undefined : text(element.value)
  }
  const transferSyntaxUid = value(TRANSFER_SYNTAX_UID)
  if (transferSyntaxUid === undefined || transferSyntaxUid === "") {
    const reason = transferSyntaxUid === undefined ? "(0002,0010) is absent" : "(0002,0010) is empty"
    return Result.fail(new MissingTransferSyntax({ reason }))
  }
  const mediaClass = value(MEDIA_STORAGE_SOP_CLASS_UID) ?? ""
  const mediaInstance = value(MEDIA_STORAGE_SOP_INSTANCE_UID) ?? ""
  const metaComplete = mediaClass !== "" && mediaInstance !== ""
  // the data set's own UIDs are what a C-STORE must name; the meta's stand in when the data set lacks them
  const found = sopIdentifiers(b.subarray(end), transferSyntaxUid)
  let sop: SopIdentifiers
  if (Result.isSuccess(found)) sop = found.success
  else if (found.failure._tag === "Truncated" && (growable || !metaComplete)) {
    const e = found.failure
    return Result.fail(
      new Truncated({ part: e.part, reason: e.reason, ...(e.needed === undefined ? {} : { needed: end + e.needed }) })
    )
  } else if (!metaComplete) {
    const reason = `(0002,0002) or (0002,0003) is empty, and the data set does not help: ${found.failure.message}`
    return Result.fail(new MissingSopIdentifiers({ reason }))
  } else sop = { sopClassUid: mediaClass, sopInstanceUid: mediaInstance }
  return Result.succeed({
    transferSyntaxUid,
    mediaStorageSopClassUid: mediaClass || sop.sopClassUid,
    mediaStorageSopInstanceUid: mediaInstance || sop.sopInstanceUid,
    ...sop,
    ...optional("implementationClassUid", value(IMPLEMENTATION_CLASS_UID)),
    ...optional("implementationVersionName", value(IMPLEMENTATION_VERSION_NAME)),
    ...optional("sourceAeTitle", value(SOURCE_AE_TITLE)),
    dataSetOffset: end,
    sniffed
  })
}

const looksExplicit = (b: Uint8Array, at: number): boolean =>
  b.length >= at + 6 && DataSet.isKnownVr(String.fromCharCode(b[at + 4]!, b[at + 5]!))

/** Guesses the encoding of a bare data set from its first element, then reads its SOP identifiers. */
const sniffDataSet = (b: Uint8Array, start: number): Result.Result<FileMeta, Part10Error> => {
  if (b.length < start + 8) return Result.fail(new UnrecognizedDataSet({ reason: "fewer than 8 bytes" }))
  const plausible = (group: number) => group >= 0x0001 && group <= 0x0008
  const candidates: Array<string> = []
  const explicit = looksExplicit(b, start)
  const le = u16le(b, start)
  const be = u16be(b, start)
  if (explicit && plausible(le)) candidates.push(TS.ExplicitVRLittleEndian)
  if (explicit && plausible(be)) candidates.push(TS.ExplicitVRBigEndian)
  if (plausible(le)) candidates.push(TS.ImplicitVRLittleEndian)
  if (candidates.length === 0) {
    const first = `(${hex4(le)},…) or (${hex4(be)},…)`
    const reason = `the first tag reads as ${first}, not a group 0001-0008 a data set starts with`
    return Result.fail(new UnrecognizedDataSet({ reason }))
  }
  const failures: Array<string> = []
  for (const transferSyntaxUid of candidates) {
    const found = sopIdentifiers(b.subarray(start), transferSyntaxUid)
    if (Result.isSuccess(found)) {
      return Result.succeed({
        transferSyntaxUid,
        mediaStorageSopClassUid: found.success.sopClassUid,
        mediaStorageSopInstanceUid: found.success.sopInstanceUid,
        ...found.success,
        dataSetOffset: start,
        sniffed: true
      })
    }
    const e = found.failure
    if (e._tag === "Truncated") {
      return Result.fail(
        new Truncated({
          part: e.part,
          reason: e.reason,
          ...(e.needed === undefined ? {} : { needed: start + e.needed })
        })
      )
    }
    failures.push(`${Uids.describeUid(transferSyntaxUid)}: ${e.message}`)
  }
  return Result.fail(new UnrecognizedDataSet({ reason: failures.join("; ") }))
}

const hex4 = (n: number): string => n.toString(16).toUpperCase().padStart(4, "0")

/**
 * Reads the File Meta Information at the start of Part 10 bytes (a prefix is enough): the preamble, "DICM" and
 * the group 0002 elements, by its group length when (0002,0000) comes first; then the data set's SOP UIDs, by a
 * scan up to (0008,0018) (each side stands in for the other when empty). Without a meta: `NoFileMeta`, or with
 * `sniff` a guess from the first element (also accepting a meta group at offset 0 without preamble).
 */
export const readMeta = (bytes: Uint8Array, options?: ReadMetaOptions): Result.Result<FileMeta, Part10Error> =>
  parse(bytes, options, false)

/** `readMeta`; `growable` says more bytes can be had, so a data set cut before (0008,0018) is `Truncated`. */
const parse = (
  bytes: Uint8Array,
  options: ReadMetaOptions | undefined,
  growable: boolean
): Result.Result<FileMeta, Part10Error> => {
  if (hasMagic(bytes, PREAMBLE_LENGTH)) {
    const meta = fromMetaGroup(bytes, META_START, options, false, growable)
    if (Result.isFailure(meta) && meta.failure._tag === "NoFileMeta" && options?.sniff === true) {
      return sniffDataSet(bytes, META_START)
    }
    return meta
  }
  if (options?.sniff !== true) {
    const reason =
      bytes.length < META_START ? `only ${bytes.length} bytes` : `no "DICM" after the ${PREAMBLE_LENGTH}-byte preamble`
    return Result.fail(new NoFileMeta({ reason }))
  }
  if (bytes.length >= 8 && u16le(bytes, 0) === 0x0002 && looksExplicit(bytes, 0)) {
    return fromMetaGroup(bytes, 0, options, true, growable)
  }
  return sniffDataSet(bytes, 0)
}

/** Inflates no more than a prefix of a deflated data set: growing input, partial output allowed, output bounded. */
const MAX_INFLATED_PREFIX = 1024 * 1024

const sopFromScan = (bytes: Uint8Array, transferSyntaxUid: string): Result.Result<SopIdentifiers, Part10Error> => {
  const scanned = DataSet.scan(bytes, transferSyntaxUid, { until: SOP_INSTANCE_UID })
  if (Result.isFailure(scanned)) {
    const e = scanned.failure
    if (e.kind === "Truncated") {
      return Result.fail(
        new Truncated({ part: "data set", reason: e.reason, ...(e.needed === undefined ? {} : { needed: e.needed }) })
      )
    }
    return Result.fail(
      new MalformedDataSet({ reason: e.reason, ...(e.offset === undefined ? {} : { offset: e.offset }) })
    )
  }
  const uid = (tag: number): string => {
    const h = scanned.success.find((e) => e.tag === tag)
    if (h === undefined || h.length === undefined) return ""
    return text(bytes.subarray(h.valueOffset, h.valueOffset + h.length))
  }
  const sopClassUid = uid(SOP_CLASS_UID)
  const sopInstanceUid = uid(SOP_INSTANCE_UID)
  if (sopClassUid === "" || sopInstanceUid === "") {
    const missing = [sopClassUid === "" ? "(0008,0016)" : "", sopInstanceUid === "" ? "(0008,0018)" : ""]
    return Result.fail(
      new MissingSopIdentifiers({ reason: `${missing.filter((m) => m).join(" and ")} absent or empty` })
    )
  }
  return Result.succeed({ sopClassUid, sopInstanceUid })
}

/**
 * The SOP Class UID (0008,0016) and SOP Instance UID (0008,0018) of a bare data set, by scanning its elements up
 * to (0008,0018) without decoding any other value: a prefix reaching past (0008,0018) is enough. Works for every
 * known transfer syntax (encapsulated ones are Explicit VR Little Endian up to the pixel data); a deflated data set
 * is inflated only as far as needed (at most 1 MiB of output).
 */
export const sopIdentifiers = (
  dataSetBytes: Uint8Array,
  transferSyntaxUid: string
): Result.Result<SopIdentifiers, Part10Error> => {
  const info = Uids.transferSyntaxInfo(transferSyntaxUid)
  if (info === undefined) return Result.fail(new UnsupportedTransferSyntax({ transferSyntaxUid }))
  if (!info.deflated) return sopFromScan(dataSetBytes, transferSyntaxUid)
  let input = Math.min(4096, dataSetBytes.length)
  while (true) {
    let inflated: Uint8Array
    try {
      inflated = inflateRawSync(dataSetBytes.subarray(0, input), {
        finishFlush: Zlib.Z_SYNC_FLUSH,
        maxOutputLength: MAX_INFLATED_PREFIX
      })
    } catch (cause) {
      const reason = `cannot inflate: ${cause instanceof Error ? cause.message : String(cause)}`
      return (cause as { readonly code?: unknown }).code === "ERR_BUFFER_TOO_LARGE"
        ? Result.fail(
            new MissingSopIdentifiers({ reason: `(0008,0018) is not in the first ${MAX_INFLATED_PREFIX} bytes` })
          )
        : Result.fail(new MalformedDataSet({ reason }))
    }
    const found = sopFromScan(inflated, TS.ExplicitVRLittleEndian)
    if (Result.isSuccess(found) || found.failure._tag !== "Truncated") return found
    if (input >= dataSetBytes.length) {
      return Result.fail(new Truncated({ part: "data set", reason: "the deflated data set ends before (0008,0018)" }))
    }
    input = Math.min(input * 4, dataSetBytes.length)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Reading a file

const readAt = (handle: Fs.FileHandle, position: number, length: number): Promise<Uint8Array> =>
  (async () => {
    const buffer = new Uint8Array(length)
    let filled = 0
    while (filled < length) {
      const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled)
      if (bytesRead === 0) break
      filled += bytesRead
    }
    return buffer.subarray(0, filled)
  })()

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

/**
 * Reads the File Meta Information of a file on disk (and the SOP UIDs, by sniffing when asked), reading only the
 * first 64 KiB, or more when the meta group says so, up to `maxReadLength`. The data set can then be streamed with
 * `streamDataSet` or `loadDataSet`.
 */
export const readFileMeta = (path: string, options?: ReadFileMetaOptions): Effect.Effect<FileInfo, Part10Error> =>
  Effect.suspend(() => {
    // Most files: the first 64 KiB, read synchronously (see `loadDataSet` for why), hold the meta group.
    let head: { readonly bytes: Uint8Array; readonly size: number; readonly modifiedMs: number }
    try {
      head = FileIo.readHeadSync(path, Math.min(INITIAL_READ, options?.maxReadLength ?? DEFAULT_MAX_READ))
    } catch (cause) {
      return Effect.fail(new FileReadFailed({ path, cause }))
    }
    const limit = Math.min(head.size, options?.maxReadLength ?? DEFAULT_MAX_READ)
    const meta = parse(head.bytes, options, head.bytes.length < limit && head.bytes.length < head.size)
    if (Result.isSuccess(meta)) {
      return Effect.succeed({ ...meta.success, fileSize: head.size, modifiedMs: head.modifiedMs })
    }
    if (meta.failure._tag !== "Truncated" || head.bytes.length >= head.size) return Effect.fail(meta.failure)
    return readFileMetaAsync(path, options)
  })

// Reads more than the first read held, asynchronously, growing the read until the meta group fits.
const readFileMetaAsync = (path: string, options?: ReadFileMetaOptions): Effect.Effect<FileInfo, Part10Error> =>
  Effect.acquireUseRelease(
    Effect.tryPromise({ try: () => Fs.open(path, "r"), catch: (cause) => new FileReadFailed({ path, cause }) }),
    (handle) =>
      Effect.gen(function* () {
        const io = <A>(f: () => Promise<A>) =>
          Effect.tryPromise({ try: f, catch: (cause) => new FileReadFailed({ path, cause }) })
        const { size, mtimeMs } = yield* io(() => handle.stat())
        const limit = Math.min(size, options?.maxReadLength ?? DEFAULT_MAX_READ)
        let bytes = yield* io(() => readAt(handle, 0, Math.min(INITIAL_READ, limit)))
        while (true) {
          const meta = parse(bytes, options, bytes.length < limit && bytes.length < size)
          if (Result.isSuccess(meta)) return { ...meta.success, fileSize: size, modifiedMs: mtimeMs }
          const e = meta.failure
          if (e._tag !== "Truncated" || bytes.length >= size) return yield* Effect.fail(e)
          if (bytes.length >= limit) {
            const reason = `${e.reason}, and the first ${limit} bytes read (maxReadLength) do not hold it`
            return yield* Effect.fail(
              new Truncated({ part: e.part, reason, ...(e.needed === undefined ? {} : { needed: e.needed }) })
            )
          }
          const wanted = Math.min(limit, Math.max(e.needed ?? 0, bytes.length * 2))
          const more = yield* io(() => readAt(handle, bytes.length, wanted - bytes.length))
          if (more.length === 0) return yield* Effect.fail(e)
          bytes = concat(bytes, more)
        }
      }),
    (handle) => Effect.ignore(Effect.tryPromise(() => handle.close()))
  )

/** The largest chunk size `streamDataSet` reads in. */
export const MAX_CHUNK_SIZE = 64 << 20

// Streamed in pooled buffers, each lent to the sender (`LentBytes`) and refilled once written. A chunk size that is
// not a whole number of bytes from 1 to MAX_CHUNK_SIZE is refused: 0 (or NaN) read nothing, so the data set came out
// empty, and a negative one was a defect (RangeError).
const chunkedDataSet = (
  path: string,
  meta: { readonly dataSetOffset: number },
  chunkSize: number
): Stream.Stream<Uint8Array, FileReadFailed> =>
  Number.isInteger(chunkSize) && chunkSize >= 1 && chunkSize <= MAX_CHUNK_SIZE
    ? FileIo.lentReads(path, meta.dataSetOffset, chunkSize, readFailed(path))
    : Stream.fail(new FileReadFailed({ path, cause: `chunk size ${chunkSize}: not a whole number from 1 to 64 MiB` }))

/**
 * The data set of a file, from `dataSetOffset` to its end (read whole up to `WHOLE_READ_LIMIT`
 * unless a chunk size is asked for), as a lazily read stream of chunks (a new read stream
 * per run; stopping early closes the file). The bytes are the file's, never decoded. Streamed
 * chunks are read into pooled buffers lent to the sender (`LentBytes`): once `DimseChannel` has
 * sent a chunk, its buffer is refilled, so copy a chunk you keep past sending it.
 */
export const streamDataSet = (
  path: string,
  meta: { readonly dataSetOffset: number },
  options?: { readonly chunkSize?: number }
): Stream.Stream<Uint8Array, FileReadFailed> => {
  if (options?.chunkSize !== undefined) return chunkedDataSet(path, meta, options.chunkSize)
  return Stream.unwrap(
    Effect.map(
      FileIo.readTail(path, { dataSetOffset: meta.dataSetOffset }, WHOLE_READ_LIMIT, readFailed(path)),
      (bytes) => (bytes === undefined ? chunkedDataSet(path, meta, STREAM_CHUNK) : Stream.make(bytes))
    )
  )
}

/**
 * The data set of a file ready to send, never decoded: its bytes when it is small, else a stream of
 * `STREAM_CHUNK`-byte reads into pooled buffers (lent to the sender, as in `streamDataSet`), so a large
 * file is never held whole and its reads allocate nothing once the pool is warm. With the `fileSize` and `modifiedMs`
 * that `readFileMeta` gave, a file changed since (truncated, grown, rewritten) is refused rather than sent
 * under the old meta; a change while a large file is being streamed is not seen.
 *
 * Up to `SYNC_READ_LIMIT` bytes (most instances) the file is read synchronously: on Linux an
 * asynchronous read of a 40 KB file costs about ten times the CPU of a synchronous one (four
 * thread-pool round trips), and blocks the event loop for no longer than a few tens of microseconds
 * from the page cache. Up to `WHOLE_READ_LIMIT` it is read in one asynchronous piece; above, streamed.
 */
export const loadDataSet = (
  path: string,
  meta: DataSetLocation
): Effect.Effect<Uint8Array | Stream.Stream<Uint8Array, FileReadFailed>, FileReadFailed> =>
  Effect.suspend(() => {
    let small: Uint8Array | undefined
    try {
      small = FileIo.readTailSync(path, meta, SYNC_READ_LIMIT)
    } catch (cause) {
      return Effect.fail(new FileReadFailed({ path, cause }))
    }
    if (small !== undefined) return Effect.succeed(small)
    return Effect.map(FileIo.readTail(path, meta, WHOLE_READ_LIMIT, readFailed(path)), (bytes) =>
      bytes === undefined ? chunkedDataSet(path, meta, STREAM_CHUNK) : bytes
    )
  })

/** Data sets up to this size are read synchronously by `loadDataSet`. */
export const SYNC_READ_LIMIT = 256 << 10

/**
 * Loads the data sets of files meant to be sent in order, one ahead: `take(i)` gives file i's data set
 * (as `loadDataSet`) and starts reading file i + 1, so its read overlaps the sending of file i and the
 * wait for its response. At most two small data sets are held at once; large ones are streams, read
 * when sent. Reads still running when the scope closes are interrupted.
 */
export const readAhead = (
  files: ReadonlyArray<DataSetLocation & { readonly path: string }>
): Effect.Effect<
  (i: number) => Effect.Effect<Uint8Array | Stream.Stream<Uint8Array, FileReadFailed>, FileReadFailed>,
  never,
  Scope.Scope
> =>
  Effect.flatMap(Effect.scope, (scope) => {
    type Loaded = Uint8Array | Stream.Stream<Uint8Array, FileReadFailed>
    // A file known to be small is read synchronously on a later turn of the event loop (while the one before is
    // sent and answered), with no fiber; `outcome` stays undefined when it turned out larger (then loaded as usual).
    interface SmallRead {
      readonly _tag: "Small"
      timer: ReturnType<typeof setImmediate> | undefined
      outcome: Exit.Exit<Loaded, FileReadFailed> | undefined
    }
    type Started = SmallRead | { readonly _tag: "Fiber"; readonly fiber: Fiber.Fiber<Loaded, FileReadFailed> }
    const started = new Map<number, Started>()
    const readSmall = (file: DataSetLocation & { readonly path: string }, read: SmallRead) => {
      read.timer = undefined
      try {
        const bytes = FileIo.readTailSync(file.path, file, SYNC_READ_LIMIT)
        if (bytes !== undefined) read.outcome = Exit.succeed(bytes)
      } catch (cause) {
        read.outcome = Exit.fail(new FileReadFailed({ path: file.path, cause }))
      }
    }
    const start = (i: number) =>
      Effect.suspend(() => {
        const file = files[i]
        if (file === undefined || started.has(i)) return Effect.void
        if (file.fileSize !== undefined && file.fileSize - file.dataSetOffset <= SYNC_READ_LIMIT) {
          const read: SmallRead = { _tag: "Small", timer: undefined, outcome: undefined }
          read.timer = setImmediate(() => readSmall(file, read))
          started.set(i, read)
          return Effect.void
        }
        return Effect.map(Effect.forkIn(loadDataSet(file.path, file), scope), (fiber) => {
          started.set(i, { _tag: "Fiber", fiber })
        })
      })
    const take = (i: number): Effect.Effect<Loaded, FileReadFailed> =>
      Effect.suspend(() => {
        const file = files[i]
        if (file === undefined) return Effect.fail(new FileReadFailed({ path: `#${i}`, cause: "no such file" }))
        const ahead = started.get(i)
        started.delete(i)
        if (ahead?._tag === "Fiber") return Fiber.join(ahead.fiber)
        if (ahead !== undefined) {
          if (ahead.timer !== undefined) {
            clearImmediate(ahead.timer)
            readSmall(file, ahead)
          }
          if (ahead.outcome !== undefined) return ahead.outcome
        }
        return loadDataSet(file.path, file)
      })
    // Reads not yet run when the scope closes are cancelled.
    return Effect.as(
      Scope.addFinalizer(
        scope,
        Effect.sync(() => {
          for (const ahead of started.values()) if (ahead._tag === "Small" && ahead.timer) clearImmediate(ahead.timer)
        })
      ),
      (i: number) => Effect.andThen(Effect.andThen(start(i), start(i + 1)), take(i))
    )
  })

/** Large data sets are read from disk in pieces of this size. */
export const STREAM_CHUNK = 256 << 10

/** Data sets up to this size are read in one piece by `streamDataSet`; larger ones are streamed. */
export const WHOLE_READ_LIMIT = 1 << 20

// ---------------------------------------------------------------------------------------------------------------
// Writing

// One byte per character (code point), its low 8 bits; a plain loop, as writeMeta runs once per received instance.
const ascii = (s: string): Uint8Array => {
  const text = s.slice(0, 0xfffe)
  const out = new Uint8Array(text.length)
  let n = 0
  for (const c of text) out[n++] = c.charCodeAt(0) & 0xff
  return n === out.length ? out : out.slice(0, n)
}

/** One Explicit VR Little Endian element with a 16-bit length, padded to even with `pad`. */
const shortElement = (element: number, vr: string, value: string, pad: number): Uint8Array => {
  const raw = ascii(value)
  const length = raw.length + (raw.length % 2)
  const out = new Uint8Array(8 + length)
  if (length > raw.length) out[8 + raw.length] = pad
  out[0] = 0x02
  out[2] = element & 0xff
  out[3] = element >> 8
  out[4] = vr.charCodeAt(0)
  out[5] = vr.charCodeAt(1)
  out[6] = length & 0xff
  out[7] = length >> 8
  out.set(raw, 8)
  return out
}

/**
 * A File Meta Information (PS3.10 7.1): 128 zero bytes, "DICM", then (0002,0000) with the right group length,
 * (0002,0001) 00\01, (0002,0002), (0002,0003), (0002,0010), (0002,0012), and (0002,0013), (0002,0016) when given;
 * UIDs NUL-padded, strings space-padded, Explicit VR Little Endian. Followed by a data set's bytes as received,
 * it makes a Part 10 file without re-encoding the data set. Values are written as given: validate UIDs first.
 */
export const writeMeta = (input: MetaInput): Uint8Array => {
  const version = Uint8Array.from([0x02, 0x00, 0x01, 0x00, 0x4f, 0x42, 0, 0, 2, 0, 0, 0, 0x00, 0x01])
  const elements = [
    version,
    shortElement(0x0002, "UI", input.sopClassUid, 0),
    shortElement(0x0003, "UI", input.sopInstanceUid, 0),
    shortElement(0x0010, "UI", input.transferSyntaxUid, 0),
    shortElement(0x0012, "UI", input.implementationClassUid, 0),
    ...(input.implementationVersionName === undefined
      ? []
      : [shortElement(0x0013, "SH", input.implementationVersionName, 0x20)]),
    ...(input.sourceAeTitle === undefined ? [] : [shortElement(0x0016, "AE", input.sourceAeTitle, 0x20)])
  ]
  const groupLength = elements.reduce((n, e) => n + e.length, 0)
  const out = new Uint8Array(META_START + 12 + groupLength)
  out.set(MAGIC, PREAMBLE_LENGTH)
  out.set([0x02, 0x00, 0x00, 0x00, 0x55, 0x4c, 4, 0], META_START)
  new DataView(out.buffer).setUint32(META_START + 8, groupLength, true)
  let at = META_START + 12
  for (const element of elements) {
    out.set(element, at)
    at += element.length
  }
  return out
}

// Writes a small file in one synchronous vectored write. A path that is not a regular file is refused (and left);
// a regular file whose write fails is removed. Throws: called only in `writeFile`'s Effect.try (FileWriteFailed).
const writeWholeSync = (path: string, pieces: ReadonlyArray<Uint8Array>): void => {
  const fd = FsCallback.openSync(path, FileIo.WRITE_FLAGS, 0o644)
  let regular = false
  try {
    if (!FsCallback.fstatSync(fd).isFile()) throw new Error("not a regular file")
    regular = true
    FileIo.writeAllSync(fd, pieces)
  } catch (cause) {
    FsCallback.closeSync(fd)
    if (regular) FsCallback.rmSync(path, { force: true })
    throw cause
  }
  FsCallback.closeSync(fd)
}

// Writes `pieces` synchronously with `write`, the lent ones among them borrowed meanwhile (`ReceivedBytes.borrow`):
// refused when one was freed already (its bytes are gone: a lent data set read by two consumers); given back after,
// and released with `releasing`. Throws: called only in `writeFile`'s Effect.try (FileWriteFailed).
const writeBorrowed = (pieces: ReadonlyArray<Uint8Array>, releasing: boolean, write: () => void): void => {
  if (!ReceivedBytes.borrow(pieces)) throw new Error(FREED_BEFORE_WRITTEN)
  try {
    write()
  } catch (cause) {
    ReceivedBytes.giveBack(pieces, false)
    throw cause
  }
  ReceivedBytes.giveBack(pieces, releasing)
}

const FREED_BEFORE_WRITTEN =
  "a fragment of the data set was freed before it was written (a lent data set, dataSetLent, read by two consumers?)"

// Chunks `writeFile` holds before writing them, whatever their bytes: a data set received in 1-byte PDVs would
// otherwise be held as a million views (~100 MB of heap) before its first write.
const MAX_PENDING_PIECES = 8192

/** Received data sets up to this size are gathered and written by `writeFile` in one synchronous write. */
export const SYNC_WRITE_LIMIT = 1 << 20

/**
 * Writes a Part 10 file: `writeMeta(meta)`, then the data set's bytes as they come, never decoded (a
 * C-STORE SCP's data set stream, say). A data set of up to `SYNC_WRITE_LIMIT` bytes (most instances) is
 * gathered, then written with one synchronous vectored write: an asynchronous open, write and close costs
 * several times the CPU on Linux, in thread-pool round trips. A larger one goes to the file as it
 * arrives, in vectored writes of at least `SYNC_WRITE_LIMIT` bytes (or 8192 chunks), so it is never held whole. On
 * failure or interruption the partial file is removed (interrupted during a write, once that write has settled:
 * the interruption does not wait for it). No fsync: see the archive's store for durable writes.
 * The data set may also be given whole, as its fragments in order (`StoreRequest.dataSetReceived`).
 * Fragments of a stream are released once written (`ReceivedBytes.release`: a request's `dataSetLent` frees its
 * socket reads as it goes); an array's stay the caller's and are never released. A lent fragment found freed before
 * it is written (a lent data set read by two consumers) fails the write rather than leave its bytes out.
 * Returns the data set's length.
 */
export const writeFile = <E>(
  path: string,
  meta: MetaInput,
  dataSet: Stream.Stream<Uint8Array, E> | ReadonlyArray<Uint8Array>
): Effect.Effect<number, E | FileWriteFailed> =>
  Effect.suspend(() => {
    let pending: Array<Uint8Array> = [writeMeta(meta)]
    let pendingBytes = pending[0]!.length
    let total = 0
    if (Array.isArray(dataSet)) {
      const fragments: ReadonlyArray<Uint8Array> = dataSet
      for (const fragment of fragments) total += fragment.length
      if (total <= SYNC_WRITE_LIMIT) {
        pending.push(...fragments)
        return Effect.try({
          try: () => {
            writeBorrowed(pending, false, () => writeWholeSync(path, pending))
            return total
          },
          catch: (cause) => new FileWriteFailed({ path, cause })
        })
      }
      total = 0
    }
    // Fragments pulled from a stream are ours once pulled, and given back once written; an array stays its caller's
    // (who may write it again, or read it): none of it is released.
    const released = !Array.isArray(dataSet)
    const chunks: Stream.Stream<Uint8Array, E> = Array.isArray(dataSet)
      ? Stream.fromIterable(dataSet as ReadonlyArray<Uint8Array>)
      : (dataSet as Stream.Stream<Uint8Array, E>)
    let handle: Fs.FileHandle | undefined
    // Only a regular file this call opened is removed on failure (never a device or a FIFO given as path).
    let created = false
    const failed = (cause: unknown) => new FileWriteFailed({ path, cause })
    // The flush under way, if any. An interruption does not wait for it (a slow disk must not hold up a timeout), and
    // abandons its promise: the cleanup below then runs once that has settled, for the promise may still open the
    // file and write to it (cleaned up at once, it found nothing to remove, and the file was left with its first MiB).
    let flushing: Promise<void> | undefined
    const flush = Effect.suspend(() => {
      const pieces = pending
      pending = []
      pendingBytes = 0
      return Effect.tryPromise({
        try: () => {
          // Lent fragments are borrowed while the thread pool writes them (none is freed under it), refused if one
          // was freed already; once written they are given back and released, which may free their socket reads.
          if (!ReceivedBytes.borrow(pieces)) return Promise.reject(new Error(FREED_BEFORE_WRITTEN))
          const writing = (async () => {
            if (handle === undefined) {
              handle = await Fs.open(path, FileIo.WRITE_FLAGS, 0o644)
              if (!(await handle.stat()).isFile()) throw new Error("not a regular file")
              created = true
            }
            await FileIo.writeAll(handle, pieces)
          })().then(
            () => ReceivedBytes.giveBack(pieces, released),
            (cause: unknown) => {
              ReceivedBytes.giveBack(pieces, false)
              throw cause // a rejection of this Effect.tryPromise: FileWriteFailed
            }
          )
          flushing = writing
          return writing.finally(() => {
            if (flushing === writing) flushing = undefined
          })
        },
        catch: failed
      })
    })
    const body = Effect.andThen(
      Stream.runForEach(chunks, (chunk) => {
        pending.push(chunk)
        pendingBytes += chunk.length
        total += chunk.length
        return pendingBytes < SYNC_WRITE_LIMIT && pending.length < MAX_PENDING_PIECES ? Effect.void : flush
      }),
      Effect.suspend(() => {
        if (handle !== undefined)
          return Effect.andThen(
            flush,
            Effect.promise(() => handle!.close())
          )
        return Effect.try({
          try: () => writeBorrowed(pending, released, () => writeWholeSync(path, pending)),
          catch: failed
        })
      })
    )
    return body.pipe(
      Effect.map(() => total),
      Effect.onError(() => {
        const cleanup = async () => {
          await handle?.close().catch(() => undefined)
          if (created) await Fs.unlink(path).catch(() => undefined)
        }
        const abandoned = flushing
        return abandoned === undefined
          ? Effect.promise(cleanup)
          : Effect.sync(() => void abandoned.then(cleanup, cleanup))
      })
    )
  })
