/**
 * The transport service under the upper layer (PS3.8 section 9.1.1): a byte pipe to one peer.
 *
 * A `Transport` reads chunks, writes chunks with a deadline, half-closes and destroys. The TCP server is a
 * `node:net` server running each connection in a fiber of its own; each connection, and each client connection,
 * is read and written on its Node socket directly (no-delay and keep-alive always on): a chunk received reaches the
 * reader as the very buffer Node read into, with no copy, no queue and no error object built at EOF.
 * `memoryPair` gives two connected transports for tests. A write the peer does not take within the
 * deadline destroys the connection, so a peer that stops reading cannot hang us.
 *
 * `connectTls` and `listenTls` do the same over `node:tls` (PS3.15 Annex B; settings in `Tls`): a client's transport
 * is handed on once its handshake completed within the connect timeout, a server's connection once its handshake
 * completed within the handshake timeout and its client's certificate passed; a failed handshake is logged and the
 * connection dropped, before anything above sees it. `node:tls` is loaded on the first use of either.
 *
 * @since 0.1.0
 */
import * as Net from "node:net"
import type * as NodeTls from "node:tls"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as LentBytes from "./LentBytes.ts"
import * as Timers from "./Timers.ts"
import * as Tls from "./Tls.ts"

/** The peer closed the connection (EOF), or we did. */
export class TransportClosed extends Data.TaggedError("TransportClosed")<{ readonly abrupt: boolean }> {}

/** A write was not taken by the peer within the deadline; the connection was destroyed. */
export class WriteTimeout extends Data.TaggedError("WriteTimeout")<{ readonly after: Duration.Duration }> {}

/** The connection failed (reset, I/O error). */
export class TransportFailed extends Data.TaggedError("TransportFailed")<{ readonly detail: string }> {}

/** A TCP connection could not be opened (refused, unreachable, timed out). */
export class ConnectFailed extends Data.TaggedError("ConnectFailed")<{
  readonly host: string
  readonly port: number
  readonly detail: string
}> {
  override get message(): string {
    // `detail` is often String(error): its "Error: " prefix says nothing; a refusal gets a hint
    const detail = this.detail.replace(/^Error: /, "")
    const hint = detail.includes("ECONNREFUSED") ? " (is the peer running and listening on that port?)" : ""
    return `cannot connect to ${this.host}:${this.port}: ${detail}${hint}`
  }
}

/** A server could not listen. */
export class ListenFailed extends Data.TaggedError("ListenFailed")<{ readonly detail: string }> {
  override get message(): string {
    return `cannot listen: ${this.detail}`
  }
}

/** Errors of an open transport. */
export type TransportError = TransportClosed | WriteTimeout | TransportFailed

/** A byte pipe to one peer. */
export interface Transport {
  readonly peer: string
  /** Over TLS: what the handshake agreed on and the peer's certificate; undefined over plain TCP. */
  readonly tls?: Tls.Session | undefined
  /** The next chunks received; fails with `TransportClosed` at EOF. */
  readonly read: Effect.Effect<ReadonlyArray<Uint8Array>, TransportError>
  /** Writes chunks in order, waiting for the socket to drain; destroys the connection past the deadline. */
  readonly write: (chunks: ReadonlyArray<Uint8Array>) => Effect.Effect<void, TransportError>
  /**
   * `write` begun now, from within a running effect: `undefined` when the chunks were taken without waiting (the
   * common case on a socket: no fiber step), otherwise the effect that finishes the write (waits for the socket to
   * drain, or fails) and must be run.
   */
  readonly writeNow: (chunks: ReadonlyArray<Uint8Array>) => Effect.Effect<void, TransportError> | undefined
  /**
   * Sends at once what the writes of this tick hold back (a socket gathers them until the end of the tick, so that
   * messages written together leave in one system call): for a write the peer must answer before anything else is
   * sent, which would otherwise wait for the rest of the tick's work. A transport that gathers nothing has none.
   */
  readonly flush?: () => void
  /** Half-closes: no more writes, the peer sees EOF. */
  readonly end: Effect.Effect<void>
  /** Closes the connection at once. */
  readonly destroy: Effect.Effect<void>
}

/**
 * The read side of a transport made here, taken synchronously from socket events: a reader driven by them (the upper
 * layer's) needs no fiber and no effect per read.
 */
export interface Pull {
  /** The chunks received and not yet taken; once none are left and the connection ended, why; `undefined` meanwhile. */
  readonly take: () => ReadonlyArray<Uint8Array> | TransportError | undefined
  /**
   * Calls `ready` after each chunk that arrives and when the connection ends (`undefined` stops the calls). With
   * `offer`, a chunk that arrives while nothing is buffered is handed to it first, before it is buffered: true means
   * it took the chunk (no `take` gives it, `ready` is not called for it); false leaves it to be buffered as any other.
   */
  readonly listen: (ready: (() => void) | undefined, offer?: (chunk: Uint8Array) => boolean) => void
  /**
   * False when `take` would answer `undefined` (nothing arrived since the last take, and no end): a field, so that a
   * reader looks without a call. True may still find nothing (`take` then says so).
   */
  readonly ready: boolean
  /** `destroy` of the transport, run now. */
  readonly destroy: () => void
}

const pulls = new WeakMap<Transport, Pull>()

/**
 * The synchronous read side of `transport`, for a transport made here (a socket's); `undefined` for any other (a
 * memory pair, a wrapper that records or replays its reads), which is read through `read`.
 */
export const pullOf = (transport: Transport): Pull | undefined => pulls.get(transport)

// Transports made here, whose reads are buffers of their own that nothing else keeps (Node's socket reads, the memory
// pair's copies). A transport made elsewhere (a wrapper around one of these, even one spreading it) is not in here.
const readsGivenAway = new WeakSet<Transport>()

/**
 * Whether the chunks `transport` reads are given away: each a buffer nothing else holds or will read, which the reader
 * may free (detach, `ReceivedBytes`) once it has consumed it. True only for the transports this module makes; any
 * other (a wrapper that records, tees or replays its reads) may keep what it hands out, so its reads are never freed.
 */
export const readsGivenAwayBy = (transport: Transport): boolean => readsGivenAway.has(transport)

/** Options shared by client and server connections. */
export interface TransportOptions {
  readonly writeTimeout: Duration.Duration
}

/**
 * Bytes the socket may hold unsent before a write waits for them to drain. Below it a write
 * completes at once: on a healthy connection the kernel takes the bytes in the write call itself.
 */
const WRITE_BUFFER_LIMIT = 1 << 20

// Waits until the socket's buffer drains. The deadline is on progress: while the peer keeps taking
// bytes the wait goes on (a slow reader of a large message is not cut off); a deadline with nothing
// taken destroys the connection.
const awaitDrain = (raw: Net.Socket, deadline: Duration.Duration, destroy: Effect.Effect<void>) => {
  const drained = Effect.callback<void, TransportError>((resume) => {
    // Looked at as the wait registers: the drain may have come while the writer's fiber was elsewhere (after the
    // write, before this wait ran, or yielding in between), and would not come again.
    if (raw.destroyed) return resume(Effect.fail(new TransportClosed({ abrupt: true })))
    if (!raw.writableNeedDrain) return resume(Effect.void)
    const cleanup = () => {
      raw.off("drain", onDrain)
      raw.off("close", onClose)
    }
    const onDrain = () => {
      cleanup()
      resume(Effect.void)
    }
    const onClose = () => {
      cleanup()
      resume(Effect.fail(new TransportClosed({ abrupt: true })))
    }
    raw.on("drain", onDrain)
    raw.on("close", onClose)
    return Effect.sync(cleanup)
  })
  const wait = (unsent: number): Effect.Effect<void, TransportError> =>
    Effect.timeoutOrElse(drained, {
      duration: deadline,
      orElse: () =>
        raw.writableLength < unsent
          ? wait(raw.writableLength)
          : Effect.andThen(destroy, Effect.fail(new WriteTimeout({ after: deadline })))
    })
  return Effect.suspend(() => wait(raw.writableLength))
}

// Builds an error without capturing a stack trace: the end of a connection is reported from a socket event, whose
// stack says nothing, and is the normal end of every association.
const withoutStackTrace = <E>(build: () => E): E => {
  const limit = Error.stackTraceLimit
  try {
    Error.stackTraceLimit = 0
  } catch {
    return build()
  }
  try {
    return build()
  } finally {
    Error.stackTraceLimit = limit
  }
}

// The two ends of a connection as reasons, each built once: the peer's EOF, and a close (ours, a reset). Building one
// per connection, as its end is read, cost ~6-8 us of a server's main thread per association (cold code, Round 18).
const PEER_CLOSED = withoutStackTrace(() => new TransportClosed({ abrupt: false }))
const CLOSED = withoutStackTrace(() => new TransportClosed({ abrupt: true }))
const peerClosed = (): TransportError => PEER_CLOSED
const closed = (): TransportError => CLOSED

// An error of an open connection in words: over TLS, OpenSSL's reason (an alert from the peer) rather than its error
// line naming source files.
const failureDetail = (cause: Error): string => {
  const reason = Tls.openSslReason(cause)
  return reason === undefined ? String(cause) : `TLS: ${reason}`
}

/** Bytes received and not yet read past which the socket stops reading (TCP backpressure then holds the peer). */
const READ_BUFFER_LIMIT = 1 << 20

// The read side of a Node socket, attached at once (before the connection opens, for a client) so that no
// event is missed: chunks are kept until read, as views of Node's own buffers; EOF, an error or a close becomes the
// reason the next read fails, after every chunk received before it has been read. `direct` (plain TCP): reads are
// taken from the socket's `push` while it flows (`takeReadsFromPush`).
const attachReader = (conn: Net.Socket, direct: boolean) => {
  let chunks: Array<Uint8Array> = []
  let buffered = 0
  // Set when the reader pauses the socket (`takeReadsFromPush`).
  const pushed = { held: false }
  // Why the connection ended; the error itself is built only when a read is there to fail with it.
  let why: (() => TransportError) | undefined =
    conn.destroyed || conn.closed ? closed : conn.readableEnded ? peerClosed : undefined
  let reason: TransportError | undefined
  const ended = (build: () => TransportError): TransportError =>
    (reason ??= build === peerClosed || build === closed ? build() : withoutStackTrace(build))
  let waiter: ((outcome: Effect.Effect<ReadonlyArray<Uint8Array>, TransportError>) => void) | undefined
  // The synchronous reader's (`Pull.listen`), told of each chunk and of the end, and offered chunks as they come.
  let listener: (() => void) | undefined
  let offer: ((chunk: Uint8Array) => boolean) | undefined
  const take = (): ReadonlyArray<Uint8Array> => {
    const out = chunks
    chunks = []
    buffered = 0
    if (conn.isPaused() && why === undefined) conn.resume()
    return out
  }
  const wake = () => {
    const resume = waiter
    if (resume === undefined) return
    if (chunks.length > 0) {
      waiter = undefined
      resume(Effect.succeed(take()))
    } else if (why !== undefined) {
      waiter = undefined
      resume(Effect.fail(ended(why)))
    }
  }
  // Only the first reason counts.
  const end = (cause: () => TransportError) => {
    why ??= cause
    pull.ready = true
    wake()
    listener?.()
  }
  const onData = (chunk: Buffer) => {
    // Plain Uint8Array views, so that `.slice()` downstream copies as it should (Buffer's is a view).
    const view = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    // Offered as it comes when nothing is buffered (the usual read): taken, it is parsed in this call, without a take.
    if (offer !== undefined && chunks.length === 0 && waiter === undefined && offer(view)) return
    chunks.push(view)
    buffered += chunk.byteLength
    pull.ready = true
    if (waiter !== undefined) wake()
    else {
      listener?.()
      // Not taken (the reader is waiting on something else): past the limit, TCP holds the peer.
      if (buffered >= READ_BUFFER_LIMIT) {
        pushed.held = true
        conn.pause()
      }
    }
  }
  conn.on("data", onData)
  if (direct) takeReadsFromPush(conn, onData, pushed)
  conn.on("end", () => end(peerClosed))
  conn.on("error", (cause: Error) => end(() => new TransportFailed({ detail: failureDetail(cause) })))
  conn.on("close", () => end(closed))
  if (why === undefined) conn.resume()
  const read: Effect.Effect<ReadonlyArray<Uint8Array>, TransportError> = Effect.suspend(() => {
    if (chunks.length > 0) return Effect.succeed(take())
    if (why !== undefined) return Effect.fail(ended(why))
    return Effect.callback<ReadonlyArray<Uint8Array>, TransportError>((resume) => {
      // Looked at again as the wait registers: the fiber may have yielded (its operation budget) since the look
      // above, and what arrived meanwhile would wake nobody.
      if (chunks.length > 0) return resume(Effect.succeed(take()))
      if (why !== undefined) return resume(Effect.fail(ended(why)))
      waiter = resume
      return Effect.sync(() => {
        if (waiter === resume) waiter = undefined
      })
    })
  })
  // The synchronous reader's take, once per read and once more to find nothing: `take` inlined.
  const takeNow = (): ReadonlyArray<Uint8Array> | TransportError | undefined => {
    if (chunks.length > 0) {
      const out = chunks
      chunks = []
      buffered = 0
      if (conn.isPaused() && why === undefined) conn.resume()
      pull.ready = why !== undefined
      return out
    }
    if (why !== undefined) return ended(why)
    pull.ready = false
    return undefined
  }
  const listen = (ready: (() => void) | undefined, take?: (chunk: Uint8Array) => boolean) => {
    listener = ready
    offer = ready === undefined ? undefined : take
  }
  // The synchronous read side; its `destroy` is the transport's, set once that is made.
  const pull: { -readonly [K in keyof Pull]: Pull[K] } = { take: takeNow, listen, destroy: () => {}, ready: true }
  return { read, end, pull }
}

/**
 * Node hands each read of a socket to the socket's `push` (`onStreamRead` in its stream_base_commons), and `push`
 * runs the Readable's machinery around the 'data' event: ~12 calls of Node's JavaScript per read, and a `nextTick`
 * that asks for a read already under way (`maybeReadMore`). On this socket a read goes to `onData` from `push`
 * itself (docs/performance.md, Round 21 (small)), unless the reader paused the socket (`held`: too much unread) and
 * the Readable buffer may hold chunks since: those reads take the Readable's path, and so reach `onData` as 'data'
 * events once the reader resumes it, in order; the first read that finds the socket flowing and that buffer empty
 * comes here again. The end (`null`) always takes the Readable's path. Only the reader pauses its socket. A Node that
 * stopped reading through `push` would leave every read to the 'data' path.
 */
const takeReadsFromPush = (conn: Net.Socket, onData: (chunk: Buffer) => void, state: { held: boolean }): void => {
  const push = conn.push
  conn.push = function (this: Net.Socket, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk instanceof Uint8Array && (!state.held || (this.readableFlowing === true && this.readableLength === 0))) {
      state.held = false
      onData(chunk as Buffer)
      // Reading goes on: if the reader paused the socket now, the next reads are held in the Readable buffer, whose
      // `push` stops the reads once it is full and whose `resume` starts them again.
      return true
    }
    return push.call(this, chunk, encoding)
  }
}

// Builds a Transport over a Node socket whose reader is attached, at once; `close` (uncork, destroy) is for the
// caller to run as its scope closes. Writes go to the socket directly, corked until the end of the tick: a write
// that the kernel takes costs no fiber step, no timer.
const fromNodeSocket = (
  conn: Net.Socket,
  reader: ReturnType<typeof attachReader>,
  peer: string,
  options: TransportOptions,
  tls?: Tls.Session
): { readonly transport: Transport; readonly close: () => void } => {
  // Writes are corked until the end of their tick; whatever is corked still goes out before a destroy.
  let corked = false
  const uncork = () => {
    if (!corked) return
    corked = false
    conn.uncork()
  }
  const close = () => {
    uncork()
    conn.destroy()
  }
  // Closes at once; a read waiting, or the next, fails with `why` unless the connection had ended already.
  const destroyFor = (why: () => TransportError) =>
    Effect.sync(() => {
      uncork()
      conn.destroy()
      reader.end(why)
    })
  const destroy = destroyFor(closed)
  const writeNow = (chunks: ReadonlyArray<Uint8Array>): Effect.Effect<void, TransportError> | undefined => {
    if (chunks.length === 0) return undefined
    if (conn.destroyed || !conn.writable) {
      return Effect.fail(new TransportClosed({ abrupt: true }))
    }
    // Lent buffers (pooled file reads) go back to their pool once Node calls back for this write: the
    // socket has taken the bytes then (or the connection is gone and never will).
    const written = LentBytes.holdForWrite(chunks)
    try {
      // Corked until the end of this tick: messages written in the same tick (handlers answering several
      // requests that came in one read) leave in one vectored write.
      if (!corked) {
        corked = true
        conn.cork()
        process.nextTick(uncork)
      }
      const last = chunks.length - 1
      for (let i = 0; i < last; i++) conn.write(chunks[i]!)
      conn.write(chunks[last]!, written)
    } catch (cause) {
      return Effect.fail(new TransportFailed({ detail: String(cause) }))
    }
    if (conn.writableLength < WRITE_BUFFER_LIMIT) return undefined
    // Past the deadline the connection is destroyed; the reader then fails with the same reason.
    return awaitDrain(
      conn,
      options.writeTimeout,
      destroyFor(() => new WriteTimeout({ after: options.writeTimeout }))
    )
  }
  const transport: Transport = {
    peer,
    ...(tls === undefined ? {} : { tls }),
    read: reader.read,
    write: (chunks) => writeNow(chunks) ?? Effect.void,
    writeNow,
    flush: uncork,
    end: Effect.sync(() => {
      if (!conn.destroyed) conn.end()
    }),
    destroy
  }
  readsGivenAway.add(transport)
  reader.pull.destroy = () => {
    uncork()
    conn.destroy()
    reader.end(closed)
  }
  pulls.set(transport, reader.pull)
  return { transport, close }
}

/** A connection an `Opener` made: the transport, and what closes it (uncork, destroy) once it is no longer wanted. */
export interface Opened {
  readonly _tag: "Opened"
  readonly transport: Transport
  readonly close: () => void
}

/**
 * A connect begun at once, with no fiber and no scope: `done` is told its outcome (the connection, or why there is
 * none) from the socket's event, or before this returns when Node refuses the address at once; the connect timeout is
 * a timer of `timers`. Returns what abandons it: before the outcome, the connect is stopped (the half-open socket
 * destroyed, its timer cancelled) and `done` is never told; after it, the connection is closed. It may run twice.
 */
export type Opener = (timers: Timers.Timers, done: (outcome: Opened | ConnectFailed) => void) => () => void

/** A TCP connection (no-delay, keep-alive), opened as an `Opener` (what `connectTcp` does in a scope). */
export const openTcp = (
  host: string,
  port: number,
  options: TransportOptions & { readonly connectTimeout: Duration.Duration }
): Opener =>
  openWith(host, port, options, "connect", () =>
    Net.createConnection({ host, port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000 })
  )

/** A TLS connection, opened as an `Opener` (what `connectTls` does in a scope). */
export const openTls = (
  host: string,
  port: number,
  options: TransportOptions & { readonly connectTimeout: Duration.Duration; readonly tls: Tls.ClientOptions }
): Opener =>
  openWith(host, port, options, "secureConnect", () => {
    const conn = nodeTls().connect({ host, port, ...Tls.clientConnectionOptions(host, options.tls) })
    return conn.setNoDelay(true).setKeepAlive(true, 30_000)
  })

/** Opens a TCP connection (no-delay, keep-alive) within the current scope. */
export const connectTcp = (
  host: string,
  port: number,
  options: TransportOptions & { readonly connectTimeout: Duration.Duration }
): Effect.Effect<Transport, ConnectFailed, Scope.Scope> => connectWith(openTcp(host, port, options))

/**
 * Opens a TLS connection (no-delay, keep-alive, TLS 1.2 or later) within the current scope: done once the handshake
 * completed and the server's certificate passed (`Tls.ClientOptions`), all within the connect timeout; a refused
 * certificate or a failed handshake is a `ConnectFailed` saying why.
 */
export const connectTls = (
  host: string,
  port: number,
  options: TransportOptions & { readonly connectTimeout: Duration.Duration; readonly tls: Tls.ClientOptions }
): Effect.Effect<Transport, ConnectFailed, Scope.Scope> => connectWith(openTls(host, port, options))

let tlsModule: typeof NodeTls | undefined
// `node:tls` (and OpenSSL's setup with it), loaded when first used: a command that speaks plain TCP never loads it.
const nodeTls = (): typeof NodeTls => (tlsModule ??= process.getBuiltinModule("node:tls"))

const NOTHING_TO_ABANDON = () => {}

const openWith =
  (
    host: string,
    port: number,
    options: TransportOptions & { readonly connectTimeout: Duration.Duration },
    ready: "connect" | "secureConnect",
    open: () => Net.Socket
  ): Opener =>
  (timers, done) => {
    let conn: Net.Socket
    try {
      conn = open()
    } catch (cause) {
      // Node throws at once for an impossible address (a port out of range) or unusable TLS settings.
      done(new ConnectFailed({ host, port, detail: String(cause) }))
      return NOTHING_TO_ABANDON
    }
    const socket = conn
    // Set once `done` has been told (or the connect abandoned): nothing more is told.
    let settled = false
    let close: (() => void) | undefined
    const reader = attachReader(socket, ready === "connect")
    const fail = (detail: string) => {
      settled = true
      done(new ConnectFailed({ host, port, detail }))
    }
    // The connect timeout is a timer (no race of forked fibers), cancelled on every way out of the wait (connected,
    // failed, timed out, abandoned).
    const cancel = timers.after(Duration.toMillis(options.connectTimeout), () => {
      socket.off("error", onError)
      socket.off("close", onClose)
      socket.destroy()
      fail(`${ready === "connect" ? "connect" : "connect and TLS handshake"} timed out`)
    })
    const onError = (cause: Error) => {
      cancel()
      socket.off("close", onClose)
      fail(ready === "connect" ? String(cause) : Tls.describeFailure(cause))
    }
    // A TLS server that closes during the handshake (a plain TCP server that did not understand it) may end the
    // connection without an error.
    const onClose = () => {
      cancel()
      socket.off("error", onError)
      fail(ready === "connect" ? "connection closed" : "connection closed during the TLS handshake")
    }
    socket.once("error", onError)
    socket.once("close", onClose)
    socket.once(ready, () => {
      cancel()
      socket.off("error", onError)
      socket.off("close", onClose)
      settled = true
      const session = ready === "secureConnect" ? Tls.sessionOf(socket as NodeTls.TLSSocket) : undefined
      const made = fromNodeSocket(socket, reader, `${host}:${port}`, options, session)
      close = made.close
      done({ _tag: "Opened", transport: made.transport, close: made.close })
    })
    return () => {
      if (close !== undefined) return close()
      if (settled) return
      // Abandoned while connecting: the half-open socket goes, and `done` is never told.
      settled = true
      cancel()
      socket.off("error", onError)
      socket.off("close", onClose)
      socket.destroy()
    }
  }

// An `Opener` as a scoped effect: the connection's close is a finalizer of the current scope.
const connectWith = (opener: Opener): Effect.Effect<Transport, ConnectFailed, Scope.Scope> =>
  Effect.withFiber((fiber) => {
    const context = fiber.context as Context.Context<Scope.Scope>
    const timers = Timers.makeUnsafe(context)
    // The connect itself stays interruptible (a scope closing must be able to stop a handshake the peer never
    // answers); once it succeeded, the socket is tied to the scope before anything can interrupt.
    const connecting = Effect.callback<Opened, ConnectFailed>((resume) => {
      const abandon = opener(timers, (outcome) =>
        resume(outcome._tag === "Opened" ? Effect.succeed(outcome) : Effect.fail(outcome))
      )
      // Interrupted (a scope closing): the half-open socket goes.
      return Effect.sync(abandon)
    })
    const scope = Context.get(context, Scope.Scope)
    // One finalizer for the socket (uncork, destroy), added as the connect succeeds, before anything can interrupt.
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(connecting), (opened) =>
        Effect.as(Scope.addFinalizer(scope, Effect.sync(opened.close)), opened.transport)
      )
    )
  })

/** A listening TCP server: its bound port, and a run loop handing each connection to `handler`. */
export interface TcpServer {
  readonly port: number
  readonly run: (handler: (transport: Transport) => Effect.Effect<void>) => Effect.Effect<never>
  /**
   * Stops listening (new connections are refused), leaving the connections already taken alone: a server stopping
   * does this first, so that a peer reconnecting meanwhile is refused rather than taken and then dropped.
   */
  readonly stopListening: Effect.Effect<void>
}

/** Listens on host:port (port 0 picks a free port) within the current scope. */
export const listenTcp = (
  host: string,
  port: number,
  options: TransportOptions
): Effect.Effect<TcpServer, ListenFailed, Scope.Scope> =>
  listenWith(host, port, options, (arrived) => {
    const server = Net.createServer({ pauseOnConnect: true })
    server.on("connection", arrived)
    return server
  })

/**
 * Listens for TLS connections on host:port (port 0 picks a free port) within the current scope. A connection is
 * handed on once its handshake completed within `handshakeTimeout` and its client's certificate passed
 * (`Tls.ServerOptions`); one that fails is logged (Warning) and dropped. Unusable TLS settings (a key that does not
 * match its certificate, say) fail it as `ListenFailed`.
 */
export const listenTls = (
  host: string,
  port: number,
  options: TransportOptions & { readonly handshakeTimeout: Duration.Duration; readonly tls: Tls.ServerOptions }
): Effect.Effect<TcpServer, ListenFailed, Scope.Scope> =>
  Effect.flatMap(Effect.context<never>(), (context) => {
    const settings = Tls.serverOptions(options.tls)
    if (settings instanceof Tls.TlsConfigError) return Effect.fail(new ListenFailed({ detail: settings.message }))
    const log = (message: string) => Effect.runForkWith(context)(Effect.logWarning(message))
    // A socket the client already closed no longer has its address.
    const remote = (conn: Net.Socket) =>
      conn.remoteAddress === undefined ? "a client gone" : `${conn.remoteAddress}:${conn.remotePort}`
    // The TCP connections taken, until they close: those still in their handshake as the server stops are dropped
    // then, rather than left to the handshake timeout (and a handshake completing after the stop, to nobody).
    const connections = new Set<Net.Socket>()
    let stopped = false
    let server: NodeTls.Server | undefined
    const listening = listenWith(host, port, options, (arrived) => {
      server = nodeTls().createServer({
        ...settings,
        handshakeTimeout: Math.max(1, Math.round(Duration.toMillis(options.handshakeTimeout)))
      })
      server.on("connection", (raw: Net.Socket) => {
        if (stopped) {
          raw.destroy()
          return
        }
        connections.add(raw)
        raw.once("close", () => connections.delete(raw))
      })
      server.on("secureConnection", (conn: NodeTls.TLSSocket) => {
        if (stopped) {
          conn.destroy()
          return
        }
        const refused = Tls.refusal(conn, options.tls)
        if (refused === undefined) return arrived(conn, Tls.sessionOf(conn))
        conn.on("error", () => {})
        conn.destroy()
        log(`TLS connection from ${remote(conn)} refused: ${refused}`)
      })
      // A handshake that failed (no TLS spoken, a certificate refused, timed out): a listener here must close the
      // socket itself (Node leaves one that timed out open).
      server.on("tlsClientError", (cause: Error, conn: NodeTls.TLSSocket) => {
        // A client certificate refused (`requirePeerCertificate`) ends the handshake as a hang-up: say why.
        const refused = conn.authorizationError as Error | string | null | undefined
        const why =
          refused === undefined || refused === null
            ? (Tls.openSslReason(cause) ?? cause.message)
            : `the client's certificate is refused: ${String(refused)}`
        log(`TLS handshake with ${remote(conn)} failed: ${why}`)
        conn.destroy()
      })
      return server
    }).pipe(
      // A key or certificate Node cannot use throws as the server is made.
      Effect.catchDefect((cause) =>
        Effect.fail(new ListenFailed({ detail: `TLS: ${cause instanceof Error ? cause.message : String(cause)}` }))
      )
    )
    // Run first as the scope closes (before `listenWith`'s own, whose close of the server waits for every connection):
    // the connections served have ended by then (`run` stopped), those queued go with `listenWith`'s finalizer.
    const dropHandshakes = Effect.sync(() => {
      stopped = true
      if (server?.listening === true) server.close()
      for (const raw of connections) raw.destroy()
      connections.clear()
    })
    return Effect.tap(listening, () => Effect.addFinalizer(() => dropHandshakes))
  })

// A listening server from `make`, which calls `arrived` with each connection ready to be read (and, over TLS, its
// session).
const listenWith = (
  host: string,
  port: number,
  options: TransportOptions,
  make: (arrived: (conn: Net.Socket, tls?: Tls.Session) => void) => Net.Server
): Effect.Effect<TcpServer, ListenFailed, Scope.Scope> =>
  Effect.gen(function* () {
    // Connections that arrive before `run` (or after it stopped) wait here, read by nobody, until `run` takes them
    // or the scope closes them.
    const waiting = new Map<Net.Socket, Tls.Session | undefined>()
    const queue = (conn: Net.Socket, tls: Tls.Session | undefined) => {
      waiting.set(conn, tls)
      conn.once("close", () => waiting.delete(conn))
    }
    let onConnection = queue
    const server = make((conn, tls) => {
      // A socket error before its reader is attached must not go unhandled; the reader records it.
      conn.on("error", () => {})
      onConnection(conn, tls)
    })
    yield* Effect.addFinalizer(() =>
      Effect.callback<void>((resume) => {
        for (const conn of waiting.keys()) conn.destroy()
        waiting.clear()
        if (server.listening) server.close(() => resume(Effect.void))
        else resume(Effect.void)
      })
    )
    yield* Effect.callback<void, ListenFailed>((resume) => {
      const onError = (cause: Error) => resume(Effect.fail(new ListenFailed({ detail: cause.message })))
      server.once("error", onError)
      server.listen({ host, port }, () => {
        server.off("error", onError)
        resume(Effect.void)
      })
    })
    // A server error once listening (rare: the listening socket itself failing) is left to the connections.
    server.on("error", () => {})
    const address = server.address()
    const bound = typeof address === "object" && address !== null ? address.port : port
    return {
      port: bound,
      stopListening: Effect.sync(() => {
        if (server.listening) server.close()
      }),
      run: (handler) =>
        Effect.gen(function* () {
          // Each connection runs in its own fiber, with the services of the fiber that called `run` (its scope
          // left out: each connection has its own); stopping `run` interrupts them and waits for them to end.
          const context = Context.omit(Scope.Scope)(yield* Effect.context<never>())
          const fork = Effect.runForkWith(context)
          const fibers = new Set<Fiber.Fiber<void>>()
          const serveOne = (conn: Net.Socket, tls: Tls.Session | undefined) => {
            // The reader is attached at once, so that no event is missed while the fiber starts.
            conn.setNoDelay(true).setKeepAlive(true, 30_000)
            const reader = attachReader(conn, tls === undefined)
            const made = fromNodeSocket(conn, reader, `${conn.remoteAddress}:${conn.remotePort}`, options, tls)
            const fiber = fork(
              Effect.ensuring(
                Effect.suspend(() => handler(made.transport)),
                Effect.sync(made.close)
              ).pipe(
                Effect.catchCause((cause) =>
                  Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logError("connection failed", cause)
                )
              )
            )
            if (fiber.pollUnsafe() !== undefined) return
            fibers.add(fiber)
            fiber.addObserver(() => fibers.delete(fiber))
          }
          onConnection = serveOne
          for (const [conn, tls] of waiting) {
            waiting.delete(conn)
            serveOne(conn, tls)
          }
          return yield* Effect.callback<never>(() =>
            Effect.suspend(() => {
              onConnection = queue
              return Fiber.interruptAll(fibers)
            })
          )
        })
    }
  })

/** Two transports connected to each other in memory, for tests. */
export const memoryPair = (): Effect.Effect<readonly [Transport, Transport]> =>
  Effect.gen(function* () {
    const aToB = yield* Queue.unbounded<Uint8Array, TransportClosed | Cause.Done>()
    const bToA = yield* Queue.unbounded<Uint8Array, TransportClosed | Cause.Done>()
    const side = (inbox: typeof aToB, outbox: typeof aToB, peer: string): Transport => {
      const write = (chunks: ReadonlyArray<Uint8Array>) =>
        Effect.asVoid(
          Queue.offerAll(
            outbox,
            chunks.map((c) => new Uint8Array(c))
          )
        )
      return {
        peer,
        read: Effect.map(Queue.takeBetween(inbox, 1, 1024), (chunks) => [...chunks]).pipe(
          Effect.catchIf(
            (e): e is Cause.Done => Cause.isDone(e),
            () => Effect.fail(new TransportClosed({ abrupt: false }))
          )
        ),
        write,
        // In memory the write is the queue offer itself: left to the effect.
        writeNow: write,
        end: Effect.asVoid(Queue.end(outbox)),
        destroy: Effect.asVoid(
          Effect.all([Queue.end(outbox), Queue.fail(inbox, new TransportClosed({ abrupt: true }))])
        )
      }
    }
    const pair = [side(bToA, aToB, "memory-a"), side(aToB, bToA, "memory-b")] as const
    // Each write is copied into the queue: what a side reads is its own.
    for (const transport of pair) readsGivenAway.add(transport)
    return pair
  })
