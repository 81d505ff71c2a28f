/**
 * A query or retrieve service of the user's that dies (a throw, `Stream.die`, `Effect.die`) gets its C-FIND, C-GET or
 * C-MOVE a final response at once, 0xC000 unable to process, as a storage handler that dies gets 0x0110: before,
 * the handler's fiber ended with only a log line and the SCU waited for its DIMSE timeout. A retrievable
 * instance whose data set source dies fails that sub-operation alone, as one that fails with `DataSourceFailed` does.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Stream } from "effect"
import { Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import { SOP_CLASSES } from "../src/services/QueryRetrieve.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { CT, connectGetScu, testAe } from "./support.ts"

// The SCU's DIMSE timeout is 30 s: an answer within 10 s is the SCP's own, not a timeout's.
const within10s = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.timeoutOrElse(effect, { duration: Duration.seconds(10), orElse: () => Effect.die("no response") })

const findContexts = [{ abstractSyntax: SOP_CLASSES.study.find, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] }]
const getContexts = [
  { abstractSyntax: CT, transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN] },
  { abstractSyntax: SOP_CLASSES.study.get!, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }
]
const timeouts = { dimse: "30 seconds" } as const

const study = (uid: string) => ({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: uid })

describe("a query or retrieve service that dies", () => {
  it.live("a C-FIND whose query service throws or dies is answered 0xC000, and the association goes on", () =>
    within10s(
      Effect.gen(function* () {
        const find: Scp.QueryService["Service"]["find"] = (request) => {
          const uid = request.identifier["StudyInstanceUID"]
          if (uid === "1.1") throw new Error("a bug in find")
          if (uid === "1.2") return Stream.concat(Stream.make(study("1.2.9")), Stream.die("a defect"))
          if (uid === "1.3")
            return Stream.map(Stream.make(1), (): Record<string, unknown> => {
              throw new Error("a bug in a map")
            })
          return Stream.make(study("1.4"))
        }
        const server = yield* Scp.serve(yield* testAe({ aeTitle: "NETDICOM-SCP", contexts: findContexts, timeouts }), {
          port: 0
        }).pipe(Effect.provide(Layer.succeed(Scp.QueryService)({ find })))
        const ae = yield* testAe({ aeTitle: "NETDICOM-SCU", timeouts })
        const channel = yield* Scu.connect(ae, {
          host: "127.0.0.1",
          port: server.port,
          calledAeTitle: "NETDICOM-SCP",
          contexts: findContexts
        })
        const finals: Array<[number, string | undefined, number]> = []
        for (const uid of ["1.1", "1.2", "1.3", "1.4"]) {
          const all = yield* Stream.runCollect(Scu.find(channel, { model: "study", identifier: study(uid) }))
          const last = all.at(-1)!
          finals.push([last.status, last.errorComment, all.length - 1])
        }
        assert.deepStrictEqual(finals, [
          [Status.UNABLE_TO_PROCESS, "the query service failed", 0],
          [Status.UNABLE_TO_PROCESS, "the query service failed", 1],
          [Status.UNABLE_TO_PROCESS, "the query service failed", 0],
          [Status.SUCCESS, undefined, 1]
        ])
      })
    ).pipe(Effect.scoped)
  )

  it.live("a C-GET whose retrieve service throws or dies is answered 0xC000, and the association goes on", () =>
    within10s(
      Effect.gen(function* () {
        const retrieve: Scp.RetrieveService["Service"]["retrieve"] = (request) => {
          const uid = request.identifier["StudyInstanceUID"]
          if (uid === "1.1") throw new Error("a bug in retrieve")
          if (uid === "1.2") return Effect.die("a defect")
          return Effect.succeed([])
        }
        const server = yield* Scp.serve(yield* testAe({ aeTitle: "NETDICOM-SCP", contexts: getContexts, timeouts }), {
          port: 0
        }).pipe(Effect.provide(Layer.succeed(Scp.RetrieveService)({ retrieve })))
        const channel = yield* connectGetScu(server.port, () => Effect.succeed({ status: 0 }))
        const finals: Array<[number, string | undefined]> = []
        for (const uid of ["1.1", "1.2", "1.3"]) {
          const last = (yield* Stream.runCollect(Scu.get(channel, { model: "study", identifier: study(uid) }))).at(-1)!
          finals.push([last.status, last.errorComment])
        }
        assert.deepStrictEqual(finals, [
          [Status.UNABLE_TO_PROCESS, "the retrieve service failed"],
          [Status.UNABLE_TO_PROCESS, "the retrieve service failed"],
          [Status.SUCCESS, undefined]
        ])
      })
    ).pipe(Effect.scoped)
  )

  it.live("an instance whose data set source throws or dies fails its sub-operation alone", () =>
    within10s(
      Effect.gen(function* () {
        const instance = (uid: string, dataSet: () => Stream.Stream<Uint8Array, never>) => ({
          sopClassUid: CT,
          sopInstanceUid: uid,
          transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
          dataSet
        })
        const retrieve: Scp.RetrieveService["Service"]["retrieve"] = () =>
          Effect.succeed([
            instance("1.2.3.1", () => {
              throw new Error("a bug in dataSet")
            }),
            instance("1.2.3.2", () => Stream.die("a defect")),
            instance("1.2.3.3", () => Stream.make(new Uint8Array(0)))
          ])
        const server = yield* Scp.serve(yield* testAe({ aeTitle: "NETDICOM-SCP", contexts: getContexts, timeouts }), {
          port: 0
        }).pipe(Effect.provide(Layer.succeed(Scp.RetrieveService)({ retrieve })))
        const stored: Array<string> = []
        const channel = yield* connectGetScu(server.port, (request) =>
          Stream.runDrain(request.dataSet).pipe(
            Effect.orDie,
            Effect.map(() => {
              stored.push(request.sopInstanceUid)
              return { status: 0 }
            })
          )
        )
        const last = (yield* Stream.runCollect(Scu.get(channel, { model: "study", identifier: study("1.2.3") }))).at(
          -1
        )!
        assert.deepStrictEqual(
          [last.status, last.completed, last.failed, last.errorComment, last.failedSopInstanceUids],
          [Status.WARNING, 1, 2, "a stored data set could not be read", ["1.2.3.1", "1.2.3.2"]]
        )
        assert.deepStrictEqual(stored, ["1.2.3.3"])
      })
    ).pipe(Effect.scoped)
  )
})
