/**
 * The DICOM file format wrapper (PS3.10 7.1): the 128 byte preamble, the `DICM` prefix and the File Meta
 * Information group (0002,xxxx), always Explicit VR Little Endian (PS3.10 7.1, PS3.5 7.1.2).
 *
 * A C-STORE SCP receives a bare data set in the negotiated transfer syntax; `withFileMeta` puts the wrapper in
 * front of it (streaming, no copy of the data set) so the archive can store a Part 10 file. A C-GET/C-MOVE SCP
 * sends the bare data set again: it starts at `dataSetOffset` of the stored file. The data set bytes are never
 * touched, so a deflated or encapsulated data set is stored and sent as it came.
 *
 * @since 0.1.0
 */

/** What the File Meta Information of a received instance says. */
export interface FileMetaOptions {
  /** Media Storage SOP Class UID (0002,0002): the request's Affected SOP Class UID. */
  readonly sopClassUid: string
  /** Media Storage SOP Instance UID (0002,0003): the request's Affected SOP Instance UID. */
  readonly sopInstanceUid: string
  /** Transfer Syntax UID (0002,0010): the presentation context's transfer syntax. */
  readonly transferSyntaxUid: string
  /** Implementation Class UID (0002,0012) of the writer. */
  readonly implementationClassUid: string
  /** Implementation Version Name (0002,0013), at most 16 characters. */
  readonly implementationVersionName?: string
  /** Source Application Entity Title (0002,0016): the calling AE title. */
  readonly sourceApplicationEntityTitle?: string
}

const PREAMBLE_LENGTH = 128

const ascii = (text: string): Array<number> => [...text].map((c) => c.charCodeAt(0) & 0xff)

/** One explicit VR little endian element; `pad` makes the value even (NUL for UI, space otherwise). */
const element = (element: number, vr: string, value: ReadonlyArray<number>, pad: number): Array<number> => {
  const bytes = value.length % 2 === 0 ? [...value] : [...value, pad]
  const header = [0x02, 0x00, element & 0xff, element >> 8, ...ascii(vr)]
  if (vr === "OB") return [...header, 0, 0, ...u32(bytes.length), ...bytes]
  return [...header, bytes.length & 0xff, bytes.length >> 8, ...bytes]
}

const u32 = (n: number): Array<number> => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff]

/** Preamble, `DICM` and the File Meta Information group, ready to put before a data set. */
export const fileMetaInformation = (options: FileMetaOptions): Uint8Array => {
  const body = [
    ...element(0x0001, "OB", [0x00, 0x01], 0),
    ...element(0x0002, "UI", ascii(options.sopClassUid), 0),
    ...element(0x0003, "UI", ascii(options.sopInstanceUid), 0),
    ...element(0x0010, "UI", ascii(options.transferSyntaxUid), 0),
    ...element(0x0012, "UI", ascii(options.implementationClassUid), 0),
    ...(options.implementationVersionName === undefined
      ? []
      : element(0x0013, "SH", ascii(options.implementationVersionName.slice(0, 16)), 0x20)),
    ...(options.sourceApplicationEntityTitle === undefined
      ? []
      : element(0x0016, "AE", ascii(options.sourceApplicationEntityTitle.trim().slice(0, 16)), 0x20))
  ]
  const group = [...element(0x0000, "UL", u32(body.length), 0), ...body]
  const out = new Uint8Array(PREAMBLE_LENGTH + 4 + group.length)
  out.set(ascii("DICM"), PREAMBLE_LENGTH)
  out.set(group, PREAMBLE_LENGTH + 4)
  return out
}

/**
 * Where the data set starts in Part 10 bytes: after the File Meta Information group, whose length (0002,0000)
 * must come first. Undefined when the bytes do not start that way (or are too short to tell).
 */
export const dataSetOffset = (bytes: Uint8Array): number | undefined => {
  const at = PREAMBLE_LENGTH + 4
  if (bytes.length < at + 12) return undefined
  if (String.fromCharCode(...bytes.subarray(PREAMBLE_LENGTH, at)) !== "DICM") return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const isGroupLength = view.getUint16(at, true) === 0x0002 && view.getUint16(at + 2, true) === 0x0000
  if (!isGroupLength || String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!) !== "UL") return undefined
  return at + 12 + view.getUint32(at + 8, true)
}

/** A bare data set (chunks) with the file wrapper in front: Part 10 bytes for `Archive.store`. */
export async function* withFileMeta(
  options: FileMetaOptions,
  dataSet: Iterable<Uint8Array> | AsyncIterable<Uint8Array>
): AsyncGenerator<Uint8Array> {
  yield fileMetaInformation(options)
  yield* dataSet
}
