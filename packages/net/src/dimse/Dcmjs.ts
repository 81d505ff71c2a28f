/**
 * dcmjs, typed (it ships no declarations; loaded with createRequire so no ambient module is declared), and its
 * dictionary looked up through a cache (internal: `DataSet` re-exports `tagString`).
 */
import { createRequire } from "node:module"

/** Formats a tag as (gggg,eeee). */
export const tagString = (tag: number): string => {
  const hex = tag.toString(16).toUpperCase().padStart(8, "0")
  return `(${hex.slice(0, 4)},${hex.slice(4)})`
}

interface DictElement {
  vr: string
  Value?: Array<unknown> | null
  _rawValue?: unknown
}

export type Dict = Record<string, DictElement>

export interface DictionaryEntry {
  readonly tag: string
  readonly vr: string
  readonly name: string
}

export interface TextDecoderLike {
  decode(input: DataView): string
}

export interface DcmjsReadStream {
  decoder: TextDecoderLike
  offset: number
  more(length: number): DcmjsReadStream
  setDecoder(decoder: TextDecoderLike): void
}

interface DcmjsWriteStream {
  getBuffer(): ArrayBuffer
}

interface DcmjsVr {
  readonly maxLength?: number | null
  readonly rangeMatchingMaxLength?: number
  isBinary(): boolean
}

interface Dcmjs {
  readonly data: {
    readonly DicomMessage: {
      _read(stream: DcmjsReadStream, syntax: string, options: { readonly ignoreErrors: boolean }): Dict
      write(
        dict: Dict,
        stream: DcmjsWriteStream,
        syntax: string,
        options: { readonly allowInvalidVRLength: boolean }
      ): number
    }
    readonly DicomMetaDictionary: {
      denaturalizeDataset(dataset: object, nameMap: Readonly<Record<string, DictionaryEntry | undefined>>): Dict
      readonly nameMap: Readonly<Record<string, DictionaryEntry | undefined>>
      readonly dictionary: Readonly<Record<string, DictionaryEntry | undefined>>
    }
    readonly ReadBufferStream: new (buffer: ArrayBuffer) => DcmjsReadStream
    readonly WriteBufferStream: new (defaultSize: number, littleEndian: boolean) => DcmjsWriteStream
    readonly ValueRepresentation: { createByTypeString(vr: string): DcmjsVr }
  }
}

interface DcmjsLog {
  readonly log: { setLevel(level: string): void; getLogger(name: string): { setLevel(level: string): void } }
}

let loaded: unknown
let verbose = false

// Silent unless verbose: dcmjs writes to the console, outside the Effect Logger, and a peer's data set decides what
// (an SL of 2 bytes: "Invalid length for fixed length tag" logged as an error, then a throw our decoders report).
const applyLogLevel = (module: unknown): void => {
  const { log } = module as DcmjsLog
  log.setLevel(verbose ? "warn" : "silent")
  // "Invalid vr type ... - using UN" and the like: what matters is reported by our own decoders
  log.getLogger("validation.dcmjs").setLevel(verbose ? "warn" : "silent")
}

/**
 * The dcmjs module, loaded on first use rather than with this module (it adds ~16 MiB to a process, which a program
 * that only sends files or echoes never needs), its console messages set as `setLogLevel` last asked. Every package
 * of the workspace loads dcmjs through here, each casting it to the part it uses.
 */
export const module = (): unknown => {
  if (loaded === undefined) {
    loaded = createRequire(import.meta.url)("dcmjs")
    applyLogLevel(loaded)
  }
  return loaded
}

/** dcmjs's own console messages (value warnings and errors while parsing): none, unless `verbose` (then warnings). */
export const setLogLevel = (isVerbose: boolean): void => {
  verbose = isVerbose
  if (loaded !== undefined) applyLogLevel(loaded)
}

export const dcmjs = (): Dcmjs => module() as Dcmjs
const dictionary = () => dcmjs().data.DicomMetaDictionary.dictionary

/** Tags looked up already (hits and misses), up to `ENTRY_CACHE_LIMIT` of them, then forgotten all at once. */
const entryCache = new Map<number, DictionaryEntry | null>()
const ENTRY_CACHE_LIMIT = 65536

/**
 * Whether dcmjs's dictionary may know a tag: it has no odd group but within its repeating-group ranges (50xx, 60xx
 * and 7Fxx, which it spans odd groups and all); every private tag is outside (checked against dcmjs in the tests).
 */
const mayBeInDictionary = (tag: number): boolean => {
  const group = tag >>> 16
  if (group % 2 === 0) return true
  return (
    (group >= 0x5000 && group <= 0x50ff) || (group >= 0x6000 && group <= 0x60ff) || (group >= 0x7f00 && group <= 0x7fff)
  )
}

/**
 * dcmjs's dictionary entry of a tag. dcmjs looks a tag it does not know (every private one) up in its packed table
 * and then in a list of repeating-group ranges, at each look-up; decoding and encoding look each element up, so
 * private tags are not asked and the other answers are kept.
 */
export const dictionaryEntry = (tag: number): DictionaryEntry | undefined => {
  if (!mayBeInDictionary(tag)) return undefined
  const cached = entryCache.get(tag)
  if (cached !== undefined) return cached ?? undefined
  const entry = dictionary()[tagString(tag)]
  if (entryCache.size >= ENTRY_CACHE_LIMIT) entryCache.clear()
  entryCache.set(tag, entry ?? null)
  return entry
}
