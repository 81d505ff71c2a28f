/**
 * Hostile peers against DICOM over TLS, guards that passed when written: clients stalling before or in their
 * handshake, speaking no TLS or an outdated one, a ClientHello or a certificate chain too large, a self-signed
 * certificate, peers closing or resetting at each step, a close_notify followed by more data; and on the requestor's
 * side, servers closing after the handshake, within the A-ASSOCIATE-AC or the P-DATA, one that stops reading a large
 * C-STORE, and a connect interrupted in its handshake. Each ends as a typed error or a logged, dropped connection,
 * and the server serves the next good client.
 */
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import * as NodeTls from "node:tls"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Logger, Result, Stream } from "effect"
import { ApplicationEntity, Scp, Scu } from "@netdicom/net"
import { PduCodec, Status } from "@netdicom/wire"
import { hasOpenssl, makeCertificates, type Certificates } from "../support/certs.ts"
import { removeDir } from "../support/peers.ts"
import {
  associateRq,
  CT,
  encode,
  EXPLICIT,
  IMPLICIT,
  pdata,
  peerOn,
  promise,
  storeRqPdata,
  VERIFICATION
} from "./support.ts"

const certs: Certificates | undefined = hasOpenssl() ? makeCertificates() : undefined
afterAll(() => {
  if (certs !== undefined) removeDir(certs.dir)
})
const pem = (path: string) => Fs.readFileSync(path)
const contexts = [
  { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
  { abstractSyntax: CT, transferSyntaxes: [EXPLICIT] }
]
const ae = (aeTitle: string) =>
  Effect.sync(() =>
    Result.getOrThrow(
      ApplicationEntity.make({
        aeTitle,
        contexts,
        timeouts: { acse: "2 seconds", connect: "3 seconds", dimse: "3 seconds", write: "1 second" }
      })
    )
  )

// A TLS SCP asking clients for a certificate from the test CA (none required), storing anything; its log kept.
const tlsScp = Effect.gen(function* () {
  const c = certs!
  const lines: Array<string> = []
  const capture = Logger.make(({ message }) => {
    lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
  })
  const storage = Layer.succeed(Scp.StorageService)({
    store: (request) => Effect.as(Stream.runDrain(request.dataSet).pipe(Effect.ignore), { status: Status.SUCCESS })
  })
  const server = yield* Scp.serve(yield* ae("TLS-SCP"), {
    port: 0,
    policy: {},
    tls: { key: pem(c.server.key), cert: pem(c.server.cert), ca: [pem(c.ca)] }
  }).pipe(Effect.provide(storage), Effect.provide(Logger.layer([capture])))
  return { server, lines }
})

// A good client: C-ECHO over TLS.
const echo = (port: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const channel = yield* Scu.connect(yield* ae("TLS-SCU"), {
        host: "127.0.0.1",
        port,
        calledAeTitle: "TLS-SCP",
        contexts,
        tls: { ca: [pem(certs!.ca)] }
      })
      return (yield* Scu.echo(channel)).status
    })
  )

// A raw TCP connection and when it closed.
const tcp = (port: number) => {
  const socket = Net.connect({ host: "127.0.0.1", port })
  socket.on("error", () => {})
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()))
  return { socket, closed }
}

// A TLS client over a raw connection (so that it can be reset), once its handshake completed, or its error.
const tlsClient = (port: number, options: NodeTls.ConnectionOptions = {}) =>
  new Promise<{ tls: NodeTls.TLSSocket; raw: Net.Socket } | Error>((resolve) => {
    const { socket: raw } = tcp(port)
    const tls = NodeTls.connect({ socket: raw, rejectUnauthorized: false, ...options })
    tls.on("error", (e) => resolve(e))
    tls.on("secureConnect", () => resolve({ tls, raw }))
  })

const within = <A>(p: Promise<A>, ms: number) =>
  Promise.race([p.then(() => "closed"), new Promise<string>((r) => setTimeout(() => r(`open after ${ms} ms`), ms))])

describe.skipIf(certs === undefined)("hostile TLS peers", () => {
  it.live("clients silent or stalled in their handshake: a good client is served meanwhile, all closed at ARTIM", () =>
    Effect.gen(function* () {
      const { server, lines } = yield* tlsScp
      const silent = Array.from({ length: 40 }, () => tcp(server.port))
      // ClientHello sent, the server's answer never read
      const stalled = Array.from({ length: 10 }, () => {
        const raw = tcp(server.port)
        const tls = NodeTls.connect({ socket: raw.socket, rejectUnauthorized: false })
        tls.on("error", () => {})
        raw.socket.once("data", () => raw.socket.pause())
        return raw
      })
      yield* Effect.sleep("100 millis")
      assert.strictEqual(yield* echo(server.port), Status.SUCCESS)
      const all = Promise.all([...silent, ...stalled].map((s) => s.closed))
      assert.strictEqual(yield* promise(() => within(all, 3_500)), "closed")
      assert.isAtLeast(lines.filter((l) => /failed: TLS handshake timeout/.test(l)).length, 40, lines.join("\n"))
      assert.strictEqual(yield* echo(server.port), Status.SUCCESS)
    })
  )

  it.live("no TLS, TLS 1.0 only, a 1 MiB ClientHello, an oversized record: each logged and dropped", () =>
    Effect.gen(function* () {
      const { server, lines } = yield* tlsScp
      const sent = (bytes: Uint8Array) =>
        promise(() => {
          const raw = tcp(server.port)
          // read (the server's alert), so that its close is seen
          raw.socket.resume()
          raw.socket.write(bytes)
          return within(raw.closed, 2_000)
        })
      assert.strictEqual(yield* sent(new Uint8Array(1000).fill(0x41)), "closed")
      assert.strictEqual(yield* sent(encode(associateRq({ calledAeTitle: "TLS-SCP" }))), "closed")
      // a handshake record of 20,000 bytes (past the most a record may carry, 16 KiB and 2 KiB of expansion)
      const record = new Uint8Array(5 + 20_000)
      record.set([0x16, 0x03, 0x01, 0x4e, 0x20])
      assert.strictEqual(yield* sent(record), "closed")
      // a ClientHello saying it is 16 MiB long, 1 MiB of it sent in full records
      const hello = new Uint8Array((5 + 16384) * 64)
      for (let i = 0; i < 64; i++) hello.set([0x16, 0x03, 0x01, 0x40, 0x00], i * (5 + 16384))
      hello.set([0x01, 0xff, 0xff, 0xff], 5)
      assert.strictEqual(yield* sent(hello), "closed")
      const old = yield* promise(() =>
        tlsClient(server.port, { minVersion: "TLSv1", maxVersion: "TLSv1", ciphers: "DEFAULT@SECLEVEL=0" })
      )
      assert.instanceOf(old, Error)
      assert.match(old.message, /protocol version/)
      for (const why of [
        "wrong version number (does the peer speak TLS?)",
        "data length too long",
        "excessive message size",
        "unsupported protocol"
      ]) {
        assert.isTrue(
          lines.some((l) => l.includes(`failed: ${why}`)),
          `${why}:\n${lines.join("\n")}`
        )
      }
      assert.strictEqual(yield* echo(server.port), Status.SUCCESS)
    })
  )

  it.live("a self-signed client certificate, a chain too long: refused, logged, the next served", () =>
    Effect.gen(function* () {
      const c = certs!
      const { server, lines } = yield* tlsScp
      // the other CA's own certificate as the client's: self-signed, not vouched for by the server's CA
      const self = yield* promise(() =>
        tlsClient(server.port, { key: pem(c.otherCa.replace(/\.pem$/, ".key")), cert: pem(c.otherCa) })
      )
      if (!(self instanceof Error)) {
        self.tls.write(encode(associateRq({ calledAeTitle: "TLS-SCP" })))
        assert.strictEqual(yield* promise(() => peerOn(self.tls).next(2_000)), "closed")
      }
      // the client certificate followed by 300 copies of the CA's (some 350 KB)
      const long = Path.join(c.dir, "long-chain.pem")
      Fs.writeFileSync(long, [pem(c.client.cert), ...Array.from({ length: 300 }, () => pem(c.ca))].join(""))
      const chained = yield* promise(() => tlsClient(server.port, { key: pem(c.client.key), cert: pem(long) }))
      if (!(chained instanceof Error)) {
        chained.tls.write(encode(associateRq({ calledAeTitle: "TLS-SCP" })))
        assert.strictEqual(yield* promise(() => peerOn(chained.tls).next(2_000)), "closed")
      }
      assert.isTrue(
        lines.some((l) => /refused: the client's certificate is refused/.test(l)),
        lines.join("\n")
      )
      assert.isTrue(
        lines.some((l) => /failed: excessive message size/.test(l)),
        lines.join("\n")
      )
      assert.strictEqual(yield* echo(server.port), Status.SUCCESS)
    })
  )

  it.live("peers closing or resetting after the handshake, mid A-ASSOCIATE-RQ, mid P-DATA, after close_notify", () =>
    Effect.gen(function* () {
      const { server } = yield* tlsScp
      const connected = () =>
        promise(() => tlsClient(server.port)).pipe(
          Effect.map((c) => {
            if (c instanceof Error) throw c
            return c
          })
        )
      const rq = encode(associateRq({ calledAeTitle: "TLS-SCP" }))
      for (let i = 0; i < 3; i++) {
        ;(yield* connected()).tls.destroy()
        ;(yield* connected()).raw.resetAndDestroy()
        const midRq = yield* connected()
        midRq.tls.write(rq.subarray(0, 30))
        yield* Effect.sleep("10 millis")
        midRq.raw.resetAndDestroy()
        const midData = yield* connected()
        const peer = peerOn(midData.tls)
        midData.tls.write(rq)
        const ac = yield* promise(() => peer.next(2_000))
        assert.isTrue(typeof ac !== "string" && ac.type === 0x02)
        // a C-STORE-RQ, then half of a P-DATA-TF of its data set
        midData.tls.write(storeRqPdata())
        midData.tls.write(pdata(3, false, true, new Uint8Array(4000)).subarray(0, 2000))
        yield* Effect.sleep("10 millis")
        if (i === 1) midData.tls.destroy()
        else midData.raw.resetAndDestroy()
        // close_notify, then an application data record in the clear
        const notified = yield* connected()
        notified.tls.write(rq)
        notified.tls.end()
        notified.raw.write(new Uint8Array([0x17, 0x03, 0x03, 0x00, 0x20, ...new Uint8Array(32)]))
        notified.raw.resume()
        assert.strictEqual(
          yield* promise(() => within(new Promise((r) => notified.raw.once("close", r)), 2_000)),
          "closed"
        )
      }
      yield* Effect.sleep("200 millis")
      assert.deepStrictEqual([yield* server.pending, yield* server.active], [0, 0])
      assert.strictEqual(yield* echo(server.port), Status.SUCCESS)
    })
  )
})

// A TLS acceptor of our own: answers the A-ASSOCIATE-RQ as `answer` says, after the handshake.
const fakeAcceptor = (answer: (socket: NodeTls.TLSSocket, ac: Uint8Array) => void) =>
  Effect.acquireRelease(
    Effect.callback<{ port: number; server: NodeTls.Server; sockets: Set<NodeTls.TLSSocket> }>((resume) => {
      const c = certs!
      const sockets = new Set<NodeTls.TLSSocket>()
      const server = NodeTls.createServer({ key: pem(c.server.key), cert: pem(c.server.cert) }, (socket) => {
        sockets.add(socket)
        socket.on("error", () => {})
        let buffered = Buffer.alloc(0)
        const onData = (chunk: Buffer) => {
          buffered = Buffer.concat([buffered, chunk])
          if (buffered.length < 6 || buffered.length < 6 + buffered.readUInt32BE(2)) return
          socket.off("data", onData)
          const rq = Result.getOrThrow(
            PduCodec.decodePdu(new Uint8Array(buffered.subarray(0, 6 + buffered.readUInt32BE(2))))
          )
          if (rq._tag !== "AAssociateRq") return
          const ac = PduCodec.encodePdu({
            ...rq,
            _tag: "AAssociateAc",
            presentationContexts: rq.presentationContexts.map((pc) => ({
              _tag: "PresentationContextAc" as const,
              id: pc.id,
              result: 0 as const,
              transferSyntax: pc.transferSyntaxes[0]!
            }))
          })
          answer(socket, Result.getOrThrow(ac))
        }
        socket.on("data", onData)
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ port: (server.address() as Net.AddressInfo).port, server, sockets }))
      )
    }),
    ({ server, sockets }) =>
      Effect.sync(() => {
        for (const s of sockets) s.destroy()
        server.close()
      })
  )

// Our requestor against `port`: associate, then store `size` bytes; the error's tag and message.
const storeTo = (port: number, size: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const channel = yield* Scu.connect(yield* ae("TLS-SCU"), {
        host: "127.0.0.1",
        port,
        calledAeTitle: "FAKE",
        contexts,
        tls: { ca: [pem(certs!.ca)] }
      })
      return yield* Scu.store(channel, {
        sopClassUid: CT,
        sopInstanceUid: "1.2.3",
        transferSyntax: EXPLICIT,
        dataSet: new Uint8Array(size).fill(1)
      })
    })
  ).pipe(
    Effect.flip,
    Effect.map((e) => `${e._tag}: ${e.message}`)
  )

describe.skipIf(certs === undefined)("hostile TLS acceptors", () => {
  it.live("closing after the handshake, within the A-ASSOCIATE-AC, within the P-DATA: typed errors", () =>
    Effect.gen(function* () {
      const gone = yield* fakeAcceptor((socket) => socket.destroy())
      assert.match(yield* storeTo(gone.port, 100), /^AssociationAborted: .*(closed|reset)/)
      const half = yield* fakeAcceptor((socket, ac) => {
        socket.write(ac.subarray(0, 20))
        setTimeout(() => socket.destroy(), 20)
      })
      assert.match(yield* storeTo(half.port, 100), /^AssociationAborted: /)
      const midData = yield* fakeAcceptor((socket, ac) => {
        socket.write(ac)
        let got = 0
        socket.on("data", (chunk: Buffer) => {
          got += chunk.length
          if (got > 100_000) socket.destroy()
        })
      })
      assert.match(yield* storeTo(midData.port, 4 << 20), /^AssociationAborted: /)
    })
  )

  it.live("a large C-STORE to an acceptor that stops reading: the write deadline aborts it", () =>
    Effect.gen(function* () {
      const stalled = yield* fakeAcceptor((socket, ac) => {
        socket.write(ac)
        socket.pause()
      })
      const started = Date.now()
      assert.match(yield* storeTo(stalled.port, 64 << 20), /^AssociationAborted: .*write deadline/)
      assert.isBelow(Date.now() - started, 4_000)
    })
  )

  it.live("Scu.connect interrupted in the handshake: the connection is closed", () =>
    Effect.gen(function* () {
      let closed: Promise<void> | undefined
      const silent = Net.createServer((socket) => {
        socket.on("error", () => {})
        socket.resume()
        closed = new Promise((r) => socket.once("close", () => r()))
      })
      yield* Effect.acquireRelease(
        Effect.callback<void>((resume) => {
          silent.listen(0, "127.0.0.1", () => resume(Effect.void))
        }),
        () => Effect.sync(() => silent.close())
      )
      const fiber = yield* Effect.forkChild(storeTo((silent.address() as Net.AddressInfo).port, 100))
      yield* Effect.sleep("300 millis")
      yield* Fiber.interrupt(fiber)
      assert.isDefined(closed)
      assert.strictEqual(yield* promise(() => within(closed!, 1_000)), "closed")
    })
  )
})
