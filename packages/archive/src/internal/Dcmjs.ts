/**
 * A typed facade over the parts of dcmjs (0.52) the archive uses: Part 10 reading, naturalizing and the data
 * dictionary. dcmjs ships no type declarations; it comes untyped from net's loader (`DataSet.dcmjsModule`), so
 * that no ambient `declare module "dcmjs"` is added to the workspace (another package may declare its own).
 *
 * Covers nothing of the standard by itself: PS3.10 file reading and PS3.5 decoding are dcmjs's work.
 *
 * @internal
 */
import { DataSet } from "@netdicom/net"

/** A dcmjs "naturalized" data set: keywords as keys, single values unwrapped, sequences as arrays of items. */
export type Dataset = { readonly [keyword: string]: unknown }

/** One element of a dcmjs "DICOM JSON"-like dict, keyed by 8 hex digit tags. */
export interface DictElement {
  readonly vr: string
  readonly Value?: ReadonlyArray<unknown>
  readonly _rawValue?: unknown
}

/** A dict keyed by "GGGGEEEE". */
export type Dict = Record<string, DictElement>

/** What `DicomMessage.readFile` returns. */
export interface DicomDictInstance {
  meta: Dict
  dict: Dict
  write(options?: { readonly allowInvalidVRLength?: boolean }): ArrayBuffer
}

/** Options accepted by `DicomMessage.readFile`. */
export interface ReadFileOptions {
  readonly ignoreErrors?: boolean
  readonly untilTag?: string | null
  readonly includeUntilTagValue?: boolean
  readonly noCopy?: boolean
  readonly forceStoreRaw?: boolean
}

/** One entry of the dcmjs data dictionary. */
export interface DictionaryEntry {
  readonly tag: string
  readonly vr: string
  readonly vm: string
  readonly name: string
}

interface DcmjsModule {
  readonly data: {
    readonly DicomMessage: {
      readFile(buffer: ArrayBuffer, options?: ReadFileOptions): DicomDictInstance
    }
    readonly DicomMetaDictionary: {
      naturalizeDataset(dict: Dict): Record<string, unknown>
      denaturalizeDataset(dataset: Dataset): Dict
      readonly nameMap: Readonly<Record<string, DictionaryEntry | undefined>>
      readonly dictionary: Readonly<Record<string, DictionaryEntry | undefined>>
    }
    readonly DicomDict: new (meta: Dict) => DicomDictInstance
  }
}

// Loaded on first use (net's shared loader), not with the module: dcmjs adds ~16 MiB to a process's memory, and the
// `netdicom` command imports the archive for `qrscp` whatever its subcommand.
const dcmjs = (): DcmjsModule => DataSet.dcmjsModule() as DcmjsModule

/** `dcmjs().data.DicomMessage.readFile`: parses Part 10 bytes; throws on malformed input. */
export const readFile = (buffer: ArrayBuffer, options: ReadFileOptions): DicomDictInstance =>
  dcmjs().data.DicomMessage.readFile(buffer, options)

/** `dcmjs().data.DicomMetaDictionary.naturalizeDataset`. */
export const naturalize = (dict: Dict): Record<string, unknown> =>
  dcmjs().data.DicomMetaDictionary.naturalizeDataset(dict)

/** `dcmjs().data.DicomMetaDictionary.denaturalizeDataset`. */
export const denaturalize = (dataset: Dataset): Dict => dcmjs().data.DicomMetaDictionary.denaturalizeDataset(dataset)

/** Builds a Part 10 file from a naturalized file meta group and data set (used by tests and tools). */
export const writePart10 = (meta: Dataset, dataset: Dataset): Uint8Array => {
  const { DicomDict } = dcmjs().data
  const file = new DicomDict(denaturalize(meta))
  file.dict = denaturalize(dataset)
  return new Uint8Array(file.write())
}

/** The dictionary entry of a tag (group << 16 | element) as dcmjs looks it up, or undefined (net's cached look-up). */
export const entryOfTag = (tag: number): DataSet.DictionaryEntry | undefined => DataSet.dictionaryEntry(tag)

const HEX_TAG = /^[0-9A-Fa-f]{8}$/

/** The dictionary entry of a keyword, or of an 8 hex digit tag string; undefined when unknown. */
export const lookup = (keyword: string): DictionaryEntry | undefined => {
  const named = dcmjs().data.DicomMetaDictionary.nameMap[keyword]
  if (named !== undefined) return named
  if (!HEX_TAG.test(keyword)) return undefined
  const punctuated = `(${keyword.slice(0, 4).toUpperCase()},${keyword.slice(4).toUpperCase()})`
  return dcmjs().data.DicomMetaDictionary.dictionary[punctuated]
}
