/**
 * `node bench/soak/many.ts PORT AET COUNT UID_PREFIX`: COUNT tiny distinct Secondary Capture instances (SOP Instance
 * UIDs `<prefix>.<n>`, all in study `<prefix>.0`) stored on one association, to measure what a server keeps per
 * instance (with `heap.ts` before and after). Prints how many were answered Success.
 */
import { Console, Effect, Result } from "effect"
import { ApplicationEntity, Scu } from "@netdicom/net"
import { text } from "../../tests/support/elements.ts"

const [port, aet, count, prefix] = process.argv.slice(2)
const SC = "1.2.840.10008.5.1.4.1.1.7"
const EXPLICIT = "1.2.840.10008.1.2.1"
const ae = Result.getOrThrow(ApplicationEntity.make({ aeTitle: "MANY" }))

const dataSet = (sop: string): Uint8Array =>
  new Uint8Array(
    Buffer.concat([
      text(8, 0x16, "UI", SC),
      text(8, 0x18, "UI", sop),
      text(0x10, 0x20, "LO", "MANY"),
      text(0x20, 0x0d, "UI", `${prefix}.0`),
      text(0x20, 0x0e, "UI", `${prefix}.0.1`)
    ])
  )

const program = Effect.scoped(
  Effect.gen(function* () {
    const channel = yield* Scu.connect(ae, {
      host: "127.0.0.1",
      port: Number(port),
      calledAeTitle: aet ?? "ANY-SCP",
      contexts: [{ abstractSyntax: SC, transferSyntaxes: [EXPLICIT] }]
    })
    let stored = 0
    for (let i = 0; i < Number(count); i++) {
      const sop = `${prefix}.${i}`
      const r = yield* Scu.store(channel, {
        sopClassUid: SC,
        sopInstanceUid: sop,
        transferSyntax: EXPLICIT,
        dataSet: dataSet(sop)
      })
      if (r.status === 0) stored++
    }
    yield* Console.log(`${stored} stored`)
  })
).pipe(Effect.tapError((e) => Console.error(e.message)))

Effect.runPromise(Effect.exit(program)).then((exit) => {
  process.exitCode = exit._tag === "Success" ? 0 : 1
})
