/**
 * The entry point of the `netdicom` command (see `bin/netdicom.js`): runs `Cli.main` on the process arguments
 * with Node's platform services; the exit code comes from the failure, or from the signal that stopped the command
 * (130 after Ctrl-C, 143 after SIGTERM: `Signals` of `@netdicom/net`).
 *
 * @since 0.1.0
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Effect from "effect/Effect"
import { Signals } from "@netdicom/net"
import * as Cli from "./Cli.ts"

Signals.runMain(Cli.main(process.argv.slice(2)).pipe(Effect.provide(NodeServices.layer)))
