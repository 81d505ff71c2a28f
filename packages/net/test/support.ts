/** Shared helpers for the net tests. */
import { Effect, Layer, Result, Stream } from "effect"
import * as ApplicationEntity from "../src/association/ApplicationEntity.ts"
import { SOP_CLASSES } from "../src/services/QueryRetrieve.ts"
import * as Scp from "../src/services/Scp.ts"
import * as Scu from "../src/services/Scu.ts"
import type { StorageHandler } from "../src/services/StoreHandler.ts"

export const VERIFICATION = "1.2.840.10008.1.1"
export const CT = "1.2.840.10008.5.1.4.1.1.2"

/** An Application Entity for tests, with short timeouts. */
export const testAe = (options: ApplicationEntity.ApplicationEntityOptions) =>
  Effect.sync(() =>
    Result.getOrThrow(
      ApplicationEntity.make({
        timeouts: { acse: "5 seconds", connect: "5 seconds", dimse: "10 seconds", write: "5 seconds" },
        ...options
      })
    )
  )

/**
 * A Retrieve service answering any C-GET/C-MOVE with `sent` as CT instances `1.2.3.<n>` in Explicit VR Little
 * Endian, each data set streamed in uneven pieces of `piece` bytes, as a file read would give them.
 */
export const retrieveOf = (sent: ReadonlyArray<Uint8Array>, piece = 70_001) =>
  Layer.succeed(Scp.RetrieveService)({
    retrieve: () =>
      Effect.succeed(
        sent.map((bytes, i) => ({
          sopClassUid: CT,
          sopInstanceUid: `1.2.3.${i + 1}`,
          transferSyntax: ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN,
          dataSet: () =>
            Stream.fromIterable(
              Array.from({ length: Math.ceil(bytes.length / piece) }, (_, k) =>
                bytes.subarray(k * piece, (k + 1) * piece)
              )
            )
        }))
      )
  })

/**
 * A C-GET SCU's association to "NETDICOM-SCP" on `port`: Study Root GET, and CT in Explicit VR Little Endian with
 * the SCP role, its C-STORE sub-operations going to `onStore`.
 */
export const connectGetScu = (port: number, onStore: StorageHandler, options?: { readonly maxPduLength?: number }) =>
  Effect.gen(function* () {
    const ae = yield* testAe({
      aeTitle: "NETDICOM-SCU",
      ...(options?.maxPduLength !== undefined ? { maxPduLength: options.maxPduLength } : {}),
      contexts: [
        {
          abstractSyntax: CT,
          transferSyntaxes: [ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN],
          scu: true,
          scp: true
        }
      ]
    })
    return yield* Scu.connect(ae, {
      host: "127.0.0.1",
      port,
      calledAeTitle: "NETDICOM-SCP",
      contexts: [
        { abstractSyntax: CT, transferSyntaxes: [ApplicationEntity.EXPLICIT_VR_LITTLE_ENDIAN] },
        { abstractSyntax: SOP_CLASSES.study.get!, transferSyntaxes: [ApplicationEntity.IMPLICIT_VR_LITTLE_ENDIAN] }
      ],
      roles: [{ sopClassUid: CT, scu: true, scp: true }],
      onStore
    })
  })

/** What reached the services of `countingServices`. */
export interface Served {
  stored: number
  found: number
  retrieved: number
}

/**
 * Storage, Query and Retrieve services that count the requests reaching them: a C-STORE drained and answered
 * 0x0000, a C-FIND with one match, a C-GET/C-MOVE with nothing to send.
 */
export const countingServices = (served: Served) =>
  Layer.mergeAll(
    Layer.succeed(Scp.StorageService)({
      store: (req) =>
        Stream.runDrain(req.dataSet).pipe(
          Effect.orDie,
          Effect.andThen(Effect.sync(() => void served.stored++)),
          Effect.as({ status: 0 })
        )
    }),
    Layer.succeed(Scp.QueryService)({
      find: () =>
        Stream.fromEffect(Effect.sync(() => void served.found++)).pipe(
          Stream.as({ QueryRetrieveLevel: "STUDY", StudyInstanceUID: "1.2.3" })
        )
    }),
    Layer.succeed(Scp.RetrieveService)({
      retrieve: () => Effect.sync(() => void served.retrieved++).pipe(Effect.as([]))
    })
  )

/** A C-STORE-RQ of a CT instance, as the tests that send requests by hand build it. */
export const rq = (messageId: number, sopInstanceUid: string) =>
  ({
    _tag: "CStoreRq",
    messageId,
    affectedSopClassUid: CT,
    affectedSopInstanceUid: sopInstanceUid,
    priority: 0
  }) as const
