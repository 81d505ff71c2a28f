/**
 * A C-MOVE of one study to another AE the peer knows:
 * `npx -y pnpm@10 exec node examples/move.ts HOST PORT CALLED_AE DESTINATION_AE STUDY_INSTANCE_UID`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Stream } from "effect"
import { QueryRetrieve, Scu } from "@netdicom/net"
import { arg, makeAe } from "./common.ts"

const program = Effect.scoped(
  Effect.gen(function* () {
    const channel = yield* Scu.connect(makeAe("MOVE-EXAMPLE"), {
      host: arg(0, "127.0.0.1"),
      port: Number(arg(1, "11112")),
      calledAeTitle: arg(2, "ANY-SCP"),
      contexts: [{ abstractSyntax: QueryRetrieve.SOP_CLASSES.study.move, transferSyntaxes: ["1.2.840.10008.1.2"] }]
    })
    const progress = Scu.move(channel, {
      model: "study",
      destination: arg(3, "STORESCP"),
      identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: arg(4, "") }
    })
    yield* Stream.runForEach(progress, (p) =>
      Console.log(
        `0x${p.status.toString(16).padStart(4, "0")} ${p.category}: remaining ${p.remaining ?? "-"}, completed ${p.completed ?? "-"}, failed ${p.failed ?? "-"}`
      )
    )
  })
)

NodeRuntime.runMain(program)
