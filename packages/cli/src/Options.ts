/**
 * What every `netdicom` subcommand shares: the flags `--aet`, `--aec`, `--max-pdu`, `--timeout` and
 * `--debug`, the Application Entity they make (PS3.7 Annex D, PS3.8 section 7.1), the log lines on
 * stderr, and the failure that ends a command with one line and an exit code.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import type * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Runtime from "effect/Runtime"
import { Flag, GlobalFlag } from "effect/cli"
import { ApplicationEntity } from "@netdicom/net"
import { Identifiers } from "@netdicom/wire"
import * as TlsFlags from "./TlsFlags.ts"

/** Ends a command: `message` (one line, unless empty) goes to stderr and the process exits with `code`. */
export class CommandFailed extends Data.TaggedError("CommandFailed")<{
  readonly message: string
  readonly code: number
}> {
  override get [Runtime.errorExitCode](): number {
    return this.code
  }
}

/** A caught failure as a line's reason: an `Error`'s message (Node's "ENOTDIR: ..."), not "Error: " before it. */
export const causeText = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/** Fails the command with one line and exit code 1. */
export const fail = (message: string, code = 1): Effect.Effect<never, CommandFailed> =>
  Effect.fail(new CommandFailed({ message, code }))

// The flags of our Application Entity, which every subcommand takes.
const aeFlags = {
  aet: Flag.String("aet").pipe(Flag.withDescription("our AE title (default NETDICOM)"), Flag.withDefault("NETDICOM")),
  maxPdu: Flag.Int("max-pdu").pipe(
    Flag.withDescription("largest PDU we receive, in bytes (default 262144; 0: no limit)"),
    Flag.withDefault(262144)
  ),
  timeout: Flag.Int("timeout").pipe(
    Flag.withDescription(
      "seconds to wait, one value for all three waits: the connection (with its TLS handshake), the association " +
        "and each response (default: 10, 30 and 60)"
    ),
    Flag.optional
  ),
  debug: Flag.Boolean("debug").pipe(Flag.withDescription("log PDU and DIMSE summaries"), Flag.withDefault(false))
}

/** The flags every server subcommand takes. */
export const serverCommon = { ...aeFlags, ...TlsFlags.serverFlags }

/** `--listen-host` of the client subcommands that listen for the peer's own associations (`move`, `commit`). */
export const listenHostFlag = Flag.String("listen-host").pipe(
  Flag.withDescription("the address --listen listens on (default 127.0.0.1; 0.0.0.0: every interface)"),
  Flag.withDefault("127.0.0.1")
)

/** The flags every client subcommand takes: the server's, and the peer's AE title. */
export const common = {
  ...aeFlags,
  aec: Flag.String("aec").pipe(
    Flag.withDescription("the peer's AE title (default ANY-SCP)"),
    Flag.withDefault("ANY-SCP")
  ),
  ...TlsFlags.clientFlags
}

/** The values of the flags of our Application Entity. */
export interface AeFlags {
  readonly aet: string
  readonly maxPdu: number
  readonly timeout: Option.Option<number>
  readonly debug: boolean
}

/** The values of the server flags. */
export interface ServerCommon extends AeFlags, TlsFlags.ServerFlags {}

/** The values of the client flags. */
export interface Common extends AeFlags, TlsFlags.ClientFlags {
  readonly aec: string
}

/** Our Application Entity from the common flags, with the contexts we support (for an SCP). */
export const applicationEntity = (
  options: AeFlags,
  contexts: ReadonlyArray<ApplicationEntity.SupportedContext> = [],
  window: { readonly maxOperationsInvoked?: number; readonly maxOperationsPerformed?: number } = {}
): Effect.Effect<ApplicationEntity.ApplicationEntity, CommandFailed> => {
  if (Option.isSome(options.timeout) && options.timeout.value <= 0) {
    return fail(`--timeout must be a positive number of seconds, not ${options.timeout.value}`)
  }
  const title = Identifiers.aeTitle(options.aet.trim())
  if (Result.isFailure(title)) return fail(`--aet "${options.aet}" is not an AE title: it ${title.failure.rule}`)
  if (options.maxPdu !== 0 && (options.maxPdu < 1024 || options.maxPdu > 0xffffffff)) {
    return fail(`--max-pdu must be 0 (no limit) or 1024-4294967295 bytes, not ${options.maxPdu}`)
  }
  const seconds = Option.map(options.timeout, (s) => `${s} seconds` as const)
  const made = ApplicationEntity.make({
    aeTitle: options.aet,
    contexts,
    maxPduLength: options.maxPdu,
    ...window,
    ...(Option.isSome(seconds)
      ? { timeouts: { connect: seconds.value, acse: seconds.value, dimse: seconds.value } }
      : {})
  })
  return Result.isSuccess(made) ? Effect.succeed(made.success) : fail(made.failure.message)
}

/** Checks an AE title given for the peer. */
export const peerTitle = (title: string, flag = "--aec"): Effect.Effect<string, CommandFailed> => {
  const checked = Identifiers.aeTitle(title.trim())
  return Result.isSuccess(checked)
    ? Effect.succeed(checked.success)
    : fail(`${flag} "${title}" is not an AE title: it ${checked.failure.rule}`)
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0")

// Control characters a log record may carry from a peer (a UID or AE title in a warning, an error's message): each
// record stays its own line(s), with a line break inside it followed by an indent, so that no text of a peer's starts a
// line that looks like a record; other C0 and C1 controls (CR, ESC sequences that drive a terminal) are escaped.
const oneRecord = (text: string): string => {
  let out = ""
  let from = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x09 || (c >= 0x20 && c < 0x7f) || c > 0x9f) continue
    const crlf = c === 0x0d && text.charCodeAt(i + 1) === 0x0a
    out += text.slice(from, i) + (c === 0x0a || crlf ? "\n    " : `\\x${c.toString(16).padStart(2, "0")}`)
    if (crlf) i++
    from = i + 1
  }
  return from === 0 ? text : out + text.slice(from)
}

/**
 * A peer's text (an Error Comment, a UID from a response) for one line of a command's output: every C0 and C1 control
 * character, line breaks and ESC among them, escaped as `\xNN`, so that it can neither start a line of its own nor
 * drive the terminal.
 */
export const printable = (text: string): string => {
  let out = ""
  let from = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if ((c >= 0x20 && c < 0x7f) || c > 0x9f) continue
    out += `${text.slice(from, i)}\\x${c.toString(16).padStart(2, "0")}`
    from = i + 1
  }
  return from === 0 ? text : out + text.slice(from)
}

/** Log lines on stderr: `HH:MM:SS.mmm LEVEL [spans] message key=value`, peer text in them made harmless. */
const stderrLogger = Logger.make(({ date, logLevel, message, fiber }) => {
  const spans = fiber.getRef(References.CurrentLogSpans).map(([label]) => label)
  const annotations = Object.entries(fiber.getRef(References.CurrentLogAnnotations))
    .map(([k, v]) => ` ${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join("")
  const hms = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  const time = `${hms}.${pad(date.getMilliseconds(), 3)}`
  const text = (Array.isArray(message) ? message : [message])
    .map((m) => (typeof m === "string" ? m : m instanceof Error ? m.message : String(m)))
    .join(" ")
  const where = spans.length > 0 ? ` [${spans.join(">")}]` : ""
  process.stderr.write(`${time} ${logLevel.toUpperCase()}${where} ${oneRecord(text + annotations)}\n`)
})

/**
 * The logger layer: stderr lines, at Debug with `--debug`, else at the global `--log-level` when one was given,
 * else Info for servers and Warn for clients.
 */
export const logging = (
  debug: boolean,
  role: "client" | "server",
  logLevel: Option.Option<LogLevel.LogLevel> = Option.none()
): Layer.Layer<never> =>
  Layer.mergeAll(
    Logger.layer([stderrLogger]),
    Layer.succeed(
      References.MinimumLogLevel,
      debug ? "Debug" : Option.getOrElse(logLevel, () => (role === "server" ? "Info" : "Warn"))
    )
  )

/** Runs a command's effect with the logging its `--debug` flag (or the global `--log-level`) asks for. */
export const withLogging =
  (options: { readonly debug: boolean }, role: "client" | "server") =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(Effect.serviceOption(GlobalFlag.LogLevel), (given) =>
      Effect.provide(effect, logging(options.debug, role, Option.flatten(given)))
    )
