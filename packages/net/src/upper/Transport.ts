/**
 * The transport service under the upper layer (PS3.8 section 9.1.1): a byte pipe to one peer.
 *
 * A `Transport` reads chunks, writes chunks with a deadline, half-closes and destroys. TCP comes
 * from `@effect/platform-node` (no-delay and keep-alive always on); `memoryPair` gives two
 * connected transports for tests. A write the peer does not take within the deadline destroys
 * the connection, so a peer that stops reading cannot hang us.
 *
 * @since 0.1.0
 */
import * as Net from "node:net"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import { Socket } from "effect/socket"

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
    return `cannot connect to ${this.host}:${this.port}: ${this.detail}`
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
  /** The next chunks received; fails with `TransportClosed` at EOF. */
  readonly read: Effect.Effect<ReadonlyArray<Uint8Array>, TransportError>
  /** Writes chunks in order, waiting for the socket to drain; destroys the connection past the deadline. */
  readonly write: (chunks: ReadonlyArray<Uint8Array>) => Effect.Effect<void, TransportError>
  /** Half-closes: no more writes, the peer sees EOF. */
  readonly end: Effect.Effect<void>
  /** Closes the connection at once. */
  readonly destroy: Effect.Effect<void>
}

/** Options shared by client and server connections. */
export interface TransportOptions {
  readonly writeTimeout: Duration.Duration
}

const classify = (e: Socket.SocketError): TransportError => {
  const reason = e.reason
  if (reason._tag === "SocketCloseError") return new TransportClosed({ abrupt: reason.code !== 1000 })
  return new TransportFailed({ detail: String(reason.cause ?? reason._tag) })
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

// Builds a Transport over an effect Socket (reading, half-close, teardown) and the Node socket under
// it (writing), inside the caller's scope: the reader (which opens a client connection) and the
// writer each live in a child scope so they can be closed on their own. Writes go to the Node socket
// directly, corked per call: a write that the kernel takes costs no fiber step, no timer.
const fromSocket = (
  socket: Socket.Socket,
  raw: () => Net.Socket | undefined,
  peer: string,
  options: TransportOptions
) =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    const readerScope = yield* Scope.fork(scope)
    const writerScope = yield* Scope.fork(scope)
    const pull = yield* Scope.provide(Socket.readerBytes(socket), readerScope)
    const writer = yield* Scope.provide(socket.writer, writerScope)
    const conn = raw()
    // Why we ended the connection ourselves (a write deadline), for the reader to report.
    let ended: TransportError | undefined
    const destroy = Scope.close(readerScope, Exit.void).pipe(
      Effect.andThen(Scope.close(writerScope, Exit.void)),
      Effect.andThen(Effect.sync(() => conn?.destroy()))
    )
    const write = (chunks: ReadonlyArray<Uint8Array>): Effect.Effect<void, TransportError> => {
      if (chunks.length === 0) return Effect.void
      if (conn === undefined) {
        // No Node socket at hand (not seen with TCP): the effect writer, with the deadline on each write.
        return writer.writeAll(chunks as [Uint8Array, ...Array<Uint8Array>]).pipe(
          Effect.mapError(classify),
          Effect.timeoutOrElse({
            duration: options.writeTimeout,
            orElse: () => Effect.andThen(destroy, Effect.fail(new WriteTimeout({ after: options.writeTimeout })))
          })
        )
      }
      if (conn.destroyed || !conn.writable) {
        return Effect.fail(new TransportClosed({ abrupt: true }))
      }
      try {
        if (chunks.length === 1) conn.write(chunks[0]!)
        else {
          conn.cork()
          try {
            for (const chunk of chunks) conn.write(chunk)
          } finally {
            conn.uncork()
          }
        }
      } catch (cause) {
        return Effect.fail(new TransportFailed({ detail: String(cause) }))
      }
      if (conn.writableLength < WRITE_BUFFER_LIMIT) return Effect.void
      // Past the deadline the connection is destroyed; the reader then fails with the same reason.
      return awaitDrain(
        conn,
        options.writeTimeout,
        Effect.suspend(() => {
          ended ??= new WriteTimeout({ after: options.writeTimeout })
          return destroy
        })
      )
    }
    const transport: Transport = {
      peer,
      // Node hands out Buffers; give plain Uint8Array views so `.slice()` downstream copies as it should.
      read: Effect.mapBoth(pull, {
        onFailure: (e) => ended ?? classify(e),
        onSuccess: (chunks) =>
          chunks.map((c) => (c instanceof Buffer ? new Uint8Array(c.buffer, c.byteOffset, c.byteLength) : c))
      }),
      write,
      end: Scope.close(writerScope, Exit.void),
      destroy
    }
    return transport
  })

/** Opens a TCP connection (no-delay, keep-alive) within the current scope. */
export const connectTcp = (
  host: string,
  port: number,
  options: TransportOptions & { readonly connectTimeout: Duration.Duration }
): Effect.Effect<Transport, ConnectFailed, Scope.Scope> =>
  Effect.gen(function* () {
    let conn: Net.Socket | undefined
    // Like NodeSocket.makeNet, keeping hold of the Node socket for writing.
    const open = Effect.flatMap(Effect.scope, (scope) =>
      Effect.andThen(
        Scope.addFinalizer(
          scope,
          Effect.sync(() => conn?.destroy())
        ),
        Effect.callback<Net.Socket, Socket.SocketError>((resume) => {
          const c = Net.createConnection({ host, port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000 })
          conn = c
          c.once("connect", () => resume(Effect.succeed(c)))
          c.on("error", (cause: Error) =>
            resume(
              Effect.fail(new Socket.SocketError({ reason: new Socket.SocketOpenError({ kind: "Unknown", cause }) }))
            )
          )
        })
      )
    )
    const socket = yield* NodeSocket.fromDuplex(open, { openTimeout: options.connectTimeout, disableReconnects: true })
    return yield* fromSocket(socket, () => conn, `${host}:${port}`, options)
  }).pipe(
    Effect.mapError((e) => new ConnectFailed({ host, port, detail: String(e.reason.cause ?? e.reason._tag) })),
    Effect.timeoutOrElse({
      duration: options.connectTimeout,
      orElse: () => Effect.fail(new ConnectFailed({ host, port, detail: "connect timed out" }))
    })
  )

/** A listening TCP server: its bound port, and a run loop handing each connection to `handler`. */
export interface TcpServer {
  readonly port: number
  readonly run: (handler: (transport: Transport) => Effect.Effect<void>) => Effect.Effect<never>
}

/** Listens on host:port (port 0 picks a free port) within the current scope. */
export const listenTcp = (
  host: string,
  port: number,
  options: TransportOptions
): Effect.Effect<TcpServer, ListenFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const server = yield* NodeSocketServer.make({ host, port }).pipe(
      Effect.mapError((e) => {
        const cause = "cause" in e.reason ? e.reason.cause : undefined
        return new ListenFailed({ detail: cause instanceof Error ? cause.message : String(e.reason) })
      })
    )
    const address = server.address
    const bound = address._tag === "UnixPathAddress" ? port : address.port
    return {
      port: bound,
      run: (handler) =>
        server
          .run((socket) =>
            Effect.scoped(
              Effect.gen(function* () {
                const raw = yield* Effect.serviceOption(NodeSocket.NetSocket)
                let peer = "unknown"
                if (Option.isSome(raw)) {
                  raw.value.setNoDelay(true).setKeepAlive(true, 30_000)
                  peer = `${raw.value.remoteAddress}:${raw.value.remotePort}`
                }
                const transport = yield* fromSocket(socket, () => Option.getOrUndefined(raw), peer, options)
                yield* handler(transport)
              })
            )
          )
          .pipe(Effect.orDie)
    }
  })

/** Two transports connected to each other in memory, for tests. */
export const memoryPair = (): Effect.Effect<readonly [Transport, Transport]> =>
  Effect.gen(function* () {
    const aToB = yield* Queue.unbounded<Uint8Array, TransportClosed | Cause.Done>()
    const bToA = yield* Queue.unbounded<Uint8Array, TransportClosed | Cause.Done>()
    const side = (inbox: typeof aToB, outbox: typeof aToB, peer: string): Transport => ({
      peer,
      read: Effect.map(Queue.takeBetween(inbox, 1, 1024), (chunks) => [...chunks]).pipe(
        Effect.catchIf(
          (e): e is Cause.Done => Cause.isDone(e),
          () => Effect.fail(new TransportClosed({ abrupt: false }))
        )
      ),
      write: (chunks) =>
        Effect.asVoid(
          Queue.offerAll(
            outbox,
            chunks.map((c) => new Uint8Array(c))
          )
        ),
      end: Effect.asVoid(Queue.end(outbox)),
      destroy: Effect.asVoid(Effect.all([Queue.end(outbox), Queue.fail(inbox, new TransportClosed({ abrupt: true }))]))
    })
    return [side(bToA, aToB, "memory-a"), side(aToB, bToA, "memory-b")] as const
  })
