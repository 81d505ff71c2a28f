/**
 * A Verification SCP: `npx -y pnpm@10 exec node examples/verification-scp.ts PORT AE_TITLE` (port 0 picks one);
 * prints the port it listens on and answers C-ECHO until interrupted (Ctrl-C).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { Scp } from "@netdicom/net"
import { arg, makeAe, UNCOMPRESSED, VERIFICATION } from "./common.ts"

const ae = makeAe(arg(1, "VERIFY-SCP"), [{ abstractSyntax: VERIFICATION, transferSyntaxes: UNCOMPRESSED }])

const program = Effect.scoped(
  Effect.gen(function* () {
    const server = yield* Scp.serve(ae, { port: Number(arg(0, "0")) })
    yield* Console.log(`listening on 127.0.0.1:${server.port} as ${ae.aeTitle}`)
    return yield* Effect.never
  })
)

NodeRuntime.runMain(program)
