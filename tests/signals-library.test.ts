/**
 * Ctrl-C in a library program run with `Signals.runMain` from `@netdicom/net` (examples/find-cancel.ts, its own Node
 * process, as a user runs it): during a slow C-FIND, one SIGINT sends C-CANCEL and the program ends with the
 * cancel's outcome (the final response 0xFE00, exit code 0, the association released), rather than being interrupted
 * with its association aborted as under `NodeRuntime.runMain`. The SCP is ours, in this process on 127.0.0.1, with a
 * QueryService that gives one match and then takes its time over the next.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { Effect, Exit, Layer, Logger, Result, Stream } from "effect"
import { ApplicationEntity, QueryRetrieve, Scp } from "@netdicom/net"
import { repoRoot } from "./support/peers.ts"

describe("Signals.runMain in a library program", () => {
  it.live("one Ctrl-C during a slow C-FIND: C-CANCEL, final 0xFE00, exit 0, the association released", () =>
    Effect.gen(function* () {
      // What the SCP saw: the query stream's end (interrupted by the C-CANCEL) and its log lines.
      let queryEnded: Exit.Exit<unknown, unknown> | undefined
      const lines: Array<string> = []
      const capture = Logger.make(({ message }) => {
        lines.push((Array.isArray(message) ? message : [message]).join(" "))
      })
      let matched = () => {}
      const firstMatch = new Promise<void>((resolve) => (matched = resolve))
      const find: Scp.QueryService["Service"]["find"] = () =>
        Stream.concat(
          Stream.make({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.1" }),
          Stream.fromEffect(
            Effect.andThen(
              Effect.sync(() => matched()),
              Effect.as(Effect.sleep("60 seconds"), { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.2" })
            )
          )
        ).pipe(
          Stream.onExit((exit) =>
            Effect.sync(() => {
              queryEnded = exit
            })
          )
        )
      const ae = Result.getOrThrow(
        ApplicationEntity.make({
          aeTitle: "SLOW-SCP",
          contexts: [{ abstractSyntax: QueryRetrieve.SOP_CLASSES.study.find, transferSyntaxes: ["1.2.840.10008.1.2"] }]
        })
      )
      const server = yield* Scp.serve(ae, { host: "127.0.0.1", port: 0 }).pipe(
        Effect.provide(Layer.merge(Layer.succeed(Scp.QueryService)({ find }), Logger.layer([capture])))
      )

      const child = spawn(
        process.execPath,
        [path.join(repoRoot, "examples", "find-cancel.ts"), "127.0.0.1", String(server.port), "SLOW-SCP"],
        { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] }
      )
      let out = ""
      child.stdout.on("data", (d: Buffer) => (out += d.toString()))
      child.stderr.on("data", (d: Buffer) => (out += d.toString()))
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
      const killer = setTimeout(() => child.kill("SIGKILL"), 60_000)
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          clearTimeout(killer)
          child.kill("SIGKILL")
        })
      )

      // Once the first match is out (the program has printed it) and the query waits: one Ctrl-C.
      yield* Effect.promise(() => firstMatch)
      for (let i = 0; i < 200 && !out.includes("match: "); i++) yield* Effect.sleep("25 millis")
      const started = Date.now()
      child.kill("SIGINT")
      const code = yield* Effect.promise(() => exited)
      const took = Date.now() - started

      assert.strictEqual(code, 0, out)
      assert.match(out, /match: \{[^\n]*"1\.2\.1"/, out)
      assert.match(out, /^final: 0xfe00 \(Cancel\)$/m, out)
      assert.notMatch(out, /1\.2\.2/, out)
      assert.isBelow(took, 10_000, `took ${took} ms`)
      // the SCP saw the C-CANCEL: its query stream was stopped (interrupted), and the association was released
      assert.isDefined(queryEnded)
      assert.isTrue(queryEnded !== undefined && Exit.hasInterrupts(queryEnded), String(queryEnded))
      for (let i = 0; i < 100 && !lines.some((l) => l.includes("released")); i++) yield* Effect.sleep("20 millis")
      assert.isTrue(
        lines.some((l) => l.includes("released")),
        lines.join("\n")
      )
      assert.isFalse(
        lines.some((l) => /abort/i.test(l)),
        lines.join("\n")
      )
    })
  )
})
