/**
 * The pure Part 10 codec (internal: `Part10` re-exports its public part): what the start of a file says (`readMeta`:
 * the File Meta Information read by hand, the SOP identifiers found by a scan of the data set's first elements, a
 * guess for a bare data set), `sopIdentifiers` of a bare data set, and `writeMeta`. No I/O.
 */
import { Uids } from "@netdicom/wire"
import * as Result from "effect/Result"
import * as ApplicationEntity from "../association/ApplicationEntity.ts"
import * as DataSet from "./DataSet.ts"
import { zlib } from "./Zlib.ts"
import {
  MalformedDataSet,
  MalformedFileMeta,
  MissingSopIdentifiers,
  MissingTransferSyntax,
  NoFileMeta,
  type Part10Error,
  Truncated,
  UnrecognizedDataSet,
  UnsupportedTransferSyntax
} from "./Part10Error.ts"

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
  /**
   * Set when the data set's first bytes gave no (0008,0016)/(0008,0018) (absent, empty or unreadable), so that
   * `sopClassUid` and `sopInstanceUid` are the meta's: a peer checking the data set is likely to refuse it.
   */
  readonly sopFromMeta?: true
}

/** A file's meta, with its size: the data set is the bytes from `dataSetOffset` to `fileSize`. */
export interface FileInfo extends FileMeta {
  readonly fileSize: number
  /** The file's modification time when its meta was read (ms since the epoch). */
  readonly modifiedMs: number
  /**
   * Its status change time (ctime) then: it moves with any rewrite, also one whose modification time was set back.
   * Optional for callers that build a `FileInfo` themselves; `readFileMeta` always gives it.
   */
  readonly changedMs?: number
}

/** Where a file's data set starts and, optionally, what the file looked like when its meta was read. */
export interface DataSetLocation {
  readonly dataSetOffset: number
  /** When given (from `readFileMeta`), a file whose size, modification or status change time changed is refused. */
  readonly fileSize?: number
  readonly modifiedMs?: number
  readonly changedMs?: number
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
  /** Written as (0002,0012); netdicom's own (`ApplicationEntity.IMPLEMENTATION_CLASS_UID`) when left out. */
  readonly implementationClassUid?: string
  /** Written as (0002,0013) when given; netdicom's own when `implementationClassUid` is left out too. */
  readonly implementationVersionName?: string
  readonly sourceAeTitle?: string
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

const PREAMBLE_LENGTH = 128
const MAGIC = [0x44, 0x49, 0x43, 0x4d] // "DICM"
const META_START = PREAMBLE_LENGTH + MAGIC.length
const DEFAULT_MAX_META = 1024 * 1024
export const DEFAULT_MAX_READ = 16 * 1024 * 1024
export const INITIAL_READ = 64 * 1024
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
  let sopFromMeta = false
  if (Result.isSuccess(found)) sop = found.success
  else if (found.failure._tag === "Truncated" && (growable || !metaComplete)) {
    const e = found.failure
    return Result.fail(
      new Truncated({ part: e.part, reason: e.reason, ...(e.needed === undefined ? {} : { needed: end + e.needed }) })
    )
  } else if (!metaComplete) {
    const reason = `(0002,0002) or (0002,0003) is empty, and the data set does not help: ${found.failure.message}`
    return Result.fail(new MissingSopIdentifiers({ reason }))
  } else {
    sop = { sopClassUid: mediaClass, sopInstanceUid: mediaInstance }
    sopFromMeta = true
  }
  return Result.succeed({
    transferSyntaxUid,
    mediaStorageSopClassUid: mediaClass || sop.sopClassUid,
    mediaStorageSopInstanceUid: mediaInstance || sop.sopInstanceUid,
    ...sop,
    ...optional("implementationClassUid", value(IMPLEMENTATION_CLASS_UID)),
    ...optional("implementationVersionName", value(IMPLEMENTATION_VERSION_NAME)),
    ...optional("sourceAeTitle", value(SOURCE_AE_TITLE)),
    dataSetOffset: end,
    sniffed,
    ...(sopFromMeta ? { sopFromMeta: true as const } : {})
  })
}

const looksExplicit = (b: Uint8Array, at: number): boolean =>
  b.length >= at + 6 && DataSet.isKnownVr(String.fromCharCode(b[at + 4]!, b[at + 5]!))

/**
 * Guesses the encoding of a bare data set from its first element, then reads its SOP identifiers. A guess that needs
 * more bytes is the answer while more can be read (`growable`); once not, the next guesses are tried, and it is the
 * verdict only when it was the first guess's. An Explicit VR element also reads as Implicit VR, the last guess, its VR
 * and length bytes as a length: a whole file lacking (0008,0018) was reported cut short, "411997 bytes needed".
 */
const sniffDataSet = (b: Uint8Array, start: number, growable: boolean): Result.Result<FileMeta, Part10Error> => {
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
  // The first guess's cut, the verdict when no guess reads the data set (a bare data set cut short).
  let firstCut: Truncated | undefined
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
      const needed = e.needed === undefined ? {} : { needed: start + e.needed }
      const cut = new Truncated({ part: e.part, reason: e.reason, ...needed })
      if (growable) return Result.fail(cut)
      if (failures.length === 0) firstCut = cut
    }
    failures.push(`${Uids.describeUid(transferSyntaxUid)}: ${e.message}`)
  }
  return Result.fail(firstCut ?? new UnrecognizedDataSet({ reason: failures.join("; ") }))
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
export const parse = (
  bytes: Uint8Array,
  options: ReadMetaOptions | undefined,
  growable: boolean
): Result.Result<FileMeta, Part10Error> => {
  if (hasMagic(bytes, PREAMBLE_LENGTH)) {
    const meta = fromMetaGroup(bytes, META_START, options, false, growable)
    if (Result.isFailure(meta) && meta.failure._tag === "NoFileMeta" && options?.sniff === true) {
      return sniffDataSet(bytes, META_START, growable)
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
  return sniffDataSet(bytes, 0, growable)
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
      inflated = zlib().inflateRawSync(dataSetBytes.subarray(0, input), {
        finishFlush: zlib().constants.Z_SYNC_FLUSH,
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
// Writing

/**
 * One Explicit VR Little Endian element with a 16-bit length, padded to even with `pad`: its value one byte per
 * character (code point), its low 8 bits, written in place (writeMeta runs once per received instance).
 */
const shortElement = (element: number, vr: string, value: string, pad: number): Uint8Array => {
  const text = value.slice(0, 0xfffe)
  let out = new Uint8Array(8 + text.length + (text.length % 2))
  let n = 0
  for (const c of text) out[8 + n++] = c.charCodeAt(0) & 0xff
  const length = n + (n % 2)
  // Fewer code points than UTF-16 code units (characters past U+FFFF): the element is shorter.
  if (8 + length < out.length) out = out.slice(0, 8 + length)
  if (length > n) out[8 + n] = pad
  out[0] = 0x02
  out[2] = element & 0xff
  out[3] = element >> 8
  out[4] = vr.charCodeAt(0)
  out[5] = vr.charCodeAt(1)
  out[6] = length & 0xff
  out[7] = length >> 8
  return out
}

/**
 * A File Meta Information (PS3.10 7.1): 128 zero bytes, "DICM", then (0002,0000) with the right group length,
 * (0002,0001) 00\01, (0002,0002), (0002,0003), (0002,0010), (0002,0012), and (0002,0013), (0002,0016) when given;
 * UIDs NUL-padded, strings space-padded, Explicit VR Little Endian. Followed by a data set's bytes as received,
 * it makes a Part 10 file without re-encoding the data set. Values are written as given: validate UIDs first.
 */
export const writeMeta = (input: MetaInput): Uint8Array => {
  const versionName =
    input.implementationVersionName ??
    (input.implementationClassUid === undefined ? ApplicationEntity.IMPLEMENTATION_VERSION_NAME : undefined)
  const version = Uint8Array.from([0x02, 0x00, 0x01, 0x00, 0x4f, 0x42, 0, 0, 2, 0, 0, 0, 0x00, 0x01])
  const elements = [
    version,
    shortElement(0x0002, "UI", input.sopClassUid, 0),
    shortElement(0x0003, "UI", input.sopInstanceUid, 0),
    shortElement(0x0010, "UI", input.transferSyntaxUid, 0),
    shortElement(0x0012, "UI", input.implementationClassUid ?? ApplicationEntity.IMPLEMENTATION_CLASS_UID, 0),
    ...(versionName === undefined ? [] : [shortElement(0x0013, "SH", versionName, 0x20)]),
    ...(input.sourceAeTitle === undefined ? [] : [shortElement(0x0016, "AE", input.sourceAeTitle, 0x20)])
  ]
  let groupLength = 0
  for (const element of elements) groupLength += element.length
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
