/**
 * Sends a DICOM file (a CT, say) with C-STORE: `npx -y pnpm@10 exec node examples/store-file.ts HOST PORT CALLED_AE FILE`.
 * The file is streamed from disk in its own transfer syntax, its data set never decoded.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { Scu } from "@netdicom/net"
import { arg, makeAe } from "./common.ts"

const program = Effect.scoped(
  Effect.gen(function* () {
    const file = arg(3, "../shared/corpus/CT_small.dcm")
    const meta = yield* Scu.describeFile(file)
    const channel = yield* Scu.connect(makeAe("STORE-EXAMPLE"), {
      host: arg(0, "127.0.0.1"),
      port: Number(arg(1, "11112")),
      calledAeTitle: arg(2, "ANY-SCP"),
      contexts: [{ abstractSyntax: meta.sopClassUid, transferSyntaxes: [meta.transferSyntaxUid] }]
    })
    const r = yield* Scu.storeFile(channel, file)
    yield* Console.log(`C-STORE ${r.sopInstanceUid}: status 0x${r.status.toString(16).padStart(4, "0")} (${r.meaning})`)
  })
)

NodeRuntime.runMain(program.pipe(Effect.tapError((e) => Console.error(e.message))), { disableErrorReporting: true })
