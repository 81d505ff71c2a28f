/**
 * DIMSE status codes (PS3.7 Annex C, and the service-specific codes of PS3.4: C.4.1.1.4 C-FIND,
 * C.4.2.1.5 C-MOVE, C.4.3.1.4 C-GET, B.2.3 C-STORE, A.4 Verification).
 *
 * `classify` puts any 16-bit status into one of the five types of PS3.7 Annex C: Success (0000),
 * Pending (FF00, FF01), Cancel (FE00), Warning (0001, 0107, 0116, Bxxx) and Failure (everything else,
 * for example 0110 Processing failure, 0122 SOP Class not supported, A7xx out of resources, A9xx data
 * set does not match, Cxxx cannot understand). `describe` gives the meaning of a status for a given
 * service where PS3.4 defines one, and the general meaning from PS3.7 Annex C otherwise.
 *
 * A non-success status is data in a response, not an error of this library.
 *
 * @since 0.1.0
 */

/** The five status types of PS3.7 Annex C. */
export type Category = "Success" | "Pending" | "Cancel" | "Warning" | "Failure"

/** The DIMSE services, for `describe` (PS3.4 defines specific codes for the DIMSE-C ones). */
export type Service =
  | "C-ECHO"
  | "C-STORE"
  | "C-FIND"
  | "C-GET"
  | "C-MOVE"
  | "N-EVENT-REPORT"
  | "N-GET"
  | "N-SET"
  | "N-ACTION"
  | "N-CREATE"
  | "N-DELETE"

/** 0000: Success. */
export const SUCCESS = 0x0000
/** FF00: Pending (matches or sub-operations are continuing). */
export const PENDING = 0xff00
/** FF01: Pending, with a warning that one or more optional keys were not supported (C-FIND). */
export const PENDING_WARNING = 0xff01
/** FE00: Cancel (matching or sub-operations terminated by C-CANCEL). */
export const CANCEL = 0xfe00
/** B000: Warning (C-STORE coercion of data elements; C-GET/C-MOVE one or more sub-operations failed). */
export const WARNING = 0xb000
/** 0110: Processing failure. */
export const PROCESSING_FAILURE = 0x0110
/** 0112: No such SOP Instance. */
export const NO_SUCH_SOP_INSTANCE = 0x0112
/** 0122: Refused: SOP Class not supported. */
export const SOP_CLASS_NOT_SUPPORTED = 0x0122
/** 0124: Refused: not authorized. */
export const NOT_AUTHORIZED = 0x0124
/** 0211: Failure: unrecognized operation (a request for an operation the peer does not support). */
export const UNRECOGNIZED_OPERATION = 0x0211
/** A700: Refused: out of resources. */
export const OUT_OF_RESOURCES = 0xa700
/** A701: Refused: out of resources, unable to calculate the number of matches (C-GET, C-MOVE). */
export const OUT_OF_RESOURCES_MATCHES = 0xa701
/** A702: Refused: out of resources, unable to perform sub-operations (C-GET, C-MOVE). */
export const OUT_OF_RESOURCES_SUBOPERATIONS = 0xa702
/** A801: Refused: Move Destination unknown (C-MOVE). */
export const MOVE_DESTINATION_UNKNOWN = 0xa801
/** A900: Error: data set or identifier does not match SOP Class. */
export const IDENTIFIER_DOES_NOT_MATCH = 0xa900
/** C000: Error: cannot understand / unable to process. */
export const UNABLE_TO_PROCESS = 0xc000

/** The status type of a status code (PS3.7 Annex C). */
export const classify = (status: number): Category => {
  if (status === SUCCESS) return "Success"
  if (status === PENDING || status === PENDING_WARNING) return "Pending"
  if (status === CANCEL) return "Cancel"
  if (status === 0x0001 || status === 0x0107 || status === 0x0116 || (status & 0xf000) === 0xb000) return "Warning"
  return "Failure"
}

/** True for 0000. */
export const isSuccess = (status: number): boolean => status === SUCCESS

/** True for FF00 and FF01: more responses follow. */
export const isPending = (status: number): boolean => status === PENDING || status === PENDING_WARNING

/**
 * True for a status that ends a C-FIND, C-GET or C-MOVE operation (anything but Pending). Compared directly, not
 * through `classify`: every response sent and received is asked this.
 */
export const isFinal = (status: number): boolean => status !== PENDING && status !== PENDING_WARNING

/** True for Warning and Failure. */
export const isProblem = (status: number): boolean => {
  const c = classify(status)
  return c === "Warning" || c === "Failure"
}

/** A status as `0xA700`. */
export const format = (status: number): string => `0x${status.toString(16).toUpperCase().padStart(4, "0")}`

// General codes, PS3.7 Annex C (C.1 to C.5).
const GENERAL: ReadonlyMap<number, string> = new Map([
  [0x0000, "Success"],
  [0x0001, "Warning: requested optional attributes are not supported"],
  [0x0105, "Failure: no such attribute"],
  [0x0106, "Failure: invalid attribute value"],
  [0x0107, "Warning: attribute list error"],
  [0x0110, "Failure: processing failure"],
  [0x0111, "Failure: duplicate SOP Instance"],
  [0x0112, "Failure: no such SOP Instance"],
  [0x0113, "Failure: no such event type"],
  [0x0114, "Failure: no such argument"],
  [0x0115, "Failure: invalid argument value"],
  [0x0116, "Warning: attribute value out of range"],
  [0x0117, "Failure: invalid object instance"],
  [0x0118, "Failure: no such SOP Class"],
  [0x0119, "Failure: class-instance conflict"],
  [0x0120, "Failure: missing attribute"],
  [0x0121, "Failure: missing attribute value"],
  [0x0122, "Refused: SOP Class not supported"],
  [0x0123, "Failure: no such action"],
  [0x0124, "Refused: not authorized"],
  [0x0210, "Failure: duplicate invocation"],
  [0x0211, "Failure: unrecognized operation"],
  [0x0212, "Failure: mistyped argument"],
  [0x0213, "Failure: resource limitation"],
  [0xfe00, "Cancel"],
  [0xff00, "Pending"],
  [0xff01, "Pending: warning, one or more optional keys were not supported"]
])

const RETRIEVE: ReadonlyMap<number, string> = new Map([
  [0x0000, "Success: sub-operations complete, no failures"],
  [0xa701, "Refused: out of resources, unable to calculate number of matches"],
  [0xa702, "Refused: out of resources, unable to perform sub-operations"],
  [0xa900, "Failed: identifier does not match SOP Class"],
  [0xaa00, "Failed: none of the frames requested were found in the SOP Instance"],
  [0xaa01, "Failed: unable to create new object for this SOP Class"],
  [0xaa02, "Failed: unable to extract frames"],
  [0xaa03, "Failed: time-based request received for a non-time-based original SOP Instance"],
  [0xaa04, "Failed: invalid request"],
  [0xb000, "Warning: sub-operations complete, one or more failures or warnings"],
  [0xfe00, "Cancel: sub-operations terminated due to Cancel indication"],
  [0xff00, "Pending: sub-operations are continuing"]
])

const SPECIFIC: Readonly<Record<Service, ReadonlyMap<number, string>>> = {
  "C-ECHO": new Map(),
  "C-STORE": new Map([
    [0xb000, "Warning: coercion of data elements"],
    [0xb006, "Warning: elements discarded"],
    [0xb007, "Warning: data set does not match SOP Class"]
  ]),
  "C-FIND": new Map([
    [0x0000, "Success: matching is complete"],
    [0xa700, "Refused: out of resources"],
    [0xa900, "Failed: identifier does not match SOP Class"],
    [0xfe00, "Cancel: matching terminated due to Cancel request"],
    [0xff00, "Pending: matches are continuing"],
    [0xff01, "Pending: matches are continuing, one or more optional keys were not supported"]
  ]),
  "C-GET": RETRIEVE,
  "C-MOVE": new Map([...RETRIEVE, [0xa801, "Refused: Move Destination unknown"]]),
  // The DIMSE-N services use the general codes of PS3.7 Annex C (a SOP class's own reasons go in Error ID, as MPPS's
  // 0x0110 with Error ID A710, "may no longer be updated").
  "N-EVENT-REPORT": new Map(),
  "N-GET": new Map(),
  "N-SET": new Map(),
  "N-ACTION": new Map(),
  "N-CREATE": new Map(),
  "N-DELETE": new Map()
}

// Ranges a service assigns to a family of codes (the low bits are implementation specific).
const rangeMeaning = (status: number, service: Service | undefined): string | undefined => {
  const high = status & 0xff00
  if (high === 0xa700) return "Refused: out of resources"
  if (high === 0xa900) {
    return service === "C-STORE"
      ? "Error: data set does not match SOP Class"
      : "Failed: identifier does not match SOP Class"
  }
  if ((status & 0xf000) === 0xc000)
    return service === "C-STORE" ? "Error: cannot understand" : "Failed: unable to process"
  if ((status & 0xf000) === 0xb000) return "Warning"
  if (high === 0xa800) return "Refused"
  return undefined
}

/** The meaning of a status for a service (PS3.4), falling back to PS3.7 Annex C, then to its type. */
export const describe = (status: number, service?: Service): string =>
  (service === undefined ? undefined : SPECIFIC[service].get(status)) ??
  GENERAL.get(status) ??
  rangeMeaning(status, service) ??
  `${classify(status)}: unknown status ${format(status)}`
