/**
 * A response's status detail (elements of other groups after a command set's group 0000 ones, kept as
 * `Response.statusDetail` and read for a C-GET/C-MOVE final response's Failed SOP Instance UID List) made hostile:
 * lying lengths and group lengths, odd and descending tags, item and delimiter tags at the top level, sequences of
 * garbage, tens of thousands of elements, a list of thousands of UIDs. Against a raw C-GET SCP on 127.0.0.1, each on
 * its own association: the final response is read with its counts (the list as far as it decodes) and the association
 * released, or the command set is refused as malformed with a typed error and an A-ABORT; never a crash or a hang.
 * And a fast-check run of `CommandSet.decode` over arbitrary bytes appended to a command set: a Result, never a throw,
 * and what it keeps is exactly the bytes appended.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option, Result, Stream } from "effect"
import * as fc from "fast-check"
import { CommandSet, type Dimse, PduCodec } from "@netdicom/wire"
import { Scu } from "@netdicom/net"
import { command, IMPLICIT } from "./support.ts"
import { commandOf, scopedRawScp, scuAe } from "./hotpath-support.ts"
import { STUDY_GET } from "./archive-support.ts"

// One Implicit VR Little Endian element.
const el = (group: number, element: number, value: Uint8Array | string, length?: number): Uint8Array => {
  const v = typeof value === "string" ? new TextEncoder().encode(value) : value
  const out = new Uint8Array(8 + v.length)
  const view = new DataView(out.buffer)
  view.setUint16(0, group, true)
  view.setUint16(2, element, true)
  view.setUint32(4, length ?? v.length, true)
  out.set(v, 8)
  return out
}
const cat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
const u32 = (n: number) => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n, true)
  return b
}

const finalRsp = (pc: number, rq: Dimse.CGetRq, appended: Uint8Array): Uint8Array => {
  const cs = command({
    _tag: "CGetRsp",
    messageIdBeingRespondedTo: rq.messageId,
    affectedSopClassUid: rq.affectedSopClassUid,
    status: 0xc000,
    hasIdentifier: false,
    numberOfCompletedSuboperations: 2,
    numberOfFailedSuboperations: 1,
    numberOfWarningSuboperations: 0
  })
  return PduCodec.encodePDataTf([{ presentationContextId: pc, isCommand: true, isLast: true, data: cat(cs, appended) }])
}

// A C-GET against a raw SCP answering with `appended` as its status detail: the final response, or the failure.
const getWith = (appended: Uint8Array) =>
  Effect.scoped(
    Effect.gen(function* () {
      const seen: Array<number> = []
      const scp = yield* scopedRawScp({
        onPdu: (socket, type, body) => {
          seen.push(type)
          const m = type === 0x04 ? commandOf(body) : undefined
          if (m?._tag === "CGetRq") socket.write(finalRsp(body[4]!, m, appended))
        }
      })
      const started = Date.now()
      const exit = yield* Effect.exit(
        Effect.scoped(
          Effect.gen(function* () {
            const channel = yield* Scu.connect(scuAe({ dimse: "5 seconds" }), {
              host: "127.0.0.1",
              port: scp.port,
              calledAeTitle: "ORTHANC",
              contexts: [{ abstractSyntax: STUDY_GET, transferSyntaxes: [IMPLICIT] }]
            })
            return yield* Stream.runCollect(
              Scu.get(channel, {
                model: "study",
                identifier: { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" }
              })
            )
          })
        )
      )
      yield* Effect.sleep("50 millis")
      return { exit, seen, took: Date.now() - started }
    })
  )

const HOSTILE: ReadonlyArray<readonly [string, Uint8Array]> = [
  [
    "a group length lying (0008,0000) = 2^32-1",
    cat(el(0x0008, 0x0000, u32(0xffffffff)), el(0x0008, 0x0058, "1.2.3.4\0"))
  ],
  ["a group length of 3 bytes", cat(el(0x0008, 0x0000, "abc"), el(0x0008, 0x0058, "1.2.3.4\0"))],
  [
    "descending tags, the list twice",
    cat(el(0x0010, 0x0010, "DOE^J "), el(0x0008, 0x0058, "1.2.3.4\0"), el(0x0008, 0x0058, "9.9\0"))
  ],
  ["an odd length", el(0x0008, 0x0058, "1.2.3")],
  ["an item tag at the top level", cat(el(0xfffe, 0xe000, "1234"), el(0x0008, 0x0058, "1.2.3.4\0"))],
  ["a sequence delimiter of defined length", el(0xfffe, 0xe0dd, new Uint8Array(0))],
  [
    "a defined-length sequence holding an item that claims 1 GiB",
    el(0x0008, 0x1115, cat(Uint8Array.of(0xfe, 0xff, 0x00, 0xe0), u32(1 << 30), new Uint8Array(16)))
  ],
  [
    "a defined-length sequence holding an undefined-length item, no delimiter",
    el(0x0008, 0x1115, cat(Uint8Array.of(0xfe, 0xff, 0x00, 0xe0), u32(0xffffffff), el(0x0008, 0x0058, "1.2\0")))
  ],
  ["pixel data of 40 KB", el(0x7fe0, 0x0010, new Uint8Array(40_000))],
  ["a group 0002 element", cat(el(0x0002, 0x0010, "1.2.840.10008.1.2\0"), el(0x0008, 0x0058, "1.2.3.4\0"))],
  [
    "7,000 empty private elements",
    cat(...Array.from({ length: 7000 }, (_, i) => el(0x0009, 0x1000 + i, new Uint8Array(0))))
  ],
  [
    "a list of 5,000 UIDs",
    el(0x0008, 0x0058, Array.from({ length: 5000 }, (_, i) => `1.2.${i}`).join("\\") + "\0".repeat(0))
  ],
  ["a list value of control bytes", el(0x0008, 0x0058, "\x1b[2J\r\n\x00\x07ab")],
  ["an element whose length runs past the command set", el(0x0008, 0x0058, "1.2.3.4\0", 4096)],
  ["an undefined-length element", el(0x0008, 0x0058, "", 0xffffffff)],
  ["a command element after the others", cat(el(0x0008, 0x0058, "1.2\0"), el(0x0000, 0x0902, "late"))],
  ["three bytes of a header", Uint8Array.of(0x08, 0x00, 0x58)]
]

describe("hostile status detail in a final C-GET-RSP's command set", () => {
  for (const [name, appended] of HOSTILE) {
    it.live(name, () =>
      Effect.gen(function* () {
        const { exit, seen, took } = yield* getWith(appended)
        assert.isBelow(took, 4000, `took ${took} ms`)
        if (Exit.isSuccess(exit)) {
          const final = exit.value.at(-1)!
          assert.deepStrictEqual([final.status, final.completed, final.failed], [0xc000, 2, 1])
          for (const uid of final.failedSopInstanceUids) assert.isString(uid)
          assert.include(seen, 0x05, "released")
          assert.notInclude(seen, 0x07)
        } else {
          const error = Option.getOrUndefined(Exit.findErrorOption(exit))
          assert.isDefined(error, String(exit.cause))
          assert.include(["DimseProtocolError", "AssociationAborted"], error!._tag, String(exit.cause))
          assert.include(seen, 0x07, "aborted")
        }
      })
    )
  }

  it("CommandSet.decode over arbitrary appended bytes: a Result, the bytes kept exactly", () => {
    const cs = Result.getOrThrow(
      CommandSet.encode({ commandField: 0x8010, messageIdBeingRespondedTo: 1, commandDataSetType: 0x0101, status: 0 })
    )
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (tail) => {
        // an element of group 0008 first, so that the tail is taken as appended elements
        const appended = cat(el(0x0008, 0x0058, "1.2\0"), tail)
        const r = CommandSet.decode(cat(cs, appended))
        if (Result.isFailure(r)) return r.failure._tag === "CommandSetError"
        return r.success.appended !== undefined && Buffer.from(r.success.appended).equals(Buffer.from(appended))
      }),
      { numRuns: 3000 }
    )
  })
})
