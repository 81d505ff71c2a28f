/**
 * Certificates for the TLS tests, made at test time with the `openssl` command in a temporary folder: a CA, a server
 * certificate for 127.0.0.1 (IP subject alternative name), a client certificate, a server certificate from another
 * CA, an expired server certificate from the first CA, a certificate without the IP name, a revoked certificate
 * with the first CA's revocation list, and the server's key encrypted with a passphrase. RSA 2048 keys, so that
 * DCMTK's default TLS profile (BCP 195) takes them. `hasOpenssl()` says whether the tests can run at all.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { makeTempDir, which } from "./peers.ts"

/** A private key and its certificate, as file paths. */
export interface KeyPair {
  readonly key: string
  readonly cert: string
}

/** The files `makeCertificates` wrote. */
export interface Certificates {
  readonly dir: string
  /** The CA's certificate (the trust anchor of the tests). */
  readonly ca: string
  /** CN=netdicom-server, SAN IP:127.0.0.1 and DNS:localhost, signed by `ca`; for server and client use. */
  readonly server: KeyPair
  /** CN=netdicom-client, signed by `ca`. */
  readonly client: KeyPair
  /** Another CA's certificate. */
  readonly otherCa: string
  /** CN=other-server, SAN IP:127.0.0.1, signed by `otherCa`. */
  readonly otherServer: KeyPair
  /** CN=expired-server, SAN IP:127.0.0.1, signed by `ca`, valid in January 2020 only. */
  readonly expired: KeyPair
  /** CN=unnamed-server, signed by `ca`, without any subject alternative name. */
  readonly unnamed: KeyPair
  /** CN=revoked-peer, SAN IP:127.0.0.1 and DNS:localhost, signed by `ca`, then revoked: listed in `crl`. */
  readonly revoked: KeyPair
  /** `ca`'s certificate revocation list (PEM), listing `revoked` only. */
  readonly crl: string
  /** `server`'s key encrypted (AES-256, PKCS#8 PEM) with the passphrase on the first line of `passphrase`. */
  readonly encryptedServerKey: string
  /** A file holding the passphrase of `encryptedServerKey`, then a line end. */
  readonly passphrase: string
}

/** Whether the `openssl` command is there. */
export const hasOpenssl = (): boolean => which("openssl") !== undefined

const openssl = (dir: string, args: ReadonlyArray<string>): void => {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] })
}

const CA_CONFIG = `[ ca ]
default_ca = test
[ test ]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
[ any ]
commonName = supplied
`

/** Makes the certificates in a new temporary folder (the caller removes it). */
export const makeCertificates = (): Certificates => {
  const dir = makeTempDir("netdicom-tls-")
  const file = (name: string) => path.join(dir, name)
  const makeCa = (name: string) =>
    openssl(dir, [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign"
    ])
  makeCa("netdicom-test-ca")
  makeCa("other-test-ca")
  fs.writeFileSync(file("ca.cnf"), CA_CONFIG)
  fs.writeFileSync(file("index.txt"), "")
  fs.writeFileSync(file("serial"), "1000\n")
  const sign = (
    name: string,
    ca: string,
    san: string | undefined,
    dates: readonly [string, string] = ["20200101000000Z", "20991231000000Z"]
  ): KeyPair => {
    openssl(dir, [
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${name}`
    ])
    fs.writeFileSync(
      file(`${name}.ext`),
      [
        "basicConstraints=CA:FALSE",
        "keyUsage=digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth,clientAuth",
        ...(san === undefined ? [] : [`subjectAltName=${san}`])
      ].join("\n") + "\n"
    )
    openssl(dir, [
      "ca",
      "-batch",
      "-notext",
      "-config",
      "ca.cnf",
      "-cert",
      `${ca}.pem`,
      "-keyfile",
      `${ca}.key`,
      "-in",
      `${name}.csr`,
      "-out",
      `${name}.pem`,
      "-startdate",
      dates[0],
      "-enddate",
      dates[1],
      "-extfile",
      `${name}.ext`
    ])
    return { key: file(`${name}.key`), cert: file(`${name}.pem`) }
  }
  const local = "IP:127.0.0.1,DNS:localhost"
  const revoked = sign("revoked-peer", "netdicom-test-ca", local)
  const caFiles = ["-config", "ca.cnf", "-cert", "netdicom-test-ca.pem", "-keyfile", "netdicom-test-ca.key"]
  openssl(dir, ["ca", "-batch", ...caFiles, "-revoke", "revoked-peer.pem"])
  openssl(dir, ["ca", "-batch", ...caFiles, "-gencrl", "-crldays", "2", "-out", "netdicom-test-ca.crl"])
  const server = sign("netdicom-server", "netdicom-test-ca", local)
  fs.writeFileSync(file("passphrase.txt"), "netdicom test passphrase\n")
  openssl(dir, [
    "pkey",
    "-in",
    "netdicom-server.key",
    "-aes256",
    "-passout",
    "file:passphrase.txt",
    "-out",
    "netdicom-server-encrypted.key"
  ])
  return {
    dir,
    ca: file("netdicom-test-ca.pem"),
    server,
    client: sign("netdicom-client", "netdicom-test-ca", undefined),
    otherCa: file("other-test-ca.pem"),
    otherServer: sign("other-server", "other-test-ca", local),
    expired: sign("expired-server", "netdicom-test-ca", local, ["20200101000000Z", "20200102000000Z"]),
    unnamed: sign("unnamed-server", "netdicom-test-ca", undefined),
    revoked,
    crl: file("netdicom-test-ca.crl"),
    encryptedServerKey: file("netdicom-server-encrypted.key"),
    passphrase: file("passphrase.txt")
  }
}
