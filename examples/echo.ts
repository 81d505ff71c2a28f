/**
 * C-ECHO to a peer: `npx -y pnpm@10 exec node examples/echo.ts HOST PORT CALLED_AE`.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { Scu } from "@netdicom/net"
import { arg, makeAe, VERIFICATION } from "./common.ts"

const program = Effect.scoped(
  Effect.gen(function* () {
    const channel = yield* Scu.connect(makeAe("ECHO-EXAMPLE"), {
      host: arg(0, "127.0.0.1"),
      port: Number(arg(1, "11112")),
      calledAeTitle: arg(2, "ANY-SCP"),
      contexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: ["1.2.840.10008.1.2"] }]
    })
    const r = yield* Scu.echo(channel)
    yield* Console.log(`C-ECHO: status 0x${r.status.toString(16).padStart(4, "0")} (${r.category})`)
  })
)

NodeRuntime.runMain(program)
