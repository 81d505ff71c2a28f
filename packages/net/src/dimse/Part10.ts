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
 * do no I/O; `readFileMeta` (and `readSendableMeta`, which falls back to sniffing) reads a file's first bytes with
 * `node:fs/promises` and `streamDataSet` streams the rest with `node:fs`.
 *
 * @since 0.1.0
 */
export {
  FileReadFailed,
  FileWriteFailed,
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
export {
  type DataSetLocation,
  type FileInfo,
  type FileMeta,
  type MetaInput,
  type ReadFileMetaOptions,
  type ReadMetaOptions,
  readMeta,
  type SopIdentifiers,
  sopIdentifiers,
  writeMeta
} from "./Part10Meta.ts"
export {
  asDataSource,
  loadDataSet,
  MAX_CHUNK_SIZE,
  readAhead,
  readFileMeta,
  readSendableMeta,
  STREAM_CHUNK,
  streamDataSet,
  SYNC_READ_LIMIT,
  WHOLE_READ_LIMIT
} from "./Part10Read.ts"
export { SYNC_WRITE_LIMIT, writeFile, writeFileNow } from "./Part10Write.ts"
