/**
 * A C-FIND at study level, printing each match as it arrives:
 * `npx -y pnpm@10 exec node examples/find.ts HOST PORT CALLED_AE [PatientName]`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Stream } from "effect"
import { QueryRetrieve, Scu } from "@netdicom/net"
import { arg, makeAe } from "./common.ts"

const program = Effect.scoped(
  Effect.gen(function* () {
    const channel = yield* Scu.connect(makeAe("FIND-EXAMPLE"), {
      host: arg(0, "127.0.0.1"),
      port: Number(arg(1, "11112")),
      calledAeTitle: arg(2, "ANY-SCP"),
      contexts: [{ abstractSyntax: QueryRetrieve.SOP_CLASSES.study.find, transferSyntaxes: ["1.2.840.10008.1.2"] }]
    })
    const matches = Scu.find(channel, {
      model: "study",
      identifier: { QueryRetrieveLevel: "STUDY", PatientName: arg(3, "*"), StudyInstanceUID: "", StudyDate: "" }
    })
    yield* Stream.runForEach(matches, (m) =>
      m.identifier
        ? Console.log(`match: ${JSON.stringify(m.identifier)}`)
        : Console.log(`final: 0x${m.status.toString(16).padStart(4, "0")} (${m.category})`)
    )
  })
)

NodeRuntime.runMain(program)
