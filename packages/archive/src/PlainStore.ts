/**
 * A store of received instances without an index: what `netdicom storescp` keeps. Files go where the archive puts
 * them (`<root>/<StudyInstanceUID>/<SOPInstanceUID>.dcm`, `InstanceStore`: written atomically, symbolic links below
 * the root refused), each data set walked as it is written (a truncated or malformed one refused) and its SOP UIDs
 * checked against the request's, as `Archive.store` does; but only the UIDs that name the file are read
 * (`InstanceUids`, no dcmjs), and nothing is indexed.
 *
 * What the store remembers is the file of each SOP Instance UID it wrote, in memory, for the latest `REMEMBERED`
 * instances (100,000, ~35 MiB; `remember` sets it): an instance received again replaces its file, and one received
 * again under another Study Instance UID moves (its earlier file is removed once the new one is in place, while that
 * file is as written), like the archive with `uidConflicts: "move"`. Files already under the root when it starts are
 * not looked at, nor are those of instances forgotten since: an instance stored by an earlier run (or too long ago)
 * and received again under another study keeps both files. It answers no query; `held` says what it remembers of
 * what this run wrote (a Storage Commitment SCP's answer, `Commitment.plainLayer`). Remembering every instance let a
 * server's heap grow by ~330 bytes per instance for as long as it ran.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { InvalidInstance, LinkInStore, StoreFailed } from "./ArchiveError.ts"
import { InstanceStore } from "./InstanceStore.ts"
import type { Aside, InstanceBytes } from "./InstanceStore.ts"
import * as InstanceUids from "./InstanceUids.ts"
import * as Storing from "./internal/Storing.ts"
import type { FileEntry, StoreOptions } from "./internal/Storing.ts"

export type { StoreOptions } from "./internal/Storing.ts"

/** What one store did. */
export interface StoredFile {
  /** The UIDs read from the instance. */
  readonly uids: InstanceUids.InstanceUids
  /** Where its file is. */
  readonly filePath: string
  /** The file an earlier copy of the instance was in, replaced or removed, if any. */
  readonly replaced: Option.Option<string>
}

/** An instance this run wrote: its SOP class and its file as written. */
export interface HeldFile {
  readonly sopClassUid: string
  readonly filePath: string
  readonly fileSize: number
}

/** The store service. */
export class PlainStore extends Context.Service<
  PlainStore,
  {
    /** Stores Part 10 bytes (whole, or chunked); the same SOP Instance UID again replaces (or moves) its file. */
    readonly store: (
      bytes: InstanceBytes,
      options?: StoreOptions
    ) => Effect.Effect<StoredFile, StoreFailed | LinkInStore | InvalidInstance>
    /** The file this run last wrote an instance to, and its SOP Class UID, if it wrote one (nothing is indexed). */
    readonly held: (sopInstanceUid: string) => Option.Option<HeldFile>
  }
>()("@netdicom/archive/PlainStore") {
  /** The store on the `InstanceStore` in context. */
  static readonly layer: Layer.Layer<PlainStore, never, InstanceStore> = Layer.effect(
    PlainStore,
    Effect.gen(function* () {
      return make(yield* InstanceStore)
    })
  )

  /**
   * A store with files under `root`; `sync` as `InstanceStoreOptions.sync` (default true); `remember`, how many of
   * the instances written last it remembers (default `REMEMBERED`).
   */
  static readonly layerFrom = (options: {
    readonly root: string
    readonly sync?: boolean
    readonly remember?: number
  }): Layer.Layer<PlainStore | InstanceStore, StoreFailed> =>
    Layer.provideMerge(
      Layer.effect(
        PlainStore,
        Effect.gen(function* () {
          return make(yield* InstanceStore, { remember: options.remember })
        })
      ),
      InstanceStore.layer({ root: options.root, sync: options.sync ?? true })
    )
}

/** How many of the instances written last a store remembers by default. */
export const REMEMBERED = 100_000

/** A store on the given file store, remembering the latest `options.remember` instances (default `REMEMBERED`). */
export const make = (
  store: InstanceStore["Service"],
  options?: { readonly remember?: number | undefined }
): PlainStore["Service"] => {
  const remember = Math.max(1, options?.remember ?? REMEMBERED)
  const exclusive = Storing.keyedLock()
  // the file each SOP Instance UID was last written to in this run, the latest written last: past `remember`, the
  // earliest is forgotten
  const written = new Map<string, FileEntry & { readonly sopClassUid: string }>()

  const storeInstance = (bytes: InstanceBytes, options?: StoreOptions) =>
    Effect.gen(function* () {
      const peeked =
        bytes instanceof Uint8Array
          ? { uids: yield* Effect.fromResult(InstanceUids.fromBytes(bytes, options?.maxHeaderBytes)), bytes }
          : yield* InstanceUids.peek(bytes, options?.maxHeaderBytes)
      const uids = peeked.uids
      yield* Effect.fromResult(Storing.expectations(uids, options))
      const check = Storing.checkOf(uids.transferSyntaxUid)
      // one store (write, then removal of the file it moved from) at a time per SOP Instance UID
      return yield* exclusive(
        uids.sopInstanceUid,
        Effect.gen(function* () {
          // What the target is now (its inode), to tell after a failure whether the new file took its place; a file
          // there (written by this run or an earlier one) is kept aside until the write is done, to be put back.
          const target = store.pathFor(uids)
          const before = Storing.inodeOf(target)
          const aside = before === undefined ? Option.none<Aside>() : yield* store.setAside(target)
          // A write that fails once its file was renamed into place (the study folder's fsync failing, the handler
          // interrupted meanwhile) leaves things as they were: the copy it replaced put back, or the new file removed.
          const undo = Effect.suspend(() =>
            Storing.inodeOf(target) === before
              ? Effect.void
              : Option.isSome(aside)
                ? aside.value.restore
                : before === undefined
                  ? store.remove(target)
                  : Effect.void
          ).pipe(Effect.ignore)
          const file = yield* store
            .write(
              uids,
              Storing.walked(peeked.bytes, uids.dataSetOffset, check, options?.release),
              Storing.verifyOf(check)
            )
            .pipe(
              Effect.onError(() => undo),
              Effect.ensuring(Option.match(aside, { onNone: () => Effect.void, onSome: (a) => a.drop }))
            )
          const earlier = written.get(uids.sopInstanceUid)
          written.delete(uids.sopInstanceUid)
          if (written.size >= remember) written.delete(written.keys().next().value!)
          written.set(uids.sopInstanceUid, {
            sopInstanceUid: uids.sopInstanceUid,
            sopClassUid: uids.sopClassUid,
            filePath: file.path,
            fileSize: file.size,
            fileModifiedMs: file.modifiedMs
          })
          if (earlier !== undefined && earlier.filePath !== file.path) {
            yield* Storing.removeIfAsRecorded(store, earlier, "stored")
          }
          return {
            uids,
            filePath: file.path,
            replaced: earlier === undefined ? Option.none<string>() : Option.some(earlier.filePath)
          }
        })
      )
    })

  return PlainStore.of({
    store: storeInstance,
    held: (sopInstanceUid) => Option.fromNullishOr(written.get(sopInstanceUid))
  })
}
