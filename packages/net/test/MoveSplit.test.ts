/**
 * A C-MOVE whose instances need more presentation contexts than one association holds (PS3.8 7.1.1.13: 128): one
 * instance of each storage SOP class in `Uids.STORAGE_SOP_CLASSES` (168), each needing its own context and its
 * transcoding fallback. The SCP sends them over several associations to the destination, one after the other, as
 * one operation: its pending responses count down across them, a part whose association is rejected fails its
 * instances alone, and a C-CANCEL during a part ends the operation there. Before, one association was proposed with the 128 contexts of the most instances and the
 * instances left out failed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Layer, Option, Result, Stream } from "effect"
import { Status, Uids } from "@netdicom/wire"
import type { AcceptorPolicy } from "../src/association/AcceptorPolicy.ts"
import { EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import * as ContextParts from "../src/dimse/ContextParts.ts"
import * as DataSet from "../src/dimse/DataSet.ts"
import { SOP_CLASSES, VERIFICATION } from "../src/services/QueryRetrieve.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { testAe } from "./support.ts"

const TS = [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN]

// One small instance per storage SOP class, stored in Implicit VR Little Endian.
const instances: ReadonlyArray<Scp.RetrievableInstance> = Uids.STORAGE_SOP_CLASSES.map((sopClassUid, i) => {
  const sopInstanceUid = `1.2.826.0.1.3680043.10.1000.${i + 1}`
  const bytes = Result.getOrThrow(
    DataSet.encode(
      { SOPClassUID: sopClassUid, SOPInstanceUID: sopInstanceUid, PatientID: "P", StudyInstanceUID: "1.2.9" },
      IMPLICIT_VR_LITTLE_ENDIAN
    )
  )
  return { sopClassUid, sopInstanceUid, transferSyntax: IMPLICIT_VR_LITTLE_ENDIAN, dataSet: () => Stream.make(bytes) }
})

// A destination storing every instance it is sent (`supported`: the storage classes it accepts), counting the
// associations asked of it, and noting which one each instance came over.
const destination = (
  supported: ReadonlyArray<string>,
  policy: Omit<AcceptorPolicy, "calledAeTitles"> = {},
  onStored: (count: number) => Effect.Effect<void> = () => Effect.void
) =>
  Effect.gen(function* () {
    let associations = 0
    const stored: Array<{ readonly uid: string; readonly association: number }> = []
    const ae = yield* testAe({
      aeTitle: "DEST",
      contexts: supported.map((abstractSyntax) => ({ abstractSyntax, transferSyntaxes: TS }))
    })
    const storage = Layer.succeed(Scp.StorageService)({
      store: (request) =>
        Stream.runDrain(request.dataSet).pipe(
          Effect.orDie,
          Effect.andThen(Effect.sync(() => stored.push({ uid: request.sopInstanceUid, association: associations }))),
          Effect.andThen((count) => onStored(count)),
          Effect.as({ status: Status.SUCCESS })
        )
    })
    const server = yield* Scp.serve(ae, {
      port: 0,
      policy: {
        ...policy,
        calledAeTitles: ["DEST"],
        callingAeTitles: () => {
          associations++
          return true
        }
      }
    }).pipe(Effect.provide(storage))
    return { port: server.port, stored, associations: () => associations }
  })

// The Q/R SCP retrieving `instances`, and every response of a C-MOVE of them to DEST on `destPort`.
const moveAll = (destPort: number, cancelWhen?: Effect.Effect<void>) =>
  Effect.gen(function* () {
    const scpAe = yield* testAe({
      aeTitle: "NETDICOM-SCP",
      contexts: [
        { abstractSyntax: VERIFICATION, transferSyntaxes: TS },
        { abstractSyntax: SOP_CLASSES.study.move!, transferSyntaxes: TS }
      ]
    })
    const retrieve = Layer.succeed(Scp.RetrieveService)({ retrieve: () => Effect.succeed(instances) })
    const destinations = Layer.succeed(Scp.MoveDestinations)({
      lookup: (ae) => (ae.trim() === "DEST" ? Option.some({ host: "127.0.0.1", port: destPort }) : Option.none())
    })
    const server = yield* Scp.serve(scpAe, { port: 0 }).pipe(Effect.provide(Layer.merge(retrieve, destinations)))
    const ae = yield* testAe({ aeTitle: "NETDICOM-SCU" })
    const channel = yield* Scu.connect(ae, {
      host: "127.0.0.1",
      port: server.port,
      calledAeTitle: "NETDICOM-SCP",
      contexts: [{ abstractSyntax: SOP_CLASSES.study.move!, transferSyntaxes: [IMPLICIT_VR_LITTLE_ENDIAN] }]
    })
    return yield* Stream.runCollect(
      Scu.move(channel, {
        model: "study",
        destination: "DEST",
        identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.9" },
        ...(cancelWhen === undefined ? {} : { cancelWhen })
      })
    )
  })

describe("a C-MOVE needing more presentation contexts than one association holds", () => {
  it.live("sends every instance over several associations, one after the other, counted as one operation", () =>
    Effect.gen(function* () {
      assert.isAbove(instances.length, 128)
      const dest = yield* destination(Uids.STORAGE_SOP_CLASSES)
      const responses = yield* moveAll(dest.port)
      const final = responses.at(-1)!
      assert.deepStrictEqual(
        [final.status, final.remaining, final.completed, final.failed, final.warning],
        [Status.SUCCESS, 0, instances.length, 0, 0]
      )
      assert.deepStrictEqual(dest.stored.map((s) => s.uid).sort(), instances.map((x) => x.sopInstanceUid).sort())
      // 168 contexts and 168 fallbacks: three associations of at most 128 contexts, each instance over one of them
      assert.strictEqual(dest.associations(), 3)
      assert.deepStrictEqual([...new Set(dest.stored.map((s) => s.association))], [1, 2, 3])
      // one pending response after each sub-operation but the last, counting down across the associations
      const pending = responses.slice(0, -1)
      assert.isTrue(pending.every((r) => r.status === Status.PENDING))
      assert.deepStrictEqual(
        pending.map((r) => [r.remaining, r.completed]),
        Array.from({ length: instances.length - 1 }, (_, i) => [instances.length - i - 1, i + 1])
      )
    })
  )

  // The destination supports no class of the second part: it rejects an association it would accept nothing on, or
  // accepts it with every context refused; either way the Error Comment says the destination refused, and why.
  const refusals = [
    ["rejects", { rejectWhenNoneAccepted: true }, "DEST rejected the association: no reason given"],
    ["accepts with no context", {}, "DEST accepted no context: abstract syntax not supported"]
  ] as const
  for (const [how, policy, comment] of refusals) {
    it.live(`a part whose association the destination ${how} fails its instances; the other parts are stored`, () =>
      Effect.gen(function* () {
        const parts = ContextParts.partsFor(instances, (x) => x, { fallbacks: true })
        assert.isAtLeast(parts.length, 3)
        const refused = new Set(parts[1]!.items.map((x) => x.sopClassUid))
        const dest = yield* destination(
          Uids.STORAGE_SOP_CLASSES.filter((uid) => !refused.has(uid)),
          policy
        )
        const responses = yield* moveAll(dest.port)
        const final = responses.at(-1)!
        const failedUids = parts[1]!.items.map((x) => x.sopInstanceUid)
        assert.deepStrictEqual(
          [final.status, final.remaining, final.completed, final.failed, final.warning],
          [Status.WARNING, 0, instances.length - failedUids.length, failedUids.length, 0]
        )
        assert.deepStrictEqual([...final.failedSopInstanceUids].sort(), [...failedUids].sort())
        assert.strictEqual(final.errorComment, comment)
        assert.strictEqual(dest.associations(), parts.length)
        const expected = instances.map((x) => x.sopInstanceUid).filter((uid) => !failedUids.includes(uid))
        assert.deepStrictEqual(dest.stored.map((s) => s.uid).sort(), expected.sort())
        // the pending responses still count down to the end, the rejected part's failures among them
        assert.deepStrictEqual(responses.at(-2)!.remaining, 1)
      })
    )
  }

  it.live("a C-CANCEL during the second association stops the operation, counted across the parts", () =>
    Effect.gen(function* () {
      const parts = ContextParts.partsFor(instances, (x) => x, { fallbacks: true })
      // the C-CANCEL goes out once 10 instances of the second part are stored
      const trigger = parts[0]!.items.length + 10
      const stop = yield* Deferred.make<void>()
      const dest = yield* destination(Uids.STORAGE_SOP_CLASSES, {}, (count) =>
        count === trigger ? Deferred.succeed(stop, undefined).pipe(Effect.asVoid) : Effect.void
      )
      const responses = yield* moveAll(dest.port, Deferred.await(stop))
      const final = responses.at(-1)!
      // the C-CANCEL is seen before a next sub-operation: the second association's, the third never opened
      assert.strictEqual(final.status, Status.CANCEL)
      assert.isAtLeast(final.completed!, trigger)
      assert.isBelow(final.completed!, parts[0]!.items.length + parts[1]!.items.length)
      assert.deepStrictEqual(
        [final.remaining, final.failed, final.warning],
        [instances.length - final.completed!, 0, 0]
      )
      assert.strictEqual(dest.stored.length, final.completed)
      assert.strictEqual(dest.associations(), 2)
    })
  )
})
