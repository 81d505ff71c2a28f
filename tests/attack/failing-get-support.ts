/**
 * A C-GET whose every sub-operation fails at once, for the attack tests of the Failed SOP Instance UID List: our SCP on
 * 127.0.0.1 (port 0) matching `count` MR instances, and our SCU connected to it offering CT only, so the SCP fails each
 * without a C-STORE ("no context accepted") and lists them all in its final response.
 */
import { Effect, Layer, Result, Stream } from "effect"
import { ApplicationEntity, QueryRetrieve, Scp, Scu } from "@netdicom/net"
import { Status } from "@netdicom/wire"
import { CT, EXPLICIT } from "./support.ts"

export const GET = QueryRetrieve.SOP_CLASSES.study.get!
export const MR = "1.2.840.10008.5.1.4.1.1.4"

/** The SOP Instance UID of the `i`th instance matched. */
export const uidOf = (i: number) => `1.2.826.0.1.3680043.8.498.${1_000_000_000 + i}`

/** The SCP served and the SCU's channel to it, in the current scope. */
export const connectFailingGet = (count: number) =>
  Effect.gen(function* () {
    const retrieve = Layer.succeed(Scp.RetrieveService)({
      retrieve: () =>
        Effect.succeed(
          Array.from({ length: count }, (_, i) => ({
            sopClassUid: MR,
            sopInstanceUid: uidOf(i),
            transferSyntax: EXPLICIT,
            dataSet: () => Stream.make(new Uint8Array(8))
          }))
        )
    })
    const contexts = [
      { abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
      { abstractSyntax: MR, transferSyntaxes: [EXPLICIT] },
      { abstractSyntax: GET, transferSyntaxes: [EXPLICIT] }
    ]
    const server = yield* Scp.serve(Result.getOrThrow(ApplicationEntity.make({ aeTitle: "NETDICOM-SCP", contexts })), {
      port: 0
    }).pipe(Effect.provide(retrieve))
    return yield* Scu.connect(
      Result.getOrThrow(
        ApplicationEntity.make({
          aeTitle: "GET-SCU",
          contexts: [{ abstractSyntax: CT, transferSyntaxes: [EXPLICIT], scu: true, scp: true }],
          timeouts: { dimse: "60 seconds" }
        })
      ),
      {
        host: "127.0.0.1",
        port: server.port,
        calledAeTitle: "NETDICOM-SCP",
        contexts: [
          { abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
          { abstractSyntax: GET, transferSyntaxes: [EXPLICIT] }
        ],
        roles: [{ sopClassUid: CT, scu: true, scp: true }],
        onStore: () => Effect.succeed({ status: Status.SUCCESS })
      }
    )
  })
