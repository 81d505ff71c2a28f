/**
 * A C-FIND identifier asking for thousands of return keys (formerly `tests/attack/repro/find-many-keys.ts`): each
 * zero-length key cost the archive SCP ~9 us of CPU per match, in dcmjs, in one synchronous `DataSet.encode` per
 * response (30,000 keys: ~260 ms of event loop per match). Empty elements are now written and read without dcmjs,
 * and an identifier of more than `Levels.MAX_FIND_KEYS` keys is refused with 0xC000 before any matching. What is
 * asserted is counted (dcmjs element writes and reads, responses, keys), never timed.
 */
import { createRequire } from "node:module"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { DimseChannel, Scu } from "@netdicom/net"
import { Levels } from "@netdicom/archive"
import { instance } from "../../packages/archive/test/fixtures.ts"
import { connectArchive, startArchiveScp } from "./archive-support.ts"

interface Dcmjs {
  readonly data: {
    readonly DicomMessage: { _readTag(...args: Array<unknown>): unknown }
    readonly Tag: { readonly prototype: { write(...args: Array<unknown>): number } }
  }
}
const dcmjs = createRequire(import.meta.url)("dcmjs") as Dcmjs

/** dcmjs element writes and reads (SCU and SCP are in this process) while an effect runs. */
const counting = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    const tag = dcmjs.data.Tag.prototype
    const message = dcmjs.data.DicomMessage
    const write = tag.write
    const readTag = message._readTag
    const counts = { writes: 0, reads: 0 }
    tag.write = function (this: unknown, ...args) {
      counts.writes++
      return write.apply(this, args)
    }
    message._readTag = function (this: unknown, ...args) {
      counts.reads++
      return readTag.apply(this, args)
    }
    return effect.pipe(
      Effect.map((result) => ({ result, ...counts })),
      Effect.ensuring(
        Effect.sync(() => {
          tag.write = write
          message._readTag = readTag
        })
      )
    )
  })

const STUDIES = 20

const identifierOf = (keys: number, value: string) => {
  const identifier: Record<string, unknown> = { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "" }
  const vrMap: Record<string, string> = {}
  for (let e = 0; e < keys - 1; e++) {
    const key = `0009${(0x1000 + e).toString(16).toUpperCase()}`
    identifier[key] = value
    vrMap[key] = "LO"
  }
  return { ...identifier, _vrMap: vrMap }
}

const archiveWithStudies = Effect.gen(function* () {
  const scp = yield* startArchiveScp()
  for (let i = 1; i <= STUDIES; i++) {
    yield* scp.archive.store(
      instance({
        patientId: `P${i}`,
        patientName: `N${i}`,
        study: `1.2.5.${i}`,
        series: `1.2.5.${i}.1`,
        sop: `1.2.5.${i}.1.1`
      })
    )
  }
  return scp
})

describe("C-FIND identifiers of many return keys", () => {
  it.live(
    `${Levels.MAX_FIND_KEYS} keys (the bound): every match has them all back, none written or read by dcmjs`,
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const scp = yield* archiveWithStudies
          const channel = yield* connectArchive(scp.port)
          for (const value of ["", "*"]) {
            const identifier = identifierOf(Levels.MAX_FIND_KEYS, value)
            const run = yield* counting(Stream.runCollect(Scu.find(channel, { model: "study", identifier })))
            const responses = run.result
            assert.strictEqual(responses.length, STUDIES + 1)
            assert.strictEqual(responses.at(-1)?.status, 0)
            for (const response of responses.slice(0, -1)) {
              assert.strictEqual(response.status, 0xff00)
              const match = response.identifier ?? {}
              assert.strictEqual(match["0009139E"], "")
              const returned = Object.keys(match).filter((k) => k.startsWith("0009"))
              assert.strictEqual(returned.length, Levels.MAX_FIND_KEYS - 1)
              assert.isTrue(returned.every((k) => match[k] === ""))
            }
            // the request's non-empty keys (value "*") and each response's QueryRetrieveLevel and StudyInstanceUID
            // (thousands of writes and reads per response before)
            assert.isAtMost(run.writes, (value === "" ? 1 : Levels.MAX_FIND_KEYS) + 2 * STUDIES)
            assert.isAtMost(run.reads, (value === "" ? 1 : Levels.MAX_FIND_KEYS) + 2 * STUDIES)
          }
        })
      )
  )

  it.live("one key more, or 30,000, is refused with 0xC000 and no match", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const scp = yield* archiveWithStudies
        const channel = yield* connectArchive(scp.port)
        for (const keys of [Levels.MAX_FIND_KEYS + 1, 30_000]) {
          const identifier = identifierOf(keys, "")
          const responses = yield* Stream.runCollect(Scu.find(channel, { model: "study", identifier }))
          assert.strictEqual(responses.length, 1)
          assert.strictEqual(responses[0]?.status, 0xc000)
          // past the library's bound on an identifier's elements the SCP refuses it before the archive counts keys
          const comment =
            keys > DimseChannel.MAX_IDENTIFIER_ELEMENTS
              ? `more than ${DimseChannel.MAX_IDENTIFIER_ELEMENTS} elements`
              : `${keys} keys in the identifier`
          assert.include(responses[0]?.errorComment ?? "", comment)
        }
      })
    )
  )
})
