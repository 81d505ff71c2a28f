/**
 * An SCP with user-provided Storage, Query and Retrieve Layers, keeping instances in memory:
 * `npx -y pnpm@10 exec node examples/custom-scp.ts PORT AE_TITLE [DEST_AE=HOST:PORT ...]`.
 *
 * Storage keeps each data set's bytes; Query answers study-level C-FIND from what was stored
 * (PatientName and StudyInstanceUID, `*` wildcards); Retrieve sends them back for C-GET/C-MOVE.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Option, Result, Stream } from "effect"
import { DataSet, QueryRetrieve, Scp } from "@netdicom/net"
import { Uids } from "@netdicom/wire"
import { arg, makeAe, UNCOMPRESSED, VERIFICATION } from "./common.ts"

interface Kept {
  readonly sopClassUid: string
  readonly sopInstanceUid: string
  readonly transferSyntax: string
  readonly bytes: Uint8Array
  readonly patientName: string
  readonly studyInstanceUid: string
}
const kept: Array<Kept> = []

const Storage = Layer.succeed(Scp.StorageService)({
  store: (request) =>
    Effect.gen(function* () {
      const chunks = yield* Stream.runCollect(request.dataSet).pipe(Effect.orElseSucceed(() => []))
      const bytes = new Uint8Array(Buffer.concat(chunks))
      const ds = DataSet.decode(bytes, request.transferSyntax)
      const attrs = Result.isSuccess(ds) ? ds.success : {}
      kept.push({
        sopClassUid: request.sopClassUid,
        sopInstanceUid: request.sopInstanceUid,
        transferSyntax: request.transferSyntax,
        bytes,
        patientName: String(attrs["PatientName"] ?? ""),
        studyInstanceUid: String(attrs["StudyInstanceUID"] ?? "")
      })
      yield* Console.log(`stored ${request.sopInstanceUid} from ${request.callingAeTitle}`)
      return { status: 0x0000 }
    })
})

const like = (pattern: unknown, value: string): boolean => {
  const p = typeof pattern === "string" ? pattern : ""
  if (p === "" || p === "*") return true
  const re = new RegExp(
    `^${p
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`
  )
  return re.test(value)
}
const matching = (q: Record<string, unknown>) =>
  kept.filter((k) => like(q["PatientName"], k.patientName) && like(q["StudyInstanceUID"], k.studyInstanceUid))

const Query = Layer.succeed(Scp.QueryService)({
  find: (request) => {
    const studies = new Map(matching(request.identifier).map((k) => [k.studyInstanceUid, k]))
    return Stream.fromIterable(
      [...studies.values()].map((k) => ({
        QueryRetrieveLevel: "STUDY",
        PatientName: k.patientName,
        StudyInstanceUID: k.studyInstanceUid
      }))
    )
  }
})

const Retrieve = Layer.succeed(Scp.RetrieveService)({
  retrieve: (request) =>
    Effect.succeed(
      matching(request.identifier).map((k) => ({
        sopClassUid: k.sopClassUid,
        sopInstanceUid: k.sopInstanceUid,
        transferSyntax: k.transferSyntax,
        dataSet: () => Stream.make(k.bytes)
      }))
    )
})

const peers = new Map(
  process.argv.slice(4).flatMap((spec) => {
    const m = /^([^=]+)=([^:]+):(\d+)$/.exec(spec)
    return m ? [[m[1]!, { host: m[2]!, port: Number(m[3]) }] as const] : []
  })
)
const Destinations = Layer.succeed(Scp.MoveDestinations)({ lookup: (aet) => Option.fromNullishOr(peers.get(aet)) })

const storage = [...Uids.STORAGE_SOP_CLASSES].map((abstractSyntax) => ({
  abstractSyntax,
  transferSyntaxes: UNCOMPRESSED
}))
const ae = makeAe(arg(1, "CUSTOM-SCP"), [
  { abstractSyntax: VERIFICATION, transferSyntaxes: UNCOMPRESSED },
  ...storage,
  ...QueryRetrieve.ALL_QR_SOP_CLASSES.map((abstractSyntax) => ({ abstractSyntax, transferSyntaxes: UNCOMPRESSED }))
])

const program = Effect.scoped(
  Effect.gen(function* () {
    const server = yield* Scp.serve(ae, { port: Number(arg(0, "0")) })
    yield* Console.log(`listening on 127.0.0.1:${server.port} as ${ae.aeTitle}`)
    return yield* Effect.never
  })
).pipe(Effect.provide(Layer.mergeAll(Storage, Query, Retrieve, Destinations)))

NodeRuntime.runMain(program)
