/**
 * The hidden names a file is written under before it is renamed into place, and the removal of those a process
 * killed mid-write (SIGKILL, power loss) left behind.
 *
 * A name is `.<final name>.<pid>-<process token>.<random>.<kind>` (kind `tmp` for a file being written, `aside` for a
 * stored file kept while it is replaced, see `InstanceStore.setAside`): it says which process owns it. A sweep
 * removes a file of that pattern only when it was last modified before the sweeping process started and its owner
 * is gone: no process has its pid, or the pid is the sweeper's own but the token is not (a container restarted
 * under the same pid). A live owner's file is kept however old it is, so two processes writing into one folder
 * never remove each other's (a stalled transfer may leave a file untouched for long). Names of the earlier versions
 * (`LEGACY_STORE`, `LEGACY_GET`: no owner in them) are removed on age alone.
 *
 * @since 0.1.0
 */
import { randomBytes } from "node:crypto"
import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import * as Effect from "effect/Effect"
import { StoreFailed } from "./ArchiveError.ts"

/** What a hidden file is for: a file being written, or a stored file kept aside. */
export type Kind = "tmp" | "aside"

/** This process's token: tells its files from those of an earlier process that had the same pid. */
const TOKEN = randomBytes(4).toString("hex")

/** When this process started (milliseconds since the epoch): a sweep leaves files modified since alone. */
export const processStart = (): number => performance.timeOrigin

/** The hidden name `finalName` (a base name) is written under by this process. */
export const temporaryName = (finalName: string, kind: Kind = "tmp"): string =>
  `.${finalName}.${process.pid}-${TOKEN}.${randomBytes(6).toString("hex")}.${kind}`

const OWNED = /^\..+\.(\d+)-([0-9a-f]{8})\.[0-9a-f]{12}\.(?:tmp|aside)$/

/** The archive store's names before owners were in them: `.<SOP Instance UID>.dcm.<12 hex>.tmp` (or `.aside`). */
export const LEGACY_STORE = /^\..+\.dcm\.[0-9a-f]{12}\.(?:tmp|aside)$/
/** `netdicom get`'s names before owners were in them: `.<SOP Instance UID>.<8 hex>.tmp`. */
export const LEGACY_GET = /^\.(?:x[0-9a-f]{40}|[0-9]+(?:\.[0-9]+)*)\.[0-9a-f]{8}\.tmp$/

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (cause) {
    // EPERM: a process of another user has it
    return (cause as NodeJS.ErrnoException).code === "EPERM"
  }
}

/**
 * Whether a file named `name`, last modified at `modifiedMs`, is a leftover a sweep starting at `startedAt` removes
 * (see the module's description); `legacy` is the pattern of the earlier names the caller owns.
 */
export const isLeftover = (name: string, modifiedMs: number, startedAt: number, legacy: RegExp): boolean => {
  if (!(modifiedMs < startedAt)) return false
  const owned = OWNED.exec(name)
  if (owned === null) return legacy.test(name)
  const pid = Number(owned[1])
  if (pid === process.pid) return owned[2] !== TOKEN
  return !alive(pid)
}

/** Whether `name` is a hidden name of this module or of `legacy` (whoever owns it, however old). */
export const isTemporary = (name: string, legacy: RegExp): boolean => OWNED.test(name) || legacy.test(name)

/** What a sweep did. */
export interface SweepReport {
  /** The files removed. */
  readonly removed: ReadonlyArray<string>
  /** The files that could not be looked at or removed, with why (skipped: a sweep never fails on one). */
  readonly failed: ReadonlyArray<StoreFailed>
}

/**
 * Removes the leftovers (`isLeftover`) among `files` (paths of hidden files a directory walk found), each looked at
 * (`lstat`) just before: one gone since (another sweep took it) is skipped, one that cannot be removed reported.
 */
export const removeLeftovers = (
  files: Iterable<string>,
  startedAt: number,
  legacy: RegExp
): Effect.Effect<SweepReport> =>
  Effect.promise(async () => {
    const removed: Array<string> = []
    const failed: Array<StoreFailed> = []
    for (const path of files) {
      try {
        const stat = await Fs.lstat(path)
        if (!stat.isFile() || !isLeftover(Path.basename(path), stat.mtimeMs, startedAt, legacy)) continue
        await Fs.unlink(path)
        removed.push(path)
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code !== "ENOENT") {
          failed.push(new StoreFailed({ operation: "remove leftover", path, cause }))
        }
      }
    }
    return { removed, failed }
  })

/** Removes the leftovers (`isLeftover`) directly in `dir` (not in its sub-folders). */
export const sweep = (dir: string, startedAt: number, legacy: RegExp): Effect.Effect<SweepReport, StoreFailed> =>
  Effect.tryPromise({
    try: () => Fs.readdir(dir, { withFileTypes: true }),
    catch: (cause) => new StoreFailed({ operation: "readdir", path: dir, cause })
  }).pipe(
    Effect.flatMap((entries) =>
      removeLeftovers(
        entries.filter((e) => e.isFile() && isTemporary(e.name, legacy)).map((e) => Path.join(dir, e.name)),
        startedAt,
        legacy
      )
    )
  )
