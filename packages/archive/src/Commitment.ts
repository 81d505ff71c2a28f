/**
 * The archive as a Storage Commitment Push Model SCP (PS3.4 Annex J): which of the instances a request references it
 * commits to keep. An instance is committed when the store holds it under the same SOP Class UID and its file is
 * there as recorded (a regular file of the recorded size, not reached through a symbolic link below the store root).
 * Otherwise it fails with the Failure Reason J.3.3.1.2 names: 0x0112 (no such object instance) when it is not held or
 * its file is gone, 0x0119 (class/instance conflict) when it is held under another SOP Class UID, 0x0110 (processing
 * failure) when the index or the file cannot be read, or the file is not as recorded.
 *
 * `layer` answers from the archive's index; `plainLayer` from a `PlainStore`, which knows only what its process wrote
 * (an instance stored by an earlier run of `netdicom storescp` fails 0x0112).
 *
 * Not here: the N-ACTION and the report's delivery (`@netdicom/net`'s `StorageCommitmentScp`). With the store's
 * `sync: false` a committed instance's file may not yet be on disk: nothing is synced for a commitment.
 *
 * @since 0.2.0
 */
import * as Fs from "node:fs"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { StorageCommitment, StorageCommitmentScp } from "@netdicom/net"
import type { Normalized } from "@netdicom/net"
import { Archive } from "./Archive.ts"
import { LinkInStore } from "./ArchiveError.ts"
import { InstanceStore, linkBelow } from "./InstanceStore.ts"
import { PlainStore, type HeldFile } from "./PlainStore.ts"

/** Where a store says an instance is: its SOP class and file (refused when its file is reached through a link). */
export type Lookup = (sopInstanceUid: string) => Effect.Effect<Option.Option<HeldFile>, { readonly message: string }>

// The instances looked at before the event loop is given back: each costs an index read and a `stat`.
const BATCH = 256

/** Which of `references` the store holds as asked (see the module's header), and why not the others. */
export const decide = (
  lookup: Lookup,
  references: ReadonlyArray<StorageCommitment.Reference>
): Effect.Effect<StorageCommitmentScp.Decision> =>
  Effect.gen(function* () {
    const committed: Array<StorageCommitment.Reference> = []
    const failed: Array<StorageCommitment.Failure> = []
    let lookupFailure: string | undefined
    for (const [i, r] of references.entries()) {
      if (i > 0 && i % BATCH === 0) yield* Effect.yieldNow
      const fail = (reason: number) => failed.push({ ...r, reason })
      const found = yield* Effect.result(lookup(r.sopInstanceUid))
      if (Result.isFailure(found)) {
        lookupFailure ??= found.failure.message
        fail(StorageCommitment.PROCESSING_FAILURE)
        continue
      }
      if (Option.isNone(found.success)) {
        fail(StorageCommitment.NO_SUCH_OBJECT_INSTANCE)
        continue
      }
      const held = found.success.value
      if (held.sopClassUid !== r.sopClassUid) {
        fail(StorageCommitment.CLASS_INSTANCE_CONFLICT)
        continue
      }
      const file = fileState(held.filePath, held.fileSize)
      if (file === "as recorded") committed.push(r)
      else {
        if (file !== "gone") yield* Effect.logWarning(`Storage Commitment: ${r.sopInstanceUid} not committed: ${file}`)
        fail(file === "gone" ? StorageCommitment.NO_SUCH_OBJECT_INSTANCE : StorageCommitment.PROCESSING_FAILURE)
      }
    }
    if (lookupFailure !== undefined) {
      yield* Effect.logWarning(`Storage Commitment: instances not looked up: ${lookupFailure}`)
    }
    return { committed, failed }
  })

// Whether a recorded file is there as recorded, gone, or something else (said).
const fileState = (path: string, size: number): string => {
  try {
    const stat = Fs.lstatSync(path, { throwIfNoEntry: false })
    if (stat === undefined) return "gone"
    if (!stat.isFile()) return `${path} is not a regular file`
    return stat.size === size ? "as recorded" : `${path} is ${stat.size} bytes, ${size} when stored`
  } catch (e) {
    return `${path} cannot be looked at: ${e instanceof Error ? e.message : String(e)}`
  }
}

/** The archive's lookup: its index, and the file not read through a symbolic link below the store root. */
export const archiveLookup =
  (archive: Archive["Service"]): Lookup =>
  (sopInstanceUid) =>
    Effect.flatMap(archive.get(sopInstanceUid), (found) =>
      Option.match(found, {
        onNone: () => Effect.succeedNone,
        onSome: (item) =>
          Effect.map(archive.fileOf(item), (filePath) =>
            Option.some({ sopClassUid: item.sopClassUid, filePath, fileSize: item.fileSize })
          )
      })
    )

/** A `PlainStore`'s lookup: what its process wrote, the file not read through a symbolic link below the root. */
export const plainLookup =
  (plain: PlainStore["Service"], root: string): Lookup =>
  (sopInstanceUid) => {
    const held = plain.held(sopInstanceUid)
    if (Option.isNone(held)) return Effect.succeedNone
    const link = linkBelow(root, held.value.filePath)
    return link === undefined ? Effect.succeed(held) : Effect.fail(new LinkInStore({ operation: "read", path: link }))
  }

/**
 * The Storage Commitment SCP on the archive in context (`StorageCommitmentScp.layer` deciding from its index):
 * reports on the association of the request, else on a new one to the requester's address from `destinations`.
 */
export const layer = (
  options: Omit<StorageCommitmentScp.Options, "decide">
): Layer.Layer<Normalized.NormalizedService, never, Archive> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const lookup = archiveLookup(yield* Archive)
      return StorageCommitmentScp.layer({ ...options, decide: (references) => decide(lookup, references) })
    })
  )

/** The Storage Commitment SCP on the `PlainStore` in context: it commits what this process wrote. */
export const plainLayer = (
  options: Omit<StorageCommitmentScp.Options, "decide">
): Layer.Layer<Normalized.NormalizedService, never, PlainStore | InstanceStore> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const lookup = plainLookup(yield* PlainStore, (yield* InstanceStore).root)
      return StorageCommitmentScp.layer({ ...options, decide: (references) => decide(lookup, references) })
    })
  )
