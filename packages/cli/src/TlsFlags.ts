/**
 * The `--tls-*` flags of the `netdicom` subcommands (DICOM over TLS, PS3.15 Annex B; port 2762 by convention) and the
 * TLS settings they make: clients connect over TLS when any of them is given, servers listen over TLS when given a
 * key and a certificate. The files are PEM, as DCMTK's `+tls key cert +cf ca` takes them with `+pem-keys`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Flag } from "effect/cli"
import { Tls } from "@netdicom/net"

const tlsKey = Flag.String("tls-key").pipe(
  Flag.withDescription("TLS: our private key, a PEM file (with --tls-cert)"),
  Flag.optional
)
const tlsCert = Flag.String("tls-cert").pipe(
  Flag.withDescription("TLS: our certificate (chain), a PEM file (with --tls-key)"),
  Flag.optional
)
const tlsKeyPassword = Flag.String("tls-key-password-file").pipe(
  Flag.withDescription("TLS: a file whose first line is the passphrase of an encrypted --tls-key"),
  Flag.optional
)
const tlsCiphers = Flag.String("tls-ciphers").pipe(
  Flag.withDescription(
    "TLS: the cipher suites offered, OpenSSL's names separated by ':' (bcp195: RFC 7525's AES-GCM suites for " +
      "TLS 1.2); TLS 1.3 names set TLS 1.3's, a kind left out keeps Node's defaults"
  ),
  Flag.optional
)
const tlsCrl = (whose: string) =>
  Flag.String("tls-crl").pipe(
    Flag.withDescription(
      `TLS: a certificate revocation list (PEM): ${whose} it lists is refused; give one for each CA of the chain ` +
        "(OpenSSL then checks them all); repeat for more"
    ),
    Flag.atLeast(0)
  )

/** The flags every client subcommand takes for TLS. */
export const clientFlags = {
  tls: Flag.Boolean("tls").pipe(
    Flag.withDescription("connect over TLS, trusting the system's CAs; implied by any other --tls-* flag"),
    Flag.withDefault(false)
  ),
  tlsKey,
  tlsCert,
  tlsKeyPassword,
  tlsCiphers,
  tlsCa: Flag.String("tls-ca").pipe(
    Flag.withDescription(
      "TLS: a CA certificate (PEM, may be a bundle) the server's certificate must chain to, instead of the " +
        "system's; repeat for more"
    ),
    Flag.atLeast(0)
  ),
  tlsServerName: Flag.String("tls-server-name").pipe(
    Flag.withDescription("TLS: the name the server's certificate must carry (default: the host connected to)"),
    Flag.optional
  ),
  tlsNoVerify: Flag.Boolean("tls-no-verify").pipe(
    Flag.withDescription(
      "TLS: INSECURE, accept any server certificate, unchecked (encrypts, but anyone may pose as the server)"
    ),
    Flag.withDefault(false)
  ),
  tlsCrl: tlsCrl("a server certificate")
}

/** The flags every server subcommand takes for TLS. */
export const serverFlags = {
  tlsKey,
  tlsCert,
  tlsKeyPassword,
  tlsCiphers,
  tlsCa: Flag.String("tls-ca").pipe(
    Flag.withDescription(
      "TLS: a CA certificate (PEM, may be a bundle): clients are asked for a certificate, and one presented must " +
        "chain to these, as must the servers this one connects to (--peer: Storage Commitment reports, qrscp's " +
        "C-MOVE destinations); repeat for more"
    ),
    Flag.atLeast(0)
  ),
  tlsRequirePeerCert: Flag.Boolean("tls-require-peer-cert").pipe(
    Flag.withDescription("TLS: refuse a client that presents no certificate (needs --tls-ca)"),
    Flag.withDefault(false)
  ),
  tlsCrl: tlsCrl("a client certificate (needs --tls-ca), or a C-MOVE destination's,")
}

/** The values of the client TLS flags. */
export interface ClientFlags {
  readonly tls: boolean
  readonly tlsKey: Option.Option<string>
  readonly tlsCert: Option.Option<string>
  readonly tlsKeyPassword: Option.Option<string>
  readonly tlsCiphers: Option.Option<string>
  readonly tlsCa: ReadonlyArray<string>
  readonly tlsServerName: Option.Option<string>
  readonly tlsNoVerify: boolean
  readonly tlsCrl: ReadonlyArray<string>
}

/** The values of the server TLS flags. */
export interface ServerFlags {
  readonly tlsKey: Option.Option<string>
  readonly tlsCert: Option.Option<string>
  readonly tlsKeyPassword: Option.Option<string>
  readonly tlsCiphers: Option.Option<string>
  readonly tlsCa: ReadonlyArray<string>
  readonly tlsRequirePeerCert: boolean
  readonly tlsCrl: ReadonlyArray<string>
}

const files = (flags: {
  readonly tlsKey: Option.Option<string>
  readonly tlsCert: Option.Option<string>
  readonly tlsKeyPassword: Option.Option<string>
  readonly tlsCiphers: Option.Option<string>
  readonly tlsCa: ReadonlyArray<string>
  readonly tlsCrl: ReadonlyArray<string>
}) =>
  Tls.load({
    key: Option.getOrUndefined(flags.tlsKey),
    cert: Option.getOrUndefined(flags.tlsCert),
    passphrase: Option.getOrUndefined(flags.tlsKeyPassword),
    ca: flags.tlsCa,
    crl: flags.tlsCrl
  })

/** `--tls-ciphers`: `bcp195` named, anything else as OpenSSL takes it, checked now. */
const ciphersOf = (flags: { readonly tlsCiphers: Option.Option<string> }) => {
  if (Option.isNone(flags.tlsCiphers)) return Effect.succeed(undefined)
  const ciphers = flags.tlsCiphers.value === "bcp195" ? Tls.BCP195_CIPHERS : flags.tlsCiphers.value
  const refused = Tls.checkCiphers(ciphers)
  return refused === undefined ? Effect.succeed(ciphers) : Effect.fail(refused)
}

/** A client's TLS settings, read from the files; `undefined` when no TLS flag was given (plain TCP). */
export const clientTls = (flags: ClientFlags): Effect.Effect<Tls.ClientOptions | undefined, Tls.TlsConfigError> => {
  const wanted =
    flags.tls ||
    flags.tlsNoVerify ||
    Option.isSome(flags.tlsKey) ||
    Option.isSome(flags.tlsCert) ||
    Option.isSome(flags.tlsKeyPassword) ||
    Option.isSome(flags.tlsCiphers) ||
    flags.tlsCa.length > 0 ||
    flags.tlsCrl.length > 0 ||
    Option.isSome(flags.tlsServerName)
  if (!wanted) return Effect.succeed(undefined)
  return Effect.zipWith(files(flags), ciphersOf(flags), (loaded, ciphers) => ({
    ciphers,
    key: loaded.key,
    cert: loaded.cert,
    passphrase: loaded.passphrase,
    ca: loaded.ca,
    crl: loaded.crl,
    verifyPeer: !flags.tlsNoVerify,
    serverName: Option.getOrUndefined(flags.tlsServerName)
  }))
}

/**
 * A server's TLS settings, and what it connects to C-MOVE destinations with (its key and certificate, its CAs), read
 * from the files; `undefined` without `--tls-key`/`--tls-cert` (plain TCP), where the other TLS flags are refused.
 */
export const serverTls = (
  flags: ServerFlags
): Effect.Effect<
  { readonly server: Tls.ServerOptions; readonly client: Tls.ClientOptions } | undefined,
  Tls.TlsConfigError
> =>
  Effect.gen(function* () {
    if (Option.isNone(flags.tlsKey) && Option.isNone(flags.tlsCert)) {
      const others =
        flags.tlsCa.length > 0 ||
        flags.tlsCrl.length > 0 ||
        Option.isSome(flags.tlsKeyPassword) ||
        Option.isSome(flags.tlsCiphers)
      if (others || flags.tlsRequirePeerCert) {
        return yield* new Tls.TlsConfigError({
          detail:
            "--tls-ca, --tls-crl, --tls-ciphers, --tls-key-password-file and --tls-require-peer-cert need --tls-key " +
            "and --tls-cert (the server's own)"
        })
      }
      return undefined
    }
    const loaded = yield* files(flags)
    const ciphers = yield* ciphersOf(flags)
    if (flags.tlsRequirePeerCert && loaded.ca === undefined) {
      return yield* new Tls.TlsConfigError({
        detail: "--tls-require-peer-cert needs --tls-ca (the CAs of the clients)"
      })
    }
    if (loaded.crl !== undefined && loaded.ca === undefined) {
      return yield* new Tls.TlsConfigError({ detail: "--tls-crl needs --tls-ca (the CAs of the clients)" })
    }
    const { key, cert } = loaded
    // `load` refuses a key without a certificate, or the reverse
    if (key === undefined || cert === undefined) return undefined
    return {
      server: {
        key,
        cert,
        passphrase: loaded.passphrase,
        ciphers,
        ca: loaded.ca,
        crl: loaded.crl,
        requirePeerCertificate: flags.tlsRequirePeerCert
      },
      client: { key, cert, passphrase: loaded.passphrase, ciphers, ca: loaded.ca, crl: loaded.crl }
    }
  })

/** `--listen-tls` of the subcommands that listen for the peer's own associations (`move`, `commit`). */
export const listenTls = Flag.Boolean("listen-tls").pipe(
  Flag.withDescription(
    "serve --listen over TLS, with --tls-key and --tls-cert (and its passphrase, --tls-ciphers); with --tls-ca a " +
      "peer's certificate is asked for and must chain to them (and pass --tls-crl)"
  ),
  Flag.withDefault(false)
)

/**
 * The TLS settings of a client subcommand's listener (`--listen-tls`): our key and certificate as the server's, our
 * CAs and CRLs for the peer's certificate; `undefined` without the flag (plain TCP).
 */
export const listenerTls = (
  flags: ClientFlags & { readonly listenTls: boolean }
): Effect.Effect<Tls.ServerOptions | undefined, Tls.TlsConfigError> =>
  Effect.gen(function* () {
    if (!flags.listenTls) return undefined
    if (Option.isNone(flags.tlsKey) || Option.isNone(flags.tlsCert)) {
      return yield* new Tls.TlsConfigError({
        detail: "--listen-tls needs --tls-key and --tls-cert (the certificate the listener presents)"
      })
    }
    const loaded = yield* files(flags)
    const ciphers = yield* ciphersOf(flags)
    const { key, cert } = loaded
    if (key === undefined || cert === undefined) return undefined
    return { key, cert, passphrase: loaded.passphrase, ciphers, ca: loaded.ca, crl: loaded.crl }
  })
