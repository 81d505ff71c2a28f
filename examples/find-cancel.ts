/**
 * A C-FIND that Ctrl-C cancels (C-CANCEL) instead of aborting its association, printing each match as it arrives and
 * the final response (0xFE00 after a Ctrl-C); a second Ctrl-C aborts the association at once:
 * `node_modules/node/bin/node examples/find-cancel.ts HOST PORT CALLED_AE [PatientName]` (the Node executable itself,
 * so that the signal reaches the program, not a shell wrapper).
 */
import { Console, Effect, Stream } from "effect"
import { QueryRetrieve, Scu, Signals } from "@netdicom/net"
import { arg, makeAe } from "./common.ts"

const program = Effect.scoped(
  Effect.gen(function* () {
    const channel = yield* Scu.connect(makeAe("FIND-EXAMPLE"), {
      host: arg(0, "127.0.0.1"),
      port: Number(arg(1, "11112")),
      calledAeTitle: arg(2, "ANY-SCP"),
      contexts: [{ abstractSyntax: QueryRetrieve.SOP_CLASSES.study.find, transferSyntaxes: ["1.2.840.10008.1.2"] }]
    })
    // A second Ctrl-C, while the peer is slow to answer the C-CANCEL or the release, aborts the association.
    yield* Signals.abortOnRepeat(channel.association)
    const matches = Scu.find(channel, {
      model: "study",
      identifier: { QueryRetrieveLevel: "STUDY", PatientName: arg(3, "*"), StudyInstanceUID: "" },
      // The first Ctrl-C sends C-CANCEL; the responses go on to the final one.
      cancelWhen: yield* Signals.cancelOnSignal
    })
    yield* Stream.runForEach(matches, (m) =>
      m.identifier
        ? Console.log(`match: ${JSON.stringify(m.identifier)}`)
        : Console.log(`final: 0x${m.status.toString(16).padStart(4, "0")} (${m.category})`)
    )
  })
)

// In place of NodeRuntime.runMain, whose SIGINT interrupts the whole program (and so aborts the association).
// Errors are not reported by it: print them.
Signals.runMain(program.pipe(Effect.tapCause((cause) => Effect.logError("find failed", cause))))
