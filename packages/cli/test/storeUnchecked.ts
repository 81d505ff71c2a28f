/**
 * A C-STORE client that does not check the file it sends (as `Scu.storeFile` does): the data set goes as the file
 * holds it, truncated or not, so that a test can see what an SCP makes of it.
 * `node storeUnchecked.ts HOST PORT CALLED_AE FILE` prints `status 0x....` and exits 0 once answered.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Result } from "effect"
import { ApplicationEntity, Part10, Scu } from "@netdicom/net"

const [host, port, called, file] = process.argv.slice(2) as [string, string, string, string]

const program = Effect.scoped(
  Effect.gen(function* () {
    const meta = yield* Scu.describeFile(file)
    const ae = Result.getOrThrow(ApplicationEntity.make({ aeTitle: "UNCHECKED" }))
    const channel = yield* Scu.connect(ae, {
      host,
      port: Number(port),
      calledAeTitle: called,
      contexts: [{ abstractSyntax: meta.sopClassUid, transferSyntaxes: [meta.transferSyntaxUid] }]
    })
    const r = yield* Scu.storeLoaded(channel, meta, yield* Part10.loadDataSet(file, meta))
    yield* Console.log(`status 0x${r.status.toString(16).padStart(4, "0")}`)
  })
)

NodeRuntime.runMain(program.pipe(Effect.tapError((e) => Console.error(e.message))), { disableErrorReporting: true })
