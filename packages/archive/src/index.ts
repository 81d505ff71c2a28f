/**
 * @netdicom/archive: the storage and query engine behind a DICOM C-STORE / C-FIND / C-GET / C-MOVE SCP
 * (PS3.4 Annex B storage, Annex C query/retrieve). No network code: the SCP layer calls it.
 *
 * @since 0.1.0
 */

/** The archive service joining the file store and the index. */
export * as Archive from "./Archive.ts"

/** Errors of the archive layer. */
export * as ArchiveError from "./ArchiveError.ts"

/** The SQLite index and C-FIND engine. */
export * as ArchiveIndex from "./ArchiveIndex.ts"

/** The start-up check of the store's files against the index. */
export * as Reconcile from "./Reconcile.ts"

/** The hidden names of files being written, and the removal of those a killed process left. */
export * as TempFiles from "./TempFiles.ts"

/** Header reading (file meta + data set up to Pixel Data) with dcmjs. */
export * as Header from "./Header.ts"

/** The UIDs that name an instance's file, read without decoding the data set. */
export * as InstanceUids from "./InstanceUids.ts"

/** A store of received instances without an index (`netdicom storescp`). */
export * as PlainStore from "./PlainStore.ts"

/** The structural walk of a data set as it is written (the storage SCPs' and `netdicom get`'s). */
export * as StructureCheck from "./StructureCheck.ts"

/** The atomic instance file store. */
export * as InstanceStore from "./InstanceStore.ts"

/** Information models, levels, identifier checks. */
export * as Levels from "./Levels.ts"

/** C-FIND attribute matching. */
export * as Matching from "./Matching.ts"

/** The Part 10 file wrapper: File Meta Information for received data sets, where a stored data set starts. */
export * as Part10 from "./Part10.ts"

/** ISO 2022 code extension decoding of what dcmjs leaves undecoded. */
export * as Charset from "./Charset.ts"

/** The archive as a Storage Commitment SCP: which referenced instances it holds. */
export * as Commitment from "./Commitment.ts"

/** The archive as the Storage, Query and Retrieve services of `@netdicom/net`'s SCP. */
export * as ScpServices from "./ScpServices.ts"

/** The node:sqlite wrapper. */
export * as Sqlite from "./Sqlite.ts"
