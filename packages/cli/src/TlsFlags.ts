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

/** The flags every client subcommand takes for TLS. */
export const clientFlags = {
  tls: Flag.Boolean("tls").pipe(
    Flag.withDescription("connect over TLS, trusting the system's CAs; implied by any other --tls-* flag"),
    Flag.withDefault(false)
  ),
  tlsKey,
  tlsCert,
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
  )
}

/** The flags every server subcommand takes for TLS. */
export const serverFlags = {
  tlsKey,
  tlsCert,
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
  )
}

/** The values of the client TLS flags. */
export interface ClientFlags {
  readonly tls: boolean
  readonly tlsKey: Option.Option<string>
  readonly tlsCert: Option.Option<string>
  readonly tlsCa: ReadonlyArray<string>
  readonly tlsServerName: Option.Option<string>
  readonly tlsNoVerify: boolean
}

/** The values of the server TLS flags. */
export interface ServerFlags {
  readonly tlsKey: Option.Option<string>
  readonly tlsCert: Option.Option<string>
  readonly tlsCa: ReadonlyArray<string>
  readonly tlsRequirePeerCert: boolean
}

const files = (flags: {
  readonly tlsKey: Option.Option<string>
  readonly tlsCert: Option.Option<string>
  readonly tlsCa: ReadonlyArray<string>
}) =>
  Tls.load({
    key: Option.getOrUndefined(flags.tlsKey),
    cert: Option.getOrUndefined(flags.tlsCert),
    ca: flags.tlsCa
  })

/** A client's TLS settings, read from the files; `undefined` when no TLS flag was given (plain TCP). */
export const clientTls = (flags: ClientFlags): Effect.Effect<Tls.ClientOptions | undefined, Tls.TlsConfigError> => {
  const wanted =
    flags.tls ||
    flags.tlsNoVerify ||
    Option.isSome(flags.tlsKey) ||
    Option.isSome(flags.tlsCert) ||
    flags.tlsCa.length > 0 ||
    Option.isSome(flags.tlsServerName)
  if (!wanted) return Effect.succeed(undefined)
  return Effect.map(files(flags), (loaded) => ({
    key: loaded.key,
    cert: loaded.cert,
    ca: loaded.ca,
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
      if (flags.tlsCa.length > 0 || flags.tlsRequirePeerCert) {
        return yield* new Tls.TlsConfigError({
          detail: "--tls-ca and --tls-require-peer-cert need --tls-key and --tls-cert (the server's own)"
        })
      }
      return undefined
    }
    const loaded = yield* files(flags)
    if (flags.tlsRequirePeerCert && loaded.ca === undefined) {
      return yield* new Tls.TlsConfigError({
        detail: "--tls-require-peer-cert needs --tls-ca (the CAs of the clients)"
      })
    }
    const { key, cert } = loaded
    // `load` refuses a key without a certificate, or the reverse
    if (key === undefined || cert === undefined) return undefined
    return {
      server: { key, cert, ca: loaded.ca, requirePeerCertificate: flags.tlsRequirePeerCert },
      client: { key, cert, ca: loaded.ca }
    }
  })
