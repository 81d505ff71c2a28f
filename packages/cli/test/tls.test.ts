/**
 * The `netdicom` command over TLS (PS3.15 Annex B), with certificates made by the `openssl` command at test time:
 * `echo` and `store` with the `--tls-*` flags against `netdicom storescp --tls-*`, mutual TLS required, the refusals
 * (another CA, plain TCP, a flag without its partner) as one line and exit 1, `qrscp`'s C-MOVE reaching a TLS
 * destination; and interop with DCMTK: its `storescp +tls` receiving from `netdicom store`, its `echoscu +tls` and
 * `storescu +tls` sending to `netdicom storescp`. Skipped with a message when `openssl` (or DCMTK, or DCMTK built
 * without OpenSSL) is missing.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { hasOpenssl, makeCertificates, type Certificates } from "../../../tests/support/certs.ts"
import { freePort, removeDir, run, startStorescp, stopAll, which } from "../../../tests/support/peers.ts"
import { filesUnder, lines, netdicom, part10, testFixtures, writeFile, type Server } from "./support.ts"

const openssl = hasOpenssl()
if (!openssl) console.warn("tls.test.ts: the openssl command is missing (apt-get install openssl): skipping")
// DCMTK has TLS only when built with OpenSSL: its help then lists +tls
const dcmtkTls =
  which("storescp") !== undefined &&
  which("storescu") !== undefined &&
  which("echoscu") !== undefined &&
  /\+tls\s+--enable-tls/.test(
    (() => {
      try {
        return execFileSync("storescp", ["--help"], { encoding: "utf8" })
      } catch {
        return ""
      }
    })()
  )
if (openssl && !dcmtkTls)
  console.warn("tls.test.ts: DCMTK without TLS (storescp --help lists no +tls): skipping interop")

const certs: Certificates | undefined = openssl ? makeCertificates() : undefined
const { temp, serve } = testFixtures("tls")
afterAll(async () => {
  await stopAll()
  if (certs !== undefined) removeDir(certs.dir)
})

const STUDY = "1.2.826.0.1.3680043.10.1478.7"
const instance = (n: number) =>
  part10({
    patientId: "TLS-1",
    patientName: "TLS^TEST",
    study: STUDY,
    series: `${STUDY}.1`,
    sop: `${STUDY}.1.${n}`
  })

describe.skipIf(!openssl)("netdicom echo and store over TLS", () => {
  const c = certs!
  const serverFlags = ["--tls-key", c.server.key, "--tls-cert", c.server.cert]
  let scp: Server
  let out: string
  let mutual: Server
  beforeAll(async () => {
    out = temp("storescp")
    scp = await serve(["storescp", "0", "--out", out, "--aet", "TLS-SCP", ...serverFlags])
    mutual = await serve([
      "storescp",
      "0",
      "--out",
      temp("mutual"),
      "--aet",
      "MTLS-SCP",
      ...serverFlags,
      "--tls-ca",
      c.ca,
      "--tls-require-peer-cert"
    ])
  })

  it("says it listens over TLS; echo and store with --tls-ca succeed", async () => {
    assert.match(scp.output(), /listening on 127\.0\.0\.1:\d+ as TLS-SCP over TLS/)
    const echo = await netdicom(["echo", "127.0.0.1", String(scp.port), "--aec", "TLS-SCP", "--tls-ca", c.ca])
    assert.strictEqual(echo.code, 0, echo.stderr)
    assert.match(echo.stdout, /C-ECHO TLS-SCP@127\.0\.0\.1:\d+: Success \(0x0000\)/)
    const dir = temp("files")
    writeFile(dir, "a.dcm", instance(1))
    writeFile(dir, "b.dcm", instance(2))
    const store = await netdicom(["store", "127.0.0.1", String(scp.port), dir, "--aec", "TLS-SCP", "--tls-ca", c.ca])
    assert.strictEqual(store.code, 0, store.stdout + store.stderr)
    assert.match(store.stdout, /2 sent, 0 warnings, 0 failed/)
    assert.deepStrictEqual(filesUnder(out), [`${STUDY}/${STUDY}.1.1.dcm`, `${STUDY}/${STUDY}.1.2.dcm`])
  })

  it("refusals are one line and exit 1: another CA, plain TCP to TLS; --tls-no-verify connects anyway", async () => {
    const other = await netdicom(["echo", "127.0.0.1", String(scp.port), "--aec", "TLS-SCP", "--tls-ca", c.otherCa])
    assert.strictEqual(other.code, 1)
    assert.match(other.stderr, /cannot connect to 127\.0\.0\.1:\d+: the server's certificate is refused/)
    // the system's CAs do not know the test CA either
    const system = await netdicom(["echo", "127.0.0.1", String(scp.port), "--aec", "TLS-SCP", "--tls"])
    assert.strictEqual(system.code, 1)
    const plain = await netdicom(["echo", "127.0.0.1", String(scp.port), "--aec", "TLS-SCP"])
    assert.strictEqual(plain.code, 1)
    assert.match(plain.stderr, /association aborted/)
    const unverified = await netdicom(["echo", "127.0.0.1", String(scp.port), "--aec", "TLS-SCP", "--tls-no-verify"])
    assert.strictEqual(unverified.code, 0, unverified.stderr)
    // the server logged each refused handshake and serves on
    assert.match(scp.output(), /WARN TLS handshake with .* failed: wrong version number \(does the peer speak TLS\?\)/)
    const again = await netdicom(["echo", "127.0.0.1", String(scp.port), "--aec", "TLS-SCP", "--tls-ca", c.ca])
    assert.strictEqual(again.code, 0, again.stderr)
  })

  it("--tls-require-peer-cert: a client without --tls-key/--tls-cert is refused, one with them served", async () => {
    const port = String(mutual.port)
    const without = await netdicom(["echo", "127.0.0.1", port, "--aec", "MTLS-SCP", "--tls-ca", c.ca])
    assert.strictEqual(without.code, 1)
    assert.match(without.stderr, /certificate required/)
    const client = ["--tls-key", c.client.key, "--tls-cert", c.client.cert, "--tls-ca", c.ca]
    const withCert = await netdicom(["echo", "127.0.0.1", port, "--aec", "MTLS-SCP", ...client])
    assert.strictEqual(withCert.code, 0, withCert.stderr)
  })

  it("flags that cannot work are refused before anything is sent", async () => {
    const keyOnly = await netdicom(["echo", "127.0.0.1", String(scp.port), "--tls-key", c.client.key])
    assert.strictEqual(keyOnly.code, 1)
    assert.match(keyOnly.stderr, /TLS: a private key and a certificate go together/)
    const missing = await netdicom(["echo", "127.0.0.1", String(scp.port), "--tls-ca", `${c.dir}/nothing.pem`])
    assert.strictEqual(missing.code, 1)
    assert.match(missing.stderr, /cannot read the CA file .*nothing\.pem/)
    const requireOnly = await netdicom(["storescp", "0", "--out", temp("refused"), "--tls-require-peer-cert"])
    assert.strictEqual(requireOnly.code, 1)
    assert.match(requireOnly.stderr, /need --tls-key and --tls-cert/)
    const noCa = await netdicom(["storescp", "0", "--out", temp("refused2"), ...serverFlags, "--tls-require-peer-cert"])
    assert.strictEqual(noCa.code, 1)
    assert.match(noCa.stderr, /--tls-require-peer-cert needs --tls-ca/)
  })

  it("--tls-crl: a revoked certificate is refused, either way; a file without a PEM CRL, before anything is sent", async () => {
    const revokedFlags = ["--tls-key", c.revoked.key, "--tls-cert", c.revoked.cert]
    const revokedScp = await serve(["storescp", "0", "--out", temp("revoked"), "--aet", "REVOKED", ...revokedFlags])
    const port = String(revokedScp.port)
    const trusting = await netdicom(["echo", "127.0.0.1", port, "--aec", "REVOKED", "--tls-ca", c.ca])
    assert.strictEqual(trusting.code, 0, trusting.stderr)
    const checking = await netdicom([
      "echo",
      "127.0.0.1",
      port,
      "--aec",
      "REVOKED",
      "--tls-ca",
      c.ca,
      "--tls-crl",
      c.crl
    ])
    assert.strictEqual(checking.code, 1)
    assert.strictEqual(lines(checking.stderr).length, 1, checking.stderr)
    assert.match(checking.stderr, /cannot connect to 127\.0\.0\.1:\d+: .*revoked/)
    // a server given the CRL refuses the revoked client certificate and serves another
    const crlScp = await serve([
      "storescp",
      "0",
      "--out",
      temp("crl-scp"),
      "--aet",
      "CRL-SCP",
      ...serverFlags,
      "--tls-ca",
      c.ca,
      "--tls-crl",
      c.crl
    ])
    const asRevoked = ["--tls-ca", c.ca, ...revokedFlags]
    const refused = await netdicom(["echo", "127.0.0.1", String(crlScp.port), "--aec", "CRL-SCP", ...asRevoked])
    assert.strictEqual(refused.code, 1)
    assert.match(crlScp.output(), /the client's certificate is refused: CERT_REVOKED/)
    const client = ["--tls-ca", c.ca, "--tls-key", c.client.key, "--tls-cert", c.client.cert]
    const served = await netdicom(["echo", "127.0.0.1", String(crlScp.port), "--aec", "CRL-SCP", ...client])
    assert.strictEqual(served.code, 0, served.stderr)
    // a CRL file that is not one: named, before any connection
    const notCrl = await netdicom(["echo", "127.0.0.1", port, "--tls-ca", c.ca, "--tls-crl", c.ca])
    assert.strictEqual(notCrl.code, 1)
    assert.match(notCrl.stderr, /the CRL file .*netdicom-test-ca\.pem holds no PEM certificate revocation list/)
    const noCa = await netdicom(["storescp", "0", "--out", temp("refused3"), ...serverFlags, "--tls-crl", c.crl])
    assert.strictEqual(noCa.code, 1)
    assert.match(noCa.stderr, /--tls-crl needs --tls-ca/)
  })

  it("--tls-key-password-file: a server with an encrypted key serves; without the passphrase, one line naming the key", async () => {
    const encrypted = ["--tls-key", c.encryptedServerKey, "--tls-cert", c.server.cert]
    const locked = await serve([
      "storescp",
      "0",
      "--out",
      temp("encrypted"),
      "--aet",
      "LOCKED",
      ...encrypted,
      "--tls-key-password-file",
      c.passphrase
    ])
    const echo = await netdicom(["echo", "127.0.0.1", String(locked.port), "--aec", "LOCKED", "--tls-ca", c.ca])
    assert.strictEqual(echo.code, 0, echo.stderr)
    const without = await netdicom(["storescp", "0", "--out", temp("encrypted2"), ...encrypted])
    assert.strictEqual(without.code, 1)
    assert.strictEqual(lines(without.stderr).length, 1, without.stderr)
    assert.match(without.stderr, /the private key .*netdicom-server-encrypted\.key is encrypted: give its passphrase/)
    // a client presenting a certificate whose key is encrypted
    const asClient = await netdicom([
      "echo",
      "127.0.0.1",
      String(locked.port),
      "--aec",
      "LOCKED",
      "--tls-ca",
      c.ca,
      ...encrypted,
      "--tls-key-password-file",
      c.passphrase
    ])
    assert.strictEqual(asClient.code, 0, asClient.stderr)
  })

  it("--tls-ciphers: bcp195 connects; a list OpenSSL cannot use is one line before anything is sent", async () => {
    const port = String(scp.port)
    const bcp = await netdicom([
      "echo",
      "127.0.0.1",
      port,
      "--aec",
      "TLS-SCP",
      "--tls-ca",
      c.ca,
      "--tls-ciphers",
      "bcp195"
    ])
    assert.strictEqual(bcp.code, 0, bcp.stderr)
    const bad = await netdicom(["echo", "127.0.0.1", port, "--tls-ca", c.ca, "--tls-ciphers", "NO-SUCH-CIPHER"])
    assert.strictEqual(bad.code, 1)
    assert.strictEqual(lines(bad.stderr).length, 1, bad.stderr)
    assert.match(bad.stderr, /the cipher suites "NO-SUCH-CIPHER" cannot be used/)
    const server = await netdicom(["storescp", "0", "--out", temp("bad-ciphers"), ...serverFlags, "--tls-ciphers", "X"])
    assert.strictEqual(server.code, 1)
    assert.match(server.stderr, /the cipher suites "X" cannot be used/)
  })

  it("--help says what each TLS flag does", async () => {
    const echo = await netdicom(["echo", "--help"])
    for (const flag of ["--tls-key", "--tls-cert", "--tls-ca", "--tls-crl", "--tls-no-verify", "--tls-server-name"]) {
      assert.include(echo.stdout, flag)
    }
    assert.match(echo.stdout, /INSECURE/)
    const storescp = await netdicom(["storescp", "--help"])
    assert.include(storescp.stdout, "--tls-require-peer-cert")
  })

  it("netdicom commit over TLS: qrscp over TLS commits what it holds (the --tls-* flags were left unused)", async () => {
    const qr = await serve([
      "qrscp",
      "0",
      "--store",
      temp("commit"),
      "--db",
      ":memory:",
      "--aet",
      "TLS-QR",
      ...serverFlags
    ])
    const client = ["--tls-ca", c.ca]
    const dir = temp("commitfiles")
    writeFile(dir, "a.dcm", instance(5))
    const stored = await netdicom(["store", "127.0.0.1", String(qr.port), dir, "--aec", "TLS-QR", ...client])
    assert.strictEqual(stored.code, 0, stored.stdout + stored.stderr)
    const committed = await netdicom(["commit", "127.0.0.1", String(qr.port), dir, "--aec", "TLS-QR", ...client])
    assert.strictEqual(committed.code, 0, committed.stdout + committed.stderr)
    assert.strictEqual(lines(committed.stdout).at(-1), "1 committed, 0 failed")
  })

  it("qrscp over TLS moves to a TLS destination that requires its certificate", async () => {
    const store = temp("archive")
    const qr = await serve([
      "qrscp",
      "0",
      "--store",
      store,
      "--db",
      ":memory:",
      "--aet",
      "TLS-QR",
      ...serverFlags,
      "--tls-ca",
      c.ca,
      "--peer",
      `MTLS-SCP=127.0.0.1:${mutual.port}`
    ])
    const client = ["--tls-ca", c.ca]
    const dir = temp("qrfiles")
    writeFile(dir, "a.dcm", instance(3))
    const stored = await netdicom(["store", "127.0.0.1", String(qr.port), dir, "--aec", "TLS-QR", ...client])
    assert.strictEqual(stored.code, 0, stored.stdout + stored.stderr)
    const moved = await netdicom([
      "move",
      "127.0.0.1",
      String(qr.port),
      "--aec",
      "TLS-QR",
      "--dest",
      "MTLS-SCP",
      "-k",
      `StudyInstanceUID=${STUDY}`,
      ...client
    ])
    assert.strictEqual(moved.code, 0, moved.stdout + moved.stderr)
    assert.match(moved.stdout, /1 completed/)
  })

  it("move --listen --listen-tls takes a TLS qrscp's sub-operations over TLS; without it they fail", async () => {
    const port = await freePort()
    const qr = await serve([
      "qrscp",
      "0",
      "--store",
      temp("archive-listen"),
      "--db",
      ":memory:",
      "--aet",
      "TLS-QR2",
      ...serverFlags,
      "--tls-ca",
      c.ca,
      "--peer",
      `MOVER=127.0.0.1:${port}`
    ])
    const dir = temp("qrfiles-listen")
    writeFile(dir, "a.dcm", instance(4))
    const trust = ["--tls-ca", c.ca]
    const stored = await netdicom(["store", "127.0.0.1", String(qr.port), dir, "--aec", "TLS-QR2", ...trust])
    assert.strictEqual(stored.code, 0, stored.stdout + stored.stderr)
    const move = (out: string, extra: ReadonlyArray<string>) =>
      netdicom([
        "move",
        "127.0.0.1",
        String(qr.port),
        "--aec",
        "TLS-QR2",
        "--aet",
        "MOVER",
        "--listen",
        String(port),
        "--out",
        out,
        "-k",
        `StudyInstanceUID=${STUDY}`,
        ...trust,
        ...extra
      ])
    // our listener presents the client certificate pair (serverAuth too) and asks qrscp for its own
    const out = temp("moved-tls")
    const overTls = await move(out, ["--tls-key", c.server.key, "--tls-cert", c.server.cert, "--listen-tls"])
    assert.strictEqual(overTls.code, 0, overTls.stdout + overTls.stderr)
    assert.include(overTls.stderr, `listening on 127.0.0.1:${port} as MOVER over TLS`)
    assert.deepStrictEqual(filesUnder(out), [`${STUDY}.1.4.dcm`])
    // a plain listener: qrscp's TLS handshake fails, the sub-operation with it
    const plain = await move(temp("moved-plain"), [])
    assert.strictEqual(plain.code, 1, plain.stdout + plain.stderr)
    assert.match(plain.stdout, /0 completed, 0 warnings, 1 failed/)
    const noKey = await move(temp("moved-nokey"), ["--listen-tls"])
    assert.strictEqual(noKey.code, 1)
    assert.match(noKey.stderr, /--listen-tls needs --tls-key and --tls-cert/)
    const commitNoListen = await netdicom(["commit", "127.0.0.1", String(qr.port), dir, ...trust, "--listen-tls"])
    assert.strictEqual(commitNoListen.code, 1)
    assert.match(commitNoListen.stderr, /--listen-tls is for --listen PORT/)
  })
})

describe.skipIf(!openssl || !dcmtkTls)("DCMTK over TLS with netdicom", () => {
  const c = certs!
  const dcmtkClient = ["+tls", c.client.key, c.client.cert, "+cf", c.ca]

  it("DCMTK storescp +tls (peer certificate required) receives from netdicom store; without our certificate it refuses", async () => {
    const out = temp("dcmtk-storescp")
    const scp = await startStorescp({ outDir: out, extraArgs: ["+tls", c.server.key, c.server.cert, "+cf", c.ca] })
    try {
      const dir = temp("dcmtk-files")
      writeFile(dir, "a.dcm", instance(4))
      const port = String(scp.port)
      const client = ["--tls-key", c.client.key, "--tls-cert", c.client.cert, "--tls-ca", c.ca]
      const sent = await netdicom(["store", "127.0.0.1", port, dir, "--aec", "STORESCP", ...client])
      assert.strictEqual(sent.code, 0, sent.stdout + sent.stderr + scp.logs())
      assert.strictEqual(scp.files().length, 1)
      assert.include(fs.readdirSync(out).join(), `${STUDY}.1.4`)
      const anonymous = await netdicom(["echo", "127.0.0.1", port, "--aec", "STORESCP", "--tls-ca", c.ca])
      assert.strictEqual(anonymous.code, 1, anonymous.stdout)
    } finally {
      await scp.stop()
    }
  })

  it("DCMTK echoscu +tls and storescu +tls send to netdicom storescp --tls-require-peer-cert", async () => {
    const out = temp("from-dcmtk")
    const scp = await serve([
      "storescp",
      "0",
      "--out",
      out,
      "--aet",
      "TLS-SCP",
      "--tls-key",
      c.server.key,
      "--tls-cert",
      c.server.cert,
      "--tls-ca",
      c.ca,
      "--tls-require-peer-cert"
    ])
    const port = String(scp.port)
    const echo = await run("echoscu", ["-aec", "TLS-SCP", ...dcmtkClient, "127.0.0.1", port])
    assert.strictEqual(echo.code, 0, echo.stdout + echo.stderr)
    const file = writeFile(temp("dcmtk-send"), "a.dcm", instance(5))
    const store = await run("storescu", ["-aec", "TLS-SCP", ...dcmtkClient, "127.0.0.1", port, file])
    assert.strictEqual(store.code, 0, store.stdout + store.stderr)
    assert.deepStrictEqual(filesUnder(out), [`${STUDY}/${STUDY}.1.5.dcm`])
    // echoscu trusting another CA gives up on our certificate; one presenting a certificate we do not trust is refused
    const distrust = await run("echoscu", [
      "-aec",
      "TLS-SCP",
      "+tls",
      c.client.key,
      c.client.cert,
      "+cf",
      c.otherCa,
      "127.0.0.1",
      port
    ])
    assert.notStrictEqual(distrust.code, 0)
    const stranger = await run("echoscu", [
      "-aec",
      "TLS-SCP",
      "+tls",
      c.otherServer.key,
      c.otherServer.cert,
      "+cf",
      c.ca,
      "127.0.0.1",
      port
    ])
    assert.notStrictEqual(stranger.code, 0)
    assert.match(scp.output(), /the client's certificate is refused: UNABLE_TO_VERIFY_LEAF_SIGNATURE/)
    // and serves on
    assert.strictEqual((await run("echoscu", ["-aec", "TLS-SCP", ...dcmtkClient, "127.0.0.1", port])).code, 0)
    assert.strictEqual(lines(scp.output()).filter((l) => l.includes("association accepted from ECHOSCU")).length, 2)
  })
})
