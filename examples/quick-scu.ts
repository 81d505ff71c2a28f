/**
 * The README's first snippet: C-ECHO and C-STORE of a file on one association.
 *   npx -y pnpm@10 exec node examples/quick-scu.ts [FILE] [PORT]
 * with a server listening first, e.g. `npx -y pnpm@10 exec node examples/quick-scp.ts 11112` in another terminal.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Result } from "effect"
import { ApplicationEntity, Scu } from "@netdicom/net"

const file = process.argv[2] ?? "../shared/corpus/CT_small.dcm"
const port = Number(process.argv[3] ?? 11112)
const ae = Result.getOrThrow(ApplicationEntity.make({ aeTitle: "MY-SCU" }))

const program = Effect.scoped(
  Effect.gen(function* () {
    const meta = yield* Scu.describeFile(file) // SOP class and transfer syntax from the file's meta header (or guessed)
    // Connect and negotiate; the association is released when this scope ends.
    const channel = yield* Scu.connect(ae, {
      host: "127.0.0.1",
      port,
      calledAeTitle: "STORESCP",
      contexts: [
        { abstractSyntax: "1.2.840.10008.1.1", transferSyntaxes: ["1.2.840.10008.1.2"] },
        { abstractSyntax: meta.sopClassUid, transferSyntaxes: [meta.transferSyntaxUid] }
      ]
    })
    const echo = yield* Scu.echo(channel)
    const stored = yield* Scu.storeFile(channel, file) // streamed from disk, never decoded
    yield* Effect.log(`echo: ${echo.meaning}; store: ${stored.meaning}`)
  })
).pipe(Effect.tapError((e) => Effect.logError(e.message))) // logged, and still a failure: exit code 1

NodeRuntime.runMain(program, { disableErrorReporting: true })
