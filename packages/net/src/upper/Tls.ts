/**
 * TLS settings for the transport (PS3.15 Annex B.1, the Basic TLS Secure Transport Connection Profile, as DCMTK's
 * `+tls` and pynetdicom's `tls_args` offer it): what a client and a server present and trust, read from PEM files,
 * and what a completed handshake tells about the peer.
 *
 * A client checks the server's certificate against its CAs (the system's when none are given) and its name against
 * the host connected to (an IP address must be among the certificate's IP subject alternative names), unless told
 * not to. A server given CAs asks each client for a certificate and refuses one they do not vouch for; it refuses a
 * client without one only when `requirePeerCertificate` says so. TLS 1.2 is the least version spoken either way.
 *
 * Certificate revocation lists, given, are checked by OpenSSL for every certificate of a chain; a private key may be
 * encrypted, with its passphrase given beside it.
 *
 * The cipher suites are Node's defaults unless `ciphers` names others (`BCP195_CIPHERS`: RFC 7525's for TLS 1.2).
 *
 * Not covered: OCSP, and reloading certificates or lists while running.
 *
 * @since 0.1.0
 */
import type * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import type * as Tls from "node:tls"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"

/** PEM text or bytes, as `node:tls` takes them. */
export type Pem = string | Uint8Array

/** What a client presents and trusts. */
export interface ClientOptions {
  /** Our private key and certificate (chain), for a server that asks for one. */
  readonly key?: Pem | undefined
  readonly cert?: Pem | undefined
  /** The passphrase of an encrypted private key. */
  readonly passphrase?: string | undefined
  /**
   * The cipher suites offered, in OpenSSL's syntax (`node:tls`'s `ciphers`): TLS 1.2 names
   * (ECDHE-RSA-AES128-GCM-SHA256) set TLS 1.2's, TLS 1.3 names (TLS_AES_128_GCM_SHA256) TLS 1.3's; a kind left out
   * keeps Node's defaults.
   */
  readonly ciphers?: string | undefined
  /** The CAs the server's certificate must chain to; without them, the system's. */
  readonly ca?: ReadonlyArray<Pem> | undefined
  /** Check the server's certificate (default true); false accepts any certificate, and any name. */
  readonly verifyPeer?: boolean | undefined
  /** The name the server's certificate must carry (and the SNI sent); defaults to the host connected to. */
  readonly serverName?: string | undefined
  /** Check the certificate's name at all (default true); false still checks that it chains to the CAs. */
  readonly checkServerName?: boolean | undefined
  /**
   * Certificate revocation lists (PEM): a server certificate they list is refused. Given, OpenSSL checks every
   * certificate of the chain against a CRL of its issuer, so each CA's CRL must be among them.
   */
  readonly crl?: ReadonlyArray<Pem> | undefined
}

/** What a server presents and trusts. */
export interface ServerOptions {
  /** Our private key and certificate (chain). */
  readonly key: Pem
  readonly cert: Pem
  /** The passphrase of an encrypted private key. */
  readonly passphrase?: string | undefined
  /**
   * The cipher suites offered, in OpenSSL's syntax (`node:tls`'s `ciphers`): TLS 1.2 names
   * (ECDHE-RSA-AES128-GCM-SHA256) set TLS 1.2's, TLS 1.3 names (TLS_AES_128_GCM_SHA256) TLS 1.3's; a kind left out
   * keeps Node's defaults.
   */
  readonly ciphers?: string | undefined
  /** The CAs a client's certificate must chain to; given, each client is asked for a certificate. */
  readonly ca?: ReadonlyArray<Pem> | undefined
  /** Refuse a client that presents no certificate (needs `ca`). */
  readonly requirePeerCertificate?: boolean | undefined
  /**
   * Certificate revocation lists (PEM): a client certificate they list is refused (needs `ca`). Given, OpenSSL checks
   * every certificate of the chain against a CRL of its issuer, so each CA's CRL must be among them.
   */
  readonly crl?: ReadonlyArray<Pem> | undefined
}

/** What a completed handshake tells about the peer. */
export interface Session {
  /** "TLSv1.2" or "TLSv1.3". */
  readonly protocol: string
  readonly cipher: string
  /** The certificate the peer presented, checked against our CAs; undefined when it presented none. */
  readonly peerCertificate: PeerCertificate | undefined
}

/** The parts of a peer's certificate a policy decides on. */
export interface PeerCertificate {
  /** The subject's distinguished name, one `key=value` per line as OpenSSL prints it (e.g. "CN=modality-1"). */
  readonly subject: string
  /** The subject's Common Name, when it has one. */
  readonly commonName: string | undefined
  readonly issuer: string
  /** SHA-256 fingerprint, colon-separated hex. */
  readonly fingerprint256: string
  readonly validTo: string
}

/** TLS settings that cannot be used: a file unreadable, a key without a certificate... */
export class TlsConfigError extends Data.TaggedError("TlsConfigError")<{ readonly detail: string }> {
  override get message(): string {
    return `TLS: ${this.detail}`
  }
}

/**
 * The TLS 1.2 cipher suites RFC 7525 (BCP 195) recommends (its 4.2: AES-GCM with ECDHE or DHE), which PS3.15 Annex B's
 * BCP 195 profiles take, with their ECDSA forms, in OpenSSL's names, for `ciphers`; TLS 1.3's suites stay Node's.
 */
export const BCP195_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "DHE-RSA-AES128-GCM-SHA256",
  "DHE-RSA-AES256-GCM-SHA384"
].join(":")

/** A `ciphers` list OpenSSL cannot use (no suite it knows, a name misspelt) as a `TlsConfigError`, else `undefined`. */
export const checkCiphers = (ciphers: string): TlsConfigError | undefined => {
  tlsModule ??= process.getBuiltinModule("node:tls")
  try {
    tlsModule.createSecureContext({ ciphers, minVersion: MIN_VERSION })
    return undefined
  } catch (cause) {
    const why = openSslReason(cause) ?? (cause instanceof Error ? cause.message : String(cause))
    return new TlsConfigError({ detail: `the cipher suites "${ciphers}" cannot be used: ${why}` })
  }
}

/** The least TLS version spoken: PS3.15 B.1 allows 1.2 and 1.3 (BCP 195). */
export const MIN_VERSION = "TLSv1.2"

/**
 * Paths of the PEM files: key, certificate (chain), any number of CA files (each may be a bundle) and of certificate
 * revocation lists (each may hold several).
 */
export interface Files {
  readonly key?: string | undefined
  readonly cert?: string | undefined
  readonly ca?: ReadonlyArray<string> | undefined
  readonly crl?: ReadonlyArray<string> | undefined
  /** A file whose first line is the private key's passphrase (an encrypted key). */
  readonly passphrase?: string | undefined
}

/** The PEM contents of `Files`, read now. */
export interface Loaded {
  readonly key: Pem | undefined
  readonly cert: Pem | undefined
  readonly ca: ReadonlyArray<Pem> | undefined
  readonly crl: ReadonlyArray<Pem> | undefined
  readonly passphrase: string | undefined
}

const readPem = (what: string, path: string): Effect.Effect<Uint8Array, TlsConfigError> =>
  Effect.try({
    try: () => Fs.readFileSync(path),
    catch: (cause) =>
      new TlsConfigError({
        detail: `cannot read the ${what} ${path}: ${cause instanceof Error ? cause.message : cause}`
      })
  })

/**
 * Reads the files; a key without a certificate (or the reverse), a key that cannot be read with the passphrase given
 * (none for an encrypted key, a wrong one), a CA file without a PEM certificate, or a CRL file without a PEM CRL, is
 * refused.
 */
export const load = (files: Files): Effect.Effect<Loaded, TlsConfigError> =>
  Effect.gen(function* () {
    if ((files.key === undefined) !== (files.cert === undefined)) {
      return yield* new TlsConfigError({ detail: "a private key and a certificate go together: give both" })
    }
    if (files.passphrase !== undefined && files.key === undefined) {
      return yield* new TlsConfigError({ detail: "a passphrase is for a private key: give the key" })
    }
    const key = files.key === undefined ? undefined : yield* readPem("private key", files.key)
    const passphrase = files.passphrase === undefined ? undefined : yield* readPassphrase(files.passphrase)
    if (key !== undefined && files.key !== undefined) yield* checkKey(files.key, key, passphrase)
    const cert = files.cert === undefined ? undefined : yield* readPem("certificate", files.cert)
    const ca = files.ca === undefined || files.ca.length === 0 ? undefined : yield* Effect.forEach(files.ca, readCa)
    const crl =
      files.crl === undefined || files.crl.length === 0 ? undefined : yield* Effect.forEach(files.crl, readCrl)
    return { key, cert, ca, crl, passphrase }
  })

// `node:crypto`, loaded on first use (as `node:tls` is): a process speaking plain TCP never loads it.
let cryptoModule: typeof Crypto | undefined
const crypto = (): typeof Crypto => (cryptoModule ??= process.getBuiltinModule("node:crypto"))

// The passphrase file's first line, without its line end.
const readPassphrase = (path: string): Effect.Effect<string, TlsConfigError> =>
  Effect.map(readPem("passphrase file", path), (bytes) => new TextDecoder().decode(bytes).split(/\r?\n/)[0]!)

// The key read now, as OpenSSL will at the first handshake: an encrypted one without its passphrase, or with a wrong
// one, is named here (Node says "bad decrypt" later, naming no file).
const checkKey = (path: string, key: Uint8Array, passphrase: string | undefined): Effect.Effect<void, TlsConfigError> =>
  Effect.try({
    try: () =>
      void crypto().createPrivateKey({ key: Buffer.from(key), ...(passphrase === undefined ? {} : { passphrase }) }),
    catch: (cause) => {
      const encrypted = /ENCRYPTED/.test(new TextDecoder("latin1").decode(key.subarray(0, 4096)))
      const why = cause instanceof Error ? cause.message : String(cause)
      return new TlsConfigError({
        detail: encrypted
          ? passphrase === undefined
            ? `the private key ${path} is encrypted: give its passphrase`
            : `cannot decrypt the private key ${path} with the passphrase given (${why})`
          : `cannot read the private key ${path}: ${why}`
      })
    }
  })

// A PEM certificate's opening line, as OpenSSL reads a CA list ("TRUSTED" and "X509" are older spellings).
const PEM_CERTIFICATE = /-----BEGIN (?:TRUSTED |X509 )?CERTIFICATE-----/

// A CA file without any PEM certificate (DER, a key) is refused here: Node would take it as no CA at all, without a
// word, and every peer would then be refused for a reason that names no file.
const readCa = (path: string): Effect.Effect<Uint8Array, TlsConfigError> =>
  Effect.flatMap(readPem("CA file", path), (bytes) =>
    PEM_CERTIFICATE.test(new TextDecoder("latin1").decode(bytes))
      ? Effect.succeed(bytes)
      : Effect.fail(new TlsConfigError({ detail: `the CA file ${path} holds no PEM certificate` }))
  )

// A PEM CRL's opening line.
const PEM_CRL = /-----BEGIN X509 CRL-----/

// As for CA files: a CRL file Node could not read as PEM (DER, a certificate) is refused here, naming it, rather than
// failing every handshake later.
const readCrl = (path: string): Effect.Effect<Uint8Array, TlsConfigError> =>
  Effect.flatMap(readPem("CRL file", path), (bytes) =>
    PEM_CRL.test(new TextDecoder("latin1").decode(bytes))
      ? Effect.succeed(bytes)
      : Effect.fail(new TlsConfigError({ detail: `the CRL file ${path} holds no PEM certificate revocation list` }))
  )

const mutable = (ca: ReadonlyArray<Pem> | undefined): Array<Pem> | undefined => (ca === undefined ? undefined : [...ca])

/** The `node:tls` options of a client connecting to `host`. */
export const clientConnectionOptions = (host: string, options: ClientOptions): Tls.ConnectionOptions => {
  const verify = options.verifyPeer ?? true
  const name = options.serverName ?? host
  return {
    minVersion: MIN_VERSION,
    rejectUnauthorized: verify,
    ...(options.key === undefined ? {} : { key: options.key as string | Buffer }),
    ...(options.passphrase === undefined ? {} : { passphrase: options.passphrase }),
    ...(options.ciphers === undefined ? {} : { ciphers: options.ciphers }),
    ...(options.cert === undefined ? {} : { cert: options.cert as string | Buffer }),
    ...(options.ca === undefined ? {} : { ca: mutable(options.ca) as Array<string | Buffer> }),
    ...(options.crl === undefined ? {} : { crl: mutable(options.crl) as Array<string | Buffer> }),
    // SNI takes a host name only; an IP address is still checked against the certificate's IP SANs.
    ...(isIpAddress(name) ? {} : { servername: name }),
    ...(verify && (options.checkServerName ?? true)
      ? options.serverName === undefined
        ? {}
        : { checkServerIdentity: (_host: string, cert: Tls.PeerCertificate) => checkName(name, cert) }
      : { checkServerIdentity: () => undefined })
  }
}

// The certificate's name against the one asked for (Node's own check, given that name rather than the host).
let tlsModule: typeof Tls | undefined
const checkName = (name: string, cert: Tls.PeerCertificate): Error | undefined => {
  tlsModule ??= process.getBuiltinModule("node:tls")
  return tlsModule.checkServerIdentity(name, cert)
}

const isIpAddress = (name: string): boolean => /^[\d.]+$/.test(name) || name.includes(":")

/** The `node:tls` options of a server; `requirePeerCertificate` without CAs is refused. */
export const serverOptions = (options: ServerOptions): Tls.TlsOptions | TlsConfigError => {
  if (options.requirePeerCertificate === true && options.ca === undefined) {
    return new TlsConfigError({ detail: "requiring a client certificate needs the CAs that vouch for it" })
  }
  if (options.crl !== undefined && options.ca === undefined) {
    return new TlsConfigError({ detail: "revocation lists for client certificates need the CAs that vouch for them" })
  }
  const askPeer = options.ca !== undefined
  return {
    minVersion: MIN_VERSION,
    key: options.key as string | Buffer,
    ...(options.passphrase === undefined ? {} : { passphrase: options.passphrase }),
    ...(options.ciphers === undefined ? {} : { ciphers: options.ciphers }),
    cert: options.cert as string | Buffer,
    ...(askPeer ? { ca: mutable(options.ca) as Array<string | Buffer> } : {}),
    ...(options.crl === undefined ? {} : { crl: mutable(options.crl) as Array<string | Buffer> }),
    requestCert: askPeer,
    // Required, a certificate missing or not vouched for fails the handshake (the client is told with an alert);
    // otherwise one presented is checked once the handshake completed (`refusal`), so that a client may present none.
    rejectUnauthorized: options.requirePeerCertificate === true
  }
}

/**
 * Why a server refuses a client whose handshake completed, or `undefined`: a certificate its CAs do not vouch for,
 * or none when one is required.
 */
export const refusal = (socket: Tls.TLSSocket, options: ServerOptions): string | undefined => {
  if (options.ca === undefined) return undefined
  const presented = socket.getPeerCertificate()
  const none = presented === null || Object.keys(presented).length === 0
  if (none) return options.requirePeerCertificate === true ? "the client presented no certificate" : undefined
  if (socket.authorized) return undefined
  return `the client's certificate is refused: ${String(socket.authorizationError)}`
}

/**
 * OpenSSL's reason for `cause` (a failed handshake, an alert from the peer: "tlsv13 alert certificate required"),
 * rather than its error line naming source files; `undefined` for any other error.
 */
export const openSslReason = (cause: unknown): string | undefined => {
  if (!(cause instanceof Error)) return undefined
  const { code, reason } = cause as Error & { readonly code?: unknown; readonly reason?: unknown }
  if (typeof reason !== "string" || typeof code !== "string" || !code.startsWith("ERR_SSL_")) return undefined
  return code === "ERR_SSL_WRONG_VERSION_NUMBER" ? `${reason} (does the peer speak TLS?)` : reason
}

/** A client's failed connect in words: OpenSSL's reason for a failed handshake, or why a certificate was refused. */
export const describeFailure = (cause: unknown): string => {
  const reason = openSslReason(cause)
  if (reason !== undefined) return `TLS handshake failed: ${reason}`
  if (!(cause instanceof Error)) return String(cause)
  const { code } = cause as Error & { readonly code?: unknown }
  // certificate verification codes are OpenSSL's names (CERT_HAS_EXPIRED...); the host name check's is Node's
  if (typeof code === "string" && (!code.startsWith("E") || code.startsWith("ERR_TLS_CERT"))) {
    return `the server's certificate is refused: ${cause.message}`
  }
  return cause.message
}

/** What the handshake of `socket` agreed on, and the peer's certificate if it presented one. */
export const sessionOf = (socket: Tls.TLSSocket): Session => {
  const cert = socket.getPeerCertificate()
  const presented = cert !== null && Object.keys(cert).length > 0
  const cipher = socket.getCipher()
  return {
    protocol: socket.getProtocol() ?? "unknown",
    cipher: cipher?.name ?? "unknown",
    peerCertificate: presented
      ? {
          subject: distinguishedName(cert.subject),
          commonName: firstValue(cert.subject?.CN),
          issuer: distinguishedName(cert.issuer),
          fingerprint256: cert.fingerprint256,
          validTo: cert.valid_to
        }
      : undefined
  }
}

const firstValue = (value: string | ReadonlyArray<string> | undefined): string | undefined =>
  typeof value === "string" ? value : value?.[0]

// Node gives the name as an object of attribute to value (or values): one `key=value` per line, in its order.
const distinguishedName = (name: Tls.Certificate | undefined): string =>
  name === undefined
    ? ""
    : Object.entries(name as unknown as Record<string, string | ReadonlyArray<string>>)
        .flatMap(([key, value]) => (typeof value === "string" ? [`${key}=${value}`] : value.map((v) => `${key}=${v}`)))
        .join("\n")
