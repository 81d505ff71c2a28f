/**
 * A TLS server stopping drops the connections still in their handshake. It used to leave them to Node's handshake
 * timeout (the ACSE timeout, 30 s by default): a client silent after its TCP connect outlived the server by that long,
 * and one whose handshake completed after the server had stopped was queued, read by nobody and never closed.
 */
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as NodeTls from "node:tls"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Result, Scope } from "effect"
import { ApplicationEntity, Scp } from "@netdicom/net"
import { hasOpenssl, makeCertificates, type Certificates } from "../support/certs.ts"
import { removeDir } from "../support/peers.ts"
import { IMPLICIT, promise, VERIFICATION } from "./support.ts"

const certs: Certificates | undefined = hasOpenssl() ? makeCertificates() : undefined
afterAll(() => {
  if (certs !== undefined) removeDir(certs.dir)
})

// A TLS SCP with an ACSE timeout (its handshake timeout) of 20 s, in a scope of its own.
const tlsScp = (c: Certificates) =>
  Effect.gen(function* () {
    const ae = Result.getOrThrow(
      ApplicationEntity.make({
        aeTitle: "TLS-SCP",
        contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] }],
        timeouts: { acse: "20 seconds" }
      })
    )
    const scope = yield* Scope.make()
    const server = yield* Scp.serve(ae, {
      port: 0,
      tls: { key: Fs.readFileSync(c.server.key), cert: Fs.readFileSync(c.server.cert) }
    }).pipe(Scope.provide(scope))
    return { port: server.port, stop: Scope.close(scope, Exit.void) }
  })

// A TCP connection to the server, and when it closed (ms since `started`).
const connect = (port: number, started: number) => {
  const socket = Net.connect({ host: "127.0.0.1", port })
  socket.on("error", () => {})
  const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now() - started)))
  const within = (ms: number) =>
    Promise.race([closed, new Promise<string>((resolve) => setTimeout(() => resolve(`open after ${ms} ms`), ms))])
  return { socket, within }
}

describe.skipIf(certs === undefined)("a TLS server stopping drops the handshakes in progress", () => {
  it.live("a client silent after its TCP connect is closed as the server stops", () =>
    Effect.gen(function* () {
      const scp = yield* tlsScp(certs!)
      const silent = connect(scp.port, Date.now())
      yield* Effect.sleep("200 millis")
      yield* scp.stop
      const closed = yield* promise(() => silent.within(1_500))
      silent.socket.destroy()
      assert.isNumber(closed, String(closed))
    })
  )

  it.live("a handshake started as the server stops is not completed and left open", () =>
    Effect.gen(function* () {
      const scp = yield* tlsScp(certs!)
      const started = Date.now()
      const raw = connect(scp.port, started)
      yield* Effect.sleep("200 millis")
      const tls = NodeTls.connect({ socket: raw.socket, rejectUnauthorized: false })
      tls.on("error", () => {})
      yield* scp.stop
      const closed = yield* promise(() => raw.within(1_500))
      tls.destroy()
      assert.isNumber(closed, String(closed))
    })
  )
})
