/**
 * `netdicom get` writes what it receives (`FileWriter`) from the lent data set: the socket reads of a large instance
 * are freed as it is written (`ReceivedBytes.freed` rises), and every file holds exactly the bytes the SCP sent,
 * small (given whole) or large (streamed), at a small and a large maximum PDU. When the files are synced (`--sync`,
 * watched through `FileWriter.FileSync`): with `end` no C-STORE waits for one and every file and the folder are synced
 * once at the end, before the command's summary; with `each` each file before its rename and its answer; a sync that
 * fails fails the command.
 */
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { NodeServices } from "@effect/platform-node"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Cause, Console, Deferred, Effect, Exit, Fiber, Layer, Result, Stream } from "effect"
import { ApplicationEntity, QueryRetrieve, ReceivedBytes, Scp, Scu } from "@netdicom/net"
import * as Cli from "../src/Cli.ts"
import * as FileWriter from "../src/FileWriter.ts"
import { CommandFailed } from "../src/Options.ts"
import { retrieveOf } from "../../net/test/support.ts"
import { dataSetOf, streamedRequest, wholeRequest } from "./support.ts"

const CT = "1.2.840.10008.5.1.4.1.1.2"
const EXPLICIT = "1.2.840.10008.1.2.1"
const IMPLICIT = "1.2.840.10008.1.2"
const GET = QueryRetrieve.SOP_CLASSES.study.get!

const tmp = Fs.mkdtempSync(Path.join(Os.tmpdir(), "netdicom-file-writer-"))
afterAll(() => Fs.rmSync(tmp, { recursive: true, force: true }))

const sha = (bytes: Uint8Array): string => Crypto.createHash("sha256").update(bytes).digest("hex")
// Even lengths: a sender pads an odd data set to even (PS3.5 7.1).
const SIZES = [8, 4094, 65_536, 1_048_578, 3_000_004]

const ae = (options: Parameters<typeof ApplicationEntity.make>[0]) => Result.getOrThrow(ApplicationEntity.make(options))

/** What a sync was asked for: a file (its path then, from /proc) or a folder. */
interface Synced {
  readonly path: string
  readonly folder: boolean
}

/** A sync that records what it syncs (then really syncs it), failing where `fails` says. */
const watchingSync = (fails: (s: Synced) => boolean = () => false) => {
  const synced: Array<Synced> = []
  const sync: FileWriter.Sync = async (fd) => {
    const s = { path: Fs.readlinkSync(`/proc/self/fd/${fd}`), folder: Fs.fstatSync(fd).isDirectory() }
    synced.push(s)
    if (fails(s)) throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" })
    await new Promise<void>((resolve, reject) => Fs.fsync(fd, (e) => (e === null ? resolve() : reject(e))))
  }
  return { synced, sync }
}

describe("netdicom get's file writer", () => {
  for (const maxPduLength of [16384, 262144]) {
    it.live(`frees the reads it has written, and writes every byte (SCU maximum PDU ${maxPduLength})`, () =>
      Effect.gen(function* () {
        const dir = Fs.mkdtempSync(Path.join(tmp, "run-"))
        const sent = SIZES.map((n) => dataSetOf(n, (value) => Crypto.randomFillSync(value)))
        const retrieve = retrieveOf(sent)
        const contexts = [
          { abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
          { abstractSyntax: GET, transferSyntaxes: [IMPLICIT] }
        ]
        const server = yield* Scp.serve(ae({ aeTitle: "NETDICOM-SCP", contexts }), { port: 0 }).pipe(
          Effect.provide(retrieve)
        )
        const writer = yield* FileWriter.make(dir, "end")
        const before = ReceivedBytes.freed()
        const channel = yield* Scu.connect(
          ae({
            aeTitle: "GET-SCU",
            maxPduLength,
            contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT], scu: true, scp: true }]
          }),
          {
            host: "127.0.0.1",
            port: server.port,
            calledAeTitle: "NETDICOM-SCP",
            contexts,
            roles: [{ sopClassUid: CT, scu: true, scp: true }],
            onStore: writer.onStore
          }
        )
        const all = yield* Stream.runCollect(
          Scu.get(channel, { model: "study", identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" } })
        )
        assert.strictEqual(all.at(-1)!.status, 0)
        assert.strictEqual(writer.written(), sent.length)
        yield* writer.syncWritten
        assert.isAbove(ReceivedBytes.freed() - before, 10, "reads freed as the large instances were written")
        for (const [i, bytes] of sent.entries()) {
          const file = Fs.readFileSync(Path.join(dir, `1.2.3.${i + 1}.dcm`))
          assert.strictEqual(file.subarray(128, 132).toString("latin1"), "DICM")
          const got = new Uint8Array(file.subarray(file.length - bytes.length))
          assert.strictEqual(sha(got), sha(bytes), `instance ${i + 1} (${bytes.length} bytes)`)
        }
        assert.deepStrictEqual(
          Fs.readdirSync(dir).filter((f) => f.endsWith(".tmp")),
          [],
          "no temporary file left"
        )
      }).pipe(Effect.scoped)
    )
  }

  it.effect("writes a data set given whole from its fragments, without reading the stream", () =>
    Effect.gen(function* () {
      const dir = Fs.mkdtempSync(Path.join(tmp, "whole-"))
      const whole = dataSetOf(5012, 7)
      const fragments = [whole.subarray(0, 4), new Uint8Array(0), whole.subarray(4, 14), whole.subarray(14)]
      const writer = yield* FileWriter.make(dir, "end")
      const outcome = yield* writer.onStore(wholeRequest("1.2.3.99", fragments))
      assert.strictEqual(outcome.status, 0, outcome.errorComment)
      assert.strictEqual(writer.written(), 1)
      const file = new Uint8Array(Fs.readFileSync(Path.join(dir, "1.2.3.99.dcm")))
      assert.deepStrictEqual(file.subarray(file.length - 5012), whole)
      assert.deepStrictEqual(Fs.readdirSync(dir), ["1.2.3.99.dcm"])
    })
  )

  it.effect("end: answers each C-STORE with no sync, then syncs every file and the folder once", () =>
    Effect.gen(function* () {
      const dir = Fs.realpathSync(Fs.mkdtempSync(Path.join(tmp, "end-")))
      const { synced, sync } = watchingSync()
      const writer = yield* FileWriter.make(dir, "end").pipe(Effect.provideService(FileWriter.FileSync, sync))
      for (const [uid, request] of [
        ["1.2.3.1", wholeRequest("1.2.3.1", [dataSetOf(100, 3)])],
        ["1.2.3.2", streamedRequest("1.2.3.2", 1_500_000)],
        ["1.2.3.3", wholeRequest("1.2.3.3", [dataSetOf(10, 4)])]
      ] as const) {
        const outcome = yield* writer.onStore(request)
        assert.strictEqual(outcome.status, 0, outcome.errorComment)
        assert.isTrue(Fs.existsSync(Path.join(dir, `${uid}.dcm`)), `${uid} in place when answered`)
        assert.deepStrictEqual(synced, [], `nothing synced before ${uid} was answered`)
      }
      yield* writer.syncWritten
      assert.sameMembers(
        synced.filter((s) => !s.folder).map((s) => s.path),
        ["1.2.3.1", "1.2.3.2", "1.2.3.3"].map((uid) => Path.join(dir, `${uid}.dcm`))
      )
      assert.deepStrictEqual(
        synced.filter((s) => s.folder),
        [{ path: dir, folder: true }],
        "the folder once"
      )
      assert.isTrue(synced.at(-1)!.folder, "the folder after its files")
      // nothing new: nothing synced again
      yield* writer.syncWritten
      assert.strictEqual(synced.length, 4)
    })
  )

  it.effect("each: syncs each file before its rename and its answer, and the folder at the end", () =>
    Effect.gen(function* () {
      const dir = Fs.realpathSync(Fs.mkdtempSync(Path.join(tmp, "each-")))
      const present: Array<boolean> = []
      const { synced, sync } = watchingSync()
      const checking: FileWriter.Sync = (fd) => {
        present.push(Fs.readdirSync(dir).some((f) => f.endsWith(".dcm") && !f.startsWith(".")))
        return sync(fd)
      }
      const writer = yield* FileWriter.make(dir, "each").pipe(Effect.provideService(FileWriter.FileSync, checking))
      const small = yield* writer.onStore(wholeRequest("1.2.3.1", [dataSetOf(100, 3)]))
      assert.strictEqual(small.status, 0, small.errorComment)
      assert.strictEqual(synced.length, 1, "the small file synced before it was answered")
      const large = yield* writer.onStore(streamedRequest("1.2.3.2", 1_500_000))
      assert.strictEqual(large.status, 0, large.errorComment)
      assert.strictEqual(synced.length, 2, "the large file synced before it was answered")
      assert.isTrue(
        synced.every((s) => !s.folder && Path.basename(s.path).endsWith(".tmp")),
        "each synced as its temporary file"
      )
      assert.deepStrictEqual(present, [false, true], "each synced before its rename")
      yield* writer.syncWritten
      assert.deepStrictEqual(synced.slice(2), [{ path: dir, folder: true }], "then only the folder")
    })
  )

  it.effect("a sync that fails fails syncWritten, naming how many of the files, once all were tried", () =>
    Effect.gen(function* () {
      const dir = Fs.realpathSync(Fs.mkdtempSync(Path.join(tmp, "fails-")))
      const { synced, sync } = watchingSync((s) => /\.[13]\.dcm$/.test(s.path))
      const writer = yield* FileWriter.make(dir, "end").pipe(Effect.provideService(FileWriter.FileSync, sync))
      for (const i of [1, 2, 3, 4]) yield* writer.onStore(wholeRequest(`1.2.3.${i}`, [dataSetOf(8)]))
      const failed = yield* Effect.flip(writer.syncWritten)
      assert.strictEqual(failed._tag, "SyncFailed")
      assert.strictEqual(failed.failed, 2)
      assert.strictEqual(failed.total, 4)
      assert.isFalse(failed.folder)
      assert.strictEqual(failed.message, `cannot sync 2 of 4 files written to ${dir} to disk: EIO: i/o error, fsync`)
      assert.strictEqual(synced.length, 5, "every file and the folder tried")
    })
  )
  it.effect("a folder sync that fails fails syncWritten as the folder's, with its reason", () =>
    Effect.gen(function* () {
      const dir = Fs.realpathSync(Fs.mkdtempSync(Path.join(tmp, "folder-fails-")))
      const { synced, sync } = watchingSync((s) => s.folder)
      const writer = yield* FileWriter.make(dir, "end").pipe(Effect.provideService(FileWriter.FileSync, sync))
      for (const i of [1, 2]) yield* writer.onStore(wholeRequest(`1.2.3.${i}`, [dataSetOf(8)]))
      const failed = yield* Effect.flip(writer.syncWritten)
      assert.strictEqual(failed._tag, "SyncFailed")
      assert.strictEqual(failed.failed, 0)
      assert.isTrue(failed.folder)
      assert.include(failed.message, "EIO")
      assert.strictEqual(synced.length, 3, "both files and the folder tried")
    })
  )
})

describe("netdicom get's end sync", () => {
  /** `count` small CT instances 1.2.3.<n>; the data set of the one numbered `stallAt` (if any) never ends. */
  const retrieveStalling = (count: number, stallAt?: number) =>
    Layer.succeed(Scp.RetrieveService)({
      retrieve: () =>
        Effect.succeed(
          Array.from({ length: count }, (_, i) => ({
            sopClassUid: CT,
            sopInstanceUid: `1.2.3.${i + 1}`,
            transferSyntax: EXPLICIT,
            dataSet: () =>
              i + 1 === stallAt
                ? Stream.concat(Stream.make(dataSetOf(64, i)), Stream.never)
                : Stream.make(dataSetOf(64, i))
          }))
        )
    })

  /**
   * Runs `netdicom get` in this process against a C-GET SCP sending `count` small instances, `sync` watched, its
   * output and syncs in `events`; interrupted (as a second Ctrl-C does) once a line matching `interruptOn` is out.
   */
  const runGet = (
    count: number,
    sync: FileWriter.Sync,
    options: { readonly extra?: ReadonlyArray<string>; readonly stallAt?: number; readonly interruptOn?: RegExp } = {}
  ) =>
    Effect.gen(function* () {
      const dir = Fs.realpathSync(Fs.mkdtempSync(Path.join(tmp, "cli-")))
      const server = yield* Scp.serve(
        ae({
          aeTitle: "NETDICOM-SCP",
          contexts: [
            { abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
            { abstractSyntax: GET, transferSyntaxes: [IMPLICIT] }
          ]
        }),
        { port: 0 }
      ).pipe(Effect.provide(retrieveStalling(count, options.stallAt)))
      const events: Array<string> = []
      const seen = yield* Deferred.make<void>()
      const record = (line: string) => {
        events.push(line)
        if (options.interruptOn?.test(line) === true) Deferred.doneUnsafe(seen, Exit.void)
      }
      const output: Console.Console = Object.assign(Object.create(console) as Console.Console, {
        log: (...args: ReadonlyArray<unknown>) => record(`stdout ${args.join(" ")}`),
        error: (...args: ReadonlyArray<unknown>) => record(`stderr ${args.join(" ")}`)
      })
      const args = ["get", "127.0.0.1", String(server.port), "--aec", "NETDICOM-SCP", "-k", "StudyInstanceUID=1.2.3"]
      const fiber = yield* Cli.main([...args, "--out", dir, ...(options.extra ?? [])]).pipe(
        Effect.provideService(FileWriter.FileSync, (fd) => {
          events.push(Fs.fstatSync(fd).isDirectory() ? "sync folder" : "sync file")
          return sync(fd)
        }),
        Effect.provideService(Console.Console, output),
        Effect.provide(NodeServices.layer),
        Effect.forkChild
      )
      if (options.interruptOn !== undefined) {
        yield* Deferred.await(seen)
        yield* Fiber.interrupt(fiber)
      }
      const exit = yield* Fiber.await(fiber)
      return { dir, events, exit }
    }).pipe(Effect.scoped)

  const fsync: FileWriter.Sync = (fd) =>
    new Promise((resolve, reject) => Fs.fsync(fd, (e) => (e === null ? resolve() : reject(e))))

  it.live("syncs every file and the folder after the C-GET's final response, before the summary and exit 0", () =>
    Effect.gen(function* () {
      const { dir, events, exit } = yield* runGet(5, fsync)
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      const final = events.findIndex((e) => e.startsWith("stdout C-GET Success"))
      const summary = events.indexOf(`stdout 5 files written to ${dir}`)
      assert.isAbove(final, -1, events.join("\n"))
      assert.isAbove(summary, -1, events.join("\n"))
      assert.deepStrictEqual(
        events.slice(final + 1, summary),
        [...Array(5).fill("sync file"), "sync folder"],
        "every file, then the folder, between the final response and the summary"
      )
      assert.deepStrictEqual(
        events.filter((e) => e.startsWith("sync")).length,
        6,
        "no sync while the C-GET was under way"
      )
    })
  )

  it.live("--sync each syncs every file while the C-GET is under way, and the folder at the end", () =>
    Effect.gen(function* () {
      const { dir, events, exit } = yield* runGet(3, fsync, { extra: ["--sync", "each"] })
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      const final = events.findIndex((e) => e.startsWith("stdout C-GET Success"))
      assert.deepStrictEqual(
        events.slice(0, final).filter((e) => e.startsWith("sync")),
        Array(3).fill("sync file")
      )
      assert.deepStrictEqual(events.slice(final + 1), ["sync folder", `stdout 3 files written to ${dir}`])
    })
  )

  it.live("a failed sync fails the command: exit 1, naming how many files and the error", () =>
    Effect.gen(function* () {
      let n = 0
      const failing: FileWriter.Sync = (fd) =>
        ++n === 2 ? Promise.reject(new Error("EIO: i/o error, fsync")) : fsync(fd)
      const { dir, events, exit } = yield* runGet(4, failing)
      assert.isTrue(Exit.isFailure(exit), events.join("\n"))
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      assert.instanceOf(error, CommandFailed)
      assert.strictEqual((error as CommandFailed).code, 1)
      assert.include(events, `stdout 4 files written to ${dir} (1 not synced to disk)`)
      assert.include(
        events,
        `stderr netdicom get: cannot sync 1 of 4 files written to ${dir} to disk: EIO: i/o error, fsync`
      )
    })
  )

  it.live("interrupted mid-retrieve (a second Ctrl-C): the files written are synced before the last lines", () =>
    Effect.gen(function* () {
      // --timeout 1: the C-CANCEL the interruption sends waits 1 s, not 5, for the final response the SCP never sends
      const { dir, events, exit } = yield* runGet(4, fsync, {
        extra: ["--timeout", "1"],
        stallAt: 3,
        interruptOn: /2 remaining, 2 completed/
      })
      assert.isTrue(Exit.hasInterrupts(exit), String(exit))
      const syncs = events.filter((e) => e.startsWith("sync"))
      assert.deepStrictEqual(syncs, ["sync file", "sync file", "sync folder"], events.join("\n"))
      assert.deepStrictEqual(events.slice(-5), [
        "sync file",
        "sync file",
        "sync folder",
        "stderr netdicom get: interrupted: the association was aborted",
        `stdout 2 files written to ${dir}`
      ])
    })
  )

  it.live("failed mid-retrieve (no response within --timeout): the files written are synced before the exit", () =>
    Effect.gen(function* () {
      const { events, exit } = yield* runGet(4, fsync, { extra: ["--timeout", "1"], stallAt: 3 })
      assert.isTrue(Exit.isFailure(exit) && !Exit.hasInterrupts(exit), String(exit))
      const syncs = events.filter((e) => e.startsWith("sync"))
      assert.deepStrictEqual(syncs, ["sync file", "sync file", "sync folder"], events.join("\n"))
      assert.isFalse(
        events.some((e) => e.includes("interrupted")),
        events.join("\n")
      )
    })
  )
})
