/**
 * The `netdicom` command on Effect's CLI module: the subcommands of `Client` and `Servers`, an output presenter
 * that reports a bad invocation in one line, and `main`, which turns every failure into one line on stderr and an
 * exit code (no stack traces).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { CliError, CliOutput, Command } from "effect/cli"
import * as Client from "./Client.ts"
import * as Commit from "./Commit.ts"
import * as Dictionary from "./internal/Dictionary.ts"
import * as Mpps from "./Mpps.ts"
import { CommandFailed, printable } from "./Options.ts"
import * as Servers from "./Servers.ts"

/** The version `--version` prints. */
export const VERSION = "0.1.0"

/** The root command. */
export const root = Command.make("netdicom").pipe(
  Command.withDescription(
    "DICOM networking: C-ECHO, C-STORE, C-FIND, C-GET, C-MOVE, Storage Commitment and MPPS as SCU; storage and Q/R SCPs"
  ),
  Command.withSubcommands([...Client.commands, ...Commit.commands, ...Mpps.commands, ...Servers.commands])
)

const firstLine = (text: string): string => text.split("\n")[0]!.trim()

const oneLine = (error: CliError.NonShowHelpErrors): string => {
  const suggestions =
    "suggestions" in error && error.suggestions.length > 0 ? ` (did you mean ${error.suggestions.join(", ")}?)` : ""
  // `echo 127.0.0.1:104`: the port was given inside the host argument
  const hint = /Missing required argument: port/.test(error.message)
    ? " (host and port are two arguments: HOST PORT, e.g. 127.0.0.1 104)"
    : ""
  return `${firstLine(error.message)}${suggestions}${hint}`
}

/** Help and version as usual; a bad invocation as one line on stderr naming the fix. */
const presenter = CliOutput.layerPresenter({
  present: (event) => {
    if (event._tag !== "InvalidInvocation") return CliOutput.defaultPresenter.present(event)
    const command = event.commandPath.join(" ")
    return Console.error(`${command}: ${event.errors.map(oneLine).join("; ")} (see ${command} --help)`)
  }
})

const lineOf = (cause: Cause.Cause<unknown>): string => {
  const e = Cause.squash(cause)
  const text = e instanceof Error ? e.message || e.name : typeof e === "string" ? e : JSON.stringify(e)
  return printable(text.replace(/\s*\n\s*/g, "; "))
}

/**
 * Runs `netdicom` with `args`: a failure prints one line (`netdicom <command>: <what went wrong>`) and ends with
 * a `CommandFailed` carrying the exit code; an interruption (Ctrl-C) stays an interruption.
 */
export const main = (args: ReadonlyArray<string>) => {
  Dictionary.setDcmjsLogLevel(args.includes("--debug"))
  const known = [...Client.commands, ...Commit.commands, ...Mpps.commands, ...Servers.commands].map(
    (c) => c.name as string
  )
  const prefix = args[0] !== undefined && known.includes(args[0]) ? `netdicom ${args[0]}` : "netdicom"
  return Command.runWith(root, { version: VERSION })(args).pipe(
    Effect.catchCause((cause) => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
      const e = Cause.squash(cause)
      if (e instanceof CommandFailed) {
        return Effect.andThen(
          e.message === "" ? Effect.void : Console.error(`${prefix}: ${printable(e.message)}`),
          Effect.fail(e)
        )
      }
      // already presented: help or the one-line invalid invocation
      if (CliError.isCliError(e) && e._tag === "ShowHelp") {
        return Effect.fail(new CommandFailed({ message: "", code: e.errors.length > 0 ? 2 : 1 }))
      }
      if (CliError.isCliError(e)) {
        return Effect.andThen(
          Console.error(`${prefix}: ${lineOf(cause)}`),
          Effect.fail(new CommandFailed({ message: "", code: 2 }))
        )
      }
      return Effect.andThen(
        Console.error(`${prefix}: ${lineOf(cause)}`),
        Effect.fail(new CommandFailed({ message: "", code: 1 }))
      )
    }),
    Effect.provide(presenter as Layer.Layer<never>)
  )
}
