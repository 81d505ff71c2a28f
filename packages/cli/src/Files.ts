/**
 * The files `netdicom store` sends: paths given on the command line, folders walked recursively, each file's
 * File Meta Information read (PS3.10 7.1) and its data set checked to be whole, and the presentation contexts
 * they need, one per SOP class and transfer syntax (PS3.8 7.1.1.13: an association holds at most 128).
 *
 * @since 0.1.0
 */
import * as FsSync from "node:fs"
import type { Dirent } from "node:fs"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { ContextParts, DataSetCheck, Negotiation, Part10 } from "@netdicom/net"
import { Identifiers, Uids } from "@netdicom/wire"
import { causeText } from "./Options.ts"

/** A file that can be sent, with what its meta says. */
export interface Sendable {
  readonly path: string
  readonly sopClassUid: string
  readonly sopInstanceUid: string
  readonly transferSyntaxUid: string
  readonly dataSetOffset: number
  /** The file's size, modification and status change times when it was inspected: a file changed since is not sent. */
  readonly fileSize: number
  readonly modifiedMs: number
  readonly changedMs?: number
  /** The data set has no (0008,0016)/(0008,0018) of its own: the UIDs above are its File Meta Information's. */
  readonly sopFromMeta?: true
}

/** A UID of a file that an A-ASSOCIATE-RQ cannot propose. */
export class UnproposableUid extends Data.TaggedError("UnproposableUid")<{
  readonly what: string
  readonly invalid: Identifiers.InvalidIdentifier
}> {
  override get message(): string {
    return `${this.what}: ${this.invalid.message}`
  }
}

/** A file that cannot be sent, and why. */
export interface Unsendable {
  readonly path: string
  readonly reason: string
}

// What a file that is neither a regular file nor a folder is.
const special = (e: {
  readonly isFIFO: () => boolean
  readonly isSocket: () => boolean
  readonly isBlockDevice: () => boolean
}): string => (e.isFIFO() ? "a FIFO" : e.isSocket() ? "a socket" : e.isBlockDevice() ? "a block device" : "a device")

/**
 * Every regular file under the given paths (folders recursively, sorted, hidden entries skipped). A path given is
 * followed wherever it leads; below it, a symbolic link to a file is sent and one to a folder is not followed (it
 * could lead anywhere, `/` included): it is listed in `skipped`, and given on the command line it would be sent.
 * FIFOs, sockets and devices (or links to them) are listed in `skipped`; a link to nothing, or in a loop, in
 * `missing` (the file it stood for cannot be sent).
 */
export const collect = (
  paths: ReadonlyArray<string>
): Effect.Effect<{
  readonly files: ReadonlyArray<string>
  readonly missing: ReadonlyArray<Unsendable>
  readonly skipped: ReadonlyArray<Unsendable>
}> =>
  Effect.promise(async () => {
    const files: Array<string> = []
    const missing: Array<Unsendable> = []
    const skipped: Array<Unsendable> = []
    const seen = new Set<string>()
    const folder = async (path: string): Promise<void> => {
      let entries: Array<Dirent>
      try {
        // (a folder removed since it was listed fails here, as one that cannot be listed)
        const real = await Fs.realpath(path)
        if (seen.has(real)) return
        seen.add(real)
        entries = (await Fs.readdir(path, { withFileTypes: true })).filter((e) => !e.name.startsWith("."))
      } catch (cause) {
        missing.push({ path, reason: `cannot list the folder: ${causeText(cause)}` })
        return
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      for (const entry of entries) {
        const child = Path.join(path, entry.name)
        // the entry's type from the folder listing: no stat, except for links and where the file system gives none
        if (entry.isFile()) files.push(child)
        else if (entry.isDirectory()) await folder(child)
        else if (entry.isFIFO() || entry.isSocket() || entry.isBlockDevice() || entry.isCharacterDevice()) {
          skipped.push({ path: child, reason: `not a regular file (${special(entry)})` })
        } else {
          let target
          try {
            target = await Fs.stat(child)
          } catch (cause) {
            // a link to nothing (a file moved, a volume not mounted), in a loop, or not readable: an instance meant
            // to be sent that is not, so it counts as failed, not passed over in silence
            const code = (cause as NodeJS.ErrnoException).code
            missing.push({
              path: child,
              reason:
                code === "ENOENT"
                  ? "a symbolic link to nothing"
                  : code === "ELOOP"
                    ? "a loop of symbolic links"
                    : causeText(cause)
            })
            continue
          }
          if (target.isFile()) files.push(child)
          else if (target.isDirectory()) {
            if (entry.isSymbolicLink())
              skipped.push({ path: child, reason: "a symbolic link to a folder, not followed" })
            else await folder(child)
          } else skipped.push({ path: child, reason: `not a regular file (${special(target)})` })
        }
      }
    }
    for (const path of paths) {
      let stat
      try {
        stat = await Fs.stat(path)
      } catch (cause) {
        const code = (cause as NodeJS.ErrnoException).code
        missing.push({ path, reason: code === "ENOENT" ? "no such file or folder" : causeText(cause) })
        continue
      }
      if (stat.isFile()) files.push(path)
      else if (stat.isDirectory()) await folder(path)
      else missing.push({ path, reason: "not a file or a folder" })
    }
    return { files, missing, skipped }
  })

const DEFLATED_PREFIX = 1024 * 1024

/**
 * The SOP identifiers at the start of a deflated data set (inflated as far as needed), if they can be found. The open
 * does not wait on what is not a regular file (a FIFO put in the file's place since its meta was read): that, or a
 * file that cannot be opened or read, fails.
 */
const deflatedIdentifiers = (path: string, offset: number, transferSyntaxUid: string) =>
  Effect.tryPromise({
    try: async () => {
      const handle = await Fs.open(path, FsSync.constants.O_RDONLY | FsSync.constants.O_NONBLOCK)
      try {
        if (!(await handle.stat()).isFile()) throw new Error("not a regular file")
        const buffer = new Uint8Array(DEFLATED_PREFIX)
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset)
        const found = Part10.sopIdentifiers(buffer.subarray(0, bytesRead), transferSyntaxUid)
        return found._tag === "Success" ? found.success : undefined
      } finally {
        await handle.close()
      }
    },
    catch: (cause) => new Part10.FileReadFailed({ path, cause })
  })

/**
 * A UID the A-ASSOCIATE-RQ proposes (as an abstract or transfer syntax): one that is no UID (PS3.5 9.1) would make
 * the request unencodable and fail the association for every file, so it fails its own file.
 */
const proposable = (what: string, value: string): Effect.Effect<void, UnproposableUid> => {
  const checked = Identifiers.uid(value)
  return Result.isSuccess(checked) ? Effect.void : Effect.fail(new UnproposableUid({ what, invalid: checked.failure }))
}

/**
 * Reads a file's meta and checks its data set; the failure is the reason it cannot be sent. The SOP Class and
 * Instance UIDs are the data set's (0008,0016) and (0008,0018), which the C-STORE must carry, falling back to the
 * meta's Media Storage UIDs when the data set has none.
 */
export const inspect = (path: string): Effect.Effect<Sendable, Unsendable> =>
  Effect.gen(function* () {
    // a bare data set without File Meta Information is sent as DCMTK's storescu sends it (`readSendableMeta`)
    const meta = yield* Part10.readSendableMeta(path)
    yield* proposable("Transfer Syntax UID", meta.transferSyntaxUid)
    const found = Uids.transferSyntaxInfo(meta.transferSyntaxUid)?.deflated
      ? ((yield* deflatedIdentifiers(path, meta.dataSetOffset, meta.transferSyntaxUid)) ?? {})
      : yield* DataSetCheck.check(path, meta.dataSetOffset, meta.transferSyntaxUid)
    // the walk looks in its first block only; `readFileMeta` scanned further (and fell back to the meta's)
    const sopClassUid = found.sopClassUid || meta.sopClassUid
    yield* proposable("SOP Class UID", sopClassUid)
    return {
      path,
      sopClassUid,
      sopInstanceUid: found.sopInstanceUid || meta.sopInstanceUid,
      transferSyntaxUid: meta.transferSyntaxUid,
      dataSetOffset: meta.dataSetOffset,
      fileSize: meta.fileSize,
      modifiedMs: meta.modifiedMs,
      ...(meta.changedMs === undefined ? {} : { changedMs: meta.changedMs }),
      ...(meta.sopFromMeta === true && !found.sopInstanceUid ? { sopFromMeta: true as const } : {})
    }
  }).pipe(Effect.mapError((e) => ({ path, reason: e.message })))

/** The key of the context a file needs. */
export const contextKey = (file: { readonly sopClassUid: string; readonly transferSyntaxUid: string }): string =>
  `${file.sopClassUid}|${file.transferSyntaxUid}`

const storedOf = (file: Sendable): ContextParts.Stored => ({
  sopClassUid: file.sopClassUid,
  transferSyntax: file.transferSyntaxUid
})

/** One presentation context per SOP class and transfer syntax the files hold, in the order first met. */
export const contextsFor = (files: ReadonlyArray<Sendable>): ReadonlyArray<Negotiation.ProposedContext> =>
  ContextParts.contextsFor(files, storedOf)

/** Files that go over one association, and the contexts of their own (at most the room an association has). */
export interface Part {
  readonly files: ReadonlyArray<Sendable>
  readonly contexts: ReadonlyArray<Negotiation.ProposedContext>
}

/**
 * The files in parts whose own contexts fit an association (`room` each, PS3.8 allows 128): all of them, in their
 * order, when they fit one; otherwise grouped by SOP class, a class's files in one part where its contexts fit
 * (`ContextParts.partsFor`, which the C-MOVE SCP splits its sub-operations with too).
 */
export const partsFor = (
  files: ReadonlyArray<Sendable>,
  room: number = Negotiation.MAX_PRESENTATION_CONTEXTS
): ReadonlyArray<Part> =>
  ContextParts.partsFor(files, storedOf, { room }).map((part) => ({ files: part.items, contexts: part.contexts }))
