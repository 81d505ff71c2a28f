/**
 * A C-GET of one study into a folder, each instance written as `<SOP Instance UID>.dcm`:
 * `npx -y pnpm@10 exec node examples/get.ts HOST PORT CALLED_AE STUDY_INSTANCE_UID OUT_DIR`.
 *
 * The peer sends the instances back over this association as C-STORE sub-operations (PS3.4 C.4.3), so the
 * association proposes, besides the C-GET context, a context per storage SOP class and transfer syntax with our SCP
 * role for them, and `onStore` takes what arrives. A peer accepts one transfer syntax per presentation context: each
 * syntax goes in a context of its own, or the peer takes the first and instances stored in the others fail.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Stream } from "effect"
import { ApplicationEntity, Part10, QueryRetrieve, Scu, type StoreHandler } from "@netdicom/net"
import { arg, makeAe, UNCOMPRESSED } from "./common.ts"

// The storage SOP classes we take (CT, MR, Secondary Capture, Ultrasound): add those your studies hold.
const STORAGE = [
  "1.2.840.10008.5.1.4.1.1.2",
  "1.2.840.10008.5.1.4.1.1.4",
  "1.2.840.10008.5.1.4.1.1.7",
  "1.2.840.10008.5.1.4.1.1.6.1"
]

const out = arg(4, "fetched")
Fs.mkdirSync(out, { recursive: true })

// Each instance to `<out>/<SOP Instance UID>.dcm`, streamed as it arrives; a write that fails answers 0xA700.
const onStore: StoreHandler.StorageHandler = (request) =>
  Part10.writeFile(
    Path.join(out, `${request.sopInstanceUid.replace(/[^0-9.]/g, "_")}.dcm`),
    {
      transferSyntaxUid: request.transferSyntax,
      sopClassUid: request.sopClassUid,
      sopInstanceUid: request.sopInstanceUid,
      implementationClassUid: ApplicationEntity.IMPLEMENTATION_CLASS_UID,
      sourceAeTitle: request.callingAeTitle
    },
    request.dataSetLent
  ).pipe(
    Effect.as({ status: 0x0000 }),
    Effect.catch((e) => Effect.as(Console.error(`${request.sopInstanceUid}: ${e.message}`), { status: 0xa700 }))
  )

const program = Effect.scoped(
  Effect.gen(function* () {
    const channel = yield* Scu.connect(makeAe("GET-EXAMPLE"), {
      host: arg(0, "127.0.0.1"),
      port: Number(arg(1, "11112")),
      calledAeTitle: arg(2, "ANY-SCP"),
      contexts: [
        { abstractSyntax: QueryRetrieve.SOP_CLASSES.study.get, transferSyntaxes: ["1.2.840.10008.1.2"] },
        ...STORAGE.flatMap((abstractSyntax) =>
          UNCOMPRESSED.map((syntax) => ({ abstractSyntax, transferSyntaxes: [syntax] }))
        )
      ],
      roles: STORAGE.map((sopClassUid) => ({ sopClassUid, scu: false, scp: true })),
      onStore
    })
    const progress = Scu.get(channel, {
      model: "study",
      identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: arg(3, "") }
    })
    yield* Stream.runForEach(progress, (p) =>
      Console.log(
        `0x${p.status.toString(16).padStart(4, "0")} ${p.category}: remaining ${p.remaining ?? "-"}, completed ${p.completed ?? "-"}, failed ${p.failed ?? "-"}`
      )
    )
  })
)

NodeRuntime.runMain(program)
