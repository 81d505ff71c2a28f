/**
 * The README's second snippet: a Verification and Storage SCP whose Storage service is a Layer.
 *   npx -y pnpm@10 exec node examples/quick-scp.ts [PORT]
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Result, Stream } from "effect"
import { ApplicationEntity, Scp } from "@netdicom/net"
import { Uids } from "@netdicom/wire"

const ae = Result.getOrThrow(
  ApplicationEntity.make({
    aeTitle: "STORESCP",
    contexts: [
      { abstractSyntax: "1.2.840.10008.1.1", transferSyntaxes: ApplicationEntity.UNCOMPRESSED_TRANSFER_SYNTAXES },
      ...Uids.STORAGE_SOP_CLASSES.map((abstractSyntax) => ({
        abstractSyntax,
        transferSyntaxes: ApplicationEntity.UNCOMPRESSED_TRANSFER_SYNTAXES
      }))
    ]
  })
)

// Counts the bytes of each instance; a real service would write them somewhere durable first.
const Storage = Layer.succeed(Scp.StorageService)({
  store: (request) =>
    Stream.runFold(
      request.dataSet,
      () => 0,
      (n, chunk) => n + chunk.length
    ).pipe(
      Effect.tap((n) => Effect.log(`${request.sopInstanceUid}: ${n} bytes`)),
      Effect.as({ status: 0x0000 }),
      Effect.orElseSucceed(() => ({ status: 0xa700, errorComment: "association lost" }))
    )
})

const program = Effect.scoped(
  Effect.gen(function* () {
    const server = yield* Scp.serve(ae, { port: Number(process.argv[2] ?? 11112) })
    yield* Effect.log(`listening on 127.0.0.1:${server.port} as ${ae.aeTitle}`)
    return yield* Effect.never
  })
).pipe(Effect.provide(Storage))

NodeRuntime.runMain(program)
