/**
 * An association the SCP rejects (a called AE title it does not answer) is logged at Info with the calling AE title
 * and the reason, as an accepted one is (one accepting no proposed context is accepted, "0 context(s)"): before, it was logged at Debug only, and an
 * integrator whose modality was turned away found nothing in the server's log.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import { VERIFICATION } from "../src/services/QueryRetrieve.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { CT, testAe } from "./support.ts"

describe("a rejected association", () => {
  it.live("is logged at Info with the calling AE title and why", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const capture = Logger.make(({ logLevel, message }) => {
        if (logLevel === "Info") lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
      })
      const contexts = [{ abstractSyntax: VERIFICATION, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]
      const server = yield* Scp.serve(yield* testAe({ aeTitle: "ARCHIVE", contexts }), { port: 0 }).pipe(
        Effect.provide(Logger.layer([capture]))
      )
      const modality = yield* testAe({ aeTitle: "MODALITY" })
      const attempt = (calledAeTitle: string, abstractSyntax: string) =>
        Effect.scoped(
          Scu.connect(modality, {
            host: "127.0.0.1",
            port: server.port,
            calledAeTitle,
            contexts: [{ abstractSyntax, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]
          })
        ).pipe(Effect.flip)
      assert.strictEqual((yield* attempt("WRONG", VERIFICATION))._tag, "AssociationRejected")
      assert.strictEqual((yield* attempt("ARCHIVE", CT))._tag, "NoAcceptableContext")
      // the server logs once its rejection is sent; the peer has it by then
      for (let i = 0; i < 100 && lines.filter((l) => l.includes("MODALITY")).length < 2; i++) {
        yield* Effect.sleep("20 millis")
      }
      assert.deepStrictEqual(
        lines.filter((l) => l.includes("MODALITY")),
        [
          'association from MODALITY rejected: called AE title "WRONG" not recognised',
          "association accepted from MODALITY: 0 context(s)"
        ]
      )
    }).pipe(Effect.scoped)
  )
})
