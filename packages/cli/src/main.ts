/**
 * The entry point of the `netdicom` command (see `bin/netdicom.js`): runs `Cli.main` on the process arguments
 * with Node's platform services; the exit code comes from the failure, 130 after Ctrl-C.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Effect from "effect/Effect"
import * as Cli from "./Cli.ts"

Cli.main(process.argv.slice(2)).pipe(
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
