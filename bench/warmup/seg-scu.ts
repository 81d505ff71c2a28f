import * as Probe from "./probe.ts"
Probe.install()
import * as Effect from "effect/Effect"
import * as References from "effect/References"
import * as Result from "effect/Result"
import { ApplicationEntity, Part10, Scu, type DimseError } from "@netdicom/net"
import { SCP_AET, SCU_AET, VERIFICATION } from "../common.ts"

// argv: port, passes, count per pass, files...
const [port, passes, count, ...files] = process.argv.slice(2)
const SEG = Number(process.env["SEG"] ?? 500)
// SCU_OP=echo: a C-ECHO per operation (on Verification) instead of a C-STORE.
const echoes = process.env["SCU_OP"] === "echo"
const window = Number(process.env["SCU_WINDOW"] ?? 8)
const ae = Result.getOrThrow(
  ApplicationEntity.make({
    aeTitle: SCU_AET,
    maxPduLength: 16384,
    maxOperationsInvoked: window,
    timeouts: { dimse: "120 seconds" }
  })
)
let done = 0
const program = Effect.gen(function* () {
  const infos0 = yield* Effect.forEach(files, (path) => Part10.readFileMeta(path))
  const n = Number(count)
  const paths = Array.from({ length: n }, (_, i) => files[i % files.length]!)
  const infos = Array.from({ length: n }, (_, i) => infos0[i % files.length]!)
  const contexts = [
    echoes
      ? { abstractSyntax: VERIFICATION, transferSyntaxes: [infos0[0]!.transferSyntaxUid] }
      : { abstractSyntax: infos0[0]!.sopClassUid, transferSyntaxes: [infos0[0]!.transferSyntaxUid] }
  ]
  Probe.mark(0)
  for (let p = 0; p < Number(passes); p++) {
    yield* Effect.scoped(
      Effect.gen(function* () {
        const channel = yield* Scu.connect(ae, {
          host: "127.0.0.1",
          port: Number(port),
          calledAeTitle: SCP_AET,
          contexts
        })
        if (echoes) {
          for (let i = 0; i < n; i++) {
            if ((yield* Scu.echo(channel)).category !== "Success") throw new Error("failed")
            done++
            if (done % SEG === 0) Probe.mark(done)
          }
          return
        }
        const take = yield* Part10.readAhead(infos.map((info, i) => ({ ...info, path: paths[i]! })))
        const w = Math.max(1, channel.association.negotiated.maxOperationsInvoked)
        // As bench/scu.ts: up to `w` outstanding, each begun at once (`Scu.storeLoadedNow`), no fiber each.
        const answers: Array<Effect.Effect<Scu.StatusInfo, DimseError.DimseFailure>> = []
        const tally = (r: Scu.StatusInfo) => {
          if (r.category !== "Success") throw new Error("failed")
          done++
          if (done % SEG === 0) Probe.mark(done)
        }
        if (process.env["SCU_LOOP"] === "forEach") {
          // The loop before Round 11: a fiber per C-STORE (with a window), `Scu.storeLoaded` in an Effect.gen each.
          return yield* Effect.forEach(
            infos.keys(),
            (i) =>
              Effect.gen(function* () {
                tally(yield* Scu.storeLoaded(channel, infos[i]!, yield* take(i)))
              }),
            { concurrency: w, discard: true }
          )
        }
        for (const [i, info] of infos.entries()) {
          if (answers.length >= w) tally(yield* answers.shift()!)
          const loaded = yield* take(i)
          if (!(loaded instanceof Uint8Array)) throw new Error("not a small file")
          answers.push(Scu.storeLoadedNow(channel, info, loaded))
        }
        for (const answer of answers) tally(yield* answer)
      })
    )
  }
})
Effect.runPromise(program.pipe(Effect.provideService(References.MinimumLogLevel, "Warn"))).then(
  () => process.stdout.write(`${Probe.table("SCU")}\nDONE ${done}\n`, () => process.exit(0)),
  (e: unknown) => {
    process.stderr.write(`scu failed: ${String(e)}\n`)
    process.exit(1)
  }
)
