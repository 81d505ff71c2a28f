/**
 * A C-FIND SCP's matches carry a requested private key's VR from the request: a `QueryService` answering the keys
 * asked for with values of its own (a private creator read from a stored header, say) gives no `_vrMap` for them, and
 * every such match was left out as not encodable ("1 match(es) could not be encoded", 0xC000), where the request's
 * identifier had said the key's VR all along. (In Implicit VR the request carries no VRs: a match must give its own
 * private keys' VRs in `_vrMap`, as `DataSet.encode`'s refusal then says.)
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import { EXPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import { SOP_CLASSES } from "../src/services/QueryRetrieve.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { testAe } from "./support.ts"

const findWith = (transferSyntax: string, match: Record<string, unknown>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const contexts = [{ abstractSyntax: SOP_CLASSES.study.find, transferSyntaxes: [transferSyntax] }]
      const find: Scp.QueryService["Service"]["find"] = () => Stream.make(match)
      const server = yield* Scp.serve(yield* testAe({ aeTitle: "QR", contexts }), { port: 0 }).pipe(
        Effect.provide(Layer.succeed(Scp.QueryService)({ find }))
      )
      const channel = yield* Scu.connect(yield* testAe({ aeTitle: "SCU" }), {
        host: "127.0.0.1",
        port: server.port,
        calledAeTitle: "QR",
        contexts
      })
      const identifier = {
        QueryRetrieveLevel: "STUDY",
        StudyInstanceUID: "",
        "00090010": "",
        _vrMap: { "00090010": "LO" }
      }
      return yield* Stream.runCollect(Scu.find(channel, { model: "study", identifier }))
    })
  )

describe("C-FIND matches and the request's private key VRs", () => {
  it.live("a match naming a requested private key without its VR is sent in the request's VR", () =>
    Effect.gen(function* () {
      const responses = yield* findWith(EXPLICIT_VR_LITTLE_ENDIAN, {
        QueryRetrieveLevel: "STUDY",
        StudyInstanceUID: "1.2.3",
        "00090010": "GEMS_IDEN_01"
      })
      assert.deepStrictEqual(
        responses.map((r) => r.status),
        [0xff00, 0x0000]
      )
      assert.strictEqual(responses[0]!.identifier?.["00090010"], "GEMS_IDEN_01")
      assert.deepStrictEqual(responses[0]!.identifier?.["_vrMap"], { "00090010": "LO" })
    })
  )

  it.live("a match's own _vrMap wins over the request's", () =>
    Effect.gen(function* () {
      const responses = yield* findWith(EXPLICIT_VR_LITTLE_ENDIAN, {
        QueryRetrieveLevel: "STUDY",
        StudyInstanceUID: "1.2.3",
        "00090010": "ABC",
        _vrMap: { "00090010": "SH" }
      })
      assert.strictEqual(responses[0]!.status, 0xff00)
      assert.deepStrictEqual(responses[0]!.identifier?.["_vrMap"], { "00090010": "SH" })
    })
  )
})
