/**
 * A CA file holding no PEM certificate (DER, a private key, any other file) is refused as it is read. Node takes such
 * a `ca` without a word, as an empty list: a client then refused every server ("unable to get local issuer
 * certificate", naming no file) and a server with `--tls-ca` started, refusing every client certificate.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Tls } from "@netdicom/net"
import { hasOpenssl, makeCertificates, type Certificates } from "../support/certs.ts"
import { removeDir } from "../support/peers.ts"

const certs: Certificates | undefined = hasOpenssl() ? makeCertificates() : undefined
afterAll(() => {
  if (certs !== undefined) removeDir(certs.dir)
})

describe.skipIf(certs === undefined)("a CA file without a PEM certificate", () => {
  it.effect("text, DER or a private key as the CA file: TlsConfigError naming the file", () =>
    Effect.gen(function* () {
      const c = certs!
      const text = Path.join(c.dir, "not-pem.txt")
      Fs.writeFileSync(text, "not a certificate\n")
      const der = Path.join(c.dir, "ca.der")
      // the CA certificate's DER bytes, from its PEM body
      const body = Fs.readFileSync(c.ca, "latin1").replace(/-----[^-]+-----/g, "")
      Fs.writeFileSync(der, Buffer.from(body, "base64"))
      for (const file of [text, der, c.client.key]) {
        const failed = yield* Effect.flip(Tls.load({ ca: [c.ca, file] }))
        assert.strictEqual(failed._tag, "TlsConfigError")
        assert.include(failed.message, file)
        assert.match(failed.message, /no PEM certificate/)
      }
      // a bundle of PEM certificates is taken
      const bundle = Path.join(c.dir, "bundle.pem")
      Fs.writeFileSync(bundle, Fs.readFileSync(c.ca, "latin1") + Fs.readFileSync(c.otherCa, "latin1"))
      const loaded = yield* Tls.load({ ca: [bundle] })
      assert.strictEqual(loaded.ca?.length, 1)
    })
  )
})
