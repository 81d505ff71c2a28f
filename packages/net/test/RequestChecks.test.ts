/**
 * The SCP's checks of a request against the presentation context it came on (PS3.7 9.1, PS3.8 7.1.1.13): a SOP class
 * that is not the context's abstract syntax is refused 0x0122, a context where the SCP did not get the SCP role
 * 0x0124; the data set is drained and the association goes on.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Result, Stream } from "effect"
import { Status } from "@netdicom/wire"
import { EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN } from "../src/association/ApplicationEntity.ts"
import type { AcceptedContext } from "../src/association/Negotiated.ts"
import * as DataSet from "../src/dimse/DataSet.ts"
import type * as DimseChannel from "../src/dimse/DimseChannel.ts"
import { modelOf, SOP_CLASSES, VERIFICATION } from "../src/services/QueryRetrieve.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import { CT, countingServices, testAe } from "./support.ts"

const MR = "1.2.840.10008.5.1.4.1.1.4"
const FIND = SOP_CLASSES.study.find
const GET = SOP_CLASSES.study.get!
const TS = [EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN]

// An SCP with Verification, CT and MR storage and Study Root find/get, counting what reaches its services, and the
// warnings it logs.
const start = Effect.gen(function* () {
  const served = { stored: 0, found: 0, retrieved: 0 }
  const warnings: Array<string> = []
  const capture = Logger.make(({ logLevel, message }) => {
    if (logLevel === "Warn") warnings.push((Array.isArray(message) ? message : [message]).join(" "))
  })
  const services = countingServices(served)
  const ae = yield* testAe({
    aeTitle: "NETDICOM-SCP",
    contexts: [VERIFICATION, CT, MR, FIND, GET].map((abstractSyntax) => ({ abstractSyntax, transferSyntaxes: TS }))
  })
  const server = yield* Scp.serve(ae, { port: 0 }).pipe(
    Effect.provide(services),
    Effect.provide(Logger.layer([capture]))
  )
  return { server, served, warnings }
})

const connect = (port: number, options: Partial<Parameters<typeof Scu.connect>[1]> = {}) =>
  Effect.gen(function* () {
    const ae = yield* testAe({ aeTitle: "NETDICOM-SCU" })
    return yield* Scu.connect(ae, {
      host: "127.0.0.1",
      port,
      calledAeTitle: "NETDICOM-SCP",
      contexts: [VERIFICATION, CT, FIND, GET].map((abstractSyntax) => ({
        abstractSyntax,
        transferSyntaxes: [EXPLICIT_VR_LITTLE_ENDIAN]
      })),
      ...options
    })
  })

const contextOf = (channel: DimseChannel.DimseChannel, abstractSyntax: string): AcceptedContext => {
  const found = channel.association.negotiated.accepted.find((c) => c.abstractSyntax === abstractSyntax)
  assert.isDefined(found, `a context for ${abstractSyntax}`)
  return found!
}

const identifier = Result.getOrThrow(
  DataSet.encode({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "" }, EXPLICIT_VR_LITTLE_ENDIAN)
)

// Sends a request on the given context and collects its responses' statuses and error comments.
const ask = (
  channel: DimseChannel.DimseChannel,
  context: AcceptedContext,
  make: (messageId: number) => Parameters<DimseChannel.DimseChannel["request"]>[1],
  dataSet?: Uint8Array
) =>
  Effect.gen(function* () {
    const messageId = yield* channel.nextMessageId
    const responses = yield* Stream.runCollect(
      channel.request(context, make(messageId), dataSet === undefined ? {} : { dataSet })
    )
    return responses.map((r) => ({
      tag: r.message._tag,
      status: r.status,
      comment: "errorComment" in r.message ? r.message.errorComment : undefined
    }))
  })

describe("SCP request checks", () => {
  it.live("a C-FIND on the Verification context is refused 0x0122, not answered; the association goes on", () =>
    Effect.gen(function* () {
      const { server, served, warnings } = yield* start
      const channel = yield* connect(server.port)
      const responses = yield* ask(
        channel,
        contextOf(channel, VERIFICATION),
        (messageId) => ({ _tag: "CFindRq", messageId, affectedSopClassUid: FIND, priority: 0 }),
        identifier
      )
      assert.deepStrictEqual(responses, [
        {
          tag: "CFindRsp",
          status: Status.SOP_CLASS_NOT_SUPPORTED,
          comment: "not the SOP class of presentation context 1"
        }
      ])
      assert.strictEqual(served.found, 0)
      // The same request on its own context is answered.
      const right = yield* ask(
        channel,
        contextOf(channel, FIND),
        (messageId) => ({ _tag: "CFindRq", messageId, affectedSopClassUid: FIND, priority: 0 }),
        identifier
      )
      assert.deepStrictEqual(
        right.map((r) => r.status),
        [Status.PENDING, Status.SUCCESS]
      )
      assert.strictEqual(served.found, 1)
      const refused = warnings.filter((w) => w.includes("refused"))
      assert.strictEqual(refused.length, 1)
      assert.match(
        refused[0]!,
        /^C-FIND-RQ 1 for 1\.2\.840\.10008\.5\.1\.4\.1\.2\.2\.1 on presentation context 1 .*0x0122/
      )
    })
  )

  it.live("a C-STORE of an MR instance on the CT context is refused 0x0122 and its large data set drained", () =>
    Effect.gen(function* () {
      const { server, served, warnings } = yield* start
      // 600 KB: it comes in many PDUs after the handler has started, all read and dropped.
      const channel = yield* connect(server.port)
      const context = contextOf(channel, CT)
      const responses = yield* ask(
        channel,
        context,
        (messageId) => ({
          _tag: "CStoreRq",
          messageId,
          affectedSopClassUid: MR,
          affectedSopInstanceUid: "1.2.3.4",
          priority: 0
        }),
        new Uint8Array(600_000)
      )
      assert.deepStrictEqual(
        responses.map((r) => [r.tag, r.status]),
        [["CStoreRsp", Status.SOP_CLASS_NOT_SUPPORTED]]
      )
      assert.strictEqual(served.stored, 0)
      const stored = yield* Scu.store(channel, {
        sopClassUid: CT,
        sopInstanceUid: "1.2.3.5",
        transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN,
        dataSet: new Uint8Array(600_000)
      })
      assert.strictEqual(stored.status, Status.SUCCESS)
      assert.strictEqual(served.stored, 1)
      assert.strictEqual(warnings.filter((w) => w.includes("refused")).length, 1)
    })
  )

  it("modelOf (a table made once) names each Q/R SOP class's model and operation, and nothing else", () => {
    let seen = 0
    for (const [model, ops] of Object.entries(SOP_CLASSES)) {
      for (const op of ["find", "move", "get"] as const) {
        const uid = (ops as Partial<Record<typeof op, string>>)[op]
        if (uid === undefined) continue
        assert.deepStrictEqual(modelOf(uid), { model, op })
        seen++
      }
    }
    assert.strictEqual(seen, 7)
    for (const uid of [CT, MR, VERIFICATION, "", `${FIND}.1`]) assert.isUndefined(modelOf(uid))
  })

  it.live("a C-ECHO on the CT context, and a C-GET on the C-FIND context, are refused 0x0122", () =>
    Effect.gen(function* () {
      const { server, served } = yield* start
      const channel = yield* connect(server.port)
      const echo = yield* ask(channel, contextOf(channel, CT), (messageId) => ({
        _tag: "CEchoRq",
        messageId,
        affectedSopClassUid: VERIFICATION
      }))
      assert.deepStrictEqual(
        echo.map((r) => [r.tag, r.status]),
        [["CEchoRsp", Status.SOP_CLASS_NOT_SUPPORTED]]
      )
      const get = yield* ask(
        channel,
        contextOf(channel, FIND),
        (messageId) => ({ _tag: "CGetRq", messageId, affectedSopClassUid: GET, priority: 0 }),
        identifier
      )
      assert.deepStrictEqual(
        get.map((r) => [r.tag, r.status]),
        [["CGetRsp", Status.SOP_CLASS_NOT_SUPPORTED]]
      )
      assert.strictEqual(served.retrieved, 0)
      assert.strictEqual((yield* Scu.echo(channel)).status, Status.SUCCESS)
    })
  )

  it.live("a C-FIND on a context whose SCP role the requestor kept for itself is refused 0x0124", () =>
    Effect.gen(function* () {
      const { server, served, warnings } = yield* start
      // The requestor proposes to be the SCP only of the find class: the acceptor is then its SCU, not its SCP.
      const channel = yield* connect(server.port, { roles: [{ sopClassUid: FIND, scu: false, scp: true }] })
      const context = contextOf(channel, FIND)
      assert.deepStrictEqual([context.weAreScu, context.weAreScp], [false, true])
      const responses = yield* ask(
        channel,
        context,
        (messageId) => ({ _tag: "CFindRq", messageId, affectedSopClassUid: FIND, priority: 0 }),
        identifier
      )
      assert.deepStrictEqual(
        responses.map((r) => [r.tag, r.status]),
        [["CFindRsp", Status.NOT_AUTHORIZED]]
      )
      assert.strictEqual(served.found, 0)
      assert.match(warnings.find((w) => w.includes("refused")) ?? "", /we are not its SCP\) refused: 0x0124/)
      assert.strictEqual((yield* Scu.echo(channel)).status, Status.SUCCESS)
    })
  )
})
