/**
 * `netdicom move --listen`: the storage SCP a C-MOVE's sub-operations come to, for the command's duration (as DCMTK's
 * `movescu --port` and pynetdicom's `movescu --store` take them). The peer opens its own associations to the move
 * destination's address, which it must already know: the title `--dest` names (our `--aet` by default), mapped at the
 * peer to the host and port given here.
 *
 * Its C-STOREs are the move's progress: while they go on, our wait for the next C-MOVE-RSP restarts (a peer need send
 * no Pending responses, PS3.4 C.4.2.3).
 *
 * Each instance goes to `<out>/<SOPInstanceUID>.dcm` through the same writer as `netdicom get` (`FileWriter`): bytes
 * as received, never decoded and re-encoded, each answered once written. The listener serves any calling and called
 * AE title (the peer decides what it sends), over plain TCP or, with `--listen-tls`, over TLS, Verification and every
 * storage SOP class the `storescp` command takes.
 *
 * @since 0.3.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { Scp } from "@netdicom/net"
import type { ApplicationEntity, Tls } from "@netdicom/net"
import * as Contexts from "./Contexts.ts"
import type * as FileWriter from "./FileWriter.ts"
import { applicationEntity, fail, type AeFlags, type CommandFailed } from "./Options.ts"

// How often, and how long, the end of the peer's storage associations is waited for once the C-MOVE has ended.
const SETTLE_POLL = "10 millis"
const SETTLE_LIMIT = "10 seconds"

/** The listener while the move runs. */
export interface Receiver {
  /** The port listened on (the one asked for). */
  readonly port: number
  /**
   * Waits until no association of the peer's is open or opening, for at most 10 s: a C-MOVE's final response comes
   * once its last sub-operation was answered, and the peer releases its storage association after it. Closing the
   * listener before would abort that release.
   */
  readonly settled: Effect.Effect<void>
  /** C-STOREs begun and ended here so far: the move's progress (`Scu.MoveQuery.progress`). */
  readonly progress: () => number
}

/** The listener's AE: the destination's title, Verification and storage (any title called is answered). */
const receiverAe = (
  flags: AeFlags,
  destination: string
): Effect.Effect<ApplicationEntity.ApplicationEntity, CommandFailed> =>
  applicationEntity({ ...flags, aet: destination }, [Contexts.verification, ...Contexts.storageScp])

/** Listens on `host:port` for the move's sub-operations, each written by `writer`, until the scope closes. */
export const listen = (options: {
  readonly flags: AeFlags
  readonly destination: string
  readonly host: string
  readonly port: number
  readonly writer: FileWriter.FileWriter
  /** Over TLS (`--listen-tls`), else plain TCP. */
  readonly tls: Tls.ServerOptions | undefined
}): Effect.Effect<Receiver, CommandFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const ae = yield* receiverAe(options.flags, options.destination)
    // each C-STORE counts as it begins (its data set may take long) and as it ends
    let steps = 0
    const store: Scp.StorageHandler = (request) => {
      steps++
      return Effect.ensuring(
        options.writer.onStore(request),
        Effect.sync(() => void steps++)
      )
    }
    const tls = options.tls === undefined ? {} : { tls: options.tls }
    const server = yield* Scp.serve(ae, { host: options.host, port: options.port, policy: {}, ...tls }).pipe(
      Effect.provide(Layer.succeed(Scp.StorageService)({ store })),
      Effect.catchTag("ListenFailed", (e) => fail(`cannot listen on ${options.host}:${options.port}: ${e.detail}`))
    )
    const open = Effect.map(Effect.all([server.active, server.pending]), ([a, p]) => a + p)
    const settled = open.pipe(
      Effect.repeat({ while: (n) => n > 0, schedule: Schedule.spaced(SETTLE_POLL) }),
      Effect.timeoutOption(SETTLE_LIMIT),
      Effect.asVoid
    )
    return { port: server.port, settled, progress: () => steps }
  })
