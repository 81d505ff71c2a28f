/**
 * The data dictionary (PS3.6 section 6) through dcmjs: keyword and tag look-ups for query keys and
 * for DICOM JSON, and dcmjs's log level. dcmjs ships no type declarations; it comes untyped from net's loader
 * (`DataSet.dcmjsModule`), loaded on first use.
 *
 * @internal
 */
import { DataSet } from "@netdicom/net"

/** One dictionary entry: tag as "(GGGG,EEEE)", VR, keyword. */
export interface Entry {
  readonly tag: string
  readonly vr: string
  readonly name: string
}

interface DcmjsDictionary {
  readonly data: {
    readonly DicomMetaDictionary: {
      readonly nameMap: Readonly<Record<string, Entry | undefined>>
      readonly dictionary: Readonly<Record<string, Entry | undefined>>
    }
  }
}

const dcmjs = (): DcmjsDictionary => DataSet.dcmjsModule() as DcmjsDictionary

/** The entry of a keyword (`PatientName`), if it is one. */
export const byKeyword = (keyword: string): Entry | undefined => dcmjs().data.DicomMetaDictionary.nameMap[keyword]

/** Tags looked up already (hits and misses), up to `CACHE_LIMIT` of them, then forgotten all at once. */
const cache = new Map<string, Entry | null>()
const CACHE_LIMIT = 65536

/**
 * The entry of an 8 hex digit tag (`00100010`), if the dictionary has it. Answers are kept: dcmjs searches its packed
 * table and then a list of repeating-group ranges for every tag it does not know (every private one), at each look-up,
 * and `netdicom find` looks up every key of every match.
 */
export const byTag = (hex8: string): Entry | undefined => {
  const t = hex8.toUpperCase()
  const cached = cache.get(t)
  if (cached !== undefined) return cached ?? undefined
  const entry = dcmjs().data.DicomMetaDictionary.dictionary[`(${t.slice(0, 4)},${t.slice(4)})`]
  if (cache.size >= CACHE_LIMIT) cache.clear()
  cache.set(t, entry ?? null)
  return entry
}

/** The 8 hex digit tag of an entry (`(0010,0010)` → `00100010`). */
export const hexOf = (entry: Entry): string => entry.tag.replace(/[(),]/g, "").toUpperCase()

/** dcmjs's own console messages (value warnings and errors while parsing): none, unless debugging. Loads nothing. */
export const setDcmjsLogLevel = (debug: boolean): void => DataSet.setDcmjsLogLevel(debug)
