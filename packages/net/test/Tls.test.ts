/**
 * DICOM over TLS (PS3.15 Annex B) between our SCU and our SCP, on 127.0.0.1 with certificates made by the `openssl`
 * command at test time: C-ECHO and C-STORE, the peer's certificate seen by either side (and by the acceptor's policy),
 * the handshakes that must fail (another CA, an expired certificate, a name not in the certificate, TLS against plain
 * TCP either way, a client certificate absent or from another CA when one is required, a silent client) as typed
 * errors, with the server serving on after each. Skipped with a message when `openssl` is missing.
 */
import * as Fs from "node:fs"
import * as Net from "node:net"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Logger, Stream } from "effect"
import { Status } from "@netdicom/wire"
import { hasOpenssl, makeCertificates, type Certificates } from "../../../tests/support/certs.ts"
import { removeDir } from "../../../tests/support/peers.ts"
import type { Requestor } from "../src/association/AcceptorPolicy.ts"
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import * as Tls from "../src/upper/Tls.ts"
import * as Transport from "../src/upper/Transport.ts"
import { CT, VERIFICATION, testAe } from "./support.ts"

const openssl = hasOpenssl()
if (!openssl) console.warn("Tls.test.ts: the openssl command is missing (apt-get install openssl): skipping")
const certs: Certificates | undefined = openssl ? makeCertificates() : undefined
afterAll(() => {
  if (certs !== undefined) removeDir(certs.dir)
})

const pem = (path: string) => Fs.readFileSync(path)
const contexts = [
  { abstractSyntax: VERIFICATION, transferSyntaxes: ["1.2.840.10008.1.2"] },
  { abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }
]

// The server's TLS settings from the test certificates.
const serverTls = (c: Certificates, more: Partial<Tls.ServerOptions> = {}): Tls.ServerOptions => ({
  key: pem(c.server.key),
  cert: pem(c.server.cert),
  ...more
})

// A TLS SCP storing into `stored`, its policy recording who asked; its log lines kept.
const tlsScp = (tls: Tls.ServerOptions | undefined, accept: (r: Requestor) => boolean = () => true) =>
  Effect.gen(function* () {
    const stored = new Map<string, number>()
    const requestors: Array<Requestor> = []
    const lines: Array<string> = []
    const capture = Logger.make(({ message }) => {
      lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
    })
    const storage = Layer.succeed(Scp.StorageService)({
      store: (request) =>
        Effect.map(Stream.runCollect(request.dataSet), (chunks) => {
          stored.set(
            request.sopInstanceUid,
            chunks.reduce((n, c) => n + c.length, 0)
          )
          return { status: Status.SUCCESS }
        }).pipe(Effect.orElseSucceed(() => ({ status: 0xa700 })))
    })
    const policy = {
      requestor: (r: Requestor) => {
        requestors.push(r)
        return accept(r)
      }
    }
    const ae = yield* testAe({ aeTitle: "TLS-SCP", contexts, timeouts: { acse: "2 seconds", connect: "5 seconds" } })
    const server = yield* Scp.serve(ae, { port: 0, policy, ...(tls === undefined ? {} : { tls }) }).pipe(
      Effect.provide(storage),
      Effect.provide(Logger.layer([capture]))
    )
    return { port: server.port, stored, requestors, lines }
  })

// One association: a C-ECHO, then a C-STORE of 40,000 bytes; what the requestor saw of the TLS session.
const echoAndStore = (port: number, tls: Tls.ClientOptions | undefined) =>
  Effect.scoped(
    Effect.gen(function* () {
      const channel = yield* Scu.connect(yield* testAe({ aeTitle: "TLS-SCU" }), {
        host: "127.0.0.1",
        port,
        calledAeTitle: "TLS-SCP",
        contexts,
        ...(tls === undefined ? {} : { tls })
      })
      const echo = yield* Scu.echo(channel)
      const store = yield* Scu.store(channel, {
        sopClassUid: CT,
        sopInstanceUid: "1.2.3.4",
        transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
        dataSet: new Uint8Array(40_000).fill(7)
      })
      return { echo: echo.status, store: store.status, session: channel.association.tls }
    })
  )

// The error an association that cannot be opened fails with: its tag and message.
const refusedWith = (port: number, tls: Tls.ClientOptions | undefined) =>
  Effect.map(Effect.flip(echoAndStore(port, tls)), (e) => ({ tag: e._tag, message: e.message }))

describe.skipIf(!openssl)("DICOM over TLS between netdicom's SCU and SCP", () => {
  const c = certs!

  it.live("C-ECHO and C-STORE over TLS; each side sees the other's certificate", () =>
    Effect.gen(function* () {
      const scp = yield* tlsScp(serverTls(c, { ca: [pem(c.ca)] }))
      const result = yield* echoAndStore(scp.port, {
        ca: [pem(c.ca)],
        key: pem(c.client.key),
        cert: pem(c.client.cert)
      })
      assert.deepStrictEqual([result.echo, result.store], [Status.SUCCESS, Status.SUCCESS])
      assert.strictEqual(scp.stored.get("1.2.3.4"), 40_000)
      // the requestor's view: the server's certificate, checked
      assert.match(result.session?.protocol ?? "", /^TLSv1\.[23]$/)
      assert.strictEqual(result.session?.peerCertificate?.commonName, "netdicom-server")
      // the acceptor's policy was told who asked: calling AE title and client certificate subject
      const [asked] = scp.requestors
      assert.strictEqual(asked?.callingAeTitle, "TLS-SCU")
      assert.strictEqual(asked?.tls?.peerCertificate?.subject, "CN=netdicom-client")
      assert.strictEqual(asked?.tls?.peerCertificate?.issuer, "CN=netdicom-test-ca")
      assert.isTrue(
        scp.lines.some((l) =>
          /^association accepted from TLS-SCU: 2 context\(s\) over TLSv1\.[23] \(client certificate CN=netdicom-client\)$/.test(
            l
          )
        ),
        scp.lines.join("\n")
      )
    })
  )

  it.live("without a client certificate where none is required: served, the policy sees none", () =>
    Effect.gen(function* () {
      const scp = yield* tlsScp(serverTls(c, { ca: [pem(c.ca)] }))
      const result = yield* echoAndStore(scp.port, { ca: [pem(c.ca)] })
      assert.deepStrictEqual([result.echo, result.store], [Status.SUCCESS, Status.SUCCESS])
      assert.strictEqual(scp.requestors[0]?.tls?.peerCertificate, undefined)
      assert.isDefined(scp.requestors[0]?.tls)
      // but one presented must be vouched for by the server's CAs
      const stranger = yield* refusedWith(scp.port, {
        ca: [pem(c.ca)],
        key: pem(c.otherServer.key),
        cert: pem(c.otherServer.cert)
      })
      assert.include(["AssociationAborted", "ConnectFailed"], stranger.tag)
      assert.strictEqual(scp.requestors.length, 1)
      assert.isTrue(
        scp.lines.some((l) => /TLS connection from .* refused: .*UNABLE_TO_VERIFY_LEAF_SIGNATURE/.test(l)),
        scp.lines.join("\n")
      )
    })
  )

  it.live("the policy refuses a certificate subject: A-ASSOCIATE-RJ", () =>
    Effect.gen(function* () {
      const scp = yield* tlsScp(
        serverTls(c, { ca: [pem(c.ca)] }),
        (r) => r.tls?.peerCertificate?.commonName === "some-other-modality"
      )
      const refused = yield* refusedWith(scp.port, {
        ca: [pem(c.ca)],
        key: pem(c.client.key),
        cert: pem(c.client.cert)
      })
      assert.strictEqual(refused.tag, "AssociationRejected")
    })
  )

  it.live("refused handshakes fail the client with ConnectFailed saying why; the server serves on", () =>
    Effect.gen(function* () {
      const scp = yield* tlsScp(serverTls(c))
      // the server's certificate from a CA the client does not trust
      const otherCa = yield* refusedWith(scp.port, { ca: [pem(c.otherCa)] })
      assert.strictEqual(otherCa.tag, "ConnectFailed")
      assert.match(otherCa.message, /certificate/i)
      // the name checked: a certificate for 127.0.0.1 does not pass for "localhost2"
      const wrongName = yield* refusedWith(scp.port, { ca: [pem(c.ca)], serverName: "localhost2" })
      assert.strictEqual(wrongName.tag, "ConnectFailed")
      assert.match(wrongName.message, /localhost2/)
      // not checking is what a client asks for
      const unchecked = yield* echoAndStore(scp.port, { verifyPeer: false })
      assert.strictEqual(unchecked.echo, Status.SUCCESS)
      const good = yield* echoAndStore(scp.port, { ca: [pem(c.ca)] })
      assert.strictEqual(good.echo, Status.SUCCESS)
      assert.isTrue(
        scp.lines.some((l) => /TLS handshake with .* failed/.test(l)),
        scp.lines.join("\n")
      )
    })
  )

  it.live("an expired server certificate is refused", () =>
    Effect.gen(function* () {
      const scp = yield* tlsScp({ key: pem(c.expired.key), cert: pem(c.expired.cert) })
      const expired = yield* refusedWith(scp.port, { ca: [pem(c.ca)] })
      assert.strictEqual(expired.tag, "ConnectFailed")
      assert.match(expired.message, /expired/)
    })
  )

  it.live(
    "a certificate without the IP address is refused for 127.0.0.1, unless its name is given or not checked",
    () =>
      Effect.gen(function* () {
        const scp = yield* tlsScp({ key: pem(c.unnamed.key), cert: pem(c.unnamed.cert) })
        const refused = yield* refusedWith(scp.port, { ca: [pem(c.ca)] })
        assert.strictEqual(refused.tag, "ConnectFailed")
        assert.match(refused.message, /127\.0\.0\.1/)
        const named = yield* echoAndStore(scp.port, { ca: [pem(c.ca)], serverName: "unnamed-server" })
        assert.strictEqual(named.echo, Status.SUCCESS)
        const unchecked = yield* echoAndStore(scp.port, { ca: [pem(c.ca)], checkServerName: false })
        assert.strictEqual(unchecked.echo, Status.SUCCESS)
        // still checked against the CA
        const otherCa = yield* refusedWith(scp.port, { ca: [pem(c.otherCa)], checkServerName: false })
        assert.strictEqual(otherCa.tag, "ConnectFailed")
      })
  )

  it.live("plain TCP to a TLS server and TLS to a plain server: typed errors, both servers serve on", () =>
    Effect.gen(function* () {
      const tls = yield* tlsScp(serverTls(c))
      const plainToTls = yield* refusedWith(tls.port, undefined)
      assert.include(["AssociationAborted", "ConnectFailed"], plainToTls.tag)
      assert.isTrue(
        // OpenSSL's reason, not its error line naming its source files
        tls.lines.some((l) =>
          /TLS handshake with .* failed: wrong version number \(does the peer speak TLS\?\)$/.test(l)
        ),
        tls.lines.join("\n")
      )
      assert.strictEqual((yield* echoAndStore(tls.port, { ca: [pem(c.ca)] })).echo, Status.SUCCESS)

      const plain = yield* tlsScp(undefined)
      const tlsToPlain = yield* refusedWith(plain.port, { ca: [pem(c.ca)] })
      assert.strictEqual(tlsToPlain.tag, "ConnectFailed")
      assert.match(tlsToPlain.message, /TLS handshake failed: wrong version number \(does the peer speak TLS\?\)/)
      assert.strictEqual((yield* echoAndStore(plain.port, undefined)).echo, Status.SUCCESS)
      // nothing reached the plain server's policy from the TLS client
      assert.strictEqual(plain.requestors.length, 1)
    })
  )

  it.live("a client certificate required: none, or one from another CA, is refused; the right one is served", () =>
    Effect.gen(function* () {
      const scp = yield* tlsScp(serverTls(c, { ca: [pem(c.ca)], requirePeerCertificate: true }))
      const none = yield* refusedWith(scp.port, { ca: [pem(c.ca)] })
      // TLS 1.3: the client's handshake completes before the server has checked its certificate, so the refusal comes
      // as the server's alert once the A-ASSOCIATE-RQ is sent
      assert.include(["AssociationAborted", "ConnectFailed"], none.tag)
      assert.match(none.message, /certificate required/)
      assert.isTrue(
        scp.lines.some((l) => /TLS handshake with .* failed: .*did not return a certificate/.test(l)),
        scp.lines.join("\n")
      )
      // a client certificate the server's CAs do not vouch for (the other CA's server certificate)
      const stranger = yield* refusedWith(scp.port, {
        ca: [pem(c.ca)],
        key: pem(c.otherServer.key),
        cert: pem(c.otherServer.cert)
      })
      assert.include(["AssociationAborted", "ConnectFailed"], stranger.tag)
      assert.isTrue(
        scp.lines.some((l) => /failed: the client's certificate is refused: UNABLE_TO_VERIFY_LEAF_SIGNATURE/.test(l)),
        scp.lines.join("\n")
      )
      assert.strictEqual(scp.requestors.length, 0)
      const good = yield* echoAndStore(scp.port, { ca: [pem(c.ca)], key: pem(c.client.key), cert: pem(c.client.cert) })
      assert.deepStrictEqual([good.echo, good.store], [Status.SUCCESS, Status.SUCCESS])
      assert.strictEqual(scp.requestors[0]?.tls?.peerCertificate?.commonName, "netdicom-client")
    })
  )

  it.live("a revoked server certificate is refused by a client given the CA's CRL, and served without it", () =>
    Effect.gen(function* () {
      const scp = yield* tlsScp({ key: pem(c.revoked.key), cert: pem(c.revoked.cert) })
      const revoked = yield* refusedWith(scp.port, { ca: [pem(c.ca)], crl: [pem(c.crl)] })
      assert.strictEqual(revoked.tag, "ConnectFailed")
      assert.match(revoked.message, /revoked/)
      // without the list the certificate is as good as any other of the CA's
      assert.strictEqual((yield* echoAndStore(scp.port, { ca: [pem(c.ca)] })).echo, Status.SUCCESS)
      // and the CRL refuses only what it lists
      const good = yield* tlsScp(serverTls(c))
      assert.strictEqual((yield* echoAndStore(good.port, { ca: [pem(c.ca)], crl: [pem(c.crl)] })).echo, Status.SUCCESS)
      // a CA without a CRL among those given: its certificates cannot be checked, and are refused (OpenSSL's rule)
      const other = yield* tlsScp({ key: pem(c.otherServer.key), cert: pem(c.otherServer.cert) })
      const unlisted = yield* refusedWith(other.port, { ca: [pem(c.ca), pem(c.otherCa)], crl: [pem(c.crl)] })
      assert.strictEqual(unlisted.tag, "ConnectFailed")
      assert.match(unlisted.message, /unable to get certificate CRL/)
    })
  )

  it.live("a revoked client certificate is refused by a server given the CA's CRL; another is served", () =>
    Effect.gen(function* () {
      const scp = yield* tlsScp(serverTls(c, { ca: [pem(c.ca)], crl: [pem(c.crl)] }))
      const revoked = yield* refusedWith(scp.port, {
        ca: [pem(c.ca)],
        key: pem(c.revoked.key),
        cert: pem(c.revoked.cert)
      })
      assert.include(["AssociationAborted", "ConnectFailed"], revoked.tag)
      assert.isTrue(
        scp.lines.some((l) => /the client's certificate is refused: CERT_REVOKED/.test(l)),
        scp.lines.join("\n")
      )
      assert.strictEqual(scp.requestors.length, 0)
      const good = yield* echoAndStore(scp.port, { ca: [pem(c.ca)], key: pem(c.client.key), cert: pem(c.client.cert) })
      assert.deepStrictEqual([good.echo, good.store], [Status.SUCCESS, Status.SUCCESS])
    })
  )

  it.live("an encrypted private key: served with its passphrase; without it or with a wrong one, load names it", () =>
    Effect.gen(function* () {
      const loaded = yield* Tls.load({
        key: c.encryptedServerKey,
        cert: c.server.cert,
        passphrase: c.passphrase
      })
      assert.strictEqual(loaded.passphrase, "netdicom test passphrase")
      const scp = yield* tlsScp({ key: loaded.key!, cert: loaded.cert!, passphrase: loaded.passphrase })
      assert.strictEqual((yield* echoAndStore(scp.port, { ca: [pem(c.ca)] })).echo, Status.SUCCESS)
      const without = yield* Effect.flip(Tls.load({ key: c.encryptedServerKey, cert: c.server.cert }))
      assert.match(
        without.message,
        /the private key .*netdicom-server-encrypted\.key is encrypted: give its passphrase/
      )
      const wrongFile = `${c.dir}/wrong-passphrase.txt`
      Fs.writeFileSync(wrongFile, "not it\n")
      const wrong = yield* Effect.flip(
        Tls.load({ key: c.encryptedServerKey, cert: c.server.cert, passphrase: wrongFile })
      )
      assert.match(wrong.message, /cannot decrypt the private key .* with the passphrase given/)
      // a plain key with a passphrase given is read as it is
      const plain = yield* Tls.load({ key: c.server.key, cert: c.server.cert, passphrase: c.passphrase })
      assert.isDefined(plain.key)
    })
  )

  it.live("cipher suites: a server and a client sharing none fail the handshake; the one they share is used", () =>
    Effect.gen(function* () {
      const scp = yield* tlsScp(serverTls(c, { ciphers: `TLS_AES_128_GCM_SHA256:${Tls.BCP195_CIPHERS}` }))
      const none = yield* refusedWith(scp.port, { ca: [pem(c.ca)], ciphers: "TLS_CHACHA20_POLY1305_SHA256" })
      assert.strictEqual(none.tag, "ConnectFailed")
      assert.match(none.message, /handshake failure/)
      const shared = yield* echoAndStore(scp.port, { ca: [pem(c.ca)], ciphers: "TLS_AES_128_GCM_SHA256" })
      assert.strictEqual(shared.echo, Status.SUCCESS)
      assert.strictEqual(shared.session?.cipher, "TLS_AES_128_GCM_SHA256")
      assert.isUndefined(Tls.checkCiphers(Tls.BCP195_CIPHERS))
      assert.match(Tls.checkCiphers("NO-SUCH-CIPHER")?.message ?? "", /"NO-SUCH-CIPHER" cannot be used/)
    })
  )

  it.live("a client that never starts its handshake is dropped at the ACSE timeout", () =>
    Effect.gen(function* () {
      const scp = yield* tlsScp(serverTls(c))
      const started = Date.now()
      const closed = yield* Effect.callback<number>((resume) => {
        const socket = Net.connect({ host: "127.0.0.1", port: scp.port })
        socket.on("error", () => {})
        socket.on("close", () => resume(Effect.succeed(Date.now() - started)))
        return Effect.sync(() => socket.destroy())
      }).pipe(Effect.timeout("10 seconds"))
      // the test AE's ACSE timeout is 2 s
      assert.isAtLeast(closed, 1_500)
      assert.isBelow(closed, 6_000)
      assert.isTrue(
        scp.lines.some((l) => /TLS handshake with 127\.0\.0\.1:\d+ failed: TLS handshake timeout/.test(l)),
        scp.lines.join("\n")
      )
    })
  )

  it.live("a server that never answers the handshake: ConnectFailed at the connect timeout", () =>
    Effect.gen(function* () {
      const silent = Net.createServer(() => {})
      yield* Effect.acquireRelease(
        Effect.callback<void>((resume) => {
          silent.listen(0, "127.0.0.1", () => resume(Effect.void))
        }),
        () => Effect.sync(() => silent.close())
      )
      const port = (silent.address() as Net.AddressInfo).port
      const failed = yield* Effect.flip(
        Effect.scoped(
          Transport.connectTls("127.0.0.1", port, {
            writeTimeout: Duration.seconds(5),
            connectTimeout: Duration.seconds(1),
            tls: { ca: [pem(c.ca)] }
          })
        )
      )
      assert.strictEqual(failed._tag, "ConnectFailed")
      assert.match(failed.message, /TLS handshake timed out/)
    })
  )

  it.live("a server key that does not match its certificate fails to listen, typed", () =>
    Effect.gen(function* () {
      const failed = yield* Effect.flip(tlsScp({ key: pem(c.client.key), cert: pem(c.server.cert) }))
      assert.strictEqual(failed._tag, "ListenFailed")
      assert.match(failed.message, /TLS/)
    })
  )
})
